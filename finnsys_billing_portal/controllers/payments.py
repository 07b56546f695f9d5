from werkzeug.exceptions import NotFound

from odoo import http
from odoo.fields import Domain
from odoo.http import content_disposition, request
from odoo.tools import SQL, consteq

from odoo.addons.finnsys_billing.models.ir_http import served_from_replica
from odoo.addons.portal.controllers.portal import pager as portal_pager

from .portal import BillingPortal

# Transactions listed on the payments page: the ones that went through or are under way.
LISTED_TX_STATES = ("pending", "authorized", "done")
RECEIPT_PAYMENT_STATES = ("in_process", "paid")
RECEIPT_REPORT = "account.action_report_payment_receipt"


class BillingPaymentsPortal(BillingPortal):
    """The customer's payments page and the receipt of each payment."""

    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        if "billing_payment_count" in counters:
            customer = self._finnsys_customer()
            values["billing_payment_count"] = (
                self._finnsys_payment_count(customer) if customer else 0
            )
        return values

    # ------------------------------------------------------------------
    # the rows: transactions, and the payments made without one (backend)
    # ------------------------------------------------------------------
    @staticmethod
    def _finnsys_payment_rows_query(customer):
        """Transactions of ``customer`` done or under way, and its posted payments that no
        transaction made (bank transfers booked by staff, withdrawals paid by bank): one row
        each, with the day it counts from."""
        request.env["payment.transaction"].flush_model()
        request.env["account.payment"].flush_model()
        request.env["res.partner"].flush_model(["commercial_partner_id"])
        return SQL(
            """
            SELECT 'tx' AS kind, tx.id, tx.create_date::date AS day, tx.create_date AS created
              FROM payment_transaction tx
              JOIN res_partner partner ON partner.id = tx.partner_id
             WHERE partner.commercial_partner_id = %(customer)s
               AND tx.state IN %(tx_states)s
               AND tx.operation != 'validation'
            UNION ALL
            SELECT 'payment', pay.id, move.date, pay.create_date
              FROM account_payment pay
              JOIN account_move move ON move.id = pay.move_id
              JOIN res_partner partner ON partner.id = pay.partner_id
             WHERE partner.commercial_partner_id = %(customer)s
               AND pay.partner_type = 'customer'
               AND pay.state IN %(payment_states)s
               AND pay.payment_transaction_id IS NULL
            """,
            customer=customer.id,
            tx_states=LISTED_TX_STATES,
            payment_states=RECEIPT_PAYMENT_STATES,
        )

    def _finnsys_payment_count(self, customer):
        query = self._finnsys_payment_rows_query(customer)
        request.env.cr.execute(SQL("SELECT count(*) FROM (%s) rows", query))
        return request.env.cr.fetchone()[0]

    def _finnsys_payment_rows(self, customer, offset, limit):
        """One page of rows, newest first, as dicts the payments page shows."""
        query = self._finnsys_payment_rows_query(customer)
        request.env.cr.execute(
            SQL(
                "SELECT kind, id FROM (%s) rows ORDER BY day DESC, created DESC, id DESC "
                "LIMIT %s OFFSET %s",
                query,
                limit,
                offset,
            )
        )
        keys = request.env.cr.fetchall()
        txs = (
            request.env["payment.transaction"]
            .sudo()
            .browse([id_ for kind, id_ in keys if kind == "tx"])
        )
        payments = (
            request.env["account.payment"]
            .sudo()
            .browse([id_ for kind, id_ in keys if kind == "payment"])
        )
        rows = []
        for kind, id_ in keys:
            if kind == "tx":
                rows.append(self._finnsys_tx_row(txs.browse(id_)))
            else:
                rows.append(self._finnsys_payment_row(payments.browse(id_)))
        return rows

    def _finnsys_tx_row(self, tx):
        payment = tx.payment_id.filtered(lambda p: p.state in RECEIPT_PAYMENT_STATES)
        if tx.invoice_ids:
            what = ", ".join(tx.invoice_ids.mapped("name"))
        elif tx.operation == "refund":
            what = request.env._("Refund to your card")
        elif tx.finnsys_topup_attempt_id:
            what = request.env._("Automatic top-up")
        else:
            what = request.env._("Top-up")
        method = " ".join(
            part for part in (tx.payment_method_id.name, tx.token_id.display_name) if part
        )
        return {
            "date": tx.create_date.date(),
            "what": what,
            "method": method,
            "reference": tx.reference,
            "amount": tx.amount,
            "currency": tx.currency_id,
            "state": tx.state if tx.state != "done" or payment else "processing",
            "url": f"/my/payments/{tx.id}",
            "receipt_url": payment and payment.get_receipt_portal_url(signed=False),
        }

    def _finnsys_payment_row(self, payment):
        sign = 1 if payment.payment_type == "inbound" else -1
        invoices = payment.reconciled_invoice_ids
        if invoices and sign > 0:
            what = ", ".join(invoices.mapped("name"))
        elif sign > 0:
            what = request.env._("Payment")
        else:
            what = request.env._("Refund by bank")
        return {
            "date": payment.date,
            "what": what,
            "method": payment._finnsys_receipt_method(),
            "reference": payment.name,
            "amount": sign * payment.amount,
            "currency": payment.currency_id,
            "state": "done",
            "url": False,
            "receipt_url": payment.get_receipt_portal_url(signed=False),
        }

    # ------------------------------------------------------------------
    # routes
    # ------------------------------------------------------------------
    @http.route(
        ["/my/payments", "/my/payments/page/<int:page>"],
        type="http",
        auth="user",
        website=True,
        sitemap=False,
        readonly=served_from_replica,
    )
    def portal_billing_payments(self, page=1, **kw):
        """The customer's payments and top-ups, newest first, with their receipts."""
        customer = self._finnsys_customer()
        if not customer:
            raise NotFound()
        total = self._finnsys_payment_count(customer)
        pager = portal_pager(url="/my/payments", total=total, page=page, step=self._items_per_page)
        values = self._prepare_portal_layout_values()
        values.update(
            page_name="billing_payments",
            pager=pager,
            rows=self._finnsys_payment_rows(customer, pager["offset"], self._items_per_page),
            default_url="/my/payments",
        )
        return request.render("finnsys_billing_portal.portal_my_payments", values)

    @http.route(
        "/my/receipts/<int:payment_id>",
        type="http",
        auth="public",
        website=True,
        sitemap=False,
        readonly=served_from_replica,
    )
    def portal_billing_receipt(self, payment_id, access_token=None, download=None, **kw):
        """The receipt PDF of a payment: for the paying customer's portal users, or for
        anyone with the link signed for this payment (the receipt e-mail's)."""
        payment = request.env["account.payment"].sudo().browse(payment_id).exists()
        signed = bool(
            payment
            and access_token
            and consteq(access_token, payment._finnsys_receipt_access_token())
        )
        customer = payment.partner_id.commercial_partner_id if signed else self._finnsys_customer()
        if not customer and request.env.user._is_public():
            return request.redirect(f"/web/login?redirect=/my/receipts/{payment_id}")
        receipt_domain = (
            Domain("partner_id", "child_of", customer.id)
            & Domain("partner_type", "=", "customer")
            & Domain("state", "in", RECEIPT_PAYMENT_STATES)
        )
        if not customer or not payment.filtered_domain(receipt_domain):
            raise NotFound()
        pdf, _type = (
            request.env["ir.actions.report"]
            .sudo()
            .with_company(payment.company_id)
            ._render_qweb_pdf(RECEIPT_REPORT, payment.ids)
        )
        filename = f"Receipt {payment.name}.pdf".replace("/", "-")
        disposition = "attachment" if download else "inline"
        return request.make_response(
            pdf,
            headers=[
                ("Content-Type", "application/pdf"),
                ("Content-Disposition", content_disposition(filename, disposition)),
            ],
        )
