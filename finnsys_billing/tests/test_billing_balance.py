from freezegun import freeze_time

from odoo.fields import Domain
from odoo.tests import tagged

from .common import BillingCommon


@tagged("post_install", "-at_install")
class TestBillingBalance(BillingCommon):
    def test_prepaid_invoice_consumes_credit_and_balance_comes_from_ledger(self):
        customer = self._customer("Prepaid Co", "prepaid", limit=100)
        payment = self._receive(customer, 500)
        self.assertEqual(customer.billing_balance, 500)
        invoice = self._invoice(customer, 200)

        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(customer.billing_balance, 300)
        self.assertEqual(customer.billing_available, 400)
        self.assertEqual(customer.billing_unapplied_credit, 300)
        lines = self._receivable_lines(customer)
        self.assertEqual(sum(lines.mapped("balance")), -300)
        invoice_line = invoice.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertEqual(invoice_line.debit, 200)
        self.assertTrue(invoice_line.reconciled)
        payment_line = payment.move_id.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertEqual(payment_line.credit, 500)
        self.assertEqual(payment_line.amount_residual, -300)

    def test_prepaid_invoice_beyond_credit_goes_below_zero_within_limit(self):
        customer = self._customer("Overdraft Co", "prepaid", limit=100)
        self._receive(customer, 50)
        invoice = self._invoice(customer, 120)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(invoice.amount_residual, 70)
        self.assertEqual(customer.billing_balance, -70)
        self.assertEqual(customer.billing_available, 30)
        self.assertEqual(customer.billing_state, "low_balance")

    def test_credit_is_applied_oldest_first(self):
        customer = self._customer("Two Payments Co", "prepaid")
        first = self._receive(customer, 100, date="2026-01-01")
        second = self._receive(customer, 100, date="2026-01-02")
        self._invoice(customer, 150)
        self.assertEqual(
            first.move_id.line_ids.filtered("reconciled").account_id.account_type,
            "asset_receivable",
        )
        self.assertFalse(second.is_reconciled)
        self.assertEqual(customer.billing_balance, 50)

    @freeze_time("2026-03-01")
    def test_postpaid_outstanding_and_overdue(self):
        customer = self._customer(
            "Postpaid Co",
            "postpaid",
            limit=5000,
            property_payment_term_id=self.env.ref("account.account_payment_term_30days").id,
        )
        self._invoice(customer, 1000, date="2026-01-10")  # due 2026-02-09: overdue
        self._invoice(customer, 400, date="2026-02-20")  # due 2026-03-22: not yet
        self.assertEqual(customer.billing_outstanding, 1400)
        self.assertEqual(customer.billing_overdue, 1000)
        self.assertEqual(customer.billing_available, 3600)
        self.assertEqual(customer.billing_state, "ok")

        account = (
            self.env["finnsys.billing.account"]
            .with_user(self.billing_user)
            .search([("partner_id", "=", customer.id)])
        )
        self.assertEqual(account.overdue, 1000)
        self.assertEqual(account.balance, -1400)

    def test_contact_sees_the_company_account(self):
        customer = self._customer("Family Co", "prepaid")
        contact = self.env["res.partner"].create({"name": "Kim", "parent_id": customer.id})
        self._receive(contact, 80)
        self.assertEqual(customer.billing_balance, 80)
        self.assertEqual(contact.billing_balance, 80)
        self.assertEqual(contact.billing_mode, "prepaid")

    def test_balance_is_per_company(self):
        customer = self._customer("Shared Co", "prepaid")
        self._receive(customer, 70)
        other_company = self.setup_other_company()["company"]
        self.assertEqual(customer.with_company(other_company).billing_balance, 0)
        self.assertEqual(customer.billing_balance, 70)

    def test_billing_state_is_readable_over_rpc_like_access(self):
        customer = self._customer("Rpc Co", "prepaid", limit=10)
        self._invoice(customer, 10)
        data = customer.with_user(self.billing_user).read(["billing_state", "billing_balance"])
        self.assertEqual(data[0]["billing_state"], "low_balance")
        self.assertEqual(data[0]["billing_balance"], -10)

    def test_customers_list_opens_the_customer_form(self):
        customer = self._customer("Listed Co", "postpaid")
        self._invoice(customer, 100)
        Account = self.env["finnsys.billing.account"].with_user(self.billing_user)
        arch = Account.get_views([(False, "list")])["views"]["list"]["arch"]
        self.assertIn('action="action_open_partner"', arch, "a click on a row opens the customer")
        account = Account.search(Domain("partner_id", "=", customer.id))
        action = account.action_open_partner()
        self.assertEqual((action["res_model"], action["res_id"]), ("res.partner", customer.id))
        self.assertEqual(action["views"][0][1], "form")
