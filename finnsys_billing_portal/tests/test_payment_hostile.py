"""Hostile payments over HTTP: each finding of the portal's payment review, as the owner,
as another customer and logged out, with the records counted before and after: the e-mailed
link, the payment method and the surcharge's money."""

from odoo.tests import tagged

from .hostile_common import HostileCase


@tagged("post_install", "-at_install")
class TestEmailedLink(HostileCase):
    """Finding 1: the e-mailed link (logged out, the invoice's access token)."""

    def setUp(self):
        super().setUp()
        self.authenticate(None, None)
        self.link = self.invoice._portal_ensure_token()
        self.url = f"/invoice/transaction/{self.invoice.id}"

    def test_link_token_alone_pays_nothing(self):
        csrf = self._csrf("/web/login")
        cases = [(amount, self.link) for amount in (-1, 1e9, 100.01, 40.0)]
        cases += [(amount, self._signed(40.0)) for amount in (-1, 1e9, 100.01)]
        for amount, token in cases:
            params = self._direct(amount, token, csrf, method=self.demo_method)
            context = f"amount={amount}, token={token[:6]}"
            self._assert_refused_nothing_created(self.url, params, 404, context)
        # A signature of a bad amount (as if one had leaked): the amount rules still hold.
        for amount in (-1, 0.0, 100.01, 1e9):
            params = self._direct(amount, self._signed(amount), csrf, method=self.demo_method)
            self._assert_refused_nothing_created(self.url, params, 400, f"signed {amount}")
        self.assertEqual(self.invoice.amount_residual, 100.0)

    def _pay_page_form(self, amount):
        pay_url = f"/my/invoices/{self.invoice.id}/pay"
        csrf = self._csrf(f"{pay_url}?access_token={self.link}")
        data = {"amount": amount, "terms": "1", "csrf_token": csrf, "access_token": self.link}
        return self.url_open(pay_url, data=data, allow_redirects=False), csrf

    def test_link_pays_through_amount_terms_and_surcharge(self):
        page = self.url_open(f"/my/invoices/{self.invoice.id}?access_token={self.link}")
        self.assertIn(f"/my/invoices/{self.invoice.id}/pay?access_token={self.link}", page.text)
        self.assertNotIn('data-bs-target="#pay_with"', page.text, "Odoo's stock Pay dialog")
        self.assertEqual(self._pay_page_form("100.01")[0].status_code, 400)
        form, csrf = self._pay_page_form("40")
        self.assertEqual(form.status_code, 200, form.text[:300])
        self.assertIn("o_payment_form", form.text)
        self.assertNotIn("4242", form.text, "a visitor sees no saved card")
        signed = self._signed(40.0)
        saved = self._token_payment_params(40.0, signed, csrf, surcharge=0)
        self._assert_refused_nothing_created(self.url, saved, 400, "a saved card")
        self._assert_refused_nothing_created(
            self.url, self._direct(40.0, signed, csrf), 400, "card, surcharge left out"
        )
        tx = self._accepted(self.url, self._direct(40.0, signed, csrf, surcharge=1.30))
        self.assertEqual((tx.amount, tx.partner_id), (41.30, self.invoice.partner_id))
        self.assertEqual(tx.finnsys_surcharge_consent_id.surcharge, 1.30)
        tx._set_done()
        tx._post_process()
        self.assertEqual(self.invoice.amount_residual, 60.0)
        landing = self.url_open(tx.landing_route)
        self.assertEqual(landing.status_code, 200)
        self.assertIn(tx.reference, landing.text)
        self.assertIn("o_billing_payment_surcharge", landing.text)
        self.assertNotIn("o_billing_payment_balance", landing.text, "the account stays private")
        other = self.url_open(f"/my/payments/{tx.id}?access_token=forged", allow_redirects=False)
        self.assertNotEqual(other.status_code, 200)

    def test_pay_page_needs_the_link(self):
        url = f"/my/invoices/{self.invoice.id}/pay"
        for query in ("", "?access_token=forged"):
            response = self.url_open(url + query, allow_redirects=False)
            self.assertEqual(response.status_code, 303, query)
            self.assertIn("/web/login", response.headers["Location"])


