import re

from lxml import html

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
        self.company.account_use_credit_limit = True
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

    def _figure(self, page, css_class):
        found = html.fromstring(page).find_class(css_class)
        self.assertTrue(found, f"{css_class} is on the page")
        return found[0].text_content().replace("\xa0", " ").replace("\ufeff", "").strip()

    def _tab_counts(self):
        page = self.url_open("/my/invoices").text
        counts = re.findall(r'data-tab="(\w+)">\s*\w+(?: \w+)?\s*<span[^>]*>(\d+)', page)
        return {tab: int(count) for tab, count in counts}

    def test_pending_payment_and_paid_invoices_give_one_consistent_dashboard(self):
        """Issue 16, item 1: a pending payment of the overdue invoice, the others paid, and a
        credit note not yet applied. The card said "0 open, Total 0.00, Overdue 120.00" and
        showed the postpaid customer's credit nowhere."""
        self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.card.id,
                "amount": 120.0,
                "currency_id": self.currency.id,
                "partner_id": self.customer.id,
                "state": "pending",
                "invoice_ids": [(6, 0, self.overdue.ids)],
            }
        )
        self._pay_in_backend(self.open, 80.0)
        self._post_invoice(self.customer, 30.0, "2026-01-12", move_type="out_refund")
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my").text
        tabs = self._tab_counts()
        self.assertEqual(self._figure(page, "o_billing_open_count"), "0")
        self.assertEqual(self._figure(page, "o_billing_open_total"), "$ 0.00")
        self.assertEqual(self._figure(page, "o_billing_overdue"), "$ 0.00", "overdue <= open total")
        self.assertEqual(tabs["open"], 0, "the dashboard's open count is the Open tab's")
        self.assertEqual(self._figure(page, "o_billing_in_progress"), "$ 120.00")
        self.assertEqual(self._figure(page, "o_billing_in_progress_count"), str(tabs["progress"]))
        self.assertEqual(self._figure(page, "o_billing_outstanding"), "$ 120.00")
        self.assertEqual(self._figure(page, "o_billing_credit"), "$ 30.00", "postpaid credit shown")
        self.assertEqual(self._figure(page, "o_billing_balance"), "$ -90.00")

    def test_open_card_adds_up_to_the_open_tab(self):
        self._pay_in_backend(self.overdue, 20.0)
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my").text
        invoices = self.url_open("/my/invoices?filterby=open").text
        self.assertEqual(self._figure(page, "o_billing_open_count"), "2")
        self.assertEqual(self._tab_counts()["open"], 2)
        self.assertEqual(self._figure(page, "o_billing_open_total"), "$ 180.00")
        total = re.search(
            r'o_billing_tab_total"[^>]*>.*?<strong[^>]*>(.*?)</strong>', invoices, re.S
        )
        self.assertIn("180.00", total.group(1), "the Open tab's total is the card's")
        self.assertEqual(self._figure(page, "o_billing_overdue"), "$ 100.00")

    def test_prepaid_dashboard_shows_credit_on_account(self):
        self.company.account_use_credit_limit = True
        prepaid = self._portal_customer("Prepaid Credit Co", "prepaid", "pre_credit", limit=50.0)
        self._post_invoice(prepaid, 25.0, "2026-01-12", move_type="out_refund")
        self.authenticate("pre_credit", "pre_credit")
        page = self.url_open("/my").text
        self.assertEqual(self._figure(page, "o_billing_credit"), "$ 25.00")
        self.assertEqual(self._figure(page, "o_billing_balance"), "$ 25.00")
        self.assertEqual(self._figure(page, "o_billing_available"), "$ 75.00")

    def test_email_addresses_wrap_only_at_their_parts(self):
        self.customer.email = "accounts.payable@portal-postpaid-company.example"
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my").text
        profile = html.fromstring(page).find_class("o_billing_card_profile")[0]
        self.assertNotIn("text-break", html.tostring(profile, encoding="unicode"))
        self.assertIn(
            '<span class="text-nowrap">accounts.payable</span><wbr/>'
            '<span class="text-nowrap">@portal-postpaid-company.example</span>',
            page,
        )

    def test_dashboard_tour_on_phone_width(self):
        self.browser_size = "375x812"
        self.start_tour("/my", "finnsys_portal_dashboard_tour", login="pp_user")
