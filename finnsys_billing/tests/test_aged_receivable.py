import random
from datetime import datetime

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.tests import tagged
from odoo.tools import SQL

from .common import BillingCommon

RANDOM_DATES = ("2026-01-31", "2026-02-15", "2026-03-31", "2026-04-15")


class AgingCase(BillingCommon):
    """Aged receivables on hand-computed fixtures, at dates before and after the payments.

    Due dates equal invoice dates (immediate terms), so the age is counted from the
    invoice date; buckets are the default 30, 60, 90, 120 days.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_2 = cls.setup_other_company()["company"]
        cls.eur = cls.setup_other_currency("EUR", rates=[("2026-01-01", 2.0), ("2026-03-01", 2.5)])
        cls.customer = cls._customer("Aging Co", "postpaid")
        cls.late_match = cls._customer("Late Match Co", "postpaid")

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _receivable(move):
        return move.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )

    def _reconcile_on(self, moves, day):
        """Reconcile the receivable items of ``moves`` as if it was done on ``day``."""
        self.env.flush_all()
        self.env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM account_partial_reconcile")
        before = self.env.cr.fetchone()[0]
        self._receivable(moves).reconcile()
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE account_partial_reconcile SET create_date = %s WHERE id > %s",
                datetime.fromisoformat(f"{day} 12:00:00"),
                before,
            )
        )
        self.env.invalidate_all()

    def _rows(self, date_at, **options):
        report = self.env["finnsys.aged.receivable"]._aging_report({"date_at": date_at, **options})
        return {(row["partner_id"], row["company"].id): row for row in report["rows"]}

    def _amounts(self, partner, date_at, company=None, **options):
        row = self._rows(date_at, **options).get((partner.id, (company or self.env.company).id))
        if not row:
            return {}
        return {key: value for key, value in row["amounts"].items() if value} | {
            "total": row["total"]
        }

    def _ledger_balance(self, partner, date_at, company=None):
        lines = self.env["account.move.line"].search(
            Domain("partner_id", "child_of", partner.id)
            & Domain("account_id.account_type", "=", "asset_receivable")
            & Domain("parent_state", "=", "posted")
            & Domain("date", "<=", date_at)
            & Domain("company_id", "=", (company or self.env.company).id)
        )
        return sum(lines.mapped("balance"))

    def _build_aging_co(self):
        """Invoice 1000 (10 Jan) paid 400 on 1 Feb; invoice 500 (15 Mar) paid 300 on 5 Apr;
        credit note 200 (20 Mar) never applied."""
        first = self._invoice(self.customer, 1000, date="2026-01-10")
        second = self._invoice(self.customer, 500, date="2026-03-15")
        early = self._receive(self.customer, 400, date="2026-02-01")
        self._reconcile_on(first | early.move_id, "2026-02-01")
        self._invoice(self.customer, 200, date="2026-03-20", move_type="out_refund")
        late = self._receive(self.customer, 300, date="2026-04-05")
        self._reconcile_on(second | late.move_id, "2026-04-05")
        return first, second

    def _random_ledger(self, seed):
        """Random invoices and payments of four customers, some matched on random days."""
        rng = random.Random(seed)
        customers = [self._customer(f"Random {seed} {n}", "postpaid") for n in range(4)]
        moves = []
        for _n in range(14):
            partner = rng.choice(customers)
            day = f"2026-0{rng.randint(1, 3)}-{rng.randint(1, 28):02d}"
            if rng.random() < 0.6:
                moves.append(self._invoice(partner, rng.randint(10, 900), date=day))
            else:
                moves.append(self._receive(partner, rng.randint(10, 900), date=day).move_id)
        for _n in range(6):
            first, second = rng.sample(moves, 2)
            if first.partner_id == second.partner_id and not (
                self._receivable(first | second).filtered("reconciled")
            ):
                self._reconcile_on(
                    first | second, f"2026-0{rng.randint(2, 4)}-{rng.randint(1, 14):02d}"
                )
        return customers


@tagged("post_install", "-at_install")
@freeze_time("2026-04-15")
class TestAgedReceivable(AgingCase):
    # -- figures ----------------------------------------------------------------------------

    def test_partial_payments_credit_notes_and_later_payment(self):
        self._build_aging_co()
        # 31 Mar: first 600 open at 80 days, second 500 at 16 days, credit note -200; the
        # payment of 5 Apr and its reconciliation do not exist yet.
        self.assertEqual(
            self._amounts(self.customer, "2026-03-31"),
            {"b3": 600.0, "b1": 500.0, "credit": -200.0, "total": 900.0},
        )
        self.assertEqual(self._ledger_balance(self.customer, "2026-03-31"), 900.0)
        # 10 Apr: the payment of 5 Apr took 300 off the second invoice.
        self.assertEqual(
            self._amounts(self.customer, "2026-04-10"),
            {"b3": 600.0, "b1": 200.0, "credit": -200.0, "total": 600.0},
        )
        # 15 Jan: only the first invoice, 5 days old.
        self.assertEqual(
            self._amounts(self.customer, "2026-01-15"), {"b1": 1000.0, "total": 1000.0}
        )
        # Before any entry: nothing.
        self.assertEqual(self._amounts(self.customer, "2026-01-09"), {})

    def test_invoice_date_basis_and_custom_buckets(self):
        self._build_aging_co()
        self.assertEqual(
            self._amounts(self.customer, "2026-03-31", basis="invoice", limits="15,45"),
            {"b3": 600.0, "b2": 500.0, "credit": -200.0, "total": 900.0},
        )

    def test_reconciliation_made_after_the_date_is_ignored(self):
        invoice = self._invoice(self.late_match, 300, date="2026-01-10")
        payment = self._receive(self.late_match, 300, date="2026-03-20")
        self._reconcile_on(invoice | payment.move_id, "2026-04-10")
        # On 31 Mar nobody had matched them yet: the report of 31 Mar run today shows what
        # a report run on 31 Mar showed.
        self.assertEqual(
            self._amounts(self.late_match, "2026-03-31"),
            {"b3": 300.0, "credit": -300.0, "total": 0.0},
        )
        self.assertEqual(self._amounts(self.late_match, "2026-04-12"), {})
        self.assertNotIn(
            (self.late_match.id, self.env.company.id),
            self._rows("2026-04-12", show_zero=False),
        )
        self.assertIn(
            (self.late_match.id, self.env.company.id), self._rows("2026-04-12", show_zero=True)
        )

    def test_foreign_currency_invoice_ages_its_company_currency_residual(self):
        customer = self._customer("Euro Co", "postpaid")
        invoice = self.init_invoice(
            "out_invoice",
            partner=customer,
            invoice_date=fields.Date.to_date("2026-02-10"),
            amounts=[1000.0],
            taxes=[],
            currency=self.eur,
            post=True,
        )
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": customer.id,
                "amount": 400.0,
                "currency_id": self.eur.id,
                "date": "2026-03-05",
                "journal_id": self.company_data["default_journal_bank"].id,
            }
        )
        payment.action_post()
        self._reconcile_on(invoice | payment.move_id, "2026-03-05")
        # 1000 EUR at 2.0 = 500; 400 EUR paid at 2.5 = 160 plus 40 of exchange difference.
        self.assertEqual(self._amounts(customer, "2026-03-01"), {"b1": 500.0, "total": 500.0})
        self.assertEqual(self._amounts(customer, "2026-03-31"), {"b2": 300.0, "total": 300.0})
        self.assertEqual(self._ledger_balance(customer, "2026-03-31"), 300.0)
        self.assertEqual(
            self._amounts(customer, "2026-03-31", in_currency=True), {"b2": 600.0, "total": 600.0}
        )
        rows = self._rows("2026-03-31", in_currency=True)
        self.assertEqual(rows[(customer.id, self.env.company.id)]["currency"], self.eur)

    def test_screens_of_two_company_currencies_keep_each_currency_apart(self):
        """With companies in two currencies, each pivot group lists its company currencies
        and the shares make 100 % per currency, the owed of each currency its own gross."""
        euro_company = self.setup_other_company(name="Euro Co", currency_id=self.eur.id)
        self._invoice(self.customer, 300, date="2026-03-30")
        self._invoice(self.customer, 100, date="2026-01-10")
        self.init_invoice(
            "out_invoice",
            partner=self.customer,
            invoice_date=fields.Date.to_date("2026-03-30"),
            amounts=[50.0],
            taxes=[],
            company=euro_company["company"],
            post=True,
        )
        companies = self.env.company | euro_company["company"]
        aging = self.env["finnsys.aged.receivable"].with_context(
            allowed_company_ids=companies.ids,
            finnsys_aging={"date_at": "2026-03-31", "company_ids": companies.ids},
        )
        measures = ["company_currency_id:array_agg_distinct", "share:sum", "residual:sum"]
        by_bucket, (total,) = aging.formatted_read_grouping_sets([], [["bucket"], []], measures)
        self.assertEqual(
            sorted(total["company_currency_id:array_agg_distinct"]),
            sorted(companies.currency_id.ids),
        )
        self.assertAlmostEqual(total["share:sum"], 200.0)  # 100 % of each currency
        self.assertEqual(
            {g["bucket"]: round(g["share:sum"], 2) for g in by_bucket},
            # 300 and 100 of 400 dollars; all the euros, not due yet (the company's terms)
            {"b0": 100.0, "b1": 75.0, "b3": 25.0},
        )
        (euro_row,) = aging.formatted_read_group(
            [("company_id", "=", euro_company["company"].id)], [], measures
        )
        self.assertEqual(euro_row["company_currency_id:array_agg_distinct"], self.eur.ids)

    def test_two_companies_and_company_the_user_may_not_see(self):
        self._invoice(self.customer, 1000, date="2026-01-10")
        self.init_invoice(
            "out_invoice",
            partner=self.customer,
            invoice_date=fields.Date.to_date("2026-03-01"),
            amounts=[700.0],
            taxes=[],
            company=self.company_2,
            post=True,
        )
        both = self.env.companies | self.company_2
        aging = self.env["finnsys.aged.receivable"].with_context(allowed_company_ids=both.ids)
        report = aging._aging_report({"date_at": "2026-03-31", "company_ids": both.ids})
        totals = {row["company"]: row["total"] for row in report["rows"]}
        self.assertEqual(totals, {self.env.company: 1000.0, self.company_2: 700.0})

        clerk_report = (
            self.env["finnsys.aged.receivable"]
            .with_user(self.billing_user)
            ._aging_report({"date_at": "2026-03-31", "company_ids": both.ids})
        )
        self.assertEqual(clerk_report["options"]["company_ids"], self.env.company.ids)
        self.assertEqual([row["company"] for row in clerk_report["rows"]], [self.env.company])
        items = (
            self.env["finnsys.aged.receivable"]
            .with_user(self.billing_user)
            .with_context(finnsys_aging={"date_at": "2026-03-31", "company_ids": both.ids})
            .search([])
        )
        self.assertEqual(items.company_id, self.env.company)

    def test_filters_billing_mode_salesperson_and_draft(self):
        prepaid = self._customer("Prepaid Aging Co", "prepaid", limit=10000)
        self._invoice(prepaid, 100, date="2026-03-01")
        self._invoice(self.customer, 250, date="2026-03-01")
        self._invoice(self.customer, 50, date="2026-03-02", post=False)
        self.customer.user_id = self.billing_manager
        self.assertEqual(
            set(self._rows("2026-03-31", billing_mode="prepaid")),
            {(prepaid.id, self.env.company.id)},
        )
        self.assertEqual(
            set(self._rows("2026-03-31", user_id=self.billing_manager.id)),
            {(self.customer.id, self.env.company.id)},
        )
        self.assertEqual(self._amounts(self.customer, "2026-03-31")["total"], 250.0)
        self.assertEqual(
            self._amounts(self.customer, "2026-03-31", include_draft=True)["total"], 300.0
        )
        self.assertEqual(
            set(self._rows("2026-03-31", partner_ids=prepaid.ids)),
            {(prepaid.id, self.env.company.id)},
        )

    def test_totals_row_and_bucket_shares(self):
        self._build_aging_co()
        self._invoice(self.late_match, 100, date="2026-03-30")
        report = self.env["finnsys.aged.receivable"]._aging_report({"date_at": "2026-03-31"})
        (total,) = report["totals"]
        self.assertEqual(total["total"], 1000.0)
        self.assertEqual(total["amounts"]["b1"], 600.0)
        self.assertEqual(total["amounts"]["credit"], -200.0)
        # Shares of the 1200 owed: the unapplied credit has none.
        self.assertAlmostEqual(total["percent"]["b3"], 50.0)
        self.assertAlmostEqual(total["percent"]["b1"], 50.0)
        self.assertNotIn("credit", total["percent"])

    def test_shares_stay_within_100_when_credit_exceeds_what_is_owed(self):
        """Shares of the net total gave 173 % and -137 % when credit was large."""
        self._invoice(self.customer, 300, date="2026-03-30")
        self._invoice(self.customer, 100, date="2026-01-10")
        self._receive(self.customer, 1000, date="2026-03-31")  # not applied
        report = self.env["finnsys.aged.receivable"]._aging_report({"date_at": "2026-03-31"})
        (total,) = report["totals"]
        self.assertEqual(total["total"], -600.0)
        self.assertEqual(
            {key: round(share, 2) for key, share in total["percent"].items() if share},
            {"b1": 75.0, "b3": 25.0},
        )
        aging = self.env["finnsys.aged.receivable"].with_context(
            finnsys_aging={"date_at": "2026-03-31"}
        )
        groups = aging.formatted_read_group([], ["bucket"], ["share:sum"])
        self.assertEqual(
            {group["bucket"]: round(group["share:sum"], 2) for group in groups},
            {"b1": 75.0, "b3": 25.0, "credit": 0.0},
        )

    def test_random_ledger_total_equals_receivable_balance(self):
        customers = self._random_ledger(19)
        for date_at in RANDOM_DATES:
            rows = self._rows(date_at)
            for partner in customers:
                row = rows.get((partner.id, self.env.company.id))
                self.assertAlmostEqual(
                    row["total"] if row else 0.0,
                    self._ledger_balance(partner, date_at),
                    msg=f"{partner.name} at {date_at}",
                )
                if row:
                    self.assertAlmostEqual(sum(row["amounts"].values()), row["total"])

    def test_random_ledger_total_equals_oca_aged_partner_balance(self):
        """Only where the OCA's account_financial_report is installed (not a dependency)."""
        oca = self.env["ir.module.module"]._get("account_financial_report")
        if oca.state != "installed":
            self.skipTest("account_financial_report (OCA) is not installed")
        customers = self._random_ledger(23)
        receivable = self.company_data["default_account_receivable"]
        for date_at in RANDOM_DATES:
            wizard = self.env["aged.partner.balance.report.wizard"].create(
                {
                    "date_at": date_at,
                    "company_id": self.env.company.id,
                    "account_ids": receivable.ids,
                }
            )
            values = self.env[
                "report.account_financial_report.aged_partner_balance"
            ]._get_report_values(wizard.ids, dict(wizard._prepare_report_data(), date_at=date_at))
            theirs = {
                partner["name"]: partner["residual"]
                for account in values["aged_partner_balance"]
                for partner in account["partners"]
            }
            rows = self._rows(date_at)
            for partner in customers:
                row = rows.get((partner.id, self.env.company.id))
                self.assertAlmostEqual(
                    row["total"] if row else 0.0,
                    theirs.get(partner.display_name, 0.0),
                    msg=f"{partner.name} at {date_at}",
                )

    def test_query_count_does_not_grow_with_customers(self):
        aging = self.env["finnsys.aged.receivable"]

        def count():
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            aging._aging_report({"date_at": "2026-04-15"})
            return self.env.cr.sql_log_count - before

        self._invoice(self.customer, 100, date="2026-03-01")
        count()  # warms the access-rule and group caches
        few = count()
        for n in range(6):
            self._invoice(self._customer(f"More {n}", "postpaid"), 100 + n, date="2026-02-01")
        self.assertEqual(count(), few)

    # -- bad input --------------------------------------------------------------------------

    def test_bad_options_are_refused(self):
        wizard = self.env["finnsys.aged.receivable.wizard"]
        for values in (
            {"date_at": "2027-05-01"},
            {"bucket_limits": "60,30"},
            {"bucket_limits": "30,30"},
            {"bucket_limits": "-5,30"},
            {"bucket_limits": " , "},
            {"bucket_limits": "30,abc"},
        ):
            with self.subTest(values=values), self.assertRaises(ValidationError):
                wizard.create(values)
        with self.assertRaises(ValidationError):
            self.env.company.billing_aging_limits = "90,60"
        self.assertTrue(wizard.create({"date_at": "2027-04-14"}))
