from odoo import Command, fields, models
from odoo.tools import SQL

CONSENT_STATES = [
    ("accepted", "Accepted"),
    ("declined", "Declined"),
]


class FinnsysSurchargeConsent(models.Model):
    """What a customer was shown and answered before a surcharged payment; never changed."""

    _name = "finnsys.surcharge.consent"
    _description = "Payment surcharge consent"
    _order = "id desc"
    _rec_name = "invoice_id"

    state = fields.Selection(CONSENT_STATES, required=True, readonly=True)
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, readonly=True, index=True
    )
    user_id = fields.Many2one("res.users", required=True, readonly=True)
    invoice_id = fields.Many2one("account.move", required=True, readonly=True, index=True)
    rule_id = fields.Many2one("finnsys.surcharge.rule", required=True, readonly=True)
    payment_method_id = fields.Many2one("payment.method", readonly=True)
    transaction_id = fields.Many2one(
        "payment.transaction", readonly=True, index="btree_not_null", ondelete="set null"
    )
    surcharge_move_id = fields.Many2one(
        "account.move",
        string="Surcharge Invoice",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )
    company_id = fields.Many2one(related="invoice_id.company_id", store=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    amount = fields.Monetary(required=True, readonly=True)
    surcharge = fields.Monetary(required=True, readonly=True)
    total = fields.Monetary(required=True, readonly=True)
    ip_address = fields.Char(string="IP Address", readonly=True)
    at = fields.Datetime(
        string="Time", required=True, readonly=True, default=lambda self: fields.Datetime.now()
    )

    def init(self):
        # Surcharge documents booked before account.move marked them: posting reads the mark.
        self.env.cr.execute(
            SQL(
                """
                UPDATE account_move move
                   SET finnsys_surcharge_document = TRUE
                  FROM finnsys_surcharge_consent consent
                 WHERE consent.surcharge_move_id = move.id
                   AND move.finnsys_surcharge_document IS NOT TRUE
                """
            )
        )

    def _surcharged_invoices(self):
        """The invoices this surcharge was paid on: every invoice of its transaction (several
        when the customer paid them together), else the consent's invoice."""
        self.ensure_one()
        invoices = self.transaction_id.invoice_ids.filtered(lambda m: m.move_type == "out_invoice")
        return (invoices - self.surcharge_move_id) or self.invoice_id

    def _book_surcharge(self):
        """Book the accepted surcharge as an invoice of its own, on the rule's income account.

        It is marked as a surcharge document and linked to this consent before it is posted:
        posting then knows it for a surcharge document, settled by the payment it was charged
        with (no credit check, no older credit applied to it), without looking for a consent.
        """
        self.ensure_one()
        invoice = self.invoice_id
        move = self._surcharge_move_create(
            invoice,
            "out_invoice",
            invoice.name,
            fields.Date.context_today(self),
            self.env._(
                "Payment surcharge on %(invoice)s (%(rule)s)",
                invoice=invoice.name,
                rule=self.rule_id.name,
            ),
            self.surcharge,
            self.rule_id.income_account_id,
            finnsys_surcharge_document=True,
        )
        # A record of what the customer accepted, read-only to billing users.
        self.sudo().surcharge_move_id = move
        move.action_post()
        return move

    def _refund_amount(self, credit_note):
        """What ``credit_note`` refunds of this surcharge.

        The surcharge refunded over all credit notes of the invoices it was paid on follows
        the share of those invoices they credit together, rounded once, so partial credit
        notes that add up to the invoices refund exactly the surcharge, and never more than it.
        Invoices paid together share one surcharge: crediting one of them refunds its part.
        """
        self.ensure_one()
        currency = self.currency_id
        refunds = self.surcharge_move_id.reversal_move_ids.filtered(lambda m: m.state == "posted")
        refunded = sum(refunds.mapped("amount_total"))
        credited = refunds.finnsys_surcharge_credit_note_id | credit_note
        share = min(1.0, credited._finnsys_share_of(self._surcharged_invoices()))
        return currency.round(currency.round(self.surcharge * share) - refunded)

    def _book_refund(self, credit_note, amount):
        """Reverse ``amount`` of this surcharge document with a credit note of its own, on the
        surcharge income account: it becomes credit of the customer."""
        self.ensure_one()
        surcharge_move = self.surcharge_move_id
        refund = self._surcharge_move_create(
            surcharge_move,
            "out_refund",
            credit_note.name,
            credit_note.invoice_date or fields.Date.context_today(self),
            self.env._(
                "Refund of the payment surcharge on %(invoice)s for credit note %(credit_note)s",
                invoice=self.invoice_id.name,
                credit_note=credit_note.name,
            ),
            amount,
            surcharge_move.invoice_line_ids.account_id[:1] or self.rule_id.income_account_id,
            reversed_entry_id=surcharge_move.id,
            finnsys_surcharge_credit_note_id=credit_note.id,
        )
        refund.action_post()
        return refund

    def _surcharge_move_create(
        self, origin, move_type, reference, date, label, amount, account, **values
    ):
        """A draft document of one untaxed line in the journal and company of ``origin``."""
        return (
            self.env["account.move"]
            .sudo()
            .with_company(origin.company_id)
            .create(
                {
                    "move_type": move_type,
                    "partner_id": origin.partner_id.id,
                    "currency_id": self.currency_id.id,
                    "invoice_date": date,
                    "invoice_origin": reference,
                    "journal_id": origin.journal_id.id,
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": label,
                                "quantity": 1,
                                "price_unit": amount,
                                "account_id": account.id,
                                "tax_ids": [],
                            }
                        )
                    ],
                    **values,
                }
            )
        )
