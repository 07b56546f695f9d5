import logging
import re
from datetime import timedelta

from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..concurrency import run_once

_logger = logging.getLogger(__name__)

DSO_DAYS = 90
BUCKET_ORDER = re.compile(r"^\s*bucket_name\b")


class FinnsysAgingSnapshot(models.Model):
    """Weekly bucket totals of the aged receivables, one row per company and bucket, so the
    trend and the DSO can be charted without re-aging the past."""

    _name = "finnsys.aging.snapshot"
    _description = "Aged receivables snapshot"
    _order = "date desc, company_id, sequence"

    date = fields.Date(required=True, readonly=True, index=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    sequence = fields.Integer(readonly=True)
    bucket = fields.Char(string="Bucket Key", required=True, readonly=True)
    bucket_name = fields.Char(string="Bucket", required=True, readonly=True)
    amount = fields.Monetary(readonly=True)
    receivable_total = fields.Monetary(string="Total Receivable", aggregator="max", readonly=True)
    sales_total = fields.Monetary(
        string="Sales of the Last 90 Days", aggregator="max", readonly=True
    )
    dso = fields.Float(
        string="DSO (days)",
        aggregator="max",
        digits=(16, 1),
        readonly=True,
        help="Days sales outstanding: total receivable / sales of the last 90 days x 90.",
    )

    _unique_bucket = models.Constraint(
        "UNIQUE(date, company_id, bucket)",
        "A snapshot of this bucket already exists for this company and date.",
    )

    @api.model
    def _read_group_orderby(self, order, groupby_terms, query):
        """Groups by bucket come in the report's order (Not due, 1-30, ..., Over N, Unapplied
        credit), not alphabetically: the trend's series and legend follow it."""
        if "bucket_name" in groupby_terms:
            order = ",".join(
                BUCKET_ORDER.sub("sequence:min", part)
                for part in (order or ",".join(groupby_terms)).split(",")
            )
        return super()._read_group_orderby(order, groupby_terms, query)

    @api.model
    def _cron_take_snapshots(self):
        """Snapshot every company not yet done today; safe to run twice at once: the unique
        key lets one run take a company's snapshot, the other skips that company.

        Runs as superuser: the cron user need not be a member of every company."""
        snapshots = self.sudo()
        today = fields.Date.context_today(self)
        done = snapshots.search(Domain("date", "=", today)).company_id
        todo = snapshots.env["res.company"].search(Domain("id", "not in", done.ids))
        for index, company in enumerate(todo, start=1):
            snapshots._take_snapshot_once(company, today)
            if not self.env["ir.cron"]._commit_progress(1, remaining=len(todo) - index):
                break

    @api.model
    def _backfill_snapshots(self, weeks=12):
        """Take the weekly snapshots of the last ``weeks`` weeks that are missing, as of each
        past week's date: aged as of a past date, the report shows what was open then, so a
        new installation (or the demo) has a trend to chart from its first day."""
        snapshots = self.sudo()
        today = fields.Date.context_today(self)
        dates = [today - timedelta(weeks=n) for n in range(weeks, 0, -1)]
        taken = set(
            snapshots.search(Domain("date", "in", dates)).mapped(
                lambda snapshot: (snapshot.date, snapshot.company_id.id)
            )
        )
        # Every company: a handful of rows, all of them needed.
        for company in snapshots.env["res.company"].search([]):  # pylint: disable=no-search-all
            for date in dates:
                if (date, company.id) not in taken:
                    snapshots._take_snapshot_once(company, date)

    @api.model
    def _take_snapshot_once(self, company, date):
        """Take the snapshot unless another run took it since this one started."""
        snapshot = run_once(self.env, lambda: self._take_snapshot(company, date))
        if snapshot is None:
            _logger.info("Aging snapshot of company %s taken by another run", company.id)
            return self.browse()
        return snapshot

    @api.model
    def _take_snapshot(self, company, date):
        """Store the bucket totals of ``company`` at ``date``, with its DSO (days sales
        outstanding)::

            DSO = total receivable / credit sales of the last 90 days x 90

        i.e. how many days of sales are still unpaid; credit sales are invoices minus credit
        notes to customers over the window (:meth:`_sales_total`). 0 without sales."""
        aging = self.env["finnsys.aged.receivable"].with_context(allowed_company_ids=company.ids)
        report = aging._aging_report({"date_at": date, "company_ids": company.ids})
        currency = company.currency_id
        total = next(iter(report["totals"]), None)
        amounts = total["amounts"] if total else {}
        receivable = total["total"] if total else 0.0
        sales = self._sales_total(company, date)
        dso = receivable / sales * DSO_DAYS if not currency.is_zero(sales) else 0.0
        return self.create(
            [
                {
                    "date": date,
                    "company_id": company.id,
                    "sequence": sequence,
                    "bucket": key,
                    "bucket_name": label,
                    "amount": amounts.get(key, 0.0),
                    "receivable_total": receivable,
                    "sales_total": sales,
                    "dso": dso,
                }
                for sequence, (key, label) in enumerate(report["buckets"])
            ]
        )

    @api.model
    def _sales_total(self, company, date):
        """Invoiced minus credited to customers in the DSO window, in company currency."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT COALESCE(SUM(line.balance), 0)
                  FROM account_move_line line
                  JOIN account_move move ON move.id = line.move_id
                  JOIN account_account account ON account.id = line.account_id
                 WHERE account.account_type = 'asset_receivable'
                   AND move.move_type IN ('out_invoice', 'out_refund')
                   AND line.parent_state = 'posted'
                   AND line.company_id = %(company)s
                   AND line.date > %(start)s AND line.date <= %(date)s
                """,
                company=company.id,
                start=date - timedelta(days=DSO_DAYS),
                date=date,
            )
        )
        return self.env.cr.fetchone()[0]
