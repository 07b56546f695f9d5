import logging
import threading
import time
from datetime import date

import psycopg2.errors
from freezegun import freeze_time

from odoo import Command
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import CommittedCompanyCase

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestSubscriptionConcurrency(CommittedCompanyCase):
    """Two workers invoice one subscription period at the same moment.

    A race cannot happen inside one test transaction, so this runs on committed data in a
    company of its own, with two real transactions.
    """

    company_name = "Subscription Race Co"

    @classmethod
    def _setup_committed_data(cls, env, company):
        subscription = cls._committed_subscription(
            env, company, {"name": "Racing Subscriber"}, "2026-01-01"
        )
        cls.subscription_id = subscription.id

    def _invoice(self, env):
        return env["contract.contract"].browse(self.subscription_id)._recurring_create_invoice()

    def _count(self, env):
        return (
            env["account.move"].search_count([("subscription_id", "=", self.subscription_id)]),
            env["finnsys.subscription.period"].search_count(
                [("contract_id", "=", self.subscription_id)]
            ),
        )

    @mute_logger("odoo.sql_db")
    def test_cron_skips_a_subscription_another_process_holds(self):
        with self.registry.cursor() as cr_check:
            before = self._count(self._env(cr_check))
        with self.registry.cursor() as cr_hold, self.registry.cursor() as cr_cron:
            env_hold, env_cron = self._env(cr_hold), self._env(cr_cron)
            env_hold["contract.contract"].browse(self.subscription_id)._finnsys_lock_for_invoicing(
                nowait=False
            )
            subscription = env_cron["contract.contract"].browse(self.subscription_id)
            invoices, busy = env_cron["finnsys.subscription.period"]._invoice_each(
                subscription, date(2026, 12, 31)
            )
            cr_cron.rollback()
            cr_hold.rollback()
        self.assertFalse(invoices)
        self.assertEqual(busy.ids, [self.subscription_id], "left for the next try")
        with self.registry.cursor() as cr_check:
            self.assertEqual(self._count(self._env(cr_check)), before)

    @mute_logger("odoo.sql_db")
    def test_two_runs_at_once_then_a_rerun_make_one_invoice(self):
        first, blocked, second = self._race(self._invoice, lambda env: self._invoice(env).ids)
        self.assertEqual(len(first), 1)
        self.assertTrue(blocked, f"the second run should wait for the first: {second!r}")
        # The second run either finds the period taken or fails with a serialization error
        # (which the cron retries); it never creates an invoice.
        if isinstance(second, Exception):
            self.assertIsInstance(second, psycopg2.errors.SerializationFailure)
        else:
            self.assertEqual(second, [])

        with self.registry.cursor() as cr_check:
            self.assertEqual(self._count(self._env(cr_check)), (1, 1))

        # A rerun (the retried cron, or a manual run) bills the next period, never January again.
        with self.registry.cursor() as cr_retry:
            env_retry = self._env(cr_retry)
            rerun = self._invoice(env_retry)
            periods = env_retry["finnsys.subscription.period"].search(
                [("contract_id", "=", self.subscription_id)], order="period_start"
            )
            self.assertEqual([str(p.period_start) for p in periods], ["2026-01-01", "2026-02-01"])
            self.assertEqual(periods.move_id.ids, first.ids + rerun.ids)
            cr_retry.commit()


