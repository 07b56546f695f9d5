from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    billing_portal_auto_invite = fields.Boolean(
        string="Invite Billing Contacts to the Portal",
        help="Invite a customer's billing contacts to the portal when its first invoice is posted.",
    )
