import threading

import psycopg2.errors

from odoo.exceptions import RedirectWarning, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import CommittedCompanyCase


@tagged("post_install", "-at_install")
class TestCreditLimitConcurrency(CommittedCompanyCase):
    """Two workers post invoices for one customer at the same moment.

    A race cannot happen inside one test transaction, so this runs on committed data in a
    company of its own, with two real transactions.
    """

    company_name = "Race Co"
    company_values = {"account_use_credit_limit": True, "billing_credit_policy": "block"}

    @classmethod
    def _setup_committed_data(cls, env, company):
        customer = env["res.partner"].create(
            {
                "name": "Racing Customer",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "postpaid",
                "company_id": company.id,
            }
        )
        customer.credit_limit = 1000
        invoices = env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_date": "2026-01-10",
                    "invoice_line_ids": [
                        (0, 0, {"name": f"Usage {n}", "price_unit": 600, "tax_ids": []})
                    ],
                }
                for n in (1, 2)
            ]
        )
        cls.invoice_ids = invoices.ids

    @mute_logger("odoo.sql_db")
    def test_second_invoice_waits_then_cannot_pass_the_limit(self):
        first_id, second_id = self.invoice_ids
        outcome = {}

        def post(env_b):
            # Environments are built in the main thread: the test runner holds the registry
            # lock that building one needs.
            try:
                env_b["account.move"].browse(second_id).action_post()
            except Exception as error:  # noqa: BLE001 - asserted in the main thread
                outcome["second"] = error
                env_b.cr.rollback()

        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            cr_b.execute("SELECT pg_backend_pid()")
            pid_b = cr_b.fetchone()[0]
            env_a["account.move"].browse(first_id).action_post()
            worker = threading.Thread(target=post, args=(env_b,))
            worker.start()
            blocked = self._wait_until_blocked(pid_b)
            cr_a.commit()
            worker.join(30)
        self.assertTrue(
            blocked, f"the second posting should wait for the first one: {outcome.get('second')!r}"
        )

        # The second worker fails with a serialization error, which Odoo's request and cron
        # handling retry; on retry it sees the first invoice and is refused.
        self.assertIsInstance(outcome.get("second"), psycopg2.errors.SerializationFailure)
        with self.registry.cursor() as cr_retry:
            env_retry = self._env(cr_retry)
            with self.assertRaises((UserError, RedirectWarning)):
                env_retry["account.move"].browse(second_id).action_post()
            cr_retry.rollback()
            states = self._env(cr_retry)["account.move"].browse(self.invoice_ids).mapped("state")
        self.assertEqual(sorted(states), ["draft", "posted"])
