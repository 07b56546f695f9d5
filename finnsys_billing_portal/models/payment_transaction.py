from odoo import Command, fields, models


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    finnsys_surcharge_consent_id = fields.Many2one(
        "finnsys.surcharge.consent",
        string="Surcharge Consent",
        readonly=True,
        index="btree_not_null",
        help="The surcharge the customer accepted for this payment.",
    )
    finnsys_receipt_sent = fields.Boolean(
        string="Receipt Sent",
        readonly=True,
        copy=False,
        help="The receipt e-mail of this portal payment is queued.",
    )

    def _post_process(self):
        """Book accepted surcharges before Odoo creates and reconciles the payment."""
        for tx in self.filtered(
            lambda t: (
                t.state == "done"
                and t.finnsys_surcharge_consent_id
                and not t.finnsys_surcharge_consent_id.surcharge_move_id
            )
        ):
            tx._finnsys_book_surcharge()
        result = super()._post_process()
        self._finnsys_send_receipts()
        return result

    def _finnsys_send_receipts(self):
        """Queue the receipt e-mail of each portal payment (invoices, top-ups) and of each
        subscription invoice charged to its saved card, once it is done, once.

        Auto top-ups (``offline`` charges of no invoice) send their own e-mail, which links
        the same receipt; refunds get none.
        """
        template = self.env.ref(
            "finnsys_billing_portal.mail_template_payment_receipt", raise_if_not_found=False
        )
        txs = self.filtered(
            lambda t: (
                t.state == "done"
                and (
                    t.operation in ("online_redirect", "online_direct", "online_token")
                    or (t.operation == "offline" and t.invoice_ids)
                )
                and t.payment_id
                and not t.finnsys_receipt_sent
            )
        )
        if not template or not txs:
            return
        # Write the booking first: a concurrent notification of the same payment must fail
        # here, as the serialization error Odoo retries, not inside the template's rendering,
        # which turns any error into a UserError.
        self.env.flush_all()
        for tx in txs:
            template.send_mail(tx.payment_id.id, force_send=False)
        txs.finnsys_receipt_sent = True

    def _finnsys_book_surcharge(self):
        consent = self.finnsys_surcharge_consent_id
        invoice = consent.invoice_id
        move = (
            self.env["account.move"]
            .sudo()
            .with_company(invoice.company_id)
            .create(
                {
                    "move_type": "out_invoice",
                    "partner_id": invoice.partner_id.id,
                    "currency_id": consent.currency_id.id,
                    "invoice_date": fields.Date.context_today(self),
                    "invoice_origin": invoice.name,
                    "journal_id": invoice.journal_id.id,
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": self.env._(
                                    "Payment surcharge on %(invoice)s (%(rule)s)",
                                    invoice=invoice.name,
                                    rule=consent.rule_id.name,
                                ),
                                "quantity": 1,
                                "price_unit": consent.surcharge,
                                "account_id": consent.rule_id.income_account_id.id,
                                "tax_ids": [],
                            }
                        )
                    ],
                }
            )
        )
        # Settled by this very payment, so it never adds to the customer's exposure.
        move.with_context(finnsys_credit_override=True).action_post()
        consent.surcharge_move_id = move

    def _finnsys_surcharge_part(self):
        return super()._finnsys_surcharge_part() + self.finnsys_surcharge_consent_id.surcharge

    def _create_payment(self, **extra_create_values):
        """Settle the surcharge first, then the invoice, with the one payment of the total.

        Odoo reconciles the whole payment with the invoice, and posting the surcharge invoice
        applied the customer's older credit to it; both are undone, so the surcharge is paid
        by the money charged for it and only the rest goes to the invoice.
        """
        payment = super()._create_payment(**extra_create_values)
        surcharge_move = self.finnsys_surcharge_consent_id.surcharge_move_id
        if not surcharge_move:
            return payment
        account = payment.destination_account_id
        payment_line = payment.move_id.line_ids.filtered(lambda line: line.account_id == account)
        surcharge_lines = surcharge_move.line_ids.filtered(lambda line: line.account_id == account)
        (payment_line + surcharge_lines).remove_move_reconcile()
        for moves in (surcharge_move, self.invoice_ids):
            (payment_line + moves.line_ids).filtered(
                lambda line: line.account_id == account and not line.reconciled
            ).reconcile()
        return payment

    def _finnsys_surcharge_moves(self):
        return (
            super()._finnsys_surcharge_moves() | self.finnsys_surcharge_consent_id.surcharge_move_id
        )
