from freezegun import freeze_time

from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.tests import tagged

from .common import BillingCommon

CRON = "finnsys_billing.ir_cron_billing_topup"


class TopupCommon(BillingCommon):
    """A prepaid customer with a saved demo card and auto top-up of 100 at a threshold of 20."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = cls._demo_provider(cls.env.company)
        cls.customer = cls._customer("Topup Co", "prepaid", email="topup@customer.example")
        cls.token = cls._demo_token(cls.customer, "done")
        cls.customer.write(
            {
                "billing_payment_method": "token",
                "billing_token_id": cls.token.id,
                "billing_topup_enabled": True,
                "billing_topup_amount": 100,
                "billing_topup_threshold": 20,
            }
        )

    @classmethod
    def _demo_token(cls, partner, simulated_state):
        return (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": cls.provider.id,
                    "payment_method_id": cls.env.ref("payment_demo.payment_method_demo").id,
                    "partner_id": partner.id,
                    "payment_details": "4242",
                    "provider_ref": f"demo-{partner.id}",
                    "demo_simulated_state": simulated_state,
                }
            )
        )

    def _spend_down_to(self, partner, balance, date="2026-01-10"):
        """Credit of 50, then an invoice that consumes it down to ``balance``."""
        self._receive(partner, 50, date=date)
        self._invoice(partner, 50 - balance, date=date)
        self.assertEqual(partner.billing_balance, balance)

    def _run_cron(self, when):
        with freeze_time(when), self.enter_registry_test_mode():
            self.env.ref(CRON).method_direct_trigger()
        self.env.invalidate_all()

    def _run_method(self, when):
        """The cron's method itself, in a cursor it may commit, to read its counts."""
        with freeze_time(when), self.enter_registry_test_mode(), self.registry.cursor() as cr:
            result = self.env(cr=cr)["finnsys.topup.attempt"]._cron_run_topups()
        self.env.invalidate_all()
        return result

    def _attempts(self, partner=None):
        return self.env["finnsys.topup.attempt"].search(
            Domain("partner_id", "=", (partner or self.customer).id)
        )

    def _transactions(self, partner=None):
        return self.env["payment.transaction"].search(
            Domain("partner_id", "=", (partner or self.customer).id), order="id"
        )

    def _mails(self, subject, partner=None):
        return self.env["mail.mail"].search(
            Domain("recipient_ids", "in", (partner or self.customer).ids)
            & Domain("subject", "ilike", subject)
        )


