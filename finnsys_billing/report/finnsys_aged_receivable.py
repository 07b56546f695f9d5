from datetime import timedelta
from operator import itemgetter

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..models.res_company import BILLING_MODES, DEFAULT_AGING_LIMITS, parse_aging_limits

AGING_BASES = [("due", "Due date"), ("invoice", "Invoice date")]
CREDIT_BUCKET = "credit"


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
        help="Share of the item in the grand total of the report (per company currency), in "
        "percent: summed per bucket it gives the bucket's share, and all buckets make 100 %.",
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
        """The items with their share of the grand total, from one window over the items:
        the screens read the bucket shares in the same query as the amounts."""
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        return SQL(
            """
            SELECT items.*,
                   COALESCE(
                       items.residual * 100.0 / NULLIF(
                           SUM(items.residual) OVER (PARTITION BY items.company_currency_id), 0
                       ),
                       0
                   ) AS share
              FROM (%s) items
            """,
            self._items_sql(options),
        )

    @api.model
    def _items_sql(self, options):
        """One row per receivable item open at the as-of date, for the screens.

        Reverse approach: the item's residual today plus every partial reconciliation not yet
        made at the as-of date (:meth:`_later_partials_sql`), so the cost stays that of the
        unreconciled items.
        """
        return SQL(
            """
            WITH later AS (%(later)s),
            items AS (
                SELECT line.id,
                       line.move_id,
                       customer.id AS partner_id,
                       line.company_id,
                       line.company_currency_id,
                       line.currency_id,
                       customer.billing_mode,
                       customer.user_id,
                       line.date,
                       line.invoice_date,
                       line.date_maturity,
                       %(date)s::date - %(age_from)s AS days_overdue,
                       line.amount_residual + COALESCE(later.amount, 0) AS residual,
                       line.amount_residual_currency + COALESCE(later.amount_currency, 0)
                           AS residual_currency
                  FROM account_move_line line
             LEFT JOIN later ON later.line_id = line.id
             LEFT JOIN res_partner partner ON partner.id = line.partner_id
             LEFT JOIN res_partner customer ON customer.id = partner.commercial_partner_id
                 WHERE %(lines)s
                   AND (line.reconciled IS NOT TRUE OR later.line_id IS NOT NULL)
                   AND %(filters)s
            )
            SELECT items.*,
                   items.id AS move_line_id,
                   %(bucket)s AS bucket
              FROM items
             WHERE items.residual != 0
            """,
            later=self._later_partials_sql(options),
            date=options["date_at"],
            age_from=self._age_from_sql(options),
            lines=self._lines_sql(options),
            filters=self._customer_filters(options),
            bucket=self._bucket_case(options["limits"]),
        )

    @api.model
    def _lines_sql(self, options):
        """Condition on ``line``: receivable items of the companies asked, up to the as-of date.

        The receivable accounts are literal ids rather than a join on ``account_account``: the
        planner then counts the items per account from its statistics instead of guessing one
        account in ten, a guess that made it sort ten times more rows than planned, on disk.
        """
        self.env["account.account"].flush_model(["account_type"])
        self.env.cr.execute(
            SQL("SELECT ARRAY_AGG(id) FROM account_account WHERE account_type = 'asset_receivable'")
        )
        accounts = self.env.cr.fetchone()[0] or []
        return SQL(
            """line.account_id = ANY(%(accounts)s)
               AND line.company_id = ANY(%(companies)s)
               AND line.parent_state = ANY(%(states)s)
               AND line.date <= %(date)s""",
            accounts=accounts,
            companies=options["company_ids"],
            states=["posted", "draft"] if options["include_draft"] else ["posted"],
            date=options["date_at"],
        )

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
    def _bucket_case(self, limits):
        whens = [SQL("WHEN items.days_overdue <= 0 THEN 'b0'")]
        whens += [
            SQL("WHEN items.days_overdue <= %s THEN %s", limit, f"b{index}")
            for index, limit in enumerate(limits, start=1)
        ]
        return SQL(
            "CASE WHEN items.residual < 0 THEN %s %s ELSE %s END",
            CREDIT_BUCKET,
            SQL(" ").join(whens),
            f"b{len(limits) + 1}",
        )

    @api.model
    def _aging_report(self, values=None):
        """Rows per customer (and company, and invoice currency if asked) with an amount per
        bucket, plus totals per currency and the share of each bucket: what the PDF and the
        XLSX print. Three queries whatever the number of customers and items."""
        options = self._aging_options(values)
        keys = [key for key, _label in self._bucket_labels(options)]
        self.env.flush_all()
        self.env.cr.execute(self._aging_sql(options))
        grouped, names = {}, {}
        for partner_id, name, company_id, currency_id, *amounts in self.env.cr.fetchall():
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

        The figures of :meth:`_items_sql` in the shape the planner runs fastest: a filtered
        SUM per bucket lets it hash one group per customer instead of sorting the items, and
        the items no later partial touches (nearly all) are summed from their stored residual
        with no per-item arithmetic; names and customer filters only join the grouped rows.
        """
        in_currency = options["in_currency"]
        stored = SQL.identifier(
            "line", "amount_residual_currency" if in_currency else "amount_residual"
        )
        undone = SQL.identifier("later", "amount_currency" if in_currency else "amount")
        age_from = self._age_from_sql(options)
        untouched = self._bucket_conditions(options, SQL("line.amount_residual"), age_from)
        touched = self._bucket_conditions(
            options, SQL("(line.amount_residual + later.amount)"), age_from
        )
        sums = SQL(", ").join(
            SQL(
                """COALESCE(SUM(%(stored)s) FILTER (
                       WHERE later.line_id IS NULL AND %(untouched)s), 0)
                   + COALESCE(SUM(%(stored)s + %(undone)s) FILTER (
                       WHERE later.line_id IS NOT NULL AND %(touched)s), 0) AS %(key)s""",
                stored=stored,
                undone=undone,
                untouched=untouched[key],
                touched=touched[key],
                key=SQL.identifier(key),
            )
            for key in untouched
        )
        return SQL(
            """
            WITH later AS (%(later)s),
            grouped AS (
                SELECT line.partner_id, line.company_id, %(currency)s AS currency_id, %(sums)s
                  FROM account_move_line line
             LEFT JOIN later ON later.line_id = line.id
                 WHERE %(lines)s
                   AND (line.reconciled IS NOT TRUE OR later.line_id IS NOT NULL)
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
            later=self._later_partials_sql(options),
            currency=SQL.identifier(
                "line", "currency_id" if in_currency else "company_currency_id"
            ),
            sums=sums,
            lines=self._lines_sql(options),
            rounded=SQL(", ").join(
                SQL(
                    "ROUND(SUM(grouped.%s) / currency.rounding) * currency.rounding",
                    SQL.identifier(key),
                )
                for key in untouched
            ),
            filters=self._customer_filters(options),
        )

    @api.model
    def _bucket_conditions(self, options, residual, age_from):
        """The condition of each bucket, keyed and ordered as :meth:`_bucket_labels`: the
        credit bucket when ``residual`` is negative, else by ``age_from`` (a date) against
        the as-of date, as :meth:`_bucket_case` does with the days overdue."""
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
        conditions = {
            # The date test first: it rules out all buckets but one without the amount's.
            f"b{index}": SQL("%s AND %s > 0", age, residual)
            for index, age in enumerate(ages)
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
            total["percent"] = {
                key: (value * 100.0 / total["total"] if total["total"] else 0.0)
                for key, value in total["amounts"].items()
            }
        return {
            "options": options,
            "buckets": buckets,
            "rows": rows,
            "totals": sorted(totals.values(), key=lambda t: t["currency"].name),
        }
