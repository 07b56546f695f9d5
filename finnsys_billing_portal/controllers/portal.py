from contextlib import contextmanager
from contextvars import ContextVar

from werkzeug.exceptions import BadRequest, Forbidden, NotFound, abort

from odoo import fields, http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.fields import Domain
from odoo.http import request

from odoo.addons.account_payment.controllers import payment as account_payment_payment
from odoo.addons.account_payment.controllers import portal as account_payment_portal
from odoo.addons.finnsys_billing.models.ir_http import served_from_replica
from odoo.addons.payment import utils as payment_utils
from odoo.addons.portal.controllers.portal import pager as portal_pager

from .payment_intent import terms_token, topup_token

__all__ = ["BillingPortal", "json_refusal", "terms_token", "topup_token"]

CUSTOMER_MOVE_TYPES = ("out_invoice", "out_refund")
PAYABLE_STATES = ("not_paid", "partial")
SETTLED_STATES = ("paid", "reversed")
RUNNING_TX_STATES = ("pending", "authorized")
# The tab domains per customer while one page renders (``_finnsys_tabs_once``): a context
# variable, so each request's thread sees its own, and nothing is left on ``request``.
TAB_DOMAINS_MEMO = ContextVar("finnsys_tab_domains_memo", default=None)


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
    """Customer portal of FinnSys Billing on top of Odoo's account and payment portals: the
    dashboard, the invoice tabs and the landing page of a payment.

    Paying invoices (``invoice_pay.py``) and topping up (``topup.py``) extend this class.
    Invoices are read as the customer: Odoo's portal rule on ``account.move`` lets every
    contact of a customer read the customer's invoices.
    """

    # ------------------------------------------------------------------
    # who the customer is, and its documents
    # ------------------------------------------------------------------
    def _finnsys_customer(self):
        """The commercial partner of the logged-in portal user (sudo); empty for anyone else."""
        user = request.env.user
        if not user._is_portal():
            return request.env["res.partner"].sudo()
        return user.partner_id.commercial_partner_id.sudo()

    def _finnsys_documents_domain(self, customer=None):
        """The posted documents of ``customer``, by default the logged-in one."""
        customer = customer or self._finnsys_customer()
        return (
            Domain("commercial_partner_id", "=", customer.id)
            & Domain("move_type", "in", CUSTOMER_MOVE_TYPES)
            & Domain("state", "=", "posted")
        )

    def _finnsys_running_domain(self, customer=None):
        """Invoices being paid: a payment not yet matched with the bank, or payments under way
        (a transaction still running, or confirmed but not yet booked: the customer was
        charged already) that cover all that is left to pay. A smaller payment under way
        leaves the invoice payable for the rest."""
        unbooked = Domain("state", "=", "done") & Domain("is_post_processed", "=", False)
        running_tx = Domain("state", "in", RUNNING_TX_STATES) | unbooked
        # sudo: portal users may not read payment transactions, only filter on them here.
        candidates = (
            request.env["account.move"]
            .sudo()
            .search(
                self._finnsys_documents_domain(customer)
                & Domain("payment_state", "in", PAYABLE_STATES)
                & Domain("transaction_ids", "any", running_tx)
            )
        )
        payable = candidates.finnsys_amount_payable()
        covered = candidates.filtered(
            lambda move: move.currency_id.compare_amounts(payable[move.id], 0.0) <= 0
        )
        return Domain("payment_state", "=", "in_payment") | Domain("id", "in", covered.ids)

    def _finnsys_tab_domains(self, customer=None):
        """The domains of the tabs All, Open, In Progress and Paid of ``customer``.

        Inside ``_finnsys_tabs_once`` they are read once: the invoice list needs them for its
        own rows and again in Odoo's ``_prepare_my_invoices_values``.
        """
        customer = customer or self._finnsys_customer()
        memo = TAB_DOMAINS_MEMO.get()
        if memo is not None and customer.id in memo:
            return memo[customer.id]
        base = self._finnsys_documents_domain(customer)
        running = self._finnsys_running_domain(customer)
        domains = {
            "all": base,
            "open": base
            & Domain("move_type", "=", "out_invoice")
            & Domain("payment_state", "in", PAYABLE_STATES)
            & ~running,
            "progress": base & Domain("payment_state", "not in", SETTLED_STATES) & running,
            "paid": base & Domain("payment_state", "in", SETTLED_STATES),
        }
        if memo is not None:
            memo[customer.id] = domains
        return domains

    @contextmanager
    def _finnsys_tabs_once(self):
        """Read the tab domains once per customer while rendering one page of this request.

        The domains list the invoices with a payment under way at this moment: they are kept
        for this block only, never across requests (nor across the retry of one request after
        a serialization failure), and nothing in the block changes a payment.
        """
        token = TAB_DOMAINS_MEMO.set({})
        try:
            yield
        finally:
            TAB_DOMAINS_MEMO.reset(token)

    @staticmethod
    def _finnsys_figures(customer, domain=None):
        """The account's figures (``finnsys.billing.account.finnsys_customer_figures``) in
        the current company; ``domain`` narrows the documents the tabs count."""
        # sudo: the figures are read from journal items, which portal users may not read.
        Account = request.env["finnsys.billing.account"].sudo()
        return Account.finnsys_customer_figures(customer, domain=domain)[customer.id]

    # ------------------------------------------------------------------
    # dashboard
    # ------------------------------------------------------------------
    @http.route(readonly=served_from_replica)
    def home(self, **kw):
        response = super().home(**kw)
        customer = self._finnsys_customer()
        if customer and hasattr(response, "qcontext"):
            response.qcontext.update(self._finnsys_dashboard_values(customer))
        return response

    def _finnsys_dashboard_values(self, customer):
        """Figures of the dashboard cards, from the ledger query of the invoice tabs."""
        figures = self._finnsys_figures(customer)
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

    # ------------------------------------------------------------------
    # invoices: Odoo's list, with the billing tabs and sortings as its searchbar
    # ------------------------------------------------------------------
    def _invoice_get_page_view_values(self, invoice, access_token, **kwargs):
        values = super()._invoice_get_page_view_values(invoice, access_token, **kwargs)
        customer = invoice.sudo().commercial_partner_id
        visitor = not self._finnsys_customer()
        open_domain = self._finnsys_tab_domains(customer)["open"]
        if invoice.filtered_domain(open_domain & Domain("move_type", "=", "out_invoice")):
            # Everyone pays through the amount and terms step, which Odoo's dialog skips; the
            # e-mailed link (a visitor) keeps its access token.
            url = f"/my/invoices/{invoice.id}/pay"
            token = visitor and access_token
            values["billing_pay_url"] = f"{url}?access_token={token}" if token else url
        return values

    def _get_account_searchbar_filters(self):
        """The tabs All, Open, In Progress and Paid of a billing customer, in that order."""
        if not self._finnsys_customer():
            return super()._get_account_searchbar_filters()
        domains = self._finnsys_tab_domains()
        labels = {
            "all": request.env._("All"),
            "open": request.env._("Open"),
            "progress": request.env._("In Progress"),
            "paid": request.env._("Paid"),
        }
        return {key: {"label": labels[key], "domain": domains[key]} for key in labels}

    def _get_account_searchbar_sortings(self):
        if not self._finnsys_customer():
            return super()._get_account_searchbar_sortings()
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
        if not self._finnsys_customer():
            return super().portal_my_invoices(
                page=page,
                date_begin=date_begin,
                date_end=date_end,
                sortby=sortby,
                filterby=filterby,
                **kw,
            )
        with self._finnsys_tabs_once():
            values = self._finnsys_invoices_values(
                page, sortby, filterby, kw.get("search"), kw.get("plan")
            )
        return request.render("finnsys_billing_portal.portal_my_invoices", values)

    def _finnsys_plans(self):
        """The subscription plans on the customer's documents."""
        Move = request.env["account.move"]
        domain = self._finnsys_documents_domain() & Domain("plan_id", "!=", False)
        plans = [plan for (plan,) in Move._read_group(domain, ["plan_id"], order="plan_id")]
        # sudo: plans are contract templates, which portal users may not read; only names shown.
        return [plan.sudo() for plan in plans]

    def _finnsys_invoices_values(self, page, sortby, tab, search, plan_id=None):
        """Odoo's invoice list values for the tab ``tab``, narrowed by the invoice number
        ``search`` and the plan ``plan_id``, with the tab counts and totals."""
        sortings = self._get_account_searchbar_sortings()
        sortby = sortby if sortby in sortings else "date"
        tabs = self._get_account_searchbar_filters()
        tab = tab if tab in tabs else "all"
        search = (search or "").strip()
        search_domain = Domain("name", "ilike", search) if search else Domain.TRUE
        plans = self._finnsys_plans()
        plan = next((p for p in plans if str(p.id) == str(plan_id)), None)
        if plan:
            search_domain &= Domain("plan_id", "=", plan.id)
        # The billing list has no date range: Odoo's creation date filter stays off.
        values = self._prepare_my_invoices_values(page, None, None, sortby, tab, search_domain)
        figures = self._finnsys_figures(self._finnsys_customer(), search_domain)
        values["pager"]["url_args"] = {
            "filterby": tab,
            "sortby": sortby,
            "search": search,
            "plan": plan.id if plan else "",
        }
        pager = portal_pager(**values["pager"])
        # Odoo's rows compute installments invoice by invoice; this list shows the records.
        invoices = request.env["account.move"].search(
            search_domain & tabs[tab]["domain"],
            order=sortings[sortby]["order"],
            limit=self._items_per_page,
            offset=pager["offset"],
        )
        running = invoices.filtered_domain(tabs["progress"]["domain"])
        request.session["my_invoices_history"] = invoices.ids[:100]
        # The tabs and sortings are drawn by the billing template, not Odoo's searchbar.
        del values["searchbar_filters"], values["searchbar_sortings"]
        return values | {
            "invoices": invoices,
            "pager": pager,
            "running_ids": set(running.ids),
            "under_way": invoices.finnsys_amount_under_way(),
            "billing_tabs": {key: tab_values["label"] for key, tab_values in tabs.items()},
            "billing_counts": {key: count for key, (count, _amount) in figures["tabs"].items()},
            "billing_tab_totals": {
                key: amount for key, (_count, amount) in figures["tabs"].items()
            },
            "billing_currency": request.env.company.currency_id,
            "today": fields.Date.context_today(request.env.user),
            "billing_sortings": sortings,
            "search": search,
            "billing_plans": plans,
            "billing_plan": plan,
            "overdue_invoice_count": 0,
        }

    # ------------------------------------------------------------------
    # shared by the payment routes: every refusal is a 4xx with a message
    # ------------------------------------------------------------------
    @contextmanager
    def _finnsys_json_refusals(self):
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
    def _finnsys_check_csrf(params):
        if not request.validate_csrf(params.get("csrf_token")):
            raise BadRequest(request.env._("Your session expired: reload the page and pay again."))

    @staticmethod
    def _finnsys_customer_tokens(form_values, customer):
        """The customer company's saved tokens for the form's providers: cards are saved on
        the company, and Odoo only offers the logged-in contact's own."""
        # sudo: the payment form reads tokens as sudo (``tokens_sudo``), as Odoo's does.
        return (
            request.env["payment.token"]
            .sudo()
            .search(
                Domain("provider_id", "in", form_values["providers_sudo"].ids)
                & Domain("partner_id", "child_of", customer.id)
            )
        )

    def _finnsys_create_transaction(self, intent, partner, prefix, kwargs, allowed_keys=()):
        """Create the transaction of ``intent``; it lands on the payment page."""
        self._validate_transaction_kwargs(kwargs, additional_allowed_keys=allowed_keys)
        tx = self._create_transaction(**intent.transaction_kwargs(kwargs, partner, prefix))
        tx.landing_route = f"/my/payments/{tx.id}"
        if intent.visitor:
            token = payment_utils.generate_access_token(tx.id, tx.reference)
            tx.landing_route += f"?access_token={token}"
        return tx

    # ------------------------------------------------------------------
    # landing page of a payment
    # ------------------------------------------------------------------
    @http.route("/my/payments/<int:tx_id>", type="http", auth="public", website=True, sitemap=False)
    def portal_billing_payment(self, tx_id, access_token=None, **kw):
        """Where Odoo's payment status page sends the customer once the payment is processed:
        amount, surcharge, reference, the balance read from the ledger now, and the invoices
        paid. A visitor of an e-mailed link comes with the transaction's signature and sees
        the payment and its invoices, not the account's balance."""
        customer = self._finnsys_customer()
        # sudo: portal users may not read transactions; the owner is checked below.
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
        invoices = tx.invoice_ids.filtered_domain(self._finnsys_documents_domain(customer))
        running = invoices.filtered_domain(self._finnsys_running_domain(customer))
        payment = tx.payment_id.filtered(lambda p: p.state in ("in_process", "paid"))
        return request.render(
            "finnsys_billing_portal.portal_payment",
            {
                "page_name": "billing_payment",
                "tx": tx,
                "customer": customer,
                "visitor": visitor,
                # sudo: the balance is read from journal items, as on the dashboard.
                "balance": request.env["finnsys.billing.account"]
                .sudo()
                .finnsys_customer_figures(customer, company)[customer.id]["balance"],
                "balance_currency": company.currency_id,
                "invoices": invoices,
                "running_ids": set(running.ids),
                "receipt_url": payment and payment.get_receipt_portal_url(signed=visitor),
            },
        )
