from odoo import fields, models
from odoo.tools import SQL


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    finnsys_topup_attempt_id = fields.Many2one(
        "finnsys.topup.attempt",
        string="Top-up Attempt",
        readonly=True,
        index="btree_not_null",
        ondelete="restrict",
        help="The automatic top-up this charge belongs to.",
    )
    finnsys_withdrawal_id = fields.Many2one(
        "finnsys.withdrawal",
        string="Withdrawal",
        readonly=True,
        index="btree_not_null",
        ondelete="restrict",
        help="The withdrawal of unused credit this refund pays back.",
    )

    def _finnsys_refundable_amount(self):
        """What may still be refunded of this payment: its amount less the refunds sent
        (under way or done)."""
        self.ensure_one()
        refunds = self.child_transaction_ids.filtered(
            lambda t: (
                t.operation == "refund" and t.state in ("draft", "pending", "authorized", "done")
            )
        )
        return self.currency_id.round(self.amount + sum(refunds.mapped("amount")))

    def _post_process(self):
        """Book a withdrawal's refund once, however often its notification is processed.

        Odoo creates the payment of a refund when it post-processes it, which the provider's
        notification, the status poll and the cron may do at the same time. The refunds'
        rows are locked first (in REPEATABLE READ the second process then fails with a
        serialization error, retried by Odoo), and one that has its payment is skipped.
        """
        refunds = self.filtered("finnsys_withdrawal_id")
        if refunds:
            self.env.cr.execute(
                SQL(
                    "SELECT id FROM payment_transaction WHERE id IN %s ORDER BY id "
                    "FOR NO KEY UPDATE",
                    tuple(refunds.ids),
                ),
                log_exceptions=False,  # the expected conflict is retried, logged there
            )
            refunds.invalidate_recordset(["state", "payment_id", "is_post_processed"])
        txs = self - refunds.filtered("payment_id")
        refunds &= txs
        result = super(PaymentTransaction, txs)._post_process()
        for tx in refunds.filtered(lambda t: t.state == "done" and t.payment_id):
            tx.finnsys_withdrawal_id._book_provider_refund(tx.payment_id)
        return result

    def _finnsys_surcharge_part(self):
        """The part of this transaction's amount that pays a surcharge, not its invoices.

        Zero here; the portal, which charges surcharges, adds it.
        """
        self.ensure_one()
        return 0.0

    def _finnsys_surcharge_moves(self):
        """The surcharge invoices these transactions paid besides their invoices.

        None here; the portal, which charges surcharges, adds them.
        """
        return self.env["account.move"]
