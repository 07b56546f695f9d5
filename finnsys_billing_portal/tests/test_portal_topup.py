import re

from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import topup_token

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalTopup(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prepaid, cls.prepaid_token = cls._topup_customer("Prepaid Co", "pre_user")

    def setUp(self):
        super().setUp()
        self.counts = self._counts()

    def _post(self, amount, terms=True, csrf=True):
        data = {"amount": amount}
        if terms:
            data["terms"] = "1"
        if csrf:
            data["csrf_token"] = self._csrf("/my/topup")
        return self.url_open("/my/topup", data=data, allow_redirects=False)

    def _rpc(self, amount, token=None, csrf=True, access_token=None, **params):
        csrf_token = self._csrf("/my/topup") if csrf else None
        access_token = access_token or topup_token(
            self.env, self.prepaid, amount if isinstance(amount, float) else 50.0
        )
        params = self._token_payment_params(
            amount,
            access_token,
            csrf_token,
            token_id=(token or self.prepaid_token).id,
            landing_route="/my",
            **params,
        )
        return self._jsonrpc("/my/topup/transaction", params)

    def test_topup_amount_must_lie_in_the_company_range(self):
        self.authenticate("pre_user", "pre_user")
        for amount in ("19.99", "1000.01", "0", "-5", "20.001", "abc", "NaN", "inf", ""):
            with self.subTest(amount=amount):
                response = self._post(amount)
                self.assertEqual(response.status_code, 400)
                self.assertIn("o_billing_pay_error", response.text)
        self.assertEqual(self._post("50", terms=False).status_code, 400)
        self.assertEqual(self._post("50", csrf=False).status_code, 400)
        self.assertEqual(self._post("50").status_code, 200)
        self._assert_nothing_created(self.counts)

    def test_topup_page_names_itself_in_the_breadcrumbs(self):
        """Issue 16, item 8: the top-up page's breadcrumb was empty."""
        self.authenticate("pre_user", "pre_user")
        page = self.url_open("/my/topup").text
        trail = re.search(r'<ol class="o_portal_submenu.*?</ol>', page, re.S).group(0)
        self.assertEqual(" ".join(re.sub(r"<[^>]+>", " ", trail).split()), "Top up")

    def test_topup_transaction_route_checks_every_figure(self):
        self.authenticate("pre_user", "pre_user")
        for amount in (5000.0, 0, -1, 20.001, "NaN", "inf", "abc", None):
            with self.subTest(amount=amount):
                self._assert_refused(self._rpc(amount), 400)
        self._assert_refused(self._rpc(50.0, access_token="forged"), 400, "terms")
        self._assert_refused(self._rpc(50.0, csrf=False), 400)
        self._assert_refused(self._rpc(50.0, token=self.other_token), 404)
        self.authenticate("pp_user", "pp_user")
        self._assert_refused(self._rpc(50.0, csrf=False), 404)
        self._assert_nothing_created(self.counts)

    def test_postpaid_customer_has_no_topup(self):
        self.authenticate("pp_user", "pp_user")
        self.assertEqual(self.url_open("/my/topup").status_code, 404)
        self.assertNotIn("o_billing_topup", self.url_open("/my").text)

    def test_topup_tour_credits_the_balance(self):
        self.prepaid.invalidate_recordset()
        before = self.prepaid.billing_balance
        self.start_tour("/my", "finnsys_portal_topup_tour", login="pre_user")
        tx = self.env["payment.transaction"].search([("partner_id", "child_of", self.prepaid.id)])
        self.assertEqual((tx.amount, tx.state), (150.0, "done"))
        tx._post_process()
        self.assertEqual(tx.payment_id.partner_id, self.prepaid)
        self.prepaid.invalidate_recordset()
        self.assertEqual(self.prepaid.billing_balance, before + 150.0)