@tagged("post_install", "-at_install")
class TestSubscriptionCronBesideOthers(CommittedCompanyCase):
    """The invoicing cron runs while a click or a clerk invoices in the same journal.

    The cron runs in the test's thread, the others in threads of their own: a thread cannot
    build an environment on a new cursor while the test runner holds the registry, so the
    clerk invoices a customer of its own, whose first invoice raises its rank in place (Odoo
    raises a ranked customer's after the commit, on a new cursor). Each test bills
    subscriptions of its own, due on a frozen day of 2025 that no other class bills, and closes
    them afterwards so that no later run bills them.
    """

    company_name = "Subscription Neighbours Co"

    @classmethod
    def _setup_committed_data(cls, env, company):
        cls.customer_id = (
            env["res.partner"]
            .create(
                {
                    "name": "Neighbour Subscriber",
                    "is_company": True,
                    "customer_rank": 1,
                    "billing_mode": "postpaid",
                    "company_id": company.id,
                }
            )
            .id
        )
        product = env["product.product"].create(
            {"name": "Neighbour Hosting", "type": "service", "taxes_id": False}
        )
        cls.plan_id = (
            env["contract.template"]
            .create(
                {
                    "name": "Neighbour Monthly",
                    "company_id": company.id,
                    "contract_line_ids": [
                        Command.create(
                            {"product_id": product.id, "name": "Hosting", "specific_price": 40}
                        )
                    ],
                }
            )
            .id
        )

    def _set_up(self, start, count=3):
        """``count`` committed active subscriptions from ``start``, closed after the test,
        and a customer of the clerk's own, not yet ranked."""
        with self.registry.cursor() as cr:
            env = self._env(cr)
            subscriptions = env["contract.contract"].create(
                [
                    {
                        "partner_id": self.customer_id,
                        "company_id": self.company_id,
                        "contract_template_id": self.plan_id,
                        "date_start": start,
                        "subscription_payment": "offline",
                    }
                ]
                * count
            )
            subscriptions.action_subscription_activate()
            self.clerk_customer_id = (
                env["res.partner"]
                .create({"name": "Walk-in Customer", "company_id": self.company_id})
                .id
            )
            ids = subscriptions.ids
        self.addCleanup(self._close, ids)
        return ids

    def _close(self, ids):
        with self.registry.cursor() as cr:
            self._env(cr)["contract.contract"].browse(ids).subscription_state = "closed"

    def _post_clerk_invoice(self, env):
        invoice = env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.clerk_customer_id,
                "invoice_line_ids": [
                    Command.create({"name": "Consulting", "quantity": 1, "price_unit": 15})
                ],
            }
        )
        invoice.action_post()
        return invoice.name

    def _in_thread(self, outcome, key, function, *args):
        """Run ``function(*args)`` in a thread, keeping its result or error and duration."""

        def run():
            start = time.monotonic()
            try:
                outcome[key] = function(*args)
            except Exception as error:  # noqa: BLE001 - asserted in the main thread
                outcome[key] = error
            outcome[f"{key}_seconds"] = time.monotonic() - start

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def _pid(self, cr):
        cr.execute("SELECT pg_backend_pid()")
        return cr.fetchone()[0]

    def _claim_june(self, env, subscription_id):
        """Claim a subscription's June period, as a click does before creating its invoice."""
        subscription = env["contract.contract"].browse(subscription_id)
        period = env["finnsys.subscription.period"]._claim(
            subscription, date(2025, 6, 1), date(2025, 6, 30)
        )
        self.assertTrue(period)

    def _run_cron(self, env):
        try:
            env["contract.contract"]._cron_invoice_subscriptions()
        except Exception as error:  # noqa: BLE001 - asserted by the test
            env.cr.rollback()
            return error
        return True

    def _invoices_by_subscription(self, ids):
        with self.registry.cursor() as cr:
            moves = self._env(cr)["account.move"].search(
                [("subscription_id", "in", ids), ("state", "=", "posted")]
            )
            return {move.subscription_id.id: move.name for move in moves}

    @mute_logger("odoo.sql_db")
    def test_click_claiming_a_period_mid_run_neither_deadlocks_nor_loses_the_batch(self):
        first, clicked, last = self._set_up("2025-06-01")
        outcome = {}

        def click(env, pid_cron):
            # The cron has invoiced the first subscription and waits for the click's claim;
            # the click now needs an invoice number in the same journal.
            outcome["cron_waited"] = self._wait_until_blocked(pid_cron, timeout=300)
            try:
                name = self._post_clerk_invoice(env)
                env.cr.commit()
            except Exception:
                env.cr.rollback()
                raise
            return name

        with (
            freeze_time("2025-06-01", tick=True),
            self.registry.cursor() as cr_click,
            self.registry.cursor() as cr_cron,
        ):
            env_click, env_cron = self._env(cr_click), self._env(cr_cron)
            self._claim_june(env_click, clicked)
            clicking = self._in_thread(outcome, "click", click, env_click, self._pid(cr_cron))
            cron = self._run_cron(env_cron)
            clicking.join(300)
        self.assertTrue(outcome["cron_waited"], "the cron should wait for the click's claim")
        self.assertIs(cron, True)
        self.assertIsInstance(outcome["click"], str)
        invoiced = self._invoices_by_subscription([first, clicked, last])
        # The click holds the period of its subscription; the cron billed both others.
        self.assertEqual(sorted(invoiced), sorted([first, last]))
        self.assertLess(invoiced[first], outcome["click"])

    @mute_logger("odoo.sql_db")
    def test_clerk_posts_while_the_cron_is_mid_run(self):
        first, held, last = self._set_up("2025-06-01")
        outcome = {}

        def hold_then_release(cr_hold, pid_cron, env_clerk, pid_clerk):
            # A claim held by another process stops the cron in the middle of its batch.
            outcome["cron_waited"] = self._wait_until_blocked(pid_cron, timeout=300)
            clerk = self._in_thread(outcome, "clerk", self._post_and_commit, env_clerk)
            outcome["clerk_waited"] = self._wait_until_blocked(pid_clerk, 300, thread=clerk)
            cr_hold.rollback()
            clerk.join(300)

        with (
            freeze_time("2025-06-01", tick=True),
            self.registry.cursor() as cr_hold,
            self.registry.cursor() as cr_cron,
            self.registry.cursor() as cr_clerk,
        ):
            env_cron, env_clerk = self._env(cr_cron), self._env(cr_clerk)
            self._claim_june(self._env(cr_hold), held)
            args = (cr_hold, self._pid(cr_cron), env_clerk, self._pid(cr_clerk))
            holder = self._in_thread(outcome, "holder", hold_then_release, *args)
            cron = self._run_cron(env_cron)
            holder.join(300)
        _logger.info(
            "a clerk posted an invoice in %.3f s while the subscription cron was mid-run",
            outcome["clerk_seconds"],
        )
        self.assertTrue(outcome["cron_waited"], "the cron should wait for the held claim")
        self.assertFalse(outcome["clerk_waited"], "the clerk waited for the cron's numbers")
        self.assertIs(cron, True)
        invoiced = self._invoices_by_subscription([first, held, last])
        self.assertEqual(len(invoiced), 3)
        # Numbered between the cron's invoice before the hold and the ones after it.
        clerk_name = outcome["clerk"]
        self.assertLess(invoiced[first], clerk_name)
        self.assertLess(clerk_name, invoiced[held])
        self.assertLess(clerk_name, invoiced[last])

    def _post_and_commit(self, env):
        name = self._post_clerk_invoice(env)
        env.cr.commit()
        return name
