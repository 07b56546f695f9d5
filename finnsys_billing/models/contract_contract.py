from datetime import timedelta

from markupsafe import Markup
from psycopg2.errors import SerializationFailure

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
MAX_RETRIES = 3
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
    subscription_period_ids = fields.One2many(
        "finnsys.subscription.period", "contract_id", string="Billed Periods", readonly=True
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
        self.subscription_state = "paused"

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
        self.subscription_state = "active"

    def action_subscription_cancel_at_period_end(self):
        """Stop billing; the service runs to the end of the period already invoiced."""
        self._finnsys_check_state(("draft", "active", "paused"), self.env._("cancelled"))
        today = fields.Date.context_today(self)
        for contract in self:
            billed_to = max(contract.subscription_period_ids.mapped("period_end") or [today])
            contract.subscription_ends_on = max(billed_to, today)
            contract.subscription_state = "cancelled"

    def action_subscription_cancel_now(self):
        """Stop billing and the service today, crediting the unused days of the period."""
        self._finnsys_check_state(("draft", "active", "paused"), self.env._("cancelled"))
        today = fields.Date.context_today(self)
        for contract in self:
            period = contract._finnsys_period_at(today)
            if period and today > period.period_start:
                contract._finnsys_prorated_move(
                    "out_refund", contract.contract_template_id, period, today
                )
            contract.subscription_ends_on = today
            contract.subscription_state = "cancelled"

    def action_subscription_close(self):
        self._finnsys_check_state(("draft", "active", "paused", "cancelled"), self.env._("closed"))
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

    def _finnsys_invoice_next_period(self):
        """Invoice the next period of this subscription unless it is already invoiced.

        :return: the posted invoice, or an empty recordset (period already claimed by another
            run, nothing due, or posting refused and the subscription paused)
        """
        self.ensure_one()
        Move = self.env["account.move"]
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

    def _finnsys_prepare_token_charge(self, invoices):
        """Give each unpaid invoice a draft token transaction, charged once it is committed."""
        partner = self.partner_id.commercial_partner_id
        token = partner.sudo().billing_token_id
        if partner.billing_mode != "postpaid" or not token:
            return
        Transaction = self.env["payment.transaction"].sudo()
        for invoice in invoices.filtered(
            lambda m: m.move_type == "out_invoice" and not m.currency_id.is_zero(m.amount_residual)
        ):
            Transaction.create(
                {
                    "provider_id": token.provider_id.id,
                    "payment_method_id": token.payment_method_id.id,
                    "token_id": token.id,
                    "operation": "offline",
                    "partner_id": partner.id,
                    "amount": invoice.amount_residual,
                    "currency_id": invoice.currency_id.id,
                    "reference": Transaction._compute_reference(
                        token.provider_id.code, prefix=invoice.name
                    ),
                    "invoice_ids": [Command.set(invoice.ids)],
                }
            )

    @api.model
    def _finnsys_charge_transactions(self, transactions):
        """Charge draft token transactions of subscription invoices and reconcile the payments.

        A draft transaction met again after a crash is sent again as the same transaction
        (same reference), never as a new one. Each is locked first: a run that starts while
        another is charging (the first step of the cron charges what is left in draft)
        leaves that run's transactions to it.
        """
        for tx in transactions.sudo():
            if not self._finnsys_lock_draft(tx):
                continue
            try:
                with self.env.cr.savepoint():
                    tx._charge_with_token()
            except (UserError, ValidationError) as error:
                tx._set_error(str(error))
            if tx.state == "done" and not tx.is_post_processed:
                tx._post_process()

    @api.model
    def _finnsys_lock_draft(self, tx):
        """Lock ``tx`` if it is still draft and no other run holds it. A row changed by a run
        that committed after this transaction's snapshot counts as taken (REPEATABLE READ)."""
        tx.flush_recordset()
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        "SELECT id FROM payment_transaction WHERE id = %s AND state = 'draft' "
                        "FOR NO KEY UPDATE SKIP LOCKED",
                        tx.id,
                    ),
                    log_exceptions=False,
                )
                locked = bool(self.env.cr.fetchone())
        except SerializationFailure:
            return False
        tx.invalidate_recordset()
        return locked and tx.state == "draft"

    @api.model
    def _finnsys_pending_transactions(self, invoices=None):
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
        self.subscription_state = "paused"
        self.message_post(
            body=Markup("%s<br/>%s")
            % (self.env._("Subscription paused: its invoice could not be posted."), reason)
        )
        template = self.env.ref("finnsys_billing.mail_template_subscription_paused")
        template.send_mail(self.id)
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._("Subscription paused: invoice refused"),
            note=reason,
            user_id=self._finnsys_billing_manager().id,
        )

    def _finnsys_billing_manager(self):
        group = self.env.ref("finnsys_billing.group_billing_manager")
        if self.user_id and self.user_id.has_group("finnsys_billing.group_billing_manager"):
            return self.user_id
        managers = group.all_user_ids.filtered(
            lambda user: user.active and not user.share and self.company_id in user.company_ids
        )
        return managers.sorted("id")[:1] or self.env.user

    @api.model
    def _cron_invoice_subscriptions(self, batch_size=BATCH_SIZE):
        """Invoice the due periods of active subscriptions, one committed batch at a time.

        Safe to run twice at once: each period is claimed before its invoice is created.
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
        self._finnsys_charge_transactions(self._finnsys_pending_transactions())
        if not Cron._finnsys_commit_batch(remaining=subscriptions.search_count(due)):
            return
        after_id, retries = 0, 0
        while batch := subscriptions.search(
            due & Domain("id", ">", after_id), order="id", limit=batch_size
        ):
            invoices = self.env["account.move"]
            try:
                for company, company_batch in batch.grouped("company_id").items():
                    invoices |= company_batch.with_company(company)._recurring_create_invoice()
            except SerializationFailure:
                # Another run invoiced some of these after this transaction's snapshot was
                # taken; a fresh snapshot sees its claims and bills nothing twice.
                self.env.cr.rollback()
                retries += 1
                if retries > MAX_RETRIES:
                    raise
                continue
            after_id, retries = batch[-1].id, 0
            remaining = subscriptions.search_count(due & Domain("id", ">", after_id))
            Cron._commit_progress(len(batch), remaining=remaining)
            # Charged only once the invoices and their transactions are committed.
            self._finnsys_charge_transactions(self._finnsys_pending_transactions(invoices))
            if not Cron._finnsys_commit_batch():
                break

    # Plan change and proration ----------------------------------------------------------

    def _finnsys_period_at(self, day):
        return self.subscription_period_ids.filtered(
            lambda p: p.move_id and p.period_start <= day <= (p.period_end or p.period_start)
        ).sorted("period_start")[-1:]

    def _finnsys_proration(self, plan, period, day):
        """Day-based share of ``plan`` for ``day``..end of ``period``.

        The plan's amount per period times the days left (``day`` included) over the days of
        the plan's period starting at ``period.period_start``.

        :return: dict with ``days`` (left), ``plan_days``, ``lines`` (list of plan line and
            its rounded amount) and ``amount`` (their untaxed total)
        """
        self.ensure_one()
        days_left = (period.period_end - day).days + 1
        plan_end = period.period_start + plan.get_relative_delta(
            plan.recurring_rule_type, plan.recurring_interval
        )
        plan_days = (plan_end - period.period_start).days
        currency = self.currency_id
        lines = [
            (line, currency.round(line.price_subtotal * days_left / plan_days))
            for line in plan.contract_line_ids.filtered(lambda line: not line.display_type)
        ]
        return {
            "days": days_left,
            "plan_days": plan_days,
            "lines": lines,
            "amount": currency.round(sum(amount for _line, amount in lines)),
        }

    def _finnsys_prorated_move(self, move_type, plan, period, day):
        """Post a credit note or invoice for ``day``..end of ``period`` on ``plan``."""
        self.ensure_one()
        proration = self._finnsys_proration(plan, period, day)
        vals = self._prepare_invoice(day)
        vals.update(move_type=move_type, plan_id=plan.id, subscription_id=self.id)
        label = self.env._(
            "%(plan)s, %(days)s of %(total)s days (%(start)s to %(end)s)",
            plan=plan.name,
            days=proration["days"],
            total=proration["plan_days"],
            start=day,
            end=period.period_end,
        )
        for line, amount in proration["lines"]:
            vals["invoice_line_ids"].append(
                Command.create(
                    {
                        "product_id": line.product_id.id,
                        "name": f"{line.name}\n{label}",
                        "quantity": 1,
                        "price_unit": amount,
                    }
                )
            )
        move = self.env["account.move"].create(vals)
        move.action_post()
        self._finnsys_after_post(move)
        return move

    def _finnsys_plan_change_amounts(self, new_plan, day):
        """Untaxed amounts that changing to ``new_plan`` on ``day`` credits and invoices.

        :return: (credit note amount, new invoice amount); zeros when ``day`` is in no
            invoiced period, as nothing is prorated then
        """
        self.ensure_one()
        period = self._finnsys_period_at(day)
        if not period:
            return 0.0, 0.0
        credit = self._finnsys_proration(self.contract_template_id, period, day)["amount"]
        invoice = self._finnsys_proration(new_plan, period, day)["amount"] if new_plan else 0.0
        return credit, invoice

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
            moves |= self._finnsys_prorated_move(
                "out_refund", self.contract_template_id, period, day
            )
            moves |= self._finnsys_prorated_move("out_invoice", new_plan, period, day)
            next_start = period.period_end + timedelta(days=1)
        else:
            next_start = max(day, self.date_start)
        old_lines = self.contract_line_ids
        self.write(
            {
                "contract_template_id": new_plan.id,
                "recurring_rule_type": new_plan.recurring_rule_type,
                "recurring_interval": new_plan.recurring_interval,
                "contract_line_ids": self._finnsys_plan_line_commands(new_plan, next_start),
            }
        )
        old_lines.is_canceled = True
        self._finnsys_charge_transactions(self._finnsys_pending_transactions(moves))
        self.message_post(
            body=self.env._("Plan changed to %(plan)s on %(day)s.", plan=new_plan.name, day=day)
        )
        return moves
