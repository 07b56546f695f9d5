import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..concurrency import claim_ids
from ..const import CONSUMPTION_DAYS

_logger = logging.getLogger(__name__)


class FinnsysBillingForecast(models.AbstractModel):
    """How long a prepaid customer's credit lasts, and the low-balance warning.

    Consumption is the posted customer invoices of the last ``CONSUMPTION_DAYS`` days,
    divided by that number of days; the partner form shows it with the days of credit left,
    and the auto top-up run warns prepaid customers without auto top-up whose credit runs low.
    """

    _name = "finnsys.billing.forecast"
    _description = "Billing consumption forecast"

    @api.model
    def _consumption_sql(self, condition=None):
        """SELECT of the average daily consumption per (partner_id, company_id)."""
        today = fields.Date.context_today(self)
        return SQL(
            """
            SELECT commercial_partner_id AS partner_id, company_id,
                   SUM(amount_total_signed) / %(days)s AS daily
              FROM account_move
             WHERE move_type = 'out_invoice' AND state = 'posted'
               AND invoice_date > %(since)s AND invoice_date <= %(today)s
               AND %(condition)s
             GROUP BY 1, 2
            """,
            days=CONSUMPTION_DAYS,
            since=today - timedelta(days=CONSUMPTION_DAYS),
            today=today,
            condition=condition or SQL("TRUE"),
        )

    @api.model
    def _daily_consumption(self, partners, company):
        """Average daily consumption per commercial partner of ``partners`` in ``company``,
        as ``{partner id: amount}`` (one query)."""
        if not partners.ids:
            return {}
        self.env["account.move"].flush_model(
            ["move_type", "state", "company_id", "commercial_partner_id", "invoice_date"]
        )
        condition = SQL(
            "company_id = %s AND commercial_partner_id IN %s", company.id, tuple(partners.ids)
        )
        self.env.cr.execute(self._consumption_sql(condition))
        return {partner_id: float(daily) for partner_id, _company, daily in self.env.cr.fetchall()}

    @api.model
    def _candidates(self, company):
        """Ids of the customers of ``company`` to work on now: prepaid, auto top-up on, balance
        at or below the threshold and no attempt under way; or with a pending attempt due
        (``finnsys.topup.attempt``)."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                WITH figures AS (%(figures)s)
                SELECT figures.partner_id
                  FROM figures
                  JOIN res_partner partner ON partner.id = figures.partner_id
                  JOIN payment_token token
                    ON token.id = partner.billing_token_id AND token.active
                  JOIN payment_provider provider
                    ON provider.id = token.provider_id AND provider.company_id = %(company)s
                 WHERE figures.below_threshold
                   AND figures.topup_enabled
                   AND NOT EXISTS (
                       SELECT 1 FROM finnsys_topup_attempt attempt
                        WHERE attempt.partner_id = figures.partner_id
                          AND attempt.company_id = %(company)s
                          AND attempt.state = 'pending')
                 UNION
                SELECT partner_id
                  FROM finnsys_topup_attempt
                 WHERE company_id = %(company)s
                   AND state = 'pending'
                   AND (next_try_at IS NULL OR next_try_at <= %(now)s)
                 ORDER BY 1
                """,
                figures=self.env["finnsys.billing.account"]._figures_sql(company),
                company=company.id,
                now=fields.Datetime.now(),
            )
        )
        return [row[0] for row in self.env.cr.fetchall()]

    @api.model
    def _low_balance_changes(self):
        """Prepaid customers to warn now, as (partner id, company id), after clearing the flag
        of those whose balance is healthy again (so the next crossing warns again).

        Low: auto top-up off, some consumption in the last 30 days, and a balance at or below
        the threshold or lasting fewer days than the company's warning horizon. One query over
        all companies; a customer is low when it is low in any of them.
        """
        self.env.flush_all()
        # Every company: a handful of rows, all of them needed.
        companies = self.env["res.company"].sudo().search([])  # pylint: disable=no-search-all
        self.env.cr.execute(
            SQL(
                """
                WITH figures AS (%(figures)s),
                consumption AS (%(consumption)s),
                checks AS (
                    SELECT figures.partner_id, figures.company_id,
                           COALESCE(figures.billing_mode = 'prepaid'
                                AND NOT COALESCE(figures.topup_enabled, FALSE)
                                AND consumption.daily > 0
                                AND (figures.below_threshold
                                     OR figures.balance
                                        < consumption.daily * company.billing_low_balance_days),
                                FALSE) AS low
                      FROM figures
                      JOIN res_company company ON company.id = figures.company_id
                 LEFT JOIN consumption
                        ON consumption.partner_id = figures.partner_id
                       AND consumption.company_id = figures.company_id
                )
                SELECT checks.partner_id,
                       MIN(checks.company_id) FILTER (WHERE checks.low),
                       partner.billing_low_balance_notified
                  FROM checks
                  JOIN res_partner partner ON partner.id = checks.partner_id
                 GROUP BY checks.partner_id, partner.billing_low_balance_notified
                HAVING BOOL_OR(checks.low) IS DISTINCT FROM
                       COALESCE(partner.billing_low_balance_notified, FALSE)
                 ORDER BY checks.partner_id
                """,
                figures=self.env["finnsys.billing.account"]._figures_sql(companies),
                consumption=self._consumption_sql(),
            )
        )
        rows = self.env.cr.fetchall()
        healthy = tuple(partner_id for partner_id, _company, notified in rows if notified)
        if healthy:
            claim_ids(
                self.env,
                SQL(
                    "UPDATE res_partner SET billing_low_balance_notified = FALSE "
                    "WHERE id IN %s RETURNING id",
                    healthy,
                ),
            )
            self.env["res.partner"].invalidate_model(["billing_low_balance_notified"])
        return [
            (partner_id, company_id) for partner_id, company_id, notified in rows if not notified
        ]

    @api.model
    def _send_low_balance_warnings(self, rows, stats):
        """Send the low-balance e-mail once per crossing: the flag is set on rows claimed with
        ``SKIP LOCKED``, so two workers never warn the same customer twice."""
        Partner = self.env["res.partner"]
        partners = Partner.browse([partner_id for partner_id, _company in rows])
        no_email = partners.filtered(lambda p: not p.email)
        for partner in no_email:
            _logger.info("Low-balance warning not sent: partner %s has no e-mail", partner.id)
        stats["no_email"] += len(no_email)
        ids = tuple((partners - no_email).ids)
        if not ids:
            return
        claimed = claim_ids(
            self.env,
            SQL(
                """
                UPDATE res_partner SET billing_low_balance_notified = TRUE
                 WHERE id IN (SELECT id FROM res_partner
                               WHERE id IN %s AND NOT COALESCE(billing_low_balance_notified, FALSE)
                               ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)
                RETURNING id
                """,
                ids,
            ),
        )
        Partner.invalidate_model(["billing_low_balance_notified"])
        company_of = dict(rows)
        template = self.env.ref("finnsys_billing.mail_template_low_balance").sudo()
        for partner_id in claimed:
            company = self.env["res.company"].browse(company_of[partner_id])
            template.with_company(company).send_mail(partner_id)
        stats["low_balance_warned"] += len(claimed)
