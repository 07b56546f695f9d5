from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..const import BILLING_MODES, DEFAULT_AGING_LIMITS, MAX_AGING_LIMITS


def parse_aging_limits(env, text):
    """Day limits such as ``"30,60,90,120"`` as a list of ints, or a ValidationError."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not parts:
        raise ValidationError(
            env._("Give at least one aging bucket limit in days, for example 30,60,90,120.")
        )
    try:
        limits = [int(part) for part in parts]
    except ValueError:
        raise ValidationError(
            env._("Aging bucket limits %(limits)s must be whole numbers of days.", limits=text)
        ) from None
    if len(limits) > MAX_AGING_LIMITS or any(limit <= 0 for limit in limits):
        raise ValidationError(
            env._(
                "Aging bucket limits %(limits)s must be at most %(count)s positive numbers "
                "of days.",
                limits=text,
                count=MAX_AGING_LIMITS,
            )
        )
    if any(low >= high for low, high in zip(limits, limits[1:], strict=False)):
        raise ValidationError(
            env._(
                "Aging bucket limits %(limits)s must be strictly increasing, for example "
                "30,60,90,120.",
                limits=text,
            )
        )
    return limits


def parse_dunning_days(env, text):
    """Retry days such as ``"1,3,7"`` (days after the failed charge) as a list of ints."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    try:
        days = [int(part) for part in parts]
    except ValueError:
        days = []
    if (
        not days
        or any(day <= 0 for day in days)
        or any(low >= high for low, high in zip(days, days[1:], strict=False))
    ):
        raise ValidationError(
            env._(
                "Dunning retry days %(days)s must be strictly increasing positive numbers of "
                "days after the failed charge, for example 1,3,7.",
                days=text,
            )
        )
    return days


class ResCompany(models.Model):
    _inherit = "res.company"

    billing_default_mode = fields.Selection(
        BILLING_MODES,
        string="Default Billing Mode",
        default="postpaid",
        required=True,
        help="Billing mode given to new customers of this company.",
    )
    billing_credit_policy = fields.Selection(
        [
            ("warn", "Warn"),
            ("block", "Block"),
        ],
        string="Credit Limit Policy",
        default="block",
        required=True,
        help="Warn: Odoo's banner on the invoice only. Block: an invoice that would take the "
        "customer over its credit limit cannot be posted without a manager's override.",
    )
    billing_topup_max_tries = fields.Integer(
        string="Top-up Tries",
        default=3,
        required=True,
        help="Charges made for one automatic top-up before it is given up and auto top-up is "
        "switched off for the customer.",
    )
    billing_topup_retry_hours = fields.Integer(
        string="Top-up Retry Window (hours)",
        default=24,
        required=True,
        help="Hours over which the retries of a declined top-up are spread, with a doubling delay.",
    )
    billing_low_balance_days = fields.Integer(
        string="Low Balance Warning (days)",
        default=7,
        required=True,
        help="Prepaid customers without auto top-up are warned once when their credit lasts "
        "fewer days than this at their average consumption of the last 30 days.",
    )

    _billing_topup_max_tries_positive = models.Constraint(
        "CHECK(billing_topup_max_tries >= 1)", "Top-up Tries must be at least 1."
    )
    _billing_topup_retry_hours_positive = models.Constraint(
        "CHECK(billing_topup_retry_hours >= 0)", "Top-up Retry Window cannot be negative."
    )
    _billing_low_balance_days_positive = models.Constraint(
        "CHECK(billing_low_balance_days >= 0)", "Low Balance Warning days cannot be negative."
    )
    billing_reminder_group = fields.Boolean(
        string="Group Reminders per Customer",
        help="Send one payment reminder e-mail per customer for all its invoices due a reminder "
        "the same day, instead of one e-mail per invoice.",
    )
    billing_statement_email = fields.Boolean(
        string="E-mail Monthly Statements",
        help="At the start of each month, e-mail every customer with a balance or an entry in "
        "the last month its statement of account for that month, with the PDF attached.",
    )
    billing_aging_limits = fields.Char(
        string="Aging Bucket Limits",
        default=DEFAULT_AGING_LIMITS,
        required=True,
        help="Upper day limits of the aged receivables buckets, comma separated: 30,60,90,120 "
        "gives Not due, 1-30, 31-60, 61-90, 91-120 and Over 120.",
    )

    billing_dunning_retry_days = fields.Char(
        string="Failed Charge Retries (days)",
        default="1,3,7",
        required=True,
        help="Days after an online subscription's failed card charge on which it is charged "
        "again, comma separated: 1,3,7 tries again 1, 3 and 7 days after the failure.",
    )
    billing_dunning_final_action = fields.Selection(
        [("pause", "Pause the subscription"), ("close", "Close the subscription")],
        string="After the Last Retry",
        default="pause",
        required=True,
        help="What happens to the subscription when the last retry of its charge fails.",
    )

    @api.constrains("billing_dunning_retry_days")
    def _check_billing_dunning_retry_days(self):
        for company in self:
            parse_dunning_days(self.env, company.billing_dunning_retry_days)

    @api.constrains("billing_aging_limits")
    def _check_billing_aging_limits(self):
        for company in self:
            parse_aging_limits(self.env, company.billing_aging_limits)
