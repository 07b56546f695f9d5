from freezegun import freeze_time

from odoo.fields import Domain
from odoo.tests import tagged

from .test_subscription import SubscriptionCommon
from .test_topup import TopupCommon


@tagged("post_install", "-at_install")
class TestSavedTokenCharge(SubscriptionCommon, TopupCommon):
    """``payment.transaction._finnsys_charge_saved_token``: the one way auto top-ups and
    subscriptions charge a saved card, each charge once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.postpaid = cls._customer("Card Subscriber", "postpaid")
        cls.postpaid_token = cls._demo_token(cls.postpaid, "done")
        cls.postpaid.write(
            {"billing_payment_method": "token", "billing_token_id": cls.postpaid_token.id}
        )

    def _payments(self, tx):
        return self.env["account.payment"].search(Domain("payment_transaction_id", "in", tx.ids))

    def _draft(self, token=None, amount=40.0):
        token = token or self.postpaid_token
        return self.env["payment.transaction"]._finnsys_new_token_charge(
            token, token.partner_id, amount, self.env.company.currency_id, "SAVED"
        )

    def test_draft_is_sent_once_under_its_own_reference_and_booked(self):
        tx = self._draft()
        self.assertRecordValues(
            tx, [{"state": "draft", "operation": "offline", "reference": "SAVED"}]
        )
        self.assertEqual(tx._finnsys_charge_saved_token(), tx)
        self.assertRecordValues(tx, [{"state": "done", "is_post_processed": True}])
        self.assertEqual(len(self._payments(tx)), 1)
        self.assertEqual(self.postpaid.billing_balance, 40.0)

        self.assertFalse(tx._finnsys_charge_saved_token(), "charged and booked: nothing to do")
        self.assertEqual(len(self._payments(tx)), 1)
        self.assertEqual(
            self.env["payment.transaction"].search_count(Domain("reference", "=like", "SAVED%")),
            1,
        )

    def test_declined_card_is_recorded_on_the_transaction_not_raised(self):
        self.postpaid_token.demo_simulated_state = "error"
        tx = self._draft()
        tx._finnsys_charge_saved_token()
        self.assertEqual(tx.state, "error")
        self.assertFalse(self._payments(tx))
        self.assertFalse(tx._finnsys_charge_saved_token(), "a failed charge is not sent again")

    def test_disabled_provider_fails_the_charge_without_sending_it(self):
        tx = self._draft()
        self.provider.state = "disabled"
        tx._finnsys_charge_saved_token()
        self.assertEqual(tx.state, "error")
        self.assertIn("disabled", tx.state_message)
        self.assertFalse(self._payments(tx))

    def test_subscription_charge_left_in_draft_by_a_crash_is_sent_by_the_next_run(self):
        """A run killed after committing the invoice and its draft charge, before sending it."""
        subscription = self._subscribe(self.postpaid, self.monthly, "2026-03-01", "online")
        with freeze_time("2026-03-01"):
            invoice = subscription._finnsys_invoice_next_period()
        tx = invoice.transaction_ids
        self.assertRecordValues(tx, [{"state": "draft", "amount": 100.0}])

        self._run_cron("2026-03-01")
        self.assertEqual(invoice.transaction_ids, tx, "the same transaction, not a new one")
        self.assertEqual(tx.state, "done")
        self.assertEqual(len(self._payments(tx)), 1)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self._run_cron("2026-03-01")
        self.assertEqual(len(self._payments(invoice.transaction_ids)), 1)
