from odoo import fields, http
from odoo.fields import Domain
from odoo.http import request

from .invoice_pay import BillingInvoicePayPortal
from .portal import json_refusal

# Refused surcharges stored per customer and hour; more is someone scripting the route.
MAX_DECLINES_PER_HOUR = 20


class BillingSurchargePortal(BillingInvoicePayPortal):
    """The surcharge of a payment method, quoted before the customer pays, and the
    customer's refusal of it, stored as a consent record."""

    def _finnsys_quote(self, invoice_ids, amount, access_token, params):
        """The surcharge the customer must accept before paying, with the figures to show."""
        with self._finnsys_json_refusals():
            intent = self._finnsys_intent(invoice_ids, amount, access_token, params)
        currency, rule = intent.currency, intent.rule
        return {
            "surcharge": intent.surcharge,
            "amount_display": currency.format(intent.amount),
            "surcharge_display": currency.format(intent.surcharge),
            "total_display": currency.format(intent.total),
            "rule_name": rule.name or "",
            "rule_percent": rule.percent,
            "rule_fixed_display": currency.format(rule.fixed_amount) if rule else "",
        }

    def _finnsys_decline(self, invoice_ids, amount, access_token, params):
        """Record that the customer refused the surcharge; nothing is charged."""
        with self._finnsys_json_refusals():
            self._finnsys_check_csrf(params)
            intent = self._finnsys_intent(invoice_ids, amount, access_token, params)
            if intent.surcharge:
                self._finnsys_check_decline_rate(intent.customer)
                intent.record_consent("declined", request.env.user, request.httprequest.remote_addr)
        return {"message": request.env._("The payment was not completed.")}

    @staticmethod
    def _finnsys_check_decline_rate(customer):
        """A customer refuses a surcharge a few times an hour at most; a script that calls the
        route in a loop would fill the consent log."""
        customer.finnsys_lock_customers()
        since = fields.Datetime.subtract(fields.Datetime.now(), hours=1)
        # sudo: consents are written by the server only; customers have no access to them.
        declined = (
            request.env["finnsys.surcharge.consent"]
            .sudo()
            .search_count(
                Domain("partner_id", "=", customer.id)
                & Domain("state", "=", "declined")
                & Domain("at", ">=", since),
                limit=MAX_DECLINES_PER_HOUR,
            )
        )
        if declined >= MAX_DECLINES_PER_HOUR:
            json_refusal(
                429,
                request.env._("Too many payments were cancelled: please try again in an hour."),
            )

    @http.route("/my/invoices/<int:invoice_id>/surcharge", type="jsonrpc", auth="public")
    def portal_billing_surcharge(self, invoice_id, amount=None, access_token=None, **params):
        """The surcharge of paying one invoice (also through its e-mailed link)."""
        return self._finnsys_quote([invoice_id], amount, access_token, params)

    @http.route("/my/invoices/pay/<string:invoice_ids>/surcharge", type="jsonrpc", auth="user")
    def portal_billing_invoices_surcharge(
        self, invoice_ids, amount=None, access_token=None, **params
    ):
        """The surcharge of paying several invoices together."""
        return self._finnsys_quote(invoice_ids, amount, access_token, params)

    @http.route("/my/invoices/<int:invoice_id>/surcharge/decline", type="jsonrpc", auth="public")
    def portal_billing_surcharge_decline(
        self, invoice_id, amount=None, access_token=None, **params
    ):
        """The customer refused the surcharge of paying one invoice."""
        return self._finnsys_decline([invoice_id], amount, access_token, params)

    @http.route(
        "/my/invoices/pay/<string:invoice_ids>/surcharge/decline", type="jsonrpc", auth="user"
    )
    def portal_billing_invoices_surcharge_decline(
        self, invoice_ids, amount=None, access_token=None, **params
    ):
        """The customer refused the surcharge of paying several invoices together."""
        return self._finnsys_decline(invoice_ids, amount, access_token, params)
