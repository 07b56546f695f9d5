from odoo import api, fields, models
from odoo.exceptions import RedirectWarning, UserError, ValidationError
from odoo.fields import Domain

from ..concurrency import lock_rows
from .finnsys_subscription_period import BATCH_SIZE

SUBSCRIPTION_STATES = [
    ("draft", "Draft"),
    ("active", "Active"),
    ("paused", "Paused"),
    ("cancelled", "Cancelled"),
    ("closed", "Closed"),
]
CANCEL_REASONS = [
    ("too_expensive", "Too expensive"),
    ("not_used", "Not using it enough"),
    ("missing_features", "Missing features"),
    ("switching", "Moving to another provider"),
    ("other", "Other reason"),
]


class ContractContract(models.Model):
    """A subscription: a customer contract created from a plan (``contract_template_id``)."""

    _inherit = "contract.contract"

    subscription_state = fields.Selection(
        SUBSCRIPTION_STATES,
        string="Subscription Status",
        default="draft",
        required=True,
        copy=False,
        index=True,
        tracking=True,
        group_expand=True,
    )
    subscription_payment = fields.Selection(
        [("online", "Online"), ("offline", "Offline")],
        string="Payment Collection",
        default="offline",
        required=True,
        tracking=True,
        help="Online: the invoice is paid automatically from the customer's credit. "
        "Offline: the invoice is sent and the customer pays it from the portal.",
    )
    subscription_ends_on = fields.Date(
        string="Service Ends On", readonly=True, copy=False, tracking=True
    )
    subscription_cancel_reason = fields.Selection(
        CANCEL_REASONS, string="Cancellation Reason", copy=False, tracking=True
    )
    subscription_cancel_note = fields.Text(string="Cancellation Comment", copy=False)
    subscription_cancelled_from = fields.Selection(
        SUBSCRIPTION_STATES,
        copy=False,
        readonly=True,
        help="Status before a cancellation at period end, restored by undoing it; empty after "
        "a cancellation now, which cannot be undone.",
    )
    subscription_token_id = fields.Many2one(
        "payment.token",
        string="Pays With",
        copy=False,
        tracking=True,
        domain="[('partner_id', 'child_of', commercial_partner_id)]",
        help="Saved payment method charged for this subscription; empty: the customer's "
        "default saved payment method.",
    )
    # A plan's switch list; on a subscription, the list of its current plan.
    finnsys_switch_plan_ids = fields.Many2many(
        related="contract_template_id.finnsys_switch_plan_ids"
    )
    subscription_period_ids = fields.One2many(
        "finnsys.subscription.period", "contract_id", string="Billed Periods", readonly=True
    )
    # Read by the subscription metrics and the dunning of failed charges.
    subscription_paused_on = fields.Date(string="Paused On", readonly=True, copy=False)
    subscription_resumed_on = fields.Date(string="Resumed On", readonly=True, copy=False)
    subscription_dunning_ids = fields.One2many(
        "finnsys.subscription.dunning", "contract_id", string="Failed Charges", readonly=True
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            plan = self.env["contract.template"].browse(vals.get("contract_template_id"))
            if plan and not vals.get("contract_line_ids"):
                plan._finnsys_fill_subscription(vals)
        return super().create(vals_list)

    # Constraints ------------------------------------------------------------------------

    @api.constrains("date_start", "date_end")
    def _check_subscription_dates(self):
        for contract in self:
            if (
                contract.date_start
                and contract.date_end
                and contract.date_start > contract.date_end
            ):
                raise ValidationError(
                    self.env._(
                        "%(contract)s starts on %(start)s, after its end date %(end)s: "
                        "choose a start date on or before the end date.",
                        contract=contract.display_name,
                        start=contract.date_start,
                        end=contract.date_end,
                    )
                )

    @api.constrains("partner_id", "company_id")
    def _check_subscription_partner_company(self):
        for contract in self:
            partner_company = contract.partner_id.commercial_partner_id.company_id
            if partner_company and partner_company != contract.company_id:
                raise ValidationError(
                    self.env._(
                        "%(partner)s is a customer of %(other)s, not of %(company)s: "
                        "subscribe it in its own company.",
                        partner=contract.partner_id.display_name,
                        other=partner_company.name,
                        company=contract.company_id.name,
                    )
                )

    # Status -----------------------------------------------------------------------------

    def _finnsys_check_state(self, allowed, action):
        for contract in self:
            if contract.subscription_state not in allowed:
                state = dict(SUBSCRIPTION_STATES)[contract.subscription_state]
                raise ValidationError(
                    self.env._(
                        "%(contract)s is %(state)s and cannot be %(action)s.",
                        contract=contract.display_name,
                        state=state.lower(),
                        action=action,
                    )
                )

    def action_subscription_activate(self):
        self._finnsys_check_state(("draft",), self.env._("activated"))
        self.subscription_state = "active"

    def action_subscription_pause(self):
        self._finnsys_check_state(("active",), self.env._("paused"))
        self.write(
            {
                "subscription_state": "paused",
                "subscription_paused_on": fields.Date.context_today(self),
                "subscription_resumed_on": False,
            }
        )

    def action_subscription_resume(self):
        """Resume billing where it stopped: no period is skipped."""
        closed = self.filtered(lambda c: c.subscription_state == "closed")
        if closed:
            raise ValidationError(
                self.env._(
                    "%(contract)s is closed and cannot be resumed: create a new subscription.",
                    contract=closed[0].display_name,
                )
            )
        self._finnsys_check_state(("paused",), self.env._("resumed"))
        self.write(
            {
                "subscription_state": "active",
                "subscription_resumed_on": fields.Date.context_today(self),
            }
        )

    def action_subscription_cancel_at_period_end(self, reason=False, note=False):
        """Stop billing; the service runs to the end of the period already invoiced.

        :param reason: a key of ``CANCEL_REASONS``, or False
        :param note: the customer's own words, or False
        """
        self.env["finnsys.subscription.change"]._cancel_at_period_end(self, reason, note)

    def finnsys_can_undo_cancel(self):
        """Whether this cancellation at period end may still be undone: until its last day."""
        self.ensure_one()
        return bool(
            self.subscription_state == "cancelled"
            and self.subscription_cancelled_from
            and self.subscription_ends_on
            and fields.Date.context_today(self) <= self.subscription_ends_on
        )

    def action_subscription_undo_cancel(self):
        """Undo a cancellation at period end before the period ends: billing goes on from the
        next period as if nothing happened."""
        self.env["finnsys.subscription.change"]._undo_cancel(self)

    def action_subscription_cancel_now(self):
        """Stop billing and the service today, crediting the unused days of the period."""
        self.env["finnsys.subscription.change"]._cancel_now(self)

    def action_subscription_close(self):
        self._finnsys_check_state(("draft", "active", "paused", "cancelled"), self.env._("closed"))
        self.filtered(
            lambda c: not c.subscription_ends_on
        ).subscription_ends_on = fields.Date.context_today(self)
        self.subscription_state = "closed"

    # Invoicing --------------------------------------------------------------------------

    @api.model
    def _get_contracts_to_invoice_domain(self, date_ref=None):
        # Subscriptions are invoiced by the FinnSys cron, period by period, exactly once.
        return super()._get_contracts_to_invoice_domain(date_ref) & Domain(
            "contract_template_id", "=", False
        )

    def _prepare_invoice(self, date_invoice, journal=None):
        vals = super()._prepare_invoice(date_invoice, journal=journal)
        if self.contract_template_id:
            vals.update(plan_id=self.contract_template_id.id, subscription_id=self.id)
        return vals

    def recurring_create_invoice(self):
        if self.contract_template_id and self.subscription_state != "active":
            raise UserError(
                self.env._(
                    "Only active subscriptions are invoiced; %(contract)s is %(state)s.",
                    contract=self.display_name,
                    state=dict(SUBSCRIPTION_STATES)[self.subscription_state].lower(),
                )
            )
        invoices = super().recurring_create_invoice()
        Dunning = self.env["finnsys.subscription.dunning"]
        Dunning._charge(Dunning._pending_charges(invoices))
        return invoices

    def _recurring_create_invoice(self, date_ref=False):
        """Contracts are invoiced as the OCA's; each active subscription on its own, for its
        next period at that period's date: locked (waiting for another process invoicing
        it), then invoiced by ``_finnsys_invoice_locked``."""
        subscriptions = self.filtered("contract_template_id")
        others = self - subscriptions
        moves = self.env["account.move"]
        if others:
            moves = super(ContractContract, others)._recurring_create_invoice(date_ref)
        for subscription in subscriptions:
            subscription._finnsys_lock_for_invoicing(nowait=False)
            moves |= subscription._finnsys_invoice_locked()
        return moves

    def _finnsys_invoice_next_period(self, nowait=False, due_by=None):
        """Invoice the next period of this subscription unless it is already invoiced.

        :param nowait: raise ``LockNotAvailable`` instead of waiting when another process is
            invoicing this subscription (the cron skips it; a click waits for it)
        :param due_by: invoice only a period due by this date (the cron's today); another
            process may have invoiced the due one since this one read the subscription
        :return: the posted invoice, or an empty recordset (period already claimed by another
            run, nothing due, or posting refused and the subscription paused)
        """
        self.ensure_one()
        self._finnsys_lock_for_invoicing(nowait)
        if due_by and not (self.recurring_next_date and self.recurring_next_date <= due_by):
            return self.env["account.move"]
        return self._finnsys_invoice_locked()

    def _finnsys_invoice_locked(self):
        """Invoice the next period of this subscription, whose row this transaction has just
        locked and read again (``_finnsys_lock_for_invoicing``): the lock is taken once per
        invoicing, by the caller, which decides whether to wait for it.

        Only an active subscription is invoiced; its period is claimed once, the invoice
        posted, then sent or charged. A refused posting rolls back this subscription alone
        and pauses it.

        :return: the posted invoice, or an empty recordset
        """
        self.ensure_one()
        moves = self.env["account.move"]
        if self.subscription_state != "active":
            return moves
        try:
            with self.env.cr.savepoint():
                period = self.env["finnsys.subscription.period"]._claim_next(self)
                if not period:
                    return moves
                # The OCA's invoicing of this one subscription, not this class's loop.
                invoice = super()._recurring_create_invoice()  # pylint: disable=super-method-mismatch
                period.sudo().move_id = invoice[:1]
                invoice.action_post()
        except (UserError, RedirectWarning) as error:
            self.env["finnsys.subscription.dunning"]._posting_refused(self, error)
            return moves
        self.env["finnsys.subscription.dunning"]._collect(self, invoice)
        return invoice

    def _finnsys_lock_for_invoicing(self, nowait):
        """Lock the subscription's row: the first lock every invoicing of it takes, once
        (the cron's ``_finnsys_invoice_next_period`` or a click's ``_recurring_create_invoice``).

        The period claim, the customer's credit check and the journal's invoice number come
        after it, in that order, on every path, so two processes never wait on each other in
        opposite orders. What the row says now wins over what this process read before: the
        subscription and its lines are read again. With ``nowait``, a subscription another
        process holds raises one of ``BUSY_ERRORS`` (the cron skips it).
        """
        self.flush_recordset()
        lock_rows(self.env, self._table, self.ids, nowait=nowait)
        self.invalidate_recordset()
        self.contract_line_ids.invalidate_recordset()

    @api.model
    def _cron_invoice_subscriptions(self, batch_size=BATCH_SIZE):
        """Invoice the due periods of active subscriptions, each in a transaction of its own.

        Safe to run twice at once, on two servers or beside a *Create invoice* click: a
        subscription another process is invoicing is skipped, each period is claimed before
        its invoice is created, and each invoice is committed alone, so the journal's numbering
        lock is held for one invoice and a failure loses no other invoice.
        """
        self.env["finnsys.subscription.period"]._cron_invoice_due(batch_size)

    # Payment ----------------------------------------------------------------------------

    def finnsys_payment_token(self):
        """The saved token that pays this subscription (sudo): its own while active, else the
        customer's default saved payment method; empty when neither is set."""
        self.ensure_one()
        own = self.sudo().subscription_token_id
        return own if own.active else self.commercial_partner_id.sudo().billing_token_id

    @api.constrains("subscription_token_id", "partner_id")
    def _check_subscription_token(self):
        for contract in self.sudo().filtered("subscription_token_id"):
            token = contract.subscription_token_id
            if token.partner_id.commercial_partner_id != contract.commercial_partner_id:
                raise ValidationError(
                    self.env._(
                        "Saved payment method %(token)s belongs to another customer than "
                        "%(contract)s: choose one of %(customer)s.",
                        token=token.display_name,
                        contract=contract.display_name,
                        customer=contract.commercial_partner_id.display_name,
                    )
                )
            if token.provider_id.company_id != contract.company_id:
                raise ValidationError(
                    self.env._(
                        "Saved payment method %(token)s is for another company's payment "
                        "provider: choose one saved with %(company)s.",
                        token=token.display_name,
                        company=contract.company_id.name,
                    )
                )

    def finnsys_set_payment_token(self, token):
        """Pay this subscription with ``token`` from now on (empty: the customer's default)."""
        self.ensure_one()
        self.subscription_token_id = token
        self.message_post(
            body=self.env._("Now paid with %s.", token.sudo().display_name)
            if token
            else self.env._("Now paid with the customer's default saved payment method.")
        )

    # Plan change ------------------------------------------------------------------------

    def _finnsys_period_at(self, day):
        """The invoiced period ``day`` falls in (empty if none): the one a change prorates."""
        return self.env["finnsys.subscription.period"]._invoiced_at(self, day)

    def finnsys_plan_change_preview(self, new_plan, day):
        """What changing to ``new_plan`` on ``day`` posts: the figures of the backend wizard
        and of the portal, computed as ``action_subscription_change_plan`` posts them.

        :return: dict with ``period_start`` and ``period_end`` (the invoiced period ``day``
            falls in, False when none), ``days`` (left, ``day`` included), ``credit`` and
            ``invoice`` (untaxed amounts of the credit note and of the new invoice, zeros
            outside an invoiced period, as nothing is prorated then), ``net`` (invoice less
            credit) and ``next_date`` (first full period of the new plan)
        """
        self.ensure_one()
        return self.env["finnsys.subscription.change"]._plan_change_preview(self, new_plan, day)

    def _finnsys_check_plan_change(self, new_plan):
        """Refuse a change to ``new_plan`` that the subscription cannot make."""
        self.ensure_one()
        self.env["finnsys.subscription.change"]._check_plan_change(self, new_plan)

    def action_subscription_change_plan(self, new_plan, day=None):
        """Move the subscription to ``new_plan`` from ``day`` (today by default).

        The unused days of the invoiced period are credited on the old plan and invoiced on
        the new one; the new plan's own periods start after the current period ends.
        """
        self.ensure_one()
        day = day or fields.Date.context_today(self)
        return self.env["finnsys.subscription.change"]._change_plan(self, new_plan, day)
