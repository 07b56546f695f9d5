from odoo import Command, api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..concurrency import BUSY_ERRORS, insert_once

BATCH_SIZE = 200


class FinnsysSubscriptionPeriod(models.Model):
    """One billed period of a subscription: the key that makes its invoice happen once.

    The row is claimed (inserted) in the same transaction that creates the invoice and before
    it. A second run claiming the same period waits for the first one's transaction, then finds
    the key taken and creates nothing; if the first run failed, its claim is rolled back with
    its invoice and the period can be billed again.

    The model also holds what is computed from an invoiced period (the day-based proration of
    a plan change or a cancellation) and the cron that invoices the periods due.
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

    # Claiming ---------------------------------------------------------------------------

    def _claim(self, contract, period_start, period_end):
        """Claim the period, or return an empty recordset when it is already claimed."""
        # A claim racing another run's raises a serialization error that the cron retries.
        ids = insert_once(
            self.env,
            self._table,
            [
                {
                    "contract_id": contract.id,
                    "period_start": period_start,
                    "period_end": period_end,
                    "company_id": contract.company_id.id,
                }
            ],
            SQL("(contract_id, period_start)"),
            now=SQL("now() at time zone 'UTC'"),
            raise_unseen=True,
        )
        return self.browse(ids)

    @api.model
    def _claim_next(self, contract):
        """Claim the period ``contract``'s lines invoice at its next invoice date.

        :return: the claimed period, or an empty recordset (nothing due, or already claimed)
        """
        lines = contract.contract_line_ids.filtered(
            lambda line: (
                not line.display_type
                and line.recurring_next_date
                and line._can_be_invoiced(contract.recurring_next_date)
            )
        )
        if not lines:
            return self.browse()
        period = self._claim(
            contract,
            min(lines.mapped("next_period_date_start")),
            max(lines.mapped("next_period_date_end")),
        )
        contract.invalidate_recordset(["subscription_period_ids"])
        return period

    @api.model
    def _billed_lines(self, contract):
        """The subscription's own product lines, as edited: what its periods invoice."""
        return contract.contract_line_ids.filtered(
            lambda line: not line.display_type and not line.is_canceled
        )

    @api.model
    def _invoiced_at(self, contract, day):
        """The invoiced period of ``contract`` that ``day`` falls in, or an empty recordset."""
        return contract.subscription_period_ids.filtered(
            lambda p: p.move_id and p.period_start <= day <= (p.period_end or p.period_start)
        ).sorted("period_start")[-1:]

    # Proration --------------------------------------------------------------------------

    def _proration(self, lines, recurrence, day):
        """Day-based share of ``lines`` for ``day``..end of this period.

        Their amount per period times the days left (``day`` included) over the days of the
        ``recurrence``'s period (a plan or the subscription) starting at ``period_start``.
        The amount is rounded once; each line gets its share, the last one what the rounding
        of the others left, so that the lines add up to the amount.

        :return: dict with ``days`` (left), ``plan_days``, ``lines`` (list of line and its
            amount) and ``amount`` (their untaxed total)
        """
        self.ensure_one()
        days_left = (self.period_end - day).days + 1
        plan_end = self.period_start + recurrence.get_relative_delta(
            recurrence.recurring_rule_type, recurrence.recurring_interval
        )
        plan_days = (plan_end - self.period_start).days
        currency = self.contract_id.currency_id
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

    def _post_prorated_move(self, move_type, day):
        """Post a credit note or invoice of the subscription's current lines and plan for
        ``day``..end of this period."""
        self.ensure_one()
        contract = self.contract_id
        plan = contract.contract_template_id
        proration = self._proration(self._billed_lines(contract), contract, day)
        vals = contract._prepare_invoice(day)
        vals.update(move_type=move_type, plan_id=plan.id, subscription_id=contract.id)
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
                        "name": f"{line._insert_markers(day, self.period_end)}\n{label}",
                        "quantity": 1,
                        "price_unit": amount,
                    }
                )
            )
        move = self.env["account.move"].create(vals)
        move.action_post()
        self.env["finnsys.subscription.dunning"]._collect(contract, move)
        return move

    # Cron -------------------------------------------------------------------------------

    @api.model
    def _cron_invoice_due(self, batch_size=BATCH_SIZE):
        """See ``contract.contract._cron_invoice_subscriptions``."""
        Cron = self.env["ir.cron"]
        Dunning = self.env["finnsys.subscription.dunning"]
        # The cron user sees one company; subscriptions of every company are due.
        subscriptions = self.env["contract.contract"].sudo()
        today = fields.Date.context_today(self)
        due = (
            Domain("subscription_state", "=", "active")
            & Domain("contract_template_id", "!=", False)
            & Domain("recurring_next_date", "<=", today)
        )
        # Charges a crashed run left uncharged.
        Dunning._charge_each(Dunning._pending_charges())
        if not Cron._finnsys_commit_batch(remaining=subscriptions.search_count(due)):
            return
        after_id, busy = 0, subscriptions.browse()
        while batch := subscriptions.search(
            due & Domain("id", ">", after_id), order="id", limit=batch_size
        ):
            after_id = batch[-1].id
            invoices, skipped = self._invoice_each(batch, today)
            busy |= skipped
            # Charged only once the invoices and their transactions are committed.
            Dunning._charge_each(Dunning._pending_charges(invoices))
            remaining = subscriptions.search_count(due & Domain("id", ">", after_id))
            if not Cron._finnsys_commit_batch(remaining=remaining + len(busy)):
                return
        # Whoever held them is done by now: one more try, with a fresh snapshot. What is still
        # held is being invoiced by its holder, or waits for the next run.
        invoices, busy = self._invoice_each(busy.exists(), today)
        Dunning._charge_each(Dunning._pending_charges(invoices))
        Cron._finnsys_commit_batch(remaining=0)

    @api.model
    def _invoice_each(self, subscriptions, due_by):
        """Invoice each subscription's period due by ``due_by`` and commit it on its own.

        A subscription that another process is invoicing, or that a concurrent transaction
        changed under this one, is rolled back alone and returned as busy.

        :return: (committed invoices, busy subscriptions)
        """
        Cron = self.env["ir.cron"]
        invoices, busy = self.env["account.move"], subscriptions.browse()
        for subscription in subscriptions:
            try:
                invoice = subscription.with_company(
                    subscription.company_id
                )._finnsys_invoice_next_period(nowait=True, due_by=due_by)
            except BUSY_ERRORS:
                self.env.cr.rollback()
                busy |= subscription
                continue
            Cron._commit_progress(1)
            invoices |= invoice
        return invoices, busy
