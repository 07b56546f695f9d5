"""IDOR sweep: every route of the FinnSys addons, called by customer A with customer B's ids.

The routes come from Odoo's routing map, not from a list: every endpoint that a
``odoo.addons.finnsys_billing*`` module defines or overrides is swept. A route whose only
record ids are in its path (``<int:invoice_id>``, ``<int:subscription_id>``...) is probed
automatically with B's records; any other route needs a probe in ``ROUTE_PROBES``, and the
sweep fails until it has one.
"""

import re
from urllib.parse import urlparse

from reliability_common import (
    ReliabilityPortalCase,
    assert_client_error_or_friendly_rpc_error,
    assert_not_found_or_forbidden,
    finnsys_rules,
    jsonrpc_error,
)

from odoo import Command
from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token, topup_token

PATH_ARGUMENT_RE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
# Path arguments the generic probe fills with customer B's record (see _b_records).
ID_ARGUMENTS = {
    "invoice_id": "invoice",
    "move_id": "invoice",
    "subscription_id": "subscription",
    "contract_id": "subscription",
    "transaction_id": "transaction",
    "tx_id": "transaction",
    "token_id": "token",
    "payment_id": "payment",
}
# Routes with ids or tokens outside their path, or none: each has a probe of its own.
ROUTE_PROBES = {
    "/my": "_probe_own_page",
    "/my/home": "_probe_own_page",
    "/my/subscriptions": "_probe_own_page",
    "/my/invoices": "_probe_invoice_list",
    "/my/invoices/page/<int:page>": "_probe_invoice_list",
    "/my/invoices/<int:invoice_id>/pay": "_probe_invoice_pay",
    "/my/invoices/pay": "_probe_batch_pay_page",
    "/my/invoices/pay/<string:invoice_ids>/transaction": "_probe_batch_json",
    "/my/invoices/pay/<string:invoice_ids>/surcharge": "_probe_batch_json",
    "/my/invoices/pay/<string:invoice_ids>/surcharge/decline": "_probe_batch_json",
    "/my/invoices/<int:invoice_id>/surcharge": "_probe_surcharge",
    "/my/invoices/<int:invoice_id>/surcharge/decline": "_probe_surcharge",
    "/invoice/transaction/<int:invoice_id>": "_probe_invoice_transaction",
    "/invoice/transaction/overdue": "_probe_overdue_transaction",
    "/my/topup": "_probe_topup",
    "/my/topup/transaction": "_probe_topup_transaction",
    "/web/login/code": "_probe_login_code",
    "/web/login/code/verify": "_probe_login_code",
    "/web/reset_password": "_probe_reset_password",
    "/my/billing-info": "_probe_billing_info",
    "/terms": "_probe_own_page",
    "/my/payment_method": "_probe_own_page",
    "/my/payment_method/default": "_probe_default_token",
    "/my/payments": "_probe_own_list",
    "/my/payments/page/<int:page>": "_probe_own_list",
    "/my/statement": "_probe_statement",
    "/my/statement/pdf": "_probe_statement",
}
# Login pages: open to visitors by design, so the anonymous sweep expects the page itself.
PUBLIC_BY_DESIGN = {"/web/login/code", "/web/login/code/verify", "/web/reset_password", "/terms"}
# Odoo routes whose access check the portal addon overrides (_document_check_access).
ODOO_ROUTES_WITH_FINNSYS_ACCESS = (
    "/my/invoices/{invoice}",
    "/my/invoices/{invoice}?report_type=pdf",
    "/my/invoices/{invoice}?report_type=pdf&download=true",
)
SESSION_EXPIRED_CODE = 100
SAFE_REDIRECT_PATHS = ("/web/login", "/my", "/my/home")


