from odoo import Command, api, fields, models
from odoo.exceptions import ValidationError

# Months in one period of each recurrence, to compare plans of different periods (a month
# is 30.4375 days, a year of 365.25 over 12).
MONTHS_PER_PERIOD = {
    "daily": 12 / 365.25,
    "weekly": 12 / 52,
    "monthly": 1,
    "monthlylastday": 1,
    "quarterly": 3,
    "semesterly": 6,
    "yearly": 12,
}
# What a subscription copies of each of its plan's lines.
PLAN_LINE_FIELDS = [
    "sequence",
    "product_id",
    "name",
    "quantity",
    "uom_id",
    "automatic_price",
    "specific_price",
    "discount",
    "display_type",
    "note_invoicing_mode",
]


class ContractTemplate(models.Model):
    """A plan: a contract template with its product lines, price and recurrence.

    ``contract.contract`` inherits ``contract.template``, so what is added here also exists on
    subscriptions; plan-only rules check ``_name``.
    """

    _inherit = "contract.template"

    plan_amount = fields.Monetary(
        string="Amount per Period",
        compute="_compute_plan_amount",
        currency_field="plan_currency_id",
        help="Untaxed total of the lines, invoiced once per period.",
    )
    billing_period = fields.Char(
        string="Period",
        compute="_compute_billing_period",
        help="How often the amount per period is invoiced.",
    )
    monthly_amount = fields.Monetary(
        string="Monthly Equivalent",
        compute="_compute_monthly_amount",
        store=True,
        currency_field="plan_currency_id",
        help="Amount per period spread over a month (a quarterly 300 is 100), so that plans "
        "of different periods add up.",
    )
    plan_currency_id = fields.Many2one(
        "res.currency",
        default=lambda self: self.env.company.currency_id,
    )
    # On a plan only: a subscription reads its plan's (contract.contract makes it related).
    finnsys_switch_plan_ids = fields.Many2many(
        "contract.template",
        "finnsys_plan_switch_rel",
        "plan_id",
        "switch_plan_id",
        string="Customers May Switch To",
        domain="[('id', '!=', id), ('company_id', '=', company_id), "
        "('plan_currency_id', '=', plan_currency_id)]",
        help="Plans a customer on this plan may change to from the portal; a billing user "
        "may change to any plan of the company in the subscription's currency.",
    )

    @api.depends(
        "contract_line_ids.price_subtotal",
        "contract_line_ids.display_type",
        "contract_line_ids.is_canceled",
    )
    def _compute_plan_amount(self):
        for plan in self:
            # Lines a plan change ended stay on a subscription, cancelled.
            lines = plan.contract_line_ids.filtered(
                lambda line: not line.display_type and not line.is_canceled
            )
            plan.plan_amount = sum(lines.mapped("price_subtotal"))

    @api.depends("recurring_rule_type", "recurring_interval")
    def _compute_billing_period(self):
        units = {
            "daily": (self.env._("day"), self.env._("days")),
            "weekly": (self.env._("week"), self.env._("weeks")),
            "monthly": (self.env._("month"), self.env._("months")),
            "monthlylastday": (self.env._("month"), self.env._("months")),
            "quarterly": (self.env._("quarter"), self.env._("quarters")),
            "semesterly": (self.env._("half-year"), self.env._("half-years")),
            "yearly": (self.env._("year"), self.env._("years")),
        }
        for plan in self:
            one, many = units[plan.recurring_rule_type or "monthly"]
            interval = plan.recurring_interval or 1
            plan.billing_period = one if interval == 1 else f"{interval} {many}"

    @api.depends("plan_amount", "recurring_rule_type", "recurring_interval")
    def _compute_monthly_amount(self):
        for plan in self:
            rule = plan.recurring_rule_type or "monthly"
            months = MONTHS_PER_PERIOD[rule] * (plan.recurring_interval or 1)
            plan.monthly_amount = plan.plan_currency_id.round(plan.plan_amount / months)

    # recurring_interval and recurring_rule_type have defaults, so this also runs on create.
    @api.constrains("contract_line_ids", "recurring_interval", "recurring_rule_type")
    def _check_plan(self):
        for plan in self:
            if plan.recurring_interval <= 0:
                raise ValidationError(
                    self.env._(
                        "%(plan)s must recur at least every 1 period: set Invoice Every above 0.",
                        plan=plan.display_name,
                    )
                )
            if plan._name != "contract.template":
                continue
            if not plan.contract_line_ids.filtered(lambda line: not line.display_type):
                raise ValidationError(
                    self.env._(
                        "Plan %(plan)s has no product lines: add what the plan invoices.",
                        plan=plan.display_name,
                    )
                )

    # Subscribing ------------------------------------------------------------------------

    def _finnsys_fill_subscription(self, vals):
        """Complete the values ``vals`` of a new subscription to this plan with the plan's
        recurrence and lines."""
        self.ensure_one()
        partner = self.env["res.partner"].browse(vals.get("partner_id"))
        date_start = fields.Date.to_date(vals.get("date_start")) or fields.Date.context_today(self)
        vals.setdefault("name", self.name)
        vals.setdefault("plan_currency_id", self.plan_currency_id.id)
        vals.setdefault("date_start", date_start)
        vals.setdefault("line_recurrence", True)
        vals.setdefault("payment_term_id", partner.property_payment_term_id.id)
        for name in ("recurring_rule_type", "recurring_interval", "recurring_invoicing_type"):
            vals.setdefault(name, self[name])
        if self.journal_id:
            vals.setdefault("journal_id", self.journal_id.id)
        company_currency = self.env["res.company"].browse(vals.get("company_id")).currency_id
        if self.plan_currency_id != (company_currency or self.env.company.currency_id):
            vals.setdefault("manual_currency_id", self.plan_currency_id.id)
        vals["contract_line_ids"] = self._finnsys_subscription_lines(date_start)

    def _finnsys_subscription_lines(self, date_start):
        """Commands creating this plan's lines on a subscription, billed from ``date_start``."""
        self.ensure_one()
        commands = []
        for line in self.contract_line_ids:
            values = line._convert_to_write({name: line[name] for name in PLAN_LINE_FIELDS})
            values.update(
                date_start=date_start,
                recurring_rule_type=self.recurring_rule_type,
                recurring_interval=self.recurring_interval,
                recurring_invoicing_type=self.recurring_invoicing_type,
            )
            commands.append(Command.create(values))
        return commands

    def _finnsys_check_switch_from(self, subscription):
        """Refuse this plan for ``subscription`` when it is of another company or currency."""
        self.ensure_one()
        if self.company_id != subscription.company_id:
            raise ValidationError(
                self.env._(
                    "Plan %(plan)s belongs to %(other)s, not to %(company)s: choose a plan of "
                    "the subscription's company.",
                    plan=self.display_name,
                    other=self.company_id.name,
                    company=subscription.company_id.name,
                )
            )
        if self.plan_currency_id != subscription.currency_id:
            raise ValidationError(
                self.env._(
                    "Plan %(plan)s is priced in %(plan_currency)s and %(contract)s is billed in "
                    "%(currency)s: choose a plan in %(currency)s.",
                    plan=self.display_name,
                    plan_currency=self.plan_currency_id.name,
                    contract=subscription.display_name,
                    currency=subscription.currency_id.name,
                )
            )
