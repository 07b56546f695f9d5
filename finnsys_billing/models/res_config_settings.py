from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    billing_default_mode = fields.Selection(
        related="company_id.billing_default_mode", readonly=False
    )
    billing_credit_policy = fields.Selection(
        related="company_id.billing_credit_policy", readonly=False
    )
    billing_topup_max_tries = fields.Integer(
        related="company_id.billing_topup_max_tries", readonly=False
    )
    billing_topup_retry_hours = fields.Integer(
        related="company_id.billing_topup_retry_hours", readonly=False
    )
    billing_low_balance_days = fields.Integer(
        related="company_id.billing_low_balance_days", readonly=False
    )
    billing_reminder_group = fields.Boolean(
        related="company_id.billing_reminder_group", readonly=False
    )
    billing_dunning_retry_days = fields.Char(
        related="company_id.billing_dunning_retry_days", readonly=False
    )
    billing_dunning_final_action = fields.Selection(
        related="company_id.billing_dunning_final_action", readonly=False
    )
    billing_statement_email = fields.Boolean(
        related="company_id.billing_statement_email", readonly=False
    )
