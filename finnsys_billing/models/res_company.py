from odoo import fields, models

BILLING_MODES = [("prepaid", "Prepaid"), ("postpaid", "Postpaid")]


class ResCompany(models.Model):
    _inherit = "res.company"

    billing_default_mode = fields.Selection(
        BILLING_MODES,
        string="Default Billing Mode",
        default="postpaid",
        required=True,
        help="Billing mode given to new customers of this company.",
    )
