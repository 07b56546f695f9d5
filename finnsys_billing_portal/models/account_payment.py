from odoo import models
from odoo.tools.misc import hmac as hmac_tool


class AccountPayment(models.Model):
    _inherit = "account.payment"

    def _finnsys_receipt_access_token(self):
        """The signature of this payment's receipt link: ``payment.utils``' access token of
        (id, name), made without an HTTP request (the e-mail is rendered by a cron too)."""
        self.ensure_one()
        return hmac_tool(self.env(su=True), "generate_access_token", f"{self.id}|{self.name}")

    def _finnsys_receipt_recipient(self):
        """Who gets the receipt e-mail: the portal user who paid, else the transaction's
        partner (a payment from an e-mailed link), else the customer, whichever has an
        e-mail address first. Odoo checks the template on any payment, one made in the
        backend (no transaction) included."""
        self.ensure_one()
        tx = self.payment_transaction_id
        creator = tx.create_uid
        payer = creator.partner_id if creator and creator._is_portal() else tx.partner_id
        candidates = payer | tx.partner_id | self.partner_id
        return candidates.filtered("email")[:1] or payer

    def finnsys_receipt_url(self):
        self.ensure_one()
        return self.get_base_url() + self.get_receipt_portal_url()

    def get_receipt_portal_url(self, signed=True):
        """The portal address of this payment's receipt PDF.

        :param bool signed: add the payment's signature, so that the link opens the receipt
            without logging in (the receipt e-mail's, the status page of a payment made from
            an e-mailed link); unsigned, only the customer's portal users may open it.
        """
        self.ensure_one()
        url = f"/my/receipts/{self.id}"
        if signed:
            url += f"?access_token={self._finnsys_receipt_access_token()}"
        return url
