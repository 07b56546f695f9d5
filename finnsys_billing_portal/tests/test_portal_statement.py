from datetime import date, timedelta

from odoo.tests import new_test_user, tagged

from .portal_common import BillingPortalCommon


class StatementPortalCommon(BillingPortalCommon):
    """The customer owes 100 (invoice of 10 Jan), then 150 more (invoice of 10 Mar) and pays
    100 on 25 Mar: February's statement is 100 -> 100, March's 100 -> 150.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.january = cls._post_invoice(cls.customer, 100.0, "2026-01-10")
        cls.march = cls._post_invoice(cls.customer, 150.0, "2026-03-10")
        cls.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": cls.customer.id,
                "amount": 100.0,
                "date": "2026-03-25",
            }
        ).action_post()
        cls.secret = cls._post_invoice(cls.other_customer, 987.0, "2026-03-12")


@tagged("post_install", "-at_install")
class TestPortalStatement(StatementPortalCommon):
    """/my/statement: the logged-in customer's own statement, for any period, and its PDF."""

    def _get(self, url):
        return self.url_open(url, allow_redirects=False)

    def test_owner_sees_last_month_by_default_and_any_period(self):
        self.authenticate("pp_user", "pp_user")
        page = self._get("/my/statement")
        self.assertEqual(page.status_code, 200)
        last_day = date.today().replace(day=1) - timedelta(days=1)
        self.assertIn(f'value="{last_day.replace(day=1).isoformat()}"', page.text)
        self.assertIn(f'value="{last_day.isoformat()}"', page.text)
        page = self._get("/my/statement?date_from=2026-03-01&date_to=2026-03-31")
        self.assertIn(self.march.name, page.text)
        self.assertNotIn(self.january.name, page.text, "January is before March")
        self.assertIn("150.00", page.text)
        self.assertNotIn(self.secret.name, page.text)
        page = self._get("/my/statement?date_from=2026-01-01&date_to=2026-02-28")
        self.assertIn(self.january.name, page.text)
        self.assertNotIn(self.march.name, page.text)

    def test_pdf_download_is_the_owners_statement(self):
        self.authenticate("pp_user", "pp_user")
        response = self._get("/my/statement/pdf?date_from=2026-03-01&date_to=2026-03-31")
        self.assertEqual(response.status_code, 200)
        self.assertIn("attachment", response.headers["Content-Disposition"])
        # In tests Odoo renders reports as HTML instead of calling wkhtmltopdf.
        self.assertIn("Portal Postpaid Co", response.text)
        self.assertIn(self.march.name, response.text)
        self.assertNotIn(self.secret.name, response.text)
        self.assertNotIn("Other Customer Co", response.text)

    def test_bad_period_is_refused(self):
        self.authenticate("pp_user", "pp_user")
        for query in ("date_from=2026-03-31&date_to=2026-03-01", "date_from=yesterday"):
            self.assertEqual(self._get(f"/my/statement?{query}").status_code, 400, query)
            self.assertEqual(self._get(f"/my/statement/pdf?{query}").status_code, 400, query)

    def test_another_customer_cannot_read_this_statement(self):
        self.authenticate("other_user", "other_user")
        page = self._get("/my/statement?date_from=2026-03-01&date_to=2026-03-31")
        self.assertEqual(page.status_code, 200)
        self.assertIn(self.secret.name, page.text, "its own statement")
        self.assertNotIn(self.march.name, page.text)
        for route in ("/my/statement", "/my/statement/pdf"):
            response = self._get(f"{route}?partner_id={self.customer.id}")
            self.assertEqual(response.status_code, 404, route)
            self.assertNotIn(self.march.name, response.text)

    def test_logged_out_and_internal_users_get_no_statement(self):
        for route in ("/my/statement", "/my/statement/pdf"):
            response = self._get(route)
            self.assertEqual(response.status_code, 303, route)
            self.assertIn("/web/login", response.headers["Location"])
        new_test_user(self.env, login="clerk_statement", groups="base.group_user")
        self.authenticate("clerk_statement", "clerk_statement")
        for route in ("/my/statement", "/my/statement/pdf"):
            self.assertEqual(self._get(route).status_code, 404, route)

    def test_dashboard_links_to_the_statement(self):
        self.authenticate("pp_user", "pp_user")
        self.assertIn('href="/my/statement"', self._get("/my").text)

    def test_statement_tour(self):
        # Last month's statement (any month after March 2026) holds no entry: 150 owed.
        self.start_tour("/my", "finnsys_portal_statement_tour", login="pp_user")


@tagged("post_install", "-at_install")
class TestPortalStatementPhone(StatementPortalCommon):
    """/my/statement on a phone's screen (390 px): nothing is cut off."""

    browser_size = "390x844"
    touch_enabled = True

    def test_statement_fits_a_phone_screen_tour(self):
        self.start_tour(
            "/my/statement?date_from=2026-01-01&date_to=2026-03-31",
            "finnsys_portal_statement_phone_tour",
            login="pp_user",
        )
