from datetime import timedelta

from markupsafe import Markup
from psycopg2.errors import DeadlockDetected, LockNotAvailable, SerializationFailure

from odoo import Command, api, fields, models
from odoo.exceptions import RedirectWarning, UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL

SUBSCRIPTION_STATES = [
    ("draft", "Draft"),
    ("active", "Active"),
    ("paused", "Paused"),
    ("cancelled", "Cancelled"),
    ("closed", "Closed"),
]
BATCH_SIZE = 200
# What a subscription's invoicing meets when another process invoices it at the same moment.
CONCURRENCY_ERRORS = (DeadlockDetected, LockNotAvailable, SerializationFailure)
PLAN_LINE_FIELDS = [
    "sequence",
    "product_id",
    "name",
    "quantity",
    "uom_id",
    "automatic_price",
    "specific_price",
    "discount",
    "display_type",
    "note_invoicing_mode",
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
                self._finnsys_fill_from_plan(vals, plan)
        return super().create(vals_list)

    @api.model
    def _finnsys_fill_from_plan(self, vals, plan):
        """Complete the values of a new subscription with its plan's recurrence and lines."""
        partner = self.env["res.partner"].browse(vals.get("partner_id"))
        date_start = fields.Date.to_date(vals.get("date_start")) or fields.Date.context_today(self)
        vals.setdefault("name", plan.name)
        vals.setdefault("plan_currency_id", plan.plan_currency_id.id)
        vals.setdefault("date_start", date_start)
        vals.setdefault("line_recurrence", True)
        vals.setdefault("payment_term_id", partner.property_payment_term_id.id)
        for name in ("recurring_rule_type", "recurring_interval", "recurring_invoicing_type"):
            vals.setdefault(name, plan[name])
        if plan.journal_id:
            vals.setdefault("journal_id", plan.journal_id.id)
        company_currency = self.env["res.company"].browse(vals.get("company_id")).currency_id
        if plan.plan_currency_id != (company_currency or self.env.company.currency_id):
            vals.setdefault("manual_currency_id", plan.plan_currency_id.id)
        vals["contract_line_ids"] = self._finnsys_plan_line_commands(plan, date_start)

    @api.model
    def _finnsys_plan_line_commands(self, plan, date_start):
        commands = []
        for line in plan.contract_line_ids:
            values = line._convert_to_write({name: line[name] for name in PLAN_LINE_FIELDS})
            values.update(
                date_start=date_start,
                recurring_rule_type=plan.recurring_rule_type,
                recurring_interval=plan.recurring_interval,
                recurring_invoicing_type=plan.recurring_invoicing_type,
            )
            commands.append(Command.create(values))
        return commands

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
        self._finnsys_check_state(("draft", "active", "paused"), self.env._("cancelled"))
        if reason and reason not in dict(CANCEL_REASONS):
            raise ValidationError(self.env._("Choose a reason from the list."))
        today = fields.Date.context_today(self)
        for contract in self:
            billed_to = max(contract.subscription_period_ids.mapped("period_end") or [today])
            contract.write(
                {
                    "subscription_ends_on": max(billed_to, today),
                    "subscription_cancelled_from": contract.subscription_state,
                    "subscription_state": "cancelled",
                    "subscription_cancel_reason": reason,
                    "subscription_cancel_note": note,
                }
            )
            contract.message_post(
                body=self.env._(
                    "Cancelled at period end: the service ends on %(day)s. Reason: %(reason)s. "
                    "%(note)s",
                    day=contract.subscription_ends_on,
                    reason=dict(CANCEL_REASONS).get(reason, self.env._("none given")),
                    note=note or "",
                )
            )

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
        for contract in self:
            if not contract.finnsys_can_undo_cancel():
                raise ValidationError(
                    self.env._(
                        "%(contract)s cannot be kept any more: only a cancellation at period "
                        "end can be undone, up to the last day of the service.",
                        contract=contract.display_name,
                    )
                )
            contract.write(
                {
                    "subscription_state": contract.subscription_cancelled_from,
                    "subscription_cancelled_from": False,
                    "subscription_ends_on": False,
                    "subscription_cancel_reason": False,
                    "subscription_cancel_note": False,
                }
            )
            contract.message_post(body=self.env._("Cancellation undone: the subscription goes on."))

    def action_subscription_cancel_now(self):
        """Stop billing and the service today, crediting the unused days of the period."""
        self._finnsys_check_state(("draft", "active", "paused"), self.env._("cancelled"))
        today = fields.Date.context_today(self)
        for contract in self:
            # From the period's first day on, every day of it is credited.
            if period := contract._finnsys_period_at(today):
                contract._finnsys_prorated_move("out_refund", period, today)
            contract.subscription_ends_on = today
            contract.subscription_state = "cancelled"
            contract.subscription_cancelled_from = False

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
        self._finnsys_charge_transactions(self._finnsys_pending_transactions(invoices))
        return invoices

    def _recurring_create_invoice(self, date_ref=False):
        subscriptions = self.filtered("contract_template_id")
        others = self - subscriptions
        moves = self.env["account.move"]
        if others:
            moves = super(ContractContract, others)._recurring_create_invoice(date_ref)
        for subscription in subscriptions.filtered(lambda c: c.subscription_state == "active"):
            moves |= subscription._finnsys_invoice_next_period()
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
        Move = self.env["account.move"]
        self._finnsys_lock_for_invoicing(nowait)
        if self.subscription_state != "active" or (
            due_by and not (self.recurring_next_date and self.recurring_next_date <= due_by)
        ):
            return Move
        lines = self.contract_line_ids.filtered(
            lambda line: (
                not line.display_type
                and line.recurring_next_date
                and line._can_be_invoiced(self.recurring_next_date)
            )
        )
        if not lines:
            return Move
        period_start = min(lines.mapped("next_period_date_start"))
        period_end = max(lines.mapped("next_period_date_end"))
        try:
            with self.env.cr.savepoint():
                period = self.env["finnsys.subscription.period"]._claim(
                    self, period_start, period_end
                )
                self.invalidate_recordset(["subscription_period_ids"])
                if not period:
                    return Move
                invoice = super()._recurring_create_invoice()
                period.sudo().move_id = invoice[:1]
                invoice.action_post()
        except (UserError, RedirectWarning) as error:
            self._finnsys_pause_refused(error)
            return Move
        self._finnsys_after_post(invoice)
        return invoice

    def _finnsys_lock_for_invoicing(self, nowait):
        """Lock the subscription's row: the first lock every invoicing of it takes.

        The period claim, the customer's credit check and the journal's invoice number come
        after it, in that order, on every path, so two processes never wait on each other in
        opposite orders. What the row says now wins over what this process read before.
        """
        self.flush_recordset()
        self.env.cr.execute(
            SQL(
                "SELECT recurring_next_date, subscription_state FROM contract_contract "
                "WHERE id = %s FOR NO KEY UPDATE%s",
                self.id,
                SQL(" NOWAIT") if nowait else SQL(),
            ),
            log_exceptions=False,
        )
        if self.env.cr.fetchone() != (self.recurring_next_date, self.subscription_state):
            self.invalidate_recordset()
            self.contract_line_ids.invalidate_recordset()

    def _finnsys_after_post(self, invoices):
        """Offline subscriptions send their invoice. Online ones were paid from the customer's
        credit at posting; what is left of a postpaid customer's is charged to its saved token.
        """
        if self.subscription_payment == "online":
            self._finnsys_prepare_token_charge(invoices)
            return
        template = self.env.ref("finnsys_billing.mail_template_subscription_invoice")
        for invoice in invoices:
            template.send_mail(invoice.id)
        invoices.is_move_sent = True

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

    def _finnsys_prepare_token_charge(self, invoices):
        """Give each unpaid invoice a draft token transaction, charged once it is committed."""
        partner = self.partner_id.commercial_partner_id
        token = self.finnsys_payment_token()
        if partner.billing_mode != "postpaid" or not token:
            if partner.billing_mode == "postpaid":
                self._finnsys_dunning_no_token(invoices)
            return
        Transaction = self.env["payment.transaction"]
        for invoice in invoices.filtered(
            lambda m: m.move_type == "out_invoice" and not m.currency_id.is_zero(m.amount_residual)
        ):
            Transaction._finnsys_new_token_charge(
                token,
                partner,
                invoice.amount_residual,
                invoice.currency_id,
                invoice.name,
                invoice_ids=[Command.set(invoice.ids)],
            )

    @api.model
    def _finnsys_pending_transactions(self, invoices=None):
        """The draft token charges of subscription invoices (of ``invoices``): committed
        with their invoice, charged after it, and by the next run after a crash."""
        domain = (
            Domain("state", "=", "draft")
            & Domain("operation", "=", "offline")
            & Domain("invoice_ids.subscription_id", "!=", False)
        )
        if invoices is not None:
            domain &= Domain("invoice_ids", "in", invoices.ids)
        return self.env["payment.transaction"].sudo().search(domain)

    def _finnsys_pause_refused(self, error):
        """Pause a subscription whose invoice could not be posted, and tell both sides."""
        self.ensure_one()
        reason = error.args[0] if error.args else str(error)
        self.write(
            {
                "subscription_state": "paused",
                "subscription_paused_on": fields.Date.context_today(self),
                "subscription_resumed_on": False,
            }
        )
        self.message_post(
            body=Markup("%s<br/>%s")
            % (self.env._("Subscription paused: its invoice could not be posted."), reason)
        )
        template = self.env.ref("finnsys_billing.mail_template_subscription_paused")
        template.send_mail(self.id)
        manager = self._finnsys_billing_manager()
        if manager:
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Subscription paused: invoice refused"),
                note=reason,
                user_id=manager.id,
            )

    def _finnsys_billing_manager(self):
        """The person to act on the subscription: its responsible if a billing manager, else
        the company's first billing manager. Never OdooBot, whom the superuser's groups make a
        manager but who reads no activity; none when the company has no manager."""
        group = self.env.ref("finnsys_billing.group_billing_manager")

        def is_person(user):
            return user.active and not user.share and not user._is_superuser()

        if self.user_id and is_person(self.user_id) and group in self.user_id.all_group_ids:
            return self.user_id
        managers = group.all_user_ids.filtered(
            lambda user: is_person(user) and self.company_id in user.company_ids
        )
        return managers.sorted("id")[:1]

    @api.model
    def _cron_invoice_subscriptions(self, batch_size=BATCH_SIZE):
        """Invoice the due periods of active subscriptions, each in a transaction of its own.

        Safe to run twice at once, on two servers or beside a *Create invoice* click: a
        subscription another process is invoicing is skipped, each period is claimed before
        its invoice is created, and each invoice is committed alone, so the journal's numbering
        lock is held for one invoice and a failure loses no other invoice.
        """
        Cron = self.env["ir.cron"]
        # The cron user sees one company; subscriptions of every company are due.
        subscriptions = self.sudo()
        today = fields.Date.context_today(self)
        due = (
            Domain("subscription_state", "=", "active")
            & Domain("contract_template_id", "!=", False)
            & Domain("recurring_next_date", "<=", today)
        )
        # Charges a crashed run left uncharged.
        self._finnsys_charge_each(self._finnsys_pending_transactions())
        if not Cron._finnsys_commit_batch(remaining=subscriptions.search_count(due)):
            return
        after_id, busy = 0, subscriptions.browse()
        while batch := subscriptions.search(
            due & Domain("id", ">", after_id), order="id", limit=batch_size
        ):
            after_id = batch[-1].id
            invoices, skipped = batch._finnsys_invoice_each(today)
            busy |= skipped
            # Charged only once the invoices and their transactions are committed.
            self._finnsys_charge_each(self._finnsys_pending_transactions(invoices))
            remaining = subscriptions.search_count(due & Domain("id", ">", after_id))
            if not Cron._finnsys_commit_batch(remaining=remaining + len(busy)):
                return
        # Whoever held them is done by now: one more try, with a fresh snapshot. What is still
        # held is being invoiced by its holder, or waits for the next run.
        invoices, busy = busy.exists()._finnsys_invoice_each(today)
        self._finnsys_charge_each(self._finnsys_pending_transactions(invoices))
        Cron._finnsys_commit_batch(remaining=0)

    def _finnsys_invoice_each(self, due_by):
        """Invoice each subscription's period due by ``due_by`` and commit it on its own.

        A subscription that another process is invoicing, or that a concurrent transaction
        changed under this one, is rolled back alone and returned as busy.

        :return: (committed invoices, busy subscriptions)
        """
        Cron = self.env["ir.cron"]
        invoices, busy = self.env["account.move"], self.browse()
        for subscription in self:
            try:
                invoice = subscription.with_company(
                    subscription.company_id
                )._finnsys_invoice_next_period(nowait=True, due_by=due_by)
            except CONCURRENCY_ERRORS:
                self.env.cr.rollback()
                busy |= subscription
                continue
            Cron._commit_progress(1)
            invoices |= invoice
        return invoices, busy

    @api.model
    def _finnsys_charge_transactions(self, transactions):
        """Charge subscription invoices' draft token transactions through the one saved-token
        charge (``payment.transaction._finnsys_charge_saved_token``), then hand each refusal
        to dunning. Transactions another run holds are left to it."""
        for tx in transactions._finnsys_charge_saved_token():
            self._finnsys_dunning_failed(tx)

    @api.model
    def _finnsys_charge_each(self, transactions):
        """Charge token transactions one commit each: a payment's number is held for one."""
        for tx in transactions:
            self._finnsys_charge_transactions(tx)
            self.env["ir.cron"]._commit_progress()

    # Plan change and proration ----------------------------------------------------------

    def _finnsys_period_at(self, day):
        return self.subscription_period_ids.filtered(
            lambda p: p.move_id and p.period_start <= day <= (p.period_end or p.period_start)
        ).sorted("period_start")[-1:]

    def _finnsys_billed_lines(self):
        """The subscription's own product lines, as edited: what its periods invoice."""
        return self.contract_line_ids.filtered(
            lambda line: not line.display_type and not line.is_canceled
        )

    def _finnsys_proration(self, lines, recurrence, period, day):
        """Day-based share of ``lines`` for ``day``..end of ``period``.

        Their amount per period times the days left (``day`` included) over the days of the
        ``recurrence``'s period (a plan or this subscription) starting at ``period.period_start``.
        The amount is rounded once; each line gets its share, the last one what the rounding
        of the others left, so that the lines add up to the amount.

        :return: dict with ``days`` (left), ``plan_days``, ``lines`` (list of line and its
            amount) and ``amount`` (their untaxed total)
        """
        self.ensure_one()
        days_left = (period.period_end - day).days + 1
        plan_end = period.period_start + recurrence.get_relative_delta(
            recurrence.recurring_rule_type, recurrence.recurring_interval
        )
        plan_days = (plan_end - period.period_start).days
        currency = self.currency_id
        exact = [line.price_subtotal * days_left / plan_days for line in lines]
        amount = currency.round(sum(exact))
        shares = [currency.round(share) for share in exact[:-1]]
        if exact:
            shares.append(currency.round(amount - sum(shares)))
        return {
            "days": days_left,
            "plan_days": plan_days,
            "lines": list(zip(lines, shares, strict=True)),
            "amount": amount,
        }

    def _finnsys_prorated_move(self, move_type, period, day):
        """Post a credit note or invoice of the subscription's current lines and plan for
        ``day``..end of ``period``."""
        self.ensure_one()
        plan = self.contract_template_id
        proration = self._finnsys_proration(self._finnsys_billed_lines(), self, period, day)
        vals = self._prepare_invoice(day)
        vals.update(move_type=move_type, plan_id=plan.id, subscription_id=self.id)
        label = self.env._(
            "%(plan)s, %(days)s of %(total)s days",
            plan=plan.name,
            days=proration["days"],
            total=proration["plan_days"],
        )
        for line, amount in proration["lines"]:
            vals["invoice_line_ids"].append(
                Command.create(
                    {
                        "product_id": line.product_id.id,
                        "name": f"{line._insert_markers(day, period.period_end)}\n{label}",
                        "quantity": 1,
                        "price_unit": amount,
                    }
                )
            )
        move = self.env["account.move"].create(vals)
        move.action_post()
        self._finnsys_after_post(move)
        return move

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
        period = self._finnsys_period_at(day)
        preview = {
            "period_start": period.period_start,
            "period_end": period.period_end,
            "days": 0,
            "credit": 0.0,
            "invoice": 0.0,
            "net": 0.0,
            "next_date": period.period_end and period.period_end + timedelta(days=1),
        }
        if not period:
            return preview
        credit = self._finnsys_proration(self._finnsys_billed_lines(), self, period, day)
        preview.update(days=credit["days"], credit=credit["amount"])
        if new_plan:
            lines = new_plan.contract_line_ids.filtered(lambda line: not line.display_type)
            preview["invoice"] = self._finnsys_proration(lines, new_plan, period, day)["amount"]
        preview["net"] = self.currency_id.round(preview["invoice"] - preview["credit"])
        return preview

    def _finnsys_check_plan_change(self, new_plan):
        """Refuse a change to ``new_plan`` that the subscription cannot make."""
        self.ensure_one()
        self._finnsys_check_state(("draft", "active", "paused"), self.env._("changed"))
        if new_plan == self.contract_template_id or not new_plan:
            raise ValidationError(self.env._("Choose another plan than the current one."))
        if new_plan.company_id != self.company_id:
            raise ValidationError(
                self.env._(
                    "Plan %(plan)s belongs to %(other)s, not to %(company)s: choose a plan of "
                    "the subscription's company.",
                    plan=new_plan.display_name,
                    other=new_plan.company_id.name,
                    company=self.company_id.name,
                )
            )
        if new_plan.plan_currency_id != self.currency_id:
            raise ValidationError(
                self.env._(
                    "Plan %(plan)s is priced in %(plan_currency)s and %(contract)s is billed in "
                    "%(currency)s: choose a plan in %(currency)s.",
                    plan=new_plan.display_name,
                    plan_currency=new_plan.plan_currency_id.name,
                    contract=self.display_name,
                    currency=self.currency_id.name,
                )
            )

    @api.model
    def _finnsys_end_lines(self, lines):
        """End the lines a plan change replaced: an invoiced line stops at its last invoiced
        day with no next invoice date; a line never invoiced is removed."""
        invoiced = lines.filtered("last_date_invoiced")
        (lines - invoiced).unlink()
        for line in invoiced:
            line.write(
                {
                    "is_canceled": True,
                    "date_end": line.last_date_invoiced,
                    "recurring_next_date": False,
                }
            )

    def action_subscription_change_plan(self, new_plan, day=None):
        """Move the subscription to ``new_plan`` from ``day`` (today by default).

        The unused days of the invoiced period are credited on the old plan and invoiced on
        the new one; the new plan's own periods start after the current period ends.
        """
        self.ensure_one()
        day = day or fields.Date.context_today(self)
        self._finnsys_check_plan_change(new_plan)
        period = self._finnsys_period_at(day)
        moves = self.env["account.move"]
        if period:
            moves |= self._finnsys_prorated_move("out_refund", period, day)
            next_start = period.period_end + timedelta(days=1)
        else:
            next_start = max(day, self.date_start)
        old_plan = self.contract_template_id
        old_lines = self.contract_line_ids.filtered(lambda line: not line.is_canceled)
        self.write(
            {
                "contract_template_id": new_plan.id,
                "recurring_rule_type": new_plan.recurring_rule_type,
                "recurring_interval": new_plan.recurring_interval,
                "contract_line_ids": self._finnsys_plan_line_commands(new_plan, next_start),
            }
        )
        if self.name == old_plan.name:
            self.name = new_plan.name
        self._finnsys_end_lines(old_lines)
        if period:
            moves |= self._finnsys_prorated_move("out_invoice", period, day)
        self._finnsys_charge_transactions(self._finnsys_pending_transactions(moves))
        self.message_post(
            body=self.env._("Plan changed to %(plan)s on %(day)s.", plan=new_plan.name, day=day)
        )
        return moves

    # Dunning hooks ----------------------------------------------------------------------

    def _finnsys_dunning_no_token(self, invoices):
        """A postpaid customer without a saved card cannot be charged: that is a failed charge
        too, and the customer is asked to pay or add a card."""
        Dunning = self.env["finnsys.subscription.dunning"]
        for invoice in invoices.filtered(
            lambda m: m.move_type == "out_invoice" and not m.currency_id.is_zero(m.amount_residual)
        ):
            Dunning._finnsys_charge_failed(invoice, self.env._("No saved payment method."))

    @api.model
    def _finnsys_dunning_failed(self, tx):
        """Open (or count a retry of) the dunning of each invoice ``tx`` failed to pay."""
        if tx.state not in ("error", "cancel"):
            return
        error = tx.state_message or self.env._("The card was declined.")
        for invoice in tx.invoice_ids.filtered("subscription_id"):
            self.env["finnsys.subscription.dunning"]._finnsys_charge_failed(invoice, error)
