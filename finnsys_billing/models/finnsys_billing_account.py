from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..const import BILLING_MODES, BILLING_STATES, FIGURES_READ_FIELDS


class FinnsysBillingAccount(models.Model):
    """One row per customer and company, read from the ledger at query time.

    Every figure comes from posted, unreconciled journal items on receivable accounts, so
    the list, the partner form, the credit check and Odoo's own reports can never disagree.
    The SQL is built per query (``_table_query``) because "overdue" depends on today and
    the credit-limit fallback on each company's settings.
    """

    _name = "finnsys.billing.account"
    _description = "Customer billing account"
    _auto = False
    _rec_name = "partner_id"
    _order = "partner_name, company_id"

    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    partner_name = fields.Char(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    billing_mode = fields.Selection(BILLING_MODES, readonly=True)
    receivable = fields.Monetary(
        readonly=True, help="What the customer owes, net of payments and credits not yet applied."
    )
    balance = fields.Monetary(
        readonly=True, help="Credit held (positive) or money owed (negative): minus the receivable."
    )
    outstanding = fields.Monetary(readonly=True, help="Open invoice amounts.")
    overdue = fields.Monetary(readonly=True, help="Open invoice amounts past their due date.")
    unapplied_credit = fields.Monetary(
        readonly=True, help="Payments and credit notes not yet applied to an invoice."
    )
    credit_limit = fields.Monetary(readonly=True)
    limit_enforced = fields.Boolean(
        readonly=True, help="The company checks credit limits and this customer has one."
    )
    available = fields.Monetary(
        readonly=True,
        help="Prepaid: balance plus credit limit. Postpaid: credit limit minus receivable.",
    )
    billing_state = fields.Selection(BILLING_STATES, readonly=True)
    topup_enabled = fields.Boolean(string="Auto Top-up", readonly=True)

    # Rows are keyed partner x company; companies are few, so this keeps ids unique.
    _ID_STRIDE = 100000

    @property
    def _table_query(self):
        # Every company: a handful of rows, all of them needed.
        return self._figures_sql(self.env["res.company"].sudo().search([]))  # pylint: disable=no-search-all

    @api.model
    def _figures_sql(self, companies, partner_ids=None):
        """The rows for ``companies``; ``partner_ids`` narrows both the ledger scan and the
        customers, which keeps a single customer's figures cheap on a large ledger."""
        ledger_filter = customer_filter = SQL("TRUE")
        if partner_ids:
            ledger_filter = SQL("partner.commercial_partner_id IN %s", tuple(partner_ids))
            customer_filter = SQL("customer.id IN %s", tuple(partner_ids))
        return SQL(
            """
            WITH settings(company_id, fallback_limit, use_limit) AS (%(settings)s),
            ledger AS MATERIALIZED (
                SELECT partner.commercial_partner_id AS partner_id,
                       line.company_id,
                       SUM(line.amount_residual) AS receivable,
                       SUM(line.amount_residual) FILTER (WHERE line.amount_residual > 0)
                           AS outstanding,
                       SUM(line.amount_residual) FILTER (
                           WHERE line.amount_residual > 0
                             AND COALESCE(line.date_maturity, line.date) < %(today)s
                       ) AS overdue,
                       -SUM(line.amount_residual) FILTER (WHERE line.amount_residual < 0)
                           AS unapplied_credit
                  FROM account_move_line line
                  JOIN account_account account ON account.id = line.account_id
                  JOIN res_partner partner ON partner.id = line.partner_id
                 WHERE line.parent_state = 'posted'
                   AND line.reconciled IS NOT TRUE
                   AND account.account_type = 'asset_receivable'
                   AND line.company_id IN %(company_ids)s
                   AND %(ledger_filter)s
                 GROUP BY 1, 2
            ),
            figures AS (
                SELECT customer.id * %(stride)s + company.id AS id,
                       customer.id AS partner_id,
                       customer.name AS partner_name,
                       company.id AS company_id,
                       company.currency_id,
                       customer.billing_mode,
                       customer.billing_topup_enabled AS topup_enabled,
                       customer.billing_topup_threshold AS topup_threshold,
                       COALESCE(ledger.receivable, 0) AS receivable,
                       -- the low-balance rule, read by the auto top-up and the warnings
                       (customer.billing_mode = 'prepaid' AND -COALESCE(ledger.receivable, 0)
                           <= COALESCE(customer.billing_topup_threshold, 0)) AS below_threshold,
                       COALESCE(ledger.outstanding, 0) AS outstanding,
                       COALESCE(ledger.overdue, 0) AS overdue,
                       COALESCE(ledger.unapplied_credit, 0) AS unapplied_credit,
                       COALESCE(
                           (customer.credit_limit ->> company.id::text)::numeric,
                           settings.fallback_limit
                       ) AS credit_limit,
                       settings.use_limit
                  FROM res_partner customer
                  JOIN res_company company
                    ON customer.company_id IS NULL OR customer.company_id = company.id
                  JOIN settings ON settings.company_id = company.id
             LEFT JOIN ledger
                    ON ledger.partner_id = customer.id AND ledger.company_id = company.id
                 -- a commercial entity, said the way the planner can estimate (not
                 -- id = commercial_partner_id, which it guesses at 0.5 %% and then loops)
                 WHERE (customer.is_company OR customer.parent_id IS NULL)
                   AND customer.active
                   AND %(customer_filter)s
                   -- every commercial entity asked for by id; in the list, the customers
                   AND (%(asked)s OR customer.customer_rank > 0 OR ledger.partner_id IS NOT NULL)
            )
            SELECT figures.*,
                   -receivable AS balance,
                   (use_limit AND (billing_mode = 'prepaid' OR credit_limit > 0))
                       AS limit_enforced,
                   CASE WHEN use_limit AND (billing_mode = 'prepaid' OR credit_limit > 0)
                        THEN credit_limit - receivable END AS available,
                   CASE
                       WHEN use_limit AND billing_mode = 'prepaid'
                            AND credit_limit - receivable < 0 THEN 'over_limit'
                       WHEN use_limit AND billing_mode = 'postpaid' AND credit_limit > 0
                            AND receivable > credit_limit THEN 'over_limit'
                       WHEN below_threshold THEN 'low_balance'
                       WHEN use_limit AND billing_mode = 'postpaid' AND credit_limit > 0
                            AND credit_limit - receivable < credit_limit * 0.1 THEN 'low_balance'
                       ELSE 'ok'
                   END AS billing_state
              FROM figures
            """,
            settings=self._settings_values(companies),
            company_ids=tuple(companies.ids),
            ledger_filter=ledger_filter,
            customer_filter=customer_filter,
            asked=bool(partner_ids),
            today=fields.Date.context_today(self),
            stride=self._ID_STRIDE,
        )

    @api.model
    def _settings_values(self, companies):
        """Per company: the credit limit a customer gets when none is set, and the policy."""
        rows = []
        for company in companies:
            fallback = (
                self.env["ir.default"]
                .sudo()
                .with_company(company)
                ._get_model_defaults("res.partner")
                .get("credit_limit")
                or 0.0
            )
            rows.append(
                SQL("(%s, %s::numeric, %s)", company.id, fallback, company.account_use_credit_limit)
            )
        return SQL("VALUES %s", SQL(", ").join(rows))

    @api.model
    def _figures_for(self, partners, company=None):
        """Billing figures of commercial partners for one company, as {partner_id: dict}."""
        company = company or self.env.company
        partner_ids = [pid for pid in partners.commercial_partner_id._origin.ids if pid]
        if not partner_ids:
            return {}
        self._flush_ledger()
        self.env.cr.execute(self._figures_sql(company.sudo(), partner_ids))
        return {row["partner_id"]: row for row in self.env.cr.dictfetchall()}

    @api.model
    def finnsys_customer_figures(self, partners, company=None, domain=None):
        """Every figure a customer or a clerk sees of ``partners``' accounts, in ``company``
        (by default the current one), as ``{commercial partner id: dict}``, amounts in the
        company currency and rounded with it.

        One query reads the ledger and the posted invoices and credit notes; invoices with a
        payment under way are classified with ``account.move.finnsys_amount_under_way``. So
        the dashboard, the invoice tabs, the payment page and the customer form agree:

        - ``balance`` credit held minus money owed; ``receivable`` its opposite;
        - ``outstanding`` what open invoices still owe (the ledger's positive residuals):
          ``open_total`` (the *Open* tab) plus ``in_progress`` (the *In Progress* tab: payments
          under way cover them);
        - ``open_count``, ``open_total``, ``overdue`` (open invoices past due, never more
          than ``open_total``), ``in_progress_count``, ``in_progress``;
        - ``credit`` unapplied payments and credit notes (a credit note with a residual is
          credit on account, not an open item); ``credit_limit``, ``available`` (None when
          no limit applies), ``limit_enforced``, ``billing_state``, ``billing_mode``;
        - ``tabs``: ``{tab: (count, amount)}`` for ``all``, ``open``, ``progress``, ``paid``;
          the amount is what is left to pay (``open``, ``progress``), the documents' total
          (``all``, credit notes negative) or what was paid (``paid``).

        ``domain`` narrows the documents of the tabs (a search in the portal); the ledger
        figures always cover the whole account.
        """
        company = (company or self.env.company).sudo()
        partner_ids = [pid for pid in partners.commercial_partner_id._origin.ids if pid]
        if not partner_ids:
            return {}
        self._flush_ledger()
        self.env["account.move"].flush_model()
        self.env["payment.transaction"].flush_model(["state", "is_post_processed"])
        self.env.cr.execute(self._customer_figures_sql(company, partner_ids, domain))
        rows = self.env.cr.dictfetchall()
        running = (
            self.env["account.move"]
            .sudo()
            .browse(row["running_id"] for row in rows if row["running_id"])
        )
        under_way = running.finnsys_amount_under_way()
        result = {}
        for row in rows:
            figures = result.setdefault(row["partner_id"], self._figures_from_row(row))
            invoice = running.browse(row["running_id"]) if row["running_id"] else None
            self._add_documents(figures, row, invoice, under_way)
        currency = company.currency_id
        for figures in result.values():
            self._round_figures(figures, currency)
        return result

    @api.model
    def _customer_figures_sql(self, company, partner_ids, domain):
        """The account rows of ``_figures_sql`` joined with the documents' tab totals; an
        invoice with a payment under way gets a row of its own (``running_id``)."""
        documents = SQL("TRUE")
        if domain is not None and not Domain(domain).is_true():
            query = self.env["account.move"].sudo()._search(domain)
            documents = SQL("move.id IN %s", query.subselect())
        return SQL(
            """
            WITH docs AS (
                SELECT move.id, move.commercial_partner_id AS partner_id, move.move_type,
                       move.payment_state, move.amount_total_signed AS total,
                       COALESCE(move.invoice_date_due, move.date) < %(today)s AS late,
                       COALESCE(SUM(line.amount_residual), 0) AS residual
                  FROM account_move move
             LEFT JOIN account_move_line line
                    ON line.move_id = move.id
                   AND line.account_id IN (SELECT id FROM account_account
                                            WHERE account_type = 'asset_receivable')
                 WHERE move.state = 'posted'
                   AND move.move_type IN ('out_invoice', 'out_refund')
                   AND move.company_id = %(company)s
                   AND move.commercial_partner_id IN %(partners)s
                   AND %(documents)s
                 GROUP BY move.id
            ),
            running AS (
                SELECT DISTINCT rel.invoice_id AS id
                  FROM account_invoice_transaction_rel rel
                  JOIN payment_transaction tx ON tx.id = rel.transaction_id
                 WHERE rel.invoice_id IN (SELECT id FROM docs)
                   AND (tx.state IN ('pending', 'authorized')
                        OR (tx.state = 'done' AND tx.is_post_processed IS NOT TRUE))
            ),
            tabs AS (
                SELECT docs.partner_id,
                       CASE WHEN running.id IS NOT NULL AND docs.move_type = 'out_invoice'
                             AND docs.payment_state IN ('not_paid', 'partial')
                            THEN docs.id END AS running_id,
                       COUNT(*) AS all_count,
                       SUM(docs.total) AS all_amount,
                       COUNT(*) FILTER (WHERE %(open)s) AS open_count,
                       SUM(docs.residual) FILTER (WHERE %(open)s) AS open_total,
                       SUM(docs.residual) FILTER (WHERE %(open)s AND docs.late) AS overdue,
                       COUNT(*) FILTER (WHERE docs.payment_state = 'in_payment')
                           AS progress_count,
                       SUM(docs.residual) FILTER (WHERE docs.payment_state = 'in_payment')
                           AS progress_total,
                       COUNT(*) FILTER (WHERE docs.payment_state IN ('paid', 'reversed'))
                           AS paid_count,
                       SUM(docs.total - docs.residual)
                           FILTER (WHERE docs.payment_state IN ('paid', 'reversed'))
                           AS paid_amount
                  FROM docs
             LEFT JOIN running ON running.id = docs.id
                 GROUP BY 1, 2
            )
            SELECT account.*, tabs.running_id,
                   tabs.all_count, tabs.all_amount, tabs.open_count, tabs.open_total,
                   tabs.overdue AS open_overdue, tabs.progress_count, tabs.progress_total,
                   tabs.paid_count, tabs.paid_amount
              FROM (%(accounts)s) account
         LEFT JOIN tabs ON tabs.partner_id = account.partner_id
            """,
            today=fields.Date.context_today(self),
            company=company.id,
            partners=tuple(partner_ids),
            documents=documents,
            open=SQL(
                "docs.move_type = 'out_invoice' AND docs.payment_state IN ('not_paid', 'partial')"
            ),
            accounts=self._figures_sql(company, partner_ids),
        )

    @api.model
    def _figures_from_row(self, row):
        return {
            "partner_id": row["partner_id"],
            "company_id": row["company_id"],
            "currency_id": row["currency_id"],
            "billing_mode": row["billing_mode"],
            "billing_state": row["billing_state"],
            "limit_enforced": row["limit_enforced"],
            "receivable": float(row["receivable"]),
            "balance": float(row["balance"]),
            "outstanding": float(row["outstanding"]),
            "credit": float(row["unapplied_credit"]),
            "credit_limit": float(row["credit_limit"] or 0.0),
            "available": None if row["available"] is None else float(row["available"]),
            "open_count": 0,
            "open_total": 0.0,
            "overdue": 0.0,
            "in_progress_count": 0,
            "in_progress": 0.0,
            "tabs": {key: [0, 0.0] for key in ("all", "open", "progress", "paid")},
        }

    @api.model
    def _add_documents(self, figures, row, invoice, under_way):
        """Add a group of documents to ``figures``; an invoice with payments under way
        (``invoice``) is *In Progress* when they cover all it still owes, else open."""
        tabs = figures["tabs"]
        if not row["all_count"]:
            return
        tabs["all"][0] += row["all_count"]
        tabs["all"][1] += float(row["all_amount"] or 0.0)
        tabs["paid"][0] += row["paid_count"]
        tabs["paid"][1] += float(row["paid_amount"] or 0.0)
        tabs["progress"][0] += row["progress_count"]
        tabs["progress"][1] += float(row["progress_total"] or 0.0)
        open_count, open_total = row["open_count"], float(row["open_total"] or 0.0)
        overdue = float(row["open_overdue"] or 0.0)
        if (
            invoice
            and invoice.currency_id.compare_amounts(under_way[invoice.id], invoice.amount_residual)
            >= 0
        ):
            tabs["progress"][0] += open_count
            tabs["progress"][1] += open_total
            open_count, open_total, overdue = 0, 0.0, 0.0
        tabs["open"][0] += open_count
        tabs["open"][1] += open_total
        figures["overdue"] += overdue

    @api.model
    def _round_figures(self, figures, currency):
        tabs = figures["tabs"]
        figures["tabs"] = {
            key: (count, currency.round(amount)) for key, (count, amount) in tabs.items()
        }
        figures["open_count"], figures["open_total"] = figures["tabs"]["open"]
        figures["in_progress_count"], figures["in_progress"] = figures["tabs"]["progress"]
        for key in ("receivable", "balance", "outstanding", "credit", "credit_limit", "overdue"):
            figures[key] = currency.round(figures[key])
        if figures["available"] is not None:
            figures["available"] = currency.round(figures["available"])

    @api.model
    def _flush_ledger(self):
        """Flush only what the figures read: a full flush in the middle of a posting would
        split Odoo's batched writes into more queries."""
        for model, fnames in FIGURES_READ_FIELDS.items():
            self.env[model].flush_model(fnames)

    def action_open_partner(self):
        self.ensure_one()
        return self.partner_id._get_records_action()
