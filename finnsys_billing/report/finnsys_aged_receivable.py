from datetime import timedelta

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
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        return self._items_sql(options)

    @api.model
    def _items_sql(self, options):
        """One row per receivable item open at the as-of date.

        Reverse approach: the item's residual today plus every partial reconciliation not yet
        made at the as-of date, i.e. dated after it (``max_date``, the later of the two
        matched items) or created after it. Only the few partials after the date are read,
        so the cost stays that of the unreconciled items.
        """
        date_at = options["date_at"]
        next_day = date_at + timedelta(days=1)
        companies = options["company_ids"]
        states = ["posted", "draft"] if options["include_draft"] else ["posted"]
        age_from = (
            SQL("COALESCE(line.date_maturity, line.date)")
            if options["basis"] == "due"
            else SQL("COALESCE(line.invoice_date, line.date)")
        )
        later = SQL(
            "company_id = ANY(%(companies)s) AND (max_date > %(date)s OR create_date >= %(next)s)",
            companies=companies,
            date=date_at,
            next=next_day,
        )
        return SQL(
            """
            WITH later AS (
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
            ),
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
                  JOIN account_account account ON account.id = line.account_id
             LEFT JOIN later ON later.line_id = line.id
             LEFT JOIN res_partner partner ON partner.id = line.partner_id
             LEFT JOIN res_partner customer ON customer.id = partner.commercial_partner_id
                 WHERE account.account_type = 'asset_receivable'
                   AND line.company_id = ANY(%(companies)s)
                   AND line.parent_state = ANY(%(states)s)
                   AND line.date <= %(date)s
                   AND (line.reconciled IS NOT TRUE OR later.line_id IS NOT NULL)
                   AND %(filters)s
            )
            SELECT items.*,
                   items.id AS move_line_id,
                   %(bucket)s AS bucket
              FROM items
             WHERE items.residual != 0
            """,
            later=later,
            date=date_at,
            age_from=age_from,
            companies=companies,
            states=states,
            filters=self._customer_filters(options),
            bucket=self._bucket_case(options["limits"]),
        )

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
        XLSX print. Two queries whatever the number of customers and items."""
        options = self._aging_options(values)
        self.env.flush_all()
        self.env.cr.execute(self._aging_sql(options))
        grouped, names = {}, {}
        for partner_id, name, company_id, currency_id, bucket, total in self.env.cr.fetchall():
            names[partner_id] = name
            grouped.setdefault((partner_id, company_id, currency_id), {})[bucket] = total
        if options["show_zero"]:
            self._add_zero_customers(options, grouped, names)
        return self._report_values(options, grouped, names)

    @api.model
    def _aging_sql(self, options):
        """Open amounts per customer, company, currency and bucket: grouped by ids first,
        names joined on the few grouped rows."""
        amount = SQL("residual_currency" if options["in_currency"] else "residual")
        currency = SQL("currency_id" if options["in_currency"] else "company_currency_id")
        return SQL(
            """
            SELECT grouped.partner_id, customer.complete_name, grouped.company_id,
                   grouped.currency_id, grouped.bucket, grouped.amount
              FROM (
                  SELECT items.partner_id, items.company_id, items.%(currency)s AS currency_id,
                         items.bucket, SUM(items.%(amount)s) AS amount
                    FROM (%(items)s) items
                   GROUP BY 1, 2, 3, 4
              ) grouped
         LEFT JOIN res_partner customer ON customer.id = grouped.partner_id
            """,
            currency=currency,
            amount=amount,
            items=self._items_sql(options),
        )

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
        buckets = self._bucket_labels(options)
        companies = self.env["res.company"].browse({key[1] for key in grouped})
        currencies = self.env["res.currency"].browse({key[2] for key in grouped})
        rows, totals = [], {}
        for (partner_id, company_id, currency_id), amounts in grouped.items():
            currency = currencies.browse(currency_id)
            row = {
                "partner_id": partner_id,
                "partner_name": names.get(partner_id) or self.env._("Without customer"),
                "company": companies.browse(company_id),
                "currency": currency,
                "amounts": {key: currency.round(amounts.get(key) or 0.0) for key, _l in buckets},
            }
            row["total"] = currency.round(sum(row["amounts"].values()))
            if not options["show_zero"] and not any(row["amounts"].values()):
                continue
            rows.append(row)
            total = totals.setdefault(
                currency_id, {"currency": currency, "amounts": dict.fromkeys(dict(buckets), 0.0)}
            )
            for key, value in row["amounts"].items():
                total["amounts"][key] += value
        rows.sort(key=lambda r: (r["partner_name"], r["company"].id, r["currency"].name))
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
