from werkzeug.exceptions import NotFound

from odoo import http
from odoo.fields import Domain
from odoo.http import request

from odoo.addons.finnsys_billing.models.ir_http import served_from_replica

from .portal import BillingPortal


class BillingSubscriptionPortal(BillingPortal):
    """Subscription pages, shown only when the subscription models are installed."""

    def _billing_subscriptions(self):
        """The customer's subscriptions (sudo), or None when subscriptions do not exist."""
        if "contract.contract" not in request.env:
            return None
        Contract = request.env["contract.contract"].sudo()
        if "subscription_state" not in Contract._fields or not self._billing_customer():
            return None
        return Contract.search(
            Domain("partner_id", "child_of", self._billing_customer().id)
            & Domain("subscription_state", "!=", "draft"),
            order="create_date desc, id desc",
        )

    def _billing_dashboard_values(self, customer):
        values = super()._billing_dashboard_values(customer)
        subscriptions = self._billing_subscriptions()
        if subscriptions is None:
            return values
        active = subscriptions.filtered(lambda sub: sub.subscription_state == "active")
        dates = [date for date in active.mapped("recurring_next_date") if date]
        next_date = min(dates) if dates else False
        values.update(
            billing_subscriptions_enabled=True,
            billing_active_subscriptions=len(active),
            billing_next_invoice_date=next_date,
            billing_next_invoice_amount=sum(
                active.filtered(lambda sub: sub.recurring_next_date == next_date).mapped(
                    "plan_amount"
                )
            ),
        )
        return values

    @http.route(
        "/my/subscriptions",
        type="http",
        auth="user",
        website=True,
        readonly=served_from_replica,
    )
    def portal_billing_subscriptions(self, **kw):
        subscriptions = self._billing_subscriptions()
        if subscriptions is None:
            raise NotFound()
        values = self._prepare_portal_layout_values()
        values.update(page_name="billing_subscriptions", subscriptions=subscriptions)
        return request.render("finnsys_billing_portal.portal_my_subscriptions", values)

    @http.route(
        "/my/subscriptions/<int:subscription_id>",
        type="http",
        auth="user",
        website=True,
        readonly=served_from_replica,
    )
    def portal_billing_subscription(self, subscription_id, **kw):
        subscriptions = self._billing_subscriptions()
        subscription = (subscriptions or request.env["res.partner"]).filtered(
            lambda sub: sub.id == subscription_id
        )
        if not subscription:
            raise NotFound()
        invoices = (
            request.env["account.move"]
            .sudo()
            .search(
                self._billing_documents_domain() & Domain("subscription_id", "=", subscription.id),
                order="invoice_date desc, id desc",
            )
        )
        values = self._prepare_portal_layout_values()
        values.update(
            page_name="billing_subscriptions", subscription=subscription, invoices=invoices
        )
        return request.render("finnsys_billing_portal.portal_my_subscription", values)
