"""A prepaid customer's month, end to end, checked the way finance would check it."""

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


@tagged("post_install", "-at_install")
class TestPrepaidCustomerJourney(AccountTestInvoicingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.group_ids |= cls.env.ref("finnsys_billing.group_billing_user")
        cls.env.company.account_use_credit_limit = True
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "Journey Hosting Ltd",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "prepaid",
                "property_payment_term_id": cls.env.ref(
                    "account.account_payment_term_immediate"
                ).id,
            }
        )
        cls.customer.credit_limit = 50

    def _usage_invoice(self, amount):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.customer.id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create({"name": "Usage", "price_unit": amount, "tax_ids": []})
                ],
            }
        )
        return invoice

    def test_top_up_consume_overdraft_and_stop_at_the_limit(self):
        topup = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.customer.id,
                "amount": 100,
                "journal_id": self.company_data["default_journal_bank"].id,
            }
        )
        topup.action_post()
        self.assertEqual(self.customer.billing_balance, 100)

        first = self._usage_invoice(80)
        first.action_post()
        self.assertEqual(first.payment_state, "paid")
        self.assertEqual(self.customer.billing_balance, 20)

        second = self._usage_invoice(60)
        second.action_post()  # 20 of credit, then 40 of the 50 overdraft
        self.assertEqual(second.amount_residual, 40)
        self.assertEqual(self.customer.billing_balance, -40)
        self.assertEqual(self.customer.billing_available, 10)

        ledger = self.env["account.move.line"].search(
            [
                ("partner_id", "=", self.customer.id),
                ("account_id.account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
            ]
        )
        self.assertEqual(sum(ledger.mapped("debit")), 140)
        self.assertEqual(sum(ledger.mapped("credit")), 100)

        account = self.env["finnsys.billing.account"].search(
            [("partner_id", "=", self.customer.id), ("company_id", "=", self.env.company.id)]
        )
        self.assertEqual(account.balance, -40)
        self.assertEqual(account.billing_state, "low_balance")

        third = self._usage_invoice(10.01)
        with self.assertRaises(UserError):  # a billing user, not a manager: no override
            third.action_post()
        self.assertEqual(third.state, "draft")
