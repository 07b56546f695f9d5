from odoo import fields, models

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
        "account.move", string="Surcharge Invoice", readonly=True, ondelete="set null"
    )
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    amount = fields.Monetary(required=True, readonly=True)
    surcharge = fields.Monetary(required=True, readonly=True)
    total = fields.Monetary(required=True, readonly=True)
    ip_address = fields.Char(string="IP Address", readonly=True)
    at = fields.Datetime(
        string="Time", required=True, readonly=True, default=lambda self: fields.Datetime.now()
    )

    def _finnsys_surcharged_invoices(self):
        """The invoices this surcharge was paid on: every invoice of its transaction (several
        when the customer paid them together), else the consent's invoice."""
        self.ensure_one()
        invoices = self.transaction_id.invoice_ids.filtered(lambda m: m.move_type == "out_invoice")
        return (invoices - self.surcharge_move_id) or self.invoice_id
