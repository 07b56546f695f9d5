from odoo import api, fields, models
from odoo.exceptions import ValidationError

MAX_OFFSET_DAYS = 365


class FinnsysReminderRule(models.Model):
    _name = "finnsys.reminder.rule"
    _description = "Payment Reminder Rule"
    _order = "offset_days, sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    offset_days = fields.Integer(
        string="Days from Due Date",
        default=0,
        help="When the reminder is sent, counted from the invoice's due date: negative before "
        "it, 0 on the day, positive after it.",
    )
    template_id = fields.Many2one(
        "mail.template",
        string="E-mail Template",
        domain="[('model', '=', 'account.move')]",
        ondelete="restrict",
    )
    min_amount = fields.Monetary(
        string="Minimum Amount Due",
        currency_field="currency_id",
        default=0.0,
        help="Invoices with less left to pay get no reminder from this rule.",
    )
    company_id = fields.Many2one(
        "res.company",
        help="Leave empty to use the rule in every company.",
    )
    currency_id = fields.Many2one("res.currency", compute="_compute_currency_id")

    @api.depends("company_id")
    @api.depends_context("company")
    def _compute_currency_id(self):
        for rule in self:
            rule.currency_id = (rule.company_id or self.env.company).currency_id

    # offset_days always has a value, so this also runs on records created without a template.
    @api.constrains("template_id", "offset_days", "min_amount")
    def _check_rule(self):
        for rule in self:
            if not rule.template_id:
                raise ValidationError(
                    self.env._(
                        "Reminder rule %(rule)s needs an e-mail template: choose the e-mail "
                        "that is sent to the customer.",
                        rule=rule.name,
                    )
                )
            if rule.template_id.model != "account.move":
                raise ValidationError(
                    self.env._(
                        "The template of reminder rule %(rule)s must be an invoice template "
                        "(model Journal Entry).",
                        rule=rule.name,
                    )
                )
            if abs(rule.offset_days) > MAX_OFFSET_DAYS:
                raise ValidationError(
                    self.env._(
                        "Reminder rule %(rule)s is %(days)s days from the due date: use a number "
                        "between -%(max)s and %(max)s.",
                        rule=rule.name,
                        days=rule.offset_days,
                        max=MAX_OFFSET_DAYS,
                    )
                )
            if rule.min_amount < 0:
                raise ValidationError(
                    self.env._(
                        "The minimum amount of reminder rule %(rule)s cannot be negative.",
                        rule=rule.name,
                    )
                )
