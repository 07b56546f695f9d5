"""Hostile payments over HTTP: each finding of the portal's payment review, as the owner,
as another customer and logged out, with the records counted before and after."""

from freezegun import freeze_time
from lxml import html

from odoo import Command
from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token, topup_token

from .portal_common import BillingPortalCommon

WATCHED_MODELS = ("payment.transaction", "account.payment", "finnsys.surcharge.consent")


class HostileCase(BillingPortalCommon):
    """A card surcharge of 2.5 % + 0.30 (40.00 costs 1.30 more); the demo provider takes the
    card and its own "Demo" method, which carries none; the customer saved a Demo token."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.demo_method = cls.env.ref("payment_demo.payment_method_demo")
        cls.provider.payment_method_ids = [Command.set((cls.card + cls.demo_method).ids)]
        cls.card.active = True
        cls.customer.country_id = cls.env.ref("base.be")
        cls.rule = cls._card_surcharge_rule("707737")
        cls.demo_token = cls.env["payment.token"].create(
            {
                "provider_id": cls.provider.id,
                "payment_method_id": cls.demo_method.id,
                "partner_id": cls.customer.id,
                "payment_details": "demo",
                "provider_ref": "demo-wallet",
                "demo_simulated_state": "done",
            }
        )
        cls.invoice = cls._post_invoice(cls.customer, 100.0)

    def _counts(self):
        return {model: self.env[model].sudo().search_count([]) for model in WATCHED_MODELS}

    def _assert_refused_nothing_created(self, url, params, status=400, context=""):
        before = self._counts()
        response = self._jsonrpc(url, params)
        self.assertEqual(response.status_code, status, f"{context}: {response.text[:300]}")
        self.assertTrue(response.json()["error"]["data"]["message"], context)
        self.env.invalidate_all()
        self.assertEqual(self._counts(), before, f"{context}: a record was created")
        return response.json()["error"]["data"]["message"]

    def _accepted(self, url, params):
        response = self._jsonrpc(url, params)
        self.assertEqual(response.status_code, 200, response.text[:300])
        body = response.json()
        self.assertIn("result", body, body)
        return self.env["payment.transaction"].search(
            [("reference", "=", body["result"]["reference"])]
        )

    def _direct(self, amount, access_token, csrf_token, method=None, **params):
        """What the payment form posts to pay ``amount`` with a new ``method`` (a card)."""
        values = self._token_payment_params(amount, access_token, csrf_token)
        values.update(payment_method_id=(method or self.card).id, token_id=None, flow="direct")
        return values | params

    def _signed(self, amount):
        return terms_token(self.env, self.invoice, amount)


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


@tagged("post_install", "-at_install")
class TestDeclineAndCountry(HostileCase):
    """Finding 9: the decline route is rate-limited; the surcharge country is not the
    customer's to change."""

    def test_decline_route_stops_storing_refusals(self):
        self.authenticate("pp_user", "pp_user")
        url = f"/my/invoices/{self.invoice.id}/surcharge/decline"
        params = self._direct(
            40.0, self._signed(40.0), self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        )
        Consent = self.env["finnsys.surcharge.consent"]
        for __ in range(20):
            self.assertEqual(self._jsonrpc(url, params).status_code, 200)
        self._assert_refused_nothing_created(url, params, 429, "21st refusal in an hour")
        self.assertEqual(Consent.search_count([("invoice_id", "=", self.invoice.id)]), 20)

    def test_company_user_cannot_change_its_country_in_the_portal(self):
        # Odoo only locks the country of a partner that invoices are addressed to; these are
        # addressed to the company's invoicing contact.
        contact = self.other_customer.child_ids
        self.assertTrue(self.other_customer._can_edit_country(), "no invoice yet")
        self._post_invoice(contact, 10.0)
        self.assertFalse(self.other_customer._can_edit_country())
        self.assertFalse(contact._can_edit_country(), "Odoo's own rule")
        self.assertTrue(self.user.partner_id._can_edit_country(), "another contact's address")


