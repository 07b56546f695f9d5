from odoo import fields, models


class AccountPayment(models.Model):
    _inherit = "account.payment"

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
        partner.invalidate_recordset(["billing_balance"])
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
