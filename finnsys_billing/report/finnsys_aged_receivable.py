from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..const import BILLING_MODES
from .finnsys_aged_receivable_query import AS_OF_MODES  # noqa: F401 - the statement's import


class FinnsysAgedReceivable(models.Model):
    """The receivable items open at an as-of date, one row per journal item, with its bucket.

    The options (as-of date, buckets, filters) come from the context key ``finnsys_aging``,
    set by the wizard, so pivot, graph and list views show the same figures as the PDF and
    XLSX built by :meth:`_aging_report`. Read-only and rebuilt by one SQL query per read.
    """

    _name = "finnsys.aged.receivable"
    _inherit = ["finnsys.aged.receivable.printout", "finnsys.aged.receivable.groups"]
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
    item_count = fields.Integer(string="Items", readonly=True, aggregator="sum")
    total_count = fields.Integer(readonly=True, aggregator=None)  # see web_search_read

    @api.model
    def _selection_bucket(self):
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        return self._bucket_labels(options)

    @property
    def _table_query(self):
        """The open items of :meth:`_open_items_sql` with their customer, bucket and share,
        for the screens: the same query builder as the printouts, so the same figures. Read
        per bucket (:meth:`_bucket_rows_sql`) when a grouped read asks for it
        (``finnsys.aged.receivable.groups``)."""
        options = self._aging_options(self.env.context.get("finnsys_aging"), check=False)
        if per_bucket := self.env.context.get("finnsys_aging_per_bucket"):
            return self._bucket_rows_sql(options, set(per_bucket))
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
                   %(bucket)s AS bucket,
                   %(share)s AS share,
                   1 AS item_count,
                   %(total)s AS total_count
              FROM (%(items)s) items %(customer)s
            """,
            date=options["date_at"],
            bucket=self._bucket_sql(options, SQL("items.residual"), SQL("items.age_from")),
            share=self._share_sql(options),
            total=SQL("COUNT(*) OVER ()")
            if self.env.context.get("finnsys_aging_total")
            else SQL("NULL::integer"),
            items=self._open_items_sql(options),
            customer=self._customer_join_sql(options, SQL("items")),
        )

    @api.model
    def _customer_join_sql(self, options, rows):
        """Joins ``customer``, the commercial entity of the partner of ``rows`` (an alias),
        and keeps the rows of the customers the options ask for."""
        return SQL(
            """LEFT JOIN res_partner partner ON partner.id = %(rows)s.partner_id
               LEFT JOIN res_partner customer ON customer.id = partner.commercial_partner_id
                   WHERE %(filters)s""",
            rows=rows,
            filters=self._customer_filters(options),
        )

    @api.model
    def _bucket_rows_sql(self, options, fields):
        """The items of :attr:`_table_query` summed per customer contact, company, company
        currency and bucket, as the printout sums them (:meth:`_aging_sql`): a hash of a few
        rows per customer instead of grouping sets over every open item and their customers,
        for the groupings that see no item field (:meth:`_per_bucket`).

        Only what ``fields`` (the names the read groups, filters or measures) need is
        computed: the invoice currency and the days overdue only when asked, the other
        columns are NULL. The bucket is grouped on as its index and named after grouping.
        ``id`` is NULL: these rows are never read as records, only summed."""
        with_currency = bool({"currency_id", "residual_currency"} & fields)
        currency = SQL("items.currency_id") if with_currency else SQL("NULL::integer")
        return SQL(
            """
            WITH grouped AS (
                SELECT items.partner_id, items.company_id, items.company_currency_id,
                       %(currency)s AS currency_id, %(bucket)s AS bucket,
                       %(days)s AS days_overdue,
                       SUM(items.residual) AS residual,
                       %(residual_currency)s AS residual_currency,
                       COUNT(*) AS item_count
                  FROM (%(items)s) items
                 GROUP BY 1, 2, 3, 4, 5
            )
            SELECT NULL::integer AS id, NULL::integer AS move_line_id,
                   NULL::integer AS move_id, customer.id AS partner_id, grouped.company_id,
                   grouped.company_currency_id, grouped.currency_id, customer.billing_mode,
                   customer.user_id, NULL::date AS date, NULL::date AS invoice_date,
                   NULL::date AS date_maturity, grouped.days_overdue, grouped.residual,
                   grouped.residual_currency, %(key)s AS bucket, NULL::float AS share,
                   grouped.item_count, NULL::integer AS total_count
              FROM grouped %(customer)s
            """,
            currency=currency,
            bucket=self._bucket_index_sql(options, SQL("items.residual"), SQL("items.age_from")),
            days=SQL("MAX(%s::date - items.age_from)", options["date_at"])
            if "days_overdue" in fields
            else SQL("NULL::integer"),
            residual_currency=SQL("SUM(items.residual_currency)")
            if "residual_currency" in fields
            else SQL("NULL::numeric"),
            items=self._open_items_sql(options),
            key=self._bucket_key_sql(options, SQL("grouped.bucket")),
            customer=self._customer_join_sql(options, SQL("grouped")),
        )

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
    @api.readonly
    def web_search_read(
        self, domain, specification, offset=0, limit=None, order=None, count_limit=None
    ):
        """The list's page and its count in one pass over the open items (a window count,
        ``total_count``) instead of a second query that computes them all again. Only
        unfiltered: the window counts before the search filters."""
        if not limit or not Domain(domain).is_true():
            return super().web_search_read(domain, specification, offset, limit, order, count_limit)
        records = self.with_context(finnsys_aging_total=True).search_fetch(
            domain, [*specification, "total_count"], offset=offset, limit=limit, order=order
        )
        values = records.with_env(self.env).web_read(specification)
        if not values:
            return {"length": 0, "records": []}
        length = records[:1].total_count
        if count_limit:
            length = max(min(length, count_limit), offset + len(values))
        return {"length": length, "records": values}
