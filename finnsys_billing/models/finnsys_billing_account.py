from odoo import api, fields, models
from odoo.tools import SQL

from .res_company import BILLING_MODES

BILLING_STATES = [
    ("ok", "OK"),
    ("low_balance", "Low balance"),
    ("over_limit", "Over limit"),
]


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
        return self._figures_sql(self.env["res.company"].sudo().search([]))

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
                   AND (customer.customer_rank > 0 OR ledger.partner_id IS NOT NULL)
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
                       WHEN billing_mode = 'prepaid'
                            AND -receivable <= COALESCE(topup_threshold, 0) THEN 'low_balance'
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
    def _flush_ledger(self):
        """Flush only what the figures read: a full flush in the middle of a posting would
        split Odoo's batched writes into more queries."""
        self.env["account.move.line"].flush_model(
            [
                "amount_residual",
                "reconciled",
                "parent_state",
                "account_id",
                "company_id",
                "partner_id",
                "date_maturity",
                "date",
            ]
        )
        self.env["account.account"].flush_model(["account_type"])
        self.env["res.partner"].flush_model(
            [
                "commercial_partner_id",
                "billing_mode",
                "billing_topup_enabled",
                "billing_topup_threshold",
                "credit_limit",
                "active",
                "customer_rank",
                "company_id",
                "name",
            ]
        )

    def action_open_partner(self):
        self.ensure_one()
        return self.partner_id._get_records_action()
