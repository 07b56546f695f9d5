from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    billing_portal_auto_invite = fields.Boolean(
        related="company_id.billing_portal_auto_invite", readonly=False
    )
    billing_support_email = fields.Char(related="company_id.billing_support_email", readonly=False)
    billing_support_phone = fields.Char(related="company_id.billing_support_phone", readonly=False)
    billing_portal_topup_min = fields.Monetary(
        related="company_id.billing_portal_topup_min", readonly=False
    )
    billing_portal_topup_max = fields.Monetary(
        related="company_id.billing_portal_topup_max", readonly=False
    )
    billing_terms_html = fields.Html(related="company_id.billing_terms_html", readonly=False)
