import threading
import time
import uuid

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.fields import Domain
from odoo.modules.registry import Registry
from odoo.tests import new_test_user
from odoo.tests.common import BaseCase, get_db_name

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


def demo_provider(env, company):
    """Odoo's demo payment provider in ``company`` (a copy of it for another company than
    its own), in test mode."""
    provider = env["payment.provider"].sudo().search(
        Domain("code", "=", "demo") & Domain("company_id", "=", company.id), limit=1
    ) or env.ref("payment.payment_provider_demo").sudo().copy({"company_id": company.id})
    provider.state = "test"
    return provider


class BillingFiguresMixin:
    """Assert a customer's billing figures as the Billing tab shows them, fresh from the ledger."""

    def _assert_figures(self, partner, balance, receivable, outstanding, unapplied):
        partner.invalidate_recordset()
        self.assertRecordValues(
            partner,
            [
                {
                    "billing_balance": balance,
                    "billing_receivable": receivable,
                    "billing_outstanding": outstanding,
                    "billing_unapplied_credit": unapplied,
                }
            ],
        )


class BillingCommon(AccountTestInvoicingCommon):
    """Customers of both modes, with helpers that post real invoices and payments."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids |= cls.env.ref("finnsys_billing.group_billing_manager")
        cls.env.company.account_use_credit_limit = True
        cls.env.company.billing_credit_policy = "block"
        cls.billing_user = new_test_user(
            cls.env,
            login="billing_clerk",
            groups="base.group_user,finnsys_billing.group_billing_user",
            company_ids=[(6, 0, cls.env.company.ids)],
            company_id=cls.env.company.id,
        )
        cls.billing_manager = new_test_user(
            cls.env,
            login="billing_boss",
            groups="base.group_user,finnsys_billing.group_billing_manager",
            company_ids=[(6, 0, cls.env.company.ids)],
            company_id=cls.env.company.id,
        )

    @classmethod
    def _demo_provider(cls, company=None):
        """The demo payment provider of ``company`` (default: the current one), in test mode."""
        return demo_provider(cls.env, company or cls.env.company)

    @classmethod
    def _saved_demo_card(cls, partner, ref):
        """Odoo's demo provider, in test mode in this company, and a card of ``partner``
        saved with it that the demo accepts: (provider, card method, token)."""
        provider = cls.env.ref("payment.payment_provider_demo").sudo()
        provider.write({"state": "test", "company_id": cls.env.company.id})
        card = cls.env.ref("payment.payment_method_card")
        token = cls.env["payment.token"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": card.id,
                "partner_id": partner.id,
                "payment_details": "4242",
                "provider_ref": ref,
                "demo_simulated_state": "done",
            }
        )
        return provider, card, token

    def _demo_transaction(self, provider, partner, amount, reference, **values):
        """A transaction of ``partner`` with the demo ``provider`` in the company's currency,
        created as the portal creates it (sudo); ``values`` add or replace fields (invoices,
        a token, another operation)."""
        return (
            self.env["payment.transaction"]
            .sudo()
            .create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": self.env.ref("payment_demo.payment_method_demo").id,
                    "partner_id": partner.id,
                    "amount": amount,
                    "currency_id": self.env.company.currency_id.id,
                    "reference": reference,
                    "operation": "online_direct",
                    **values,
                }
            )
        )

    @classmethod
    def _customer(cls, name, mode, limit=0.0, **values):
        values.setdefault(
            "property_payment_term_id", cls.env.ref("account.account_payment_term_immediate").id
        )
        partner = cls.env["res.partner"].create(
            {"name": name, "is_company": True, "customer_rank": 1, "billing_mode": mode, **values}
        )
        if limit:
            partner.credit_limit = limit
        return partner

    @classmethod
    def _invoice(cls, partner, amount, date="2026-01-10", post=True, move_type="out_invoice"):
        return cls.init_invoice(
            move_type,
            partner=partner,
            invoice_date=fields.Date.to_date(date),
            amounts=[amount],
            taxes=[],
            post=post,
        )

    @classmethod
    def _receive(cls, partner, amount, date="2026-01-05"):
        payment = cls.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": amount,
                "date": date,
                "journal_id": cls.company_data["default_journal_bank"].id,
            }
        )
        payment.action_post()
        return payment

    def _receivable_lines(self, partner):
        return self.env["account.move.line"].search(
            [
                ("partner_id", "child_of", partner.id),
                ("account_id.account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
            ]
        )


class CommittedCompanyCase(BaseCase):
    """Base of the race tests: real, separate transactions on committed data.

    A race cannot happen inside one test transaction, so each class commits its data in a
    company of its own (with a chart of accounts) and opens its own cursors. Environments
    are built in the main thread: the test runner holds the registry lock that building
    one needs.
    """

    company_name = "Race Co"
    company_values = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].create(
                {
                    "name": f"{cls.company_name} {uuid.uuid4().hex[:8]}",
                    "currency_id": env.ref("base.USD").id,
                    **cls.company_values,
                }
            )
            env = env(context={"allowed_company_ids": company.ids})
            env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
            cls.company_id = company.id
            cls._setup_committed_data(env, company)

    @classmethod
    def _setup_committed_data(cls, env, company):
        """Create the class's committed records (committed when this returns)."""

    @classmethod
    def _committed_subscription(cls, env, company, customer_values, date_start):
        """An active online subscription of a postpaid customer to a 50 monthly plan."""
        customer = env["res.partner"].create(
            {
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "postpaid",
                "company_id": company.id,
                **customer_values,
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
                "date_start": date_start,
                "subscription_payment": "online",
            }
        )
        subscription.action_subscription_activate()
        return subscription

    def _env(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})

    def _wait_until_blocked(self, pid, timeout=10, thread=None):
        """Whether backend ``pid`` is waiting on a lock within ``timeout`` seconds (and, given
        the ``thread`` that drives it, before that thread ends)."""
        deadline = time.monotonic() + timeout
        with self.registry.cursor() as cr:
            while time.monotonic() < deadline and (thread is None or thread.is_alive()):
                cr.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cr.fetchone()
                if row and row[0] == "Lock":
                    return True
                cr.rollback()
                time.sleep(0.05)
        return False

    def _race(self, first, second):
        """Run ``first(env)`` in one transaction and, while it holds its locks, ``second(env)``
        in a thread on a second one; commit the first once the second waits on a lock.

        Returns what ``first`` returned, whether the second waited, and the second's outcome:
        what it returned (committed) or the error it raised (rolled back).
        """
        outcome = {}

        def run_second(env_b):
            try:
                outcome["second"] = second(env_b)
                env_b.cr.commit()
            except Exception as error:  # noqa: BLE001 - the caller asserts it
                outcome["second"] = error
                env_b.cr.rollback()

        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            # Environments are built in the main thread: the test runner holds the registry
            # lock that building one needs.
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            cr_b.execute("SELECT pg_backend_pid()")
            pid_b = cr_b.fetchone()[0]
            first_result = first(env_a)
            worker = threading.Thread(target=run_second, args=(env_b,))
            worker.start()
            blocked = self._wait_until_blocked(pid_b, thread=worker)
            cr_a.commit()
            worker.join(30)
        return first_result, blocked, outcome.get("second")
