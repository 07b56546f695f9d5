from odoo import Command, fields, models
from odoo.fields import Domain
from odoo.tools import SQL


class AccountMove(models.Model):
    _inherit = "account.move"

    finnsys_surcharge_credit_note_id = fields.Many2one(
        "account.move",
        string="Surcharge Refunded For",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
        help="The credit note whose share of the payment surcharge this document refunds.",
    )
    finnsys_surcharge_refund_ids = fields.One2many(
        "account.move",
        "finnsys_surcharge_credit_note_id",
        string="Surcharge Refunds",
        readonly=True,
        help="Refunds of the card surcharge paid on the credited invoice, in proportion to this "
        "credit note.",
    )

    _finnsys_surcharge_refund_once = models.Constraint(
        "UNIQUE(finnsys_surcharge_credit_note_id, reversed_entry_id)",
        "A credit note refunds the surcharge of a payment only once.",
    )

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        posted._billing_portal_auto_invite()
        posted._finnsys_refund_surcharges()
        return posted

    def _billing_portal_auto_invite(self):
        """Invite the billing contacts of customers whose first invoice was just posted."""
        invoices = self.filtered(
            lambda m: m.move_type == "out_invoice" and m.company_id.billing_portal_auto_invite
        )
        customers = self.env["res.partner"]
        for customer in invoices.commercial_partner_id:
            if not customer._billing_portal_has_posted_invoice(invoices):
                customers |= customer
        if customers:
            customers.sudo()._billing_portal_grant()

    def _finnsys_refund_surcharges(self):
        """Refund, in proportion, the card surcharges paid on the invoices these credit notes
        credit: one refund per credit note and surcharge document, however often it is posted."""
        credit_notes = self.filtered(
            lambda m: (
                m.move_type == "out_refund"
                and m.reversed_entry_id
                and not m.finnsys_surcharge_credit_note_id
            )
        )
        if not credit_notes:
            return
        credited = credit_notes.reversed_entry_id
        consents = (
            self.env["finnsys.surcharge.consent"]
            .sudo()
            .search(
                (
                    Domain("invoice_id", "in", credited.ids)
                    | Domain("transaction_id.invoice_ids", "in", credited.ids)
                )
                & Domain("state", "=", "accepted")
                & Domain("surcharge_move_id.state", "=", "posted")
            )
        )
        if not consents:
            return
        self._finnsys_lock_surcharges(consents.surcharge_move_id)
        for credit_note in credit_notes.sudo():
            done = credit_note.finnsys_surcharge_refund_ids.reversed_entry_id
            for consent in consents:
                if (
                    credit_note.reversed_entry_id not in consent._finnsys_surcharged_invoices()
                    or consent.surcharge_move_id in done
                ):
                    continue
                amount = credit_note._finnsys_surcharge_refund_amount(consent)
                if consent.currency_id.compare_amounts(amount, 0.0) > 0:
                    credit_note._finnsys_book_surcharge_refund(consent, amount)

    def _finnsys_lock_surcharges(self, surcharge_moves):
        """Serialize the refunds of these surcharge documents.

        Odoo runs transactions in REPEATABLE READ: a no-op UPDATE (not a plain row lock) makes
        a concurrent refund fail with a serialization error, which Odoo retries with a snapshot
        that shows the refund booked first, so the total never exceeds the surcharge.
        """
        self.env.cr.execute(
            SQL(
                "UPDATE account_move SET write_date = write_date WHERE id IN %s",
                tuple(sorted(surcharge_moves.ids)),
            )
        )

    def _finnsys_surcharge_refund_amount(self, consent):
        """What this credit note refunds of the surcharge of ``consent``.

        The surcharge refunded over all credit notes of the invoices it was paid on follows
        the share of those invoices they credit together, rounded once, so partial credit
        notes that add up to the invoices refund exactly the surcharge, and never more than it.
        Invoices paid together share one surcharge: crediting one of them refunds its part.
        """
        currency = consent.currency_id
        refunds = consent.surcharge_move_id.reversal_move_ids.filtered(
            lambda m: m.state == "posted"
        )
        refunded = sum(refunds.mapped("amount_total"))
        credited = refunds.finnsys_surcharge_credit_note_id | self
        share = min(1.0, credited._finnsys_share_of(consent._finnsys_surcharged_invoices()))
        return currency.round(currency.round(consent.surcharge * share) - refunded)

    def _finnsys_share_of(self, invoices):
        """The part of ``invoices`` these credit notes credit together (1.0: all of them)."""
        if (
            all(move.currency_id == invoices.currency_id for move in self)
            and len(invoices.currency_id) == 1
        ):
            credited, total = sum(self.mapped("amount_total")), sum(invoices.mapped("amount_total"))
        else:
            credited = -sum(self.mapped("amount_total_signed"))
            total = sum(invoices.mapped("amount_total_signed"))
        return credited / total if total else 0.0

    def _finnsys_book_surcharge_refund(self, consent, amount):
        """Reverse ``amount`` of the surcharge document of ``consent`` with a credit note of its
        own, on the surcharge income account: it becomes credit of the customer."""
        surcharge_move = consent.surcharge_move_id
        income = surcharge_move.invoice_line_ids.account_id[:1] or consent.rule_id.income_account_id
        refund = (
            self.env["account.move"]
            .sudo()
            .with_company(surcharge_move.company_id)
            .create(
                {
                    "move_type": "out_refund",
                    "partner_id": surcharge_move.partner_id.id,
                    "currency_id": consent.currency_id.id,
                    "invoice_date": self.invoice_date or fields.Date.context_today(self),
                    "invoice_origin": self.name,
                    "journal_id": surcharge_move.journal_id.id,
                    "reversed_entry_id": surcharge_move.id,
                    "finnsys_surcharge_credit_note_id": self.id,
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": self.env._(
                                    "Refund of the payment surcharge on %(invoice)s for credit"
                                    " note %(credit_note)s",
                                    invoice=consent.invoice_id.name,
                                    credit_note=self.name,
                                ),
                                "quantity": 1,
                                "price_unit": amount,
                                "account_id": income.id,
                                "tax_ids": [],
                            }
                        )
                    ],
                }
            )
        )
        refund.action_post()
        return refund
