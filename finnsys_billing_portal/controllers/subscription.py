from werkzeug.exceptions import NotFound

from odoo import fields, http
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.http import request

from odoo.addons.finnsys_billing.models.contract_contract import CANCEL_REASONS
from odoo.addons.finnsys_billing.models.ir_http import served_from_replica
from odoo.addons.payment import utils as payment_utils

from .payment_intent import as_int
from .portal import BillingPortal

# What a customer may do to a subscription in each status.
CHANGE_PLAN_STATES = ("active",)
CANCEL_STATES = ("active", "paused")
PAYMENT_TOKEN_STATES = ("active", "paused")
MAX_NOTE_LENGTH = 1000


def usable_tokens(customer, company):
    """The saved tokens of ``customer``'s company (any of its contacts) that ``company`` can
    charge: active, of an enabled provider of that company (sudo)."""
    return (
        request.env["payment.token"]
        .sudo()
        .search(
            Domain("partner_id", "child_of", customer.id)
            & Domain("provider_id.state", "in", ("enabled", "test"))
            & Domain("provider_id.company_id", "=", company.id)
        )
    )


def chosen_token(raw, customer, company):
    """The token picked in a form, checked: (token, None) or (None, (status, message)).

    An empty choice is an empty token; another customer's token is forbidden (403); one that
    cannot be charged here (archived, provider disabled or of another company) a bad request.
    """
    tokens = request.env["payment.token"].sudo()
    if raw in (None, "", "0", "default"):
        return tokens, None
    token = tokens.with_context(active_test=False).browse(as_int(raw)).exists()
    if not token:
        return None, (400, request.env._("Choose one of your saved payment methods."))
    if token.partner_id.commercial_partner_id != customer:
        return None, (403, request.env._("This payment method is not one of yours."))
    if token not in usable_tokens(customer, company):
        return None, (
            400,
            request.env._("This payment method cannot be charged any more: choose another one."),
        )
    return token, None


def subscription_action(action):
    """The route of a self-service action on one subscription: a form the logged-in customer
    posts (CSRF-checked) to ``/my/subscriptions/<id>/<action>``."""
    return http.route(
        f"/my/subscriptions/<int:subscription_id>/{action}",
        type="http",
        auth="user",
        website=True,
        methods=["POST"],
    )


