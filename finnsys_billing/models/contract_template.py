from odoo import api, fields, models
from odoo.exceptions import ValidationError


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
    plan_currency_id = fields.Many2one(
        "res.currency",
        default=lambda self: self.env.company.currency_id,
    )

    @api.depends("contract_line_ids.price_subtotal", "contract_line_ids.display_type")
    def _compute_plan_amount(self):
        for plan in self:
            lines = plan.contract_line_ids.filtered(lambda line: not line.display_type)
            plan.plan_amount = sum(lines.mapped("price_subtotal"))

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
