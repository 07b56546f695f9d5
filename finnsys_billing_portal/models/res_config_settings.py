from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    billing_portal_auto_invite = fields.Boolean(
        related="company_id.billing_portal_auto_invite", readonly=False
    )
