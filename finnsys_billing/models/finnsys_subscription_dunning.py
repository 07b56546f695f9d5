from datetime import timedelta

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL

from ..concurrency import claim_rows, insert_once
from .res_company import parse_dunning_days

DUNNING_STATES = [
    ("running", "Retrying"),
    ("paid", "Paid"),
    ("failed", "Given Up"),
]


class FinnsysSubscriptionDunning(models.Model):
    """The retries of an online subscription invoice whose saved-card charge failed.

    One row per invoice. The cron charges the card again on the days of the company's
    schedule (days after the first failed charge); each failed charge e-mails the customer a
    link to pay the invoice or update the card. After the last try the subscription is paused
    or closed and a billing manager gets an activity. Any payment that settles the invoice
    stops the retries.
    """

    _name = "finnsys.subscription.dunning"
    _description = "Subscription Dunning"
    _inherit = ["mail.thread"]
    _order = "next_try_at, id"
    _rec_name = "invoice_id"

    invoice_id = fields.Many2one("account.move", required=True, readonly=True, ondelete="cascade")
    contract_id = fields.Many2one(
        "contract.contract",
        string="Subscription",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    partner_id = fields.Many2one(related="invoice_id.partner_id", store=True, string="Customer")
    company_id = fields.Many2one(related="contract_id.company_id", store=True)
    currency_id = fields.Many2one(related="invoice_id.currency_id")
    amount_residual = fields.Monetary(related="invoice_id.amount_residual", string="Amount Due")
    state = fields.Selection(
        DUNNING_STATES, default="running", required=True, readonly=True, index=True, tracking=True
    )
    first_failure_at = fields.Datetime(string="First Failure", required=True, readonly=True)
    attempt_count = fields.Integer(
        string="Retries", readonly=True, help="Charges tried again after the first failure."
    )
    next_try_at = fields.Datetime(string="Next Try", readonly=True)
    last_error = fields.Text(readonly=True)

    _unique_invoice = models.Constraint("UNIQUE(invoice_id)", "An invoice has one dunning at most.")
    _due_idx = models.Index("(next_try_at) WHERE state = 'running'")

    # Opening and failures ---------------------------------------------------------------

    @api.model
    def _charge_failed(self, invoice, error):
        """Record a failed charge of ``invoice``: open its dunning, or count a retry."""
        invoice = invoice.sudo()
        if not invoice.subscription_id or invoice.currency_id.is_zero(invoice.amount_residual):
            return self.browse()
        dunning = self.sudo().search(Domain("invoice_id", "=", invoice.id))
        if not dunning:
            # The database's clock, as the retry schedule has always been counted from it.
            now = SQL("now() at time zone 'UTC'")
            # A dunning opened meanwhile by a run this snapshot does not see raises, as before.
            ids = insert_once(
                self.env,
                self._table,
                [
                    {
                        "invoice_id": invoice.id,
                        "contract_id": invoice.subscription_id.id,
                        "partner_id": invoice.partner_id.id,
                        "company_id": invoice.subscription_id.company_id.id,
                        "state": "running",
                        "first_failure_at": now,
                        "attempt_count": 0,
                    }
                ],
                SQL("(invoice_id)"),
                now=now,
                raise_unseen=True,
            )
            if not ids:
                return self.browse()
            dunning = self.sudo().browse(ids[0])
            dunning._failure(error, retry=False)
            return dunning
        if dunning.state == "running":
            dunning._failure(error, retry=True)
        return dunning

    def _failure(self, error, retry):
        """Count a failed charge, e-mail the customer, and schedule the next try or give up."""
        self.ensure_one()
        company = self.company_id
        days = parse_dunning_days(self.env, company.billing_dunning_retry_days)
        attempts = self.attempt_count + (1 if retry else 0)
        values = {"attempt_count": attempts, "last_error": error}
        if attempts < len(days):
            values["next_try_at"] = self.first_failure_at + timedelta(days=days[attempts])
        else:
            values.update(state="failed", next_try_at=False)
        self.write(values)
        self.message_post(body=self.env._("Charge failed: %(error)s", error=error))
        if self.state == "failed":
            self._give_up()
        template = self.env.ref("finnsys_billing.mail_template_subscription_dunning")
        template.sudo().send_mail(self.id)

    def _give_up(self):
        """After the last try: pause or close the subscription, and ask a manager to act."""
        contract = self.contract_id.sudo()
        action = self.company_id.billing_dunning_final_action
        if action == "close" and contract.subscription_state != "closed":
            contract.action_subscription_close()
        elif action == "pause" and contract.subscription_state == "active":
            contract.action_subscription_pause()
        summary = self.env._(
            "Subscription %(state)s: card charge failed after %(count)s retries",
            state=dict(contract._fields["subscription_state"].selection)[
                contract.subscription_state
            ].lower(),
            count=self.attempt_count,
        )
        contract.message_post(
            body=Markup("%s<br/>%s") % (summary, self.last_error or ""),
        )
        self._alert_manager(
            contract,
            summary,
            self.env._(
                "Invoice %(invoice)s is unpaid: %(error)s",
                invoice=self.invoice_id.name,
                error=self.last_error or "",
            ),
        )

    @api.model
    def _posting_refused(self, contract, error):
        """Pause a subscription whose invoice could not be posted, and tell both sides."""
        reason = error.args[0] if error.args else str(error)
        contract.action_subscription_pause()
        contract.message_post(
            body=Markup("%s<br/>%s")
            % (self.env._("Subscription paused: its invoice could not be posted."), reason)
        )
        template = self.env.ref("finnsys_billing.mail_template_subscription_paused")
        template.send_mail(contract.id)
        self._alert_manager(contract, self.env._("Subscription paused: invoice refused"), reason)

    @api.model
    def _alert_manager(self, contract, summary, note):
        """Give the person to act on ``contract`` a to-do: its responsible if a billing
        manager, else the company's first billing manager. Never OdooBot, whom the superuser's
        groups make a manager but who reads no activity; nobody when the company has none."""
        group = self.env.ref("finnsys_billing.group_billing_manager")

        def is_person(user):
            return user.active and not user.share and not user._is_superuser()

        manager = contract.user_id
        if not (manager and is_person(manager) and group in manager.all_group_ids):
            manager = group.all_user_ids.filtered(
                lambda user: is_person(user) and contract.company_id in user.company_ids
            ).sorted("id")[:1]
        if manager:
            contract.activity_schedule(
                "mail.mail_activity_data_todo", summary=summary, note=note, user_id=manager.id
            )

    @api.model
    def _settled(self, invoices):
        """Stop the retries of ``invoices`` that nothing is left to pay on."""
        if not invoices:
            return
        dunnings = self.sudo().search(
            Domain("invoice_id", "in", invoices.ids) & Domain("state", "=", "running")
        )
        for dunning in dunnings.filtered(
            lambda d: d.invoice_id.currency_id.is_zero(d.invoice_id.amount_residual)
        ):
            dunning.write({"state": "paid", "next_try_at": False})
            dunning.message_post(body=self.env._("Invoice paid: retries stopped."))

    # Collecting -------------------------------------------------------------------------

    @api.model
    def _collect(self, contract, invoices):
        """Offline subscriptions send their invoice. Online ones were paid from the customer's
        credit at posting; what is left of a postpaid customer's is charged to its saved token.
        """
        if contract.subscription_payment == "online":
            self._prepare_token_charges(contract, invoices)
            return
        template = self.env.ref("finnsys_billing.mail_template_subscription_invoice")
        for invoice in invoices:
            template.send_mail(invoice.id)
        invoices.is_move_sent = True

    @api.model
    def _prepare_token_charges(self, contract, invoices):
        """Give each unpaid invoice of ``contract`` a draft token transaction, charged once it
        is committed. A postpaid customer without a saved card cannot be charged: that is a
        failed charge too, and the customer is asked to pay or add a card."""
        partner = contract.partner_id.commercial_partner_id
        if partner.billing_mode != "postpaid":
            return
        unpaid = invoices.filtered(
            lambda m: m.move_type == "out_invoice" and not m.currency_id.is_zero(m.amount_residual)
        )
        token = contract.finnsys_payment_token()
        if not token:
            for invoice in unpaid:
                self._charge_failed(invoice, self.env._("No saved payment method."))
            return
        for invoice in unpaid:
            contract.env["payment.transaction"]._finnsys_new_token_charge(
                token,
                partner,
                invoice.amount_residual,
                invoice.currency_id,
                invoice.name,
                invoice_ids=[Command.set(invoice.ids)],
            )

    @api.model
    def _pending_charges(self, invoices=None):
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

    @api.model
    def _charge(self, transactions):
        """Charge subscription invoices' draft token transactions through the one saved-token
        charge (``payment.transaction._finnsys_charge_saved_token``), then open (or count a
        retry of) the dunning of each invoice a refusal left unpaid. Transactions another run
        holds are left to it."""
        for tx in transactions._finnsys_charge_saved_token():
            if tx.state not in ("error", "cancel"):
                continue
            error = tx.state_message or self.env._("The card was declined.")
            for invoice in tx.invoice_ids.filtered("subscription_id"):
                self._charge_failed(invoice, error)

    @api.model
    def _charge_each(self, transactions):
        """Charge token transactions one commit each: a payment's number is held for one."""
        for tx in transactions:
            self._charge(tx)
            self.env["ir.cron"]._commit_progress()

    # Links of the e-mail ----------------------------------------------------------------

    def _pay_url(self):
        """The invoice's portal page with its payment dialog open, signed for the customer."""
        self.ensure_one()
        invoice = self.invoice_id.sudo()
        return invoice.get_base_url() + invoice.get_portal_url(query_string="&payment=true")

    def _card_url(self):
        self.ensure_one()
        return self.invoice_id.get_base_url() + "/my/payment_method"

    # Retries ----------------------------------------------------------------------------

    @api.model
    def _cron_retry_charges(self, max_rows=5000):
        """Charge again the invoices due a retry, each claimed and committed on its own.

        Safe to run twice at once: a row another run holds (or changed since this run's
        snapshot) is skipped, and its next try is moved before the commit releases it.

        :param max_rows: rows retried by one run at most (the next run takes the others)
        """
        Cron = self.env["ir.cron"]
        for _done in range(max_rows):
            dunning = self._claim_due()
            if not dunning:
                break
            dunning._retry()
            remaining = self.sudo().search_count(self._due_domain())
            if not Cron._finnsys_commit_batch(1, remaining=remaining):
                return
        Cron._finnsys_commit_batch(remaining=0)

    @api.model
    def _due_domain(self):
        return Domain("state", "=", "running") & Domain("next_try_at", "<=", fields.Datetime.now())

    @api.model
    def _claim_due(self):
        """Lock one dunning due a retry that no other run holds, or return an empty set."""
        ids = claim_rows(
            self.env,
            self._table,
            condition=SQL("state = 'running' AND next_try_at <= %s", fields.Datetime.now()),
            order=SQL("next_try_at, id"),
            limit=1,
        )
        dunning = self.sudo().browse(ids)
        dunning.invalidate_recordset()
        return dunning

    def _retry(self):
        """Charge the invoice again with the customer's saved card."""
        self.ensure_one()
        invoice = self.invoice_id
        invoice.invalidate_recordset()
        if invoice.currency_id.is_zero(invoice.amount_residual) or invoice.state != "posted":
            self.write({"state": "paid", "next_try_at": False})
            return
        contract = self.contract_id.with_company(self.company_id)
        attempts = self.attempt_count
        token = contract.finnsys_payment_token()
        if not token:
            self._failure(self.env._("No saved payment method."), retry=True)
            return
        try:
            with self.env.cr.savepoint():
                self._prepare_token_charges(contract, invoice)
                self._charge(self._pending_charges(invoice))
        except (UserError, ValidationError) as error:
            self._failure(str(error), retry=True)
            return
        self.invalidate_recordset()
        invoice.invalidate_recordset()
        if self.state == "running" and self.attempt_count == attempts:
            if invoice.currency_id.is_zero(invoice.amount_residual):
                self._settled(invoice)
            else:
                # Neither paid nor refused (a pending charge): the try counts all the same.
                self._failure(self.env._("The charge is still pending."), retry=True)
