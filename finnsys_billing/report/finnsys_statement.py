from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError
from odoo.tools import SQL

from .finnsys_aged_receivable import AS_OF_MODES


class FinnsysStatement(models.AbstractModel):
    """Statements of account: per customer (commercial partner) and company, the receivable
    journal items of a period with the opening balance, a running balance, the closing
    balance and the aged buckets at the end date.

    Amounts are in company currency, positive when the customer owes (the receivable, as
    the aged receivables show it). Everything comes from :meth:`_statements`, a fixed number
    of queries whatever the number of customers: the PDF, the XLSX, the portal page and the
    monthly e-mail read the same figures.
    """

    _name = "finnsys.statement"
    _description = "Statement of account"

    @api.model
    def _default_period(self, today=None):
        """The last full calendar month before ``today``: (first day, last day)."""
        today = today or fields.Date.context_today(self)
        date_to = today.replace(day=1) - timedelta(days=1)
        return date_to.replace(day=1), date_to

    @api.model
    def _options(self, values=None):
        """Complete and check the options: period (default the last full month), reading
        of the dates (``as_of``: *dated* or *known*, as the aged receivables) and company."""
        values = dict(values or {})
        default_from, default_to = self._default_period()
        date_from = fields.Date.to_date(values.get("date_from")) or default_from
        date_to = fields.Date.to_date(values.get("date_to")) or default_to
        if date_from > date_to:
            raise ValidationError(
                self.env._(
                    "The statement starts on %(start)s, after its end %(end)s: swap the dates.",
                    start=date_from,
                    end=date_to,
                )
            )
        as_of = values.get("as_of") or "dated"
        if as_of not in dict(AS_OF_MODES):
            raise ValidationError(self.env._("Unknown reading of the dates: %s", as_of))
        company = self.env["res.company"].browse(values.get("company_id")) or self.env.company
        if company not in self.env.companies:
            raise AccessError(self.env._("You cannot print statements of %s.", company.name))
        return {"date_from": date_from, "date_to": date_to, "as_of": as_of, "company": company}

    @api.model
    def _statements(self, partners, values=None):
        """The statements of ``partners`` (their commercial entities) for the period of
        ``values`` (see :meth:`_options`).

        :return: {commercial partner id: statement dict}, in the order of ``partners``;
            a statement holds ``customer``, ``company``, ``currency``, the options,
            ``opening``, ``lines`` (date, kind, kind_label, reference, details, due date,
            debit, credit, amount, balance), ``total_debit``, ``total_credit``, ``closing``,
            ``buckets`` [(key, label)] and ``aging`` {key: amount} at the end date.
        """
        options = self._options(values)
        customers = partners.commercial_partner_id
        if not customers:
            return {}
        currency = options["company"].currency_id
        opening, moves = self._items(customers, options)
        details = self._move_details(
            {move_id for items in moves.values() for move_id, *_rest in items}
        )
        buckets, aging = self._aging(customers, options)
        statements = {}
        for customer in customers:
            lines = self._lines(
                currency, opening.get(customer.id, 0.0), moves.get(customer.id, []), details
            )
            start = currency.round(opening.get(customer.id, 0.0))
            statements[customer.id] = {
                **options,
                "customer": customer,
                "customer_number": self._customer_number(customer.id),
                "currency": currency,
                "opening": start,
                "lines": lines,
                "total_debit": currency.round(sum(line["debit"] for line in lines)),
                "total_credit": currency.round(sum(line["credit"] for line in lines)),
                "closing": lines[-1]["balance"] if lines else start,
                "buckets": buckets,
                "aging": aging.get(customer.id) or dict.fromkeys(dict(buckets), 0.0),
            }
        return statements

    @api.model
    def _customer_number(self, customer_id):
        """The customer's number printed on its statements, the same in every language: the
        PDF of many statements is cut where each one first appears."""
        return f"C-{customer_id:06d}"

    @api.model
    def _aging_options(self, options, customers):
        return self.env["finnsys.aged.receivable"]._aging_options(
            {
                "date_at": options["date_to"],
                "as_of": options["as_of"],
                "company_ids": options["company"].ids,
                "partner_ids": customers.ids,
                "limits": options["company"].billing_aging_limits,
            }
        )

    @api.model
    def _items(self, customers, options):
        """One query: per customer, the balance before the period and the receivable amount
        of each journal entry in it, from the same items as the aged receivables (posted,
        receivable, dated by the end date; *as known*: also entered by then).

        :return: ({customer id: opening}, {customer id: [(move id, date, due date, amount)]})
        """
        aging_options = self._aging_options(options, customers)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                WITH items AS (
                    SELECT partner.commercial_partner_id AS customer_id, line.move_id,
                           line.date, line.date_maturity, line.balance
                      FROM account_move_line line
                      JOIN res_partner partner ON partner.id = line.partner_id
                     WHERE %(lines)s AND partner.commercial_partner_id = ANY(%(customers)s)
                )
                SELECT customer_id, NULL::integer, NULL::date, NULL::date, SUM(balance)
                  FROM items WHERE date < %(date_from)s GROUP BY customer_id
                 UNION ALL
                SELECT customer_id, move_id, MIN(date), MAX(date_maturity), SUM(balance)
                  FROM items WHERE date >= %(date_from)s GROUP BY customer_id, move_id
                 ORDER BY 1, 3, 2
                """,
                lines=self.env["finnsys.aged.receivable"]._lines_sql(aging_options),
                customers=customers.ids,
                date_from=options["date_from"],
            )
        )
        opening, moves = {}, defaultdict(list)
        for customer_id, move_id, date, due, amount in self.env.cr.fetchall():
            if move_id is None:
                opening[customer_id] = amount
            else:
                moves[customer_id].append((move_id, date, due, amount))
        return opening, moves

    @api.model
    def _move_details(self, move_ids):
        """One query: name, kind and other reference of each journal entry.

        :return: {move id: (reference, kind, details)}
        """
        if not move_ids:
            return {}
        self.env.cr.execute(
            SQL(
                """
                SELECT move.id, move.name, move.move_type,
                       COALESCE(NULLIF(move.ref, ''), move.invoice_origin) AS ref,
                       move.statement_line_id IS NOT NULL AS bank,
                       pay.payment_type, pay.memo, tx.reference,
                       tx.id IS NOT NULL AND NOT EXISTS (
                           SELECT 1 FROM account_invoice_transaction_rel rel
                            WHERE rel.transaction_id = tx.id
                       ) AS topup,
                       withdrawal.name
                  FROM account_move move
             LEFT JOIN account_payment pay ON pay.id = move.origin_payment_id
             LEFT JOIN payment_transaction tx ON tx.id = pay.payment_transaction_id
             LEFT JOIN finnsys_withdrawal withdrawal ON withdrawal.payment_id = pay.id
                 WHERE move.id = ANY(%s)
                """,
                list(move_ids),
            )
        )
        details = {}
        for (
            move_id,
            name,
            move_type,
            ref,
            bank,
            pay_type,
            memo,
            tx_ref,
            topup,
            withdrawal,
        ) in self.env.cr.fetchall():
            if move_type == "out_invoice":
                kind = "invoice"
            elif move_type == "out_refund":
                kind = "credit_note"
            elif withdrawal:
                kind = "withdrawal"
            elif topup:
                kind = "topup"
            elif pay_type == "inbound" or (bank and not pay_type):
                kind = "payment"
            elif pay_type == "outbound":
                kind = "refund"
            else:
                kind = "adjustment"
            others = [withdrawal, tx_ref, memo if memo != name else None, ref]
            details[move_id] = [name, kind, ", ".join(dict.fromkeys(o for o in others if o))]
        for move_id, kind in self._surcharge_kinds(list(details)).items():
            details[move_id][1] = kind
        return details

    @api.model
    def _surcharge_kinds(self, move_ids):
        """Which of ``move_ids`` are payment surcharges (``surcharge``) or their refunds
        (``surcharge_refund``): {move id: kind}. None here; the portal, which books
        surcharges, overrides it with one query."""
        return {}

    @api.model
    def _kind_labels(self):
        """What each kind of statement line is called, in the customer's language."""
        return {
            "invoice": self.env._("Invoice"),
            "credit_note": self.env._("Credit note"),
            "payment": self.env._("Payment"),
            "topup": self.env._("Top-up"),
            "surcharge": self.env._("Payment surcharge"),
            "surcharge_refund": self.env._("Surcharge refund"),
            "withdrawal": self.env._("Withdrawal"),
            "refund": self.env._("Refund"),
            "adjustment": self.env._("Adjustment"),
        }

    @api.model
    def _lines(self, currency, opening, moves, details):
        labels = self._kind_labels()
        balance, lines = opening, []
        for move_id, date, due, amount in moves:
            amount = currency.round(amount)
            if currency.is_zero(amount):
                continue
            balance += amount
            reference, kind, others = details[move_id]
            lines.append(
                {
                    "move_id": move_id,
                    "date": date,
                    "kind": kind,
                    "kind_label": labels[kind],
                    "reference": reference,
                    "details": others,
                    "date_due": due if kind in ("invoice", "surcharge") and due != date else False,
                    "debit": amount if amount > 0 else 0.0,
                    "credit": -amount if amount < 0 else 0.0,
                    "amount": amount,
                    "balance": currency.round(balance),
                }
            )
        return lines

    @api.model
    def _aging(self, customers, options):
        """The aged buckets of every customer at the end date, from the aged receivables
        report itself (same reading of the date): ([(key, label)], {customer id: amounts})."""
        Aged = self.env["finnsys.aged.receivable"]
        report = Aged._aging_report(self._aging_options(options, customers))
        aging = {}
        for row in report["rows"]:
            amounts = aging.setdefault(row["partner_id"], dict.fromkeys(row["amounts"], 0.0))
            for key, value in row["amounts"].items():
                amounts[key] += value
        return report["buckets"], aging
