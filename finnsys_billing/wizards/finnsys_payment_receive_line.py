from odoo import fields, models


class FinnsysPaymentReceiveLine(models.TransientModel):
    _name = "finnsys.payment.receive.line"
    _description = "Invoice paid by a received payment"
    _order = "sequence, id"

    wizard_id = fields.Many2one("finnsys.payment.receive", required=True, ondelete="cascade")
    sequence = fields.Integer()
    move_id = fields.Many2one("account.move", string="Invoice", required=True)
    invoice_date = fields.Date(related="move_id.invoice_date")
    invoice_date_due = fields.Date(related="move_id.invoice_date_due", string="Due Date")
    currency_id = fields.Many2one(related="wizard_id.currency_id")
    amount_total = fields.Monetary(related="move_id.amount_total", string="Total")
    amount_residual = fields.Monetary(related="move_id.amount_residual", string="Amount Due")
    amount_to_apply = fields.Monetary(
        help="Part of the payment applied to this invoice; zero leaves the invoice open."
    )
