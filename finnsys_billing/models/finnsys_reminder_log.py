import logging
from collections import Counter, defaultdict

from odoo import api, fields, models
from odoo.tools import SQL

from ..concurrency import claim_rows, insert_once, retry_batch

_logger = logging.getLogger(__name__)

SKIP_REASONS = [
    ("superseded", "A later reminder was due"),
    ("no_email", "No e-mail address"),
    ("opt_out", "Customer opted out"),
]
BATCH_INVOICES = 200


class FinnsysReminderLog(models.Model):
    _name = "finnsys.reminder.log"
    _description = "Payment Reminder Sent"
    _order = "date desc, id desc"
    _rec_name = "move_id"

    move_id = fields.Many2one(
        "account.move", string="Invoice", required=True, index=True, ondelete="cascade"
    )
    rule_id = fields.Many2one(
        "finnsys.reminder.rule", string="Reminder", required=True, index=True, ondelete="cascade"
    )
    partner_id = fields.Many2one("res.partner", string="Customer", required=True, index=True)
    company_id = fields.Many2one("res.company", required=True, index=True)
    date = fields.Datetime(string="Sent On", required=True, default=fields.Datetime.now)
    state = fields.Selection(
        [("sent", "Sent"), ("skipped", "Skipped")], required=True, default="sent"
    )
    skip_reason = fields.Selection(SKIP_REASONS, string="Why Skipped")
    mail_id = fields.Many2one("mail.mail", string="E-mail", ondelete="set null")
    message_id = fields.Many2one("mail.message", string="Chatter Note", ondelete="set null")
    invoice_date_due = fields.Date(related="move_id.invoice_date_due", string="Due Date")
    amount_residual = fields.Monetary(
        related="move_id.amount_residual", string="Amount Due", currency_field="currency_id"
    )
    currency_id = fields.Many2one(related="move_id.currency_id")

    _unique_move_rule = models.Constraint(
        "UNIQUE(move_id, rule_id)", "Each reminder is sent once per invoice."
    )

    # ------------------------------------------------------------------
    # Cron
    # ------------------------------------------------------------------

    @api.model
    def _cron_send_reminders(self, batch_size=BATCH_INVOICES):
        """Send the payment reminders that are due today, in committed batches of customers
        (all of a customer's invoices in one batch, about ``batch_size`` invoices per batch).

        Safe to run twice at once: invoices are claimed with ``SKIP LOCKED`` and each
        invoice × rule is logged once (unique key) before its e-mail is queued.

        :return: counts of this run (invoices, sent, emails and skipped by reason)
        """
        today = fields.Date.context_today(self)
        counts = Counter()
        after_partner = 0
        Cron = self.env["ir.cron"]
        if not Cron._finnsys_has_time():
            # A later call of a run that spent its time: hand everything to the next run.
            Cron._commit_progress(remaining=self._count_remaining(today, after_partner))
            return dict(counts)
        while True:
            # Another run may log some of these reminders after this transaction's snapshot
            # was taken; the batch is then retried on a fresh one, which sends nothing twice.
            partner_ids, batch_counts = retry_batch(
                self.env,
                lambda after=after_partner: self._next_batch(today, after, batch_size),
                logger=_logger,
            )
            if not partner_ids:
                break
            after_partner = partner_ids[-1]
            counts.update(batch_counts, batches=1)
            remaining = self._count_remaining(today, after_partner)
            if not Cron._finnsys_commit_batch(batch_counts["invoices"], remaining=remaining):
                break
        _logger.info("Payment reminders: %s", dict(counts))
        return dict(counts)

    @api.model
    def _next_batch(self, today, after_partner, limit):
        """Process the next customers with reminders due: (their ids, counts)."""
        partner_ids = self._next_customers(today, after_partner, limit)
        return partner_ids, partner_ids and self._process_customers(partner_ids, today)

    @api.model
    def _due_sql(self, today):
        """FROM/WHERE of the (invoice, rule) pairs that are due and not logged yet."""
        return SQL(
            """
            FROM account_move m
            JOIN res_partner p ON p.id = m.commercial_partner_id
            JOIN finnsys_reminder_rule r
              ON r.active AND (r.company_id IS NULL OR r.company_id = m.company_id)
            WHERE m.move_type = 'out_invoice'
              AND m.state = 'posted'
              AND m.payment_state IN ('not_paid', 'partial')
              -- Invoices issued while postpaid keep their reminders after a switch to prepaid.
              AND (p.billing_mode = 'postpaid' OR m.posted_billing_mode = 'postpaid')
              AND p.billing_reminder_dispute IS NOT TRUE
              AND (p.billing_reminder_promise_date IS NULL
                   OR p.billing_reminder_promise_date < %(today)s)
              AND m.invoice_date_due + r.offset_days <= %(today)s
              AND m.amount_residual_signed >= COALESCE(r.min_amount, 0)
              AND NOT EXISTS (
                  SELECT 1 FROM finnsys_reminder_log l
                  WHERE l.move_id = m.id AND l.rule_id = r.id
              )
            """,
            today=today,
        )

    @api.model
    def _next_customers(self, today, after_partner, limit):
        """The next customers with reminders due, about ``limit`` invoices in all."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT m.commercial_partner_id, COUNT(DISTINCT m.id) %s "
                "AND m.commercial_partner_id > %s GROUP BY 1 ORDER BY 1 LIMIT %s",
                self._due_sql(today),
                after_partner,
                limit,
            )
        )
        partner_ids, invoices = [], 0
        for partner_id, count in self.env.cr.fetchall():
            if partner_ids and invoices + count > limit:
                break
            partner_ids.append(partner_id)
            invoices += count
        return partner_ids

    @api.model
    def _count_remaining(self, today, after_partner):
        self.env.cr.execute(
            SQL(
                "SELECT COUNT(DISTINCT m.id) %s AND m.commercial_partner_id > %s",
                self._due_sql(today),
                after_partner,
            )
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _due_pairs(self, partner_ids, today):
        """Due, unlogged rules of the customers' invoices that this run could claim.

        :return: {invoice id: [(offset, sequence, rule id), ...]} and the latest offset
            already logged per invoice
        """
        self.env.cr.execute(
            SQL(
                """
                SELECT m.id, r.id, r.offset_days, r.sequence,
                       (SELECT MAX(r2.offset_days) FROM finnsys_reminder_log l2
                          JOIN finnsys_reminder_rule r2 ON r2.id = l2.rule_id
                         WHERE l2.move_id = m.id)
                %s AND m.commercial_partner_id IN %s
                """,
                self._due_sql(today),
                tuple(partner_ids),
            )
        )
        rules_by_move, logged_offset = defaultdict(list), {}
        for move_id, rule_id, offset, sequence, last_offset in self.env.cr.fetchall():
            rules_by_move[move_id].append((offset, sequence, rule_id))
            logged_offset[move_id] = last_offset
        if not rules_by_move:
            return {}, {}
        # Invoices a concurrent run is working on are left to it.
        # A row changed by a run that committed after this snapshot raises a serialization
        # failure; the caller retries the batch on a fresh snapshot, so it is no error.
        claimed = set(claim_rows(self.env, "account_move", list(rules_by_move), raise_unseen=True))
        return {mid: rules for mid, rules in rules_by_move.items() if mid in claimed}, logged_offset

    @api.model
    def _process_customers(self, partner_ids, today):
        rules_by_move, logged_offset = self._due_pairs(partner_ids, today)
        # Payments under way that cover an invoice leave nothing to remind; should they
        # fail, a later run finds the rule still due.
        payable = self.env["account.move"].browse(rules_by_move).finnsys_amount_payable()
        rules_by_move = {move_id: due for move_id, due in rules_by_move.items() if payable[move_id]}
        invoices = self.env["account.move"].browse(sorted(rules_by_move))
        Rule = self.env["finnsys.reminder.rule"]
        decisions = []  # (invoice, rule, skip reason or False)
        for invoice in invoices:
            due = sorted(rules_by_move[invoice.id])
            latest = due.pop()
            decisions += [(invoice, Rule.browse(rule_id), "superseded") for *_x, rule_id in due]
            if logged_offset.get(invoice.id) is not None and latest[0] <= logged_offset[invoice.id]:
                decisions.append((invoice, Rule.browse(latest[2]), "superseded"))
            else:
                rule = Rule.browse(latest[2])
                decisions.append((invoice, rule, self._skip_reason(invoice)))
        logs = self._insert_logs(decisions)
        to_send = {
            (invoice, rule): logs[invoice.id, rule.id]
            for invoice, rule, reason in decisions
            if not reason and (invoice.id, rule.id) in logs
        }
        emails = self._send(to_send)
        counts = Counter(
            reason or "sent" for invoice, rule, reason in decisions if (invoice.id, rule.id) in logs
        )
        counts.update(invoices=len(invoices), emails=emails)
        return counts

    @api.model
    def _insert_logs(self, decisions):
        """Log the decisions first; a pair another run logged meanwhile is left out.

        :return: {(invoice id, rule id): log} of the rows this run inserted
        """
        if not decisions:
            return {}
        now = self.env.cr.now()
        rows = [
            {
                "move_id": invoice.id,
                "rule_id": rule.id,
                "partner_id": invoice.commercial_partner_id.id,
                "company_id": invoice.company_id.id,
                "date": now,
                "state": "skipped" if reason else "sent",
                "skip_reason": reason or None,
            }
            for invoice, rule, reason in decisions
        ]
        inserted = insert_once(
            self.env,
            self._table,
            rows,
            SQL("(move_id, rule_id)"),
            now=now,
            raise_unseen=True,
            returning=("id", "move_id", "rule_id"),
        )
        return {(move_id, rule_id): self.browse(log_id) for log_id, move_id, rule_id in inserted}

    @api.model
    def _send(self, to_send):
        """Queue the e-mails: one per invoice, or one per recipient when the company groups them.

        :param to_send: {(invoice, rule): log}
        :return: number of e-mails queued
        """
        groups = defaultdict(list)
        for invoice, rule in to_send:
            key = (
                (invoice.company_id, invoice.partner_id)
                if invoice.company_id.billing_reminder_group
                else invoice
            )
            groups[key].append((invoice, rule))
        sendings, logs = [], {}  # [(lead, rule, group)], {invoice id: log}
        for members in groups.values():
            # The most pressing reminder of the group leads: its template is used.
            members.sort(key=lambda m: (-m[1].offset_days, m[0].invoice_date_due, m[0].id))
            group = self.env["account.move"].union(*(invoice for invoice, _rule in members))
            sendings.append((members[0][0], members[0][1], group))
            logs.update({invoice.id: to_send[invoice, rule] for invoice, rule in members})
        mails = self.env["finnsys.reminder.rule"]._queue_mails(sendings)
        for lead, rule, group in sendings:
            notes = self._log_in_chatter(lead, rule, group)
            for invoice in group:
                logs[invoice.id].sudo().write(
                    {"mail_id": mails[lead.id].id, "message_id": notes[invoice.id].id}
                )
        return len(sendings)

    @api.model
    def _reminded_before(self, pairs):
        """The invoices of ``pairs`` [(invoice, rule)] that were e-mailed a reminder of an
        earlier rule (a smaller offset): the templates say "despite our earlier reminders"
        only to them, not when the earlier rules were skipped.

        :return: list of invoice ids
        """
        if not pairs:
            return []
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT l.move_id, MIN(r.offset_days)
                  FROM finnsys_reminder_log l
                  JOIN finnsys_reminder_rule r ON r.id = l.rule_id
                 WHERE l.state = 'sent' AND l.move_id IN %s
                 GROUP BY l.move_id
                """,
                tuple({invoice.id for invoice, _rule in pairs}),
            )
        )
        first_sent = dict(self.env.cr.fetchall())
        return sorted(
            {
                invoice.id
                for invoice, rule in pairs
                if invoice.id in first_sent and first_sent[invoice.id] < rule.offset_days
            }
        )

    @api.model
    def _log_in_chatter(self, lead, rule, group):
        """The reminder history in the invoices' chatter: one note on each invoice.

        :return: {invoice id: mail.message}
        """
        recipient = lead.partner_id.email_formatted
        bodies = {
            invoice.id: self.env._(
                "Payment reminder %(rule)s e-mailed to %(recipient)s.",
                rule=rule.name,
                recipient=recipient,
            )
            if invoice == lead
            else self.env._(
                "Payment reminder %(rule)s e-mailed to %(recipient)s with %(invoice)s.",
                rule=rule.name,
                recipient=recipient,
                invoice=lead.name,
            )
            for invoice in group
        }
        notes = group._message_log_batch(bodies)
        return {note.res_id: note for note in notes}

    @api.model
    def _skip_reason(self, invoice):
        if invoice.commercial_partner_id.billing_reminder_opt_out:
            return "opt_out"
        if not invoice.partner_id.email:
            return "no_email"
        return False
