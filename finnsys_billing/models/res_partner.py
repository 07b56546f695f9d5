from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL

from .finnsys_billing_account import BILLING_STATES
from .res_company import BILLING_MODES

BILLING_FIGURE_FIELDS = [
    "billing_receivable",
    "billing_balance",
    "billing_outstanding",
    "billing_overdue",
    "billing_unapplied_credit",
    "billing_credit_limit",
    "billing_available",
    "billing_limit_enforced",
    "billing_state",
]
BILLING_SETTINGS_FIELDS = [
    "billing_mode",
    "billing_payment_method",
    "billing_token_id",
    "billing_topup_enabled",
    "billing_topup_amount",
    "billing_topup_threshold",
]


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

    billing_receivable = fields.Monetary(compute="_compute_billing_figures")
    billing_balance = fields.Monetary(compute="_compute_billing_figures")
    billing_outstanding = fields.Monetary(compute="_compute_billing_figures")
    billing_overdue = fields.Monetary(compute="_compute_billing_figures")
    billing_unapplied_credit = fields.Monetary(compute="_compute_billing_figures")
    billing_credit_limit = fields.Monetary(compute="_compute_billing_figures")
    billing_available = fields.Monetary(compute="_compute_billing_figures")
    billing_limit_enforced = fields.Boolean(compute="_compute_billing_figures")
    billing_state = fields.Selection(
        BILLING_STATES, string="Billing State", compute="_compute_billing_figures"
    )

    @api.model
    def _commercial_fields(self):
        # The billing account belongs to the company, not to each of its contacts.
        return super()._commercial_fields() + BILLING_SETTINGS_FIELDS

    @api.depends_context("company")
    @api.depends("commercial_partner_id", "billing_mode", "billing_topup_threshold", "credit_limit")
    def _compute_billing_figures(self):
        figures = self.env["finnsys.billing.account"]._figures_for(self)
        for partner in self:
            row = figures.get(partner.commercial_partner_id.id) or {}
            partner.billing_receivable = row.get("receivable", 0.0)
            partner.billing_balance = row.get("balance", 0.0)
            partner.billing_outstanding = row.get("outstanding", 0.0)
            partner.billing_overdue = row.get("overdue", 0.0)
            partner.billing_unapplied_credit = row.get("unapplied_credit", 0.0)
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

    def write(self, vals):
        if "billing_mode" in vals and not self.env.context.get("finnsys_mode_switch"):
            # Contacts follow their company through the commercial sync; only the company's
            # own switch needs the wizard.
            changed = self.filtered(
                lambda p: p.billing_mode != vals["billing_mode"] and p.commercial_partner_id == p
            )
            if changed._billing_has_ledger():
                raise UserError(
                    self.env._(
                        "The billing mode of a customer with invoices or payments is changed with "
                        "the Switch Billing Mode button, which records the reason."
                    )
                )
        return super().write(vals)

    def _billing_has_ledger(self):
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
    def _billing_invalidate_figures(self):
        """Drop cached billing figures after the ledger moved.

        The figures are computed from the ledger on read and depend on no field the ORM
        tracks, so whatever posts, cancels or reconciles entries calls this.
        """
        self.env["res.partner"].invalidate_model(BILLING_FIGURE_FIELDS)

    def _billing_lock(self):
        """Serialize credit decisions on these commercial partners.

        Odoo runs transactions in REPEATABLE READ: a plain ``SELECT ... FOR UPDATE`` would wait
        for a concurrent posting but then check against a snapshot that does not show it. A
        no-op UPDATE makes the second transaction fail with a serialization error instead,
        which Odoo retries with a fresh snapshot, so the second check sees the first invoice.
        """
        if self:
            self.env.cr.execute(
                SQL(
                    "UPDATE res_partner SET write_date = write_date WHERE id IN %s",
                    tuple(sorted(self.commercial_partner_id.ids)),
                )
            )

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
