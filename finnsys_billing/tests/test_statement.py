import io
from datetime import date, datetime, timedelta

import openpyxl
from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.fields import Domain
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import SQL, format_amount

from .common import BillingCommon
from .pdf_common import SELLER, pdf_text, require_poppler

MARCH = {"date_from": "2026-03-01", "date_to": "2026-03-31"}


class StatementCommon(BillingCommon):
    """A postpaid customer whose March 2026 is, by hand (amounts owed, positive = owes):

    ====== ============================ ======== =======
    date   what                          amount   balance
    ====== ============================ ======== =======
    20 Feb invoice A (before March)       1000    1000 = opening on 1 Mar
    5 Mar  payment, part of A             -400     600
    10 Mar invoice B                        500    1100
    12 Mar credit note                     -200     900
    18 Mar top-up by card (no invoice)    -1200    -300
    25 Mar withdrawal of credit             100    -200 = closing on 31 Mar
    28 Mar payment entered on 3 Apr        -50    (as dated: -250)
    2 Apr  invoice C (after March)           75
    ====== ============================ ======== =======
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = cls._demo_provider()
        cls.customer = cls._customer(
            "Statement Co", "postpaid", email="accounts@statement.example", street="1 Ledger Lane"
        )
        cls.contact = cls.env["res.partner"].create(
            {"name": "Ann Payer", "parent_id": cls.customer.id, "email": "ann@statement.example"}
        )
        cls.other = cls._customer("Other Ledger Co", "postpaid", email="other@ledger.example")

    def _topup(self, partner, amount, day):
        """A card top-up as the portal makes it: a transaction without invoices, paid."""
        with freeze_time(day):
            tx = self._demo_transaction(self.provider, partner, amount, f"TOPUP-{partner.id}-{day}")
            tx._set_done()
            tx._post_process()
        return tx

    def _withdraw(self, partner, amount, day):
        with freeze_time(day):
            withdrawal = self.env["finnsys.withdrawal"].create(
                {"partner_id": partner.id, "amount": amount}
            )
            withdrawal.action_approve()
            withdrawal.action_pay()
        return withdrawal

    def _entered_on(self, moves, day):
        """Pretend ``moves`` were entered on ``day`` (their journal items' create_date)."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE account_move_line SET create_date = %s WHERE move_id = ANY(%s)",
                datetime.fromisoformat(f"{day} 12:00:00"),
                moves.ids,
            )
        )
        self.env.invalidate_all()

    def _build_march(self):
        ops = {}
        ops["invoice_a"] = self._invoice(self.customer, 1000, date="2026-02-20")
        ops["payment"] = self._receive(self.contact, 400, date="2026-03-05")
        self._receivable(ops["invoice_a"] | ops["payment"].move_id).reconcile()
        ops["invoice_b"] = self._invoice(self.customer, 500, date="2026-03-10")
        ops["credit_note"] = self._invoice(
            self.customer, 200, date="2026-03-12", move_type="out_refund"
        )
        ops["topup"] = self._topup(self.customer, 1200, "2026-03-18")
        ops["withdrawal"] = self._withdraw(self.customer, 100, "2026-03-25")
        ops["late_payment"] = self._receive(self.customer, 50, date="2026-03-28")
        ops["invoice_c"] = self._invoice(self.customer, 75, date="2026-04-02")
        self._invoice(self.other, 999, date="2026-03-15")
        self._entered_on_their_dates()
        self._entered_on(ops["late_payment"].move_id, "2026-04-03")
        return ops

    def _entered_on_their_dates(self):
        """PostgreSQL stamps what the test enters with today's real date, whatever the frozen
        one: date every journal item and reconciliation as entered on its own date."""
        self.env.flush_all()
        self.env.cr.execute("UPDATE account_move_line SET create_date = date + time '12:00'")
        self.env.cr.execute(
            "UPDATE account_partial_reconcile SET create_date = max_date + time '12:00'"
        )
        self.env.invalidate_all()

    @staticmethod
    def _receivable(moves):
        return moves.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )

    def _pdftotext(self, pdf):
        return self._plain(pdf_text(pdf))

    @staticmethod
    def _plain(text):
        """Without the no-break and zero-width spaces of formatted amounts."""
        return text.replace("\xa0", " ").replace("\u200b", "").replace("\ufeff", "")

    def _money(self, amount):
        return self._plain(format_amount(self.env, amount, self.env.company.currency_id))

    def _statement(self, **values):
        statements = self.env["finnsys.statement"]._statements(self.customer, {**MARCH, **values})
        return statements[self.customer.id]

    def _aging_total(self, date_at, as_of="dated"):
        report = self.env["finnsys.aged.receivable"]._aging_report(
            {"date_at": date_at, "as_of": as_of, "partner_ids": self.customer.ids}
        )
        return sum(row["total"] for row in report["rows"])

    def _ledger(self, date_at, before=False):
        lines = self.env["account.move.line"].search(
            Domain("partner_id", "child_of", self.customer.id)
            & Domain("account_id.account_type", "=", "asset_receivable")
            & Domain("parent_state", "=", "posted")
            & Domain("date", "<" if before else "<=", date_at)
        )
        return round(sum(lines.mapped("balance")), 2)


