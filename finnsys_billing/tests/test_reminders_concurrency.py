import threading
import uuid

from odoo.fields import Domain
from odoo.tests import tagged

from .common import CommittedCompanyCase


@tagged("post_install", "-at_install")
class TestRemindersConcurrency(CommittedCompanyCase):
    """Two reminder runs at the same moment send each reminder once.

    A race cannot happen inside one test transaction, so this runs on committed data in a
    company of its own, with two real transactions. Each test pauses its customer when done
    so that later runs leave its invoices alone.
    """

    company_name = "Reminder Race Co"

    def _committed_invoices(self, count=3):
        """Overdue invoices of a fresh postpaid customer, committed."""
        with self.registry.cursor() as cr:
            env = self._env(cr)
            customer = env["res.partner"].create(
                {
                    "name": f"Racing Payer {uuid.uuid4().hex[:6]}",
                    "email": "racing@payer.example",
                    "is_company": True,
                    "customer_rank": 1,
                    "billing_mode": "postpaid",
                    "company_id": self.company_id,
                }
            )
            invoices = env["account.move"].create(
                [
                    {
                        "move_type": "out_invoice",
                        "partner_id": customer.id,
                        "invoice_date": "2026-01-10",
                        "invoice_line_ids": [
                            (0, 0, {"name": f"Usage {n}", "price_unit": 100, "tax_ids": []})
                        ],
                    }
                    for n in range(count)
                ]
            )
            invoices.action_post()
        self.addCleanup(self._pause, customer.id)
        return customer.id, invoices.ids

    def _pause(self, customer_id):
        with self.registry.cursor() as cr:
            self._env(cr)["res.partner"].browse(customer_id).billing_reminder_dispute = True

    def _sent_outcome(self, invoice_ids):
        with self.registry.cursor() as cr:
            env = self._env(cr)
            logs = env["finnsys.reminder.log"].search(
                Domain("move_id", "in", invoice_ids) & Domain("state", "=", "sent")
            )
            mails = env["mail.mail"].search(
                Domain("model", "=", "account.move")
                & Domain("res_id", "in", invoice_ids)
                & Domain("recipient_ids.email", "=", "racing@payer.example")
            )
            return sorted(log.move_id.id for log in logs), sorted(mails.mapped("res_id"))

    def test_run_during_another_run_skips_the_claimed_invoices(self):
        _customer_id, invoice_ids = self._committed_invoices()
        outcome = {}

        def run(env_b):
            # Environments are built in the main thread: the test runner holds the registry
            # lock that building one needs.
            try:
                outcome["b"] = env_b["finnsys.reminder.log"]._cron_send_reminders()
            except Exception as error:  # noqa: BLE001 - asserted in the main thread
                outcome["b"] = error
                env_b.cr.rollback()

        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            # Worker A has claimed the invoices and is rendering their e-mails.
            cr_a.execute(
                "SELECT id FROM account_move WHERE id IN %s FOR NO KEY UPDATE",
                [tuple(invoice_ids)],
            )
            worker = threading.Thread(target=run, args=(env_b,))
            worker.start()
            # B also sends whatever else is due in the database: give it time.
            worker.join(300)
            self.assertFalse(worker.is_alive(), "run B must not wait for A's invoices")
            self.assertIsInstance(outcome.get("b"), dict, outcome.get("b"))
            env_a["finnsys.reminder.log"]._cron_send_reminders()
        self.assertEqual(self._sent_outcome(invoice_ids), (invoice_ids, invoice_ids))

    def test_run_that_started_before_another_committed_sends_nothing_more(self):
        _customer_id, invoice_ids = self._committed_invoices()
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            # B's transaction takes its snapshot before A sends and commits.
            cr_b.execute("SELECT COUNT(*) FROM finnsys_reminder_log")
            counts_a = env_a["finnsys.reminder.log"]._cron_send_reminders()
            # B meets A's committed changes and retries on a fresh snapshot: an expected
            # conflict, which an administrator must not find as an ERROR in the server log.
            with self.assertNoLogs("odoo.sql_db", "ERROR"):
                env_b["finnsys.reminder.log"]._cron_send_reminders()
        self.assertGreaterEqual(counts_a.get("sent", 0), len(invoice_ids))
        self.assertEqual(self._sent_outcome(invoice_ids), (invoice_ids, invoice_ids))