@tagged("post_install", "-at_install")
class TestMethodTampering(HostileCase):
    """Findings 2, 3 and 4: the surcharge follows the method actually charged."""

    def setUp(self):
        super().setUp()
        self.authenticate("pp_user", "pp_user")
        self.csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        self.url = f"/invoice/transaction/{self.invoice.id}"

    def test_card_with_a_surcharge_free_token_alongside_pays_the_surcharge(self):
        params = self._direct(40.0, self._signed(40.0), self.csrf, token_id=self.demo_token.id)
        message = self._assert_refused_nothing_created(self.url, params, 400, "token alongside")
        self.assertIn("1.30", message)
        tx = self._accepted(self.url, params | {"surcharge": 1.30})
        self.assertEqual(
            (tx.payment_method_id, tx.token_id, tx.amount),
            (self.card, self.demo_token.browse(), 41.30),
        )

    def test_brand_is_charged_as_its_card(self):
        visa = self.env.ref("payment.payment_method_visa")
        params = self._direct(40.0, self._signed(40.0), self.csrf, method=visa)
        self._assert_refused_nothing_created(self.url, params, 400, "Visa, no surcharge")
        tx = self._accepted(self.url, params | {"surcharge": 1.30})
        self.assertEqual((tx.payment_method_id, tx.amount), (self.card, 41.30))

    def test_method_the_provider_does_not_offer_is_refused(self):
        paypal = self.env.ref("payment.payment_method_paypal")
        params = self._direct(40.0, self._signed(40.0), self.csrf, method=paypal)
        self._assert_refused_nothing_created(self.url, params, 400, "not offered")
        other_provider = self.provider.copy({"name": "Second demo"})
        params = self._direct(40.0, self._signed(40.0), self.csrf, provider_id=other_provider.id)
        self._assert_refused_nothing_created(self.url, params, 404, "disabled provider")

    def test_token_of_another_provider_or_customer_is_refused(self):
        for token in (
            self.other_token,
            self.demo_token.copy({"provider_id": self.provider.copy().id}),
        ):
            params = self._token_payment_params(
                40.0, self._signed(40.0), self.csrf, token_id=token.id
            )
            self._assert_refused_nothing_created(self.url, params, 404, token.payment_details)

    def test_bad_flows_and_validation_are_refused_or_ignored(self):
        for flow in (None, "", "offline", "validation"):
            params = self._direct(40.0, self._signed(40.0), self.csrf, flow=flow, surcharge=1.30)
            self._assert_refused_nothing_created(self.url, params, 400, f"flow={flow!r}")
        params = self._direct(
            40.0, self._signed(40.0), self.csrf, surcharge=1.30, is_validation=True
        )
        tx = self._accepted(self.url, params)
        self.assertEqual((tx.operation, tx.amount), ("online_direct", 41.30))

    def test_missing_access_token_is_a_bad_request(self):
        params = self._direct(40.0, self._signed(40.0), self.csrf, surcharge=1.30)
        del params["access_token"]
        self._assert_refused_nothing_created(self.url, params, 400, "no access_token")

    def test_pay_all_overdue_charges_the_surcharge_of_the_card(self):
        params = self._direct(100.0, None, self.csrf, token_id=self.demo_token.id)
        del params["access_token"]
        params["payment_reference"] = "overdue"
        message = self._assert_refused_nothing_created(
            "/invoice/transaction/overdue", params, 400, "card, Demo token alongside"
        )
        self.assertIn("surcharge", message)
        params = self._direct(100.0, None, self.csrf, method=self.demo_method)
        del params["access_token"]
        tx = self._accepted("/invoice/transaction/overdue", params | {"payment_reference": "x"})
        self.assertEqual((tx.amount, tx.payment_method_id), (100.0, self.demo_method))


@tagged("post_install", "-at_install")
class TestSurchargeMoney(HostileCase):
    """Finding 5: the surcharge is paid with the money charged for it, never older credit."""

    def test_surcharge_is_paid_by_its_charge_not_by_unapplied_credit(self):
        old_credit = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.customer.id,
                "amount": 50.0,
            }
        )
        old_credit.action_post()
        self.authenticate("pp_user", "pp_user")
        csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        params = self._token_payment_params(40.0, self._signed(40.0), csrf, surcharge=1.30)
        tx = self._accepted(f"/invoice/transaction/{self.invoice.id}", params)
        tx._post_process()
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        self.assertEqual(self.invoice.amount_residual, 60.0)
        self.assertEqual(surcharge_move.amount_residual, 0.0)
        self.assertEqual(tx.payment_id.reconciled_invoice_ids, self.invoice + surcharge_move)
        old_line = old_credit.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertEqual(old_line.amount_residual, -50.0, "the old credit is still unapplied")


@tagged("post_install", "-at_install")
class TestPendingPartialPayment(HostileCase):
    """Finding 6: a pending payment holds only its own amount."""

    def test_pending_part_leaves_the_rest_payable(self):
        self.token.demo_simulated_state = "pending"
        self.authenticate("pp_user", "pp_user")
        csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        url = f"/invoice/transaction/{self.invoice.id}"

        def surcharge(amount):
            return self.rule.compute_surcharge(amount, self.currency)

        params = self._token_payment_params(15.0, self._signed(15.0), csrf, surcharge=surcharge(15))
        tx = self._accepted(url, params)
        self.assertEqual(tx.state, "pending")
        self.assertEqual(self.invoice.finnsys_amount_under_way(), {self.invoice.id: 15.0})
        page = self.url_open(f"/my/invoices/{self.invoice.id}")
        self.assertIn("o_billing_pay", page.text, "the invoice page still offers to pay")
        pay = self.url_open(f"/my/invoices/{self.invoice.id}/pay")
        self.assertEqual(pay.status_code, 200)
        self.assertIn("o_billing_under_way", pay.text)
        self.assertIn("85.00", pay.text)
        open_tab = self.url_open("/my/invoices?filterby=open")
        self.assertIn(self.invoice.name, open_tab.text)
        self.assertIn("o_billing_under_way", open_tab.text, "the list shows the 15.00 under way")
        too_much = self._token_payment_params(
            85.01, self._signed(85.01), csrf, surcharge=surcharge(85.01)
        )
        self._assert_refused_nothing_created(url, too_much, 400, "more than what is left")
        rest = self._token_payment_params(85.0, self._signed(85.0), csrf, surcharge=surcharge(85))
        self._accepted(url, rest)
        progress = self.url_open("/my/invoices?filterby=progress")
        self.assertIn(self.invoice.name, progress.text, "covered: In Progress")
        self._assert_refused_nothing_created(url, rest, 400, "nothing left to pay")
