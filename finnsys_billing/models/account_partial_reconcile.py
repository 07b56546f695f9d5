from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    # The aged receivables at a past date undo the partials not yet made then, dated or
    # entered after it: without this index every such report reads the whole table.
    _aging_later_idx = models.Index("((GREATEST(max_date, create_date::date)))")

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        self.env["res.partner"]._finnsys_invalidate_figures()
        # A payment that settles an invoice in dunning stops its retries.
        self.env["finnsys.subscription.dunning"]._settled(
            (partials.debit_move_id | partials.credit_move_id).move_id
        )
        return partials

    def unlink(self):
        result = super().unlink()
        self.env["res.partner"]._finnsys_invalidate_figures()
        return result
