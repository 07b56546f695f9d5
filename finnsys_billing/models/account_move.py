import logging
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import AccessError, RedirectWarning, UserError
from odoo.fields import Domain
from odoo.tools import SQL, format_amount

from ..const import BILLING_MANAGER_GROUP, BILLING_MODES

# Set only by AccountMove.finnsys_post_over_credit_limit: posting skips the credit check.
CREDIT_OVERRIDE_KEY = "finnsys_credit_override"


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

    finnsys_surcharge_credit_note_id = fields.Many2one(
        "account.move",
        string="Surcharge Refunded For",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="restrict",
        help="The credit note whose share of the payment surcharge this document refunds.",
    )
    finnsys_surcharge_refund_ids = fields.One2many(
        "account.move",
        "finnsys_surcharge_credit_note_id",
        string="Surcharge Refunds",
        readonly=True,
        help="Refunds of the card surcharge paid on the credited invoice, in proportion to this "
        "credit note.",
    )

    # Set only by the surcharge booking (finnsys.surcharge.consent._book_surcharge, as sudo):
    # the mark skips the credit check, so no user may set it (``_finnsys_check_marks``).
    finnsys_surcharge_document = fields.Boolean(
        string="Card Surcharge Document",
        readonly=True,
        copy=False,
        help="The invoice of a card surcharge the customer accepted, settled by the payment it "
        "was charged with: never checked against the credit limit, never paid with older credit.",
    )

    _finnsys_surcharge_refund_once = models.Constraint(
        "UNIQUE(finnsys_surcharge_credit_note_id, reversed_entry_id)",
        "A credit note refunds the surcharge of a payment only once.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._finnsys_check_marks(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._finnsys_check_marks(vals)
        return super().write(vals)

    def _finnsys_check_marks(self, vals):
        if "finnsys_surcharge_document" in vals and not self.env.su:
            raise AccessError(
                self.env._("Only the booking of a card surcharge marks its surcharge invoice.")
            )

    def _post(self, soft=True):
        invoices = self.filtered(lambda m: m.move_type == "out_invoice" and m.state == "draft")
        # A surcharge document is settled by the payment it was charged with: it never adds
        # to the customer's exposure and never consumes older credit.
        surcharges = invoices.filtered("finnsys_surcharge_document")
        if invoices and not self.env.context.get(CREDIT_OVERRIDE_KEY):
            (invoices - surcharges)._finnsys_check_credit_limit()
        posted = super()._post(soft=soft)
        self.env["res.partner"]._finnsys_invalidate_figures()
        posted_invoices = posted.filtered(lambda m: m.move_type == "out_invoice")
        posted_invoices._finnsys_record_billing_mode()
        (posted_invoices - surcharges)._finnsys_apply_credit()
        posted_invoices._finnsys_queue_topups()
        posted._finnsys_settle_surcharges_first()
        posted._finnsys_refund_surcharges()
        return posted

    def finnsys_post_over_credit_limit(self):
        """Post these invoices without checking the customers' credit limits.

        Public: the override wizard of a billing manager calls it, after checking who may;
        the caller is responsible for that check and for noting the reason.
        """
        return self.with_context(**{CREDIT_OVERRIDE_KEY: True}).action_post()

    # --- card surcharges ------------------------------------------------------------------

    def _finnsys_settle_surcharges_first(self):
        """Let the entry of a surcharged card payment pay its surcharge document first.

        Runs as the payment's entry is posted, before Odoo reconciles the payment with the
        transaction's invoices: the surcharge is paid by the money charged for it, and only
        the rest goes to the invoices (which matters when the invoices are paid in part).
        """
        for move in self.filtered("origin_payment_id"):
            payment = move.origin_payment_id
            tx = payment.sudo().payment_transaction_id
            surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id.with_env(self.env)
            if not surcharge_move:
                continue
            account = payment.destination_account_id
            (move.line_ids + surcharge_move.line_ids).filtered(
                lambda line, account=account: line.account_id == account and not line.reconciled
            ).reconcile()

    def _finnsys_refund_surcharges(self):
        """Refund, in proportion, the card surcharges paid on the invoices these credit notes
        credit: one refund per credit note and surcharge document, however often it is posted."""
        credit_notes = self.filtered(
            lambda m: (
                m.move_type == "out_refund"
                and m.reversed_entry_id
                and not m.finnsys_surcharge_credit_note_id
            )
        )
        if not credit_notes:
            return
        credited = credit_notes.reversed_entry_id
        consents = (
            self.env["finnsys.surcharge.consent"]
            .sudo()
            .search(
                (
                    Domain("invoice_id", "in", credited.ids)
                    | Domain("transaction_id.invoice_ids", "in", credited.ids)
                )
                & Domain("state", "=", "accepted")
                & Domain("surcharge_move_id.state", "=", "posted")
            )
        )
        if not consents:
            return
        self._finnsys_lock_surcharges(consents.surcharge_move_id)
        for credit_note in credit_notes.sudo():
            done = credit_note.finnsys_surcharge_refund_ids.reversed_entry_id
            for consent in consents:
                if (
                    credit_note.reversed_entry_id not in consent._surcharged_invoices()
                    or consent.surcharge_move_id in done
                ):
                    continue
                amount = consent._refund_amount(credit_note)
                if consent.currency_id.compare_amounts(amount, 0.0) > 0:
                    consent._book_refund(credit_note, amount)

    def _finnsys_lock_surcharges(self, surcharge_moves):
        """Serialize the refunds of these surcharge documents.

        Odoo runs transactions in REPEATABLE READ: a no-op UPDATE (not a plain row lock) makes
        a concurrent refund fail with a serialization error, which Odoo retries with a snapshot
        that shows the refund booked first, so the total never exceeds the surcharge.
        """
        self.env.cr.execute(
            SQL(
                "UPDATE account_move SET write_date = write_date WHERE id IN %s",
                tuple(sorted(surcharge_moves.ids)),
            )
        )

    def _finnsys_share_of(self, invoices):
        """The part of ``invoices`` these credit notes credit together (1.0: all of them)."""
        if (
            all(move.currency_id == invoices.currency_id for move in self)
            and len(invoices.currency_id) == 1
        ):
            credited, total = sum(self.mapped("amount_total")), sum(invoices.mapped("amount_total"))
        else:
            credited = -sum(self.mapped("amount_total_signed"))
            total = sum(invoices.mapped("amount_total_signed"))
        return credited / total if total else 0.0

    def button_draft(self):
        result = super().button_draft()
        self.env["res.partner"]._finnsys_invalidate_figures()
        return result

    def button_cancel(self):
        result = super().button_cancel()
        self.env["res.partner"]._finnsys_invalidate_figures()
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
        partners.finnsys_lock_customers()
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
        if self.env.user.has_group(BILLING_MANAGER_GROUP):
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
            credits = invoice.commercial_partner_id._finnsys_credit_lines(
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
