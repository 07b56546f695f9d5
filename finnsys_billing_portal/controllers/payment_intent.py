"""One payment, as the server decides it.

Every portal entry point that takes money (one invoice, several, all overdue, a top-up, the
e-mailed invoice link) builds a :class:`PaymentIntent` and creates its transaction through it.
The intent reads the amount, the provider, the payment method, the saved token, the surcharge
and the terms signature from the database; what the browser sends is only a choice among them,
checked here. Any refusal raises before anything is created.
"""

import math

from werkzeug.exceptions import BadRequest, NotFound

from odoo import Command
from odoo.exceptions import UserError
from odoo.http import request
from odoo.tools import hmac

from odoo.addons.payment import utils as payment_utils

FLOWS = ("direct", "redirect", "token")
# What Odoo's payment form always sends (null when empty) to a transaction route.
PAYMENT_FORM_KEYS = {
    "provider_id",
    "payment_method_id",
    "token_id",
    "flow",
    "tokenization_requested",
}


def _terms_values(invoices, amount):
    ids = ",".join(str(invoice_id) for invoice_id in sorted(invoices.ids))
    return ("finnsys_pay_terms", ids, f"{amount:.6f}")


def _topup_values(customer, amount):
    return ("finnsys_topup_terms", customer.id, f"{amount:.6f}")


def _access_token(env, values):
    """``payment.utils.generate_access_token(*values)``.

    Odoo's function reads the database secret from the request; tests and the reliability
    workers sign outside any request, from ``env``, with the same secret and scope.
    """
    if request:
        return payment_utils.generate_access_token(*values)
    return hmac(env(su=True), "generate_access_token", "|".join(str(value) for value in values))


def terms_token(env, invoices, amount):
    """Signature that the customer ticked the terms for paying ``amount`` on ``invoices``."""
    return _access_token(env, _terms_values(invoices, amount))


def topup_token(env, customer, amount):
    """Signature that ``customer`` ticked the terms for topping up ``amount``."""
    return _access_token(env, _topup_values(customer, amount))


def check_terms_token(access_token, invoices, amount):
    """Whether ``access_token`` is the terms signature of paying ``amount`` on ``invoices``."""
    values = _terms_values(invoices, amount)
    return bool(payment_utils.check_access_token(str(access_token), *values))


def as_int(raw):
    """``raw`` as a positive database id, or 0: "12", 12 and 12.0 are 12; "x", -1, 1.5 are 0."""
    if isinstance(raw, bool):
        return 0
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        raw = int(raw)
    return raw if isinstance(raw, int) and 0 < raw < 2**31 else 0


def parse_money(raw, currency, not_a_number):
    """``raw`` as a finite float with no more decimals than ``currency`` allows.

    The browser's figure is text: "abc", "NaN", "inf" and 0.001 are refused here, before any
    rule about the amount itself.
    """
    try:
        amount = float(raw)
    except (TypeError, ValueError):
        amount = math.nan
    if isinstance(raw, bool) or not math.isfinite(amount):
        raise UserError(not_a_number)
    if abs(amount - currency.round(amount)) > 1e-9:
        raise UserError(
            currency.env._(
                "Please enter the amount with at most %(digits)s decimals.",
                digits=currency.decimal_places,
            )
        )
    return amount


