"""Tampering: forged amounts and surcharges on every payment route of the portal.

Each route gets the same list of bad amounts, with the terms signature of a legitimate
amount and, where the figure is a number, a signature of the bad amount itself (as if the
signature had leaked): the amount rules must hold on their own. A refusal is a 4xx (see
``assert_client_error_or_friendly_rpc_error``) and creates no transaction, payment or
surcharge consent. Each class also pays once with good figures, so a route that refuses
everything fails.
"""

import math

from reliability_common import (
    ReliabilityPortalCase,
    assert_client_error_or_friendly_rpc_error,
    finnsys_rules,
)

from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token, topup_token

MISSING = object()
BATCH_TRANSACTION_ROUTE = "/my/invoices/pay/<string:invoice_ids>/transaction"


def bad_amounts(due):
    """The tampered amounts of the portal issue, for a payment of ``due``."""
    return (-1, 0, 0.001, round(due + 0.01, 2), 1e9, "NaN", "inf", "abc", MISSING)


def signable(amount):
    """``amount`` as the float a forged signature would be computed for, or None."""
    if amount is MISSING:
        return None
    try:
        return float(amount)
    except ValueError:
        return None


class TamperingCase(ReliabilityPortalCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.invoice = cls._post_invoice(cls.customer, 100.0)
        cls.second = cls._post_invoice(cls.customer, 50.0)

    def setUp(self):
        super().setUp()
        self.authenticate("pp_user", "pp_user")

    def _csrf_token(self):
        return self._csrf(f"/my/invoices/{self.invoice.id}/pay")

    def _payment_params(self, amount, access_token, **params):
        values = self._token_payment_params(amount, access_token, self._csrf_token(), **params)
        if amount is MISSING:
            del values["amount"]
        if access_token is None:
            # The payment form leaves out what it does not have (the overdue route has none).
            del values["access_token"]
        return values

    def _assert_call_refused(self, url, params, context):
        before = self._counts()
        response = self._jsonrpc(url, params)
        assert_client_error_or_friendly_rpc_error(self, response, f"{url} {context}")
        self._assert_nothing_created(before, f"{url} {context}")
        return response

    def _assert_keys_required(self, url, params):
        """A crafted request without a key that the payment form always sends."""
        for key in ("provider_id", "payment_method_id", "token_id", "flow"):
            incomplete = {name: value for name, value in params.items() if name != key}
            self._assert_call_refused(url, incomplete, f"{key} left out")

    def _assert_form_refuses(self, url, amounts, **data):
        """The page's form, posted with each of ``amounts`` (and ``data``), answers 400 with
        its error message and creates nothing."""
        for amount in amounts:
            values = {**data, "terms": "1", "csrf_token": self._csrf_token()}
            if amount is not MISSING:
                values["amount"] = str(amount)
            before = self._counts()
            response = self.url_open(url, data=values, allow_redirects=False)
            self.assertEqual(response.status_code, 400, f"amount={amount!r}")
            self.assertIn("o_billing_pay_error", response.text, f"amount={amount!r}")
            self._assert_nothing_created(before, f"amount={amount!r}")

    def _sweep_amounts(self, url, due, sign):
        """Every bad amount, with a good signature and with a signature of the bad amount."""
        for amount in bad_amounts(due):
            signatures = {"signed for the due amount": sign(due)}
            forged = signable(amount)
            if forged is not None and math.isfinite(forged):
                signatures["signed for this amount"] = sign(forged)
            for label, token in signatures.items():
                params = self._payment_params(amount, token)
                self._assert_call_refused(url, params, f"amount={amount!r}, {label}")


@tagged("post_install", "-at_install")
class TestAmountTampering(TamperingCase):
    def test_single_invoice_pay_page_refuses_bad_amounts(self):
        self._assert_form_refuses(f"/my/invoices/{self.invoice.id}/pay", bad_amounts(100.0))

    def test_invoice_transaction_refuses_bad_amounts(self):
        url = f"/invoice/transaction/{self.invoice.id}"
        self._sweep_amounts(url, 100.0, lambda amount: terms_token(self.env, self.invoice, amount))
        tx = self._accepted(
            url, self._payment_params(40.0, terms_token(self.env, self.invoice, 40.0))
        )
        self.assertEqual((tx.amount, tx.invoice_ids), (40.0, self.invoice))

    def test_pay_all_overdue_refuses_any_amount_but_the_overdue_total(self):
        url = "/invoice/transaction/overdue"
        for amount in (*bad_amounts(150.0), 100.0, 149.99, 150.001):
            params = self._payment_params(amount, None, payment_reference="overdue")
            self._assert_call_refused(url, params, f"amount={amount!r}")
        params = self._payment_params(150.0, None, payment_reference="overdue")
        tx = self._accepted(url, params)
        self.assertEqual((tx.amount, tx.invoice_ids), (150.0, self.invoice + self.second))

    def test_invoice_transaction_refuses_a_signature_for_another_amount(self):
        url = f"/invoice/transaction/{self.invoice.id}"
        for token in (
            "forged",
            "",
            terms_token(self.env, self.invoice, 10.0),
            terms_token(self.env, self.second, 40.0),
            self.invoice._portal_ensure_token(),
        ):
            self._assert_call_refused(url, self._payment_params(40.0, token), f"token={token!r}")

    def test_payment_form_keys_left_out_are_refused(self):
        signed = terms_token(self.env, self.invoice, 100.0)
        self._assert_keys_required(
            f"/invoice/transaction/{self.invoice.id}", self._payment_params(100.0, signed)
        )
        self._assert_keys_required(
            "/invoice/transaction/overdue",
            self._payment_params(150.0, None, payment_reference="overdue"),
        )

    def _batch_route(self):
        if BATCH_TRANSACTION_ROUTE not in {route.rule for route in finnsys_rules(self.env)}:
            self.skipTest("the portal has no multi-invoice payment route")
        invoices = self.invoice + self.second
        return invoices, BATCH_TRANSACTION_ROUTE.replace(
            "<string:invoice_ids>", ",".join(str(invoice_id) for invoice_id in invoices.ids)
        )

    def test_multi_invoice_pay_page_refuses_bad_amounts(self):
        invoices, __ = self._batch_route()
        self._assert_form_refuses(
            "/my/invoices/pay", (*bad_amounts(150.0), 100.0), invoice_ids=invoices.ids
        )

    def test_multi_invoice_transaction_refuses_bad_amounts(self):
        invoices, url = self._batch_route()
        self._sweep_amounts(url, 150.0, lambda amount: terms_token(self.env, invoices, amount))
        partial = self._payment_params(100.0, terms_token(self.env, invoices, 100.0))
        self._assert_call_refused(url, partial, "a part of the total, signed")
        self._assert_keys_required(
            url, self._payment_params(150.0, terms_token(self.env, invoices, 150.0))
        )
        tx = self._accepted(
            url, self._payment_params(150.0, terms_token(self.env, invoices, 150.0))
        )
        self.assertEqual((tx.amount, tx.invoice_ids), (150.0, invoices))


@tagged("post_install", "-at_install")
class TestTopupTampering(TamperingCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.prepaid, cls.prepaid_token = cls._topup_customer("Tamper Prepaid Co", "tamper_pre")

    def setUp(self):
        super().setUp()
        self.authenticate("tamper_pre", "tamper_pre")

    def _csrf_token(self):
        return self._csrf("/my/topup")

    def _payment_params(self, amount, access_token, **params):
        values = super()._payment_params(amount, access_token, **params)
        values.update(token_id=self.prepaid_token.id, landing_route="/my")
        return values

    def test_topup_page_refuses_bad_amounts(self):
        self._assert_form_refuses("/my/topup", bad_amounts(1000.0))

    def test_topup_transaction_refuses_bad_amounts(self):
        def sign(amount):
            return topup_token(self.env, self.prepaid, amount)

        # 1000.01 is the "residual + 0.01" of a top-up: one cent over the company's maximum.
        self._sweep_amounts("/my/topup/transaction", 1000.0, sign)
        for token in ("forged", sign(20.0), topup_token(self.env, self.customer, 50.0)):
            params = self._payment_params(50.0, token)
            self._assert_call_refused("/my/topup/transaction", params, f"token={token!r}")
        self._assert_keys_required("/my/topup/transaction", self._payment_params(50.0, sign(50.0)))
        tx = self._accepted("/my/topup/transaction", self._payment_params(50.0, sign(50.0)))
        self.assertEqual((tx.amount, tx.partner_id.commercial_partner_id), (50.0, self.prepaid))


@tagged("post_install", "-at_install")
class TestSurchargeTampering(TamperingCase):
    """A card surcharge of 2.5 % + 0.30 (cap 5.00): 40.00 costs 1.30 more."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.country_id = cls.env.ref("base.be")
        cls.rule = cls._card_surcharge_rule("707717", cap_amount=5.0)

    def _signed(self, amount, **params):
        return self._payment_params(amount, terms_token(self.env, self.invoice, amount), **params)

    def test_forged_surcharge_is_refused(self):
        url = f"/invoice/transaction/{self.invoice.id}"
        for surcharge in (1.0, 1.29, 0, -1.30, None, "abc", "NaN", "inf", 1e9):
            self._assert_call_refused(url, self._signed(40.0, surcharge=surcharge), f"{surcharge=}")
        self._assert_call_refused(url, self._signed(40.0), "surcharge missing")
        # The total with the surcharge, signed as if it were the amount: still 40 + 1.30 due.
        self._assert_call_refused(url, self._signed(41.30, surcharge=0), "total as the amount")
        tx = self._accepted(url, self._signed(40.0, surcharge=1.30))
        self.assertEqual(tx.amount, 41.30)
        self.assertEqual(tx.finnsys_surcharge_consent_id.surcharge, 1.30)

    def test_forged_signature_gets_no_surcharge_quote_or_decline(self):
        for route in ("surcharge", "surcharge/decline"):
            url = f"/my/invoices/{self.invoice.id}/{route}"
            for token in ("forged", terms_token(self.env, self.invoice, 10.0)):
                params = self._payment_params(40.0, token)
                self._assert_call_refused(url, params, f"token={token!r}")
            for amount in bad_amounts(100.0):
                forged = signable(amount)
                token = terms_token(self.env, self.invoice, forged if forged is not None else 40.0)
                self._assert_call_refused(url, self._payment_params(amount, token), f"{amount=}")
        reply = self._jsonrpc(f"/my/invoices/{self.invoice.id}/surcharge", self._signed(40.0))
        self.assertEqual(reply.json()["result"]["surcharge"], 1.30)
