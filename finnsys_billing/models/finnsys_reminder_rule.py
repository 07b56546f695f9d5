import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command

_logger = logging.getLogger(__name__)

MAX_OFFSET_DAYS = 365


class FinnsysReminderRule(models.Model):
    _name = "finnsys.reminder.rule"
    _description = "Payment Reminder Rule"
    _order = "offset_days, sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    offset_days = fields.Integer(
        string="Days from Due Date",
        default=0,
        help="When the reminder is sent, counted from the invoice's due date: negative before "
        "it, 0 on the day, positive after it.",
    )
    template_id = fields.Many2one(
        "mail.template",
        string="E-mail Template",
        domain="[('model', '=', 'account.move')]",
        ondelete="restrict",
    )
    min_amount = fields.Monetary(
        string="Minimum Amount Due",
        currency_field="currency_id",
        default=0.0,
        help="Invoices with less left to pay get no reminder from this rule.",
    )
    company_id = fields.Many2one(
        "res.company",
        help="Leave empty to use the rule in every company.",
    )
    currency_id = fields.Many2one("res.currency", compute="_compute_currency_id")

    @api.depends("company_id")
    @api.depends_context("company")
    def _compute_currency_id(self):
        for rule in self:
            rule.currency_id = (rule.company_id or self.env.company).currency_id

    # offset_days always has a value, so this also runs on records created without a template.
    @api.constrains("template_id", "offset_days", "min_amount")
    def _check_rule(self):
        for rule in self:
            if not rule.template_id:
                raise ValidationError(
                    self.env._(
                        "Reminder rule %(rule)s needs an e-mail template: choose the e-mail "
                        "that is sent to the customer.",
                        rule=rule.name,
                    )
                )
            if rule.template_id.model != "account.move":
                raise ValidationError(
                    self.env._(
                        "The template of reminder rule %(rule)s must be an invoice template "
                        "(model Journal Entry).",
                        rule=rule.name,
                    )
                )
            if abs(rule.offset_days) > MAX_OFFSET_DAYS:
                raise ValidationError(
                    self.env._(
                        "Reminder rule %(rule)s is %(days)s days from the due date: use a number "
                        "between -%(max)s and %(max)s.",
                        rule=rule.name,
                        days=rule.offset_days,
                        max=MAX_OFFSET_DAYS,
                    )
                )
            if rule.min_amount < 0:
                raise ValidationError(
                    self.env._(
                        "The minimum amount of reminder rule %(rule)s cannot be negative.",
                        rule=rule.name,
                    )
                )

    # ------------------------------------------------------------------
    # Rendering
    # ------------------------------------------------------------------

    @api.model
    def _queue_mails(self, sendings):
        """Render and queue the e-mails of ``sendings`` [(lead, rule, group)], in batches of
        invoices that share a template, each with the PDFs of its group attached.

        :return: {lead id: mail.mail}
        """
        if not sendings:
            return {}
        invoices = self.env["account.move"].union(*(group for _lead, _rule, group in sendings))
        self._ensure_tokens(invoices)
        pdfs = self._invoice_pdfs(invoices)
        reminded = self.env["finnsys.reminder.log"]._reminded_before(
            [(invoice, rule) for _lead, rule, group in sendings for invoice in group]
        )
        mails, single = {}, defaultdict(lambda: self.env["account.move"])
        for lead, rule, group in sendings:
            if group == lead:
                single[rule.template_id] |= lead
                continue
            template = rule.template_id.with_context(
                finnsys_reminder_move_ids=group.ids, finnsys_reminder_reminded_ids=reminded
            )
            mails[lead.id] = template.send_mail_batch(lead.ids)
        for template, leads in single.items():
            template = template.with_context(finnsys_reminder_reminded_ids=reminded)
            for mail in template.send_mail_batch(leads.ids):
                mails[mail.res_id] = mail
        for lead, _rule, group in sendings:
            attachments = [pdfs[invoice.id].id for invoice in group if pdfs[invoice.id]]
            mails[lead.id].attachment_ids = [Command.link(a_id) for a_id in attachments]
        return mails

    @api.model
    def _ensure_tokens(self, invoices):
        """Give the invoices the access token of their portal payment link.

        Through the ORM, so the cache and whatever overrides ``write`` stay right; a token is
        no manual change of the invoice.
        """
        for invoice in invoices.filtered(lambda m: not m.access_token):
            invoice.with_context(skip_is_manually_modified=True)._portal_ensure_token()

    @api.model
    def _invoice_pdfs(self, invoices):
        """The invoices' PDFs, rendered in one go for those that have none yet.

        A rendered PDF is kept as the invoice's document, as Odoo does when it first sends an
        invoice, so every reminder carries the same file.

        :return: {invoice id: ir.attachment}
        """
        report = self.env.ref("account.account_invoices")
        missing = invoices.filtered(lambda m: not m.invoice_pdf_report_id)
        values = []
        for company, moves in missing.grouped("company_id").items():
            content_by_id = self._render_pdfs(report, company, moves)
            values += [
                {
                    "name": move._get_invoice_report_filename(report=report),
                    "raw": content_by_id[move.id],
                    "mimetype": "application/pdf",
                    "res_model": "account.move",
                    "res_id": move.id,
                    "res_field": "invoice_pdf_report_file",
                }
                for move in moves
                if move.id in content_by_id
            ]
        if values:
            self.env["ir.attachment"].sudo().create(values)
            invoices.invalidate_recordset(["invoice_pdf_report_id", "invoice_pdf_report_file"])
        return {invoice.id: invoice.invoice_pdf_report_id for invoice in invoices}

    @api.model
    def _render_pdfs(self, report, company, moves):
        """{invoice id: PDF content}, rendered in one go when wkhtmltopdf can.

        When wkhtmltopdf exits with code 1 (it could not load the styles from ``report.url``
        or ``web.base.url``, as a cron server behind a proxy often cannot, or it lacks the
        patched Qt), Odoo refuses a PDF of several documents but only warns for one: the
        invoices are then rendered one by one, or the run would fail and send no reminder.
        """
        Report = self.env["ir.actions.report"].with_company(company)
        try:
            content, report_type = Report._pre_render_qweb_pdf(
                report.report_name, res_ids=moves.ids
            )
        except UserError:
            if len(moves) == 1:
                raise
            _logger.warning(
                "Payment reminders: wkhtmltopdf failed on %s invoices, rendering them one by one",
                len(moves),
            )
            content_by_id = {}
            for move in moves:
                content_by_id.update(self._render_pdfs(report, company, move))
            return content_by_id
        return Report._get_splitted_report(report.report_name, content, report_type)
