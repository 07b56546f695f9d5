import math
from contextlib import contextmanager

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, abort

from odoo import Command, fields, http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.fields import Domain
from odoo.http import request
from odoo.tools import consteq, hmac

from odoo.addons.account_payment.controllers import payment as account_payment_payment
from odoo.addons.account_payment.controllers import portal as account_payment_portal
from odoo.addons.portal.controllers.portal import pager as portal_pager

CUSTOMER_MOVE_TYPES = ("out_invoice", "out_refund")
PAYABLE_STATES = ("not_paid", "partial")
SETTLED_STATES = ("paid", "reversed")
RUNNING_TX_STATES = ("pending", "authorized")
MAX_BATCH_INVOICES = 50
# What Odoo's payment form always sends (null when empty) to a transaction route.
PAYMENT_FORM_KEYS = {
    "provider_id",
    "payment_method_id",
    "token_id",
    "flow",
    "tokenization_requested",
}


def terms_token(env, invoices, amount):
    """Signature that the customer ticked the terms for paying ``amount`` on ``invoices``."""
    ids = ",".join(str(invoice_id) for invoice_id in sorted(invoices.ids))
    return hmac(env(su=True), "finnsys_billing_portal.pay_terms", f"{ids}|{amount:.6f}")


def topup_token(env, customer, amount):
    """Signature that ``customer`` ticked the terms for topping up ``amount``."""
    return hmac(env(su=True), "finnsys_billing_portal.topup_terms", f"{customer.id}|{amount:.6f}")


def json_refusal(status, message):
    """Stop a JSON-RPC route with HTTP ``status`` and a JSON-RPC error carrying ``message``.

    Odoo answers every exception of a JSON-RPC route with a 200; a response passed to
    ``abort`` bypasses that handler (and the request's transaction is rolled back). The
    body keeps the JSON-RPC error shape, as Odoo's ``rpc()`` reads it whatever the status,
    so the payment form shows ``error.data.message`` to the customer.
    """
    body = {
        "jsonrpc": "2.0",
        "id": getattr(request.dispatcher, "request_id", None),
        "error": {
            "code": status,
            "message": message,
            "data": {"name": f"http.{status}", "message": message, "arguments": [message]},
        },
    }
    abort(request.make_json_response(body, status=status))


