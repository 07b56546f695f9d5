from odoo import Command
from odoo.tests import tagged

from .common import BillingFiguresMixin
from .surcharge_common import SurchargeCommon


@tagged("post_install", "-at_install")
class TestSurchargeRefund(BillingFiguresMixin, SurchargeCommon):
    """A credit note on an invoice paid with a card surcharge refunds the surcharge in
    proportion, with a credit note of its own on the surcharge income account."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rule = cls._card_surcharge_rule("707708")
        cls.income = cls.rule.income_account_id
        cls.invoice = cls._invoice(cls.customer, 50.0)
        cls.receivable = cls.invoice.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        ).account_id

    def _pay_online(self, rule):
        """Pay the whole invoice with the customer's saved card, accepting the surcharge of
        ``rule``."""
        tx = self._pay_by_card(self.invoice, 50.0, rule)
        self.assertEqual(self.invoice.payment_state, "paid")
        return tx

    def _pay_with_surcharge(self):
        tx = self._pay_online(self.rule)
        self.assertEqual(tx.amount, 51.55)
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        self.assertIn(surcharge_move.payment_state, ("paid", "in_payment"))
        return surcharge_move

    def _credit_note(self, invoice, amount=None):
        """Post a credit note of ``invoice`` made with Odoo's reversal wizard, for ``amount``
        instead of the whole invoice when given."""
        action = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"reason": "Service credit", "journal_id": invoice.journal_id.id})
            .refund_moves()
        )
        credit_note = self.env["account.move"].browse(action["res_id"])
        if amount is not None:
            line = credit_note.invoice_line_ids
            credit_note.write(
                {"invoice_line_ids": [Command.update(line.id, {"price_unit": amount})]}
            )
        credit_note.action_post()
        self.assertEqual(credit_note.reversed_entry_id, invoice)
        return credit_note

    def _surcharge_refunds(self, surcharge_move):
        return self.env["account.move"].search(
            [("reversed_entry_id", "=", surcharge_move.id), ("state", "=", "posted")]
        )

    def test_full_credit_note_refunds_the_whole_surcharge(self):
        surcharge_move = self._pay_with_surcharge()
        credit_note = self._credit_note(self.invoice)
        refund = credit_note.finnsys_surcharge_refund_ids
        self.assertRecordValues(
            refund,
            [
                {
                    "move_type": "out_refund",
                    "state": "posted",
                    "partner_id": self.customer.id,
                    "reversed_entry_id": surcharge_move.id,
                    "finnsys_surcharge_credit_note_id": credit_note.id,
                    "amount_total": 1.55,
                }
            ],
        )
        self.assertEqual(self._surcharge_refunds(surcharge_move), refund)
        form = self.env["account.move"].get_view(view_type="form")["arch"]
        self.assertIn('name="finnsys_surcharge_refund_ids"', form)
        self.assertRecordValues(
            refund.line_ids.sorted("debit"),
            [
                {
                    "account_id": self.receivable.id,
                    "partner_id": self.customer.id,
                    "debit": 0.0,
                    "credit": 1.55,
                    "reconciled": False,
                },
                {
                    "account_id": self.income.id,
                    "partner_id": self.customer.id,
                    "debit": 1.55,
                    "credit": 0.0,
                    "reconciled": False,
                },
            ],
        )

    def test_partial_credit_notes_add_up_to_the_surcharge(self):
        surcharge_move = self._pay_with_surcharge()
        first = self._credit_note(self.invoice, 15.0)
        self.assertEqual(
            first.finnsys_surcharge_refund_ids.amount_total, self.currency.round(1.55 * 0.3)
        )
        second = self._credit_note(self.invoice, 35.0)
        refunds = self._surcharge_refunds(surcharge_move)
        self.assertEqual(
            refunds, first.finnsys_surcharge_refund_ids + second.finnsys_surcharge_refund_ids
        )
        self.assertEqual(
            self.currency.compare_amounts(sum(refunds.mapped("amount_total")), 1.55), 0
        )
        income_lines = refunds.line_ids.filtered(lambda line: line.account_id == self.income)
        self.assertEqual(self.currency.compare_amounts(sum(income_lines.mapped("debit")), 1.55), 0)

    def test_credit_beyond_the_invoice_refunds_no_more_than_the_surcharge(self):
        surcharge_move = self._pay_with_surcharge()
        self._credit_note(self.invoice)
        extra = self._credit_note(self.invoice, 10.0)
        self.assertFalse(extra.finnsys_surcharge_refund_ids)
        self.assertEqual(self._surcharge_refunds(surcharge_move).amount_total, 1.55)

    def test_credit_note_without_surcharge_refunds_nothing(self):
        # Money received by bank first pays the next invoice.
        self._receive(self.customer, 80.0)
        paid_in_bank = self._invoice(self.customer, 80.0)
        self.assertEqual(paid_in_bank.payment_state, "paid")
        # A 0 % rule: the customer pays the invoice amount and accepts no surcharge.
        self.rule.write({"percent": 0.0, "fixed_amount": 0.0})
        tx = self._pay_online(self.rule)
        self.assertEqual(tx.amount, 50.0)
        self.assertFalse(tx.finnsys_surcharge_consent_id)
        for invoice in (paid_in_bank, self.invoice):
            with self.subTest(invoice=invoice.name):
                credit_note = self._credit_note(invoice)
                self.assertFalse(credit_note.finnsys_surcharge_refund_ids)
        self.assertFalse(
            self.env["account.move"].search([("finnsys_surcharge_credit_note_id", "!=", False)])
        )

    def test_posting_again_after_reset_refunds_nothing_more(self):
        surcharge_move = self._pay_with_surcharge()
        credit_note = self._credit_note(self.invoice)
        refund = credit_note.finnsys_surcharge_refund_ids
        credit_note.button_draft()
        credit_note.action_post()
        self.assertEqual(credit_note.finnsys_surcharge_refund_ids, refund)
        self.assertEqual(self._surcharge_refunds(surcharge_move), refund)
        self.assertEqual(refund.amount_total, 1.55)

    def test_refund_is_credit_on_the_customer_balance(self):
        self._pay_with_surcharge()
        self._assert_figures(self.customer, 0.0, 0.0, 0.0, 0.0)
        self._credit_note(self.invoice, 15.0)
        credit = 15.0 + self.currency.round(1.55 * 0.3)
        self._assert_figures(self.customer, credit, -credit, 0.0, credit)
        self._credit_note(self.invoice, 35.0)
        self._assert_figures(self.customer, 51.55, -51.55, 0.0, 51.55)

    def test_invoices_paid_together_each_refund_their_part_of_the_surcharge(self):
        small = self._invoice(self.customer, 10.0)
        large = self._invoice(self.customer, 990.0)
        both = small | large
        tx = self._pay_by_card(both, 1000.0, self.rule)
        self.assertEqual(set(both.mapped("payment_state")), {"paid"})
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        self.assertEqual(surcharge_move.amount_total, 25.30)  # 2.5 % of 1,000 + 0.30
        # The 10 is 1 % of what the surcharge was paid on: 0.253, rounded.
        self.assertEqual(self._credit_note(small).finnsys_surcharge_refund_ids.amount_total, 0.25)
        # The 990 refunds the rest, so both add up to the surcharge.
        self.assertEqual(self._credit_note(large).finnsys_surcharge_refund_ids.amount_total, 25.05)
        self.assertEqual(sum(self._surcharge_refunds(surcharge_move).mapped("amount_total")), 25.30)