@tagged("post_install", "-at_install")
@freeze_time("2026-04-15")
class TestStatement(StatementCommon):
    def test_statement_computed_by_hand_over_a_month_of_operations(self):
        ops = self._build_march()
        statement = self._statement()
        self.assertEqual(statement["opening"], 1000.0)
        rows = [
            (line["date"].isoformat(), line["kind"], line["amount"], line["balance"])
            for line in statement["lines"]
        ]
        self.assertEqual(
            rows,
            [
                ("2026-03-05", "payment", -400.0, 600.0),
                ("2026-03-10", "invoice", 500.0, 1100.0),
                ("2026-03-12", "credit_note", -200.0, 900.0),
                ("2026-03-18", "topup", -1200.0, -300.0),
                ("2026-03-25", "withdrawal", 100.0, -200.0),
                ("2026-03-28", "payment", -50.0, -250.0),
            ],
        )
        self.assertEqual(statement["closing"], -250.0)
        self.assertEqual(statement["total_debit"], 600.0)
        self.assertEqual(statement["total_credit"], 1850.0)
        references = [line["reference"] for line in statement["lines"]]
        self.assertEqual(
            references,
            [
                ops["payment"].move_id.name,
                ops["invoice_b"].name,
                ops["credit_note"].name,
                ops["topup"].payment_id.move_id.name,
                ops["withdrawal"].payment_id.move_id.name,
                ops["late_payment"].move_id.name,
            ],
        )
        self.assertIn(ops["topup"].reference, statement["lines"][3]["details"])
        self.assertIn(ops["withdrawal"].name, statement["lines"][4]["details"])
        # The withdrawal used the oldest credit first: 100 of the credit note's 200.
        self.assertEqual(statement["aging"]["credit"], -1350.0, "credit note, top-up, payment")
        self.assertEqual(statement["aging"]["b1"], 500.0, "B, 21 days old")
        self.assertEqual(statement["aging"]["b2"], 600.0, "what A still owes, 39 days old")

    def test_opening_and_closing_equal_the_ledger_and_the_aged_total(self):
        self._build_march()
        for values in (MARCH, {"date_from": "2026-02-01", "date_to": "2026-04-10"}):
            statement = self._statement(**values)
            start, end = values["date_from"], values["date_to"]
            self.assertEqual(statement["opening"], self._ledger(start, before=True))
            self.assertEqual(statement["closing"], self._ledger(end))
            day_before = date.fromisoformat(start) - timedelta(days=1)
            self.assertEqual(statement["opening"], self._aging_total(day_before))
            self.assertEqual(statement["closing"], self._aging_total(end))
            self.assertEqual(round(sum(statement["aging"].values()), 2), statement["closing"])

    def test_past_statement_as_known_then_leaves_out_later_entries(self):
        self._build_march()
        known = self._statement(as_of="known")
        self.assertEqual(
            [line["kind"] for line in known["lines"]],
            ["payment", "invoice", "credit_note", "topup", "withdrawal"],
            "the payment entered on 3 April was not known on 31 March",
        )
        self.assertEqual(known["closing"], -200.0)
        self.assertEqual(known["closing"], self._aging_total("2026-03-31", as_of="known"))
        self.assertEqual(round(sum(known["aging"].values()), 2), -200.0)
        # Printed again today as dated, the backdated payment is in March.
        self.assertEqual(self._statement()["closing"], self._aging_total("2026-03-31"))
        # A statement of February, computed today, is what the ledger said then.
        february = self._statement(date_from="2026-02-01", date_to="2026-02-28")
        self.assertEqual((february["opening"], february["closing"]), (0.0, 1000.0))
        self.assertEqual(february["aging"]["b1"], 1000.0, "A, 8 days old then")

    def test_default_period_is_the_last_full_month(self):
        self.assertEqual(
            self.env["finnsys.statement"]._default_period(),
            (date(2026, 3, 1), date(2026, 3, 31)),
        )
        wizard = self.env["finnsys.statement.wizard"].create({"partner_ids": self.customer.ids})
        self.assertEqual((wizard.date_from, wizard.date_to), (date(2026, 3, 1), date(2026, 3, 31)))

    def test_many_customers_in_a_constant_number_of_queries(self):
        self._build_march()
        Statement = self.env["finnsys.statement"]
        few = self.customer | self.other
        self.env.flush_all()
        self.env.invalidate_all()
        start = self.cr.sql_log_count
        Statement._statements(few, MARCH)
        queries_few = self.cr.sql_log_count - start
        many = few | self.env["res.partner"].create(
            [{"name": f"Quiet {n}", "is_company": True, "customer_rank": 1} for n in range(30)]
        )
        for partner in many[2:12]:
            self._invoice(partner, 10, date="2026-03-03")
        self.env.flush_all()
        self.env.invalidate_all()
        start = self.cr.sql_log_count
        statements = Statement._statements(many, MARCH)
        queries_many = self.cr.sql_log_count - start
        self.assertEqual(len(statements), 32)
        self.assertLessEqual(queries_many, queries_few + 3, "a fixed number of queries")


