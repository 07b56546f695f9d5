from contextlib import contextmanager

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, abort

from odoo import fields, http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.fields import Domain
from odoo.http import request
from odoo.tools import consteq

from odoo.addons.account_payment.controllers import payment as account_payment_payment
from odoo.addons.account_payment.controllers import portal as account_payment_portal
from odoo.addons.finnsys_billing.models.ir_http import served_from_replica
from odoo.addons.payment import utils as payment_utils
from odoo.addons.portal.controllers.portal import pager as portal_pager

from .payment_intent import (
    PaymentIntent,
    as_int,
    parse_money,
    same_amount,
    terms_token,
    topup_token,
)

__all__ = ["BillingPortal", "json_refusal", "terms_token", "topup_token"]

CUSTOMER_MOVE_TYPES = ("out_invoice", "out_refund")
PAYABLE_STATES = ("not_paid", "partial")
SETTLED_STATES = ("paid", "reversed")
RUNNING_TX_STATES = ("pending", "authorized")
MAX_BATCH_INVOICES = 50
# Refused surcharges stored per customer and hour; more is someone scripting the route.
MAX_DECLINES_PER_HOUR = 20


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

    def _billing_documents_domain(self, customer=None):
        """The posted documents of ``customer``, by default the logged-in one."""
        customer = customer or self._billing_customer()
        return (
            Domain("commercial_partner_id", "=", customer.id)
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
    @http.route(readonly=served_from_replica)
    def home(self, **kw):
        response = super().home(**kw)
        customer = self._billing_customer()
        if customer and hasattr(response, "qcontext"):
            response.qcontext.update(self._billing_dashboard_values(customer))
        return response

    def _billing_dashboard_values(self, customer):
        """Figures of the dashboard cards, from the ledger query of the invoice tabs."""
        figures = self._billing_figures(customer)
        company = request.env.company
        return {
            "billing_customer": customer,
            "billing_figures": figures,
            "billing_open_count": figures["open_count"],
            "billing_open_total": figures["open_total"],
            "billing_currency": company.currency_id,
            "billing_support_email": company.billing_support_email or company.email,
            "billing_support_phone": company.billing_support_phone or company.phone,
            "billing_topup_url": "/my/topup" if customer.billing_mode == "prepaid" else False,
        }

    @staticmethod
    def _billing_figures(customer, domain=None):
        """The account's figures (``finnsys.billing.account.finnsys_customer_figures``) in
        the current company; ``domain`` narrows the documents the tabs count."""
        Account = request.env["finnsys.billing.account"].sudo()
        return Account.finnsys_customer_figures(customer, domain=domain)[customer.id]

    # ------------------------------------------------------------------
    # invoices
    # ------------------------------------------------------------------
    def _invoice_get_page_view_values(self, invoice, access_token, **kwargs):
        values = super()._invoice_get_page_view_values(invoice, access_token, **kwargs)
        customer = invoice.sudo().commercial_partner_id
        visitor = not self._billing_customer()
        open_domain = self._billing_tab_domains(customer)["open"]
        if invoice.filtered_domain(open_domain & Domain("move_type", "=", "out_invoice")):
            # Everyone pays through the amount and terms step, which Odoo's dialog skips; the
            # e-mailed link (a visitor) keeps its access token.
            url = f"/my/invoices/{invoice.id}/pay"
            token = visitor and access_token
            values["billing_pay_url"] = f"{url}?access_token={token}" if token else url
        return values

    def _billing_running_domain(self, customer=None):
        """Invoices being paid: a payment not yet matched with the bank, or payments under way
        (a transaction still running, or confirmed but not yet booked: the customer was
        charged already) that cover all that is left to pay. A smaller payment under way
        leaves the invoice payable for the rest."""
        unbooked = Domain("state", "=", "done") & Domain("is_post_processed", "=", False)
        running_tx = Domain("state", "in", RUNNING_TX_STATES) | unbooked
        candidates = (
            request.env["account.move"]
            .sudo()
            .search(
                self._billing_documents_domain(customer)
                & Domain("payment_state", "in", PAYABLE_STATES)
                & Domain("transaction_ids", "any", running_tx)
            )
        )
        payable = candidates.finnsys_amount_payable()
        covered = candidates.filtered(
            lambda move: move.currency_id.compare_amounts(payable[move.id], 0.0) <= 0
        )
        return Domain("payment_state", "=", "in_payment") | Domain("id", "in", covered.ids)

    def _billing_tab_domains(self, customer=None):
        base = self._billing_documents_domain(customer)
        running = self._billing_running_domain(customer)
        return {
            "all": base,
            "open": base
            & Domain("move_type", "=", "out_invoice")
            & Domain("payment_state", "in", PAYABLE_STATES)
            & ~running,
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

    @http.route(readonly=served_from_replica)
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
        figures = self._billing_figures(self._billing_customer(), search_domain)
        counts = {key: count for key, (count, _amount) in figures["tabs"].items()}
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
            "under_way": invoices.finnsys_amount_under_way(),
            "pager": pager,
            "billing_tabs": self._billing_tabs(),
            "billing_counts": counts,
            "billing_tab_totals": {
                key: amount for key, (_count, amount) in figures["tabs"].items()
            },
            "billing_currency": request.env.company.currency_id,
            "today": fields.Date.context_today(request.env.user),
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

    def _billing_payable_invoices(self, invoice_ids, customer=None):
        """The open invoices ``invoice_ids`` of ``customer`` (by default the logged-in one;
        sudo), which can be paid together.

        :raise NotFound: an id that is not an invoice of the customer
        :raise UserError: a bad selection, an invoice that cannot be paid (paid, cancelled,
            payments under way that cover it) or invoices of several currencies or companies
        """
        customer = customer or self._billing_customer()
        if not customer:
            raise NotFound()
        ids = self._billing_invoice_ids(invoice_ids)
        invoices = (
            request.env["account.move"]
            .sudo()
            .search(
                Domain("commercial_partner_id", "=", customer.id)
                & Domain("move_type", "=", "out_invoice")
                & Domain("state", "in", ("posted", "cancel"))
                & Domain("id", "in", ids),
                order="id",
            )
        )
        if len(invoices) != len(ids):
            raise NotFound()
        closed = invoices - invoices.filtered_domain(self._billing_tab_domains(customer)["open"])
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

    @http.route(
        "/my/invoices/<int:invoice_id>/pay",
        type="http",
        auth="public",
        methods=["GET", "POST"],
        website=True,
        sitemap=False,
    )
    def portal_billing_invoice_pay(
        self, invoice_id, amount=None, terms=None, access_token=None, **kw
    ):
        """Step 1 chooses the amount and ticks the terms; step 2 shows Odoo's payment form.

        A logged-in customer pays its own invoice; anyone else needs the invoice's access
        token, as in the "Pay online" link of the e-mails.
        """
        customer = self._billing_customer()
        if customer:
            return self._billing_pay_page(
                [invoice_id], amount, terms, "finnsys_billing_portal.portal_invoice_pay", customer
            )
        try:
            invoice = self._document_check_access("account.move", invoice_id, access_token)
        except (AccessError, MissingError):
            if request.env.user._is_public():
                return request.redirect(f"/web/login?redirect=/my/invoices/{invoice_id}")
            raise NotFound() from None
        return self._billing_pay_page(
            [invoice_id],
            amount,
            terms,
            "finnsys_billing_portal.portal_invoice_pay",
            invoice.sudo().commercial_partner_id,
            visitor=True,
            link_token=access_token,
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
            self._billing_customer(),
        )

    def _billing_pay_page(
        self, invoice_ids, amount, terms, template, customer, visitor=False, link_token=None
    ):
        """``visitor``: someone paying the invoice of another, through the e-mailed link
        (``link_token``, the invoice's access token) or from the backend's preview."""
        try:
            invoices = self._billing_payable_invoices(invoice_ids, customer)
        except UserError as error:
            return request.render(
                "finnsys_billing_portal.portal_invoice_pay_error",
                {"page_name": "billing_pay", "error": error.args[0]},
                status=400,
            )
        payable = invoices.finnsys_amount_payable()
        total = invoices.currency_id.round(sum(payable.values()))
        values = {
            "page_name": "billing_pay",
            "invoice": invoices[:1],
            "invoices": invoices,
            "total": total,
            "amount": total,
            "under_way": invoices.currency_id.round(
                sum(invoices.mapped("amount_residual")) - total
            ),
            "link_token": link_token,
        }
        if request.httprequest.method == "GET":
            return request.render(template, values)
        try:
            values["amount"] = amount
            intent = PaymentIntent.for_invoices(request.env, customer, invoices, amount)
            values["amount"] = intent.amount
            if not terms:
                raise UserError(request.env._("Please accept the terms and conditions to pay."))
        except UserError as error:
            values.update(error=error.args[0], terms=bool(terms))
            return request.render(template, values, status=400)
        return request.render(
            "finnsys_billing_portal.portal_invoice_pay_form",
            values | self._billing_payment_form_values(intent, visitor=visitor),
        )

    @staticmethod
    def _billing_customer_tokens(form_values, customer):
        """The customer company's saved tokens for the form's providers: cards are saved on
        the company, and Odoo only offers the logged-in contact's own."""
        return (
            request.env["payment.token"]
            .sudo()
            .search(
                Domain("provider_id", "in", form_values["providers_sudo"].ids)
                & Domain("partner_id", "child_of", customer.id)
            )
        )

    @staticmethod
    def _billing_pay_routes(invoices):
        """The transaction and surcharge routes of a payment of ``invoices``."""
        if len(invoices) == 1:
            return f"/invoice/transaction/{invoices.id}", f"/my/invoices/{invoices.id}/surcharge"
        base = "/my/invoices/pay/" + ",".join(str(invoice_id) for invoice_id in invoices.ids)
        return f"{base}/transaction", f"{base}/surcharge"

    def _billing_payment_form_values(self, intent, visitor=False):
        invoices, customer = intent.invoices, intent.customer
        transaction_route, surcharge_route = self._billing_pay_routes(invoices)
        values = self._get_common_page_view_values(
            invoices_data={
                "partner": invoices.partner_id[:1] if visitor else customer,
                "company": intent.company,
                "total_amount": intent.amount,
                "currency": intent.currency,
                "amount_residual": intent.amount,
                "landing_route": "/my/invoices",
                "transaction_route": transaction_route,
            },
        )
        if visitor:
            # Someone with the link may pay, but neither use nor save the customer's cards.
            values["tokens_sudo"] = request.env["payment.token"].sudo()
            values["show_tokenize_input_mapping"] = dict.fromkeys(
                values["show_tokenize_input_mapping"], False
            )
        else:
            # Cards are saved on the customer; Odoo only offers the contact's own tokens.
            values["tokens_sudo"] |= self._billing_customer_tokens(values, customer)
        values.update(
            amount=intent.amount,
            surcharge_route=surcharge_route,
            access_token=terms_token(request.env, invoices, intent.amount),
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

    def _billing_payer(self, invoice_ids, raw_amount, access_token):
        """Who pays ``invoice_ids``: (the customer, whether a visitor pays it).

        A logged-in customer pays its own invoices. Anyone else pays one invoice through its
        e-mailed link: the pay page of that link signed the amount, and that signature is
        checked first, so someone without it learns nothing about the invoice.
        """
        customer = self._billing_customer()
        if customer:
            return customer, False
        ids = invoice_ids if isinstance(invoice_ids, list) and len(invoice_ids) == 1 else [0]
        invoice = request.env["account.move"].sudo().browse(as_int(ids[0])).exists()
        try:
            signed = consteq(
                str(access_token), terms_token(request.env, invoice, float(raw_amount))
            )
        except (TypeError, ValueError):
            signed = False
        if not invoice or not signed:
            raise NotFound()
        return invoice.commercial_partner_id, True

    def _billing_intent(self, invoice_ids, raw_amount, access_token, params, lock=False):
        """The payment of ``invoice_ids`` as the server decides it, from the figures and
        choices the payment form sent (``params``); ``lock`` the customer first, before what
        is left to pay is read."""
        customer, visitor = self._billing_payer(invoice_ids, raw_amount, access_token)
        if lock:
            # Two payments of the customer at once: the second is retried once the first is
            # committed and then finds the invoices under way.
            customer.finnsys_lock_customers()
        invoices = self._billing_payable_invoices(invoice_ids, customer)
        intent = PaymentIntent.for_invoices(request.env, customer, invoices, raw_amount, visitor)
        intent.check_terms(access_token)
        intent.choose_method(params)
        intent.compute_surcharge()
        return intent

    @http.route()
    def invoice_transaction(self, invoice_id, access_token=None, **kwargs):
        """Every payment of one invoice: a customer's, and the e-mailed link's.

        Odoo's route takes any amount; here the amount must be a valid part of what is left to
        pay, the terms signature must match it, the CSRF token must be valid, the method must
        be one the provider takes and a saved token the customer's own (never a visitor's).
        Staff paying from the backend's preview pay the same way.
        """
        with self._billing_json_refusals():
            return self._billing_invoices_transaction([invoice_id], access_token, kwargs)

    @http.route("/my/invoices/pay/<string:invoice_ids>/transaction", type="jsonrpc", auth="user")
    def portal_billing_invoices_transaction(self, invoice_ids, access_token=None, **kwargs):
        """One transaction paying the whole residual of several invoices ("12,13")."""
        with self._billing_json_refusals():
            return self._billing_invoices_transaction(invoice_ids, access_token, kwargs)

    def _billing_invoices_transaction(self, invoice_ids, access_token, kwargs):
        self._billing_check_csrf(kwargs)
        offered = kwargs.pop("surcharge", None)
        intent = self._billing_intent(
            invoice_ids, kwargs.get("amount"), access_token, kwargs, lock=True
        )
        intent.check_surcharge(offered)
        partner = intent.invoices.partner_id[:1] if intent.visitor else request.env.user.partner_id
        tx = self._billing_create_transaction(
            intent, partner, None, kwargs, allowed_keys={"name_next_installment"}
        )
        if intent.surcharge:
            tx.finnsys_surcharge_consent_id = intent.record_consent(
                "accepted", request.env.user, request.httprequest.remote_addr, tx
            )
        return tx._get_processing_values()

    def _billing_create_transaction(self, intent, partner, prefix, kwargs, allowed_keys=()):
        """Create the transaction of ``intent``; it lands on the payment page."""
        self._validate_transaction_kwargs(kwargs, additional_allowed_keys=allowed_keys)
        tx = self._create_transaction(**intent.transaction_kwargs(kwargs, partner, prefix))
        tx.landing_route = f"/my/payments/{tx.id}"
        if intent.visitor:
            token = payment_utils.generate_access_token(tx.id, tx.reference)
            tx.landing_route += f"?access_token={token}"
        return tx

    @http.route()
    def overdue_invoices_transaction(self, payment_reference, **kwargs):
        """Odoo's "pay all overdue invoices" takes the browser's amount as it comes, and only
        finds invoices addressed to the contact itself. A billing customer pays exactly the
        overdue residual of the whole company, computed here, through the same checks of the
        provider, method and token as any other payment. Anyone else is refused with a 403:
        Odoo's route answers a visitor with an HTTP 200 and a traceback, and would let staff
        pay any amount."""
        customer = self._billing_customer()
        with self._billing_json_refusals():
            if not customer:
                raise AccessError(
                    request.env._("Please log in to your customer account to pay overdue invoices.")
                )
            self._billing_check_csrf(kwargs)
            customer.finnsys_lock_customers()  # a second payment at once waits, then sees this one
            intent = self._billing_overdue_intent(customer, kwargs.get("amount"))
            intent.choose_method(kwargs)
            if intent.compute_surcharge():
                # This page has no surcharge consent: the Open tab shows and books it.
                raise UserError(
                    request.env._(
                        "Paying with %(method)s carries a surcharge: pay your overdue invoices"
                        " from the Open tab of your invoices, where it is shown before you pay.",
                        method=intent.method.name,
                    )
                )
            partner = request.env.user.partner_id
            tx = self._billing_create_transaction(intent, partner, payment_reference, kwargs)
            return tx._get_processing_values()

    def _billing_overdue_intent(self, customer, raw_amount):
        """The payment of all of ``customer``'s overdue invoices, for exactly their total."""
        overdue = (
            request.env["account.move"]
            .sudo()
            .search(
                self._billing_documents_domain()
                & Domain("move_type", "=", "out_invoice")
                & Domain("payment_state", "in", PAYABLE_STATES)
                & Domain("invoice_date_due", "<", fields.Date.context_today(customer))
            )
        )
        if not overdue:
            raise UserError(request.env._("You have no overdue invoice to pay."))
        if any(overdue.finnsys_amount_under_way().values()):
            raise UserError(
                request.env._(
                    "A payment of one of your overdue invoices is under way: pay the others"
                    " from the Open tab of your invoices."
                )
            )
        if len(overdue.currency_id) != 1 or len(overdue.company_id) != 1:
            raise UserError(
                request.env._("Your overdue invoices are in several currencies: pay each one.")
            )
        currency = overdue.currency_id
        total = currency.round(sum(overdue.mapped("amount_residual")))
        if not same_amount(raw_amount, total, currency):
            raise UserError(
                request.env._(
                    "Your overdue invoices total %(total)s: reload the page to pay them.",
                    total=currency.format(total),
                )
            )
        return PaymentIntent(
            request.env, customer, overdue.company_id, currency, total, invoices=overdue
        )

    def _billing_quote(self, invoice_ids, amount, access_token, params):
        """The surcharge the customer must accept before paying, with the figures to show."""
        with self._billing_json_refusals():
            intent = self._billing_intent(invoice_ids, amount, access_token, params)
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

    def _billing_decline(self, invoice_ids, amount, access_token, params):
        """Record that the customer refused the surcharge; nothing is charged."""
        with self._billing_json_refusals():
            self._billing_check_csrf(params)
            intent = self._billing_intent(invoice_ids, amount, access_token, params)
            if intent.surcharge:
                self._billing_check_decline_rate(intent.customer)
                intent.record_consent("declined", request.env.user, request.httprequest.remote_addr)
        return {"message": request.env._("The payment was not completed.")}

    @staticmethod
    def _billing_check_decline_rate(customer):
        """A customer refuses a surcharge a few times an hour at most; a script that calls the
        route in a loop would fill the consent log."""
        customer.finnsys_lock_customers()
        since = fields.Datetime.subtract(fields.Datetime.now(), hours=1)
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
        return self._billing_quote([invoice_id], amount, access_token, params)

    @http.route("/my/invoices/pay/<string:invoice_ids>/surcharge", type="jsonrpc", auth="user")
    def portal_billing_invoices_surcharge(
        self, invoice_ids, amount=None, access_token=None, **params
    ):
        """The surcharge of paying several invoices together."""
        return self._billing_quote(invoice_ids, amount, access_token, params)

    @http.route("/my/invoices/<int:invoice_id>/surcharge/decline", type="jsonrpc", auth="public")
    def portal_billing_surcharge_decline(
        self, invoice_id, amount=None, access_token=None, **params
    ):
        """The customer refused the surcharge of paying one invoice."""
        return self._billing_decline([invoice_id], amount, access_token, params)

    @http.route(
        "/my/invoices/pay/<string:invoice_ids>/surcharge/decline", type="jsonrpc", auth="user"
    )
    def portal_billing_invoices_surcharge_decline(
        self, invoice_ids, amount=None, access_token=None, **params
    ):
        """The customer refused the surcharge of paying several invoices together."""
        return self._billing_decline(invoice_ids, amount, access_token, params)

    # ------------------------------------------------------------------
    # landing page of a payment
    # ------------------------------------------------------------------
    @http.route("/my/payments/<int:tx_id>", type="http", auth="public", website=True, sitemap=False)
    def portal_billing_payment(self, tx_id, access_token=None, **kw):
        """Where Odoo's payment status page sends the customer once the payment is processed:
        amount, surcharge, reference, the balance read from the ledger now, and the invoices
        paid. A visitor of an e-mailed link comes with the transaction's signature and sees
        the payment and its invoices, not the account's balance."""
        customer = self._billing_customer()
        tx = request.env["payment.transaction"].sudo().browse(tx_id).exists()
        visitor = not customer and payment_utils.check_access_token(
            access_token, tx.id, tx.reference
        )
        if visitor:
            customer = tx.partner_id.commercial_partner_id
        elif not customer and request.env.user._is_public():
            return request.redirect(f"/web/login?redirect=/my/payments/{tx_id}")
        if not customer or tx.partner_id.commercial_partner_id != customer:
            raise NotFound()
        company = tx.company_id
        invoices = tx.invoice_ids.filtered_domain(self._billing_documents_domain(customer))
        running = invoices.filtered_domain(self._billing_running_domain(customer))
        payment = tx.payment_id.filtered(lambda p: p.state in ("in_process", "paid"))
        return request.render(
            "finnsys_billing_portal.portal_payment",
            {
                "page_name": "billing_payment",
                "tx": tx,
                "customer": customer,
                "visitor": visitor,
                "balance": request.env["finnsys.billing.account"]
                .sudo()
                .finnsys_customer_figures(customer, company)[customer.id]["balance"],
                "balance_currency": company.currency_id,
                "invoices": invoices,
                "running_ids": set(running.ids),
                "receipt_url": payment and payment.get_receipt_portal_url(signed=visitor),
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
        form_values["tokens_sudo"] |= self._billing_customer_tokens(form_values, customer)
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
            intent = PaymentIntent(request.env, customer, company, company.currency_id, amount)
            intent.check_terms(access_token)
            intent.choose_method(kwargs)
            tx = self._billing_create_transaction(
                intent, request.env.user.partner_id, f"TOPUP-{customer.id}", kwargs
            )
            return tx._get_processing_values()
