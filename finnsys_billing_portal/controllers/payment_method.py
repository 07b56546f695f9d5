from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request

from .portal import BillingPortal
from .subscription import chosen_token, usable_tokens


class BillingPaymentMethodPortal(BillingPortal):
    """The customer's default saved payment method, on Odoo's *Payment Methods* page.

    It is the company's ``billing_token_id``: auto top-ups charge it, and so do subscriptions
    that have no payment method of their own.
    """

    @http.route()
    def payment_method(self, **kwargs):
        # Odoo hands the query string to its provider filters next to its own arguments:
        # ``?amount=1`` there is a TypeError (500). The page needs none of it.
        response = super().payment_method()
        customer = self._finnsys_customer()
        if customer and hasattr(response, "qcontext"):
            response.qcontext.update(
                billing_default_tokens=usable_tokens(customer, request.env.company),
                billing_default_token=customer.billing_token_id,
                billing_default_saved=bool(kwargs.get("saved")),
                billing_default_error=None,
            )
        return response

    @http.route(
        "/my/payment_method/default", type="http", auth="user", website=True, methods=["POST"]
    )
    def portal_billing_default_token(self, token_id=None, **kw):
        """Make one of the company's saved methods the default, or none (pay by transfer)."""
        customer = self._finnsys_customer()
        if not customer:
            return request.redirect("/my")
        token, refusal = chosen_token(token_id, customer, request.env.company)
        if not refusal:
            try:
                with request.env.cr.savepoint():
                    # Portal users may not write partners: the token was checked above and the
                    # record is the user's own commercial entity.
                    customer.sudo().write(
                        {
                            "billing_payment_method": "token" if token else "bank_transfer",
                            "billing_token_id": token.id,
                        }
                    )
            except ValidationError as error:
                refusal = (400, error.args[0])
        if not refusal:
            return request.redirect("/my/payment_method?saved=1")
        response = self.payment_method()
        response.qcontext["billing_default_error"] = refusal[1]
        response.status_code = refusal[0]
        return response
