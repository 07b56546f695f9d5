from werkzeug.exceptions import NotFound

from odoo import fields, http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.fields import Domain
from odoo.http import request

from .payment_intent import PaymentIntent, as_int, check_terms_token, same_amount, terms_token
from .portal import PAYABLE_STATES, BillingPortal

MAX_BATCH_INVOICES = 50


class BillingInvoicePayPortal(BillingPortal):
    """Paying open invoices, one or several at once, and all overdue invoices: the amount and
    terms step, Odoo's payment form, and the transaction routes. Every figure is the one of a
    :class:`PaymentIntent`."""

    @staticmethod
    def _finnsys_invoice_ids(raw):
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

    def _finnsys_payable_invoices(self, invoice_ids, customer=None):
        """The open invoices ``invoice_ids`` of ``customer`` (by default the logged-in one;
        sudo), which can be paid together.

        :raise NotFound: an id that is not an invoice of the customer
        :raise UserError: a bad selection, an invoice that cannot be paid (paid, cancelled,
            payments under way that cover it) or invoices of several currencies or companies
        """
        customer = customer or self._finnsys_customer()
        if not customer:
            raise NotFound()
        ids = self._finnsys_invoice_ids(invoice_ids)
        # sudo: a visitor of an e-mailed link has no access to the invoice, and a cancelled
        # invoice of the customer (hidden by the portal rule) is refused with a reason.
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
        closed = invoices - invoices.filtered_domain(self._finnsys_tab_domains(customer)["open"])
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
        customer = self._finnsys_customer()
        if customer:
            return self._finnsys_pay_page(
                [invoice_id], amount, terms, "finnsys_billing_portal.portal_invoice_pay", customer
            )
        try:
            invoice = self._document_check_access("account.move", invoice_id, access_token)
        except (AccessError, MissingError):
            if request.env.user._is_public():
                return request.redirect(f"/web/login?redirect=/my/invoices/{invoice_id}")
            raise NotFound() from None
        return self._finnsys_pay_page(
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
        return self._finnsys_pay_page(
            request.httprequest.values.getlist("invoice_ids"),
            amount,
            terms,
            "finnsys_billing_portal.portal_invoices_pay",
            self._finnsys_customer(),
        )

    def _finnsys_pay_page(
        self, invoice_ids, amount, terms, template, customer, visitor=False, link_token=None
    ):
        """``visitor``: someone paying the invoice of another, through the e-mailed link
        (``link_token``, the invoice's access token) or from the backend's preview."""
        try:
            invoices = self._finnsys_payable_invoices(invoice_ids, customer)
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
            values | self._finnsys_payment_form_values(intent, visitor=visitor),
        )

    @staticmethod
    def _finnsys_pay_routes(invoices):
        """The transaction and surcharge routes of a payment of ``invoices``."""
        if len(invoices) == 1:
            return f"/invoice/transaction/{invoices.id}", f"/my/invoices/{invoices.id}/surcharge"
        base = "/my/invoices/pay/" + ",".join(str(invoice_id) for invoice_id in invoices.ids)
        return f"{base}/transaction", f"{base}/surcharge"

    def _finnsys_payment_form_values(self, intent, visitor=False):
        invoices, customer = intent.invoices, intent.customer
        transaction_route, surcharge_route = self._finnsys_pay_routes(invoices)
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
            values["tokens_sudo"] |= self._finnsys_customer_tokens(values, customer)
        values.update(
            amount=intent.amount,
            surcharge_route=surcharge_route,
            access_token=terms_token(request.env, invoices, intent.amount),
            billing_form=True,
        )
        return values

    def _finnsys_payer(self, invoice_ids, raw_amount, access_token):
        """Who pays ``invoice_ids``: (the customer, whether a visitor pays it).

        A logged-in customer pays its own invoices. Anyone else pays one invoice through its
        e-mailed link: the pay page of that link signed the amount, and that signature is
        checked first, so someone without it learns nothing about the invoice.
        """
        customer = self._finnsys_customer()
        if customer:
            return customer, False
        ids = invoice_ids if isinstance(invoice_ids, list) and len(invoice_ids) == 1 else [0]
        # sudo: a visitor has no access to the invoice; the signature is checked next.
        invoice = request.env["account.move"].sudo().browse(as_int(ids[0])).exists()
        try:
            signed = check_terms_token(access_token, invoice, float(raw_amount))
        except (TypeError, ValueError):
            signed = False
        if not invoice or not signed:
            raise NotFound()
        return invoice.commercial_partner_id, True

    def _finnsys_intent(self, invoice_ids, raw_amount, access_token, params, lock=False):
        """The payment of ``invoice_ids`` as the server decides it, from the figures and
        choices the payment form sent (``params``); ``lock`` the customer first, before what
        is left to pay is read."""
        customer, visitor = self._finnsys_payer(invoice_ids, raw_amount, access_token)
        if lock:
            # Two payments of the customer at once: the second is retried once the first is
            # committed and then finds the invoices under way.
            customer.finnsys_lock_customers()
        invoices = self._finnsys_payable_invoices(invoice_ids, customer)
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
        with self._finnsys_json_refusals():
            return self._finnsys_invoices_transaction([invoice_id], access_token, kwargs)

    @http.route("/my/invoices/pay/<string:invoice_ids>/transaction", type="jsonrpc", auth="user")
    def portal_billing_invoices_transaction(self, invoice_ids, access_token=None, **kwargs):
        """One transaction paying the whole residual of several invoices ("12,13")."""
        with self._finnsys_json_refusals():
            return self._finnsys_invoices_transaction(invoice_ids, access_token, kwargs)

    def _finnsys_invoices_transaction(self, invoice_ids, access_token, kwargs):
        self._finnsys_check_csrf(kwargs)
        offered = kwargs.pop("surcharge", None)
        intent = self._finnsys_intent(
            invoice_ids, kwargs.get("amount"), access_token, kwargs, lock=True
        )
        intent.check_surcharge(offered)
        partner = intent.invoices.partner_id[:1] if intent.visitor else request.env.user.partner_id
        tx = self._finnsys_create_transaction(
            intent, partner, None, kwargs, allowed_keys={"name_next_installment"}
        )
        if intent.surcharge:
            tx.finnsys_surcharge_consent_id = intent.record_consent(
                "accepted", request.env.user, request.httprequest.remote_addr, tx
            )
        return tx._get_processing_values()

    @http.route()
    def overdue_invoices_transaction(self, payment_reference, **kwargs):
        """Odoo's "pay all overdue invoices" takes the browser's amount as it comes, and only
        finds invoices addressed to the contact itself. A billing customer pays exactly the
        overdue residual of the whole company, computed here, through the same checks of the
        provider, method and token as any other payment. Anyone else is refused with a 403:
        Odoo's route answers a visitor with an HTTP 200 and a traceback, and would let staff
        pay any amount."""
        customer = self._finnsys_customer()
        with self._finnsys_json_refusals():
            if not customer:
                raise AccessError(
                    request.env._("Please log in to your customer account to pay overdue invoices.")
                )
            self._finnsys_check_csrf(kwargs)
            customer.finnsys_lock_customers()  # a second payment at once waits, then sees this one
            intent = self._finnsys_overdue_intent(customer, kwargs.get("amount"))
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
            tx = self._finnsys_create_transaction(intent, partner, payment_reference, kwargs)
            return tx._get_processing_values()

    def _finnsys_overdue_intent(self, customer, raw_amount):
        """The payment of all of ``customer``'s overdue invoices, for exactly their total."""
        overdue = request.env["account.move"].search(
            self._finnsys_documents_domain()
            & Domain("move_type", "=", "out_invoice")
            & Domain("payment_state", "in", PAYABLE_STATES)
            & Domain("invoice_date_due", "<", fields.Date.context_today(customer))
        )
        # sudo: the payment links its invoices to a transaction, which the customer may not write.
        overdue = overdue.sudo()
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
