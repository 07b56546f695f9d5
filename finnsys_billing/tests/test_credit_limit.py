from odoo.exceptions import AccessError, RedirectWarning, UserError
from odoo.tests import Form, tagged

from .common import BillingCommon
from .query_spy import recorded_queries


@tagged("post_install", "-at_install")
class TestCreditLimit(BillingCommon):
    def test_postpaid_invoice_blocked_beyond_credit_limit(self):
        customer = self._customer("Limited Co", "postpaid", limit=1000)
        self._invoice(customer, 800)
        invoice = self._invoice(customer, 300, post=False)
        with self.assertRaises(UserError) as error:
            invoice.with_user(self.billing_user).action_post()
        message = str(error.exception)
        self.assertIn("Limited Co", message)
        self.assertIn("1,000.00", message)  # the limit
        self.assertIn("800.00", message)  # current exposure
        self.assertIn("100.00", message)  # excess
        self.assertEqual(invoice.state, "draft")
        self.assertEqual(customer.billing_receivable, 800)

    def test_postpaid_invoice_up_to_the_limit_posts(self):
        customer = self._customer("Exact Co", "postpaid", limit=1000)
        self._invoice(customer, 400)
        invoice = self._invoice(customer, 600)
        self.assertEqual(invoice.state, "posted")

    def test_postpaid_without_limit_is_not_limited(self):
        customer = self._customer("Unlimited Co", "postpaid")
        self.assertEqual(self._invoice(customer, 10**6).state, "posted")

    def test_prepaid_invoice_blocked_below_minus_the_limit(self):
        customer = self._customer("Prepaid Limited Co", "prepaid", limit=100)
        self._receive(customer, 50)
        self._invoice(customer, 140)  # balance -90, within -100
        invoice = self._invoice(customer, 20, post=False)
        with self.assertRaises(UserError) as error:
            invoice.with_user(self.billing_user).action_post()
        self.assertIn("Excess: $\xa010.00", str(error.exception))
        self.assertEqual(customer.billing_balance, -90)

    def test_prepaid_without_limit_cannot_go_below_zero(self):
        customer = self._customer("No Overdraft Co", "prepaid")
        self._receive(customer, 30)
        invoice = self._invoice(customer, 30.01, post=False)
        with self.assertRaises(UserError):
            invoice.with_user(self.billing_user).action_post()
        self.assertEqual(customer.billing_balance, 30)

    def test_warn_policy_lets_the_invoice_through(self):
        self.env.company.billing_credit_policy = "warn"
        customer = self._customer("Warned Co", "postpaid", limit=100)
        invoice = self._invoice(customer, 150, post=False)
        self.assertTrue(invoice.partner_credit_warning)
        invoice.action_post()
        self.assertEqual(invoice.state, "posted")

    def test_no_check_when_company_does_not_use_credit_limits(self):
        self.env.company.account_use_credit_limit = False
        customer = self._customer("Free Co", "postpaid", limit=100)
        self.assertEqual(self._invoice(customer, 150).state, "posted")

    def test_posting_looks_up_no_surcharge_consent(self):
        """Posting knows a card surcharge document by its mark, with the credit check off
        or on: it does not look for a surcharge consent."""
        for use_limit in (False, True):
            self.env.company.account_use_credit_limit = use_limit
            customer = self._customer(f"Quick Co {use_limit}", "postpaid", limit=1000)
            invoice = self._invoice(customer, 150, post=False)
            with recorded_queries() as queries:
                invoice.action_post()
            lookups = [query for query in queries if '"finnsys_surcharge_consent"' in query]
            self.assertEqual(invoice.state, "posted")
            self.assertEqual(len(lookups), 0, "\n\n".join(lookups))

    def test_no_user_marks_an_invoice_as_surcharge_to_pass_the_limit(self):
        """A card surcharge document skips the credit check: only the surcharge booking may
        mark one, not a billing user or manager (by RPC or otherwise)."""
        customer = self._customer("Sly Co", "postpaid", limit=100)
        invoice = self._invoice(customer, 150, post=False)
        for user in (self.billing_user, self.billing_manager):
            with self.assertRaises(AccessError):
                invoice.with_user(user).write({"finnsys_surcharge_document": True})
        with self.assertRaises(UserError):
            invoice.with_user(self.billing_user).action_post()
        self.assertEqual(invoice.state, "draft")

    def test_manager_override_posts_and_is_logged(self):
        customer = self._customer("Override Co", "postpaid", limit=100)
        invoice = self._invoice(customer, 150, post=False)
        with self.assertRaises(RedirectWarning) as warning:
            invoice.with_user(self.billing_manager).action_post()
        action = warning.exception.args[1]
        wizard_form = Form(
            self.env[action["res_model"]]
            .with_user(self.billing_manager)
            .with_context(**action["context"])
        )
        wizard_form.reason = "Customer paid by wire, not yet on the statement"
        wizard_form.save().action_post()
        self.assertEqual(invoice.state, "posted")
        self.assertIn("not yet on the statement", invoice.message_ids[0].body)
        self.assertIn(self.billing_manager.name, invoice.message_ids[0].body)
        self.assertIn("Posted over the credit limit", customer.message_ids[0].body)

    def test_billing_user_cannot_use_the_override(self):
        customer = self._customer("Sneaky Co", "postpaid", limit=100)
        invoice = self._invoice(customer, 150, post=False)
        with self.assertRaises(AccessError):
            self.env["finnsys.credit.override"].with_user(self.billing_user).create(
                {"move_ids": [(6, 0, invoice.ids)], "reason": "please"}
            )
        wizard = (
            self.env["finnsys.credit.override"]
            .sudo()
            .create({"move_ids": [(6, 0, invoice.ids)], "reason": "please"})
        )
        with self.assertRaises(AccessError):
            wizard.with_user(self.billing_user).action_post()
        self.assertEqual(invoice.state, "draft")

    def test_limit_in_company_currency_for_foreign_invoice(self):
        eur = self.setup_other_currency("EUR", rates=[("2026-01-01", 2.0)])
        customer = self._customer("Euro Co", "postpaid", limit=1000)
        invoice = self.init_invoice(
            "out_invoice",
            partner=customer,
            invoice_date="2026-01-10",
            amounts=[600],
            taxes=[],
            currency=eur,
        )
        # 600 EUR at 2 EUR per USD is 300 USD of exposure.
        invoice.action_post()
        self.assertEqual(customer.billing_receivable, 300)
        second = self.init_invoice(
            "out_invoice",
            partner=customer,
            invoice_date="2026-01-10",
            amounts=[1500],
            taxes=[],
            currency=eur,
        )
        with self.assertRaises(UserError):
            second.with_user(self.billing_user).action_post()  # 750 USD more: 1,050 USD > 1,000 USD

    def test_limits_are_per_company(self):
        other = self.setup_other_company()["company"]
        other.account_use_credit_limit = True
        customer = self._customer("Two Company Co", "postpaid", limit=100)
        customer.with_company(other).credit_limit = 10000
        self.assertEqual(customer.billing_credit_limit, 100)
        self.assertEqual(customer.with_company(other).billing_credit_limit, 10000)
