import threading
from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import CommittedCompanyCase, demo_provider
from .test_subscription import SubscriptionCommon


class DunningCommon(SubscriptionCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = cls._demo_provider()
        cls.dunning_cron = cls.env.ref("finnsys_billing.ir_cron_subscription_dunning")
        cls.Dunning = cls.env["finnsys.subscription.dunning"]

    def _card_customer(self, name, state="error"):
        customer = self._customer(name, "postpaid", email=f"{name.split()[0].lower()}@x.example")
        token = (
            self.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": self.provider.id,
                    "payment_method_id": self.env.ref("payment_demo.payment_method_demo").id,
                    "partner_id": customer.id,
                    "payment_details": "4242",
                    "provider_ref": f"demo-{customer.id}",
                    "demo_simulated_state": state,
                }
            )
        )
        customer.write({"billing_payment_method": "token", "billing_token_id": token.id})
        return customer, token

    def _failed_subscription(self, name="Declined Card"):
        customer, token = self._card_customer(name)
        subscription = self._subscribe(customer, self.monthly, "2026-03-01", payment="online")
        subscription.user_id = self.billing_manager
        self._run_cron("2026-03-01")
        invoice = self._invoices(subscription)
        return customer, token, subscription, invoice

    def _dunning(self, invoice):
        return self.Dunning.search(Domain("invoice_id", "=", invoice.id))

    def _mails(self, dunning):
        return self.env["mail.mail"].search(
            [("model", "=", dunning._name), ("res_id", "=", dunning.id)], order="id"
        )

    def _make_due(self, dunning):
        dunning.next_try_at = fields.Datetime.now() - timedelta(minutes=1)

    def _run_dunning(self):
        with self.enter_registry_test_mode():
            self.dunning_cron.method_direct_trigger()
        self.env.invalidate_all()

    def _receivable(self, moves):
        return moves.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )


@tagged("post_install", "-at_install")
class TestSubscriptionDunning(DunningCommon):
    def test_declined_charge_opens_dunning_and_emails_a_pay_link(self):
        customer, _token, _subscription, invoice = self._failed_subscription()
        self.assertEqual(invoice.transaction_ids.mapped("state"), ["error"])
        self.assertEqual(invoice.payment_state, "not_paid")
        dunning = self._dunning(invoice)
        self.assertRecordValues(dunning, [{"state": "running", "attempt_count": 0}])
        self.assertEqual(dunning.next_try_at - dunning.first_failure_at, timedelta(days=1))
        mail = self._mails(dunning)
        self.assertEqual(len(mail), 1)
        self.assertIn(customer, mail.recipient_ids)
        self.assertIn(f"/my/invoices/{invoice.id}?access_token=", mail.body_html)
        self.assertIn("payment=true", mail.body_html)
        self.assertIn("/my/payment_method", mail.body_html)
        # Not due yet: the cron leaves it alone.
        self._run_dunning()
        self.assertEqual(len(invoice.transaction_ids), 1)
        self.assertEqual(dunning.attempt_count, 0)

    def test_charge_refused_before_any_transaction_opens_dunning(self):
        customer = self._customer("No Card", "postpaid", email="nocard@x.example")
        subscription = self._subscribe(customer, self.monthly, "2026-03-01", payment="online")
        self._run_cron("2026-03-01")
        invoice = self._invoices(subscription)
        self.assertFalse(invoice.transaction_ids)
        dunning = self._dunning(invoice)
        self.assertEqual(dunning.state, "running")
        self.assertIn("No saved payment method", dunning.last_error)
        self.assertEqual(len(self._mails(dunning)), 1)

    def test_retries_on_schedule_then_pause_and_tell_a_manager(self):
        _customer, _token, subscription, invoice = self._failed_subscription()
        dunning = self._dunning(invoice)
        for retries, days in ((1, 3), (2, 7)):
            self._make_due(dunning)
            self._run_dunning()
            self.assertRecordValues(dunning, [{"state": "running", "attempt_count": retries}])
            self.assertEqual(dunning.next_try_at - dunning.first_failure_at, timedelta(days=days))
            self.assertEqual(len(invoice.transaction_ids), retries + 1)
            self.assertEqual(len(self._mails(dunning)), retries + 1)
            self.assertEqual(subscription.subscription_state, "active")
            # A second run the same hour tries nothing more.
            self._run_dunning()
            self.assertEqual(len(invoice.transaction_ids), retries + 1)
        self._make_due(dunning)
        self._run_dunning()
        self.assertRecordValues(
            dunning, [{"state": "failed", "attempt_count": 3, "next_try_at": False}]
        )
        self.assertEqual(invoice.transaction_ids.mapped("state"), ["error"] * 4)
        self.assertEqual(subscription.subscription_state, "paused")
        mails = self._mails(dunning)
        self.assertEqual(len(mails), 4)
        self.assertIn("last try", mails[-1].body_html)
        activity = subscription.activity_ids
        self.assertEqual(activity.user_id, self.billing_manager)
        self.assertIn(invoice.name, activity.note)
        # No money moved: the invoice is still owed in full.
        self.assertEqual(self._receivable(invoice).amount_residual, 100.0)
        self._run_dunning()
        self.assertEqual(len(invoice.transaction_ids), 4)

    def test_last_try_closes_when_the_company_says_so(self):
        self.env.company.write(
            {"billing_dunning_retry_days": "2", "billing_dunning_final_action": "close"}
        )
        _customer, _token, subscription, invoice = self._failed_subscription()
        dunning = self._dunning(invoice)
        self.assertEqual(dunning.next_try_at - dunning.first_failure_at, timedelta(days=2))
        self._make_due(dunning)
        self._run_dunning()
        self.assertEqual(dunning.state, "failed")
        self.assertEqual(subscription.subscription_state, "closed")

    def test_portal_payment_stops_the_retries(self):
        customer, _token, _subscription, invoice = self._failed_subscription()
        dunning = self._dunning(invoice)
        # The customer pays from the invoice's portal page with a new card.
        tx = self._demo_transaction(
            self.provider,
            customer,
            invoice.amount_residual,
            f"{invoice.name}-portal",
            currency_id=invoice.currency_id.id,
            invoice_ids=[Command.set(invoice.ids)],
        )
        tx._process("demo", {"reference": tx.reference, "simulated_state": "done"})
        tx._post_process()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(dunning.state, "paid")
        receivable = self._receivable(invoice | tx.payment_id.move_id)
        self.assertEqual(sorted(receivable.mapped("balance")), [-100.0, 100.0])
        self.assertTrue(all(receivable.mapped("reconciled")))
        self._make_due(dunning)
        self._run_dunning()
        self.assertEqual(len(invoice.transaction_ids), 2)
        self.assertEqual(len(self._mails(dunning)), 1)

    def test_retry_with_an_updated_card_pays_the_invoice(self):
        _customer, token, subscription, invoice = self._failed_subscription()
        dunning = self._dunning(invoice)
        token.demo_simulated_state = "done"
        self._make_due(dunning)
        self._run_dunning()
        self.assertRecordValues(dunning, [{"state": "paid", "attempt_count": 0}])
        self.assertEqual(sorted(invoice.transaction_ids.mapped("state")), ["done", "error"])
        payment = invoice.transaction_ids.payment_id
        self.assertRecordValues(payment, [{"amount": 100.0}])
        receivable = self._receivable(invoice | payment.move_id)
        self.assertEqual(sorted(receivable.mapped("balance")), [-100.0, 100.0])
        self.assertTrue(all(receivable.mapped("reconciled")))
        self.assertEqual(subscription.subscription_state, "active")
        self.assertEqual(len(self._mails(dunning)), 1)

    def test_bad_schedule_is_refused(self):
        for text in ("", "3,1", "0,2", "a,b"):
            with self.subTest(text=text), self.assertRaises(ValidationError):
                self.env.company.billing_dunning_retry_days = text


