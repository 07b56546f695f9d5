import threading
import uuid
from datetime import timedelta
from unittest.mock import patch

from freezegun import freeze_time

from odoo import SUPERUSER_ID, api
from odoo.fields import Domain
from odoo.tests import HttpCase, tagged

from .common import CommittedCompanyCase
from .pdf_common import require_poppler
from .test_statement import StatementCommon

MARCH_DATA = {"date_from": "2026-03-01", "date_to": "2026-03-31"}


@tagged("post_install", "-at_install")
class TestStatementBatchPdf(StatementCommon, HttpCase):
    """The monthly e-mail prints a batch of statements in one wkhtmltopdf run, cut per
    customer: one run per customer cost over a second each, too slow for thousands."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_poppler()
        cls.third = cls._customer("Third Ledger Co", "postpaid", email="third@ledger.example")

    def test_batch_is_one_wkhtmltopdf_run_cut_into_each_customers_statement(self):
        self._build_march()
        self._invoice(self.third, 333, date="2026-03-20")
        # A long statement, of several pages, in the middle of the batch.
        for day in range(1, 29):
            self._invoice(self.other, 10 + day, date=f"2026-03-{day:02d}")
        Log = self.env["finnsys.statement.log"].with_context(force_report_rendering=True)
        logs = Log.sudo().create(
            [
                {"partner_id": customer.id, "company_id": self.env.company.id, **MARCH_DATA}
                for customer in (self.customer, self.other, self.third)
            ]
        )
        Report = type(self.env["ir.actions.report"])
        runs = []
        original = Report._run_wkhtmltopdf

        def counted(report, bodies, *args, **kwargs):
            runs.append(len(bodies))
            return original(report, bodies, *args, **kwargs)

        with patch.object(Report, "_run_wkhtmltopdf", counted):
            pdfs = Log.sudo()._pdfs(logs)
        self.assertEqual(len(runs), 1, "one wkhtmltopdf run for the three statements")
        names = {
            self.customer: "Statement Co",
            self.other: "Other Ledger Co",
            self.third: "Third Ledger Co",
        }
        for customer, name in names.items():
            text = self._pdftotext(pdfs[customer.id])
            self.assertIn(name, text)
            self.assertIn(f"C-{customer.id:06d}", text)
            for other_name in set(names.values()) - {name}:
                self.assertNotIn(other_name, text)
        third = self._pdftotext(pdfs[self.third.id])
        self.assertIn(self._plain(self.env.company.currency_id.format(333)), third)

    def test_past_statement_as_known_then_in_the_pdf(self):
        ops = self._build_march()
        data = {**MARCH_DATA, "as_of": "known", "partner_ids": self.customer.ids}
        pdf, _type = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("finnsys_billing.action_report_statement", data=data)
        )
        text = self._pdftotext(pdf)
        self.assertIn("as known on", text)
        self.assertIn(ops["withdrawal"].payment_id.move_id.name, text)
        self.assertNotIn(
            ops["late_payment"].move_id.name, text, "entered on 3 April, unknown on 31 March"
        )
        self.assertIn(self._money(1000), text, "opening")
        self.assertIn(self._money(-200), text, "closing as known then, by hand")
        self.assertNotIn(self._money(-250), text, "the closing as dated")


@tagged("post_install", "-at_install")
class TestStatementEmail(StatementCommon):
    """The monthly e-mail, run through the cron on frozen days."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.billing_statement_email = True
        cls.silent = cls._customer("No Mail Co", "postpaid")

    def _run_cron(self, day):
        with freeze_time(day), self.enter_registry_test_mode():
            self.env.ref("finnsys_billing.ir_cron_send_statements").method_direct_trigger()
        self.env.invalidate_all()

    def _mails(self, partner):
        return self.env["mail.mail"].search(
            Domain("model", "=", "finnsys.statement.log")
            & Domain("recipient_ids", "in", partner.ids)
        )

    def test_cron_sends_last_months_statement_once_even_run_twice(self):
        with freeze_time("2026-04-15"):
            self._build_march()
            self._invoice(self.silent, 10, date="2026-03-10")
        self._run_cron("2026-04-01 04:00:00")
        self._run_cron("2026-04-01 05:00:00")
        self._run_cron("2026-04-20 04:00:00")
        mails = self._mails(self.customer)
        self.assertEqual(len(mails), 1, "once per customer and month")
        self.assertEqual(mails.state, "outgoing", "through the mail queue")
        self.assertIn("March 2026", mails.subject)
        self.assertEqual(len(mails.attachment_ids), 1)
        self.assertTrue(mails.attachment_ids.name.endswith(".pdf"))
        self.assertIn(b"Statement Co", mails.attachment_ids.raw)
        logs = self.env["finnsys.statement.log"].search(Domain("date_from", "=", "2026-03-01"))
        self.assertEqual(
            {(log.partner_id, log.state, log.skip_reason) for log in logs},
            {
                (self.customer, "sent", False),
                (self.other, "sent", False),
                (self.silent, "skipped", "no_email"),
            },
        )
        self.assertEqual(logs.filtered(lambda log: log.partner_id == self.customer).mail_id, mails)
        # May brings April's statement: a new month, a new e-mail.
        self._run_cron("2026-05-01 04:00:00")
        self.assertEqual(len(self._mails(self.customer)), 2)

    def test_no_statement_without_the_company_setting_or_anything_to_show(self):
        with freeze_time("2026-04-15"):
            self._build_march()
        quiet = self._customer("Quiet Co", "postpaid", email="quiet@example.com")
        self.env.company.billing_statement_email = False
        self._run_cron("2026-04-01 04:00:00")
        self.assertFalse(self._mails(self.customer))
        self.env.company.billing_statement_email = True
        self._run_cron("2026-04-02 04:00:00")
        self.assertEqual(len(self._mails(self.customer)), 1, "caught up the next day")
        self.assertFalse(self._mails(quiet), "nothing owed, nothing in the month")


