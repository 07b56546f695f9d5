from odoo import fields, models
from odoo.tools import SQL


class FinnsysSubscriptionPeriod(models.Model):
    """One billed period of a subscription: the key that makes its invoice happen once.

    The row is claimed (inserted) in the same transaction that creates the invoice and before
    it. A second run claiming the same period waits for the first one's transaction, then finds
    the key taken and creates nothing; if the first run failed, its claim is rolled back with
    its invoice and the period can be billed again.
    """

    _name = "finnsys.subscription.period"
    _description = "Billed Subscription Period"
    _order = "period_start desc, id desc"

    contract_id = fields.Many2one(
        "contract.contract", string="Subscription", required=True, ondelete="cascade"
    )
    period_start = fields.Date(required=True)
    period_end = fields.Date()
    move_id = fields.Many2one("account.move", string="Invoice", ondelete="set null")
    company_id = fields.Many2one(related="contract_id.company_id", store=True)

    _unique_period = models.Constraint(
        "UNIQUE(contract_id, period_start)",
        "A subscription period can be invoiced only once.",
    )

    def _claim(self, contract, period_start, period_end):
        """Claim the period, or return an empty recordset when it is already claimed."""
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO finnsys_subscription_period
                       (contract_id, period_start, period_end, company_id,
                        create_uid, write_uid, create_date, write_date)
                VALUES (%s, %s, %s, %s, %s, %s, now() at time zone 'UTC',
                        now() at time zone 'UTC')
                ON CONFLICT (contract_id, period_start) DO NOTHING
                RETURNING id
                """,
                contract.id,
                period_start,
                period_end,
                contract.company_id.id,
                self.env.uid,
                self.env.uid,
            ),
            # A claim racing another run's fails with a serialization error that the cron
            # retries: expected, not an error to log.
            log_exceptions=False,
        )
        row = self.env.cr.fetchone()
        return self.browse(row[0]) if row else self.browse()