@tagged("post_install", "-at_install")
class TestOtherEntryPoints(HostileCase):
    """The same method checks on paying several invoices and on topping up, and extra
    fields that Odoo would pass on to the transaction."""

    def setUp(self):
        super().setUp()
        self.authenticate("pp_user", "pp_user")
        self.csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")

    def test_several_invoices_pay_the_surcharge_of_the_card_charged(self):
        second = self._post_invoice(self.customer, 60.0)
        invoices = self.invoice + second
        url = f"/my/invoices/pay/{self.invoice.id},{second.id}/transaction"
        signed = terms_token(self.env, invoices, 160.0)
        visa = self.env.ref("payment.payment_method_visa")
        for label, params in (
            (
                "Demo token alongside",
                self._direct(160.0, signed, self.csrf, token_id=self.demo_token.id),
            ),
            ("Visa", self._direct(160.0, signed, self.csrf, method=visa)),
        ):
            self._assert_refused_nothing_created(url, params, 400, label)
        surcharge = self.rule.compute_surcharge(160.0, self.currency)
        tx = self._accepted(
            url, self._direct(160.0, signed, self.csrf, method=visa, surcharge=surcharge)
        )
        self.assertEqual((tx.payment_method_id, tx.amount), (self.card, 160.0 + surcharge))

    def test_extra_fields_are_refused(self):
        url = f"/invoice/transaction/{self.invoice.id}"
        base = self._direct(40.0, self._signed(40.0), self.csrf, surcharge=1.30)
        for extra in (
            {"partner_id": self.other_customer.id},
            {"reference_prefix": "FAKE"},
            {"currency_id": 2},
            {"custom_create_values": {"amount": 1}},
        ):
            self._assert_refused_nothing_created(url, base | extra, 400, str(extra))

    def test_topup_takes_only_methods_of_the_provider(self):
        prepaid = self._portal_customer("Hostile Prepaid Co", "prepaid", "hostile_pre")
        self.company.write({"billing_portal_topup_min": 20.0, "billing_portal_topup_max": 1000.0})
        self.authenticate("hostile_pre", "hostile_pre")
        csrf = self._csrf("/my/topup")
        signed = topup_token(self.env, prepaid, 50.0)
        url = "/my/topup/transaction"
        paypal = self.env.ref("payment.payment_method_paypal")
        for label, params in (
            ("PayPal, not offered", self._direct(50.0, signed, csrf, method=paypal)),
            ("A token of another customer", self._token_payment_params(50.0, signed, csrf)),
            ("an unknown flow", self._direct(50.0, signed, csrf, flow="offline")),
        ):
            status = 404 if "token" in label else 400
            self._assert_refused_nothing_created(
                url, params | {"landing_route": "/my"}, status, label
            )
        visa = self.env.ref("payment.payment_method_visa")
        tx = self._accepted(url, self._direct(50.0, signed, csrf, method=visa))
        self.assertEqual((tx.payment_method_id, tx.amount), (self.card, 50.0))


@tagged("post_install", "-at_install")
class TestReminderUnderWay(HostileCase):
    """Reminders leave an invoice alone while payments under way cover it."""

    def _reminder_logs(self):
        return self.env["finnsys.reminder.log"].search([("move_id", "=", self.invoice.id)])

    def _run_reminders(self):
        with freeze_time("2026-01-10"):
            self.env.ref("finnsys_billing.ir_cron_send_reminders").method_direct_trigger()

    def test_pending_payment_of_the_whole_invoice_holds_its_reminders(self):
        tx = self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.card.id,
                "partner_id": self.customer.id,
                "amount": 100.0,
                "currency_id": self.currency.id,
                "reference": "UNDER-WAY-100",
                "invoice_ids": [Command.set(self.invoice.ids)],
            }
        )
        tx._set_pending()
        self._run_reminders()
        self.assertFalse(self._reminder_logs(), "nothing to remind while 100.00 is under way")
        tx._set_canceled()
        self._run_reminders()
        self.assertTrue(self._reminder_logs(), "the failed payment leaves the invoice due")


@tagged("post_install", "-at_install")
class TestSuccessPage(HostileCase):
    """The page a payment lands on itemises what was paid: invoices, surcharge, total."""

    def _figures(self, tx):
        page = self.url_open(f"/my/payments/{tx.id}")
        self.assertEqual(page.status_code, 200, page.text[:300])
        dl = html.fromstring(page.text).xpath("//div[contains(@class, 'o_billing_payment')]//dl")
        return [
            (" ".join(dt.text_content().split()), " ".join(dd.text_content().split()))
            for dt, dd in zip(dl[0].xpath("./dt"), dl[0].xpath("./dd"), strict=True)
        ]

    def test_surcharge_is_its_own_line_between_invoices_and_total(self):
        self.authenticate("pp_user", "pp_user")
        csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        url = f"/invoice/transaction/{self.invoice.id}"
        card = self._accepted(
            url, self._token_payment_params(40.0, self._signed(40.0), csrf, surcharge=1.30)
        )
        lines = self._figures(card)
        self.assertEqual(
            [term for term, __ in lines[:3]], ["Invoices", "Surcharge (Cards)", "Amount paid"]
        )
        self.assertEqual(
            [value for __, value in lines[:3]],
            [" ".join(self.currency.format(figure).split()) for figure in (40.0, 1.30, 41.30)],
        )
        wallet = self._accepted(
            url,
            self._token_payment_params(20.0, self._signed(20.0), csrf, token_id=self.demo_token.id),
        )
        terms = [term for term, __ in self._figures(wallet)]
        self.assertNotIn("Surcharge (Cards)", terms)
        self.assertEqual(terms[0], "Amount paid")
