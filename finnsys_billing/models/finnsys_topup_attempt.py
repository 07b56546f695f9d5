import logging
from collections import Counter
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL, format_amount, split_every

from ..concurrency import claim_rows, insert_once, lock_or_refuse
from ..const import BILLING_MANAGER_GROUP, FAILED_TX_STATES

_logger = logging.getLogger(__name__)

ATTEMPT_STATES = [
    ("pending", "Pending"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]
CLOSED_STATES = ("done", "failed", "cancelled")
BATCH_SIZE = 50


class FinnsysTopupAttempt(models.Model):
    """One automatic top-up of a prepaid customer: one threshold crossing, one charge.

    The idempotency key names the crossing (``topup:<partner>:<company>:<n>``, ``n`` = the
    customer's closed attempts + 1), so whoever starts a top-up first - a cron worker, the
    *Top up now* button - owns it, and every other worker finds the key taken. The attempt is
    committed before its transaction is charged; a rerun after a crash picks the attempt up
    again and looks at its transaction instead of creating a second one.
    """

    _name = "finnsys.topup.attempt"
    _description = "Automatic top-up attempt"
    _order = "id desc"
    _rec_name = "idempotency_key"
    _check_company_auto = True

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        readonly=True,
        index=True,
        ondelete="restrict",
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    amount = fields.Monetary(currency_field="currency_id", required=True, readonly=True)
    state = fields.Selection(
        ATTEMPT_STATES, required=True, readonly=True, default="pending", index=True
    )
    origin = fields.Selection(
        [("cron", "Scheduled"), ("manual", "Top up now")],
        required=True,
        readonly=True,
        default="cron",
    )
    transaction_id = fields.Many2one(
        "payment.transaction", string="Last Transaction", readonly=True, check_company=True
    )
    transaction_ids = fields.One2many(
        "payment.transaction", "finnsys_topup_attempt_id", string="Transactions", readonly=True
    )
    payment_id = fields.Many2one(related="transaction_id.payment_id", string="Payment")
    error = fields.Text(readonly=True)
    try_count = fields.Integer(string="Tries", readonly=True)
    next_try_at = fields.Datetime(string="Next Try", readonly=True)
    idempotency_key = fields.Char(required=True, readonly=True, copy=False)

    _unique_idempotency_key = models.Constraint(
        "UNIQUE(idempotency_key)", "A top-up for this threshold crossing already exists."
    )
    _pending_partner_idx = models.Index("(partner_id, company_id) WHERE state = 'pending'")

    # --- the scheduled action -------------------------------------------------------------

    @api.model
    def _cron_run_topups(self, batch_size=BATCH_SIZE):
        """Top up every prepaid customer at or below its threshold, then send the low-balance
        warnings, in committed batches. Returns the counters that are also logged.

        Safe to run on several workers at once: customers are claimed with ``SKIP LOCKED``
        and each threshold crossing has one attempt (unique key). Attempts are system
        records, written whoever the cron runs as.
        """
        return self.sudo()._run(batch_size)

    @api.model
    def _run(self, batch_size):
        stats = Counter()
        Cron = self.env["ir.cron"]
        Forecast = self.env["finnsys.billing.forecast"]
        work = [
            (company, partner_ids)
            for company in self.env["res.company"].sudo().search([])
            for partner_ids in split_every(batch_size, Forecast._candidates(company))
        ]
        warnings = list(split_every(batch_size, Forecast._low_balance_changes()))
        remaining = sum(len(ids) for _company, ids in work) + sum(len(w) for w in warnings)
        # Committed now: a run that has no time left hands everything to the next run.
        if not Cron._finnsys_commit_batch(remaining=remaining):
            return self._log_run(stats)
        for company, partner_ids in work:
            self._process_batch(company, partner_ids, stats)
            if not Cron._finnsys_commit_batch(len(partner_ids)):
                return self._log_run(stats)
        for rows in warnings:
            Forecast._send_low_balance_warnings(rows, stats)
            if not Cron._finnsys_commit_batch(len(rows)):
                break
        return self._log_run(stats)

    @api.model
    def _log_run(self, stats):
        _logger.info("Auto top-up run: %s", dict(stats))
        return dict(stats)

    @api.model
    def _process_batch(self, company, partner_ids, stats):
        """Two steps per batch: open the attempts and their transactions and commit them, then
        charge. A crash between the two leaves pending attempts that the next run resumes."""
        # Customers another worker holds are skipped: they are being served.
        partners = self.env["res.partner"].browse(claim_rows(self.env, "res_partner", partner_ids))
        stats["busy"] += len(partner_ids) - len(partners)
        attempts = self._open_attempts(partners, company, stats)
        attempts._prepare_transactions()
        self.env["ir.cron"]._commit_progress()
        for attempt in self._lock(attempts.ids):
            try:
                with self.env.cr.savepoint():
                    attempt._advance(stats)
            except Exception:  # noqa: BLE001 - one customer's failure must not stop the batch
                _logger.exception(
                    "Auto top-up %s failed; it is resumed on the next run", attempt.idempotency_key
                )
                stats["errors"] += 1

    @api.model
    def _lock(self, attempt_ids, busy=None):
        """Lock the pending attempts no other worker holds, or refuse with ``busy``."""
        pending = SQL("state = 'pending'")
        if busy:
            ids = lock_or_refuse(
                self.env, self._table, attempt_ids, busy, condition=pending, refuse_unseen=True
            )
        else:
            ids = claim_rows(self.env, self._table, attempt_ids, condition=pending)
        attempts = self.browse(ids)
        # Another worker may have moved these rows since our cache was filled.
        attempts.invalidate_recordset()
        attempts.transaction_id.invalidate_recordset()
        return attempts

    # --- attempts ----------------------------------------------------------------------------

    @api.model
    def _open_attempts(self, partners, company, stats, origin="cron"):
        """The pending attempts to work on for ``partners``: the due ones they already have,
        and a new one for each customer that needs a top-up. ``manual`` skips the threshold
        and the retry delay (the user asks for a top-up now)."""
        manual = origin == "manual"
        if not partners:
            return self.browse()
        pending = self.search(
            Domain("partner_id", "in", partners.ids)
            & Domain("company_id", "=", company.id)
            & Domain("state", "=", "pending")
        )
        pending_by_partner = {attempt.partner_id: attempt for attempt in pending}
        figures = self.env["finnsys.billing.account"]._figures_for(partners, company)
        closed, spent = self._history(partners, company)
        to_work = self.browse()
        for partner in partners:
            needed = manual or self._needed(partner, figures.get(partner.id))
            attempt = pending_by_partner.get(partner)
            if attempt:
                if not (manual or attempt._is_due()):
                    continue
                if not needed and attempt._can_cancel():
                    attempt.write({"state": "cancelled", "next_try_at": False})
                    stats["cancelled"] += 1
                    continue
                to_work |= attempt
            elif needed and (
                manual or self._within_cap(partner, spent.get(partner.id, 0.0), stats)
            ):
                key = f"topup:{partner.id}:{company.id}:{closed.get(partner.id, 0) + 1}"
                attempt = self._insert(partner, company, key, origin)
                stats["started" if attempt else "busy"] += 1
                to_work |= attempt
        return to_work

    @api.model
    def _needed(self, partner, figures):
        """Whether commercial ``partner`` is to be topped up now, from its ledger ``figures``
        (a row of ``finnsys.billing.account``)."""
        return bool(
            figures
            and partner.billing_mode == "prepaid"
            and partner.billing_topup_enabled
            and partner.sudo().billing_token_id.active
            and figures["below_threshold"]
        )

    @api.model
    def _history(self, partners, company):
        """Per customer: the number of closed attempts (it numbers the next crossing) and the
        amount topped up since the start of the month (for the cap)."""
        base = Domain("partner_id", "in", partners.ids) & Domain("company_id", "=", company.id)
        closed = dict(
            self._read_group(
                base & Domain("state", "in", CLOSED_STATES), ["partner_id"], ["__count"]
            )
        )
        month_start = fields.Datetime.now().replace(day=1, hour=0, minute=0, second=0)
        spent = dict(
            self._read_group(
                base & Domain("state", "=", "done") & Domain("create_date", ">=", month_start),
                ["partner_id"],
                ["amount:sum"],
            )
        )
        return (
            {partner.id: count for partner, count in closed.items()},
            {partner.id: amount for partner, amount in spent.items()},
        )

    @api.model
    def _within_cap(self, partner, spent, stats):
        cap = partner.billing_topup_monthly_cap
        if (
            not cap
            or partner.currency_id.compare_amounts(spent + partner.billing_topup_amount, cap) <= 0
        ):
            return True
        stats["capped"] += 1
        _logger.info("Auto top-up of partner %s skipped: monthly cap %s reached", partner.id, cap)
        return False

    @api.model
    def _insert(self, partner, company, key, origin):
        """Create the attempt unless the key is taken; ``ON CONFLICT`` waits for a worker that
        is inserting the same key and then yields to it."""
        row = {
            "partner_id": partner.id,
            "company_id": company.id,
            "currency_id": company.currency_id.id,
            "amount": partner.billing_topup_amount,
            "state": "pending",
            "origin": origin,
            "try_count": 0,
            "idempotency_key": key,
        }
        return self.browse(insert_once(self.env, self._table, [row], SQL("(idempotency_key)")))

    def _is_due(self):
        self.ensure_one()
        return not self.next_try_at or self.next_try_at <= fields.Datetime.now()

    def _can_cancel(self):
        """Nothing is in flight: no transaction yet, or the last one failed."""
        self.ensure_one()
        return not self.transaction_id or self.transaction_id.state in FAILED_TX_STATES

    def _prepare_transactions(self):
        """Give each attempt that has nothing in flight a new draft transaction."""
        for attempt in self:
            tx = attempt.transaction_id
            if tx and not (tx.state in FAILED_TX_STATES and attempt.next_try_at):
                continue
            attempt.sudo()._create_transaction()

    def _create_transaction(self):
        self.ensure_one()
        tx = self.env["payment.transaction"]._finnsys_new_token_charge(
            self.partner_id.billing_token_id,
            self.partner_id,
            self.amount,
            self.currency_id,
            f"TOPUP-{self.id}",
            finnsys_topup_attempt_id=self.id,
        )
        self.write({"transaction_id": tx.id, "try_count": self.try_count + 1, "next_try_at": False})

    def _advance(self, stats):
        """Move a locked pending attempt on from the state of its transaction."""
        self.ensure_one()
        tx = self.sudo().transaction_id
        if self.state != "pending" or not tx:
            return
        if tx.state in ("draft", "done"):
            # Sent while a draft (again after a crash, as the same transaction), then booked.
            tx._finnsys_charge_saved_token()
        if tx.state == "done" and tx.is_post_processed:
            self._complete(stats)
        elif tx.state in FAILED_TX_STATES:
            if not self.next_try_at:
                self._fail(stats)
        else:
            # Pending or authorized: the provider's notification will settle it. Or held by
            # another run that is booking it.
            stats["waiting"] += 1

    def _complete(self, stats):
        self.write({"state": "done", "error": False, "next_try_at": False})
        self.env["res.partner"]._finnsys_invalidate_figures()
        stats["done"] += 1
        self._send_mail("finnsys_billing.mail_template_topup_receipt", stats)

    def _fail(self, stats):
        """Record a declined or failed charge: retry later with a growing delay, or give up
        after the last try (auto top-up off, customer told, billing manager asked to act)."""
        self.ensure_one()
        company = self.company_id
        error = self.sudo().transaction_id.state_message or self.env._("Payment declined.")
        if self.try_count < company.billing_topup_max_tries:
            self.write(
                {
                    "error": error,
                    "next_try_at": fields.Datetime.now() + self._retry_delay(),
                }
            )
            stats["retry"] += 1
            return
        self.write({"state": "failed", "error": error, "next_try_at": False})
        self.partner_id.sudo().billing_topup_enabled = False
        stats["failed"] += 1
        self._send_mail("finnsys_billing.mail_template_topup_failed", stats)
        self._schedule_manager_activity(error)

    def _retry_delay(self):
        """Delay before the next try: doubling, so that all tries fit in the retry window
        (3 tries over 24 h: after 8 h, then 16 h later)."""
        company = self.company_id
        retries = max(company.billing_topup_max_tries - 1, 1)
        unit = company.billing_topup_retry_hours / (2**retries - 1)
        return timedelta(hours=unit * 2 ** (self.try_count - 1))

    def _send_mail(self, template_xmlid, stats):
        partner = self.partner_id
        if not partner.email:
            stats["no_email"] += 1
            _logger.info("Top-up e-mail not sent: partner %s has no e-mail address", partner.id)
            return
        self.env.ref(template_xmlid).sudo().send_mail(self.id)

    def _schedule_manager_activity(self, error):
        manager = self._alerted_manager()
        self.partner_id.sudo().activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._("Auto top-up failed: update the payment method"),
            note=self.env._(
                "The automatic top-up of %(amount)s failed %(tries)s times and was switched "
                "off. Last error: %(error)s",
                amount=format_amount(self.env, self.amount, self.currency_id),
                tries=self.try_count,
                error=error,
            ),
            user_id=manager.id or self.env.uid,
        )

    def _alerted_manager(self):
        managers = self.env.ref(BILLING_MANAGER_GROUP).sudo().all_user_ids
        return managers.filtered(
            lambda user: not user.share and self.company_id in user.company_ids
        ).sorted("id")[:1]

    # --- Top up now --------------------------------------------------------------------------

    @api.model
    def _charge_now(self, partner):
        """Charge the customer's top-up amount now, whatever its balance. Shares the attempt
        (and its key) with the scheduled action, so both at once still charge once."""
        partner = partner.commercial_partner_id
        company = partner._finnsys_check_topup_now().provider_id.company_id
        busy = self.env._(
            "A top-up of %(partner)s is already under way: try again in a minute.",
            partner=partner.display_name,
        )
        lock_or_refuse(self.env, "res_partner", partner.ids, busy)
        stats = Counter()
        attempts = self._open_attempts(partner, company, stats, origin="manual")
        if not attempts:
            raise UserError(busy)
        attempts._force_due()
        attempts._prepare_transactions()
        locked = self._lock(attempts.ids, busy=busy)
        if not locked:
            raise UserError(busy)
        locked._advance(stats)
        return locked

    def _force_due(self):
        # A failed attempt waiting for its retry is retried now.
        for attempt in self.filtered(lambda a: a.next_try_at and a._can_cancel()):
            attempt.next_try_at = fields.Datetime.now()