@tagged("post_install", "-at_install")
class TestIdorSweep(ReliabilityPortalCase):
    requests_made = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_token.payment_details = "8093"
        cls.invoice = cls._post_invoice(cls.customer, 100.0)
        cls.plan_b = cls._plan("Orbit Plan Only B Has")
        cls.b_invoice = cls._post_invoice(cls.other_customer, 4817.39)
        cls.b_subscription = cls._subscribe(cls.other_customer, cls.plan_b, "Orbit Subscription B")
        cls.b_invoice.write({"plan_id": cls.plan_b.id, "subscription_id": cls.b_subscription.id})
        cls.b_transaction = cls.env["payment.transaction"].create(
            {
                "provider_id": cls.provider.id,
                "payment_method_id": cls.card.id,
                "partner_id": cls.other_customer.id,
                "amount": 4817.39,
                "currency_id": cls.currency.id,
                "reference": "B-SECRET-TX",
                "invoice_ids": [Command.set(cls.b_invoice.ids)],
            }
        )
        cls.b_paid_invoice = cls._post_invoice(cls.other_customer, 612.5)
        cls.b_payment = cls._pay_in_backend(cls.b_paid_invoice, 612.5)
        cls.prepaid = cls._portal_customer("Prepaid Mine Co", "prepaid", "pre_a")
        cls.prepaid_token = cls._token(cls.prepaid, "5555")
        cls.b_prepaid = cls._portal_customer("Prepaid Other Co", "prepaid", "pre_b")
        cls.b_prepaid_token = cls._token(cls.b_prepaid, "7319")
        cls.company.write({"billing_portal_topup_min": 20.0, "billing_portal_topup_max": 1000.0})
        cls.b_strings = (
            cls.b_invoice.name,
            "4,817.39",
            "4817.39",
            cls.other_customer.name,
            cls.b_subscription.name,
            cls.plan_b.name,
            "B-SECRET-TX",
            "8093",
            cls.b_prepaid.name,
            "7319",
        )

    @classmethod
    def _plan(cls, name):
        service = cls.env["product.product"].create({"name": f"{name} service", "type": "service"})
        return cls.env["contract.template"].create(
            {
                "name": name,
                "recurring_rule_type": "monthly",
                "contract_line_ids": [
                    Command.create({"product_id": service.id, "name": name, "specific_price": 9.0})
                ],
            }
        )

    @classmethod
    def _subscribe(cls, customer, plan, name):
        subscription = cls.env["contract.contract"].create(
            {"name": name, "partner_id": customer.id, "contract_template_id": plan.id}
        )
        subscription.action_subscription_activate()
        return subscription

    # -- checks -------------------------------------------------------------------------------

    def _assert_no_b_data(self, response, context):
        for secret in self.b_strings:
            self.assertNotIn(secret, response.text, f"{context}: shows B's {secret!r}")
            self.assertNotIn(secret, response.headers.get("Location", ""), context)

    def _assert_safe_redirect(self, response, context):
        location = urlparse(response.headers.get("Location", ""))
        self.assertTrue(
            300 <= response.status_code < 400 and location.path in SAFE_REDIRECT_PATHS,
            f"{context}: HTTP {response.status_code} to {location.path!r}, expected 403/404 or a "
            "redirect to the login page or /my",
        )

    def _assert_denied(self, response, context):
        """403/404, or a redirect to the login page or /my; never B's data."""
        self._assert_no_b_data(response, context)
        if 300 <= response.status_code < 400:
            self._assert_safe_redirect(response, context)
        else:
            assert_not_found_or_forbidden(self, response, context)

    def _call(self, check, method, url, context, **kwargs):
        """Request ``url``, then check the answer and that no record was created."""
        self.requests_made += 1
        before = self._counts()
        if method == "JSON":
            response = self._jsonrpc(url, kwargs["params"])
        else:
            response = self.url_open(
                url, data=kwargs.get("data"), allow_redirects=False, method=method
            )
        context = f"{method} {url} ({context})"
        check(response, context)
        self._assert_nothing_created(before, context)
        return response

    def _csrf_for(self, login):
        url = "/my/topup" if login == "pre_a" else f"/my/invoices/{self.invoice.id}/pay"
        return self._csrf(url)

    # -- the probes: one per kind of route ----------------------------------------------------

    def _b_records(self):
        return {
            "invoice": self.b_invoice,
            "subscription": self.b_subscription,
            "transaction": self.b_transaction,
            "token": self.other_token,
            "payment": self.b_payment,
        }

    def _b_url(self, rule):
        records = self._b_records()
        return PATH_ARGUMENT_RE.sub(
            lambda match: str(records[ID_ARGUMENTS[match.group(1)]].id), rule.rule
        )

    def _b_params(self):
        return {
            "access_token": self.b_invoice._portal_ensure_token(),
            "amount": 4817.39,
            "token_id": self.other_token.id,
            "invoice_id": self.b_invoice.id,
            "subscription_id": self.b_subscription.id,
            "transaction_id": self.b_transaction.id,
        }

    def _probe_generic(self, rule):
        """A route whose ids are all in its path: B's ids there (and in the parameters)."""
        url = self._b_url(rule)
        params = self._b_params() | {"csrf_token": self._csrf_for("pp_user")}
        if rule.routing["type"] == "http":
            if not rule.routing["methods"] or "GET" in rule.routing["methods"]:
                self._call(self._assert_denied, "GET", url, "B's ids in the path")
            if not rule.routing["methods"] or "POST" in rule.routing["methods"]:
                self._call(self._assert_denied, "POST", url, "B's ids posted", data=params)
        else:
            self._call(self._assert_denied, "JSON", url, "B's ids", params=params)

    def _assert_own_page(self, response, context):
        self.assertEqual(response.status_code, 200, context)
        self._assert_no_b_data(response, context)

    def _assert_login_page(self, response, context):
        """A login step: its page, or a 400 asking to start over; never anybody's data."""
        self.assertIn(response.status_code, (200, 400), context)
        self.assertIn("csrf_token", response.text, f"{context}: not a login form")
        self._assert_no_b_data(response, context)

    def _probe_own_page(self, rule):
        query = "&".join(f"{key}={value}" for key, value in self._b_params().items())
        self._call(self._assert_own_page, "GET", f"{rule.rule}?{query}", "B's ids as parameters")

    def _probe_own_list(self, rule):
        url = rule.rule.replace("<int:page>", "1")
        query = "&".join(f"{key}={value}" for key, value in self._b_params().items())
        self._call(self._assert_own_page, "GET", f"{url}?{query}", "B's ids as parameters")

    def _probe_statement(self, rule):
        """B's company as the statement's customer is refused; A's own is A's."""
        query = f"partner_id={self.other_customer.id}"
        self._call(self._assert_denied, "GET", f"{rule.rule}?{query}", "B's company")
        self._call(self._assert_own_page, "GET", rule.rule, "A's own statement")

    def _probe_default_token(self, rule):
        """B's saved card cannot become A's default (nor anybody's)."""
        data = {"token_id": self.other_token.id, "csrf_token": self._csrf_for("pp_user")}
        self._call(self._assert_denied, "POST", rule.rule, "B's card", data=data)
        self.customer.invalidate_recordset()
        self.assertNotEqual(self.customer.billing_token_id, self.other_token, "B's card is A's")

    def _probe_invoice_list(self, rule):
        url = rule.rule.replace("<int:page>", "1")
        for query in (f"filterby=all&plan={self.plan_b.id}", "filterby=open&sortby=amount"):
            self._call(self._assert_own_page, "GET", f"{url}?{query}", "B's plan as filter")

    def _probe_invoice_pay(self, rule):
        url = self._b_url(rule)
        self._call(self._assert_denied, "GET", url, "B's invoice")
        data = {"amount": "4817.39", "terms": "1", "csrf_token": self._csrf_for("pp_user")}
        self._call(self._assert_denied, "POST", url, "B's invoice", data=data)
        own = f"/my/invoices/{self.invoice.id}/pay"
        data = {"amount": "10", "terms": "1", "csrf_token": self._csrf_for("pp_user")}
        self._call(self._assert_own_page, "POST", own, "A's form offers no B card", data=data)

    def _batch_selections(self):
        """B's invoice alone, and hidden among A's: both must be refused as a whole."""
        return (self.b_invoice, self.invoice + self.b_invoice)

    def _probe_batch_pay_page(self, rule):
        for invoices in self._batch_selections():
            query = "&".join(f"invoice_ids={invoice_id}" for invoice_id in invoices.ids)
            self._call(self._assert_denied, "GET", f"{rule.rule}?{query}", "B's invoice")
            data = {
                "invoice_ids": invoices.ids,
                "amount": sum(invoices.mapped("amount_residual")),
                "terms": "1",
                "csrf_token": self._csrf_for("pp_user"),
            }
            self._call(self._assert_denied, "POST", rule.rule, "B's invoice", data=data)

    def _probe_batch_json(self, rule):
        for invoices in self._batch_selections():
            ids = ",".join(str(invoice_id) for invoice_id in invoices.ids)
            amount = sum(invoices.mapped("amount_residual"))
            params = self._payment_params(amount, terms_token(self.env, invoices, amount))
            url = rule.rule.replace("<string:invoice_ids>", ids)
            self._call(self._assert_denied, "JSON", url, "B's invoice, signed", params=params)

    def _payment_params(self, amount, access_token, **params):
        csrf_token = params.pop("csrf_token", None) or self._csrf_for("pp_user")
        return self._token_payment_params(amount, access_token, csrf_token, **params)

    def _probe_surcharge(self, rule):
        signed = terms_token(self.env, self.b_invoice, 4817.39)
        params = self._payment_params(4817.39, signed)
        url = self._b_url(rule)
        self._call(self._assert_denied, "JSON", url, "B's signed amount", params=params)

    def _probe_invoice_transaction(self, rule):
        url = self._b_url(rule)
        for label, token in (
            ("B's share link token", self.b_invoice._portal_ensure_token()),
            ("B's signed amount", terms_token(self.env, self.b_invoice, 4817.39)),
        ):
            params = self._payment_params(4817.39, token)
            self._call(self._assert_denied, "JSON", url, label, params=params)
        own = rule.rule.replace("<int:invoice_id>", str(self.invoice.id))
        params = self._payment_params(
            10.0, terms_token(self.env, self.invoice, 10.0), token_id=self.other_token.id
        )
        self._call(self._assert_denied, "JSON", own, "A's invoice, B's card", params=params)

    def _probe_overdue_transaction(self, rule):
        params = self._payment_params(100.0, None, payment_reference="overdue")
        params["token_id"] = self.other_token.id
        self._call(self._assert_denied, "JSON", rule.rule, "B's card", params=params)
        params = self._payment_params(4917.39, None, payment_reference="overdue")
        self._call(
            lambda response, context: assert_client_error_or_friendly_rpc_error(
                self, response, context
            ),
            "JSON",
            rule.rule,
            "A's and B's overdue total",
            params=params,
        )

    def _probe_topup(self, rule):
        self.authenticate("pre_a", "pre_a")
        self._call(self._assert_own_page, "GET", rule.rule, "A's top-up page")
        data = {"amount": "50", "terms": "1", "csrf_token": self._csrf_for("pre_a")}
        self._call(self._assert_own_page, "POST", rule.rule, "A's form offers no B card", data=data)

    def _probe_topup_transaction(self, rule):
        self.authenticate("pre_a", "pre_a")
        base = {
            "amount": 50.0,
            "provider_id": self.provider.id,
            "payment_method_id": self.card.id,
            "flow": "token",
            "tokenization_requested": False,
            "landing_route": "/my",
            "is_validation": False,
            "csrf_token": self._csrf_for("pre_a"),
        }
        mine = topup_token(self.env, self.prepaid, 50.0)
        params = base | {"access_token": mine, "token_id": self.b_prepaid_token.id}
        self._call(self._assert_denied, "JSON", rule.rule, "B's card", params=params)
        signed_for_b = topup_token(self.env, self.b_prepaid, 50.0)
        params = base | {"access_token": signed_for_b, "token_id": self.prepaid_token.id}
        self._call(
            lambda response, context: assert_client_error_or_friendly_rpc_error(
                self, response, context
            ),
            "JSON",
            rule.rule,
            "B's signed amount",
            params=params,
        )

    def _probe_login_code(self, rule):
        """Logged in as A: B's address or a code neither logs in as B nor sends B a code."""
        self._call(self._assert_safe_redirect, "GET", rule.rule, "logged in")
        data = {
            "email": self.other_customer.child_ids.user_ids.email,
            "code": "123456",
            "csrf_token": self._csrf_for("pp_user"),
        }
        self._call(self._assert_safe_redirect, "POST", rule.rule, "B's address", data=data)
        home = self.url_open("/my")
        self.assertIn(self.customer.name, home.text, "still logged in as A")
        self._assert_no_b_data(home, f"{rule.rule}: /my afterwards")

    def _probe_reset_password(self, rule):
        """Logged in as A: asking a reset for B's login shows nothing of B and keeps A in."""
        self._call(self._assert_login_page, "GET", rule.rule, "logged in")
        data = {
            "login": self.other_customer.child_ids.user_ids.login,
            "csrf_token": self._csrf_for("pp_user"),
        }
        self._call(self._assert_login_page, "POST", rule.rule, "B's login", data=data)
        home = self.url_open("/my")
        self.assertIn(self.customer.name, home.text, "still logged in as A")
        self._assert_no_b_data(home, f"{rule.rule}: /my afterwards")

    def _probe_billing_info(self, rule):
        """Logged in as A: B's ids in the query or in the form never reach B's company."""
        query = "&".join(f"{key}={value}" for key, value in self._b_params().items())
        self._call(self._assert_own_page, "GET", f"{rule.rule}?{query}", "B's ids as parameters")
        fields = ["name", "email", "street", "city", "country_id"]
        b_before = self.other_customer.read(fields)
        data = self._b_params() | {
            "id": self.other_customer.id,
            "partner_id": self.other_customer.id,
            "commercial_partner_id": self.other_customer.id,
            "name": self.customer.name,
            "email": "billing@a.example",
            "street": "A Street 1",
            "city": "A City",
            "zip": "1000",
            "country_id": self.env.ref("base.be").id,
            "csrf_token": self._csrf_for("pp_user"),
        }

        def saved_for_a_only(response, context):
            self.assertEqual(response.status_code, 303, context)
            self._assert_no_b_data(response, context)
            self.other_customer.invalidate_recordset()
            self.assertEqual(self.other_customer.read(fields), b_before, f"{context}: B written")
            self.assertEqual(self.customer.street, "A Street 1", f"{context}: A's own company")

        self._call(saved_for_a_only, "POST", rule.rule, "B's ids posted", data=data)

    # -- the sweep ----------------------------------------------------------------------------

    def _probe_of(self, rule):
        """The probe method of ``rule``, or None when the sweep cannot classify it."""
        if rule.rule in ROUTE_PROBES:
            return getattr(self, ROUTE_PROBES[rule.rule])
        arguments = PATH_ARGUMENT_RE.findall(rule.rule)
        if arguments and all(argument in ID_ARGUMENTS for argument in arguments):
            return self._probe_generic
        return None

    def _sweep(self, rules, run):
        failures = []
        for rule in rules:
            self.requests_made = 0
            try:
                run(rule)
                self.assertTrue(self.requests_made, "the probe made no request")
            except AssertionError as error:
                failures.append(f"{rule.rule}: {error}")
        self.assertFalse(failures, "\n".join(failures))

    def test_sweep_finds_the_portal_routes(self):
        found = {rule.rule for rule in finnsys_rules(self.env)}
        for known in ("/my/invoices/<int:invoice_id>/pay", "/invoice/transaction/<int:invoice_id>"):
            self.assertIn(known, found)
        self.assertNotIn("/web/login", found, "Odoo's own routes are not swept")

    def test_every_route_can_be_swept(self):
        unknown = [rule.rule for rule in finnsys_rules(self.env) if not self._probe_of(rule)]
        self.assertFalse(
            unknown,
            f"The IDOR sweep cannot classify {unknown}: add each route to ROUTE_PROBES in "
            "tests/reliability/test_idor_sweep.py with a probe that calls it as customer A with "
            "customer B's ids and tokens.",
        )

    def test_customer_a_never_reaches_customer_b_records(self):
        def run(rule):
            probe = self._probe_of(rule)
            self.assertTrue(probe, "not classified: see test_every_route_can_be_swept")
            self.authenticate("pp_user", "pp_user")
            probe(rule)

        self._sweep(finnsys_rules(self.env), run)

    def _assert_sent_to_login(self, response, context):
        """A visitor is sent to the login page (HTTP), or gets 401/403/404; on a JSON route,
        Odoo's own answer to a visitor will do: "session expired" (``auth="user"``), or a
        4xx refusal with a message: the routes that the e-mailed link may use
        (``auth="public"``) refuse a visitor the customer's saved cards."""
        self._assert_no_b_data(response, context)
        if 300 <= response.status_code < 400:
            self.assertEqual(
                urlparse(response.headers["Location"]).path, "/web/login", f"{context}: redirect"
            )
        elif 400 <= response.status_code < 500 and jsonrpc_error(response):
            self.assertTrue(jsonrpc_error(response)["data"].get("message"), context)
        elif response.status_code not in (401, 403, 404):
            self.assertEqual(response.status_code, 200, context)
            error = jsonrpc_error(response)
            self.assertTrue(error, f"{context}: a visitor got an answer: {response.text[:300]}")
            self.assertTrue(
                error.get("code") == SESSION_EXPIRED_CODE or error["data"].get("message"), context
            )

    def test_anonymous_visitor_is_sent_to_login(self):
        def run(rule):
            self.authenticate(None, None)
            url = self._b_url(rule) if self._probe_of(rule) == self._probe_generic else rule.rule
            url = url.replace("<int:invoice_id>", str(self.b_invoice.id))
            url = url.replace("<string:invoice_ids>", str(self.b_invoice.id))
            url = url.replace("<int:page>", "1")
            if rule.rule in PUBLIC_BY_DESIGN:
                self._call(self._assert_login_page, "GET", url, "login page")
                return
            if rule.routing["type"] == "http":
                if rule.routing["methods"] and "GET" not in rule.routing["methods"]:
                    data = {"csrf_token": self._csrf("/web/login")}
                    self._call(self._assert_sent_to_login, "POST", url, "anonymous", data=data)
                    return
                self._call(self._assert_sent_to_login, "GET", url, "anonymous")
                return
            csrf = self._csrf("/web/login")
            signed = terms_token(self.env, self.b_invoice, 4817.39)
            params = self._payment_params(4817.39, signed, csrf_token=csrf)
            params["payment_reference"] = "overdue"
            self._call(self._assert_sent_to_login, "JSON", url, "anonymous", params=params)

        self._sweep(finnsys_rules(self.env), run)

    def test_odoo_invoice_pages_refuse_customer_b_invoice(self):
        self.authenticate("pp_user", "pp_user")
        own = self.url_open(f"/my/invoices/{self.invoice.id}")
        self.assertEqual(own.status_code, 200, "A opens its own invoice")
        for url in ODOO_ROUTES_WITH_FINNSYS_ACCESS:
            self._call(self._assert_denied, "GET", url.format(invoice=self.b_invoice.id), "B's")