@tagged("post_install", "-at_install")
class TestStatementEmailRace(CommittedCompanyCase):
    """Two statement runs at once (two cron workers, two transactions): each customer gets
    its statement once, with one log row."""

    company_name = "Statement Race Co"
    company_values = {"billing_statement_email": True}

    @classmethod
    def _setup_committed_data(cls, env, company):
        date_from, _date_to = env["finnsys.statement"]._default_period()
        customers = env["res.partner"].create(
            [
                {
                    "name": f"Racing Reader {n} {uuid.uuid4().hex[:6]}",
                    "email": f"reader{n}@race.example",
                    "is_company": True,
                    "customer_rank": 1,
                    "billing_mode": "postpaid",
                    "company_id": company.id,
                }
                for n in range(4)
            ]
        )
        invoices = env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_date": date_from + timedelta(days=3),
                    "invoice_line_ids": [(0, 0, {"name": "Usage", "price_unit": 100})],
                }
                for customer in customers
            ]
        )
        invoices.finnsys_post_over_credit_limit()
        cls.customer_ids = customers.ids

    @classmethod
    def tearDownClass(cls):
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["res.company"].browse(cls.company_id).billing_statement_email = False
        super().tearDownClass()

    def _statement_outcome(self):
        with self.registry.cursor() as cr:
            env = self._env(cr)
            logs = env["finnsys.statement.log"].search(
                Domain("partner_id", "in", self.customer_ids)
            )
            mails = env["mail.mail"].search(
                Domain("model", "=", "finnsys.statement.log") & Domain("res_id", "in", logs.ids)
            )
            return (
                sorted(logs.partner_id.ids),
                len(logs),
                sorted(mail.recipient_ids.id for mail in mails),
            )

    def test_two_runs_at_once_email_each_customer_once(self):
        outcome = {}

        def run(env_b):
            try:
                outcome["b"] = env_b["finnsys.statement.log"]._cron_send_statements(batch_size=2)
            except Exception as error:  # noqa: BLE001 - asserted in the main thread
                outcome["b"] = error
                env_b.cr.rollback()

        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            cr_b.execute("SELECT pg_backend_pid()")
            pid_b = cr_b.fetchone()[0]
            Log = env_a["finnsys.statement.log"]
            company = env_a["res.company"].browse(self.company_id)
            date_from, date_to = env_a["finnsys.statement"]._default_period()
            # Worker A has claimed the first customers and is printing their statements.
            claimed = Log.with_company(company)._claim(company, date_from, date_to, 2)
            self.assertEqual(len(claimed), 2)
            worker = threading.Thread(target=run, args=(env_b,))
            worker.start()
            self.assertTrue(
                self._wait_until_blocked(pid_b, thread=worker) or not worker.is_alive(),
                "B waits for A's claim or has already sent the others",
            )
            Log.with_company(company)._send(claimed)
            cr_a.commit()
            worker.join(300)
            self.assertFalse(worker.is_alive())
            self.assertIsInstance(outcome.get("b"), dict, outcome.get("b"))
            Log._cron_send_statements()  # A goes on: nothing is left for it
            cr_a.commit()
        customers, log_count, recipients = self._statement_outcome()
        self.assertEqual(customers, sorted(self.customer_ids))
        self.assertEqual(log_count, len(self.customer_ids), "one log row per customer")
        self.assertEqual(recipients, sorted(self.customer_ids), "one e-mail per customer")
