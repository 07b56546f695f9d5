from werkzeug.exceptions import NotFound

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request

from .payment_intent import PaymentIntent, parse_money, topup_token
from .portal import BillingPortal


class BillingTopupPortal(BillingPortal):
    """Top-up of a prepaid balance: the amount and terms step, then Odoo's payment form; the
    payment becomes credit on the balance."""

    def _finnsys_prepaid_customer(self):
        customer = self._finnsys_customer()
        if not customer or customer.billing_mode != "prepaid":
            raise NotFound()
        return customer

    @staticmethod
    def _finnsys_parse_topup(raw, company):
        """The top-up ``raw`` as a float within the company's portal range.

        :raise UserError: with a sentence the customer can act on
        """
        currency = company.currency_id
        amount = parse_money(
            raw, currency, request.env._("Please enter the amount to add as a number.")
        )
        low, high = company.billing_portal_topup_min, company.billing_portal_topup_max
        if currency.compare_amounts(amount, low) < 0 or currency.compare_amounts(amount, high) > 0:
            raise UserError(
                request.env._(
                    "Please enter an amount between %(low)s and %(high)s.",
                    low=currency.format(low),
                    high=currency.format(high),
                )
            )
        return currency.round(amount)

    @http.route(
        "/my/topup", type="http", auth="user", methods=["GET", "POST"], website=True, sitemap=False
    )
    def portal_billing_topup(self, amount=None, terms=None, **kw):
        """Step 1 chooses the amount and ticks the terms; step 2 shows Odoo's payment form."""
        customer = self._finnsys_prepaid_customer()
        company = request.env.company
        values = {
            "page_name": "billing_topup",
            "customer": customer,
            "company": company,
            "amount": amount or "",
        }
        if request.httprequest.method == "GET":
            return request.render("finnsys_billing_portal.portal_topup", values)
        try:
            values["amount"] = self._finnsys_parse_topup(amount, company)
            if not terms:
                raise UserError(request.env._("Please accept the terms and conditions to pay."))
        except UserError as error:
            values.update(error=error.args[0], terms=bool(terms))
            return request.render("finnsys_billing_portal.portal_topup", values, status=400)
        form_values = self._get_common_page_view_values(
            invoices_data={
                "partner": customer,
                "company": company,
                "total_amount": values["amount"],
                "currency": company.currency_id,
                "amount_residual": values["amount"],
                "landing_route": "/my",
                "transaction_route": "/my/topup/transaction",
            },
        )
        form_values["tokens_sudo"] |= self._finnsys_customer_tokens(form_values, customer)
        form_values.update(
            amount=values["amount"],
            access_token=topup_token(request.env, customer, values["amount"]),
            billing_form=True,
        )
        return request.render("finnsys_billing_portal.portal_topup_form", values | form_values)

    @http.route("/my/topup/transaction", type="jsonrpc", auth="user")
    def portal_billing_topup_transaction(self, access_token=None, **kwargs):
        """Create the transaction of a top-up; its payment becomes credit on the balance."""
        with self._finnsys_json_refusals():
            customer = self._finnsys_prepaid_customer()
            self._finnsys_check_csrf(kwargs)
            company = request.env.company
            amount = self._finnsys_parse_topup(kwargs.get("amount"), company)
            intent = PaymentIntent(request.env, customer, company, company.currency_id, amount)
            intent.check_terms(access_token)
            intent.choose_method(kwargs)
            tx = self._finnsys_create_transaction(
                intent, request.env.user.partner_id, f"TOPUP-{customer.id}", kwargs
            )
            return tx._get_processing_values()
