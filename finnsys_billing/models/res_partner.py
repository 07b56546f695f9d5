from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain

from ..concurrency import serialize
from ..const import (
    BILLING_FIGURE_FIELDS,
    BILLING_MODES,
    BILLING_REMINDER_FIELDS,
    BILLING_SETTINGS_FIELDS,
    BILLING_STATES,
    BILLING_USER_GROUP,
)


class ResPartner(models.Model):
    _inherit = "res.partner"

    billing_mode = fields.Selection(
        BILLING_MODES,
        default=lambda self: self.env.company.billing_default_mode,
        tracking=True,
        help="Prepaid customers buy credit that their invoices consume; postpaid "
        "customers pay their invoices on terms.",
    )
    billing_payment_method = fields.Selection(
        [
            ("token", "Saved payment method"),
            ("bank_transfer", "Bank transfer"),
            ("other", "Other manual method"),
        ],
        string="Preferred Payment Method",
        default="bank_transfer",
        tracking=True,
    )
    billing_token_id = fields.Many2one(
        "payment.token",
        string="Saved Payment Method",
        domain="[('partner_id', 'child_of', commercial_partner_id)]",
        tracking=True,
        help="Card or bank account the customer saved; used for automatic top-ups.",
    )
    billing_topup_enabled = fields.Boolean(string="Auto Top-up", tracking=True)
    billing_topup_amount = fields.Monetary(
        string="Top-up Amount", currency_field="currency_id", tracking=True
    )
    billing_topup_threshold = fields.Monetary(
        string="Top-up Threshold",
        currency_field="currency_id",
        tracking=True,
        help="An automatic top-up is made when the balance falls to this amount or below.",
    )
    billing_topup_monthly_cap = fields.Monetary(
        string="Monthly Top-up Cap",
        currency_field="currency_id",
        tracking=True,
        help="Most that automatic top-ups may charge in a calendar month; 0 means no cap.",
    )
    billing_low_balance_notified = fields.Boolean(
        string="Low Balance Warning Sent",
        copy=False,
        help="Set when the low-balance e-mail is sent; cleared once the balance is healthy "
        "again, so the customer gets one warning per crossing.",
    )
    billing_daily_consumption = fields.Monetary(
        string="Average Daily Consumption",
        compute="_compute_billing_forecast",
        help="Posted customer invoices of the last 30 days, divided by 30.",
    )
    billing_days_left = fields.Integer(
        string="Days of Credit Left",
        compute="_compute_billing_forecast",
        help="Balance divided by the average daily consumption of the last 30 days.",
    )
    billing_reminder_promise_date = fields.Date(
        string="Promised to Pay By",
        tracking=True,
        help="No payment reminders are sent up to and including this date.",
    )
    billing_reminder_dispute = fields.Boolean(
        string="Invoices Disputed",
        tracking=True,
        help="No payment reminders are sent while the customer disputes its invoices.",
    )
    billing_reminder_opt_out = fields.Boolean(
        string="No Payment Reminders",
        tracking=True,
        help="The customer asked not to receive payment reminders; invoices are still sent.",
    )

    billing_receivable = fields.Monetary(compute="_compute_billing_figures")
    billing_balance = fields.Monetary(compute="_compute_billing_figures")
    billing_outstanding = fields.Monetary(compute="_compute_billing_figures")
    billing_overdue = fields.Monetary(compute="_compute_billing_figures")
    billing_unapplied_credit = fields.Monetary(
        string="Credit on Account",
        compute="_compute_billing_figures",
        help="Payments and credit notes not yet applied to an invoice.",
    )
    billing_open_count = fields.Integer(
        string="Open Invoices",
        compute="_compute_billing_figures",
        help="Invoices left to pay, without a payment under way that covers them.",
    )
    billing_open_total = fields.Monetary(
        string="Open Invoices Total", compute="_compute_billing_figures"
    )
    billing_in_progress = fields.Monetary(
        string="Payments in Progress",
        compute="_compute_billing_figures",
        help="What invoices still owe that payments under way (not yet booked) cover.",
    )
    billing_credit_limit = fields.Monetary(compute="_compute_billing_figures")
    billing_available = fields.Monetary(compute="_compute_billing_figures")
    billing_limit_enforced = fields.Boolean(compute="_compute_billing_figures")
    billing_state = fields.Selection(BILLING_STATES, compute="_compute_billing_figures")

    @api.model
    def _commercial_fields(self):
        # The billing account belongs to the company, not to each of its contacts.
        return super()._commercial_fields() + BILLING_SETTINGS_FIELDS + BILLING_REMINDER_FIELDS

    @api.depends_context("company")
    @api.depends("commercial_partner_id", "billing_mode", "billing_topup_threshold", "credit_limit")
    def _compute_billing_figures(self):
        figures = self.env["finnsys.billing.account"].finnsys_customer_figures(self)
        for partner in self:
            row = figures.get(partner.commercial_partner_id.id) or {}
            partner.billing_receivable = row.get("receivable", 0.0)
            partner.billing_balance = row.get("balance", 0.0)
            partner.billing_outstanding = row.get("outstanding", 0.0)
            partner.billing_overdue = row.get("overdue", 0.0)
            partner.billing_unapplied_credit = row.get("credit", 0.0)
            partner.billing_open_count = row.get("open_count", 0)
            partner.billing_open_total = row.get("open_total", 0.0)
            partner.billing_in_progress = row.get("in_progress", 0.0)
            partner.billing_credit_limit = row.get("credit_limit", 0.0)
            partner.billing_available = row.get("available") or 0.0
            partner.billing_limit_enforced = row.get("limit_enforced", False)
            partner.billing_state = row.get("billing_state", "ok")

    @api.constrains(
        "billing_topup_enabled",
        "billing_topup_amount",
        "billing_topup_threshold",
        "billing_token_id",
        "billing_payment_method",
    )
    def _check_billing_payment_settings(self):
        for partner in self.filtered(lambda p: p.commercial_partner_id == p):
            partner._check_billing_token()
            if partner.billing_topup_amount < 0 or (
                partner.billing_topup_enabled and partner.billing_topup_amount <= 0
            ):
                raise ValidationError(
                    self.env._(
                        "Top-up Amount of %(partner)s must be greater than zero.",
                        partner=partner.display_name,
                    )
                )
            limit = partner.credit_limit if self.env.company.account_use_credit_limit else 0.0
            if partner.currency_id.compare_amounts(partner.billing_topup_threshold, -limit) < 0:
                raise ValidationError(
                    self.env._(
                        "Top-up Threshold of %(partner)s cannot be below minus the credit limit "
                        "(%(floor)s): the account would be blocked before it is topped up.",
                        partner=partner.display_name,
                        floor=-limit,
                    )
                )
            if partner.billing_topup_enabled and not partner.billing_token_id:
                raise ValidationError(
                    self.env._(
                        "Auto Top-up of %(partner)s needs a Saved Payment Method to charge.",
                        partner=partner.display_name,
                    )
                )

    def _check_billing_token(self):
        token = self.sudo().billing_token_id
        if not token:
            if self.billing_payment_method == "token":
                raise ValidationError(
                    self.env._(
                        "Choose the Saved Payment Method of %(partner)s, or another preferred "
                        "payment method.",
                        partner=self.display_name,
                    )
                )
            return
        if token.partner_id.commercial_partner_id != self.commercial_partner_id:
            raise ValidationError(
                self.env._(
                    "Saved Payment Method %(token)s belongs to another customer than %(partner)s.",
                    token=token.display_name,
                    partner=self.display_name,
                )
            )
        if not token.active:
            raise ValidationError(
                self.env._(
                    "Saved Payment Method %(token)s is archived: choose an active one.",
                    token=token.display_name,
                )
            )

    @api.constrains(
        "billing_topup_enabled",
        "billing_topup_amount",
        "billing_topup_threshold",
        "billing_topup_monthly_cap",
    )
    def _check_billing_topup_target(self):
        for partner in self.filtered(lambda p: p.commercial_partner_id == p):
            currency = partner.currency_id
            amount = partner.billing_topup_amount
            if partner.billing_topup_enabled and (
                currency.compare_amounts(partner.billing_topup_threshold, amount) > 0
            ):
                raise ValidationError(
                    self.env._(
                        "Top-up Threshold of %(partner)s (%(threshold)s) is above its Top-up "
                        "Amount (%(amount)s): lower the threshold or raise the amount.",
                        partner=partner.display_name,
                        threshold=partner.billing_topup_threshold,
                        amount=amount,
                    )
                )
            cap = partner.billing_topup_monthly_cap
            if currency.compare_amounts(cap, 0) < 0 or (
                cap and currency.compare_amounts(cap, amount) < 0
            ):
                raise ValidationError(
                    self.env._(
                        "Monthly Top-up Cap of %(partner)s (%(cap)s) is below its Top-up Amount "
                        "(%(amount)s): raise the cap, or set it to 0 for no cap.",
                        partner=partner.display_name,
                        cap=cap,
                        amount=amount,
                    )
                )

    @api.depends_context("company")
    @api.depends("commercial_partner_id", "billing_mode")
    def _compute_billing_forecast(self):
        daily = self.env["finnsys.billing.forecast"]._daily_consumption(
            self.commercial_partner_id._origin, self.env.company
        )
        for partner in self:
            consumption = daily.get(partner.commercial_partner_id._origin.id, 0.0)
            partner.billing_daily_consumption = consumption
            partner.billing_days_left = partner._finnsys_days_left(consumption)

    def _finnsys_days_left(self, daily):
        balance = self.billing_balance
        if daily <= 0 or balance <= 0:
            return 0
        return int(balance // daily)

    def action_billing_topup_now(self):
        """Charge the top-up amount to the saved payment method now (billing users)."""
        self.ensure_one()
        if not self.env.user.has_group(BILLING_USER_GROUP):
            raise AccessError(self.env._("Only billing users can top up a customer."))
        attempt = self.env["finnsys.topup.attempt"].sudo()._charge_now(self)
        if attempt.state == "done":
            message, kind = self.env._("Top-up of %s done.", attempt.display_name), "success"
        elif attempt.next_try_at:
            message = self.env._(
                "Top-up declined: %(error)s. It is tried again at %(when)s.",
                error=attempt.error,
                when=attempt.next_try_at,
            )
            kind = "warning"
        elif attempt.state == "failed":
            message = self.env._(
                "Top-up failed: %(error)s. Auto top-up is switched off.", error=attempt.error
            )
            kind = "danger"
        else:
            message = self.env._("Top-up sent; the payment provider has not confirmed it yet.")
            kind = "info"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": kind,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _finnsys_check_topup_now(self):
        """The saved payment method to charge a top-up now, or a UserError saying what the
        Billing tab still lacks."""
        token = self.sudo().billing_token_id
        if self.billing_mode != "prepaid" or not token.active or self.billing_topup_amount <= 0:
            raise UserError(
                self.env._(
                    "Only a prepaid customer with an active Saved Payment Method and a Top-up "
                    "Amount can be topped up: complete the Billing tab of %(partner)s.",
                    partner=self.display_name,
                )
            )
        return token

    def write(self, vals):
        if "billing_mode" in vals and not self.env.context.get("finnsys_mode_switch"):
            # Contacts follow their company through the commercial sync; only the company's
            # own switch needs the wizard.
            changed = self.filtered(
                lambda p: p.billing_mode != vals["billing_mode"] and p.commercial_partner_id == p
            )
            if changed._finnsys_has_ledger():
                raise UserError(
                    self.env._(
                        "The billing mode of a customer with invoices or payments is changed with "
                        "the Switch Billing Mode button, which records the reason."
                    )
                )
        return super().write(vals)

    def _finnsys_has_ledger(self):
        if not self:
            return False
        return bool(
            self.env["account.move.line"]
            .sudo()
            .search_count(
                Domain("partner_id", "child_of", self.ids) & Domain("parent_state", "=", "posted"),
                limit=1,
            )
        )

    @api.model
    def _finnsys_invalidate_figures(self):
        """Drop cached billing figures after the ledger moved, or before reading them fresh.

        The figures are computed from the ledger on read and depend on no field the ORM
        tracks, so whatever posts, cancels or reconciles entries calls this, and whatever
        must read them as committed now (a withdrawal, a receipt) calls it first.
        """
        self.env["res.partner"].invalidate_model(BILLING_FIGURE_FIELDS)

    def _finnsys_credit_lines(self, company, accounts):
        """The customer's unapplied credits (payments, credit notes) on ``accounts`` in
        ``company``, oldest first: what a new invoice or a withdrawal consumes."""
        self.ensure_one()
        return self.env["account.move.line"].search(
            Domain("partner_id", "child_of", self.commercial_partner_id.id)
            & Domain("account_id", "in", accounts.ids)
            & Domain("company_id", "=", company.id)
            & Domain("parent_state", "=", "posted")
            & Domain("reconciled", "=", False)
            & Domain("amount_residual", "<", 0),
            order="date, id",
        )

    def finnsys_lock_customers(self):
        """Serialize credit decisions on these customers' commercial partners.

        Public: call it before reading a customer's figures to decide on a charge or a
        posting (the credit check, a portal payment, a withdrawal).

        Odoo runs transactions in REPEATABLE READ: a plain ``SELECT ... FOR UPDATE`` would wait
        for a concurrent posting but then check against a snapshot that does not show it. A
        no-op UPDATE makes the second transaction fail with a serialization error instead,
        which Odoo retries with a fresh snapshot, so the second check sees the first invoice.
        """
        serialize(self.env, "res_partner", self.commercial_partner_id.ids)

    def action_open_billing_ledger(self):
        self.ensure_one()
        partner = self.commercial_partner_id
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Ledger of %s", partner.display_name),
            "res_model": "account.move.line",
            "view_mode": "list,form",
            "domain": [
                ("partner_id", "child_of", partner.id),
                ("account_id.account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
            ],
            "context": {"search_default_group_by_move": 0, "create": False},
        }

    def action_open_billing_mode_switch(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Switch Billing Mode"),
            "res_model": "finnsys.billing.mode.switch",
            "view_mode": "form",
            "target": "new",
            "context": {"default_partner_id": self.commercial_partner_id.id},
        }
