from odoo import fields, models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    plan_id = fields.Many2one(related="move_id.plan_id", store=True, index="btree_not_null")
