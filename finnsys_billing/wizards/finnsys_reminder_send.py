from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain


class FinnsysReminderSend(models.TransientModel):
    _name = "finnsys.reminder.send"
    _description = "Send Payment Reminder"

    move_id = fields.Many2one("account.move", string="Invoice", required=True, readonly=True)
    company_id = fields.Many2one(related="move_id.company_id")
    partner_id = fields.Many2one(related="move_id.partner_id", string="Customer")
    email = fields.Char(related="move_id.partner_id.email", string="E-mail")
    rule_id = fields.Many2one(
        "finnsys.reminder.rule",
        string="Reminder",
        required=True,
        domain="['|', ('company_id', '=', False), ('company_id', '=', company_id)]",
        compute="_compute_rule_id",
        store=True,
        precompute=True,
        readonly=False,
    )
    subject = fields.Char(compute="_compute_preview")
    body = fields.Html(compute="_compute_preview", sanitize=False)
    warning = fields.Char(compute="_compute_warning")

    @api.depends("move_id")
    def _compute_rule_id(self):
        today = fields.Date.context_today(self)
        for wizard in self:
            move = wizard.move_id
            rules = self.env["finnsys.reminder.rule"].search(
                Domain("company_id", "in", [False, move.company_id.id])
            )
            days = (today - move.invoice_date_due).days if move.invoice_date_due else 0
            due = rules.filtered(lambda r, days=days: r.offset_days <= days)
            wizard.rule_id = due.sorted("offset_days")[-1:] or rules[:1]

    @api.depends("move_id", "rule_id")
    def _compute_preview(self):
        for wizard in self:
            template, move = wizard.rule_id.template_id, wizard.move_id
            if not template or not move:
                wizard.subject = wizard.body = False
                continue
            context = {
                "finnsys_reminder_move_ids": move.ids,
                "finnsys_reminder_reminded_ids": self.env["finnsys.reminder.log"]._reminded_before(
                    [(move, wizard.rule_id)]
                ),
            }
            wizard.subject = template.with_context(**context)._render_field("subject", move.ids)[
                move.id
            ]
            wizard.body = template.with_context(**context)._render_field(
                "body_html", move.ids, compute_lang=True
            )[move.id]

    @api.depends("move_id", "email")
    def _compute_warning(self):
        for wizard in self:
            wizard.warning = wizard._check_sendable(raise_error=False)

    def _check_sendable(self, raise_error=True):
        move = self.move_id
        partner = move.commercial_partner_id
        message = False
        if move.move_type != "out_invoice" or move.state != "posted":
            message = self.env._("Only posted customer invoices get payment reminders.")
        elif move.payment_state not in ("not_paid", "partial"):
            message = self.env._("Invoice %(invoice)s is paid.", invoice=move.name)
        elif partner.billing_mode == "prepaid" and move.posted_billing_mode != "postpaid":
            message = self.env._(
                "%(partner)s is a prepaid customer: prepaid customers get no payment reminders.",
                partner=partner.display_name,
            )
        elif not move.partner_id.email:
            message = self.env._(
                "%(partner)s has no e-mail address: add one on the contact first.",
                partner=move.partner_id.display_name,
            )
        elif partner.billing_reminder_opt_out:
            message = self.env._(
                "%(partner)s opted out of payment reminders: untick No Payment Reminders on the "
                "customer first.",
                partner=partner.display_name,
            )
        if message and raise_error:
            raise UserError(message)
        return message

    def action_send(self):
        self.ensure_one()
        self._check_sendable()
        Log = self.env["finnsys.reminder.log"]
        move, rule = self.move_id, self.rule_id
        log = Log.search(Domain("move_id", "=", move.id) & Domain("rule_id", "=", rule.id))
        if not log:
            log = Log.sudo().create(
                {
                    "move_id": move.id,
                    "rule_id": rule.id,
                    "partner_id": move.commercial_partner_id.id,
                    "company_id": move.company_id.id,
                }
            )
        mails = self.env["finnsys.reminder.rule"]._queue_mails([(move, rule, move)])
        notes = Log._log_in_chatter(move, rule, move)
        log.sudo().write(
            {
                "state": "sent",
                "skip_reason": False,
                "date": fields.Datetime.now(),
                "mail_id": mails[move.id].id,
                "message_id": notes[move.id].id,
            }
        )
        return {"type": "ir.actions.act_window_close"}
