import contextlib
from datetime import datetime, time, timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..const import DEFAULT_AGING_LIMITS
from ..models.res_company import parse_aging_limits

AGING_BASES = [("due", "Due date"), ("invoice", "Invoice date")]
AS_OF_MODES = [("dated", "As dated on the date"), ("known", "As known on the date")]
CREDIT_BUCKET = "credit"
# For the aging queries only: JIT compilation costs more than it saves on a query that runs
# in under a second, and the screens' grouping sets sort the open items, which must stay
# in memory (a few hundred bytes an item: 64 MB is some 200,000 open items).
QUERY_SETTINGS = {"jit": "off", "work_mem": "64MB"}


class FinnsysAgedReceivableQuery(models.AbstractModel):
    """The aged receivables' options, bucket rule and SQL: the one query builder of the
    printouts (:meth:`_aging_sql`) and the screens (``finnsys.aged.receivable``).

    Open items at the as-of date D (:meth:`_open_items_sql`), each with the date it ages from
    and its residual then, aged into the buckets of :meth:`_bucket_bounds`.
    """

    _name = "finnsys.aged.receivable.query"
    _description = "Aged receivables query"

    # -- options ----------------------------------------------------------------------------

    @api.model
    def _aging_options(self, values=None, check=True):
        """Complete and check report options; companies are cut to those the user may see."""
        values = dict(values or {})
        allowed = self.env.companies
        companies = (
            allowed.filtered(lambda c: c.id in values["company_ids"])
            if values.get("company_ids")
            else allowed
        )
        date_at = fields.Date.to_date(values.get("date_at")) or fields.Date.context_today(self)
        limits = values.get("limits") or companies[:1].billing_aging_limits or DEFAULT_AGING_LIMITS
        if isinstance(limits, str):
            limits = parse_aging_limits(self.env, limits) if check else self._safe_limits(limits)
        if check and date_at > fields.Date.context_today(self) + timedelta(days=365):
            raise ValidationError(
                self.env._(
                    "The as-of date %(date)s is more than a year ahead: choose an earlier date.",
                    date=date_at,
                )
            )
        return {
            "date_at": date_at,
            "basis": values.get("basis") or "due",
            "as_of": values.get("as_of") or "dated",
            "limits": list(limits),
            "company_ids": companies.ids,
            "partner_ids": values.get("partner_ids") or [],
            "billing_mode": values.get("billing_mode") or False,
            "user_id": values.get("user_id") or False,
            "include_draft": bool(values.get("include_draft")),
            "show_zero": bool(values.get("show_zero")),
            "in_currency": bool(values.get("in_currency")),
        }

    @api.model
    def _safe_limits(self, text):
        try:
            return parse_aging_limits(self.env, text)
        except ValidationError:
            return parse_aging_limits(self.env, DEFAULT_AGING_LIMITS)

    # -- buckets ----------------------------------------------------------------------------

    @api.model
    def _bucket_bounds(self, options):
        """The bucket rule, the only place it is written: per aged bucket key, in report
        order, the ages in days (from the due or invoice date to the as-of date) it holds,
        ``(low, high)`` inclusive, ``None`` for no bound. *Not due* is an age of 0 or less,
        then ``1-30``, ``31-60``, ... up to the last limit, then *Over* it. Items with a
        negative residual go to :data:`CREDIT_BUCKET` whatever their age."""
        bounds, low = {"b0": (None, 0)}, 1
        for index, limit in enumerate(options["limits"], start=1):
            bounds[f"b{index}"] = (low, limit)
            low = limit + 1
        bounds[f"b{len(options['limits']) + 1}"] = (low, None)
        return bounds

    @api.model
    def _bucket_keys(self, options):
        """Every bucket key in report order, credit last: the keys of :meth:`_bucket_labels`."""
        return [*self._bucket_bounds(options), CREDIT_BUCKET]

    @api.model
    def _bucket_labels(self, options):
        """(key, label) of every bucket, credit last: the columns of the printouts and the
        selection of the screens."""
        labels = []
        for key, (low, high) in self._bucket_bounds(options).items():
            if low is None and options["basis"] == "due":
                label = self.env._("Not due")
            elif low is None:
                label = self.env._("Current")
            elif high is None:
                label = self.env._("Over %(days)s", days=low - 1)
            else:
                label = f"{low}-{high}"
            labels.append((key, label))
        labels.append((CREDIT_BUCKET, self.env._("Unapplied credit")))
        return labels

    @api.model
    def _bucket_ages(self, options, age_from):
        """The age condition of each aged bucket of :meth:`_bucket_bounds`: ``age_from`` (a
        date) against the as-of date, as a date range the planner can compare directly."""
        date_at, ages = options["date_at"], {}
        for key, (low, high) in self._bucket_bounds(options).items():
            conditions = []
            if high is not None:  # aged at most ``high`` days: from that day on
                conditions.append(SQL("%s >= %s", age_from, date_at - timedelta(days=high)))
            if low is not None:  # aged at least ``low`` days: up to that day
                conditions.append(SQL("%s <= %s", age_from, date_at - timedelta(days=low)))
            ages[key] = SQL(" AND ").join(conditions)
        return ages

    @api.model
    def _bucket_conditions(self, options, residual, age_from):
        """The condition of each bucket, keyed and ordered as :meth:`_bucket_labels`: the
        credit bucket when ``residual`` is negative, else by age (:meth:`_bucket_ages`)."""
        conditions = {
            # The date test first: it rules out all buckets but one without the amount's.
            key: SQL("%s AND %s > 0", age, residual)
            for key, age in self._bucket_ages(options, age_from).items()
        }
        conditions[CREDIT_BUCKET] = SQL("%s < 0", residual)
        return conditions

    @api.model
    def _bucket_index_sql(self, options, residual, age_from):
        """The bucket of an item as one ``CASE``: its position (from 1) in
        :meth:`_bucket_labels`, an integer the screens group on faster than on a key. Credit
        first: a negative residual is unapplied credit whatever its age; the items left are
        owed (an open item has no zero residual), so the age alone gives their bucket."""
        keys = self._bucket_keys(options)
        whens = SQL(" ").join(
            SQL("WHEN %s THEN %s", age, keys.index(key) + 1)
            for key, age in self._bucket_ages(options, age_from).items()
        )
        return SQL(
            "(CASE WHEN %s < 0 THEN %s %s END)", residual, keys.index(CREDIT_BUCKET) + 1, whens
        )

    @api.model
    def _bucket_key_sql(self, options, index):
        """The bucket key (``b0``, ..., ``credit``) of a :meth:`_bucket_index_sql` ``index``."""
        keys = self._bucket_keys(options)
        return SQL('((%s::varchar[])[%s]) COLLATE "C"', keys, index)

    @api.model
    def _bucket_sql(self, options, residual, age_from):
        """The bucket key of an item (:meth:`_bucket_index_sql`, then :meth:`_bucket_key_sql`)."""
        return self._bucket_key_sql(options, self._bucket_index_sql(options, residual, age_from))

    # -- SQL ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _query_settings(self):
        """Run the block's aging queries with :data:`QUERY_SETTINGS`, set for the transaction
        (``set_config(..., true)``) and put back after it. A failed block leaves them: its
        transaction is rolled back, and they with it."""
        names = list(QUERY_SETTINGS)
        self.env.cr.execute(
            SQL(
                "SELECT %s, %s",
                SQL(", ").join(SQL("current_setting(%s)", name) for name in names),
                SQL(", ").join(
                    SQL("set_config(%s, %s, true)", name, value)
                    for name, value in QUERY_SETTINGS.items()
                ),
            )
        )
        before = self.env.cr.fetchone()[: len(names)]
        yield
        self.env.cr.execute(
            SQL(
                "SELECT %s",
                SQL(", ").join(
                    SQL("set_config(%s, %s, true)", name, value)
                    for name, value in zip(names, before, strict=True)
                ),
            )
        )

    @api.model
    def _open_items_sql(self, options):
        """One row per receivable item open at the as-of date, with the date it ages from and
        its residual then: the one query builder of the printouts and the screens.

        Reverse approach: the item's residual today plus every partial reconciliation not yet
        made at the as-of date (:meth:`_later_partials_sql`). Two branches rather than one
        ``OR``: the items not fully reconciled today through Odoo's unreconciled index, and
        the reconciled ones only where a later partial reopens them, by id.
        """
        columns = SQL(
            """line.id, line.move_id, line.partner_id, line.company_id,
               line.company_currency_id, line.currency_id, line.date, line.invoice_date,
               line.date_maturity, %(age_from)s AS age_from,
               line.amount_residual + COALESCE(later.amount, 0) AS residual,
               line.amount_residual_currency + COALESCE(later.amount_currency, 0)
                   AS residual_currency""",
            age_from=self._age_from_sql(options),
        )
        lines = self._lines_sql(options)
        return SQL(
            """
            WITH later AS (%(later)s)
            SELECT * FROM (
                SELECT %(columns)s
                  FROM account_move_line line
             LEFT JOIN later ON later.line_id = line.id
                 WHERE %(lines)s AND line.reconciled IS NOT TRUE
             UNION ALL
                SELECT %(columns)s
                  FROM later
                  JOIN account_move_line line ON line.id = later.line_id
                 WHERE %(lines)s AND line.reconciled
            ) items
             WHERE items.residual != 0
            """,
            later=self._later_partials_sql(options),
            columns=columns,
            lines=lines,
            to_flush=self._open_items_fields(),
        )

    @api.model
    def _open_items_fields(self):
        """The stored fields :meth:`_open_items_sql` and the customer filters read: flushed
        before any query built on them runs (``SQL.to_flush``), so a screen opened in the
        transaction that booked an entry shows it."""
        read = {
            "account.move.line": [
                "account_id", "company_id", "parent_state", "date", "reconciled", "partner_id",
                "amount_residual", "amount_residual_currency", "move_id", "currency_id",
                "company_currency_id", "invoice_date", "date_maturity",
            ],
            "account.partial.reconcile": [
                "debit_move_id", "credit_move_id", "amount", "debit_amount_currency",
                "credit_amount_currency", "company_id", "max_date",
            ],
            "res.partner": ["commercial_partner_id", "billing_mode", "user_id", "complete_name"],
        }  # fmt: skip
        return [self.env[model]._fields[name] for model, names in read.items() for name in names]

    @api.model
    def _lines_sql(self, options):
        """Condition on ``line``: receivable items of the companies asked, up to the as-of date;
        *as known* on it, also entered by then (``create_date``, UTC, as the partials).

        The receivable accounts are literal ids rather than a join on ``account_account``: the
        planner then counts the items per account from its statistics instead of guessing one
        account in ten, a guess that made it sort ten times more rows than planned, on disk.
        """
        self.env["account.account"].flush_model(["account_type"])
        self.env.cr.execute(
            SQL("SELECT ARRAY_AGG(id) FROM account_account WHERE account_type = 'asset_receivable'")
        )
        accounts = self.env.cr.fetchone()[0] or []
        condition = SQL(
            """line.account_id = ANY(%(accounts)s)
               AND line.company_id = ANY(%(companies)s)
               AND line.parent_state = ANY(%(states)s)
               AND line.date <= %(date)s""",
            accounts=accounts,
            companies=options["company_ids"],
            states=["posted", "draft"] if options["include_draft"] else ["posted"],
            date=options["date_at"],
        )
        if options["as_of"] == "known":
            condition = SQL(
                "%s AND line.create_date < %s",
                condition,
                datetime.combine(options["date_at"] + timedelta(days=1), time.min),
            )
        return condition

    @api.model
    def _later_partials_sql(self, options):
        """Per journal item, the sum of its partial reconciliations not yet made at the as-of
        date: dated after it (``max_date``, the later of the two matched items) or created
        after it. ``GREATEST(max_date, create_date::date)`` is the expression of the index
        on ``account.partial.reconcile``, so only those partials are read. One scan per side
        rather than a ``VALUES`` pair, which made the planner expect two items whatever the
        number of partials and pick nested loops."""
        later = SQL(
            "company_id = ANY(%s) AND GREATEST(max_date, create_date::date) > %s",
            options["company_ids"],
            options["date_at"],
        )
        return SQL(
            """
            SELECT line_id, SUM(amount) AS amount, SUM(amount_currency) AS amount_currency
              FROM (
                  SELECT debit_move_id AS line_id, amount,
                         debit_amount_currency AS amount_currency
                    FROM account_partial_reconcile WHERE %(later)s
                  UNION ALL
                  SELECT credit_move_id, -amount, -credit_amount_currency
                    FROM account_partial_reconcile WHERE %(later)s
              ) moves
             GROUP BY line_id
            """,
            later=later,
        )

    @api.model
    def _age_from_sql(self, options):
        column = "date_maturity" if options["basis"] == "due" else "invoice_date"
        return SQL("COALESCE(%s, line.date)", SQL.identifier("line", column))

    @api.model
    def _customer_filters(self, options):
        filters = [SQL("TRUE")]
        if options["partner_ids"]:
            partners = self.env["res.partner"].browse(options["partner_ids"])
            filters.append(SQL("customer.id = ANY(%s)", partners.commercial_partner_id.ids))
        if options["billing_mode"]:
            filters.append(SQL("customer.billing_mode = %s", options["billing_mode"]))
        if options["user_id"]:
            filters.append(SQL("customer.user_id = %s", options["user_id"]))
        return SQL(" AND ").join(filters)

    @api.model
    def _aging_sql(self, options):
        """Open amounts per customer, company and currency, one column per bucket in the
        order of :meth:`_bucket_labels`, rounded with the currency.

        The items of :meth:`_open_items_sql` in the shape the planner runs fastest: a filtered
        SUM per bucket lets it hash one group per customer instead of sorting the items;
        names and customer filters only join the grouped rows.
        """
        conditions = self._bucket_conditions(options, SQL("items.residual"), SQL("items.age_from"))
        amount = SQL.identifier(
            "items", "residual_currency" if options["in_currency"] else "residual"
        )
        return SQL(
            """
            WITH grouped AS (
                SELECT items.partner_id, items.company_id, %(currency)s AS currency_id, %(sums)s
                  FROM (%(items)s) items
                 GROUP BY 1, 2, 3
            )
            SELECT customer.id, customer.complete_name, grouped.company_id,
                   grouped.currency_id, %(rounded)s
              FROM grouped
              JOIN res_currency currency ON currency.id = grouped.currency_id
         LEFT JOIN res_partner partner ON partner.id = grouped.partner_id
         LEFT JOIN res_partner customer ON customer.id = partner.commercial_partner_id
             WHERE %(filters)s
             GROUP BY customer.id, grouped.company_id, grouped.currency_id, currency.rounding
            """,
            currency=SQL.identifier(
                "items", "currency_id" if options["in_currency"] else "company_currency_id"
            ),
            sums=SQL(", ").join(
                SQL(
                    "COALESCE(SUM(%s) FILTER (WHERE %s), 0) AS %s",
                    amount,
                    condition,
                    SQL.identifier(key),
                )
                for key, condition in conditions.items()
            ),
            items=self._open_items_sql(options),
            rounded=SQL(", ").join(
                SQL(
                    "ROUND(SUM(grouped.%s) / currency.rounding) * currency.rounding",
                    SQL.identifier(key),
                )
                for key in conditions
            ),
            filters=self._customer_filters(options),
        )
