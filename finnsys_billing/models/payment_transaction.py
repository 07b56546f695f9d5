from odoo import fields, models


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
