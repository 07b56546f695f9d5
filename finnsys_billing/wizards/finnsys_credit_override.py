from odoo import fields, models
from odoo.exceptions import AccessError

from ..const import BILLING_MANAGER_GROUP


class FinnsysCreditOverride(models.TransientModel):
    _name = "finnsys.credit.override"
    _description = "Post invoices over the credit limit"

    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        default=lambda self: self._default_move_ids(),
    )
    reason = fields.Text(required=True)

    def _default_move_ids(self):
        if self.env.context.get("active_model") != "account.move":
            return self.env["account.move"]
        return self.env["account.move"].browse(self.env.context.get("active_ids", []))

    def action_post(self):
        self.ensure_one()
        if not self.env.user.has_group(BILLING_MANAGER_GROUP):
            raise AccessError(self.env._("Only a billing manager may post over a credit limit."))
        moves = self.move_ids.filtered(lambda m: m.state == "draft")
        moves.finnsys_post_over_credit_limit()
        note = self.env._(
            "Posted over the credit limit by %(user)s. Reason: %(reason)s",
            user=self.env.user.name,
            reason=self.reason,
        )
        for move in moves:
            move.message_post(body=note)
        for partner in moves.commercial_partner_id.sudo():
            partner.message_post(body=note, author_id=self.env.user.partner_id.id)
        # The wizard is opened from the refusal dialog, not from a button of the invoice, so
        # closing it would leave the invoice's form showing Draft: reload what is behind it.
        return {"type": "ir.actions.client", "tag": "soft_reload"}
