"""Constants shared by several files of the addon (selections, defaults, field lists)."""

BILLING_MODES = [("prepaid", "Prepaid"), ("postpaid", "Postpaid")]

BILLING_STATES = [
    ("ok", "OK"),
    ("low_balance", "Low balance"),
    ("over_limit", "Over limit"),
]

DEFAULT_AGING_LIMITS = "30,60,90,120"
MAX_AGING_LIMITS = 9

# Days of posted invoices the average daily consumption is measured over.
CONSUMPTION_DAYS = 30

# The partner's figures, computed from the ledger on read (``_finnsys_invalidate_figures``).
BILLING_FIGURE_FIELDS = [
    "billing_receivable",
    "billing_balance",
    "billing_outstanding",
    "billing_overdue",
    "billing_unapplied_credit",
    "billing_open_count",
    "billing_open_total",
    "billing_in_progress",
    "billing_credit_limit",
    "billing_available",
    "billing_limit_enforced",
    "billing_state",
]
# What the SQL of ``finnsys.billing.account`` reads, by model: flushed before it runs.
FIGURES_READ_FIELDS = {
    "account.move.line": [
        "amount_residual",
        "reconciled",
        "parent_state",
        "account_id",
        "company_id",
        "partner_id",
        "date_maturity",
        "date",
    ],
    "account.account": ["account_type"],
    "res.partner": [
        "commercial_partner_id",
        "billing_mode",
        "billing_topup_enabled",
        "billing_topup_threshold",
        "credit_limit",
        "active",
        "customer_rank",
        "company_id",
        "name",
    ],
}
# Settings held by the commercial partner and synchronised to its contacts.
BILLING_SETTINGS_FIELDS = [
    "billing_mode",
    "billing_payment_method",
    "billing_token_id",
    "billing_topup_enabled",
    "billing_topup_amount",
    "billing_topup_threshold",
    "billing_topup_monthly_cap",
]
BILLING_REMINDER_FIELDS = [
    "billing_reminder_promise_date",
    "billing_reminder_dispute",
    "billing_reminder_opt_out",
]

# Payment transactions that failed: nothing is in flight, a new charge may be made.
FAILED_TX_STATES = ("error", "cancel")

BILLING_USER_GROUP = "finnsys_billing.group_billing_user"
BILLING_MANAGER_GROUP = "finnsys_billing.group_billing_manager"
