"""The hostile grid: every payment entry point, as the owner, as another customer and logged
out, with every field of the payment form tampered with.

Each cell is one JSON-RPC request over HTTP; it asserts the status the server answers and that
no transaction, payment or surcharge consent was created. Each entry point is also paid once
with the owner's good figures, so a route that refuses everything fails.

Entry points (``ENTRIES``) and their good request, as the payment form posts it:

- ``invoice``: one invoice (``/invoice/transaction/<id>``), 40.00 of 100.00 with the saved card,
  its 1.30 surcharge and the terms signature of the pay page;
- ``several``: two invoices together (``/my/invoices/pay/<ids>/transaction``), 160.00 + 4.30;
- ``overdue``: Odoo's *pay all overdue* (``/invoice/transaction/overdue``), 160.00 with the
  customer's saved Demo wallet (a card's surcharge is refused there);
- ``topup``: a prepaid customer's top-up (``/my/topup/transaction``), 50.00 with its card;
- ``link``: the e-mailed *Pay online* link: the invoice route with a new card (a visitor may
  not use saved ones) and the signature its pay page gave for 40.00.
"""

from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token, topup_token

from .test_payment_hostile import HostileCase

# Odoo's answer to a visitor on an ``auth="user"`` JSON route: HTTP 200 and a JSON-RPC error
# "session expired" (code 100), on which Odoo's web client sends the visitor to the login page.
SESSION_EXPIRED = "session expired"
ENTRIES = ("invoice", "several", "overdue", "topup", "link")
# What another customer gets for the owner's request: not the owner's invoices (404); on the
# routes that compute from the caller's own account (overdue total, top-up signature), a
# figure that is not theirs (400).
OTHER_CUSTOMER = {"invoice": 404, "several": 404, "overdue": 400, "topup": 400, "link": 404}
# Logged out: ``invoice`` is sent with the e-mailed link's access token in place of the pay
# page's signature (finding 1); ``link`` is the visitor of the link, see ``visitor`` below.
LOGGED_OUT = {"invoice": 404, "several": SESSION_EXPIRED, "overdue": 403, "topup": SESSION_EXPIRED}


def expect(status, **overrides):
    """The owner's status on each entry point (``link``: the customer logged in, following its
    e-mailed link) and the link's visitor's (``visitor``); None: not a tampering there."""
    return dict.fromkeys((*ENTRIES, "visitor"), status) | overrides


def without(*keys):
    return lambda params, ctx: {key: value for key, value in params.items() if key not in keys}


def setting(**values):
    return lambda params, ctx: params | values


def amount(make):
    """The amount ``make(ctx)``, with a signature of that very amount where the request carries
    one and the figure is a number (as if it had leaked): the amount rules must hold alone."""

    def mutate(params, ctx):
        value = make(ctx)
        params = params | {"amount": value}
        try:
            figure = float(value)
        except ValueError:
            return params
        if "access_token" in params:
            params["access_token"] = ctx["sign"](figure)
        return params

    return mutate


def new_method(method):
    """A new payment method (direct flow), no saved token, no surcharge figure."""

    def mutate(params, ctx):
        params = without("surcharge")(params, ctx)
        return params | {"flow": "direct", "payment_method_id": method(ctx), "token_id": None}

    return mutate


def surcharge(make):
    return lambda params, ctx: params | {"surcharge": make(ctx)}


def signature(make):
    return lambda params, ctx: params | {"access_token": make(ctx)}