class BillingPortal(account_payment_portal.PortalAccount, account_payment_payment.PaymentPortal):
    """Customer portal of FinnSys Billing on top of Odoo's account and payment portals.

    One controller for both parents, so that the document access rule below applies to the
    invoice pages and to the invoice transaction route alike.
    """

    # ------------------------------------------------------------------
    # access: every contact of a customer sees the customer's documents
    # ------------------------------------------------------------------
    def _billing_customer(self):
        """The commercial partner of the logged-in portal user (sudo); empty for anyone else."""
        user = request.env.user
        if not user._is_portal():
            return request.env["res.partner"].sudo()
        return user.partner_id.commercial_partner_id.sudo()

    def _billing_documents_domain(self):
        return (
            Domain("commercial_partner_id", "=", self._billing_customer().id)
            & Domain("move_type", "in", CUSTOMER_MOVE_TYPES)
            & Domain("state", "=", "posted")
        )

    def _document_check_access(self, model_name, document_id, access_token=None):
        try:
            return super()._document_check_access(model_name, document_id, access_token)
        except AccessError:
            if model_name != "account.move" or not self._billing_customer():
                raise
            move_sudo = request.env["account.move"].sudo().browse(document_id)
            if not move_sudo.filtered_domain(self._billing_documents_domain()):
                raise
            return move_sudo

    # ------------------------------------------------------------------
    # dashboard
    # ------------------------------------------------------------------
    @http.route()
    def home(self, **kw):
        response = super().home(**kw)
        customer = self._billing_customer()
        if customer and hasattr(response, "qcontext"):
            response.qcontext.update(self._billing_dashboard_values(customer))
        return response

    def _billing_dashboard_values(self, customer):
        """Figures of the dashboard cards, read once from the customer's ledger."""
        Move = request.env["account.move"].sudo()
        open_domain = self._billing_tab_domains()["open"] & Domain("move_type", "=", "out_invoice")
        count, total = Move._read_group(open_domain, aggregates=["__count", "amount_residual:sum"])[
            0
        ]
        company = request.env.company
        return {
            "billing_customer": customer,
            "billing_open_count": count,
            "billing_open_total": total,
            "billing_currency": customer.currency_id or company.currency_id,
            "billing_support_email": company.billing_support_email or company.email,
            "billing_support_phone": company.billing_support_phone or company.phone,
            "billing_topup_url": "/my/topup" if customer.billing_mode == "prepaid" else False,
        }

    # ------------------------------------------------------------------
    # invoices
    # ------------------------------------------------------------------
    def _invoice_get_page_view_values(self, invoice, access_token, **kwargs):
        values = super()._invoice_get_page_view_values(invoice, access_token, **kwargs)
        if request.env.user._is_portal() and invoice.filtered_domain(
            self._billing_tab_domains()["open"] & Domain("move_type", "=", "out_invoice")
        ):
            # Customers pay through the amount and terms step, which Odoo's dialog skips.
            values["billing_pay_url"] = f"/my/invoices/{invoice.id}/pay"
        return values

    def _billing_running_domain(self):
        """Invoices being paid: a payment not yet matched with the bank, or a transaction
        still running or confirmed but not yet booked (the customer was charged already)."""
        unbooked = Domain("state", "=", "done") & Domain("is_post_processed", "=", False)
        return Domain("payment_state", "=", "in_payment") | Domain(
            "transaction_ids", "any", Domain("state", "in", RUNNING_TX_STATES) | unbooked
        )

    def _billing_tab_domains(self):
        base = self._billing_documents_domain()
        running = self._billing_running_domain()
        return {
            "all": base,
            "open": base & Domain("payment_state", "in", PAYABLE_STATES) & ~running,
            "progress": base & Domain("payment_state", "not in", SETTLED_STATES) & running,
            "paid": base & Domain("payment_state", "in", SETTLED_STATES),
        }

    def _billing_tabs(self):
        return {
            "all": request.env._("All"),
            "open": request.env._("Open"),
            "progress": request.env._("In Progress"),
            "paid": request.env._("Paid"),
        }

    def _billing_sortings(self):
        return {
            "date": {"label": request.env._("Date"), "order": "invoice_date desc, id desc"},
            "duedate": {
                "label": request.env._("Due Date"),
                "order": "invoice_date_due asc, id desc",
            },
            "amount": {
                "label": request.env._("Amount"),
                "order": "amount_total_signed desc, id desc",
            },
        }

    @http.route()
    def portal_my_invoices(
        self, page=1, date_begin=None, date_end=None, sortby=None, filterby=None, **kw
    ):
        if not self._billing_customer():
            return super().portal_my_invoices(
                page=page,
                date_begin=date_begin,
                date_end=date_end,
                sortby=sortby,
                filterby=filterby,
                **kw,
            )
        values = self._prepare_portal_layout_values()
        values.update(
            self._billing_invoices_values(page, sortby, filterby, kw.get("search"), kw.get("plan"))
        )
        return request.render("finnsys_billing_portal.portal_my_invoices", values)

    def _billing_plans(self):
        """The subscription plans on the customer's documents, when subscriptions exist."""
        Move = request.env["account.move"].sudo()
        if "plan_id" not in Move._fields:
            return []
        domain = self._billing_documents_domain() & Domain("plan_id", "!=", False)
        return [plan for (plan,) in Move._read_group(domain, ["plan_id"], order="plan_id")]

    def _billing_invoices_values(self, page, sortby, tab, search, plan=None):
        Move = request.env["account.move"].sudo()
        tabs = self._billing_tab_domains()
        tab = tab if tab in tabs else "all"
        sortings = self._billing_sortings()
        sortby = sortby if sortby in sortings else "date"
        search = (search or "").strip()
        search_domain = Domain("name", "ilike", search) if search else Domain.TRUE
        plans = self._billing_plans()
        plan = next((p for p in plans if str(p.id) == str(plan)), None)
        if plan:
            search_domain &= Domain("plan_id", "=", plan.id)
        counts = {key: Move.search_count(domain & search_domain) for key, domain in tabs.items()}
        domain = tabs[tab] & search_domain
        pager = portal_pager(
            url="/my/invoices",
            url_args={
                "filterby": tab,
                "sortby": sortby,
                "search": search,
                "plan": plan.id if plan else "",
            },
            total=counts[tab],
            page=page,
            step=self._items_per_page,
        )
        invoices = Move.search(
            domain,
            order=sortings[sortby]["order"],
            limit=self._items_per_page,
            offset=pager["offset"],
        )
        running = Move.search(Domain("id", "in", invoices.ids) & self._billing_running_domain())
        request.session["my_invoices_history"] = invoices.ids[:100]
        return {
            "page_name": "invoice",
            "invoices": invoices,
            "running_ids": set(running.ids),
            "pager": pager,
            "billing_tabs": self._billing_tabs(),
            "billing_counts": counts,
            "filterby": tab,
            "sortby": sortby,
            "billing_sortings": sortings,
            "search": search,
            "billing_plans": plans,
            "billing_plan": plan,
            "default_url": "/my/invoices",
            "overdue_invoice_count": 0,
        }

    # ------------------------------------------------------------------
    # paying open invoices, one or several at once
    # ------------------------------------------------------------------
    @staticmethod
    def _billing_invoice_ids(raw):
        """The invoice ids of ``raw`` (a list of ids, or "12,13"), in the order given.

        :raise UserError: no id, an id that is not a number, too many ids, or a duplicate
        """
        if isinstance(raw, str):
            raw = raw.split(",")
        items = [str(item).strip() for item in raw or []]
        ids = [int(item) if item.isascii() and item.isdigit() else 0 for item in items]
        if not ids:
            raise UserError(request.env._("Please select the invoices to pay."))
        if not all(0 < invoice_id < 2**31 for invoice_id in ids):
            raise UserError(
                request.env._("This selection of invoices is not valid: reload the page.")
            )
        if len(ids) > MAX_BATCH_INVOICES:
            raise UserError(
                request.env._(
                    "Please select at most %(count)s invoices to pay at once.",
                    count=MAX_BATCH_INVOICES,
                )
            )
        if len(set(ids)) != len(ids):
            raise UserError(request.env._("Please select each invoice only once."))
        return ids

    def _billing_payable_invoices(self, invoice_ids):
        """The customer's open invoices ``invoice_ids`` (sudo), which can be paid together.

        :raise NotFound: an id that is not an invoice of the logged-in customer
        :raise UserError: a bad selection, an invoice that cannot be paid (paid, cancelled,
            payment under way) or invoices of several currencies or companies
        """
        if not self._billing_customer():
            raise NotFound()
        ids = self._billing_invoice_ids(invoice_ids)
        invoices = (
            request.env["account.move"]
            .sudo()
            .search(
                Domain("commercial_partner_id", "=", self._billing_customer().id)
                & Domain("move_type", "=", "out_invoice")
                & Domain("state", "in", ("posted", "cancel"))
                & Domain("id", "in", ids),
                order="id",
            )
        )
        if len(invoices) != len(ids):
            raise NotFound()
        closed = invoices - invoices.filtered_domain(self._billing_tab_domains()["open"])
        if closed:
            raise UserError(
                request.env._(
                    "%(names)s cannot be paid online: paid, cancelled or a payment is already"
                    " under way.",
                    names=", ".join(closed.mapped("name")),
                )
            )
        if len(invoices.currency_id) > 1 or len(invoices.company_id) > 1:
            raise UserError(
                request.env._(
                    "These invoices are in several currencies or companies: pay them separately."
                )
            )
        return invoices

    @staticmethod
    def _billing_parse_money(raw, currency, not_a_number):
        """``raw`` as a finite float with no more decimals than ``currency`` allows.

        The browser's figure is text: "abc", "NaN", "inf" and 0.001 are refused here, before
        any rule about the amount itself.
        """
        try:
            amount = float(raw)
        except (TypeError, ValueError):
            amount = math.nan
        if not math.isfinite(amount):
            raise UserError(not_a_number)
        if abs(amount - currency.round(amount)) > 1e-9:
            raise UserError(
                request.env._(
                    "Please enter the amount with at most %(digits)s decimals.",
                    digits=currency.decimal_places,
                )
            )
        return amount

    @staticmethod
    def _billing_parse_amount(raw, invoices):
        """The amount ``raw`` to pay on ``invoices`` as a float.

        One invoice can be paid in part (0 < amount <= residual); several invoices are paid
        together for their whole residual, so each of them ends up paid.

        :raise UserError: with a sentence the customer can act on
        """
        currency = invoices.currency_id
        residual = currency.round(sum(invoices.mapped("amount_residual")))
        if len(invoices) > 1:
            if not BillingPortal._billing_same_amount(raw, residual, currency):
                raise UserError(
                    request.env._(
                        "These invoices total %(total)s and are paid in full together: reload"
                        " the page to pay them.",
                        total=currency.format(residual),
                    )
                )
            return residual
        amount = BillingPortal._billing_parse_money(
            raw, currency, request.env._("Please enter the amount to pay as a number.")
        )
        if currency.compare_amounts(amount, 0.0) <= 0:
            raise UserError(request.env._("Please enter an amount greater than zero."))
        if currency.compare_amounts(amount, residual) > 0:
            raise UserError(
                request.env._(
                    "Please enter at most %(residual)s, the amount still due.",
                    residual=currency.format(residual),
                )
            )
        return currency.round(amount)

    @http.route(
        "/my/invoices/<int:invoice_id>/pay",
        type="http",
        auth="user",
        methods=["GET", "POST"],
        website=True,
        sitemap=False,
    )
    def portal_billing_invoice_pay(self, invoice_id, amount=None, terms=None, **kw):
        """Step 1 chooses the amount and ticks the terms; step 2 shows Odoo's payment form."""
        return self._billing_pay_page(
            [invoice_id], amount, terms, "finnsys_billing_portal.portal_invoice_pay"
        )

    @http.route(
        "/my/invoices/pay",
        type="http",
        auth="user",
        methods=["GET", "POST"],
        website=True,
        sitemap=False,
    )
    def portal_billing_invoices_pay(self, amount=None, terms=None, **kw):
        """The invoices ticked on the Open tab (``invoice_ids``), paid in full together."""
        return self._billing_pay_page(
            request.httprequest.values.getlist("invoice_ids"),
            amount,
            terms,
            "finnsys_billing_portal.portal_invoices_pay",
        )

    def _billing_pay_page(self, invoice_ids, amount, terms, template):
        try:
            invoices = self._billing_payable_invoices(invoice_ids)
        except UserError as error:
            return request.render(
                "finnsys_billing_portal.portal_invoice_pay_error",
                {"page_name": "billing_pay", "error": error.args[0]},
                status=400,
            )
        total = invoices.currency_id.round(sum(invoices.mapped("amount_residual")))
        values = {
            "page_name": "billing_pay",
            "invoice": invoices[:1],
            "invoices": invoices,
            "total": total,
            "amount": total,
        }
        if request.httprequest.method == "GET":
            return request.render(template, values)
        try:
            values["amount"] = amount
            values["amount"] = self._billing_parse_amount(amount, invoices)
            if not terms:
                raise UserError(request.env._("Please accept the terms and conditions to pay."))
        except UserError as error:
            values.update(error=error.args[0], terms=bool(terms))
            return request.render(template, values, status=400)
        return request.render(
            "finnsys_billing_portal.portal_invoice_pay_form",
            values | self._billing_payment_form_values(invoices, values["amount"]),
        )

    @staticmethod
    def _billing_pay_routes(invoices):
        """The transaction and surcharge routes of a payment of ``invoices``."""
        if len(invoices) == 1:
            return f"/invoice/transaction/{invoices.id}", f"/my/invoices/{invoices.id}/surcharge"
        base = "/my/invoices/pay/" + ",".join(str(invoice_id) for invoice_id in invoices.ids)
        return f"{base}/transaction", f"{base}/surcharge"

    def _billing_payment_form_values(self, invoices, amount):
        customer = self._billing_customer()
        transaction_route, surcharge_route = self._billing_pay_routes(invoices)
        values = self._get_common_page_view_values(
            invoices_data={
                "partner": customer,
                "company": invoices.company_id,
                "total_amount": amount,
                "currency": invoices.currency_id,
                "amount_residual": sum(invoices.mapped("amount_residual")),
                "landing_route": "/my/invoices",
                "transaction_route": transaction_route,
            },
        )
        # Cards are saved on the customer; Odoo only offers the contact's own tokens.
        values["tokens_sudo"] |= (
            request.env["payment.token"]
            .sudo()
            .search(
                Domain("provider_id", "in", values["providers_sudo"].ids)
                & Domain("partner_id", "child_of", customer.id)
            )
        )
        values.update(
            amount=amount,
            surcharge_route=surcharge_route,
            access_token=terms_token(request.env, invoices, amount),
            billing_form=True,
        )
        return values

    # ------------------------------------------------------------------
    # transaction routes: every refusal is a 4xx with a message
    # ------------------------------------------------------------------
    @contextmanager
    def _billing_json_refusals(self):
        """Answer the refusals of a JSON route with a 4xx status and a message the payment
        form shows; the request's transaction is rolled back, so nothing is created."""
        try:
            yield
        except (NotFound, MissingError):
            json_refusal(
                404,
                request.env._(
                    "This invoice or payment method was not found: reload the page and pay again."
                ),
            )
        except (Forbidden, AccessError) as error:
            json_refusal(403, str(error.args[0]) if error.args else "")
        except UserError as error:
            json_refusal(400, error.args[0])
        except BadRequest as error:
            json_refusal(400, error.description)

    @staticmethod
    def _billing_check_csrf(params):
        if not request.validate_csrf(params.get("csrf_token")):
            raise BadRequest(request.env._("Your session expired: reload the page and pay again."))

    @http.route()
    def invoice_transaction(self, invoice_id, access_token, **kwargs):
        """Check every figure of a customer's payment before Odoo creates the transaction.

        Odoo's route takes any amount; for billing customers the amount must be a valid part
        of the residual, the terms signature must match it, the CSRF token must be valid and
        a saved token must be the customer's own.
        """
        if not self._billing_customer():
            return super().invoice_transaction(invoice_id, access_token, **kwargs)
        with self._billing_json_refusals():
            return self._billing_invoices_transaction([invoice_id], access_token, kwargs)

    @http.route("/my/invoices/pay/<string:invoice_ids>/transaction", type="jsonrpc", auth="user")
    def portal_billing_invoices_transaction(self, invoice_ids, access_token=None, **kwargs):
        """One transaction paying the whole residual of several invoices ("12,13")."""
        with self._billing_json_refusals():
            return self._billing_invoices_transaction(invoice_ids, access_token, kwargs)

    def _billing_invoices_transaction(self, invoice_ids, access_token, kwargs):
        self._billing_check_csrf(kwargs)
        # Two payments of the customer at once: the second is retried once the first is
        # committed and then finds the invoices under way.
        self._billing_customer()._billing_lock()
        invoices, amount, rule, method, surcharge = self._billing_surcharge_quote(
            invoice_ids, kwargs.get("amount"), access_token, kwargs
        )
        currency = invoices.currency_id
        offered = kwargs.pop("surcharge", None)
        if surcharge and not self._billing_same_amount(offered, surcharge, currency):
            raise UserError(
                request.env._(
                    "The surcharge for this payment is %(surcharge)s: reload the page and accept"
                    " it to pay.",
                    surcharge=currency.format(surcharge),
                )
            )
        kwargs["amount"] = currency.round(amount + surcharge)
        tx = self._billing_create_transaction(
            currency, invoices, None, kwargs, allowed_keys={"name_next_installment"}
        )
        if surcharge:
            tx.finnsys_surcharge_consent_id = self._billing_record_consent(
                "accepted", invoices, rule, method, amount, surcharge, tx
            )
        return tx._get_processing_values()

    def _billing_create_transaction(self, currency, invoices, prefix, kwargs, allowed_keys=()):
        """Create the transaction of checked ``kwargs``; it lands on the payment page."""
        self._validate_transaction_kwargs(kwargs, additional_allowed_keys=allowed_keys)
        if not PAYMENT_FORM_KEYS <= kwargs.keys():
            # Odoo's _create_transaction would fail with a TypeError: a server error.
            raise BadRequest(
                request.env._("The payment form is incomplete: reload the page and pay again.")
            )
        kwargs.pop("csrf_token", None)
        kwargs.update(
            currency_id=currency.id,
            partner_id=request.env.user.partner_id.id,
            reference_prefix=prefix,
            landing_route="/my/invoices",
        )
        tx = self._create_transaction(
            custom_create_values={"invoice_ids": [Command.set(invoices.ids)]} if invoices else None,
            **kwargs,
        )
        tx.landing_route = f"/my/payments/{tx.id}"
        return tx

    @http.route()
    def overdue_invoices_transaction(self, payment_reference, **kwargs):
        """Odoo's "pay all overdue invoices" takes the browser's amount as it comes, and only
        finds invoices addressed to the contact itself. A billing customer pays exactly the
        overdue residual of the whole company, computed here, with a valid CSRF token and,
        for a saved card, one of the customer's own."""
        customer = self._billing_customer()
        if not customer:
            return super().overdue_invoices_transaction(payment_reference, **kwargs)
        with self._billing_json_refusals():
            self._billing_check_csrf(kwargs)
            customer._billing_lock()  # a second payment at once waits, then sees this one
            overdue = (
                request.env["account.move"]
                .sudo()
                .search(
                    self._billing_documents_domain()
                    & Domain("move_type", "=", "out_invoice")
                    & Domain("payment_state", "in", ("not_paid", "partial"))
                    & Domain("invoice_date_due", "<", fields.Date.context_today(customer))
                )
            )
            if not overdue:
                raise UserError(request.env._("You have no overdue invoice to pay."))
            if overdue.filtered_domain(self._billing_running_domain()):
                raise UserError(
                    request.env._(
                        "A payment of one of your overdue invoices is under way: pay the others"
                        " from the Open tab of your invoices."
                    )
                )
            currency = overdue.currency_id
            if len(currency) != 1:
                raise UserError(
                    request.env._("Your overdue invoices are in several currencies: pay each one.")
                )
            total = currency.round(sum(overdue.mapped("amount_residual")))
            if not self._billing_same_amount(kwargs.get("amount"), total, currency):
                raise UserError(
                    request.env._(
                        "Your overdue invoices total %(total)s: reload the page to pay them.",
                        total=currency.format(total),
                    )
                )
            kwargs["amount"] = total
            method = self._billing_payment_method(kwargs)
            Rule = request.env["finnsys.surcharge.rule"].sudo()
            country = customer.country_id
            rules = Rule.union(*(Rule._find(c, method, country) for c in overdue.company_id))
            if any(rule._compute_surcharge(total, currency) for rule in rules):
                # This page has no surcharge consent: the Open tab shows and books it.
                raise UserError(
                    request.env._(
                        "Paying with %(method)s carries a surcharge: pay your overdue invoices"
                        " from the Open tab of your invoices, where it is shown before you pay.",
                        method=method.name,
                    )
                )
            tx = self._billing_create_transaction(currency, overdue, payment_reference, kwargs)
            return tx._get_processing_values()

    def _billing_payment_method(self, params):
        """The payment method of the chosen saved token or new method (sudo); 404 if foreign."""
        token_id = self._cast_as_int(params.get("token_id"))
        if token_id:
            token = request.env["payment.token"].sudo().browse(token_id).exists()
            if token.partner_id.commercial_partner_id != self._billing_customer():
                raise NotFound()
            return token.payment_method_id
        method_id = self._cast_as_int(params.get("payment_method_id"))
        return request.env["payment.method"].sudo().browse(method_id or []).exists()

    @staticmethod
    def _billing_same_amount(raw, expected, currency):
        """Whether the browser's ``raw`` figure is exactly ``expected``: 150.001 is not 150.00,
        although the currency rounds it so (as on the pay page, extra decimals are refused)."""
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return False
        return (
            math.isfinite(value)
            and abs(value - currency.round(value)) <= 1e-9
            and not currency.compare_amounts(value, expected)
        )

    def _billing_record_consent(self, state, invoices, rule, method, amount, surcharge, tx=None):
        # A consent names one invoice: the first one of a payment of several.
        invoice = invoices[:1]
        return (
            request.env["finnsys.surcharge.consent"]
            .sudo()
            .create(
                {
                    "state": state,
                    "partner_id": invoice.commercial_partner_id.id,
                    "user_id": request.env.user.id,
                    "invoice_id": invoice.id,
                    "rule_id": rule.id,
                    "payment_method_id": method.id,
                    "transaction_id": tx.id if tx else False,
                    "currency_id": invoice.currency_id.id,
                    "amount": amount,
                    "surcharge": surcharge,
                    "total": invoice.currency_id.round(amount + surcharge),
                    "ip_address": request.httprequest.remote_addr,
                }
            )
        )

    def _billing_surcharge_quote(self, invoice_ids, amount, access_token, params):
        """Invoices, amount, rule, method and surcharge of a payment about to be made."""
        invoices = self._billing_payable_invoices(invoice_ids)
        amount = self._billing_parse_amount(amount, invoices)
        if not consteq(str(access_token), terms_token(request.env, invoices, amount)):
            raise UserError(
                request.env._("Please accept the terms and conditions for this amount to pay.")
            )
        method = self._billing_payment_method(params)
        rule = request.env["finnsys.surcharge.rule"]._find(
            invoices.company_id, method, invoices.commercial_partner_id.country_id
        )
        return invoices, amount, rule, method, rule._compute_surcharge(amount, invoices.currency_id)

    @http.route(
        [
            "/my/invoices/<int:invoice_id>/surcharge",
            "/my/invoices/pay/<string:invoice_ids>/surcharge",
        ],
        type="jsonrpc",
        auth="user",
    )
    def portal_billing_surcharge(
        self, invoice_id=None, invoice_ids=None, amount=None, access_token=None, **params
    ):
        """The surcharge the customer must accept before paying, with the figures to show."""
        with self._billing_json_refusals():
            invoices, amount, __, __, surcharge = self._billing_surcharge_quote(
                [invoice_id] if invoice_id else invoice_ids, amount, access_token, params
            )
        currency = invoices.currency_id
        return {
            "surcharge": surcharge,
            "amount_display": currency.format(amount),
            "surcharge_display": currency.format(surcharge),
            "total_display": currency.format(amount + surcharge),
        }

    @http.route(
        [
            "/my/invoices/<int:invoice_id>/surcharge/decline",
            "/my/invoices/pay/<string:invoice_ids>/surcharge/decline",
        ],
        type="jsonrpc",
        auth="user",
    )
    def portal_billing_surcharge_decline(
        self, invoice_id=None, invoice_ids=None, amount=None, access_token=None, **params
    ):
        """Record that the customer refused the surcharge; nothing is charged."""
        with self._billing_json_refusals():
            self._billing_check_csrf(params)
            invoices, amount, rule, method, surcharge = self._billing_surcharge_quote(
                [invoice_id] if invoice_id else invoice_ids, amount, access_token, params
            )
        if surcharge:
            self._billing_record_consent("declined", invoices, rule, method, amount, surcharge)
        return {"message": request.env._("The payment was not completed.")}

    # ------------------------------------------------------------------
    # landing page of a payment
    # ------------------------------------------------------------------
    @http.route("/my/payments/<int:tx_id>", type="http", auth="user", website=True, sitemap=False)
    def portal_billing_payment(self, tx_id, **kw):
        """Where Odoo's payment status page sends the customer once the payment is processed:
        amount, reference, the balance read from the ledger now, and the invoices paid."""
        customer = self._billing_customer()
        tx = request.env["payment.transaction"].sudo().browse(tx_id).exists()
        if not customer or tx.partner_id.commercial_partner_id != customer:
            raise NotFound()
        company = tx.company_id
        invoices = tx.invoice_ids.filtered_domain(self._billing_documents_domain())
        running = invoices.filtered_domain(self._billing_running_domain())
        return request.render(
            "finnsys_billing_portal.portal_payment",
            {
                "page_name": "billing_payment",
                "tx": tx,
                "customer": customer,
                "balance": customer.with_company(company).billing_balance,
                "balance_currency": company.currency_id,
                "invoices": invoices,
                "running_ids": set(running.ids),
            },
        )

    # ------------------------------------------------------------------
    # top-up of a prepaid balance
    # ------------------------------------------------------------------
    def _billing_prepaid_customer(self):
        customer = self._billing_customer()
        if not customer or customer.billing_mode != "prepaid":
            raise NotFound()
        return customer

    @staticmethod
    def _billing_parse_topup(raw, company):
        """The top-up ``raw`` as a float within the company's portal range.

        :raise UserError: with a sentence the customer can act on
        """
        currency = company.currency_id
        amount = BillingPortal._billing_parse_money(
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
        customer = self._billing_prepaid_customer()
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
            values["amount"] = self._billing_parse_topup(amount, company)
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
        form_values["tokens_sudo"] |= (
            request.env["payment.token"]
            .sudo()
            .search(
                Domain("provider_id", "in", form_values["providers_sudo"].ids)
                & Domain("partner_id", "child_of", customer.id)
            )
        )
        form_values.update(
            amount=values["amount"],
            access_token=topup_token(request.env, customer, values["amount"]),
            billing_form=True,
        )
        return request.render("finnsys_billing_portal.portal_topup_form", values | form_values)

    @http.route("/my/topup/transaction", type="jsonrpc", auth="user")
    def portal_billing_topup_transaction(self, access_token=None, **kwargs):
        """Create the transaction of a top-up; its payment becomes credit on the balance."""
        with self._billing_json_refusals():
            customer = self._billing_prepaid_customer()
            self._billing_check_csrf(kwargs)
            company = request.env.company
            amount = self._billing_parse_topup(kwargs.get("amount"), company)
            if not consteq(str(access_token), topup_token(request.env, customer, amount)):
                raise UserError(
                    request.env._("Please accept the terms and conditions for this amount to pay.")
                )
            self._billing_payment_method(kwargs)
            kwargs["amount"] = amount
            tx = self._billing_create_transaction(
                company.currency_id, request.env["account.move"], f"TOPUP-{customer.id}", kwargs
            )
            return tx._get_processing_values()