def same_amount(raw, expected, currency):
    """Whether the browser's ``raw`` figure is exactly ``expected``: 150.001 is not 150.00,
    although the currency rounds it so (as on the pay page, extra decimals are refused)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return False
    return (
        not isinstance(raw, bool)
        and math.isfinite(value)
        and abs(value - currency.round(value)) <= 1e-9
        and not currency.compare_amounts(value, expected)
    )


class PaymentIntent:
    """A payment of ``amount`` by ``customer`` (a commercial partner, sudo), on ``invoices``
    (sudo; empty for a top-up), in ``currency`` of ``company``.

    ``visitor`` is someone paying through an invoice's e-mailed link without logging in: they
    may not use or save the customer's payment methods.
    """

    def __init__(self, env, customer, company, currency, amount, invoices=None, visitor=False):
        self.env = env
        self.customer = customer
        self.company = company
        self.currency = currency
        self.amount = amount
        self.invoices = invoices if invoices is not None else env["account.move"].sudo()
        self.visitor = visitor
        self.provider = env["payment.provider"].sudo()
        self.method = env["payment.method"].sudo()
        self.token = env["payment.token"].sudo()
        self.flow = None
        self.rule = env["finnsys.surcharge.rule"].sudo()
        self.surcharge = 0.0

    # ------------------------------------------------------------------
    # amount
    # ------------------------------------------------------------------
    @classmethod
    def for_invoices(cls, env, customer, invoices, raw_amount, visitor=False):
        """The payment of ``raw_amount`` on ``invoices``, all payable now.

        One invoice can be paid in part: 0 < amount <= what is payable (the residual less the
        payments under way); several invoices are paid together for all of it.

        :raise UserError: with a sentence the customer can act on
        """
        currency = invoices.currency_id
        payable = invoices.finnsys_amount_payable()
        due = currency.round(sum(payable.values()))
        if len(invoices) > 1:
            if not same_amount(raw_amount, due, currency):
                raise UserError(
                    env._(
                        "These invoices total %(total)s and are paid in full together: reload"
                        " the page to pay them.",
                        total=currency.format(due),
                    )
                )
            return cls(env, customer, invoices.company_id, currency, due, invoices, visitor)
        amount = parse_money(
            raw_amount, currency, env._("Please enter the amount to pay as a number.")
        )
        if currency.compare_amounts(amount, 0.0) <= 0:
            raise UserError(env._("Please enter an amount greater than zero."))
        if currency.compare_amounts(amount, due) > 0:
            raise UserError(
                env._(
                    "Please enter at most %(residual)s, the amount still due.",
                    residual=currency.format(due),
                )
            )
        amount = currency.round(amount)
        return cls(env, customer, invoices.company_id, currency, amount, invoices, visitor)

    def check_terms(self, access_token):
        """The customer ticked the terms for this very amount (the signature of the pay page).

        :raise UserError: a signature of another amount or other invoices, or none
        """
        if self.invoices:
            values = _terms_values(self.invoices, self.amount)
        else:
            values = _topup_values(self.customer, self.amount)
        if not payment_utils.check_access_token(str(access_token), *values):
            raise UserError(
                self.env._("Please accept the terms and conditions for this amount to pay.")
            )

    # ------------------------------------------------------------------
    # provider, method, token and surcharge
    # ------------------------------------------------------------------
    def choose_method(self, params):
        """Provider, method, token and flow of ``params``, as the provider would charge them.

        The flow says what is used: a saved token (``token``) or a new payment method
        (``direct``/``redirect``); the other one, which the form may still carry from an
        earlier choice, is ignored, as Odoo's transaction does. A new method must be one the
        provider offers; a brand (Visa) is charged as its payment method (card). A token is
        charged with its own method.

        :raise NotFound: a provider, method or token that does not exist, or a token of
            another customer or provider
        :raise UserError: a method the provider does not offer, a token for a visitor
        """
        flow = params.get("flow")
        if flow not in FLOWS:
            raise BadRequest(self.env._("The payment form is incomplete: reload the page."))
        env = self.env
        provider = env["payment.provider"].sudo().browse(as_int(params.get("provider_id")))
        provider = provider.exists()
        if not provider or provider.state == "disabled" or provider.company_id != self.company:
            raise NotFound()
        if flow == "token":
            self.token = self._own_token(as_int(params.get("token_id")), provider)
            method = self.token.payment_method_id
            method = method.primary_payment_method_id or method
        else:
            method = env["payment.method"].sudo().browse(as_int(params.get("payment_method_id")))
            method = method.exists()
            if not method:
                raise NotFound()
            method = method.primary_payment_method_id or method
            if not method.active or method not in provider.payment_method_ids:
                raise UserError(
                    env._(
                        "%(provider)s does not take %(method)s: choose another payment method.",
                        provider=provider.name,
                        method=method.name,
                    )
                )
        self.provider, self.method, self.flow = provider, method, flow
        return self

    def _own_token(self, token_id, provider):
        if self.visitor:
            raise UserError(
                self.env._("Please log in to pay with a saved payment method, or enter a new one.")
            )
        token = self.env["payment.token"].sudo().browse(token_id).exists()
        if (
            not token
            or not token.active
            or token.provider_id != provider
            or token.partner_id.commercial_partner_id != self.customer
        ):
            raise NotFound()
        return token

    def compute_surcharge(self):
        """The surcharge of the method actually charged (zero for a top-up)."""
        if self.invoices:
            Rule = self.env["finnsys.surcharge.rule"].sudo()
            self.rule = Rule.find_applicable(self.company, self.method, self.customer.country_id)
            self.surcharge = self.rule.compute_surcharge(self.amount, self.currency)
        return self.surcharge

    def check_surcharge(self, offered):
        """The customer accepted this surcharge (the figure shown in the consent window).

        :raise UserError: another figure, or none, while the method carries a surcharge
        """
        if self.surcharge and not same_amount(offered, self.surcharge, self.currency):
            raise UserError(
                self.env._(
                    "The surcharge for this payment is %(surcharge)s: reload the page and accept"
                    " it to pay.",
                    surcharge=self.currency.format(self.surcharge),
                )
            )

    @property
    def total(self):
        return self.currency.round(self.amount + self.surcharge)

    # ------------------------------------------------------------------
    # what is created
    # ------------------------------------------------------------------
    def transaction_kwargs(self, kwargs, partner, prefix):
        """The arguments of Odoo's ``_create_transaction``: the checked figures replace what
        the browser sent."""
        if not PAYMENT_FORM_KEYS <= kwargs.keys():
            # Odoo's _create_transaction would fail with a TypeError: a server error.
            raise BadRequest(
                self.env._("The payment form is incomplete: reload the page and pay again.")
            )
        values = {key: value for key, value in kwargs.items() if key != "csrf_token"}
        values.update(
            provider_id=self.provider.id,
            payment_method_id=self.method.id,
            token_id=self.token.id or None,
            flow=self.flow,
            tokenization_requested=bool(kwargs["tokenization_requested"]) and not self.visitor,
            amount=self.total,
            currency_id=self.currency.id,
            partner_id=partner.id,
            reference_prefix=prefix,
            landing_route="/my/invoices",
            is_validation=False,
        )
        if self.invoices:
            values["custom_create_values"] = {"invoice_ids": [Command.set(self.invoices.ids)]}
        return values

    def record_consent(self, state, user, ip_address, tx=None):
        """The surcharge the customer was shown and accepted or refused, stored for good."""
        # A consent names one invoice: the first one of a payment of several.
        invoice = self.invoices[:1]
        return (
            self.env["finnsys.surcharge.consent"]
            .sudo()
            .create(
                {
                    "state": state,
                    "partner_id": self.customer.id,
                    "user_id": user.id,
                    "invoice_id": invoice.id,
                    "rule_id": self.rule.id,
                    "payment_method_id": self.method.id,
                    "transaction_id": tx.id if tx else False,
                    "currency_id": self.currency.id,
                    "amount": self.amount,
                    "surcharge": self.surcharge,
                    "total": self.total,
                    "ip_address": ip_address,
                }
            )
        )
