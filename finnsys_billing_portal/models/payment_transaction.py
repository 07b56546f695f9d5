from odoo import fields, models


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    finnsys_receipt_sent = fields.Boolean(
        string="Receipt Sent",
        readonly=True,
        copy=False,
        help="The receipt e-mail of this portal payment is queued.",
    )

    def _post_process(self):
        result = super()._post_process()
        self._finnsys_send_receipts()
        return result

    def _finnsys_send_receipts(self):
        """Queue the receipt e-mail of each portal payment (invoices, top-ups) and of each
        subscription invoice charged to its saved card, once it is done, once.

        Auto top-ups (``offline`` charges of no invoice) send their own e-mail, which links
        the same receipt; refunds get none.
        """
        template = self.env.ref(
            "finnsys_billing_portal.mail_template_payment_receipt", raise_if_not_found=False
        )
        txs = self.filtered(
            lambda t: (
                t.state == "done"
                and (
                    t.operation in ("online_redirect", "online_direct", "online_token")
                    or (t.operation == "offline" and t.invoice_ids)
                )
                and t.payment_id
                and not t.finnsys_receipt_sent
            )
        )
        if not template or not txs:
            return
        # Write the booking first: a concurrent notification of the same payment must fail
        # here, as the serialization error Odoo retries, not inside the template's rendering,
        # which turns any error into a UserError.
        self.env.flush_all()
        for tx in txs:
            template.send_mail(tx.payment_id.id, force_send=False)
        txs.finnsys_receipt_sent = True
