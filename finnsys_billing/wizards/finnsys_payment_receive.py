from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command, Domain
from odoo.tools import clean_context, format_amount


class FinnsysPaymentReceive(models.TransientModel):
    """Record a customer payment, or allocate a posted one, and apply it to open invoices.

    Whatever is not applied stays on the customer's receivable as unapplied credit: a top-up
    for a prepaid customer, consumed by ``account.move._finnsys_apply_credit`` when the next
    invoice is posted.
    """

    _name = "finnsys.payment.receive"
    _description = "Receive a customer payment"
    _check_company_auto = True

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    payment_id = fields.Many2one(
        "account.payment",
        readonly=True,
        check_company=True,
        help="Posted payment to allocate. Empty to record a new payment.",
    )
    payment_partner_id = fields.Many2one(related="payment_id.partner_id")
    # The fields taken from an allocated payment are read-only then, so the form does not
    # send them: they are precomputed, or the required ones would be missing at creation.
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        compute="_compute_partner_id",
        store=True,
        readonly=False,
        precompute=True,
        check_company=True,
        domain="['|', ('is_company', '=', True), ('parent_id', '=', False)]",
    )
    journal_id = fields.Many2one(
        "account.journal",
        compute="_compute_journal_id",
        store=True,
        readonly=False,
        precompute=True,
        required=True,
        check_company=True,
        domain="[('type', 'in', ('bank', 'cash'))]",
    )
    currency_id = fields.Many2one("res.currency", compute="_compute_currency_id")
    amount = fields.Monetary(compute="_compute_amount", store=True, readonly=False, precompute=True)
    date = fields.Date(
        compute="_compute_date", store=True, readonly=False, precompute=True, required=True
    )
    memo = fields.Char(
        string="Reference", compute="_compute_memo", store=True, readonly=False, precompute=True
    )
    line_ids = fields.One2many(
        "finnsys.payment.receive.line",
        "wizard_id",
        string="Open Invoices",
        compute="_compute_line_ids",
        store=True,
        readonly=False,
    )
    amount_applied = fields.Monetary(string="Applied", compute="_compute_amount_applied")
    amount_unapplied = fields.Monetary(
        string="Left as Credit",
        compute="_compute_amount_applied",
        help="Stays on the customer's account as unapplied credit.",
    )

    @api.depends("payment_id")
    def _compute_partner_id(self):
        for wizard in self:
            payment_partner = wizard.payment_id.partner_id.commercial_partner_id
            wizard.partner_id = payment_partner or wizard.partner_id

    @api.depends("payment_id", "company_id")
    def _compute_journal_id(self):
        for wizard in self:
            if wizard.payment_id:
                wizard.journal_id = wizard.payment_id.journal_id
            elif not wizard.journal_id:
                wizard.journal_id = self.env["account.journal"].search(
                    Domain(self.env["account.journal"]._check_company_domain(wizard.company_id))
                    & Domain("type", "=", "bank"),
                    limit=1,
                )
            else:
                wizard.journal_id = wizard.journal_id

    @api.depends("payment_id", "journal_id", "company_id")
    def _compute_currency_id(self):
        for wizard in self:
            wizard.currency_id = (
                wizard.payment_id.currency_id
                or wizard.journal_id.currency_id
                or wizard.company_id.currency_id
            )

    @api.depends("payment_id")
    def _compute_amount(self):
        for wizard in self:
            if wizard.payment_id:
                wizard.amount = wizard.payment_id._finnsys_open_amount()
            else:
                wizard.amount = wizard.amount

    @api.depends("payment_id")
    def _compute_date(self):
        for wizard in self:
            wizard.date = wizard.payment_id.date or wizard.date or fields.Date.context_today(wizard)

    @api.depends("payment_id")
    def _compute_memo(self):
        for wizard in self:
            wizard.memo = wizard.payment_id.memo if wizard.payment_id else wizard.memo

    @api.depends("partner_id", "currency_id", "amount")
    def _compute_line_ids(self):
        """List the open invoices, oldest due first, and apply the amount to them greedily."""
        for wizard in self:
            remaining = max(wizard.amount, 0.0)
            commands = [Command.clear()]
            for sequence, invoice in enumerate(wizard._open_invoices()):
                applied = min(remaining, invoice.amount_residual)
                remaining = wizard.currency_id.round(remaining - applied)
                commands.append(
                    Command.create(
                        {
                            "sequence": sequence,
                            "move_id": invoice.id,
                            "amount_to_apply": applied,
                        }
                    )
                )
            wizard.line_ids = commands

    @api.depends("amount", "line_ids.amount_to_apply")
    def _compute_amount_applied(self):
        for wizard in self:
            wizard.amount_applied = sum(wizard.line_ids.mapped("amount_to_apply"))
            wizard.amount_unapplied = wizard.amount - wizard.amount_applied

    def _open_invoices(self):
        self.ensure_one()
        if not self.partner_id:
            return self.env["account.move"]
        return self.env["account.move"].search(
            Domain("move_type", "=", "out_invoice")
            & Domain("state", "=", "posted")
            & Domain("commercial_partner_id", "=", self.partner_id.commercial_partner_id.id)
            & Domain("company_id", "=", self.company_id.id)
            & Domain("currency_id", "=", self.currency_id.id)
            & Domain("amount_residual", ">", 0),
            order="invoice_date_due, invoice_date, id",
        )

    def _money(self, amount):
        return format_amount(self.env, amount, self.currency_id)

    def action_confirm(self):
        """Post the payment (or take the allocated one), apply it, and open it."""
        self.ensure_one()
        # Defaults meant for this wizard must not reach the payment and entries it creates.
        wizard = self.with_context(clean_context(self.env.context))
        partner = wizard._check_customer()
        wizard._check_journal()
        payment = wizard.payment_id
        available = payment._finnsys_open_amount() if payment else wizard.amount
        wizard._check_amount(available)
        allocations = wizard._allocations()
        wizard._check_total(allocations, available)
        if payment:
            wizard._assign_payment(payment, partner)
        else:
            payment = wizard._create_payment(partner)
        payment.finnsys_allocate(allocations)
        return payment._get_records_action(name=self.env._("Payment"), context={})

    def _check_customer(self):
        if not self.partner_id:
            raise UserError(self.env._("Choose the Customer who made the payment."))
        partner = self.partner_id.commercial_partner_id
        payment_partner = self.payment_id.partner_id.commercial_partner_id
        if payment_partner and payment_partner != partner:
            raise UserError(
                self.env._(
                    "Payment %(payment)s belongs to %(owner)s: it cannot be applied to "
                    "the invoices of %(partner)s.",
                    payment=self.payment_id.display_name,
                    owner=payment_partner.display_name,
                    partner=partner.display_name,
                )
            )
        return partner

    def _check_journal(self):
        journal = self.journal_id
        if journal.type not in ("bank", "cash"):
            raise UserError(
                self.env._(
                    "Journal %(journal)s is not a bank or cash journal: choose the journal the "
                    "money was received on.",
                    journal=journal.display_name,
                )
            )
        if journal.company_id not in self.env.company.parent_ids:
            raise UserError(
                self.env._(
                    "Journal %(journal)s belongs to %(company)s, not to your current company "
                    "%(current)s: choose a bank or cash journal of %(current)s, or switch company.",
                    journal=journal.display_name,
                    company=journal.company_id.display_name,
                    current=self.env.company.display_name,
                )
            )

    def _check_amount(self, available):
        if self.currency_id.compare_amounts(available, 0) > 0:
            return
        if self.payment_id:
            raise UserError(
                self.env._(
                    "Payment %(payment)s has nothing left to allocate: all of it is already "
                    "applied.",
                    payment=self.payment_id.display_name,
                )
            )
        raise UserError(
            self.env._(
                "Amount must be greater than zero: enter the amount received (%(amount)s given).",
                amount=self._money(available),
            )
        )

    def _allocations(self):
        """Return ``[(invoice, amount)]`` for the lines that apply something, checked
        against the ledger rather than against the amounts shown in the wizard."""
        currency = self.currency_id
        open_invoices = self._open_invoices()
        allocations = []
        for line in self.line_ids:
            invoice = line.move_id
            if currency.compare_amounts(line.amount_to_apply, 0) < 0:
                raise UserError(
                    self.env._(
                        "Amount to Apply on %(invoice)s is negative: enter zero to leave the "
                        "invoice open.",
                        invoice=invoice.display_name,
                    )
                )
            if currency.is_zero(line.amount_to_apply):
                continue
            if invoice not in open_invoices:
                raise UserError(
                    self.env._(
                        "%(invoice)s is not an open invoice of %(partner)s in %(currency)s: "
                        "set its Amount to Apply to zero.",
                        invoice=invoice.display_name,
                        partner=self.partner_id.commercial_partner_id.display_name,
                        currency=currency.name,
                    )
                )
            if currency.compare_amounts(line.amount_to_apply, invoice.amount_residual) > 0:
                raise UserError(
                    self.env._(
                        "Amount to Apply on %(invoice)s (%(applied)s) is more than it still owes "
                        "(%(residual)s): lower it to at most the amount due.",
                        invoice=invoice.display_name,
                        applied=self._money(line.amount_to_apply),
                        residual=self._money(invoice.amount_residual),
                    )
                )
            allocations.append((invoice, line.amount_to_apply))
        return allocations

    def _check_total(self, allocations, available):
        total = sum(amount for _invoice, amount in allocations)
        if self.currency_id.compare_amounts(total, available) > 0:
            raise UserError(
                self.env._(
                    "The amounts to apply add up to %(total)s, more than the %(available)s "
                    "received: lower them, or raise the Amount.",
                    total=self._money(total),
                    available=self._money(available),
                )
            )

    def _create_payment(self, partner):
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": self.amount,
                "currency_id": self.currency_id.id,
                "journal_id": self.journal_id.id,
                "date": self.date,
                "memo": self.memo,
            }
        )
        payment.action_post()
        return payment

    def _assign_payment(self, payment, partner):
        """Check a posted payment can be allocated, and give it its customer if it has none.

        The customer decides the receivable account and the partner of the journal items, so
        the payment is reset to draft, given the customer and posted again, which lets
        ``account.payment`` rebuild its entry. That is only safe while nothing of it is
        reconciled: resetting would otherwise undo matches made elsewhere.
        """
        if payment.state not in ("in_process", "paid") or payment.move_id.state != "posted":
            raise UserError(
                self.env._(
                    "Payment %(payment)s is not posted: confirm it before allocating it.",
                    payment=payment.display_name,
                )
            )
        if payment.payment_type != "inbound" or payment.partner_type != "customer":
            raise UserError(
                self.env._(
                    "Payment %(payment)s is not a payment received from a customer: only those "
                    "can be allocated to invoices.",
                    payment=payment.display_name,
                )
            )
        if payment.partner_id:
            return
        lines = payment.move_id.line_ids
        if lines.matched_debit_ids or lines.matched_credit_ids:
            raise UserError(
                self.env._(
                    "Payment %(payment)s has no customer but is already partly reconciled: "
                    "unreconcile it before assigning it to %(partner)s.",
                    payment=payment.display_name,
                    partner=partner.display_name,
                )
            )
        payment.action_draft()
        payment.partner_id = partner
        payment.action_post()
