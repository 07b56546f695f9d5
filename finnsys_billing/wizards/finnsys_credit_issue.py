from odoo import fields, models
from odoo.exceptions import UserError
from odoo.fields import Command, Domain
from odoo.tools import clean_context, format_amount


class FinnsysCreditIssue(models.TransientModel):
    """Issue a goodwill credit note that is not tied to an invoice.

    A prepaid customer keeps it as credit that its next invoices consume. A postpaid customer
    has it applied at once to its oldest open invoices: ``_finnsys_apply_credit`` only runs
    when an invoice is posted, so the credit would otherwise wait for the next invoice.
    """

    _name = "finnsys.credit.issue"
    _description = "Issue a goodwill credit"
    _check_company_auto = True

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        check_company=True,
        domain="['|', ('is_company', '=', True), ('parent_id', '=', False)]",
    )
    billing_mode = fields.Selection(related="partner_id.commercial_partner_id.billing_mode")
    amount = fields.Monetary(required=True)
    reason = fields.Char(required=True, help="Label of the credit note and of its line.")
    account_id = fields.Many2one(
        "account.account",
        string="Income Account",
        required=True,
        check_company=True,
        default=lambda self: self._default_account_id(),
        domain="[('account_type', 'in', ('income', 'income_other'))]",
    )
    date = fields.Date(required=True, default=fields.Date.context_today)

    def _sale_journal(self, company):
        return self.env["account.journal"].search(
            Domain(self.env["account.journal"]._check_company_domain(company))
            & Domain("type", "=", "sale"),
            limit=1,
        )

    def _default_account_id(self):
        # The credit note line has no product, so Odoo would book it on the sale journal's
        # default account; offer the same, then the company's income account.
        company = self.env.company
        return self._sale_journal(company).default_account_id or company.income_account_id

    def action_confirm(self):
        """Post the credit note, apply it for a postpaid customer, and open it."""
        self.ensure_one()
        # Defaults meant for this wizard (the customer) must not reach the entries it creates.
        wizard = self.with_context(clean_context(self.env.context))
        partner, journal = wizard._check_values()
        credit_note = wizard._create_credit_note(partner, journal)
        if partner.billing_mode == "postpaid":
            wizard._apply_to_open_invoices(credit_note)
        return credit_note._get_records_action(name=self.env._("Credit Note"), context={})

    def _check_values(self):
        if not self.partner_id:
            raise UserError(self.env._("Choose the Customer to credit."))
        if self.currency_id.compare_amounts(self.amount, 0) <= 0:
            raise UserError(
                self.env._(
                    "Amount of the credit must be greater than zero (%(amount)s given): enter the "
                    "amount to credit to %(partner)s.",
                    amount=format_amount(self.env, self.amount, self.currency_id),
                    partner=self.partner_id.commercial_partner_id.display_name,
                )
            )
        if not (self.reason or "").strip():
            raise UserError(
                self.env._(
                    "Reason is required: it is the label the customer sees on the credit note."
                )
            )
        journal = self._sale_journal(self.company_id)
        if not journal:
            raise UserError(
                self.env._(
                    "%(company)s has no sales journal to issue the credit note in: create one in "
                    "the accounting configuration.",
                    company=self.company_id.display_name,
                )
            )
        return self.partner_id.commercial_partner_id, journal

    def _create_credit_note(self, partner, journal):
        credit_note = self.env["account.move"].create(
            {
                "move_type": "out_refund",
                "partner_id": partner.id,
                "company_id": self.company_id.id,
                "journal_id": journal.id,
                "currency_id": self.currency_id.id,
                "invoice_date": self.date,
                "ref": self.reason,
                "invoice_line_ids": [
                    Command.create(
                        {
                            "name": self.reason,
                            "account_id": self.account_id.id,
                            "quantity": 1.0,
                            "price_unit": self.amount,
                            # A goodwill credit is the amount the customer gets back, tax included.
                            "tax_ids": [Command.clear()],
                        }
                    )
                ],
            }
        )
        credit_note.action_post()
        return credit_note

    def _apply_to_open_invoices(self, credit_note):
        """Apply the credit note to the customer's open invoices, oldest first."""
        credit_lines = credit_note.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        invoices = self.env["account.move"].search(
            Domain("move_type", "=", "out_invoice")
            & Domain("state", "=", "posted")
            & Domain("commercial_partner_id", "=", credit_note.commercial_partner_id.id)
            & Domain("company_id", "=", credit_note.company_id.id)
            & Domain("amount_residual", ">", 0)
            & Domain(
                "line_ids",
                "any",
                Domain("account_id", "in", credit_lines.account_id.ids)
                & Domain("reconciled", "=", False),
            ),
            order="invoice_date, id",
        )
        for invoice in invoices:
            for credit_line in credit_lines.filtered(lambda line: not line.reconciled):
                if invoice.currency_id.is_zero(invoice.amount_residual):
                    break
                invoice.js_assign_outstanding_line(credit_line.id)
            if all(credit_lines.mapped("reconciled")):
                break
