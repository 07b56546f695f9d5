import random
from datetime import datetime

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from .test_aged_receivable import RANDOM_DATES, AgingCase


@tagged("post_install", "-at_install")
@freeze_time("2026-04-15")
class TestAgedReceivableHistory(AgingCase):
    """ "As of" D read *as dated* (every entry dated by D, backdated ones included) and *as
    known* (only what was entered by the end of D): hand-computed and random backdated
    invoices, payments and reconciliations, on the printout and on screen."""

    # -- as dated / as known ----------------------------------------------------------------

    def _entered_on(self, moves, day):
        """Record ``moves`` as entered (created) on ``day`` at noon UTC, items included."""
        self.env.flush_all()
        when = datetime.fromisoformat(f"{day} 12:00:00")
        for table in ("account_move", "account_move_line"):
            column = "id" if table == "account_move" else "move_id"
            self.env.cr.execute(
                SQL(
                    "UPDATE %s SET create_date = %s WHERE %s = ANY(%s)",
                    SQL.identifier(table),
                    when,
                    SQL.identifier(column),
                    moves.ids,
                )
            )
        self.env.invalidate_all()

    def _screen_amounts(self, partner, date_at, **options):
        """The pivot's cells of ``partner``: amount per bucket and total, as on screen."""
        aging = self.env["finnsys.aged.receivable"].with_context(
            finnsys_aging={"date_at": date_at, **options}
        )
        groups = aging.formatted_read_group(
            [("partner_id", "=", partner.id)], ["bucket"], ["residual:sum"]
        )
        amounts = {g["bucket"]: g["residual:sum"] for g in groups if g["residual:sum"]}
        return amounts | {"total": sum(amounts.values())} if amounts else {}

    def test_backdated_invoice_payment_and_reconciliation_as_dated_and_as_known(self):
        customer = self._customer("Backdated Co", "postpaid")
        on_time = self._invoice(customer, 400, date="2026-03-10")
        self._entered_on(on_time, "2026-03-10")
        # Entered on 5 and 6 Apr, dated in March, matched on 6 Apr.
        backdated = self._invoice(customer, 1000, date="2026-03-15")
        self._entered_on(backdated, "2026-04-05")
        payment = self._receive(customer, 250, date="2026-03-20")
        self._entered_on(payment.move_id, "2026-04-06")
        self._reconcile_on(backdated | payment.move_id, "2026-04-06")
        # As dated on 31 Mar: the backdated entries count, their later matching does not.
        dated = {"b1": 1400.0, "credit": -250.0, "total": 1150.0}
        self.assertEqual(self._amounts(customer, "2026-03-31"), dated)
        self.assertEqual(self._amounts(customer, "2026-03-31", as_of="dated"), dated)
        self.assertEqual(self._screen_amounts(customer, "2026-03-31"), dated)
        # As known on 31 Mar: what a report printed that evening showed.
        known = {"b1": 400.0, "total": 400.0}
        self.assertEqual(self._amounts(customer, "2026-03-31", as_of="known"), known)
        self.assertEqual(self._screen_amounts(customer, "2026-03-31", as_of="known"), known)
        # Entered on 5 Apr: on 5 Apr the invoice is known, the payment not yet.
        self.assertEqual(
            self._amounts(customer, "2026-04-05", as_of="known"),
            {"b1": 1400.0, "total": 1400.0},
        )
        # By 10 Apr everything is known: both readings agree.
        for as_of in ("dated", "known"):
            self.assertEqual(
                self._amounts(customer, "2026-04-10", as_of=as_of),
                {"b1": 750.0, "b2": 400.0, "total": 1150.0},
            )

    def test_wizard_prints_the_reading_of_the_date(self):
        wizard = self.env["finnsys.aged.receivable.wizard"].create(
            {"date_at": "2026-03-31", "as_of": "known"}
        )
        report = wizard._aging_report_with_headers()
        self.assertEqual(report["options"]["as_of"], "known")
        self.assertIn(("History", "As known on the date"), report["headers"])
        self.assertEqual(wizard.action_view()["context"]["finnsys_aging"]["as_of"], "known")
        self.assertEqual(wizard.action_view()["name"], "Aged Receivables as known on 2026-03-31")

    def _independent_as_of(self, customers, date_at, as_of):
        """Per customer and bucket, the open amounts at ``date_at`` from the ledger alone:
        each item's balance less its partials made by then, aged here in Python."""
        known = SQL("TRUE")
        if as_of == "known":
            known = SQL("line.create_date < %s::date + 1", date_at)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT partner.commercial_partner_id, line.date_maturity, line.date,
                       line.balance
                       - COALESCE((SELECT SUM(p.amount) FROM account_partial_reconcile p
                                    WHERE p.debit_move_id = line.id
                                      AND GREATEST(p.max_date, p.create_date::date) <= %(d)s),
                                  0)
                       + COALESCE((SELECT SUM(p.amount) FROM account_partial_reconcile p
                                    WHERE p.credit_move_id = line.id
                                      AND GREATEST(p.max_date, p.create_date::date) <= %(d)s),
                                  0)
                  FROM account_move_line line
                  JOIN account_account account ON account.id = line.account_id
                  JOIN res_partner partner ON partner.id = line.partner_id
                 WHERE account.account_type = 'asset_receivable'
                   AND line.parent_state = 'posted'
                   AND line.date <= %(d)s
                   AND partner.commercial_partner_id = ANY(%(customers)s)
                   AND %(known)s
                """,
                d=date_at,
                customers=[customer.id for customer in customers],
                known=known,
            )
        )
        limits = [30, 60, 90, 120]
        expected = {}
        for partner_id, due, date, residual in self.env.cr.fetchall():
            if not residual:
                continue
            age = (fields.Date.to_date(date_at) - (due or date)).days
            bucket = (
                "credit"
                if residual < 0
                else next((f"b{n}" for n, limit in enumerate([0, *limits]) if age <= limit), "b5")
            )
            amounts = expected.setdefault(partner_id, {})
            amounts[bucket] = round(amounts.get(bucket, 0.0) + float(residual), 2)
        return {
            partner_id: {key: value for key, value in amounts.items() if value}
            for partner_id, amounts in expected.items()
        }

    def test_random_backdated_ledger_matches_an_independent_as_of_computation(self):
        customers = self._random_ledger(31)
        rng = random.Random(31)
        moves = self.env["account.move"].search([("partner_id", "in", [c.id for c in customers])])
        for move in moves:
            # Entered up to three weeks after its date: backdated at the dates in between.
            lag = rng.choice([0, 0, 3, 10, 21])
            self._entered_on(move, fields.Date.add(move.date, days=lag))
        # A reconciliation cannot be entered before both of its items.
        self.env.cr.execute(
            """
            UPDATE account_partial_reconcile p
               SET create_date = GREATEST(p.create_date, debit.create_date, credit.create_date)
              FROM account_move_line debit, account_move_line credit
             WHERE debit.id = p.debit_move_id AND credit.id = p.credit_move_id
            """
        )
        self.env.invalidate_all()
        for date_at in RANDOM_DATES:
            for as_of in ("dated", "known"):
                expected = self._independent_as_of(customers, date_at, as_of)
                for partner in customers:
                    with self.subTest(date=date_at, as_of=as_of, partner=partner.name):
                        amounts = self._amounts(partner, date_at, as_of=as_of)
                        total = amounts.pop("total", 0.0)
                        self.assertEqual(amounts, expected.get(partner.id, {}))
                        self.assertAlmostEqual(total, sum(amounts.values()))
                        self.assertEqual(
                            self._screen_amounts(partner, date_at, as_of=as_of),
                            amounts | {"total": total} if amounts else {},
                        )
