import html
import re

from odoo import Command
from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalMultiPay(BillingPortalCommon):
    """Several open invoices paid at once: one transaction for their whole residual."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.first = cls._post_invoice(cls.customer, 100.0)
        cls.second = cls._post_invoice(cls.customer, 50.0)
        cls.third = cls._post_invoice(cls.customer, 30.0)
        cls.foreign, cls.paid, cls.cancelled = cls._unpayable_invoices(40.0, 20.0, 10.0)
        cls.pair = cls.first | cls.second

    def setUp(self):
        super().setUp()
        self.authenticate("pp_user", "pp_user")
        self.counts = self._counts()

    def _euro_invoice(self):
        euro = self.env.ref("base.EUR")
        euro.active = True
        invoice = self._post_invoice(self.customer, 60.0)
        invoice.button_draft()
        invoice.currency_id = euro
        invoice.action_post()
        return invoice

    def _ids(self, invoices):
        return ",".join(str(invoice.id) for invoice in invoices)

    def _pay_page(self, *ids):
        query = "&".join(f"invoice_ids={invoice_id}" for invoice_id in ids)
        return self.url_open(f"/my/invoices/pay?{query}", allow_redirects=False)

    def _rpc(self, ids, amount=150.0, access_token=None, csrf=True, **params):
        csrf_token = params.pop("csrf_token", None)
        if csrf and not csrf_token:
            csrf_token = self._csrf(f"/my/invoices/{self.first.id}/pay")
        params = self._token_payment_params(
            amount, access_token or terms_token(self.env, self.pair, 150.0), csrf_token, **params
        )
        return self._jsonrpc(f"/my/invoices/pay/{ids}/transaction", params)

    def test_open_tab_offers_to_pay_the_selected_invoices(self):
        page = self.url_open("/my/invoices?filterby=open").text
        self.assertIn("o_billing_pay_selected", page)
        self.assertIn("o_billing_select_all", page)
        offered = re.findall(r'class="form-check-input o_billing_select" value="(\d+)"', page)
        self.assertEqual(sorted(map(int, offered)), sorted((self.pair | self.third).ids))
        self.assertNotIn("o_billing_pay_selected", self.url_open("/my/invoices?filterby=all").text)

    def test_pay_page_lists_the_invoices_and_their_total(self):
        response = self._pay_page(self.first.id, self.second.id)
        self.assertEqual(response.status_code, 200)
        for invoice in self.pair:
            self.assertIn(f'data-invoice="{invoice.name}"', response.text)
        self.assertNotIn(f'data-invoice="{self.third.name}"', response.text)
        self.assertIn("150.00", response.text)
        self.assertIn("paid in full", response.text)
        breadcrumbs = re.search(r'<ol class="o_portal_submenu.*?</ol>', response.text, re.S)
        trail = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", breadcrumbs.group(0))).split())
        self.assertEqual(trail, "Invoices & Bills Pay", "no single invoice named")

    def test_terms_lead_to_the_payment_form_for_the_total(self):
        data = {
            "invoice_ids": [self.first.id, self.second.id],
            "amount": "150.0",
            "csrf_token": self._csrf(f"/my/invoices/pay?invoice_ids={self.first.id}"),
        }
        response = self.url_open("/my/invoices/pay", data=data)
        self.assertEqual(response.status_code, 400)
        self.assertIn("terms and conditions", response.text)
        response = self.url_open("/my/invoices/pay", data={**data, "terms": "1"})
        self.assertEqual(response.status_code, 200)
        self.assertIn("o_payment_form", response.text)
        self.assertIn(f"/my/invoices/pay/{self._ids(self.pair)}/transaction", response.text)
        self.assertIn(terms_token(self.env, self.pair, 150.0), response.text)
        self._assert_nothing_created(self.counts)

    def test_bad_selections_are_refused_on_the_pay_page(self):
        first = self.first.id
        in_euro = self._euro_invoice()
        refund = self._post_invoice(self.customer, 5.0, move_type="out_refund")
        selections = {
            404: [(first, self.foreign.id), (first, 999999999)],
            400: [
                (),
                ("abc",),
                (first, "-1"),
                (first, first),
                (first, self.paid.id),
                (first, self.cancelled.id),
                (first, in_euro.id),
                (first, *range(10**6, 10**6 + 50)),
            ],
        }
        for status, cases in selections.items():
            for ids in cases:
                with self.subTest(ids=ids[:3]):
                    response = self._pay_page(*ids)
                    self.assertEqual(response.status_code, status)
                    if status == 400:
                        self.assertIn("o_billing_pay_error", response.text)
        self.assertEqual(self._pay_page(first, refund.id).status_code, 404)
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_bad_amounts(self):
        ids = self._ids(self.pair)
        for amount in (-1, 0, 0.001, 100.0, 149.99, 150.01, 1e9, "NaN", "inf", "abc", None):
            with self.subTest(amount=amount):
                self._assert_refused(self._rpc(ids, amount), 400, "150.00")
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_bad_selections(self):
        pair = self._ids(self.pair)
        in_euro = self._euro_invoice()
        refusals = [
            (f"{pair},{self.foreign.id}", 404, None),
            (f"{pair},999999999", 404, None),
            (f"{self.first.id},{self.first.id}", 400, "only once"),
            (f"{pair},{self.paid.id}", 400, self.paid.name),
            (f"{pair},{self.cancelled.id}", 400, self.cancelled.name),
            (f"{pair},{in_euro.id}", 400, "currencies"),
            (",".join([pair] + [str(10**6 + n) for n in range(49)]), 400, "at most 50"),
            ("abc", 400, None),
            (f"{pair},", 400, None),
            (f"{pair},1.5", 400, None),
        ]
        for ids, status, text in refusals:
            with self.subTest(ids=ids[:40]):
                self._assert_refused(self._rpc(ids), status, text)
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_foreign_token_missing_terms_and_csrf(self):
        pair = self._ids(self.pair)
        self._assert_refused(self._rpc(pair, token_id=self.other_token.id), 404)
        self._assert_refused(self._rpc(pair, access_token="forged"), 400, "terms")
        one = terms_token(self.env, self.first, 150.0)
        self._assert_refused(self._rpc(pair, access_token=one), 400, "terms")
        self._assert_refused(self._rpc(pair, csrf=False), 400, "session expired")
        self.authenticate("other_user", "other_user")
        csrf_token = self._csrf(f"/my/invoices/{self.foreign.id}/pay")
        self._assert_refused(self._rpc(pair, csrf=False, csrf_token=csrf_token), 404)
        self._assert_nothing_created(self.counts)

    def test_transaction_route_refuses_a_wrong_surcharge(self):
        income = self.env["account.account"].create(
            {"name": "Payment surcharges", "code": "707708", "account_type": "income"}
        )
        self.env["finnsys.surcharge.rule"].create(
            {
                "name": "Cards",
                "payment_method_ids": [Command.set(self.card.ids)],
                "percent": 2.5,
                "fixed_amount": 0.30,
                "income_account_id": income.id,
            }
        )
        for forged in (1.0, 0, None, "abc", "NaN"):
            with self.subTest(forged=forged):
                reply = self._rpc(self._ids(self.pair), surcharge=forged)
                self._assert_refused(reply, 400, "4.05")
        self._assert_nothing_created(self.counts)

    def test_paying_two_invoices_settles_both_with_one_payment(self):
        self.customer.invalidate_recordset()
        self.assertEqual(self.customer.billing_balance, -180.0)
        response = self._rpc(self._ids(self.pair))
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("error", response.json(), response.text)
        tx = self.env["payment.transaction"].search([("invoice_ids", "in", self.pair.ids)])
        self.assertEqual(len(tx), 1)
        self.assertRecordValues(tx, [{"amount": 150.0, "state": "done", "token_id": self.token.id}])
        self.assertEqual(tx.invoice_ids, self.pair)
        self.assertEqual(tx.landing_route, f"/my/payments/{tx.id}")
        tx._post_process()

        payment = tx.payment_id
        self.assertEqual(self._counts()["account.payment"], self.counts["account.payment"] + 1)
        self.assertRecordValues(payment, [{"amount": 150.0, "partner_id": self.customer.id}])
        self.assertEqual(payment.reconciled_invoice_ids, self.pair)
        receivable = payment.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertEqual(receivable.balance, -150.0)
        self.assertTrue(receivable.reconciled)
        for invoice in self.pair:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))
            self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
            self.assertIn(
                payment.move_id, invoice.line_ids.matched_credit_ids.credit_move_id.move_id
            )
        self.assertEqual(self.third.amount_residual, 30.0)
        self.customer.invalidate_recordset()
        self.assertEqual(self.customer.billing_balance, -30.0)

        page = self.url_open(tx.landing_route)
        self.assertEqual(page.status_code, 200)
        self.assertIn("o_billing_payment_done", page.text)
        self.assertIn(tx.reference, page.text)
        self.assertRegex(page.text, r'o_billing_payment_amount"[^<]*<span[^>]*>150\.00<')
        self.assertRegex(page.text, r"o_billing_payment_balance[^<]*<span[^>]*>-\W*30\.00<")
        self.assertEqual(page.text.count("badge text-bg-success o_billing_status"), 2)
        self.authenticate("other_user", "other_user")
        self.assertEqual(self.url_open(tx.landing_route).status_code, 404)

    def test_multi_pay_tour(self):
        self.start_tour(
            "/my/invoices?filterby=open", "finnsys_portal_multi_pay_tour", login="pp_user"
        )
        tx = self.env["payment.transaction"].search([("invoice_ids", "in", self.pair.ids)])
        self.assertRecordValues(tx, [{"amount": 150.0, "state": "done", "is_post_processed": True}])
        self.assertEqual(tx.invoice_ids, self.pair)
        self.assertEqual(tx.payment_id.reconciled_invoice_ids, self.pair)
        self.assertEqual(self.third.amount_residual, 30.0)

    def test_refusal_is_shown_on_the_payment_form(self):
        # The invoices are paid from another tab while the payment form is open.
        self.start_tour(
            "/my/invoices?filterby=open", "finnsys_portal_multi_pay_refused_tour", login="pp_user"
        )
        tx = self.env["payment.transaction"].search([("invoice_ids", "in", self.pair.ids)])
        self.assertRecordValues(tx, [{"amount": 150.0, "state": "done"}])
