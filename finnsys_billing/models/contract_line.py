from odoo import models


class ContractLine(models.Model):
    _inherit = "contract.line"

    def _finnsys_end_replaced(self):
        """End the lines a plan change replaced: an invoiced line stops at its last invoiced
        day with no next invoice date; a line never invoiced is removed."""
        invoiced = self.filtered("last_date_invoiced")
        (self - invoiced).unlink()
        for line in invoiced:
            line.write(
                {
                    "is_canceled": True,
                    "date_end": line.last_date_invoiced,
                    "recurring_next_date": False,
                }
            )
