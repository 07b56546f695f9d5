from psycopg2.errors import SerializationFailure

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
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
    finnsys_surcharge_consent_id = fields.Many2one(
        "finnsys.surcharge.consent",
        string="Surcharge Consent",
        readonly=True,
        index="btree_not_null",
        help="The surcharge the customer accepted for this payment.",
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

        An accepted surcharge is booked first, so that the payment Odoo creates pays it.
        """
        self._finnsys_book_surcharges()
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

    def _finnsys_book_surcharges(self):
        """Book the surcharges accepted for these done transactions, each once."""
        for tx in self.filtered(
            lambda t: (
                t.state == "done"
                and t.finnsys_surcharge_consent_id
                and not t.finnsys_surcharge_consent_id.surcharge_move_id
            )
        ):
            tx.finnsys_surcharge_consent_id._book_surcharge()

    def _finnsys_surcharge_part(self):
        """The part of this transaction's amount that pays a surcharge, not its invoices."""
        self.ensure_one()
        return self.finnsys_surcharge_consent_id.surcharge

    # --- charging a saved token off-session ----------------------------------------------

    @api.model
    def _finnsys_new_token_charge(self, token, partner, amount, currency, prefix, **values):
        """A draft off-session charge of ``amount`` on the saved ``token``, as Odoo's
        ``account.payment`` prepares one. Commit it, then charge it with
        :meth:`_finnsys_charge_saved_token`: a charge whose draft was committed first is
        found again after a crash and sent as the same transaction.

        :param prefix: the reference's prefix (an invoice number, ``TOPUP-<attempt>``)
        :param values: more fields of the transaction (``invoice_ids``, the top-up attempt)
        :return: the draft transaction (sudo)
        """
        Transaction = self.sudo()
        return Transaction.create(
            {
                "provider_id": token.provider_id.id,
                "payment_method_id": token.payment_method_id.id,
                "token_id": token.id,
                "operation": "offline",
                "partner_id": partner.id,
                "amount": amount,
                "currency_id": currency.id,
                "reference": Transaction._compute_reference(token.provider_id.code, prefix=prefix),
                **values,
            }
        )

    def _finnsys_charge_saved_token(self):
        """Charge these off-session token transactions, each once, and book their payments.

        The one way FinnSys charges a saved token (auto top-ups, subscription invoices). Each
        transaction is locked first and sent only while it is a draft, so two runs at once
        charge it once, and a draft left by a crash is sent again under its own reference
        (which providers use as the idempotency key), never as a new transaction. One that
        is done but not yet booked (a crash after the charge) is only booked. A refusal of
        the provider is recorded on the transaction, not raised.

        :return: the transactions this call handled; the others are held by another run
        """
        handled = self.browse()
        for tx in self.sudo():
            if not tx._finnsys_lock_for_charge():
                continue
            if tx.state == "draft":
                try:
                    with self.env.cr.savepoint():
                        tx._charge_with_token()
                except (UserError, ValidationError) as error:
                    tx._set_error(str(error))
            if tx.state == "done" and not tx.is_post_processed:
                tx._post_process()
            handled |= tx
        return handled

    def _finnsys_lock_for_charge(self):
        """Lock this transaction unless another run holds it; whether it is still to charge
        or to book. A row changed by a run that committed after this transaction's snapshot
        counts as taken (Odoo runs in REPEATABLE READ)."""
        self.ensure_one()
        self.flush_recordset()
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        "SELECT id FROM payment_transaction WHERE id = %s "
                        "FOR NO KEY UPDATE SKIP LOCKED",
                        self.id,
                    ),
                    log_exceptions=False,
                )
                locked = bool(self.env.cr.fetchone())
        except SerializationFailure:
            return False
        self.invalidate_recordset()
        return locked and (
            self.state == "draft" or (self.state == "done" and not self.is_post_processed)
        )

    def _finnsys_surcharge_moves(self):
        """The surcharge invoices these transactions paid besides their invoices."""
        return self.finnsys_surcharge_consent_id.surcharge_move_id
