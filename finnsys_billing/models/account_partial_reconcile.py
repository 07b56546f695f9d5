from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        self.env["res.partner"]._billing_invalidate_figures()
        return partials

    def unlink(self):
        result = super().unlink()
        self.env["res.partner"]._billing_invalidate_figures()
        return result
