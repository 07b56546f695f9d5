from odoo import api, models
from odoo.tools import SQL


class FinnsysStatement(models.AbstractModel):
    _inherit = "finnsys.statement"

    @api.model
    def _surcharge_kinds(self, move_ids):
        """The card surcharges this addon books (the consent's surcharge invoice) and their
        refunds (credit notes of a credited invoice's share), in one query."""
        kinds = super()._surcharge_kinds(move_ids)
        if not move_ids:
            return kinds
        self.env.cr.execute(
            SQL(
                """
                SELECT surcharge_move_id, 'surcharge' FROM finnsys_surcharge_consent
                 WHERE surcharge_move_id = ANY(%(moves)s)
                 UNION
                SELECT id, 'surcharge_refund' FROM account_move
                 WHERE id = ANY(%(moves)s) AND finnsys_surcharge_credit_note_id IS NOT NULL
                """,
                moves=list(move_ids),
            )
        )
        return kinds | dict(self.env.cr.fetchall())
