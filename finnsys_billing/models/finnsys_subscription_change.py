from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .contract_contract import CANCEL_REASONS


class FinnsysSubscriptionChange(models.AbstractModel):
    """What changes a running subscription mid-period: a plan change or a cancellation.

    Each is prorated on the invoiced period the day falls in (``finnsys.subscription.period``):
    the unused days are credited, and a new plan's days invoiced. The public entry points are
    the ``contract.contract`` methods the backend and the portal call.
    """

    _name = "finnsys.subscription.change"
    _description = "Subscription Plan Change and Cancellation"

    # Cancellation -----------------------------------------------------------------------

    @api.model
    def _cancel_at_period_end(self, contracts, reason, note):
        """See ``contract.contract.action_subscription_cancel_at_period_end``."""
        contracts._finnsys_check_state(("draft", "active", "paused"), self.env._("cancelled"))
        if reason and reason not in dict(CANCEL_REASONS):
            raise ValidationError(self.env._("Choose a reason from the list."))
        today = fields.Date.context_today(self)
        for contract in contracts:
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

    @api.model
    def _undo_cancel(self, contracts):
        """See ``contract.contract.action_subscription_undo_cancel``."""
        for contract in contracts:
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

    @api.model
    def _cancel_now(self, contracts):
        """See ``contract.contract.action_subscription_cancel_now``."""
        contracts._finnsys_check_state(("draft", "active", "paused"), self.env._("cancelled"))
        today = fields.Date.context_today(self)
        for contract in contracts:
            # From the period's first day on, every day of it is credited.
            if period := contract._finnsys_period_at(today):
                period._post_prorated_move("out_refund", today)
            contract.subscription_ends_on = today
            contract.subscription_state = "cancelled"
            contract.subscription_cancelled_from = False

    # Plan change ------------------------------------------------------------------------

    @api.model
    def _plan_change_preview(self, contract, new_plan, day):
        """See ``contract.contract.finnsys_plan_change_preview``."""
        period = contract._finnsys_period_at(day)
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
        credit = period._proration(period._billed_lines(contract), contract, day)
        preview.update(days=credit["days"], credit=credit["amount"])
        if new_plan:
            lines = new_plan.contract_line_ids.filtered(lambda line: not line.display_type)
            preview["invoice"] = period._proration(lines, new_plan, day)["amount"]
        preview["net"] = contract.currency_id.round(preview["invoice"] - preview["credit"])
        return preview

    @api.model
    def _check_plan_change(self, contract, new_plan):
        """Refuse a change to ``new_plan`` that ``contract`` cannot make."""
        contract._finnsys_check_state(("draft", "active", "paused"), self.env._("changed"))
        if new_plan == contract.contract_template_id or not new_plan:
            raise ValidationError(self.env._("Choose another plan than the current one."))
        new_plan._finnsys_check_switch_from(contract)

    @api.model
    def _change_plan(self, contract, new_plan, day):
        """See ``contract.contract.action_subscription_change_plan``."""
        self._check_plan_change(contract, new_plan)
        period = contract._finnsys_period_at(day)
        moves = self.env["account.move"]
        if period:
            moves |= period._post_prorated_move("out_refund", day)
            next_start = period.period_end + timedelta(days=1)
        else:
            next_start = max(day, contract.date_start)
        old_plan = contract.contract_template_id
        old_lines = contract.contract_line_ids.filtered(lambda line: not line.is_canceled)
        contract.write(
            {
                "contract_template_id": new_plan.id,
                "recurring_rule_type": new_plan.recurring_rule_type,
                "recurring_interval": new_plan.recurring_interval,
                "contract_line_ids": new_plan._finnsys_subscription_lines(next_start),
            }
        )
        if contract.name == old_plan.name:
            contract.name = new_plan.name
        old_lines._finnsys_end_replaced()
        if period:
            moves |= period._post_prorated_move("out_invoice", day)
        Dunning = self.env["finnsys.subscription.dunning"]
        Dunning._charge(Dunning._pending_charges(moves))
        contract.message_post(
            body=self.env._("Plan changed to %(plan)s on %(day)s.", plan=new_plan.name, day=day)
        )
        return moves
