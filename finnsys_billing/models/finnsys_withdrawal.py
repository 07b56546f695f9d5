from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import format_amount

from ..concurrency import lock_or_refuse, lock_rows
from ..const import BILLING_MANAGER_GROUP

WITHDRAWAL_STATES = [
    ("requested", "Requested"),
    ("approved", "Approved"),
    ("paid", "Paid"),
    ("cancelled", "Cancelled"),
]
ALLOWED_TRANSITIONS = {
    "requested": {"approved", "cancelled"},
    "approved": {"paid", "cancelled"},
}
# Fields only the workflow methods set (they write them in sudo after their own checks).
WORKFLOW_FIELDS = {
    "state",
    "requested_by",
    "approved_by",
    "approved_on",
    "payment_id",
    "refund_transaction_id",
}
# Fields that may still change in these states; the amount is frozen once approved.
EDITABLE_IN_STATES = {
    "partner_id": {"requested"},
    "company_id": {"requested"},
    "amount": {"requested"},
    "journal_id": {"requested", "approved"},
    "close_account": {"requested", "approved"},
    "source_transaction_id": {"requested", "approved"},
}


class FinnsysWithdrawal(models.Model):
    _name = "finnsys.withdrawal"
    _description = "Customer credit withdrawal"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference",
        required=True,
        readonly=True,
        copy=False,
        default=lambda self: self.env._("New"),
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        check_company=True,
        tracking=True,
        help="The customer's company: contacts are replaced by it.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    currency_id = fields.Many2one(related="company_id.currency_id", store=True)
    amount = fields.Monetary(currency_field="currency_id", required=True, tracking=True)
    available_amount = fields.Monetary(
        string="Withdrawable Credit",
        currency_field="currency_id",
        compute="_compute_available_amount",
        help="Credit not yet applied to invoices, never more than the balance: what the "
        "customer may get back now.",
    )
    journal_id = fields.Many2one(
        "account.journal",
        required=True,
        check_company=True,
        tracking=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
        compute="_compute_journal_id",
        store=True,
        readonly=False,
        precompute=True,
        help="Bank or cash journal the money is paid from; the company's first bank journal "
        "unless you choose another.",
    )
    reason = fields.Text()
    state = fields.Selection(
        WITHDRAWAL_STATES,
        required=True,
        default="requested",
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    requested_by = fields.Many2one(
        "res.users",
        readonly=True,
        copy=False,
        default=lambda self: self.env.user,
    )
    approved_by = fields.Many2one("res.users", readonly=True, copy=False, tracking=True)
    approved_on = fields.Datetime(readonly=True, copy=False)
    payment_id = fields.Many2one(
        "account.payment",
        readonly=True,
        copy=False,
        check_company=True,
    )
    source_transaction_id = fields.Many2one(
        "payment.transaction",
        string="Refund to the Card of",
        tracking=True,
        check_company=True,
        domain="[('partner_id', 'child_of', partner_id), ('state', '=', 'done'), "
        "('operation', 'not in', ('refund', 'validation')), ('amount', '>', 0)]",
        help="Pay the money back through the payment provider of this payment, up to what it "
        "brought in; empty: by bank from the Journal.",
    )
    refund_transaction_id = fields.Many2one(
        "payment.transaction",
        readonly=True,
        copy=False,
        check_company=True,
    )
    close_account = fields.Boolean(
        string="Close the Account",
        tracking=True,
        help="On payment, turn off the customer's automatic top-up.",
    )

    @api.depends("company_id")
    def _compute_journal_id(self):
        Payment = self.env["account.payment"]
        for withdrawal in self:
            if withdrawal.journal_id.company_id != withdrawal.company_id:
                withdrawal.journal_id = Payment._finnsys_payout_journal(withdrawal.company_id)

    @api.depends("partner_id", "company_id")
    def _compute_available_amount(self):
        for withdrawal in self:
            withdrawal.available_amount = withdrawal._withdrawable_credit()

    def _withdrawable_credit(self):
        """Credit the customer can get back, read from the ledger now.

        Only real credit (payments and credit notes not yet applied) counts, never the
        credit limit, and never more than the net balance: credit that open invoices will
        consume is not the customer's to take back.
        """
        self.ensure_one()
        if not self.partner_id or not self.company_id:
            return 0.0
        partner = self.partner_id.commercial_partner_id.with_company(self.company_id)
        # The figures are not tied to any stored field: drop what an earlier read cached.
        partner._finnsys_invalidate_figures()
        return min(partner.billing_unapplied_credit, max(partner.billing_balance, 0.0))

    @api.constrains("amount", "partner_id", "company_id", "journal_id", "source_transaction_id")
    def _check_withdrawal_values(self):
        for withdrawal in self:
            if withdrawal.currency_id.compare_amounts(withdrawal.amount, 0.0) <= 0:
                raise ValidationError(
                    self.env._(
                        "The Amount of a withdrawal must be greater than zero, not %(amount)s.",
                        amount=format_amount(self.env, withdrawal.amount, withdrawal.currency_id),
                    )
                )
            if not withdrawal.partner_id or not withdrawal.journal_id:
                raise ValidationError(
                    self.env._(
                        "Choose the Customer of the withdrawal and the Journal it is paid from."
                    )
                )
            self.env["account.payment"]._finnsys_check_payout_journal(
                withdrawal.journal_id, withdrawal.company_id
            )
            if withdrawal.state == "requested":
                withdrawal._check_withdrawable()
            if withdrawal.source_transaction_id and withdrawal.state in ("requested", "approved"):
                withdrawal.source_transaction_id._finnsys_check_refund_source(withdrawal)

    def _check_withdrawable(self):
        for withdrawal in self:
            available = withdrawal._withdrawable_credit()
            if withdrawal.currency_id.compare_amounts(withdrawal.amount, available) > 0:
                raise ValidationError(
                    self.env._(
                        "The Amount to withdraw (%(amount)s) is more than the credit %(partner)s "
                        "can withdraw (%(available)s): only payments and credit notes not yet "
                        "applied, net of open invoices, can be paid back.",
                        amount=format_amount(self.env, withdrawal.amount, withdrawal.currency_id),
                        partner=withdrawal.partner_id.display_name,
                        available=format_amount(self.env, available, withdrawal.currency_id),
                    )
                )

    def _check_manager(self):
        if not self.env.user.has_group(BILLING_MANAGER_GROUP):
            raise AccessError(
                self.env._(
                    "Only a billing manager may approve, pay or cancel an approved withdrawal."
                )
            )

    def _check_transition(self, new_state):
        labels = dict(WITHDRAWAL_STATES)
        for withdrawal in self:
            if new_state not in ALLOWED_TRANSITIONS.get(withdrawal.state, ()):
                raise UserError(
                    self.env._(
                        "Withdrawal %(name)s is %(state)s: it cannot become %(new_state)s.",
                        name=withdrawal.name,
                        state=labels[withdrawal.state],
                        new_state=labels[new_state],
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            for vals in vals_list:
                if vals.get("state", "requested") != "requested" or any(
                    vals.get(fname) for fname in WORKFLOW_FIELDS - {"state", "requested_by"}
                ):
                    raise UserError(
                        self.env._(
                            "A withdrawal starts as a request; approve and pay it with the buttons."
                        )
                    )
        for vals in vals_list:
            self._normalize_partner(vals)
            # Refuse a bad request before anything is written, sequence number included.
            self.new(self._add_missing_default_values(vals))._check_withdrawal_values()
            company = self.env["res.company"].browse(vals.get("company_id")) or self.env.company
            vals["name"] = self.env["ir.sequence"].with_company(company).sudo().next_by_code(
                "finnsys.withdrawal"
            ) or self.env._("New")
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and WORKFLOW_FIELDS & set(vals):
            raise UserError(
                self.env._(
                    "The state of a withdrawal changes only through its Approve, Pay and Cancel "
                    "buttons."
                )
            )
        if "state" in vals:
            self._check_transition(vals["state"])
        self._check_editable(vals)
        self._normalize_partner(vals)
        return super().write(vals)

    def _check_editable(self, vals):
        for fname in set(vals) & set(EDITABLE_IN_STATES):
            frozen = self.filtered(lambda w, f=fname: w.state not in EDITABLE_IN_STATES[f])
            if frozen:
                raise UserError(
                    self.env._(
                        "The %(field)s of withdrawal %(name)s cannot change once it is %(state)s.",
                        field=self._fields[fname].get_description(self.env)["string"],
                        name=frozen[0].name,
                        state=dict(WITHDRAWAL_STATES)[frozen[0].state],
                    )
                )

    def _normalize_partner(self, vals):
        # Credit is held by the commercial partner, so the withdrawal belongs to it.
        if vals.get("partner_id"):
            partner = self.env["res.partner"].browse(vals["partner_id"])
            vals["partner_id"] = partner.commercial_partner_id.id

    @api.ondelete(at_uninstall=False)
    def _unlink_only_requested_or_cancelled(self):
        for withdrawal in self:
            if withdrawal.state not in ("requested", "cancelled"):
                raise UserError(
                    self.env._(
                        "Withdrawal %(name)s is %(state)s: only requested or cancelled withdrawals "
                        "can be deleted; cancel it instead.",
                        name=withdrawal.name,
                        state=dict(WITHDRAWAL_STATES)[withdrawal.state],
                    )
                )

    def action_approve(self):
        self._check_manager()
        self._check_transition("approved")
        self._check_withdrawable()
        self.sudo().write(
            {
                "state": "approved",
                "approved_by": self.env.user.id,
                "approved_on": fields.Datetime.now(),
            }
        )
        return True

    def action_cancel(self):
        if "approved" in self.mapped("state"):
            self._check_manager()
        self._check_no_live_refund()
        self._check_transition("cancelled")
        self.sudo().write({"state": "cancelled"})
        return True

    def action_pay(self):
        """Pay the approved withdrawals back to their customers.

        The rows are locked first and their state read again, so a second click (or a second
        user) cannot pay the same withdrawal twice; the customers are locked like for an
        invoice posting, so the credit checked here cannot be consumed at the same time.
        """
        self._check_manager()
        lock_or_refuse(
            self.env,
            self._table,
            self.ids,
            self.env._("This withdrawal is already being paid: reload the page in a moment."),
        )
        self.invalidate_recordset(["state", "payment_id"])
        for withdrawal in self:
            if withdrawal.state == "paid" or withdrawal.payment_id:
                raise UserError(
                    self.env._("Withdrawal %(name)s is already paid.", name=withdrawal.name)
                )
        self._check_no_live_refund()
        self._check_transition("paid")
        self.partner_id.finnsys_lock_customers()
        self._check_withdrawable()
        for withdrawal in self:
            if withdrawal.source_transaction_id:
                withdrawal.source_transaction_id._finnsys_check_refund_source(withdrawal)
                # Paid when the provider confirms the refund (``_book_provider_refund``).
                withdrawal.source_transaction_id._finnsys_send_refund(withdrawal)
            else:
                withdrawal._pay()
        return True

    def _check_no_live_refund(self):
        self.invalidate_recordset(["refund_transaction_id"])
        self.refund_transaction_id._finnsys_check_no_live_refund()

    def _book_provider_refund(self, payment):
        """Book ``payment``, the provider's confirmed refund, as this withdrawal's payment.

        Called while the refund transaction's row is locked; the withdrawal's row is locked
        too, and a withdrawal already paid is left alone, so it is booked once.
        """
        self.ensure_one()
        lock_rows(self.env, self._table, self.ids)
        self.invalidate_recordset(["state", "payment_id"])
        if self.state != "approved" or self.payment_id:
            return False
        # The money has left: match what credit is still there, never refuse the booking.
        self._after_payment(payment, strict=False)
        return True

    def _pay(self):
        self.ensure_one()
        payment = self.env["account.payment"]._finnsys_create_payout(
            self.partner_id.commercial_partner_id, self.amount, self.journal_id, self.name
        )
        self._after_payment(payment)

    def _after_payment(self, payment, strict=True):
        """Match the customer's credit with ``payment``, the money paid back (``strict``:
        refuse when it does not cover it all), and mark this withdrawal paid by it."""
        partner = self.partner_id.commercial_partner_id
        payment._finnsys_reconcile_with_credit(partner, self.name, strict=strict)
        self.sudo().write({"state": "paid", "payment_id": payment.id})
        if self.close_account and partner.billing_topup_enabled:
            # The manager may lack partner rights; this is a consequence of the payment.
            partner.sudo().billing_topup_enabled = False
        amount = format_amount(self.env, self.amount, self.currency_id)
        self.message_post(
            body=self.env._(
                "Paid %(amount)s back to the customer with %(payment)s.",
                amount=amount,
                payment=payment.display_name,
            )
        )
        note = self.env._(
            "Withdrawal %(name)s: %(amount)s of unused credit paid back by %(user)s.",
            name=self.name,
            amount=amount,
            user=self.env.user.name,
        )
        if self.close_account:
            note += " " + self.env._("The account was closed: auto top-up is off.")
        partner.sudo().message_post(body=note)

    def action_open_payment(self):
        self.ensure_one()
        return self.payment_id._get_records_action()
