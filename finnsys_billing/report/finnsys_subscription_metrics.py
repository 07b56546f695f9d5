from odoo import fields, models, tools
from odoo.tools import SQL

from ..models.contract_template import MONTHS_PER_PERIOD

# The report's figures, as a pivot, a graph or a read_group sums them.
MEASURES = [
    "mrr:sum",
    "arr:sum",
    "active_count:sum",
    "new_mrr:sum",
    "expansion_mrr:sum",
    "contraction_mrr:sum",
    "churned_mrr:sum",
    "logo_churn_rate:sum",
    "revenue_churn_rate:sum",
]


def monthly_line_amount_sql():
    """A subscription line's monthly equivalent: its amount per period over the months of
    its period (``line``, ``pt`` the product template)."""
    months = SQL(
        "CASE line.recurring_rule_type %s ELSE 1 END",
        SQL(" ").join(
            SQL("WHEN %s THEN %s::numeric", rule, months)
            for rule, months in MONTHS_PER_PERIOD.items()
        ),
    )
    return SQL(
        """(line.quantity
            * CASE WHEN line.automatic_price THEN COALESCE(pt.list_price, 0)
                   ELSE COALESCE(line.specific_price, 0) END
            * (1 - COALESCE(line.discount, 0) / 100.0))::numeric
           / (%s * GREATEST(line.recurring_interval, 1))""",
        months,
    )


def subscription_months_sql():
    """One row per subscription and month from its start: its MRR on the month's last day
    (``mrr``) and on the previous month's (``prev_mrr``)."""
    return SQL(
        """
        WITH subs AS (
            SELECT c.id, c.partner_id, c.company_id, c.contract_template_id,
                   COALESCE(c.manual_currency_id, company.currency_id) AS currency_id,
                   c.date_start, c.subscription_ends_on, c.subscription_paused_on,
                   c.subscription_resumed_on
              FROM contract_contract c
              JOIN res_company company ON company.id = c.company_id
             WHERE c.contract_template_id IS NOT NULL
               AND c.subscription_state != 'draft'
               AND c.date_start IS NOT NULL
        ), months AS (
            SELECT month::date AS month,
                   (month + interval '1 month' - interval '1 day')::date AS month_end
              FROM generate_series(
                       (SELECT date_trunc('month', MIN(date_start)) FROM subs),
                       date_trunc('month', CURRENT_DATE), interval '1 month') AS month
        ), lines AS (
            SELECT line.contract_id, line.date_start, line.date_end,
                   %(monthly)s AS monthly
              FROM contract_line line
              JOIN subs ON subs.id = line.contract_id
              LEFT JOIN product_product pp ON pp.id = line.product_id
              LEFT JOIN product_template pt ON pt.id = pp.product_tmpl_id
             WHERE line.display_type IS NULL
        ), sub_months AS (
            SELECT subs.id AS contract_id, months.month,
                   COALESCE(SUM(lines.monthly) FILTER (
                       WHERE lines.date_start <= months.month_end
                         AND (lines.date_end IS NULL OR lines.date_end >= months.month_end)
                         AND (subs.subscription_ends_on IS NULL
                              OR subs.subscription_ends_on >= months.month_end)
                         AND NOT (subs.subscription_paused_on IS NOT NULL
                                  AND subs.subscription_paused_on <= months.month_end
                                  AND (subs.subscription_resumed_on IS NULL
                                       OR subs.subscription_resumed_on > months.month_end))
                   ), 0) AS mrr
              FROM subs
              JOIN months
                ON months.month >= date_trunc('month', subs.date_start)
               AND (subs.subscription_ends_on IS NULL
                    OR months.month <= date_trunc('month', subs.subscription_ends_on)
                                       + interval '1 month')
              LEFT JOIN lines ON lines.contract_id = subs.id
             GROUP BY subs.id, months.month
        )
        SELECT sm.contract_id, sm.month, subs.partner_id, subs.company_id,
               subs.contract_template_id AS plan_id, subs.currency_id, sm.mrr,
               LAG(sm.mrr, 1, 0::numeric) OVER (
                   PARTITION BY sm.contract_id ORDER BY sm.month) AS prev_mrr
          FROM sub_months sm
          JOIN subs ON subs.id = sm.contract_id
        """,
        monthly=monthly_line_amount_sql(),
    )


