import sys
import threading
import time
import traceback
import uuid

from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import CommittedCompanyCase, demo_provider


@tagged("post_install", "-at_install")
class TestTopupConcurrency(CommittedCompanyCase):
    """Two cron workers and a *Top up now* click at the same moment charge a customer once.

    A race cannot happen inside one test transaction, so this runs on committed data in a
    company of its own, with real transactions on separate cursors.
    """

    company_name = "Topup Race Co"
    company_values = {"account_use_credit_limit": False}

    @classmethod
    def _setup_committed_data(cls, env, company):
        provider = demo_provider(env, company)
        cls.customer_id = cls._prepaid_customer(env, company, provider, "Racer").id
        # Auto top-up off: only the first customer is due, so the workers never post a
        # payment themselves (posting registers a post-commit hook that opens a cursor,
        # which a thread cannot do while the test runner holds the registry lock).
        cls.second_id = cls._prepaid_customer(
            env, company, provider, "Second Racer", enabled=False
        ).id

    @classmethod
    def _prepaid_customer(cls, env, company, provider, name, enabled=True):
        customer = env["res.partner"].create(
            {
                "name": name,
                "email": "racer@customer.example",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "prepaid",
                "company_id": company.id,
            }
        )
        invoice = env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": "2026-01-10",
                "invoice_line_ids": [(0, 0, {"name": "Usage", "price_unit": 40, "tax_ids": []})],
            }
        )
        invoice.action_post()
        token = env["payment.token"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": env.ref("payment_demo.payment_method_demo").id,
                "partner_id": customer.id,
                "payment_details": "4242",
                "provider_ref": f"race-{uuid.uuid4().hex[:8]}",
                "demo_simulated_state": "done",
            }
        )
        customer.write(
            {
                "billing_payment_method": "token",
                "billing_token_id": token.id,
                "billing_topup_enabled": enabled,
                "billing_topup_amount": 100,
                "billing_topup_threshold": 0,
            }
        )
        return customer

    def _wait_until_blocked_or_done(self, pid, threads, timeout=10):
        deadline = time.monotonic() + timeout
        with self.registry.cursor() as cr:
            while time.monotonic() < deadline and any(t.is_alive() for t in threads):
                cr.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cr.fetchone()
                if row and row[0] == "Lock":
                    return
                cr.rollback()
                time.sleep(0.05)

    def _charges(self, partner_id):
        with self.registry.cursor() as cr:
            env = self._env(cr)
            txs = env["payment.transaction"].search(Domain("partner_id", "=", partner_id))
            attempts = env["finnsys.topup.attempt"].search(Domain("partner_id", "=", partner_id))
            partner = env["res.partner"].browse(partner_id)
            return (
                txs.mapped("state"),
                attempts.mapped("state"),
                len(txs.payment_id),
                partner.with_company(self.company_id).billing_balance,
            )

    def _stacks(self, threads):
        frames = sys._current_frames()
        return "\n".join(
            "".join(traceback.format_stack(frames[thread.ident]))
            for thread in threads
            if thread.ident in frames
        )

    def _run_cron(self, env, outcome, name):
        # Environments are built in the main thread: the test runner holds the registry lock
        # that building one needs.
        try:
            outcome[name] = env["finnsys.topup.attempt"]._cron_run_topups()
            env.cr.commit()
        except Exception as error:  # noqa: BLE001 - asserted in the main thread
            outcome[name] = error
            env.cr.rollback()

    @mute_logger("odoo.sql_db")
    def test_two_cron_runs_and_top_up_now_charge_once(self):
        outcome = {}
        with (
            self.registry.cursor() as cr_manual,
            self.registry.cursor() as cr_b,
            self.registry.cursor() as cr_c,
        ):
            env_manual, env_b, env_c = self._env(cr_manual), self._env(cr_b), self._env(cr_c)
            cr_b.execute("SELECT pg_backend_pid()")
            pid_b = cr_b.fetchone()[0]
            # The click charges first but has not committed when both workers start.
            env_manual["res.partner"].browse(self.customer_id).action_billing_topup_now()
            workers = [
                threading.Thread(target=self._run_cron, args=(env_b, outcome, "b")),
                threading.Thread(target=self._run_cron, args=(env_c, outcome, "c")),
            ]
            for worker in workers:
                worker.start()
            self._wait_until_blocked_or_done(pid_b, workers)
            cr_manual.commit()
            for worker in workers:
                worker.join(60)
        self.assertFalse(
            [w for w in workers if w.is_alive()], self._stacks([w for w in workers if w.is_alive()])
        )
        for name in ("b", "c"):
            self.assertNotIsInstance(outcome.get(name), Exception, outcome.get(name))
            self.assertGreaterEqual(outcome[name].get("busy", 0), 1, "the click holds the customer")

        tx_states, attempt_states, payments, balance = self._charges(self.customer_id)
        self.assertEqual(tx_states, ["done"])
        self.assertEqual(attempt_states, ["done"])
        self.assertEqual(payments, 1)
        self.assertEqual(balance, 60.0)

        # And a later run has nothing left to do for this customer.
        with self.registry.cursor() as cr:
            self._env(cr)["finnsys.topup.attempt"]._cron_run_topups()
        self.assertEqual(self._charges(self.customer_id)[0], ["done"])

    @mute_logger("odoo.sql_db")
    def test_same_crossing_waits_for_the_first_worker_then_yields(self):
        """Two workers opening the attempt of one crossing: the second waits on the unique key
        and, once the first commits, gets nothing to charge."""
        key = f"topup:{self.second_id}:{self.company_id}:race"

        def insert(env):
            partner = env["res.partner"].browse(self.second_id)
            company = env["res.company"].browse(self.company_id)
            return env["finnsys.topup.attempt"]._insert(partner, company, key, "cron")

        first, _blocked, second = self._race(insert, insert)
        self.assertTrue(first)
        self.assertFalse(second, second)
        with self.registry.cursor() as cr:
            count = self._env(cr)["finnsys.topup.attempt"].search_count(
                Domain("idempotency_key", "=", key)
            )
        self.assertEqual(count, 1)

    def test_top_up_now_refuses_while_a_worker_holds_the_customer(self):
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            cr_a.execute(
                "SELECT id FROM res_partner WHERE id = %s FOR NO KEY UPDATE", [self.second_id]
            )
            with self.assertRaises(UserError):
                self._env(cr_b)["res.partner"].browse(self.second_id).action_billing_topup_now()
            cr_b.rollback()
            cr_a.rollback()
