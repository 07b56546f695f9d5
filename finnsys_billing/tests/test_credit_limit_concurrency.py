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
        _first, blocked, second = self._race(
            lambda env: env["account.move"].browse(first_id).action_post(),
            lambda env: env["account.move"].browse(second_id).action_post(),
        )
        self.assertTrue(blocked, f"the second posting should wait for the first one: {second!r}")

        # The second worker fails with a serialization error, which Odoo's request and cron
        # handling retry; on retry it sees the first invoice and is refused.
        self.assertIsInstance(second, psycopg2.errors.SerializationFailure)
        with self.registry.cursor() as cr_retry:
            env_retry = self._env(cr_retry)
            with self.assertRaises((UserError, RedirectWarning)):
                env_retry["account.move"].browse(second_id).action_post()
            cr_retry.rollback()
            states = self._env(cr_retry)["account.move"].browse(self.invoice_ids).mapped("state")
        self.assertEqual(sorted(states), ["draft", "posted"])
