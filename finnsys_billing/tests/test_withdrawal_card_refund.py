import threading

from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from .common import CommittedCompanyCase, demo_provider


def demo_top_up(env, provider, customer, amount, reference):
    """A card top-up through the demo provider, done and post-processed: credit."""
    tx = env["payment.transaction"].create(
        {
            "provider_id": provider.id,
            "payment_method_id": env.ref("payment.payment_method_card").id,
            "amount": amount,
            "currency_id": provider.company_id.currency_id.id,
            "partner_id": customer.id,
            "reference": reference,
            "operation": "online_direct",
        }
    )
    tx._set_done()
    tx._post_process()
    return tx


def approved_withdrawal(env, customer, amount, source):
    withdrawal = env["finnsys.withdrawal"].create(
        {"partner_id": customer.id, "amount": amount, "source_transaction_id": source.id}
    )
    withdrawal.action_approve()
    return withdrawal


@tagged("post_install", "-at_install")
class TestWithdrawalCardRefund(AccountTestInvoicingCommon):
    """Unused credit goes back to the card that brought it in, booked once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids += cls.env.ref("finnsys_billing.group_billing_manager")
        cls.provider = cls.env.ref("payment.payment_provider_demo").sudo()
        cls.provider.write({"state": "test", "company_id": cls.env.company.id})
        cls.customer = cls.env["res.partner"].create(
            {"name": "Refunded Ltd", "is_company": True, "billing_mode": "prepaid"}
        )
        cls.top_up = demo_top_up(cls.env, cls.provider, cls.customer, 100.0, "TOPUP-REFUND-1")

    def _refund_and_notify(self, withdrawal):
        withdrawal.action_pay()
        refund = withdrawal.refund_transaction_id
        self.assertEqual(refund.state, "done", "the demo provider confirms at once")
        refund._post_process()
        return refund

    def test_refund_to_card_books_one_outbound_payment_against_the_credit(self):
        withdrawal = approved_withdrawal(self.env, self.customer, 60.0, self.top_up)
        refund = self._refund_and_notify(withdrawal)
        self.assertRecordValues(
            refund,
            [
                {
                    "operation": "refund",
                    "amount": -60.0,
                    "source_transaction_id": self.top_up.id,
                    "finnsys_withdrawal_id": withdrawal.id,
                }
            ],
        )
        # The provider's notification and the cron process the refund again: nothing more.
        refund._process("demo", {"reference": refund.reference, "simulated_state": "done"})
        refund._post_process()

        payment = withdrawal.payment_id
        self.assertEqual(withdrawal.state, "paid")
        self.assertEqual(refund.payment_id, payment)
        self.assertEqual(
            self.env["account.payment"].search_count(
                Domain("payment_transaction_id", "=", refund.id)
            ),
            1,
        )
        self.assertRecordValues(
            payment,
            [
                {
                    "payment_type": "outbound",
                    "amount": 60.0,
                    "journal_id": self.provider.journal_id.id,
                }
            ],
        )
        receivable = self.customer.property_account_receivable_id
        self.assertRecordValues(
            payment.move_id.line_ids.sorted("debit"),
            [
                {
                    "account_id": payment.outstanding_account_id.id,
                    "debit": 0.0,
                    "credit": 60.0,
                    "reconciled": False,
                },
                {"account_id": receivable.id, "debit": 60.0, "credit": 0.0, "reconciled": True},
            ],
        )
        top_up_line = self.top_up.payment_id.move_id.line_ids.filtered(
            lambda line: line.account_id == receivable
        )
        self.assertEqual(top_up_line.amount_residual, -40.0, "40 of the top-up is still credit")
        self.customer.invalidate_recordset()
        self.assertEqual(self.customer.billing_balance, 40.0)
        # Its receipt says the money came from the credit of the top-up.
        lines = payment._finnsys_receipt_values()["lines"]
        self.assertEqual([(line["kind"], line["amount"]) for line in lines], [("other", 60.0)])
        self.assertIn(self.top_up.payment_id.move_id.name, lines[0]["label"])

    def test_refund_is_capped_by_what_the_payment_brought_in(self):
        self._receive_bank_credit(50.0)
        with self.assertRaisesRegex(ValidationError, "can take a refund of"):
            approved_withdrawal(self.env, self.customer, 100.01, self.top_up)
        first = approved_withdrawal(self.env, self.customer, 70.0, self.top_up)
        self._refund_and_notify(first)
        self.assertEqual(self.top_up._finnsys_refundable_amount(), 30.0)
        with self.assertRaisesRegex(ValidationError, "can take a refund of"):
            approved_withdrawal(self.env, self.customer, 40.0, self.top_up)
        second = approved_withdrawal(self.env, self.customer, 30.0, self.top_up)
        self._refund_and_notify(second)
        self.assertEqual(second.state, "paid")
        self.assertEqual(self.top_up._finnsys_refundable_amount(), 0.0)

    def test_second_click_while_the_refund_is_under_way_is_refused(self):
        withdrawal = approved_withdrawal(self.env, self.customer, 25.0, self.top_up)
        withdrawal.action_pay()
        with self.assertRaisesRegex(UserError, "already"):
            withdrawal.action_pay()
        with self.assertRaisesRegex(UserError, "already sent back"):
            withdrawal.action_cancel()
        self.assertEqual(len(self.top_up.child_transaction_ids), 1)

    def test_another_customers_payment_cannot_take_the_refund(self):
        other = self.env["res.partner"].create(
            {"name": "Other Ltd", "is_company": True, "billing_mode": "prepaid"}
        )
        demo_top_up(self.env, self.provider, other, 30.0, "TOPUP-OTHER-1")
        with self.assertRaisesRegex(ValidationError, "cannot take the refund"):
            self.env["finnsys.withdrawal"].create(
                {"partner_id": other.id, "amount": 10.0, "source_transaction_id": self.top_up.id}
            )

    def _receive_bank_credit(self, amount):
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.customer.id,
                "amount": amount,
                "journal_id": self.company_data["default_journal_bank"].id,
            }
        )
        payment.action_post()


@tagged("post_install", "-at_install")
class TestWithdrawalCardRefundRace(CommittedCompanyCase):
    """The provider's notification and the post-processing cron book a refund at the same
    moment, on two cursors: one payment."""

    company_name = "Refund Race Co"
    company_values = {"account_use_credit_limit": False}

    @classmethod
    def _setup_committed_data(cls, env, company):
        provider = demo_provider(env, company)
        customer = env["res.partner"].create(
            {
                "name": "Raced Refund Ltd",
                "is_company": True,
                "billing_mode": "prepaid",
                "company_id": company.id,
            }
        )
        top_up = demo_top_up(env, provider, customer, 100.0, f"TOPUP-RACE-{company.id}")
        withdrawal = approved_withdrawal(env, customer, 45.0, top_up)
        # Sent to the provider, confirmed, not yet post-processed.
        withdrawal.action_pay()
        cls.customer_id = customer.id
        cls.withdrawal_id = withdrawal.id
        cls.refund_id = withdrawal.refund_transaction_id.id

    def _cron(self, env, outcome):
        try:
            env["payment.transaction"].browse(self.refund_id)._cron_post_process()
            env.cr.commit()
            outcome["cron"] = True
        except Exception as error:  # noqa: BLE001 - asserted in the main thread
            outcome["cron"] = error
            env.cr.rollback()

    @mute_logger("odoo.sql_db")
    def test_notification_and_cron_book_the_refund_once(self):
        outcome = {}
        with self.registry.cursor() as cr_notify, self.registry.cursor() as cr_cron:
            env_notify, env_cron = self._env(cr_notify), self._env(cr_cron)
            cr_cron.execute("SELECT pg_backend_pid()")
            pid = cr_cron.fetchone()[0]
            refund = env_notify["payment.transaction"].browse(self.refund_id)
            self.assertEqual(refund.state, "done")
            refund._post_process()  # the notification, not committed yet
            worker = threading.Thread(target=self._cron, args=(env_cron, outcome))
            worker.start()
            self.assertTrue(self._wait_until_blocked(pid, thread=worker), "the cron waits")
            cr_notify.commit()
            worker.join(60)
        self.assertFalse(worker.is_alive())
        self.assertNotIsInstance(outcome.get("cron"), Exception, outcome.get("cron"))
        with self.registry.cursor() as cr:
            env = self._env(cr)
            refund = env["payment.transaction"].browse(self.refund_id)
            withdrawal = env["finnsys.withdrawal"].browse(self.withdrawal_id)
            payments = env["account.payment"].search(
                Domain("partner_id", "=", self.customer_id)
                & Domain("payment_type", "=", "outbound")
            )
            self.assertEqual(len(payments), 1)
            self.assertEqual(refund.payment_id, payments)
            self.assertEqual(withdrawal.state, "paid")
            self.assertEqual(withdrawal.payment_id, payments)
            self.assertEqual(payments.amount, 45.0)
            customer = env["res.partner"].browse(self.customer_id).with_company(self.company_id)
            self.assertEqual(customer.billing_balance, 55.0)
