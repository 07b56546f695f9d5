from odoo.tests import tagged

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalDashboard(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {
                "billing_support_email": "help@finnsys.example",
                "billing_support_phone": "+1 555 0100",
            }
        )
        cls.overdue = cls._post_invoice(cls.customer, 120.0, "2026-01-10", due="2026-01-20")
        cls.open = cls._post_invoice(cls.customer, 80.0, "2026-01-10", due="2099-01-01")
        cls._post_invoice(cls.other_customer, 999.0)

    def test_dashboard_cards_show_ledger_figures(self):
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my").text
        self.assertIn("o_billing_dashboard", page)
        self.assertIn('<span class="o_billing_open_count">2</span>', page)
        self.assertIn("200.00", page)
        self.assertIn("120.00", page, "the overdue part is shown")
        self.assertNotIn("999.00", page, "another customer's invoice is not counted")
        self.assertIn("help@finnsys.example", page)
        self.assertIn("+1 555 0100", page)
        self.assertIn('href="/my/billing-info"', page)
        self.assertIn('href="/my/invoices?filterby=open"', page)

    def test_dashboard_help_falls_back_to_company_contact(self):
        self.company.write({"billing_support_email": False, "email": "info@company.example"})
        self.authenticate("pp_user", "pp_user")
        self.assertIn("info@company.example", self.url_open("/my").text)

    def test_prepaid_dashboard_shows_balance_and_available(self):
        prepaid = self._portal_customer("Prepaid Co", "prepaid", "pre_user", limit=500.0)
        self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": prepaid.id,
                "amount": 300.0,
            }
        ).action_post()
        self.authenticate("pre_user", "pre_user")
        page = self.url_open("/my").text
        self.assertIn('data-billing-mode="prepaid"', page)
        self.assertIn("o_billing_balance", page)
        self.assertIn("o_billing_available", page)
        self.assertIn("500.00", page)

    def test_dashboard_tour_on_phone_width(self):
        self.browser_size = "375x812"
        self.start_tour("/my", "finnsys_portal_dashboard_tour", login="pp_user")