# (label, change of the good request, expected statuses of the owner and the link's visitor)
ROWS = [
    # amounts
    ("amount -1", amount(lambda ctx: -1), expect(400)),
    ("amount 0", amount(lambda ctx: 0), expect(400)),
    ("amount 1e9", amount(lambda ctx: 1e9), expect(400)),
    ("amount due + 0.01", amount(lambda ctx: round(ctx["due"] + 0.01, 2)), expect(400)),
    ("amount with 3 decimals", amount(lambda ctx: ctx["amount"] + 0.001), expect(400)),
    ("amount NaN", amount(lambda ctx: "NaN"), expect(400)),
    ("amount as text", amount(lambda ctx: "forty"), expect(400, visitor=404)),
    ("amount left out", without("amount"), expect(400, visitor=404)),
    # payment methods
    (
        "card brand (Visa) without the card's surcharge",
        new_method(lambda ctx: ctx["visa"].id),
        expect(400, topup=None),
    ),
    ("method the provider does not offer", new_method(lambda ctx: ctx["paypal"].id), expect(400)),
    ("method that does not exist", new_method(lambda ctx: 999999), expect(404)),
    ("method id as text", new_method(lambda ctx: "card"), expect(404)),
    # saved tokens
    (
        "another customer's token",
        setting(flow="token", token_id="other_token"),
        expect(404, visitor=400),
    ),
    (
        "own token of a surcharge-free method beside the card",
        lambda params, ctx: (
            new_method(lambda c: c["card"].id)(params, ctx) | {"token_id": ctx["demo_token"].id}
        ),
        expect(400, topup=None),
    ),
    ("token that does not exist", setting(flow="token", token_id=999999), expect(404, visitor=400)),
    (
        "the customer's saved card",
        lambda params, ctx: (
            params
            | {
                "flow": "token",
                "token_id": ctx["card_token"].id,
                "payment_method_id": ctx["card"].id,
            }
        ),
        expect(None, overdue=400, visitor=400),
    ),
    # flows
    ("flow offline", setting(flow="offline"), expect(400)),
    ("flow validation", setting(flow="validation"), expect(400)),
    ("flow empty", setting(flow=""), expect(400)),
    ("flow left out", without("flow"), expect(400)),
    ("flow token without a token", setting(flow="token", token_id=None), expect(404, visitor=400)),
    ("flow direct without a method", setting(flow="direct", payment_method_id=None), expect(404)),
    (
        "flow redirect with a token and no method",
        lambda params, ctx: (
            params
            | {"flow": "redirect", "payment_method_id": None, "token_id": ctx["card_token"].id}
        ),
        expect(404),
    ),
    # surcharge figures (overdue and top-up carry none: any figure is a field too many)
    ("surcharge one cent less", surcharge(lambda ctx: ctx["surcharge"] - 0.01), expect(400)),
    ("surcharge negative", surcharge(lambda ctx: -ctx["surcharge"] or -1.30), expect(400)),
    ("surcharge zero", surcharge(lambda ctx: 0), expect(400)),
    ("surcharge with 3 decimals", surcharge(lambda ctx: ctx["surcharge"] + 0.001), expect(400)),
    ("surcharge NaN", surcharge(lambda ctx: "NaN"), expect(400)),
    ("surcharge as text", surcharge(lambda ctx: "abc"), expect(400)),
    ("surcharge left out", without("surcharge"), expect(400, overdue=None, topup=None)),
    # terms signatures (the overdue route takes none: one is a field too many)
    ("signature forged", signature(lambda ctx: "forged"), expect(400, visitor=404)),
    ("signature of 10.00", signature(lambda ctx: ctx["sign"](10.0)), expect(400, visitor=404)),
    (
        "signature of another payment",
        signature(lambda ctx: ctx["foreign_signature"]),
        expect(400, visitor=404),
    ),
    (
        "the e-mailed link's token as the signature",
        signature(lambda ctx: ctx["link_token"]),
        expect(400, visitor=404),
    ),
    ("signature left out", without("access_token"), expect(400, overdue=None, visitor=404)),
    # CSRF
    ("CSRF token left out", without("csrf_token"), expect(400)),
    ("CSRF token forged", setting(csrf_token="forged"), expect(400)),
    # fields the payment form always sends, left out
    ("provider left out", without("provider_id"), expect(404)),
    (
        "payment_method_id left out",
        without("payment_method_id"),
        expect(400, link=404, visitor=404),
    ),
    ("token_id left out", without("token_id"), expect(404, link=400, visitor=400)),
    ("tokenization_requested left out", without("tokenization_requested"), expect(400)),
    # fields Odoo would pass on to the transaction
    ("extra partner_id", setting(partner_id="other_partner"), expect(400)),
    ("extra currency_id", setting(currency_id=1), expect(400)),
    ("extra reference_prefix", setting(reference_prefix="FAKE"), expect(400)),
    ("extra custom_create_values", setting(custom_create_values={"amount": 1}), expect(400)),
    # (the several-invoices route takes its ids from its URL, which wins over this field)
    ("extra invoice_ids", setting(invoice_ids=[1]), expect(400, several=None)),
    ("extra company_id", setting(company_id=1), expect(400)),
]
CSRF_ROWS = {"CSRF token left out", "CSRF token forged"}


