import threading

import psycopg2.errors

from odoo import Command
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import CommittedCompanyCase


@tagged("post_install", "-at_install")
class TestSubscriptionConcurrency(CommittedCompanyCase):
    """Two workers invoice one subscription period at the same moment.

    A race cannot happen inside one test transaction, so this runs on committed data in a
    company of its own, with two real transactions.
    """

    company_name = "Subscription Race Co"

    @classmethod
    def _setup_committed_data(cls, env, company):
        customer = env["res.partner"].create(
            {
                "name": "Racing Subscriber",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "postpaid",
                "company_id": company.id,
            }
        )
        product = env["product.product"].create(
            {"name": "Race Hosting", "type": "service", "taxes_id": False}
        )
        plan = env["contract.template"].create(
            {
                "name": "Race Monthly",
                "company_id": company.id,
                "contract_line_ids": [
                    Command.create(
                        {"product_id": product.id, "name": "Hosting", "specific_price": 50}
                    )
                ],
            }
        )
        subscription = env["contract.contract"].create(
            {
                "partner_id": customer.id,
                "company_id": company.id,
                "contract_template_id": plan.id,
                "date_start": "2026-01-01",
                "subscription_payment": "online",
            }
        )
        subscription.action_subscription_activate()
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
    def test_two_runs_at_once_then_a_rerun_make_one_invoice(self):
        outcome = {}

        def second_run(env_b):
            # Environments are built in the main thread: the test runner holds the registry
            # lock that building one needs.
            try:
                outcome["second"] = self._invoice(env_b).ids
                env_b.cr.commit()
            except Exception as error:  # noqa: BLE001 - asserted in the main thread
                outcome["second"] = error
                env_b.cr.rollback()

        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            cr_b.execute("SELECT pg_backend_pid()")
            pid_b = cr_b.fetchone()[0]
            first = self._invoice(env_a)
            self.assertEqual(len(first), 1)
            worker = threading.Thread(target=second_run, args=(env_b,))
            worker.start()
            blocked = self._wait_until_blocked(pid_b)
            cr_a.commit()
            worker.join(30)
        self.assertTrue(blocked, f"the second run should wait for the first: {outcome!r}")
        # The second run either finds the period taken or fails with a serialization error
        # (which the cron retries); it never creates an invoice.
        second = outcome.get("second")
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
