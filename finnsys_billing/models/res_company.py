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
    billing_credit_policy = fields.Selection(
        [
            ("warn", "Warn"),
            ("block", "Block"),
        ],
        string="Credit Limit Policy",
        default="block",
        required=True,
        help="Warn: Odoo's banner on the invoice only. Block: an invoice that would take the "
        "customer over its credit limit cannot be posted without a manager's override.",
    )