@tagged("post_install", "-at_install")
class TestSubscriptionDunningConcurrency(CommittedCompanyCase):
    """Two dunning cron runs at the same moment retry a failed charge once."""

    company_name = "Dunning Race Co"
    company_values = {"account_use_credit_limit": False}

    @classmethod
    def _setup_committed_data(cls, env, company):
        provider = demo_provider(env, company)
        subscription = cls._committed_subscription(
            env, company, {"name": "Race Card", "email": "race@card.example"}, "2026-03-01"
        )
        customer = subscription.partner_id
        token = env["payment.token"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": env.ref("payment_demo.payment_method_demo").id,
                "partner_id": customer.id,
                "payment_details": "4242",
                "provider_ref": f"race-{customer.id}",
                "demo_simulated_state": "error",
            }
        )
        customer.write({"billing_payment_method": "token", "billing_token_id": token.id})
        invoice = subscription._finnsys_invoice_next_period()
        Dunning = env["finnsys.subscription.dunning"]
        Dunning._charge(Dunning._pending_charges(invoice))
        dunning = Dunning.search(Domain("invoice_id", "=", invoice.id))
        assert dunning, "the declined charge opened no dunning"
        dunning.next_try_at = fields.Datetime.now() - timedelta(minutes=1)
        cls.invoice_id = invoice.id
        cls.dunning_id = dunning.id

    def _run_cron(self, env, outcome, name):
        try:
            env["finnsys.subscription.dunning"]._cron_retry_charges()
            env.cr.commit()
            outcome[name] = True
        except Exception as error:  # noqa: BLE001 - asserted in the main thread
            outcome[name] = error
            env.cr.rollback()

    @mute_logger("odoo.sql_db")
    def test_two_cron_runs_retry_once(self):
        outcome = {}
        with self.registry.cursor() as cr_b, self.registry.cursor() as cr_c:
            env_b, env_c = self._env(cr_b), self._env(cr_c)
            workers = [
                threading.Thread(target=self._run_cron, args=(env_b, outcome, "b")),
                threading.Thread(target=self._run_cron, args=(env_c, outcome, "c")),
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(60)
        self.assertFalse([w for w in workers if w.is_alive()])
        self.assertEqual(outcome, {"b": True, "c": True})
        with self.registry.cursor() as cr:
            env = self._env(cr)
            dunning = env["finnsys.subscription.dunning"].browse(self.dunning_id)
            invoice = env["account.move"].browse(self.invoice_id)
            self.assertEqual(dunning.attempt_count, 1)
            self.assertEqual(invoice.transaction_ids.mapped("state"), ["error", "error"])
            mails = env["mail.mail"].search(
                [("model", "=", dunning._name), ("res_id", "=", dunning.id)]
            )
            self.assertEqual(len(mails), 2)

    @mute_logger("odoo.sql_db")
    def test_a_run_skips_the_row_another_run_holds(self):
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            held = env_a["finnsys.subscription.dunning"]._claim_due()
            self.assertEqual(held.id, self.dunning_id)
            before = env_b["finnsys.subscription.dunning"].browse(self.dunning_id).attempt_count
            env_b["finnsys.subscription.dunning"]._cron_retry_charges()
            cr_b.commit()
            after = env_b["finnsys.subscription.dunning"].browse(self.dunning_id)
            after.invalidate_recordset()
            self.assertEqual(after.attempt_count, before)
            cr_a.rollback()
