from odoo import models
from odoo.fields import Domain


class ContractContract(models.Model):
    _inherit = "contract.contract"

    def action_subscription_activate(self):
        newcomers = self._finnsys_portal_first_subscribers()
        result = super().action_subscription_activate()
        if newcomers:
            newcomers.sudo()._finnsys_portal_grant()
        return result

    def _finnsys_portal_first_subscribers(self):
        """Customers for whom one of these subscriptions is the first to start, in companies
        that invite billing contacts automatically."""
        subscriptions = self.filtered(
            lambda c: c.subscription_state == "draft" and c.company_id.billing_portal_auto_invite
        )
        if not subscriptions:
            return self.env["res.partner"]
        customers = subscriptions.partner_id.commercial_partner_id
        started = self.sudo()._read_group(
            Domain("partner_id", "child_of", customers.ids)
            & Domain("subscription_state", "!=", "draft")
            & Domain("id", "not in", subscriptions.ids),
            ["partner_id"],
        )
        already = self.env["res.partner"].union(*(partner for (partner,) in started))
        return customers - already.commercial_partner_id