@tagged("post_install", "-at_install")
class TestPaymentGrid(HostileCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.second = cls._post_invoice(cls.customer, 60.0)
        cls._post_invoice(cls.other_customer, 70.0)  # another customer's own overdue total
        cls.company.write({"billing_portal_topup_min": 20.0, "billing_portal_topup_max": 1000.0})
        cls.prepaid = cls._portal_customer("Grid Prepaid Co", "prepaid", "grid_pre")
        cls.prepaid_token = cls._token(cls.prepaid, "5555")
        cls.other_prepaid = cls._portal_customer("Grid Other Prepaid Co", "prepaid", "grid_pre_b")

    # ------------------------------------------------------------------
    # the good request of each entry point
    # ------------------------------------------------------------------
    def _entry(self, entry):
        """(url, context, good request without CSRF token) of ``entry``, for its owner."""
        invoices = self.invoice + self.second
        ctx = {
            "visa": self.env.ref("payment.payment_method_visa"),
            "paypal": self.env.ref("payment.payment_method_paypal"),
            "card": self.card,
            "demo_token": self.demo_token,
            "card_token": self.token,
            "link_token": self.invoice._portal_ensure_token(),
            "surcharge": 0.0,
        }
        if entry in ("invoice", "link"):
            url = f"/invoice/transaction/{self.invoice.id}"
            ctx.update(
                amount=40.0,
                due=100.0,
                surcharge=1.30,
                sign=lambda value: terms_token(self.env, self.invoice, value),
                foreign_signature=terms_token(self.env, self.second, 40.0),
            )
        elif entry == "several":
            url = f"/my/invoices/pay/{self.invoice.id},{self.second.id}/transaction"
            ctx.update(
                amount=160.0,
                due=160.0,
                surcharge=self.rule.compute_surcharge(160.0, self.currency),
                sign=lambda value: terms_token(self.env, invoices, value),
                foreign_signature=terms_token(self.env, self.invoice, 160.0),
            )
        elif entry == "overdue":
            url = "/invoice/transaction/overdue"
            ctx.update(amount=160.0, due=160.0, sign=lambda value: "signed", foreign_signature="x")
        else:
            url = "/my/topup/transaction"
            ctx.update(
                amount=50.0,
                due=1000.0,
                sign=lambda value: topup_token(self.env, self.prepaid, value),
                foreign_signature=topup_token(self.env, self.customer, 50.0),
                card_token=self.prepaid_token,
            )
        params = self._token_payment_params(ctx["amount"], None, None)
        params.update(token_id=ctx["card_token"].id, access_token=ctx["sign"](ctx["amount"]))
        if entry in ("invoice", "several", "link"):
            params["surcharge"] = ctx["surcharge"]
        if entry == "overdue":
            del params["access_token"]
            params.update(
                payment_reference="overdue",
                payment_method_id=self.demo_method.id,
                token_id=self.demo_token.id,
            )
        if entry == "topup":
            params["landing_route"] = "/my"
        if entry == "link":
            params.update(flow="direct", token_id=None)
        return url, ctx, params

    # ------------------------------------------------------------------
    # the sweep
    # ------------------------------------------------------------------
    def _actors(self, entry):
        """(name, login, column of the expected statuses) of the three callers of ``entry``."""
        owner, other = ("grid_pre", "grid_pre_b") if entry == "topup" else ("pp_user", "other_user")
        if entry == "link":
            return [
                ("owner", owner, "link"),
                ("other", other, None),
                ("logged out", None, "visitor"),
            ]
        return [("owner", owner, entry), ("other", other, None), ("logged out", None, None)]

    def _expected(self, entry, actor, column, label, row_status):
        if column:
            return row_status[column]
        if actor == "other":
            return 400 if label in CSRF_ROWS else OTHER_CUSTOMER[entry]
        status = LOGGED_OUT[entry]
        return 400 if label in CSRF_ROWS and status == 404 else status

    def _resolve(self, params):
        """Ids the rows name by role (another customer's token and partner)."""
        names = {"other_token": self.other_token.id, "other_partner": self.other_customer.id}
        return {
            key: names.get(value, value) if isinstance(value, str) else value
            for key, value in params.items()
        }

    def _assert_cell(self, url, params, status, context):
        before = self._counts()
        response = self._jsonrpc(url, params)
        if status == SESSION_EXPIRED:
            self.assertEqual(response.status_code, 200, context)
            self.assertEqual(response.json()["error"]["code"], 100, context)
        else:
            self.assertEqual(response.status_code, status, f"{context}: {response.text[:300]}")
            self.assertTrue(response.json()["error"]["data"]["message"], context)
        self.env.invalidate_all()
        self.assertEqual(self._counts(), before, f"{context}: a record was created")

    def _sweep(self, entry):
        url, ctx, good = self._entry(entry)
        for actor, login, column in self._actors(entry):
            self.authenticate(login, login)
            csrf = self._csrf("/my/billing-info" if login else "/web/login")
            base = good | {"csrf_token": csrf}
            cells = [("the good request", lambda params, ctx: params, expect(None))]
            for label, change, row_status in cells + ROWS:
                status = self._expected(entry, actor, column, label, row_status)
                if status is None:
                    continue
                params = change(dict(base), ctx)
                if actor == "logged out" and entry == "invoice" and "access_token" in params:
                    params["access_token"] = ctx["link_token"]
                with self.subTest(entry=entry, actor=actor, row=label):
                    self._assert_cell(
                        url, self._resolve(params), status, f"{entry}/{actor}/{label}"
                    )
        return url, good

    def _assert_owner_pays(self, entry, total):
        url, good = self._sweep(entry)
        owner = self._actors(entry)[0][1]
        if entry == "link":
            self.authenticate(None, None)
            csrf = self._csrf("/web/login")
        else:
            self.authenticate(owner, owner)
            csrf = self._csrf("/my/billing-info")
        tx = self._accepted(url, good | {"csrf_token": csrf})
        self.assertEqual(tx.amount, total)

    def test_one_invoice(self):
        self._assert_owner_pays("invoice", 41.30)

    def test_several_invoices(self):
        self._assert_owner_pays(
            "several", 160.0 + self.rule.compute_surcharge(160.0, self.currency)
        )

    def test_all_overdue(self):
        self._assert_owner_pays("overdue", 160.0)

    def test_topup(self):
        self._assert_owner_pays("topup", 50.0)

    def test_emailed_link(self):
        self._assert_owner_pays("link", 41.30)
