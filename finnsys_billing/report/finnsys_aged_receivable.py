import contextlib
from datetime import datetime, time, timedelta
from operator import itemgetter

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..const import BILLING_MODES, DEFAULT_AGING_LIMITS
from ..models.res_company import parse_aging_limits

AGING_BASES = [("due", "Due date"), ("invoice", "Invoice date")]
AS_OF_MODES = [("dated", "As dated on the date"), ("known", "As known on the date")]
CREDIT_BUCKET = "credit"
# For the aging queries only: JIT compilation costs more than it saves on a query that runs
# in under a second, and the screens' share window holds every open item, which must stay
# in memory (a few hundred bytes an item: 64 MB is some 200,000 open items).
QUERY_SETTINGS = {"jit": "off", "work_mem": "64MB"}


class FinnsysAgedReceivable(models.Model):
    """The receivable items open at an as-of date, one row per journal item, with its bucket.

    The options (as-of date, buckets, filters) come from the context key ``finnsys_aging``,
    set by the wizard, so pivot, graph and list views show the same figures as the PDF and
    XLSX built by :meth:`_aging_report`. Read-only and rebuilt by one SQL query per read.
    """

    _name = "finnsys.aged.receivable"
    _description = "Aged receivable item"
    _auto = False
    _rec_name = "move_id"
    _order = "partner_id, date_maturity, id"

    move_line_id = fields.Many2one("account.move.line", string="Journal Item", readonly=True)
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    company_currency_id = fields.Many2one("res.currency", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Invoice Currency", readonly=True)
    billing_mode = fields.Selection(BILLING_MODES, readonly=True)
    user_id = fields.Many2one("res.users", string="Salesperson", readonly=True)
    date = fields.Date(readonly=True)
    invoice_date = fields.Date(readonly=True)
    date_maturity = fields.Date(string="Due Date", readonly=True)
    days_overdue = fields.Integer(
        readonly=True,
        aggregator="max",
        help="Days from the due (or invoice) date to the as-of date.",
    )
    bucket = fields.Selection(selection="_selection_bucket", readonly=True)
    residual = fields.Monetary(
        string="Open Amount", currency_field="company_currency_id", readonly=True
    )
    residual_currency = fields.Monetary(
        string="Open Amount in Currency", currency_field="currency_id", readonly=True
    )
    share = fields.Float(
        string="Share (%)",
        digits=(16, 2),
        readonly=True,
        help="Share of the amounts owed (unapplied credit left out, which has none), per "
        "company currency, in percent. A group's share in the pivot and graph is of the "
        "amounts owed shown: the aged buckets make 100 %.",
    )

    @api.model
    def _selection_bucket(self):
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        return self._bucket_labels(options)

    @api.model
    def _bucket_labels(self, options):
        limits, basis = options["limits"], options["basis"]
        labels = [("b0", self.env._("Not due") if basis == "due" else self.env._("Current"))]
        low = 1
        for index, limit in enumerate(limits, start=1):
            labels.append((f"b{index}", f"{low}-{limit}"))
            low = limit + 1
        labels.append((f"b{len(limits) + 1}", self.env._("Over %(days)s", days=limits[-1])))
        labels.append((CREDIT_BUCKET, self.env._("Unapplied credit")))
        return labels

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

    @property
    def _table_query(self):
        """The open items of :meth:`_open_items_sql` with their customer, bucket and share,
        for the screens: the same query builder as the printouts, so the same figures."""
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        ages = self._bucket_ages(options, SQL("items.age_from"))
        return SQL(
            """
            SELECT items.id,
                   items.id AS move_line_id,
                   items.move_id,
                   customer.id AS partner_id,
                   items.company_id,
                   items.company_currency_id,
                   items.currency_id,
                   customer.billing_mode,
                   customer.user_id,
                   items.date,
                   items.invoice_date,
                   items.date_maturity,
                   %(date)s::date - items.age_from AS days_overdue,
                   items.residual,
                   items.residual_currency,
                   (CASE WHEN items.residual < 0 THEN %(credit)s %(whens)s END)
                       COLLATE "C" AS bucket,
                   %(share)s AS share
              FROM (%(items)s) items
         LEFT JOIN res_partner partner ON partner.id = items.partner_id
         LEFT JOIN res_partner customer ON customer.id = partner.commercial_partner_id
             WHERE %(filters)s
            """,
            date=options["date_at"],
            # Credit first: a negative residual is unapplied credit whatever its age; the
            # items left are owed (no zero residual), so the age alone gives their bucket.
            credit=CREDIT_BUCKET,
            whens=SQL(" ").join(SQL("WHEN %s THEN %s", age, key) for key, age in ages.items()),
            share=self._share_sql(options),
            items=self._open_items_sql(options),
            filters=self._customer_filters(options),
        )

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
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        with self._query_settings():
            rows = super()._read_group(domain, groupby, aggregates, having, offset, limit, order)
            shares = self._share_columns(aggregates)
            if not shares or not rows:
                return rows
            if having or offset or limit:  # some groups only: the gross needs all of them
                gross = self._gross_owed(
                    super()._read_group(domain, (), [aggregates[shares[0]]]), 0
                )
            else:
                gross = self._gross_owed(rows, len(groupby) + shares[0])
        return [self._owed_to_shares(row, len(groupby), shares, gross) for row in rows]

    @api.model
    def _read_grouping_sets(self, domain, grouping_sets, aggregates=(), order=None):
        with self._query_settings():
            results = super()._read_grouping_sets(domain, grouping_sets, aggregates, order)
        shares = self._share_columns(aggregates)
        if not shares or not results[0]:
            return results
        # Every grouping set covers all the items shown: the first one gives the gross.
        gross = self._gross_owed(results[0], len(grouping_sets[0]) + shares[0])
        return [
            [self._owed_to_shares(row, len(groupby), shares, gross) for row in rows]
            for groupby, rows in zip(grouping_sets, results, strict=True)
        ]

    @api.model
    def _read_group_select(self, aggregate_spec, query):
        """A group's *share* is computed from its amounts owed per company currency, summed
        here in the same query as the other measures (no second pass over the items, no
        window), and turned into percent of the gross owed by :meth:`_owed_to_shares`."""
        if aggregate_spec.split(":")[0] != "share":
            return super()._read_group_select(aggregate_spec, query)
        residual = self._field_to_sql(self._table, "residual", query)
        currency = self._field_to_sql(self._table, "company_currency_id", query)
        return SQL(
            "ARRAY[%s]",
            SQL(", ").join(
                SQL(
                    "COALESCE(SUM(%s) FILTER (WHERE %s > 0 AND %s = %s), 0)",
                    residual,
                    residual,
                    currency,
                    currency_id,
                )
                for currency_id in self._share_currencies()
            ),
        )

    @api.model
    def _share_currencies(self):
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        return self.env["res.company"].browse(options["company_ids"]).currency_id.sorted("id").ids

    @api.model
    def _share_columns(self, aggregates):
        return [index for index, spec in enumerate(aggregates) if spec.split(":")[0] == "share"]

    @api.model
    def _gross_owed(self, rows, column):
        """Per company currency, the amounts owed summed over ``rows``, groups that together
        hold every item shown."""
        return [sum(map(float, owed)) for owed in zip(*(row[column] for row in rows), strict=True)]

    @api.model
    def _owed_to_shares(self, row, start, shares, gross):
        """``row`` with each share column, amounts owed per currency, as the percent of the
        gross owed: the groups of one grouping make 100 % per currency."""
        row = list(row)
        for index in shares:
            row[start + index] = sum(
                float(owed) * 100.0 / total
                for owed, total in zip(row[start + index], gross, strict=True)
                if total
            )
        return tuple(row)

    def _fetch_query(self, query, fields):
        with self._query_settings():
            return super()._fetch_query(query, fields)

    @api.model
    def _share_sql(self, options):
        """An item's share of the gross receivable (the sum of the items owed, credit left
        out) of its company currency, in percent; 0 for credit. The gross is one window over
        the whole result per currency, not a partition: no sort of the items."""
        currencies = self.env["res.company"].browse(options["company_ids"]).currency_id
        gross = SQL(" ").join(
            SQL(
                """WHEN %(currency)s THEN SUM(items.residual) FILTER (
                       WHERE items.residual > 0 AND items.company_currency_id = %(currency)s
                   ) OVER ()""",
                currency=currency.id,
            )
            for currency in currencies
        )
        return SQL(
            """CASE WHEN items.residual > 0
                    THEN items.residual * 100.0
                         / NULLIF(CASE items.company_currency_id %s END, 0)
                    ELSE 0 END""",
            gross,
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
        )

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
    def _aging_report(self, values=None):
        """Rows per customer (and company, and invoice currency if asked) with an amount per
        bucket, plus totals per currency and the share of each bucket: what the PDF and the
        XLSX print. A fixed number of queries whatever the number of customers and items."""
        options = self._aging_options(values)
        keys = [key for key, _label in self._bucket_labels(options)]
        self.env.flush_all()
        with self._query_settings():
            self.env.cr.execute(self._aging_sql(options))
            results = self.env.cr.fetchall()
        grouped, names = {}, {}
        for partner_id, name, company_id, currency_id, *amounts in results:
            if any(amounts):  # not a group of items all settled at the date
                names[partner_id] = name
                grouped[(partner_id, company_id, currency_id)] = dict(
                    zip(keys, amounts, strict=True)
                )
        if options["show_zero"]:
            self._add_zero_customers(options, grouped, names)
        return self._report_values(options, grouped, names)

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

    @api.model
    def _bucket_ages(self, options, age_from):
        """The age condition of each aged bucket, keyed and ordered as :meth:`_bucket_labels`:
        ``age_from`` (a date) against the as-of date. The one bucket rule of the printouts
        (:meth:`_bucket_conditions`) and the screens (:attr:`_table_query`)."""
        date_at, limits = options["date_at"], options["limits"]
        ages = [SQL("%s >= %s", age_from, date_at)]
        low = 1
        for limit in limits:
            ages.append(
                SQL(
                    "%s BETWEEN %s AND %s",
                    age_from,
                    date_at - timedelta(days=limit),
                    date_at - timedelta(days=low),
                )
            )
            low = limit + 1
        ages.append(SQL("%s < %s", age_from, date_at - timedelta(days=limits[-1])))
        return {f"b{index}": age for index, age in enumerate(ages)}

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
    def _add_zero_customers(self, options, grouped, names):
        domain = [("customer_rank", ">", 0), ("is_company", "=", True)]
        if options["partner_ids"]:
            domain.append(("id", "in", options["partner_ids"]))
        if options["billing_mode"]:
            domain.append(("billing_mode", "=", options["billing_mode"]))
        if options["user_id"]:
            domain.append(("user_id", "=", options["user_id"]))
        seen = {(partner_id, company_id) for partner_id, company_id, _cur in grouped}
        companies = self.env["res.company"].browse(options["company_ids"])
        for partner in self.env["res.partner"].search(domain):
            for company in companies:
                shared = not partner.company_id or partner.company_id == company
                if shared and (partner.id, company.id) not in seen:
                    grouped[(partner.id, company.id, company.currency_id.id)] = {}
                    names[partner.id] = partner.display_name

    @api.model
    def _report_values(self, options, grouped, names):
        """Report rows from the grouped amounts, which the query rounded with the currency:
        a row total only needs the float noise of the addition removed. Fields are read once
        per currency and company, not once per row (thousands of customers)."""
        buckets = self._bucket_labels(options)
        keys = [key for key, _label in buckets]
        companies = self.env["res.company"].browse({key[1] for key in grouped})
        currencies = {
            currency.id: (currency, currency.decimal_places, currency.name)
            for currency in self.env["res.currency"].browse({key[2] for key in grouped})
        }
        rows, totals = [], {}
        for (partner_id, company_id, currency_id), amounts in grouped.items():
            currency, digits, currency_name = currencies[currency_id]
            row_amounts = {key: amounts.get(key) or 0.0 for key in keys}
            if not options["show_zero"] and not any(row_amounts.values()):
                continue
            name = names.get(partner_id) or self.env._("Without customer")
            row = {
                "partner_id": partner_id,
                "partner_name": name,
                "company": companies.browse(company_id),
                "currency": currency,
                "amounts": row_amounts,
                "total": round(sum(row_amounts.values()), digits),
            }
            rows.append(((name, company_id, currency_name), row))
            total = totals.setdefault(
                currency_id, {"currency": currency, "amounts": dict.fromkeys(keys, 0.0)}
            )
            for key, value in row_amounts.items():
                total["amounts"][key] += value
        rows = [row for _key, row in sorted(rows, key=itemgetter(0))]
        for total in totals.values():
            total["total"] = sum(total["amounts"].values())
            total["percent"] = self._bucket_shares(total["amounts"])
        return {
            "options": options,
            "buckets": buckets,
            "rows": rows,
            "totals": sorted(totals.values(), key=lambda t: t["currency"].name),
        }

    @api.model
    def _bucket_shares(self, amounts):
        """Each aged bucket's share of the gross receivable (what is owed, unapplied credit
        left out), in percent: they make 100 % whatever the credit, which has no share."""
        gross = sum(value for key, value in amounts.items() if key != CREDIT_BUCKET)
        return {
            key: value * 100.0 / gross if gross else 0.0
            for key, value in amounts.items()
            if key != CREDIT_BUCKET
        }
