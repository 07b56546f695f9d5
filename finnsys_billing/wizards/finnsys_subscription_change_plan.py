from odoo import api, fields, models
from odoo.exceptions import RedirectWarning, UserError, ValidationError
from odoo.tools import clean_context

from ..models.contract_contract import SUBSCRIPTION_STATES


class FinnsysSubscriptionChangePlan(models.TransientModel):
    """Change an active subscription's plan mid-period, with a preview of the proration.

    The unused days of the current invoiced period are credited on the old plan and the rest
    of the period is invoiced on the new one; the figures shown are the ones
    ``action_subscription_change_plan`` posts, from the same computation.
    """

    _name = "finnsys.subscription.change.plan"
    _description = "Change a subscription's plan"

    contract_id = fields.Many2one(
        "contract.contract", string="Subscription", required=True, readonly=True
    )
    company_id = fields.Many2one(related="contract_id.company_id")
    currency_id = fields.Many2one(related="contract_id.currency_id")
    current_plan_id = fields.Many2one(
        related="contract_id.contract_template_id", string="Current Plan"
    )
    new_plan_id = fields.Many2one(
        "contract.template",
        required=True,
        domain="[('id', '!=', current_plan_id), ('company_id', '=', company_id), "
        "('plan_currency_id', '=', currency_id)]",
    )
    date = fields.Date(
        string="Effective Date",
        required=True,
        default=fields.Date.context_today,
        help="First day on the new plan; it must fall in the current invoiced period.",
    )
    period_start = fields.Date(string="Current Period From", compute="_compute_period")
    period_end = fields.Date(string="Current Period To", compute="_compute_period")
    credit_amount = fields.Monetary(
        string="Credit Note (untaxed)",
        compute="_compute_amounts",
        help="Unused days of the current plan, from the effective date to the period end.",
    )
    invoice_amount = fields.Monetary(
        string="New Invoice (untaxed)",
        compute="_compute_amounts",
        help="The new plan from the effective date to the period end.",
    )

    def _current_period(self):
        """The subscription's latest invoiced period: the one a plan change prorates."""
        periods = self.contract_id.subscription_period_ids.filtered("move_id")
        return periods.sorted("period_start")[-1:]

    @api.depends("contract_id")
    def _compute_period(self):
        for wizard in self:
            period = wizard._current_period()
            wizard.period_start = period.period_start
            wizard.period_end = period.period_end

    @api.depends("contract_id", "new_plan_id", "date")
    def _compute_amounts(self):
        for wizard in self:
            preview = {}
            if wizard.contract_id and wizard.date and wizard._date_in_period():
                preview = wizard.contract_id.finnsys_plan_change_preview(
                    wizard.new_plan_id, wizard.date
                )
            wizard.credit_amount = preview.get("credit", 0.0)
            wizard.invoice_amount = preview.get("invoice", 0.0)

    def _date_in_period(self):
        period = self._current_period()
        return bool(period) and (
            period.period_start <= self.date <= (period.period_end or period.period_start)
        )

    def action_confirm(self):
        """Change the plan and open the credit note and the invoice it posted."""
        self.ensure_one()
        self._check_values()
        # Defaults meant for this wizard must not reach the documents it posts.
        contract = self.contract_id.with_context(clean_context(self.env.context))
        try:
            moves = contract.action_subscription_change_plan(self.new_plan_id, self.date)
        except RedirectWarning as warning:
            # Its override action would point at an invoice this failure rolls back.
            raise UserError(
                self.env._(
                    "%(reason)s\nRecord a payment for the customer first, then change the plan.",
                    reason=warning.args[0],
                )
            ) from warning
        return moves._get_records_action(
            name=self.env._("Plan Change of %s", contract.display_name), context={}
        )

    def _check_values(self):
        contract = self.contract_id
        if contract.subscription_state != "active":
            state = dict(SUBSCRIPTION_STATES)[contract.subscription_state].lower()
            raise UserError(
                self.env._(
                    "%(contract)s is %(state)s: only an active subscription changes plan "
                    "mid-period.",
                    contract=contract.display_name,
                    state=state,
                )
            )
        contract._finnsys_check_plan_change(self.new_plan_id)
        period = self._current_period()
        if not period:
            raise UserError(
                self.env._(
                    "%(contract)s has no invoiced period yet, so there is nothing to prorate: "
                    "create its first invoice, then change the plan.",
                    contract=contract.display_name,
                )
            )
        if not self._date_in_period():
            raise ValidationError(
                self.env._(
                    "The effective date %(date)s is outside the current invoiced period of "
                    "%(contract)s (%(start)s to %(end)s): choose a date in that period.",
                    date=self.date,
                    contract=contract.display_name,
                    start=period.period_start,
                    end=period.period_end,
                )
            )
