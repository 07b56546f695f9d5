from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain


class AccountPayment(models.Model):
    _inherit = "account.payment"

    # Allocation to invoices -------------------------------------------------------------

    def finnsys_allocate(self, allocations):
        """Reconcile this customer payment with each invoice for exactly the amount allocated
        to it; what is not allocated stays open on the receivable as the customer's credit.

        ``reconcile()`` always matches as much as both journal items allow. That is the
        allocated amount when it settles the invoice (or its installment) or uses up the
        rest of the payment, and then the standard reconciliation runs in full. A smaller
        allocation gets a partial of that amount only (``_finnsys_reconcile_amount``).
        Splitting the payment's receivable line per invoice would give the same ledger, but a
        payment with several counterpart lines breaks when it is later reset to draft and
        edited.

        :param allocations: list of ``(invoice, amount)``, amounts in the payment's currency,
            each at most what the invoice still owes (the caller checks them)
        """
        self.ensure_one()
        payment_line = self._finnsys_open_receivable_lines()
        if len(payment_line) != 1:
            raise UserError(
                self.env._(
                    "Payment %(payment)s does not have exactly one open receivable journal item: "
                    "reconcile it from the accounting instead.",
                    payment=self.display_name,
                )
            )
        currency = self.currency_id
        for invoice, amount in allocations:
            invoice_lines = invoice.line_ids.filtered(
                lambda line: line.account_id == payment_line.account_id and not line.reconciled
            ).sorted(lambda line: (line.date_maturity or line.date, line.id))
            if not invoice_lines:
                raise UserError(
                    self.env._(
                        "%(invoice)s is not due on account %(account)s of the payment: "
                        "reconcile it from the accounting instead.",
                        invoice=invoice.display_name,
                        account=payment_line.account_id.display_name,
                    )
                )
            remaining = amount
            for invoice_line in invoice_lines:
                if currency.is_zero(remaining):
                    break
                part = min(remaining, invoice_line.amount_residual_currency)
                self._finnsys_reconcile_amount(payment_line, invoice_line, part)
                remaining = currency.round(remaining - part)
            invoice.matched_payment_ids |= self

    def _finnsys_open_receivable_lines(self):
        return self.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable" and not line.reconciled
        )

    def _finnsys_open_amount(self):
        """What is left of this payment to allocate, in its currency."""
        return -sum(self._finnsys_open_receivable_lines().mapped("amount_residual_currency"))

    def _finnsys_reconcile_amount(self, payment_line, invoice_line, amount):
        """Reconcile ``amount`` (in the payment currency) of the two journal items.

        Odoo has no public way to reconcile less than both residuals: ``reconcile()`` and
        ``js_assign_outstanding_line`` always match as much as they can. So when ``amount`` is
        less than both, the partial is computed by core's private
        ``_prepare_reconciliation_single_partial`` from residuals capped at ``amount``, here
        only. Neither item is settled by it, so no full reconcile or exchange difference is
        due; cash-basis taxes are still booked as ``reconcile()`` would.
        """
        matchable = min(
            invoice_line.amount_residual_currency, -payment_line.amount_residual_currency
        )
        if self.currency_id.compare_amounts(amount, matchable) >= 0:
            (payment_line + invoice_line).reconcile()
            return
        Line = self.env["account.move.line"].with_context(no_exchange_difference=True)
        result = Line._prepare_reconciliation_single_partial(
            self._finnsys_capped_residuals(invoice_line, amount),
            self._finnsys_capped_residuals(payment_line, amount),
        )
        partial = self.env["account.partial.reconcile"].create(result["partial_values"])
        if invoice_line.company_id.tax_exigibility:
            partial._create_tax_cash_basis_moves()

    @api.model
    def _finnsys_capped_residuals(self, line, amount):
        sign = 1 if line.amount_residual_currency > 0 else -1
        balance = amount
        if line.currency_id != line.company_currency_id:
            rate = line.amount_residual / line.amount_residual_currency
            balance = line.company_currency_id.round(amount * rate)
        return {
            "aml": line,
            "amount_residual": sign * balance,
            "amount_residual_currency": sign * amount,
        }

    # Paying a customer's credit back ------------------------------------------------------

    @api.model
    def _finnsys_create_payout(self, partner, amount, journal, memo):
        """Pay ``amount`` of ``partner``'s unapplied credit back from the bank or cash
        ``journal``: an outbound customer payment, posted; match it with the credit with
        :meth:`_finnsys_reconcile_with_credit`.

        :return: the payment
        """
        company = journal.company_id
        payment = self.with_company(company).create(
            {
                "payment_type": "outbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": amount,
                "currency_id": company.currency_id.id,
                "journal_id": journal.id,
                "company_id": company.id,
                "date": fields.Date.context_today(self),
                "memo": memo,
            }
        )
        payment.action_post()
        return payment

    @api.model
    def _finnsys_payout_journal(self, company):
        """The journal credit is paid back from unless one is chosen: the company's first
        bank journal."""
        Journal = self.env["account.journal"]
        return Journal.search(
            Domain(Journal._check_company_domain(company)) & Domain("type", "=", "bank"),
            limit=1,
        )

    @api.model
    def _finnsys_check_payout_journal(self, journal, company):
        """Credit is paid back from a bank or cash journal of its company."""
        if journal.company_id != company:
            raise ValidationError(
                self.env._(
                    "The Journal %(journal)s belongs to %(journal_company)s: choose a bank or "
                    "cash journal of %(company)s.",
                    journal=journal.display_name,
                    journal_company=journal.company_id.display_name,
                    company=company.display_name,
                )
            )
        if journal.type not in ("bank", "cash"):
            raise ValidationError(
                self.env._(
                    "The Journal of a withdrawal must be a bank or cash journal, not %(journal)s.",
                    journal=journal.display_name,
                )
            )

    def _finnsys_reconcile_with_credit(self, partner, name, strict=True):
        """Consume ``partner``'s unapplied credit, oldest first, with this outbound payment.

        :param str name: the withdrawal paid, named in the error
        :param bool strict: refuse when the credit does not cover the whole payment
        """
        self.ensure_one()
        refund_line = self.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        credits = partner._finnsys_credit_lines(self.company_id, refund_line.account_id)
        for credit in credits:
            if self.currency_id.is_zero(refund_line.amount_residual):
                break
            (refund_line + credit).reconcile()
        if strict and not self.currency_id.is_zero(refund_line.amount_residual):
            raise UserError(
                self.env._(
                    "The credit of %(partner)s is not on its receivable account %(account)s: "
                    "withdrawal %(name)s cannot be matched with it. Check the customer's ledger.",
                    partner=partner.display_name,
                    account=refund_line.account_id.display_name,
                    name=name,
                )
            )

    def _get_payment_receipt_report_values(self):
        """A customer's receipt itemises what the payment paid itself (see
        :meth:`_finnsys_receipt_values`), so Odoo's table of the invoices' whole payment
        history is left out."""
        values = super()._get_payment_receipt_report_values()
        if self.partner_type == "customer":
            values["display_invoices"] = False
        return values

    def _finnsys_receipt_values(self):
        """What the receipt of this customer payment says, read from its reconciliation.

        :return: a dict with ``method`` (how it was paid), ``reference`` (the provider's
            transaction reference, if any), ``lines`` (a list of dicts ``kind`` in
            ``invoice``/``surcharge``/``other``/``credit``, ``label``, ``amount`` in the
            payment's currency: what this payment settled, the card surcharge on its own line,
            and what is left of it as credit), ``total`` and ``balance`` (the customer's
            balance read from the ledger now, in company currency, on ``as_of``).
        """
        self.ensure_one()
        tx = self.payment_transaction_id
        currency = self.currency_id
        lines = self._finnsys_receipt_settled_lines(tx._finnsys_surcharge_moves())
        credit = 0.0
        if self.payment_type == "inbound":
            residual = self.move_id.line_ids.filtered(self._finnsys_is_counterpart)
            credit = currency.round(-sum(residual.mapped("amount_residual_currency")))
        if not currency.is_zero(credit):
            lines.append(
                {
                    "kind": "credit",
                    "label": self.env._("Added to your account's credit"),
                    "amount": credit,
                }
            )
        partner = self.partner_id.commercial_partner_id.with_company(self.company_id)
        partner._finnsys_invalidate_figures()
        return {
            "method": self._finnsys_receipt_method(),
            "reference": tx.reference or "",
            "lines": lines,
            "total": self.amount,
            "balance": partner.billing_balance,
            "as_of": fields.Date.context_today(self),
            "balance_currency": self.company_id.currency_id,
        }

    def finnsys_receipt_url(self):
        """The absolute address of this payment's receipt PDF that its e-mails link, signed
        so that it opens without logging in; empty here, where no route serves receipts (the
        portal addon, which serves them, gives it)."""
        self.ensure_one()
        return ""

    def _finnsys_is_counterpart(self, line):
        return line.account_id == self.destination_account_id

    def _finnsys_receipt_method(self):
        tx = self.payment_transaction_id
        if not tx:
            return self.payment_method_line_id.name or self.journal_id.name
        parts = [tx.payment_method_id.name or tx.provider_id.name]
        if tx.token_id:
            parts.append(tx.token_id.display_name)
        return " ".join(part for part in parts if part)

    def _finnsys_receipt_settled_lines(self, surcharge_moves):
        """One line per document this payment settled, with the amount it paid of it."""
        self.ensure_one()
        lines = []
        for line in self.move_id.line_ids.filtered(self._finnsys_is_counterpart):
            partials = line.matched_debit_ids | line.matched_credit_ids
            for partial in partials.sorted("id"):
                own_side_is_debit = partial.debit_move_id == line
                other = partial.credit_move_id if own_side_is_debit else partial.debit_move_id
                amount = (
                    partial.debit_amount_currency
                    if own_side_is_debit
                    else partial.credit_amount_currency
                )
                move = other.move_id
                if move in surcharge_moves:
                    kind = "surcharge"
                    label = ", ".join(move.invoice_line_ids.mapped("name")) or move.name
                elif move.is_invoice():
                    kind = "invoice"
                    label = move.name
                elif self.payment_type == "inbound":
                    kind = "other"
                    label = self.env._("Paid back to you (%(move)s)", move=move.name)
                else:
                    kind = "other"
                    label = self.env._("Taken from your credit (%(move)s)", move=move.name)
                lines.append({"kind": kind, "label": label, "amount": amount})
        return lines