class FinnsysSubscriptionMetrics(models.Model):
    """Subscription metrics per month, one row per subscription and month.

    A subscription's MRR in a month is the monthly equivalent of its lines running on the
    month's last day (not paused, not ended). Comparing it with the previous month's gives
    new, expansion, contraction and churned MRR. The churn rates of a row are its share of
    its company's month: summed over a month (and company), they give the month's rates.
    """

    _name = "finnsys.subscription.metrics"
    _description = "Subscription Metrics"
    _auto = False
    _order = "month desc, contract_id"
    _rec_name = "contract_id"

    month = fields.Date(readonly=True)
    contract_id = fields.Many2one("contract.contract", string="Subscription", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    plan_id = fields.Many2one("contract.template", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    mrr = fields.Monetary(string="MRR", readonly=True)
    arr = fields.Monetary(string="ARR", readonly=True)
    start_mrr = fields.Monetary(string="Starting MRR", readonly=True)
    new_mrr = fields.Monetary(string="New MRR", readonly=True)
    expansion_mrr = fields.Monetary(string="Expansion MRR", readonly=True)
    contraction_mrr = fields.Monetary(string="Contraction MRR", readonly=True)
    churned_mrr = fields.Monetary(string="Churned MRR", readonly=True)
    active_count = fields.Integer(string="Active Subscriptions", readonly=True)
    start_count = fields.Integer(string="Active at Month Start", readonly=True)
    new_count = fields.Integer(string="New Subscriptions", readonly=True)
    churned_count = fields.Integer(string="Churned Subscriptions", readonly=True)
    logo_churn_rate = fields.Float(
        string="Logo Churn Rate (%)",
        readonly=True,
        help="Subscriptions lost in the month over those active at its start.",
    )
    revenue_churn_rate = fields.Float(
        string="Revenue Churn Rate (%)",
        readonly=True,
        help="Churned and contraction MRR of the month over the MRR at its start.",
    )

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
                CREATE VIEW %(table)s AS
                WITH figures AS (%(months)s),
                moves AS (
                    SELECT *,
                           (mrr > 0)::int AS active_count,
                           (prev_mrr > 0)::int AS start_count,
                           CASE WHEN prev_mrr = 0 THEN mrr ELSE 0 END AS new_mrr,
                           CASE WHEN prev_mrr > 0 AND mrr > prev_mrr
                                THEN mrr - prev_mrr ELSE 0 END AS expansion_mrr,
                           CASE WHEN prev_mrr > 0 AND mrr > 0 AND mrr < prev_mrr
                                THEN prev_mrr - mrr ELSE 0 END AS contraction_mrr,
                           CASE WHEN prev_mrr > 0 AND mrr = 0 THEN prev_mrr ELSE 0 END
                               AS churned_mrr
                      FROM figures
                     WHERE mrr > 0 OR prev_mrr > 0
                )
                SELECT ROW_NUMBER() OVER (ORDER BY month, contract_id) AS id,
                       contract_id, month, partner_id, company_id, plan_id, currency_id,
                       mrr, mrr * 12 AS arr, prev_mrr AS start_mrr,
                       new_mrr, expansion_mrr, contraction_mrr, churned_mrr,
                       active_count, start_count,
                       (prev_mrr = 0)::int AS new_count,
                       (prev_mrr > 0 AND mrr = 0)::int AS churned_count,
                       100.0 * (prev_mrr > 0 AND mrr = 0)::int / NULLIF(
                           SUM(start_count) OVER (PARTITION BY company_id, month), 0)
                           AS logo_churn_rate,
                       100.0 * (churned_mrr + contraction_mrr) / NULLIF(
                           SUM(prev_mrr) OVER (PARTITION BY company_id, month), 0)
                           AS revenue_churn_rate
                  FROM moves
                """,
                table=SQL.identifier(self._table),
                months=subscription_months_sql(),
            )
        )
