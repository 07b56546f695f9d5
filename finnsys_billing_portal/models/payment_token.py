from odoo import api, models


class PaymentToken(models.Model):
    _inherit = "payment.token"

    @api.model
    def _finnsys_demo_tokens_succeed(self, token_ids):
        """Let the demo's saved cards be charged successfully by Odoo's demo provider.

        The field belongs to ``payment_demo``, which the demo data does not require: without
        it the demo provider is not installed and its cards are never charged.
        """
        if "demo_simulated_state" in self._fields:
            self.browse(token_ids).demo_simulated_state = "done"
