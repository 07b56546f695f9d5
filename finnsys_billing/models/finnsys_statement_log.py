import logging
from collections import Counter
from functools import partial

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tools import SQL

from ..concurrency import insert_select_once, retry_batch

_logger = logging.getLogger(__name__)

BATCH_CUSTOMERS = 100
LOG_COLUMNS = (
    "partner_id",
    "company_id",
    "date_from",
    "date_to",
    "state",
    "create_uid",
    "create_date",
    "write_uid",
    "write_date",
)


class FinnsysStatementLog(models.Model):
    """One row per customer, company and month whose statement was e-mailed (or skipped):
    the unique key makes the monthly e-mail go out once however often the cron runs."""

    _name = "finnsys.statement.log"
    _description = "Statement of Account Sent"
    _order = "date_from desc, id desc"
    _rec_name = "partner_id"

    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade")
    date_from = fields.Date(string="From", required=True)
    date_to = fields.Date(string="To", required=True)
    state = fields.Selection(
        [("sent", "Sent"), ("skipped", "Skipped")], required=True, default="sent"
    )
    skip_reason = fields.Selection([("no_email", "No e-mail address")], string="Why Skipped")
    mail_id = fields.Many2one("mail.mail", string="E-mail", ondelete="set null")
    attachment_id = fields.Many2one("ir.attachment", string="Statement PDF", ondelete="set null")

    _unique_customer_month = models.Constraint(
        "UNIQUE(partner_id, company_id, date_from)",
        "A customer's statement is e-mailed once per month.",
    )

    @api.model
    def _cron_send_statements(self, batch_size=BATCH_CUSTOMERS):
        """E-mail last month's statement to every customer with something to show (a
        balance or a movement), for the companies that ask for it, in committed batches.

        Safe to run twice at once and again after a crash: each customer's log row is
        inserted (unique per customer, company and month) before its e-mail is queued.

        :return: counts of this run (customers, sent, skipped)
        """
        date_from, date_to = self.env["finnsys.statement"]._default_period()
        companies = self.env["res.company"].sudo().search([("billing_statement_email", "=", True)])
        counts = Counter()
        Cron = self.env["ir.cron"]
        for company in companies:
            self = self.with_company(company)  # noqa: PLW0642 - the company of this batch
            while True:
                # Another run may claim some of these customers after this snapshot: the
                # batch is then run again on a fresh one, which sees them.
                logs, sent = retry_batch(
                    self.env, partial(self._claim_and_send, company, date_from, date_to, batch_size)
                )
                if not logs:
                    break
                counts.update(sent)
                remaining = self._count_remaining(company, date_from, date_to)
                if not Cron._finnsys_commit_batch(len(logs), remaining=remaining):
                    _logger.info("Statements: %s, time is up", dict(counts))
                    return dict(counts)
        _logger.info("Statements: %s", dict(counts))
        return dict(counts)

    @api.model
    def _due_sql(self, company, date_from, date_to):
        """SELECT of the customers owed a statement of the month and not logged yet: those
        with a balance at its start or an entry in it, by id."""
        options = self.env["finnsys.aged.receivable"]._aging_options(
            {"date_at": date_to, "company_ids": company.ids}
        )
        return SQL(
            """
            SELECT partner.commercial_partner_id AS customer_id
              FROM account_move_line line
              JOIN res_partner partner ON partner.id = line.partner_id
             WHERE %(lines)s
               AND NOT EXISTS (
                   SELECT 1 FROM finnsys_statement_log log
                    WHERE log.partner_id = partner.commercial_partner_id
                      AND log.company_id = %(company)s AND log.date_from = %(date_from)s
               )
             GROUP BY 1
            HAVING BOOL_OR(line.date >= %(date_from)s)
                OR ABS(SUM(line.balance)) >= %(half_cent)s
            """,
            lines=self.env["finnsys.aged.receivable"]._lines_sql(options),
            company=company.id,
            date_from=date_from,
            half_cent=company.currency_id.rounding / 2,
        )

    @api.model
    def _claim(self, company, date_from, date_to, limit):
        """Insert the log rows of the next ``limit`` customers (one query); a row another
        run inserted first is left to it."""
        self.env.flush_all()
        select = SQL(
            """
            SELECT due.customer_id, %(company)s, %(date_from)s, %(date_to)s, 'sent',
                   %(uid)s, NOW() AT TIME ZONE 'UTC', %(uid)s, NOW() AT TIME ZONE 'UTC'
              FROM (%(due)s) due
             ORDER BY due.customer_id
             LIMIT %(limit)s
            """,
            company=company.id,
            date_from=date_from,
            date_to=date_to,
            uid=self.env.uid,
            due=self._due_sql(company, date_from, date_to),
            limit=limit,
        )
        ids = insert_select_once(
            self.env, "finnsys_statement_log", LOG_COLUMNS, select, raise_unseen=True
        )
        return self.browse(sorted(ids))

    @api.model
    def _claim_and_send(self, company, date_from, date_to, limit):
        """One batch: claim the next customers' log rows, then send their statements."""
        logs = self._claim(company, date_from, date_to, limit)
        return logs, (self._send(logs) if logs else {})

    @api.model
    def _count_remaining(self, company, date_from, date_to):
        self.env.cr.execute(
            SQL(
                "SELECT COUNT(*) FROM (%s) due",
                self._due_sql(company, date_from, date_to),
            )
        )
        return self.env.cr.fetchone()[0]

    def _send(self, logs=None):
        """Render the statements of ``logs`` (one company and month) in one go and queue
        one e-mail per customer with its PDF; customers without e-mail are logged skipped."""
        logs = logs or self
        counts = Counter(customers=len(logs))
        no_email = logs.filtered(lambda log: not log.partner_id.email)
        if no_email:
            no_email.write({"state": "skipped", "skip_reason": "no_email"})
            counts["skipped"] += len(no_email)
        to_send = logs - no_email
        if not to_send:
            return counts
        pdfs = self._pdfs(to_send)
        attachments = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                [
                    {
                        "name": log._filename(),
                        "raw": pdfs[log.partner_id.id],
                        "mimetype": "application/pdf",
                        "res_model": self._name,
                        "res_id": log.id,
                    }
                    for log in to_send
                ]
            )
        )
        template = self.env.ref("finnsys_billing.mail_template_statement")
        mails = template.send_mail_batch(to_send.ids)
        by_log = {mail.res_id: mail for mail in mails}
        for log, attachment in zip(to_send, attachments, strict=True):
            by_log[log.id].attachment_ids = [Command.link(attachment.id)]
        self._link(to_send, by_log, attachments)
        counts["sent"] += len(to_send)
        return counts

    def _link(self, logs, mails, attachments):
        """Record each log's e-mail and PDF in one statement."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                UPDATE finnsys_statement_log log
                   SET mail_id = links.mail_id, attachment_id = links.attachment_id
                  FROM unnest(%s::integer[], %s::integer[], %s::integer[])
                       AS links(log_id, mail_id, attachment_id)
                 WHERE log.id = links.log_id
                """,
                logs.ids,
                [mails[log.id].id for log in logs],
                attachments.ids,
            )
        )
        logs.invalidate_recordset(["mail_id", "attachment_id"])

    def _pdfs(self, logs):
        """{customer id: PDF of the month}, rendered in one go for all the logs' customers
        (see the report's ``_pdfs``); a customer the batch could not give, or all
        of them when wkhtmltopdf fails on the batch, rendered alone rather than not sent."""
        first = logs[:1]
        data = {
            "date_from": fields.Date.to_string(first.date_from),
            "date_to": fields.Date.to_string(first.date_to),
            "company_id": first.company_id.id,
        }
        Pdf = self.env["report.finnsys_billing.report_statement"].with_company(first.company_id)
        customer_ids = logs.partner_id.ids
        try:
            pdfs = Pdf._pdfs(customer_ids, data)
        except UserError as error:
            if len(customer_ids) == 1:
                raise
            _logger.warning("Statements: wkhtmltopdf failed on %s: %s", len(customer_ids), error)
            pdfs = {}
        for customer_id in [c_id for c_id in customer_ids if c_id not in pdfs]:
            _logger.info("Statements: customer %s printed alone", customer_id)
            pdfs.update(Pdf._pdfs([customer_id], data))
        return pdfs

    def _filename(self):
        self.ensure_one()
        return self.env._(
            "Statement %(month)s %(customer)s.pdf",
            month=self.date_from.strftime("%Y-%m"),
            customer=self.partner_id.name,
        )
