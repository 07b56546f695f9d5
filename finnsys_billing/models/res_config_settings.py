from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    billing_default_mode = fields.Selection(
        related="company_id.billing_default_mode", readonly=False
    )
    billing_credit_policy = fields.Selection(
        related="company_id.billing_credit_policy", readonly=False
    )