@tagged("post_install", "-at_install")
@freeze_time("2026-04-15")
class TestStatementPrint(StatementCommon, HttpCase):
    """The PDF and XLSX a billing user prints from the customer form, read back."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_poppler()
        cls.env.company.write(SELLER)

    def test_pdf_names_customer_seller_and_balances(self):
        ops = self._build_march()
        wizard = (
            self.env["finnsys.statement.wizard"]
            .with_context(active_model="res.partner", active_ids=self.contact.ids)
            .create({})
            # An administrator is first asked to pick a document layout, as for any report.
            .with_context(discard_logo_check=True)
        )
        self.assertEqual(wizard.partner_ids, self.customer, "a contact's company")
        action = wizard.action_print_pdf()
        self.assertEqual(action["data"]["partner_ids"], self.customer.ids)
        pdf, report_type = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("finnsys_billing.action_report_statement", data=action["data"])
        )
        self.assertEqual(report_type, "pdf")
        text = self._pdftotext(pdf)
        for expected in (
            "Statement of Account",
            "Nordic Seller Oy",
            "FI12345671",
            "Statement Co",
            "1 Ledger Lane",
            "Opening balance",
            self._money(1000),
            "Closing balance",
            self._money(-250),
            ops["invoice_b"].name,
            ops["credit_note"].name,
            "Top-up",
            "Withdrawal",
            ops["withdrawal"].name,
        ):
            self.assertIn(expected, text)
        self.assertNotIn(ops["invoice_c"].name, text, "April is not in March's statement")
        self.assertNotIn("Other Ledger Co", text)

    def test_pdf_is_in_the_customers_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.customer.lang = "fr_FR"
        self._build_march()
        html, _type = self.env["ir.actions.report"]._render_qweb_html(
            "finnsys_billing.action_report_statement", self.customer.ids, data=dict(MARCH)
        )
        self.assertIn('data-oe-lang="fr_FR"', html.decode())
        self.assertIn("31/03/2026", html.decode(), "dates as French customers write them")

    def test_xlsx_has_one_sheet_per_customer_with_the_lines(self):
        self._build_march()
        wizard = (
            self.env["finnsys.statement.wizard"]
            .with_user(self.billing_user)
            .create({"partner_ids": (self.customer | self.other).ids, **MARCH})
        )
        action = wizard.action_export_xlsx()
        content, _type = self.env["ir.actions.report"]._render_xlsx(
            "finnsys_billing.report_statement_xlsx", None, data=action["data"]
        )
        book = openpyxl.load_workbook(io.BytesIO(content))
        self.assertEqual(sorted(book.sheetnames), ["Other Ledger Co", "Statement Co"])
        sheet = book["Statement Co"]
        values = [[cell.value for cell in row] for row in sheet.iter_rows()]
        balances = [row[7] for row in values if row[1] in ("Opening balance", "Closing balance")]
        self.assertEqual(balances, [1000.0, -250.0])
        kinds = [row[1] for row in values[9:15]]
        self.assertEqual(
            kinds, ["Payment", "Invoice", "Credit note", "Top-up", "Withdrawal", "Payment"]
        )

    def test_only_billing_users_print_statements(self):
        self._build_march()
        clerk_report = self.env["ir.actions.report"].with_user(self.billing_user)
        html, _type = clerk_report._render_qweb_html(
            "finnsys_billing.action_report_statement", self.customer.ids, data=dict(MARCH)
        )
        self.assertIn("Statement Co", html.decode())
        stranger = new_test_user(self.env, login="sales_only", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.env["ir.actions.report"].with_user(stranger)._render_qweb_html(
                "finnsys_billing.action_report_statement", self.customer.ids, data=dict(MARCH)
            )
