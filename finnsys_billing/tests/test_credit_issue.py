from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from .common import BillingFiguresMixin


@tagged("post_install", "-at_install")
class TestCreditIssue(BillingFiguresMixin, AccountTestInvoicingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids |= cls.env.ref("finnsys_billing.group_billing_user")
        cls.billing_user = new_test_user(
            cls.env,
            login="credit_clerk",
            groups="base.group_user,finnsys_billing.group_billing_user",
            company_id=cls.env.company.id,
            company_ids=[Command.set(cls.env.company.ids)],
        )
        cls.prepaid = cls._customer("Prepaid Paula", "prepaid")
        cls.postpaid = cls._customer("Postpaid Pete", "postpaid")
        cls.sale_journal = cls.company_data["default_journal_sale"]

    @classmethod
    def _customer(cls, name, mode):
        return cls.env["res.partner"].create(
            {"name": name, "is_company": True, "customer_rank": 1, "billing_mode": mode}
        )

    def _invoice(self, partner, amount, date):
        return self.init_invoice(
            "out_invoice",
            partner=partner,
            invoice_date=fields.Date.to_date(date),
            amounts=[amount],
            taxes=[],
            post=True,
        )

    def _issue(self, partner, amount, reason="Outage compensation", user=None):
        model = self.env["finnsys.credit.issue"].with_user(user or self.env.user)
        with Form(model.with_context(default_partner_id=partner.id)) as form:
            form.amount = amount
            form.reason = reason
        action = form.record.action_confirm()
        self.assertEqual(action["res_model"], "account.move")
        return self.env["account.move"].browse(action["res_id"])

    def _receivable_line(self, move):
        return move.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )

    def test_default_income_account_is_the_sale_journal_account(self):
        wizard = Form(self.env["finnsys.credit.issue"])
        self.assertEqual(wizard.account_id, self.sale_journal.default_account_id)
        self.assertEqual(wizard.date, fields.Date.context_today(self.env.user))

    def test_goodwill_credit_raises_prepaid_balance(self):
        credit_note = self._issue(self.prepaid, 80.0, user=self.billing_user)

        self.assertRecordValues(
            credit_note,
            [
                {
                    "move_type": "out_refund",
                    "state": "posted",
                    "partner_id": self.prepaid.id,
                    "ref": "Outage compensation",
                    "journal_id": self.sale_journal.id,
                    "amount_total": 80.0,
                    "amount_residual": 80.0,
                    "payment_state": "not_paid",
                }
            ],
        )
        self.assertRecordValues(
            credit_note.invoice_line_ids,
            [
                {
                    "name": "Outage compensation",
                    "account_id": self.sale_journal.default_account_id.id,
                    "price_unit": 80.0,
                    "tax_ids": [],
                }
            ],
        )
        self.assertRecordValues(
            credit_note.line_ids.sorted("balance"),
            [
                {
                    "account_id": self.prepaid.property_account_receivable_id.id,
                    "partner_id": self.prepaid.id,
                    "debit": 0.0,
                    "credit": 80.0,
                    "amount_residual": -80.0,
                    "reconciled": False,
                },
                {
                    "account_id": self.sale_journal.default_account_id.id,
                    "partner_id": self.prepaid.id,
                    "debit": 80.0,
                    "credit": 0.0,
                    "amount_residual": 0.0,
                    "reconciled": False,
                },
            ],
        )
        self._assert_figures(
            self.prepaid, balance=80.0, receivable=-80.0, outstanding=0.0, unapplied=80.0
        )

    def test_goodwill_credit_pays_postpaid_invoices_oldest_first(self):
        invoice_new = self._invoice(self.postpaid, 200.0, "2026-02-10")
        invoice_old = self._invoice(self.postpaid, 300.0, "2026-01-10")

        credit_note = self._issue(self.postpaid, 350.0)

        self.assertRecordValues(
            invoice_old + invoice_new,
            [
                {"payment_state": "reversed", "amount_residual": 0.0},
                {"payment_state": "partial", "amount_residual": 150.0},
            ],
        )
        credit_line = self._receivable_line(credit_note)
        self.assertRecordValues(
            credit_line,
            [
                {
                    "partner_id": self.postpaid.id,
                    "credit": 350.0,
                    "amount_residual": 0.0,
                    "reconciled": True,
                }
            ],
        )
        self.assertRecordValues(
            self._receivable_line(invoice_old + invoice_new),
            [
                {"amount_residual": 0.0, "reconciled": True},
                {"amount_residual": 150.0, "reconciled": False},
            ],
        )
        self.assertEqual(credit_note.payment_state, "paid")
        self._assert_figures(
            self.postpaid, balance=-150.0, receivable=150.0, outstanding=150.0, unapplied=0.0
        )

    def test_goodwill_credit_reduces_postpaid_invoice_residual(self):
        invoice = self._invoice(self.postpaid, 300.0, "2026-01-10")

        credit_note = self._issue(self.postpaid, 120.0)

        self.assertRecordValues(invoice, [{"payment_state": "partial", "amount_residual": 180.0}])
        self.assertRecordValues(
            self._receivable_line(credit_note),
            [
                {"amount_residual": 0.0, "reconciled": True},
            ],
        )
        self._assert_figures(
            self.postpaid, balance=-180.0, receivable=180.0, outstanding=180.0, unapplied=0.0
        )

    def test_non_positive_credit_is_refused(self):
        refunds = self.env["account.move"].search_count([("move_type", "=", "out_refund")])
        for amount in (0.0, -25.0):
            with self.subTest(amount=amount), self.assertRaises(UserError):
                self._issue(self.prepaid, amount)
            self.assertEqual(
                self.env["account.move"].search_count([("move_type", "=", "out_refund")]),
                refunds,
            )
        self._assert_figures(
            self.prepaid, balance=0.0, receivable=0.0, outstanding=0.0, unapplied=0.0
        )
