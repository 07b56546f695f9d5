import logging
from collections import defaultdict

from odoo import fields, models
from odoo.exceptions import RedirectWarning, UserError
from odoo.fields import Domain
from odoo.tools import SQL, format_amount

from ..const import BILLING_MODES


class AccountMove(models.Model):
    _inherit = "account.move"

    plan_id = fields.Many2one(
        "contract.template",
        index="btree_not_null",
        readonly=True,
        copy=False,
        help="Plan of the subscription this document bills.",
    )
    subscription_id = fields.Many2one(
        "contract.contract", index="btree_not_null", readonly=True, copy=False
    )
    # The portal's tabs and dashboard, the reminders and the payment wizards look up a
    # customer's documents by commercial partner; Odoo does not index it, so each lookup read
    # every move of the company (4 s per invoice tab at 50,000 invoices under load).
    commercial_partner_id = fields.Many2one(index=True)
    posted_billing_mode = fields.Selection(
        BILLING_MODES,
        string="Billing Mode When Posted",
        readonly=True,
        copy=False,
        help="The customer's billing mode when the invoice was posted: an invoice issued while "
        "postpaid keeps its payment reminders until paid, even after a switch to prepaid.",
    )

    def _post(self, soft=True):
        invoices = self.filtered(lambda m: m.move_type == "out_invoice" and m.state == "draft")
        if invoices and not self.env.context.get("finnsys_credit_override"):
            invoices._finnsys_check_credit_limit()
        posted = super()._post(soft=soft)
        self.env["res.partner"]._billing_invalidate_figures()
        posted.filtered(lambda m: m.move_type == "out_invoice")._finnsys_record_billing_mode()
        posted.filtered(lambda m: m.move_type == "out_invoice")._finnsys_apply_credit()
        posted.filtered(lambda m: m.move_type == "out_invoice")._finnsys_queue_topups()
        return posted

    def button_draft(self):
        result = super().button_draft()
        self.env["res.partner"]._billing_invalidate_figures()
        return result

    def button_cancel(self):
        result = super().button_cancel()
        self.env["res.partner"]._billing_invalidate_figures()
        return result

    def _finnsys_record_billing_mode(self):
        # In SQL: account.move.write would re-synchronise every journal item of the invoice.
        if not self:
            return
        self.env["res.partner"].flush_model(["billing_mode"])
        self.flush_model(["commercial_partner_id"])
        self.env.cr.execute(
            SQL(
                "UPDATE account_move m SET posted_billing_mode = p.billing_mode "
                "FROM res_partner p WHERE p.id = m.commercial_partner_id AND m.id IN %s",
                tuple(self.ids),
            )
        )
        self.invalidate_recordset(["posted_billing_mode"])

    def _finnsys_check_credit_limit(self):
        """Refuse invoices that would take a customer over its credit limit.

        Prepaid: the balance may not fall below minus the limit. Postpaid: receivables may
        not exceed the limit (no limit when it is zero, as in Odoo). Both read as
        ``receivable + new invoices <= limit``. The commercial partners are locked first so
        two invoices posted at the same moment cannot both pass.
        """
        by_key = defaultdict(lambda: self.browse())
        for move in self:
            company = move.company_id
            if company.account_use_credit_limit and company.billing_credit_policy == "block":
                by_key[move.commercial_partner_id, company] |= move
        if not by_key:
            return
        partners = self.env["res.partner"].union(*(partner for partner, _company in by_key))
        partners._billing_lock()
        for (partner, company), moves in by_key.items():
            figures = self.env["finnsys.billing.account"]._figures_for(partner, company)
            row = figures.get(partner.id)
            if not row or not row["limit_enforced"]:
                continue
            amount = sum(moves.mapped("amount_total_signed"))
            exposure = row["receivable"]
            excess = company.currency_id.round(exposure + amount - row["credit_limit"])
            if company.currency_id.compare_amounts(excess, 0) > 0:
                moves._finnsys_raise_over_limit(partner, row, amount, excess)

    def _finnsys_raise_over_limit(self, partner, row, amount, excess):
        company = self.company_id[:1]

        def money(value):
            return format_amount(self.env, value, company.currency_id)

        message = self.env._(
            "%(invoices)s would take %(partner)s over its credit limit.\n"
            "Credit limit: %(limit)s. Current exposure: %(exposure)s. This posting: %(amount)s. "
            "Excess: %(excess)s.",
            invoices=", ".join(self.mapped(lambda m: m.name or m.display_name)),
            partner=partner.display_name,
            limit=money(row["credit_limit"]),
            exposure=money(row["receivable"]),
            amount=money(amount),
            excess=money(excess),
        )
        if self.env.user.has_group("finnsys_billing.group_billing_manager"):
            action = self.env["ir.actions.actions"]._for_xml_id(
                "finnsys_billing.action_credit_override_wizard"
            )
            action["context"] = {"active_model": "account.move", "active_ids": self.ids}
            warning = RedirectWarning(message, action, self.env._("Post with override"))
            # A refusal the manager can act on, like a UserError: Odoo's HTTP layer logs any
            # other exception as an ERROR with its traceback, unless it names its level.
            warning.loglevel = logging.WARNING
            raise warning
        raise UserError(
            message
            + "\n"
            + self.env._(
                "Ask a billing manager to post it with an override, or record a payment first."
            )
        )

    def _finnsys_queue_topups(self):
        """Run the auto top-up job soon for prepaid customers these invoices took to their
        top-up threshold. The charge is never made inside the posting transaction."""
        partners = self.commercial_partner_id.filtered(
            lambda p: p.billing_mode == "prepaid" and p.billing_topup_enabled
        )
        if not partners:
            return
        Account, Attempt = self.env["finnsys.billing.account"], self.env["finnsys.topup.attempt"]
        for company in self.filtered(lambda m: m.commercial_partner_id in partners).company_id:
            figures = Account._figures_for(partners, company)
            if any(Attempt._needed(partner, figures.get(partner.id)) for partner in partners):
                self.env.ref("finnsys_billing.ir_cron_billing_topup").sudo()._trigger()
                return

    def _finnsys_apply_credit(self):
        """Apply the customer's unapplied credits to freshly posted invoices, oldest first.

        This is how prepaid credit is consumed, and how credit left over from a prepaid period
        pays a postpaid customer's next invoices.
        """
        for invoice in self.sorted(lambda m: (m.invoice_date or m.date, m.id)):
            receivable_lines = invoice.line_ids.filtered(
                lambda line: (
                    line.account_id.account_type == "asset_receivable" and not line.reconciled
                )
            )
            if not receivable_lines:
                continue
            credits = invoice.commercial_partner_id._billing_credit_lines(
                invoice.company_id, receivable_lines.account_id
            )
            for credit in credits:
                if invoice.currency_id.is_zero(invoice.amount_residual):
                    break
                invoice.js_assign_outstanding_line(credit.id)

    def finnsys_amount_under_way(self):
        """{invoice id: money of running payments not booked on it yet}, in its currency.

        A payment is under way while its transaction is pending or authorized, or done but not
        yet booked (the customer was charged already). A transaction's money, less its
        surcharge, goes to its invoices in id order, each up to its residual; what is under way
        never exceeds an invoice's residual. Used by the portal (what is left to pay, the *In
        Progress* tab) and by the reminders (what is left to remind).
        """
        under_way = dict.fromkeys(self.ids, 0.0)
        txs = (
            self.env["payment.transaction"]
            .sudo()
            .search(
                Domain("invoice_ids", "in", self.ids)
                & (
                    Domain("state", "in", ("pending", "authorized"))
                    | (Domain("state", "=", "done") & Domain("is_post_processed", "=", False))
                )
            )
        )
        residual = {move.id: move.amount_residual for move in self.sudo()}
        for tx in txs:
            left = tx.amount - tx._finnsys_surcharge_part()
            for move in tx.invoice_ids.sorted("id"):
                share = max(0.0, min(left, move.amount_residual - under_way.get(move.id, 0.0)))
                left -= share
                if move.id in under_way:
                    under_way[move.id] = move.currency_id.round(under_way[move.id] + share)
        return {move_id: min(amount, residual[move_id]) for move_id, amount in under_way.items()}

    def finnsys_amount_payable(self):
        """{invoice id: what can still be paid online}: the residual less what is under way."""
        under_way = self.finnsys_amount_under_way()
        return {
            move.id: move.currency_id.round(move.amount_residual - under_way[move.id])
            for move in self.sudo()
        }
