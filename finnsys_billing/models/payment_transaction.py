from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_amount

from ..concurrency import claim_rows, lock_rows

# Refund transactions that are still on their way or went through: no second one is sent.
LIVE_REFUND_STATES = ("draft", "pending", "authorized", "done")


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
            lambda t: t.operation == "refund" and t.state in LIVE_REFUND_STATES
        )
        return self.currency_id.round(self.amount + sum(refunds.mapped("amount")))

    # --- refunding a card payment to pay a withdrawal back --------------------------------

    def _finnsys_check_refund_source(self, withdrawal):
        """This card payment takes the refund of ``withdrawal``: the customer's own, done,
        through a provider that refunds, and for no more than it brought in less its refunds."""
        self.ensure_one()
        tx = self.sudo()
        partner = withdrawal.partner_id.commercial_partner_id
        currency = withdrawal.currency_id
        if (
            tx.partner_id.commercial_partner_id != partner
            or tx.state != "done"
            or tx.operation in ("refund", "validation")
            or tx.currency_id != currency
            or tx.provider_id.support_refund not in ("full_only", "partial")
        ):
            raise ValidationError(
                self.env._(
                    "Payment %(tx)s cannot take the refund: choose a confirmed payment of "
                    "%(partner)s in %(currency)s through a provider that supports refunds, or "
                    "leave the field empty to pay by bank.",
                    tx=tx.reference,
                    partner=partner.display_name,
                    currency=currency.name,
                )
            )
        # The withdrawal's own refund, once sent, is not an earlier one.
        own = withdrawal.refund_transaction_id.filtered(lambda r: r.state in LIVE_REFUND_STATES)
        refundable = tx._finnsys_refundable_amount() - own.amount
        compare = currency.compare_amounts(withdrawal.amount, refundable)
        if compare > 0 or (tx.provider_id.support_refund == "full_only" and compare):
            raise ValidationError(
                self.env._(
                    "Payment %(tx)s can take a refund of %(refundable)s (what it brought in, "
                    "less its earlier refunds%(full)s), not %(amount)s: lower the amount or pay "
                    "the rest by bank in another withdrawal.",
                    tx=tx.reference,
                    refundable=format_amount(self.env, refundable, currency),
                    full=self.env._("; its provider refunds only the whole amount")
                    if tx.provider_id.support_refund == "full_only"
                    else "",
                    amount=format_amount(self.env, withdrawal.amount, currency),
                )
            )

    def _finnsys_check_no_live_refund(self):
        """Refuse while one of these withdrawal refunds is under way or went through: the
        withdrawal is booked when the provider confirms it, never sent twice."""
        for refund in self.filtered(lambda r: r.state in LIVE_REFUND_STATES):
            raise UserError(
                self.env._(
                    "Withdrawal %(name)s was already sent back to the card with refund "
                    "%(refund)s (%(state)s): it is booked when the provider confirms it.",
                    name=refund.finnsys_withdrawal_id.name,
                    refund=refund.reference,
                    state=refund.state,
                )
            )

    def _finnsys_send_refund(self, withdrawal):
        """Ask the provider of this payment to refund the amount of ``withdrawal``; the
        withdrawal is paid when the refund transaction is post-processed (``_post_process``).

        :return: the refund transaction (sudo)
        """
        self.ensure_one()
        source = self.sudo()
        source._ensure_provider_is_not_disabled()
        refund = source._create_child_transaction(
            withdrawal.amount, is_refund=True, finnsys_withdrawal_id=withdrawal.id
        )
        withdrawal.sudo().refund_transaction_id = refund
        refund._log_sent_message()
        try:
            refund._send_refund_request()
        except ValidationError as error:
            refund._set_error(str(error))
        withdrawal.message_post(
            body=self.env._(
                "Refund %(refund)s of %(amount)s sent to %(provider)s, back to payment %(tx)s.",
                refund=refund.reference,
                amount=format_amount(self.env, withdrawal.amount, withdrawal.currency_id),
                provider=source.provider_id.name,
                tx=source.reference,
            )
        )
        return refund

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
            lock_rows(self.env, self._table, refunds.ids)
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
        locked = claim_rows(self.env, self._table, self.ids)
        self.invalidate_recordset()
        return bool(locked) and (
            self.state == "draft" or (self.state == "done" and not self.is_post_processed)
        )

    def _finnsys_surcharge_moves(self):
        """The surcharge invoices these transactions paid besides their invoices."""
        return self.finnsys_surcharge_consent_id.surcharge_move_id
