from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from .common import BillingFiguresMixin


@tagged("post_install", "-at_install")
class TestPaymentReceive(BillingFiguresMixin, AccountTestInvoicingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids |= cls.env.ref("finnsys_billing.group_billing_user")
        cls.company_data_2 = cls.setup_other_company()
        cls.bank_journal = cls.company_data["default_journal_bank"]
        cls.billing_user = new_test_user(
            cls.env,
            login="receive_clerk",
            groups="base.group_user,finnsys_billing.group_billing_user",
            company_id=cls.env.company.id,
            company_ids=[Command.set(cls.env.company.ids)],
        )
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "Postpaid Pete",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "postpaid",
            }
        )
        cls.receivable = cls.customer.property_account_receivable_id
        # Created newest first: the wizard must order by due date, not by creation.
        cls.invoice_new = cls._invoice(200.0, "2026-02-10")
        cls.invoice_old = cls._invoice(300.0, "2026-01-10")

    @classmethod
    def _invoice(cls, amount, date):
        return cls.init_invoice(
            "out_invoice",
            partner=cls.customer,
            invoice_date=fields.Date.to_date(date),
            amounts=[amount],
            taxes=[],
            post=True,
        )

    def _wizard(self, amount, allocations=(), journal=None, partner=None, user=None):
        """Fill the wizard as a user would; ``allocations`` edit the lines in order."""
        model = self.env["finnsys.payment.receive"].with_user(user or self.env.user)
        with Form(model) as form:
            form.partner_id = partner or self.customer
            if journal:
                form.journal_id = journal
            form.amount = amount
            form.memo = "Transfer 42"
            for index, value in enumerate(allocations):
                with form.line_ids.edit(index) as line:
                    line.amount_to_apply = value
        return form.record

    def _confirm(self, wizard):
        action = wizard.action_confirm()
        self.assertEqual(action["res_model"], "account.payment")
        return self.env["account.payment"].browse(action["res_id"])

    def _assert_payment_items(self, payment, amount, residual, partner=None):
        partner = partner or self.customer
        self.assertRecordValues(
            payment.move_id.line_ids.sorted("balance"),
            [
                {
                    "account_id": self.receivable.id,
                    "partner_id": partner.id,
                    "debit": 0.0,
                    "credit": amount,
                    "amount_residual": -residual,
                    "reconciled": not residual,
                },
                {
                    "account_id": payment.outstanding_account_id.id,
                    "partner_id": partner.id,
                    "debit": amount,
                    "credit": 0.0,
                    "amount_residual": amount,
                    "reconciled": False,
                },
            ],
        )

    def _receivable_line(self, move):
        return move.line_ids.filtered(lambda line: line.account_id == self.receivable)

    def test_payment_applied_oldest_due_first_and_rest_kept_as_credit(self):
        wizard = self._wizard(600.0, user=self.billing_user)
        self.assertEqual(wizard.line_ids.move_id.ids, [self.invoice_old.id, self.invoice_new.id])
        self.assertEqual(wizard.line_ids.mapped("amount_to_apply"), [300.0, 200.0])
        self.assertEqual(wizard.amount_unapplied, 100.0)

        payment = self._confirm(wizard)

        self.assertRecordValues(
            payment,
            [
                {
                    "partner_id": self.customer.id,
                    "payment_type": "inbound",
                    "partner_type": "customer",
                    "amount": 600.0,
                    "journal_id": self.bank_journal.id,
                    "memo": "Transfer 42",
                }
            ],
        )
        self.assertEqual(payment.move_id.state, "posted")
        self._assert_payment_items(payment, 600.0, residual=100.0)
        self.assertRecordValues(
            self.invoice_old + self.invoice_new,
            [
                {"payment_state": "paid", "amount_residual": 0.0},
                {"payment_state": "paid", "amount_residual": 0.0},
            ],
        )
        self.assertTrue(
            all(self._receivable_line(self.invoice_old + self.invoice_new).mapped("reconciled"))
        )
        self._assert_figures(
            self.customer, balance=100.0, receivable=-100.0, outstanding=0.0, unapplied=100.0
        )

    def test_partial_allocation_leaves_invoice_partially_paid(self):
        wizard = self._wizard(400.0, allocations=[100.0, 200.0])
        self.assertEqual(wizard.amount_unapplied, 100.0)

        payment = self._confirm(wizard)

        self._assert_payment_items(payment, 400.0, residual=100.0)
        self.assertRecordValues(
            self.invoice_old + self.invoice_new,
            [
                {"payment_state": "partial", "amount_residual": 200.0},
                {"payment_state": "paid", "amount_residual": 0.0},
            ],
        )
        payment_line = self._receivable_line(payment.move_id)
        old_line = self._receivable_line(self.invoice_old)
        self.assertRecordValues(old_line, [{"amount_residual": 200.0, "reconciled": False}])
        self.assertRecordValues(
            old_line.matched_credit_ids,
            [
                {
                    "credit_move_id": payment_line.id,
                    "amount": 100.0,
                }
            ],
        )
        self._assert_figures(
            self.customer, balance=-100.0, receivable=100.0, outstanding=200.0, unapplied=100.0
        )

    def test_partial_allocation_using_the_whole_payment(self):
        wizard = self._wizard(250.0)
        self.assertEqual(wizard.line_ids.mapped("amount_to_apply"), [250.0, 0.0])

        payment = self._confirm(wizard)

        self._assert_payment_items(payment, 250.0, residual=0.0)
        self.assertRecordValues(
            self.invoice_old + self.invoice_new,
            [
                {"payment_state": "partial", "amount_residual": 50.0},
                {"payment_state": "not_paid", "amount_residual": 200.0},
            ],
        )
        self._assert_figures(
            self.customer, balance=-250.0, receivable=250.0, outstanding=250.0, unapplied=0.0
        )

    def test_invalid_input_is_refused_without_payment(self):
        cases = {
            "zero amount": {"amount": 0.0},
            "negative amount": {"amount": -50.0},
            "negative allocation": {"amount": 100.0, "allocations": [-10.0]},
            "allocation above residual": {"amount": 1000.0, "allocations": [350.0, 200.0]},
            "allocations above amount": {"amount": 300.0, "allocations": [200.0, 200.0]},
            "journal of another company": {
                "amount": 100.0,
                "journal": self.company_data_2["default_journal_bank"],
            },
        }
        # Both companies allowed, the first one current: the other journal is readable.
        self.env = self.env(
            context=dict(
                self.env.context,
                allowed_company_ids=[self.env.company.id, self.company_data_2["company"].id],
            )
        )
        payments = self.env["account.payment"].search_count([])
        for name, values in cases.items():
            with self.subTest(name), self.assertRaises(UserError):
                self._wizard(**values).action_confirm()
            self.assertEqual(self.env["account.payment"].search_count([]), payments, name)
        self.assertRecordValues(
            self.invoice_old + self.invoice_new,
            [
                {"payment_state": "not_paid", "amount_residual": 300.0},
                {"payment_state": "not_paid", "amount_residual": 200.0},
            ],
        )

    def test_journal_of_other_than_current_company_is_refused(self):
        company_2 = self.company_data_2["company"]
        wizard = (
            self.env["finnsys.payment.receive"]
            .with_company(company_2)
            .create(
                {
                    "partner_id": self.customer.id,
                    "journal_id": self.company_data_2["default_journal_bank"].id,
                    "amount": 100.0,
                }
            )
        )
        payments = self.env["account.payment"].search_count([])
        with self.assertRaisesRegex(UserError, "not to your current company"):
            wizard.with_company(self.env.company).action_confirm()
        self.assertEqual(self.env["account.payment"].search_count([]), payments)

    def test_missing_customer_is_refused(self):
        wizard = self.env["finnsys.payment.receive"].create(
            {
                "journal_id": self.bank_journal.id,
                "amount": 100.0,
            }
        )
        with self.assertRaisesRegex(UserError, "Customer"):
            wizard.action_confirm()

    def test_assign_payment_without_customer(self):
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "amount": 500.0,
                "journal_id": self.bank_journal.id,
            }
        )
        payment.action_post()
        self.assertFalse(self._receivable_line(payment.move_id).partner_id)

        form = Form(self.env["finnsys.payment.receive"].with_context(default_payment_id=payment.id))
        self.assertEqual(form.amount, 500.0)
        self.assertEqual(form.journal_id, self.bank_journal)
        form.partner_id = self.customer
        wizard = form.save()
        self.assertEqual(wizard.line_ids.mapped("amount_to_apply"), [300.0, 200.0])

        self.assertEqual(self._confirm(wizard), payment)

        self.assertEqual(payment.partner_id, self.customer)
        self.assertEqual(payment.move_id.state, "posted")
        self._assert_payment_items(payment, 500.0, residual=0.0)
        self.assertRecordValues(
            self.invoice_old + self.invoice_new,
            [
                {"payment_state": "paid", "amount_residual": 0.0},
                {"payment_state": "paid", "amount_residual": 0.0},
            ],
        )
        self._assert_figures(
            self.customer, balance=0.0, receivable=0.0, outstanding=0.0, unapplied=0.0
        )

    def test_allocate_open_amount_of_customer_payment(self):
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.customer.id,
                "amount": 250.0,
                "journal_id": self.bank_journal.id,
            }
        )
        payment.action_post()
        self._assert_figures(
            self.customer, balance=-250.0, receivable=250.0, outstanding=500.0, unapplied=250.0
        )

        form = Form(self.env["finnsys.payment.receive"].with_context(default_payment_id=payment.id))
        self.assertEqual(form.partner_id, self.customer)
        self.assertEqual(form.amount, 250.0)
        with form.line_ids.edit(0) as line:
            line.amount_to_apply = 100.0
        with form.line_ids.edit(1) as line:
            line.amount_to_apply = 100.0
        self._confirm(form.save())

        self._assert_payment_items(payment, 250.0, residual=50.0)
        self.assertRecordValues(
            self.invoice_old + self.invoice_new,
            [
                {"payment_state": "partial", "amount_residual": 200.0},
                {"payment_state": "partial", "amount_residual": 100.0},
            ],
        )
        self._assert_figures(
            self.customer, balance=-250.0, receivable=250.0, outstanding=300.0, unapplied=50.0
        )
        # What is left of the payment can be allocated later.
        form = Form(self.env["finnsys.payment.receive"].with_context(default_payment_id=payment.id))
        self.assertEqual(form.amount, 50.0)
