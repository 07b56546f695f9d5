from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    billing_portal_auto_invite = fields.Boolean(
        string="Invite Billing Contacts to the Portal",
        help="Invite a customer's billing contacts to the portal when its first invoice is posted.",
    )
    billing_support_email = fields.Char(
        string="Billing Support E-mail",
        help="Shown to customers on their portal dashboard; the company e-mail when empty.",
    )
    billing_support_phone = fields.Char(
        help="Shown to customers on their portal dashboard; the company phone when empty.",
    )
    billing_portal_topup_min = fields.Monetary(
        string="Smallest Portal Top-up",
        currency_field="currency_id",
        default=10.0,
        help="Smallest amount a prepaid customer may add to the balance from the portal.",
    )
    billing_portal_topup_max = fields.Monetary(
        string="Largest Portal Top-up",
        currency_field="currency_id",
        default=5000.0,
        help="Largest amount a prepaid customer may add to the balance from the portal.",
    )

    _billing_portal_topup_range = models.Constraint(
        "CHECK(billing_portal_topup_min > 0"
        " AND billing_portal_topup_max >= billing_portal_topup_min)",
        "The smallest portal top-up must be positive and not above the largest.",
    )