@tagged("post_install", "-at_install")
class TestTopup(TopupCommon):
    def test_cron_tops_up_once_and_books_the_payment(self):
        self._spend_down_to(self.customer, 10)
        self._run_cron("2026-01-10 12:00:00")

        tx = self._transactions()
        self.assertEqual(len(tx), 1)
        self.assertRecordValues(
            tx,
            [{"state": "done", "operation": "offline", "amount": 100.0, "token_id": self.token.id}],
        )
        attempt = self._attempts()
        self.assertRecordValues(
            attempt, [{"state": "done", "try_count": 1, "transaction_id": tx.id}]
        )
        self.assertEqual(
            attempt.idempotency_key, f"topup:{self.customer.id}:{self.env.company.id}:1"
        )
        self.assertEqual(self.customer.billing_balance, 110.0)
        self.assertEqual(len(self._mails("topped up")), 1)

        payment = tx.payment_id
        self.assertIn(payment.state, ("in_process", "paid"))
        lines = payment.move_id.line_ids
        receivable = lines.filtered(lambda line: line.account_id.account_type == "asset_receivable")
        self.assertRecordValues(
            receivable,
            [{"partner_id": self.customer.id, "debit": 0.0, "credit": 100.0}],
        )
        other = lines - receivable
        self.assertRecordValues(other, [{"debit": 100.0, "credit": 0.0}])
        self.assertEqual(
            other.account_id,
            payment.outstanding_account_id or payment.journal_id.default_account_id,
        )

        # A second run finds the balance above the threshold: nothing more.
        self._run_cron("2026-01-10 12:15:00")
        self.assertEqual(len(self._transactions()), 1)
        self.assertEqual(len(self._mails("topped up")), 1)

    def test_posting_under_the_threshold_queues_the_cron_without_charging(self):
        cron = self.env.ref(CRON)
        triggers = self.env["ir.cron.trigger"].search(Domain("cron_id", "=", cron.id))
        self._spend_down_to(self.customer, 30)
        self.assertEqual(
            self.env["ir.cron.trigger"].search(Domain("cron_id", "=", cron.id)), triggers
        )
        self._invoice(self.customer, 15)
        self.assertGreater(
            self.env["ir.cron.trigger"].search_count(Domain("cron_id", "=", cron.id)),
            len(triggers),
        )
        self.assertFalse(self._transactions())
        self.assertFalse(self._attempts())

    def test_declined_card_is_retried_then_auto_top_up_switched_off(self):
        self.token.demo_simulated_state = "error"
        self._spend_down_to(self.customer, 10)

        self._run_cron("2026-01-10 12:00:00")
        attempt = self._attempts()
        self.assertRecordValues(attempt, [{"state": "pending", "try_count": 1}])
        self.assertEqual(str(attempt.next_try_at), "2026-01-10 20:00:00")
        self._run_cron("2026-01-10 19:00:00")
        self.assertEqual(len(self._transactions()), 1, "no retry before the delay")
        self._run_cron("2026-01-10 20:00:00")
        self.assertRecordValues(attempt, [{"state": "pending", "try_count": 2}])
        self.assertEqual(str(attempt.next_try_at), "2026-01-11 12:00:00")
        self.assertFalse(self._mails("update your payment method"))

        self._run_cron("2026-01-11 12:00:00")
        self.assertRecordValues(attempt, [{"state": "failed", "try_count": 3}])
        self.assertEqual(self._transactions().mapped("state"), ["error"] * 3)
        self.assertFalse(self.customer.billing_topup_enabled)
        mail = self._mails("update your payment method")
        self.assertEqual(len(mail), 1)
        self.assertIn("/my/payment_method", mail.body_html)
        activity = self.customer.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertTrue(activity.user_id.has_group("finnsys_billing.group_billing_manager"))

        self._run_cron("2026-01-12 12:00:00")
        self.assertEqual(len(self._transactions()), 3)

    def test_rerun_completes_a_charged_attempt_without_charging_again(self):
        """A worker killed after the charge left the attempt pending with a done transaction."""
        self._spend_down_to(self.customer, 10)
        Attempt = self.env["finnsys.topup.attempt"]
        attempt = Attempt._insert(self.customer, self.env.company, "topup:crash", "cron")
        attempt._prepare_transactions()
        attempt.transaction_id._charge_with_token()
        self.assertEqual(attempt.transaction_id.state, "done")
        self.assertEqual(attempt.state, "pending")
        self.assertEqual(self.customer.billing_balance, 10.0, "not post-processed yet")

        self._run_cron("2026-01-10 12:00:00")
        self.assertEqual(attempt.state, "done")
        self.assertEqual(len(self._transactions()), 1)
        self.assertTrue(attempt.transaction_id.payment_id)
        self.assertEqual(self.customer.billing_balance, 110.0)
        self._run_cron("2026-01-10 12:15:00")
        self.assertEqual(len(self._transactions()), 1)
        self.assertEqual(
            self.env["account.payment"].search_count(
                Domain("payment_transaction_id", "=", attempt.transaction_id.id)
            ),
            1,
        )

    def test_rerun_sends_a_draft_transaction_again_not_a_new_one(self):
        """A worker killed between committing the transaction and charging it."""
        self._spend_down_to(self.customer, 10)
        Attempt = self.env["finnsys.topup.attempt"]
        attempt = Attempt._insert(self.customer, self.env.company, "topup:crash", "cron")
        attempt._prepare_transactions()
        tx = attempt.transaction_id
        self.assertEqual(tx.state, "draft")

        self._run_cron("2026-01-10 12:00:00")
        self.assertEqual(self._transactions(), tx)
        self.assertEqual(tx.state, "done")
        self.assertEqual(attempt.state, "done")
        self.assertEqual(self.customer.billing_balance, 110.0)

    def test_top_up_now_and_cron_share_the_crossing(self):
        self._spend_down_to(self.customer, 10)
        with freeze_time("2026-01-10 12:00:00"):
            self.customer.with_user(self.billing_user).action_billing_topup_now()
        self.assertEqual(self._attempts().origin, "manual")
        self.assertEqual(self.customer.billing_balance, 110.0)
        self._run_cron("2026-01-10 12:05:00")
        self.assertEqual(len(self._transactions()), 1)
        self.assertEqual(len(self._mails("topped up")), 1)

    def test_monthly_cap_stops_further_top_ups(self):
        self.customer.billing_topup_monthly_cap = 150
        self.customer.credit_limit = 1000
        self._spend_down_to(self.customer, 10)
        self._run_cron("2026-01-10 12:00:00")
        self.assertEqual(self.customer.billing_balance, 110.0)

        self._invoice(self.customer, 100, date="2026-01-11")
        result = self._run_method("2026-01-11 12:00:00")
        self.assertEqual(result.get("capped"), 1)
        self.assertEqual(len(self._transactions()), 1)

        # A new month: the cap is available again.
        self._run_cron("2026-02-01 00:30:00")
        self.assertEqual(len(self._transactions()), 2)

    def test_customer_without_email_is_topped_up_and_counted(self):
        self.customer.email = False
        self._spend_down_to(self.customer, 10)
        result = self._run_method("2026-01-10 12:00:00")
        self.assertEqual(result.get("done"), 1)
        self.assertEqual(result.get("no_email"), 1)
        self.assertEqual(self.customer.billing_balance, 110.0)

    def test_threshold_above_the_top_up_amount_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "Top-up Threshold"):
            self.customer.billing_topup_threshold = 150
            self.env.flush_all()

    def test_cap_below_the_top_up_amount_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "Monthly Top-up Cap"):
            self.customer.billing_topup_monthly_cap = 50
            self.env.flush_all()
