from odoo import fields, models


def _default_billing_terms(company):
    return company.env._(
        "<h4>Payments</h4>"
        "<p>You may pay an invoice in full or in part. A payment goes to the invoices you chose; "
        "what is left stays due on the invoice's due date.</p>"
        "<h4>Card fees</h4>"
        "<p>Where a card surcharge applies, its amount is shown before you confirm and is charged "
        "only with your consent, together with the payment. Declining it cancels the payment; you "
        "can pay with another method. When an invoice is credited, the surcharge on it is "
        "credited in proportion.</p>"
        "<h4>Prepaid credit and top-ups</h4>"
        "<p>Top-ups become credit on your account, used for your next invoices. Unused credit is "
        "paid back on request.</p>"
        "<h4>Saved payment methods</h4>"
        "<p>When you save a payment method for automatic top-ups or subscriptions, you allow us "
        "to charge it for the amounts set in your account, and you can remove it at any time.</p>"
    )


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

    billing_terms_html = fields.Html(
        string="Billing Terms",
        translate=True,
        sanitize=True,
        default=_default_billing_terms,
        help="Terms customers accept when they pay or top up in the portal, shown at /terms.",
    )

    _billing_portal_topup_range = models.Constraint(
        "CHECK(billing_portal_topup_min > 0"
        " AND billing_portal_topup_max >= billing_portal_topup_min)",
        "The smallest portal top-up must be positive and not above the largest.",
    )

    def _finnsys_invoice_terms_published(self):
        """Whether Odoo's own /terms page shows this company's invoice terms."""
        self.ensure_one()
        published = self.env["ir.config_parameter"].sudo().get_param("account.use_invoice_terms")
        return bool(published) and self.terms_type == "html"
