from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalPayBadInput(BillingPortalCommon):
    """Every figure the browser sends is checked; a refusal creates nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.invoice = cls._post_invoice(cls.customer, 100.0)
        cls.foreign, cls.paid, cls.cancelled = cls._unpayable_invoices(100.0, 30.0, 20.0)

    def setUp(self):
        super().setUp()
        self.authenticate("pp_user", "pp_user")
        self.counts = self._counts()

    def _post_amount(self, invoice, amount, terms=True, csrf=True):
        data = {"amount": amount} if amount is not None else {}
        if terms:
            data["terms"] = "1"
        if csrf:
            data["csrf_token"] = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        return self.url_open(f"/my/invoices/{invoice.id}/pay", data=data, allow_redirects=False)

    def _rpc(self, invoice, amount, access_token=None, csrf=True, **params):
        csrf_token = self._csrf(f"/my/invoices/{self.invoice.id}/pay") if csrf else None
        params = self._token_payment_params(
            amount, access_token or terms_token(self.env, invoice, amount), csrf_token, **params
        )
        return self._jsonrpc(f"/invoice/transaction/{invoice.id}", params)

    def test_bad_amounts_are_refused_with_a_message(self):
        for amount in ("-1", "0", "0.001", "100.01", "1e9", "NaN", "inf", "abc", "", None):
            with self.subTest(amount=amount):
                response = self._post_amount(self.invoice, amount)
                self.assertEqual(response.status_code, 400)
                self.assertIn("o_billing_pay_error", response.text)
        self._assert_nothing_created(self.counts)

    def test_valid_amount_with_terms_shows_the_payment_form(self):
        response = self._post_amount(self.invoice, "40.5")
        self.assertEqual(response.status_code, 200)
        self.assertIn("o_payment_form", response.text)
        self.assertIn(f"/invoice/transaction/{self.invoice.id}", response.text)
        self._assert_nothing_created(self.counts)

    def test_missing_terms_is_refused(self):
        response = self._post_amount(self.invoice, "40", terms=False)
        self.assertEqual(response.status_code, 400)
        self.assertIn("terms and conditions", response.text)
        self._assert_nothing_created(self.counts)

    def test_post_without_csrf_is_refused(self):
        response = self._post_amount(self.invoice, "40", csrf=False)
        self.assertEqual(response.status_code, 400)
        self._assert_nothing_created(self.counts)

    def test_other_customers_invoice_is_not_found(self):
        self.assertEqual(self._post_amount(self.foreign, "10").status_code, 404)
        self.assertEqual(self.url_open(f"/my/invoices/{self.foreign.id}/pay").status_code, 404)
        self._assert_refused(self._rpc(self.foreign, 10.0), 404)
        self._assert_nothing_created(self.counts)

    def test_paid_and_cancelled_invoices_are_refused(self):
        for invoice in (self.paid, self.cancelled):
            with self.subTest(invoice=invoice.name):
                response = self._post_amount(invoice, "10")
                self.assertIn(response.status_code, (400, 404))
                self._assert_refused(self._rpc(invoice, 10.0), 400, "cannot be paid online")
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_bad_amounts(self):
        for amount in (-1, 0, 0.001, 100.01, 1e9, "NaN", "inf", "abc", None):
            with self.subTest(amount=amount):
                token = terms_token(self.env, self.invoice, 10.0)
                self._assert_refused(self._rpc(self.invoice, amount, access_token=token), 400)
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_an_amount_other_than_the_accepted_one(self):
        token = terms_token(self.env, self.invoice, 10.0)
        self._assert_refused(self._rpc(self.invoice, 90.0, access_token=token), 400, "terms")
        # The invoice's portal token is no proof that the terms were accepted on the pay page.
        reply = self._rpc(self.invoice, 10.0, access_token=self.invoice._portal_ensure_token())
        self._assert_refused(reply, 400, "terms")
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_another_customers_token(self):
        self._assert_refused(self._rpc(self.invoice, 10.0, token_id=self.other_token.id), 404)
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_missing_csrf(self):
        self._assert_refused(self._rpc(self.invoice, 10.0, csrf=False), 400, "session expired")
        self._assert_nothing_created(self.counts)

    def _rpc_overdue(self, amount, csrf=True, csrf_token=None, **params):
        if csrf and not csrf_token:
            csrf_token = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        params = self._token_payment_params(amount, None, csrf_token, **params)
        del params["access_token"]  # Odoo's overdue page has none
        return self._jsonrpc(
            "/invoice/transaction/overdue", {"payment_reference": "overdue", **params}
        )

    def test_pay_all_overdue_charges_exactly_the_overdue_total(self):
        # The invoice of 100.00 due 2026-01-10 is the customer's only overdue one.
        for amount in (-1, 0, 1, 99.99, 100.01, 1e9, "NaN", "abc", None):
            with self.subTest(amount=amount):
                self._assert_refused(self._rpc_overdue(amount), 400, "100.00")
        self._assert_refused(self._rpc_overdue(100.0, csrf=False), 400)
        self._assert_refused(self._rpc_overdue(100.0, token_id=self.other_token.id), 404)
        self._assert_nothing_created(self.counts)

        csrf_token = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        response = self._rpc_overdue(100.0, csrf_token=csrf_token)
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("error", response.json(), response.text)
        tx = self.env["payment.transaction"].search([("invoice_ids", "=", self.invoice.id)])
        self.assertEqual(tx.amount, 100.0)
        # Charged but not booked yet: paying the overdue invoices again is refused.
        self._assert_refused(self._rpc_overdue(100.0, csrf_token=csrf_token), 400, "under way")
        self.assertEqual(
            self.env["payment.transaction"].search_count([("invoice_ids", "=", self.invoice.id)]),
            1,
        )

    def test_pay_all_overdue_refuses_a_card_that_carries_a_surcharge(self):
        self._card_surcharge_rule("707799")
        self._assert_refused(self._rpc_overdue(100.0), 400, "surcharge")
        self._assert_nothing_created(self.counts)

    def test_partial_payment_with_saved_card_keeps_the_invoice_open(self):
        response = self._rpc(self.invoice, 40.0)
        self.assertNotIn("error", response.json(), response.text)
        tx = self.env["payment.transaction"].search([("invoice_ids", "=", self.invoice.id)])
        self.assertEqual(tx.amount, 40.0)
        self.assertEqual(tx.state, "done")
        tx._post_process()
        self.assertEqual(self.invoice.amount_residual, 60.0)
        self.assertEqual(self.invoice.payment_state, "partial")
