from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_amount

from ..const import BILLING_MANAGER_GROUP, BILLING_MODES


class FinnsysBillingModeSwitch(models.TransientModel):
    _name = "finnsys.billing.mode.switch"
    _description = "Switch a customer's billing mode"

    partner_id = fields.Many2one("res.partner", string="Customer", required=True)
    current_mode = fields.Selection(related="partner_id.billing_mode")
    new_mode = fields.Selection(
        BILLING_MODES,
        required=True,
        compute="_compute_new_mode",
        store=True,
        readonly=False,
        precompute=True,
    )
    reason = fields.Text(required=True)
    currency_id = fields.Many2one(related="partner_id.currency_id")
    overdue = fields.Monetary(related="partner_id.billing_overdue")
    prepaid_excess = fields.Monetary(
        compute="_compute_prepaid_excess",
        help="How far the balance would be below minus the credit limit once prepaid.",
    )
    is_manager = fields.Boolean(default=lambda self: self.env.user.has_group(BILLING_MANAGER_GROUP))
    manager_override = fields.Boolean(
        help="Switch to prepaid although the customer has overdue invoices, or owes more "
        "than its credit limit allows a prepaid customer."
    )

    @api.depends("partner_id")
    def _compute_new_mode(self):
        for wizard in self:
            wizard.new_mode = "postpaid" if wizard.current_mode == "prepaid" else "prepaid"

    @api.depends("partner_id")
    def _compute_prepaid_excess(self):
        for wizard in self:
            wizard.prepaid_excess = wizard._prepaid_excess(wizard.partner_id.commercial_partner_id)

    def _prepaid_excess(self, partner):
        """What the customer owes beyond its credit limit: a prepaid customer's balance may
        not be below minus the limit, so switching it as it is would block it at once."""
        company = self.env.company
        if not partner or not (
            company.account_use_credit_limit and company.billing_credit_policy == "block"
        ):
            return 0.0
        excess = partner.currency_id.round(
            partner.billing_receivable - partner.billing_credit_limit
        )
        return max(excess, 0.0)

    def action_switch(self):
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id
        if self.new_mode == partner.billing_mode:
            raise UserError(
                self.env._(
                    "%(partner)s is already %(mode)s.",
                    partner=partner.display_name,
                    mode=dict(BILLING_MODES)[self.new_mode],
                )
            )
        override = self._check_overdue(partner)
        limit_override = self._check_credit_limit(partner)
        old_label = dict(BILLING_MODES)[partner.billing_mode or "postpaid"]
        # Billing users may switch modes without being contact managers: access to this
        # wizard is the permission, and the checks above have run.
        partner.sudo().with_context(finnsys_mode_switch=True).billing_mode = self.new_mode
        body = self.env._(
            "Billing mode switched from %(old)s to %(new)s by %(user)s. Reason: %(reason)s",
            old=old_label,
            new=dict(BILLING_MODES)[self.new_mode],
            user=self.env.user.name,
            reason=self.reason,
        )
        if override:
            body += " " + self.env._("(Manager override: the customer has overdue invoices.)")
        if limit_override:
            body += " " + self.env._(
                "(Manager override: the balance is below minus the credit limit.)"
            )
        partner.sudo().message_post(body=body, author_id=self.env.user.partner_id.id)
        return {"type": "ir.actions.act_window_close"}

    def _check_overdue(self, partner):
        """Return True when a manager overrides the overdue rule; raise when nobody may."""
        if self.new_mode != "prepaid":
            return False
        if partner.currency_id.is_zero(partner.billing_overdue):
            return False
        if self.manager_override and self.env.user.has_group(BILLING_MANAGER_GROUP):
            return True
        raise UserError(
            self.env._(
                "%(partner)s has overdue invoices (%(amount)s): it cannot switch to prepaid until "
                "they are paid, unless a billing manager overrides.",
                partner=partner.display_name,
                amount=format_amount(self.env, partner.billing_overdue, partner.currency_id),
            )
        )

    def _check_credit_limit(self, partner):
        """Return True when a manager overrides the credit limit; raise when nobody may."""
        if self.new_mode != "prepaid":
            return False
        excess = self._prepaid_excess(partner)
        if partner.currency_id.is_zero(excess):
            return False
        if self.manager_override and self.env.user.has_group(BILLING_MANAGER_GROUP):
            return True
        raise UserError(
            self.env._(
                "%(partner)s owes %(excess)s more than its credit limit (%(limit)s) allows a "
                "prepaid customer: record a payment first, or a billing manager overrides.",
                partner=partner.display_name,
                excess=format_amount(self.env, excess, partner.currency_id),
                limit=format_amount(self.env, partner.billing_credit_limit, partner.currency_id),
            )
        )
