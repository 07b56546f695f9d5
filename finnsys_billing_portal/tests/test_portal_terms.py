from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestPortalTerms(HttpCase):
    """The pay and top-up steps link to /terms: customers can read what they accept."""

    def test_visitor_reads_the_billing_terms_when_odoo_publishes_none(self):
        self.env["ir.config_parameter"].sudo().set_param("account.use_invoice_terms", False)
        response = self.url_open("/terms")
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("Oops", response.text)
        self.assertIn("Billing and payment terms", response.text)
        self.assertIn("Card fees", response.text)

    def test_terms_set_in_settings_are_the_ones_shown(self):
        self.env.company.billing_terms_html = "<p>Pay within 14 days, Lapland rules apply.</p>"
        response = self.url_open("/terms")
        self.assertIn("Lapland rules apply", response.text)
        self.assertNotIn("Card fees", response.text)

    def test_odoo_terms_page_also_carries_the_billing_terms(self):
        self.env["ir.config_parameter"].sudo().set_param("account.use_invoice_terms", True)
        self.env.company.write(
            {"terms_type": "html", "invoice_terms_html": "<p>Goods remain ours until paid.</p>"}
        )
        response = self.url_open("/terms")
        self.assertIn("Goods remain ours until paid", response.text)
        self.assertIn("Card fees", response.text)

    def test_every_consent_step_links_to_the_terms(self):
        views = self.env["ir.ui.view"].search(
            [("key", "like", "finnsys_billing_portal.%"), ("arch_db", "ilike", "I accept the")]
        )
        self.assertTrue(views)
        for view in views:
            self.assertIn('href="/terms"', view.arch_db, view.key)
