from odoo import models


class AccountMove(models.Model):
    _inherit = "account.move"

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._finnsys_portal_auto_invite()
        return posted

    def _finnsys_portal_auto_invite(self):
        """Invite the billing contacts of customers whose first invoice was just posted."""
        invoices = self.filtered(
            lambda m: m.move_type == "out_invoice" and m.company_id.billing_portal_auto_invite
        )
        customers = self.env["res.partner"]
        for customer in invoices.commercial_partner_id:
            if not customer._finnsys_portal_has_posted_invoice(invoices):
                customers |= customer
        if customers:
            customers.sudo()._finnsys_portal_grant()