class BillingSubscriptionPortal(BillingPortal):
    """The customer's subscriptions: list, detail and self-service."""

    def _finnsys_subscriptions(self):
        """The customer's subscriptions (sudo), or None for anyone but a portal customer.

        They are searched as the customer: the portal rule on ``contract.contract`` gives
        every contact the customer's subscriptions. The pages then read their plans and
        tokens, which portal users may not read: sudo, on these records only.
        """
        customer = self._finnsys_customer()
        if not customer:
            return None
        subscriptions = request.env["contract.contract"].search(
            Domain("partner_id", "child_of", customer.id)
            & Domain("subscription_state", "!=", "draft"),
            order="create_date desc, id desc",
        )
        return subscriptions.sudo()

    def _finnsys_dashboard_values(self, customer):
        values = super()._finnsys_dashboard_values(customer)
        subscriptions = self._finnsys_subscriptions()
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
        subscriptions = self._finnsys_subscriptions()
        if subscriptions is None:
            raise NotFound()
        values = self._prepare_portal_layout_values()
        values.update(page_name="billing_subscriptions", subscriptions=subscriptions)
        return request.render("finnsys_billing_portal.portal_my_subscriptions", values)

    # ------------------------------------------------------------------
    # one subscription and its self-service
    # ------------------------------------------------------------------
    def _finnsys_subscription(self, subscription_id):
        """The logged-in customer's subscription ``subscription_id`` (sudo, in its company);
        404 for anything else, another customer's included."""
        customer = self._finnsys_customer()
        subscriptions = self._finnsys_subscriptions()
        if subscriptions is None or not customer:
            raise NotFound()
        subscription = subscriptions.filtered(lambda sub: sub.id == subscription_id)
        if not subscription:
            raise NotFound()
        return subscription.with_company(subscription.company_id)

    @staticmethod
    def _finnsys_switch_plans(subscription):
        """Plans the subscription's plan lets customers switch to, that it can change to."""
        return subscription.finnsys_switch_plan_ids.filtered(
            lambda plan: (
                plan != subscription.contract_template_id
                and plan.company_id == subscription.company_id
                and plan.plan_currency_id == subscription.currency_id
            )
        )

    def _finnsys_change_refusal(self, subscription, plan):
        """Why the customer may not change ``subscription`` to ``plan`` today, or None."""
        today = fields.Date.context_today(subscription)
        if subscription.subscription_state not in CHANGE_PLAN_STATES:
            return request.env._("Only an active subscription can change plan.")
        if not subscription._finnsys_period_at(today):
            return request.env._(
                "This subscription has no invoiced period yet: change the plan after its "
                "first invoice."
            )
        if plan not in self._finnsys_switch_plans(subscription):
            return request.env._("This plan is not offered for your subscription.")
        return None

    @staticmethod
    def _finnsys_plan_figures(subscription, plan, day):
        """The preview of changing to ``plan`` on ``day``, its figures as the form posts them
        and their server signature."""
        preview = subscription.finnsys_plan_change_preview(plan, day)
        digits = subscription.currency_id.decimal_places
        posted = {
            "plan_id": str(plan.id),
            "date": fields.Date.to_string(day),
            "credit": f"{preview['credit']:.{digits}f}",
            "invoice": f"{preview['invoice']:.{digits}f}",
        }
        signature = payment_utils.generate_access_token(
            "finnsys_plan_change", subscription.id, *posted.values()
        )
        return preview, posted, signature

    def _finnsys_subscription_page(self, subscription, status=200, **extra):
        invoices = (
            request.env["account.move"]
            .sudo()
            .search(
                self._finnsys_documents_domain() & Domain("subscription_id", "=", subscription.id),
                order="invoice_date desc, id desc",
            )
        )
        customer = self._finnsys_customer()
        values = self._prepare_portal_layout_values()
        values.update(
            page_name="billing_subscriptions",
            subscription=subscription,
            invoices=invoices,
            switch_plans=self._finnsys_switch_plans(subscription),
            can_change_plan=subscription.subscription_state in CHANGE_PLAN_STATES
            and bool(subscription._finnsys_period_at(fields.Date.context_today(subscription))),
            can_cancel=subscription.subscription_state in CANCEL_STATES,
            can_undo=subscription.finnsys_can_undo_cancel(),
            can_choose_token=subscription.subscription_state in PAYMENT_TOKEN_STATES,
            cancel_reasons=CANCEL_REASONS,
            tokens=usable_tokens(customer, subscription.company_id),
            paying_token=subscription.finnsys_payment_token(),
            default_token=customer.billing_token_id,
            done=request.params.get("done"),
            error=None,
            preview=None,
        )
        values.update(extra)
        return request.render(
            "finnsys_billing_portal.portal_my_subscription", values, status=status
        )

    def _finnsys_subscription_refused(self, subscription, status, message, **extra):
        return self._finnsys_subscription_page(subscription, status=status, error=message, **extra)

    @http.route(
        "/my/subscriptions/<int:subscription_id>",
        type="http",
        auth="user",
        website=True,
        readonly=served_from_replica,
    )
    def portal_billing_subscription(self, subscription_id, plan=None, **kw):
        """The subscription; with ``plan``, the preview of changing to that plan today."""
        subscription = self._finnsys_subscription(subscription_id)
        if not plan:
            return self._finnsys_subscription_page(subscription)
        new_plan = request.env["contract.template"].sudo().browse(as_int(plan)).exists()
        if refusal := self._finnsys_change_refusal(subscription, new_plan):
            return self._finnsys_subscription_refused(subscription, 403, refusal)
        today = fields.Date.context_today(subscription)
        preview, posted, signature = self._finnsys_plan_figures(subscription, new_plan, today)
        return self._finnsys_subscription_page(
            subscription,
            preview=dict(preview, plan=new_plan, posted=posted, signature=signature),
        )

    @subscription_action("change-plan")
    def portal_billing_subscription_change_plan(self, subscription_id, signature=None, **form):
        """Change the plan today with the figures the customer saw: refused (403) when the
        plan is not offered or the figures are not the server's, and (409, with the new
        preview) when the figures changed since, e.g. the next day."""
        subscription = self._finnsys_subscription(subscription_id)
        plan = request.env["contract.template"].sudo().browse(as_int(form.get("plan_id"))).exists()
        if refusal := self._finnsys_change_refusal(subscription, plan):
            return self._finnsys_subscription_refused(subscription, 403, refusal)
        posted = {
            name: str(form.get(name, "")) for name in ("plan_id", "date", "credit", "invoice")
        }
        if not payment_utils.check_access_token(
            signature, "finnsys_plan_change", subscription.id, *posted.values()
        ):
            return self._finnsys_subscription_refused(
                subscription, 403, request.env._("These figures are not the ones we showed you.")
            )
        today = fields.Date.context_today(subscription)
        preview, fresh, fresh_signature = self._finnsys_plan_figures(subscription, plan, today)
        if fresh != posted:
            return self._finnsys_subscription_refused(
                subscription,
                409,
                request.env._(
                    "The amounts changed since you looked: check them and confirm again."
                ),
                preview=dict(preview, plan=plan, posted=fresh, signature=fresh_signature),
            )
        try:
            with request.env.cr.savepoint():
                subscription.action_subscription_change_plan(plan, today)
        except (UserError, ValidationError) as error:
            return self._finnsys_subscription_refused(subscription, 400, error.args[0])
        return request.redirect(f"/my/subscriptions/{subscription.id}?done=plan")

    @subscription_action("cancel")
    def portal_billing_subscription_cancel(self, subscription_id, reason=None, note=None, **kw):
        """Cancel at the end of the invoiced period, with a reason from the list."""
        subscription = self._finnsys_subscription(subscription_id)
        if subscription.subscription_state not in CANCEL_STATES:
            return self._finnsys_subscription_refused(
                subscription, 403, request.env._("This subscription cannot be cancelled.")
            )
        note = (note or "").strip()
        if reason not in dict(CANCEL_REASONS) or len(note) > MAX_NOTE_LENGTH:
            return self._finnsys_subscription_refused(
                subscription,
                400,
                request.env._(
                    "Choose a reason from the list (and keep your comment under %s characters).",
                    MAX_NOTE_LENGTH,
                ),
            )
        subscription.action_subscription_cancel_at_period_end(reason, note or False)
        return request.redirect(f"/my/subscriptions/{subscription.id}?done=cancel")

    @subscription_action("undo-cancel")
    def portal_billing_subscription_undo_cancel(self, subscription_id, **kw):
        subscription = self._finnsys_subscription(subscription_id)
        if not subscription.finnsys_can_undo_cancel():
            return self._finnsys_subscription_refused(
                subscription,
                403,
                request.env._("This cancellation can no longer be undone."),
            )
        subscription.action_subscription_undo_cancel()
        return request.redirect(f"/my/subscriptions/{subscription.id}?done=undo")

    @subscription_action("payment-method")
    def portal_billing_subscription_token(self, subscription_id, token_id=None, **kw):
        """Pay the subscription with one of the company's saved methods, or the default."""
        subscription = self._finnsys_subscription(subscription_id)
        if subscription.subscription_state not in PAYMENT_TOKEN_STATES:
            return self._finnsys_subscription_refused(
                subscription,
                403,
                request.env._("The payment method of this subscription cannot be changed."),
            )
        token, refusal = chosen_token(token_id, self._finnsys_customer(), subscription.company_id)
        if refusal:
            return self._finnsys_subscription_refused(subscription, *refusal)
        if token != subscription.subscription_token_id:
            subscription.finnsys_set_payment_token(token)
        return request.redirect(f"/my/subscriptions/{subscription.id}?done=card")
