from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged
from odoo.tools import format_amount

from .common import BillingCommon


@tagged("post_install", "-at_install")
class TestBillingMode(BillingCommon):
    def _switch(self, partner, user, new_mode, reason="Customer asked", override=False, **ctx):
        wizard_form = Form(
            self.env["finnsys.billing.mode.switch"]
            .with_user(user)
            .with_context(default_partner_id=partner.id, **ctx)
        )
        wizard_form.new_mode = new_mode
        wizard_form.reason = reason
        if override:
            wizard_form.manager_override = True
        return wizard_form.save().action_switch()

    def test_switch_created_in_code_proposes_the_other_mode(self):
        customer = self._customer("Scripted Co", "prepaid")
        wizard = self.env["finnsys.billing.mode.switch"].create(
            {"partner_id": customer.id, "reason": "Moved to invoicing on terms"}
        )
        self.assertEqual(wizard.new_mode, "postpaid")
        wizard.action_switch()
        self.assertEqual(customer.billing_mode, "postpaid")

    def test_new_customer_takes_company_default_mode(self):
        self.env.company.billing_default_mode = "prepaid"
        with Form(self.env["res.partner"]) as partner_form:
            partner_form.name = "Fresh Customer"
        self.assertEqual(partner_form.record.billing_mode, "prepaid")

    def test_contacts_share_the_mode_of_their_company(self):
        company = self._customer("Parent Co", "postpaid")
        contact = self.env["res.partner"].create({"name": "Jane", "parent_id": company.id})
        self.assertEqual(contact.billing_mode, "postpaid")
        company.billing_mode = "prepaid"  # no ledger yet: a plain edit is fine
        self.assertEqual(contact.billing_mode, "prepaid")

    def test_switch_prepaid_to_postpaid_keeps_credit_for_next_invoices(self):
        customer = self._customer("Switcher Co", "prepaid")
        self._receive(customer, 300)
        self._switch(customer, self.billing_user, "postpaid", reason="Signed annual contract")
        self.assertEqual(customer.billing_mode, "postpaid")
        self.assertEqual(customer.billing_balance, 300)
        message = customer.message_ids[0].body
        self.assertIn("Signed annual contract", message)
        self.assertIn("Prepaid", message)
        self.assertIn(self.billing_user.name, message)

        invoice = self._invoice(customer, 120)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(customer.billing_balance, 180)

    def test_switch_to_prepaid_refused_with_overdue_invoices(self):
        customer = self._customer("Late Co", "postpaid")
        self._invoice(customer, 500, date="2025-01-10")
        with self.assertRaises(UserError) as error:
            self._switch(customer, self.billing_user, "prepaid")
        self.assertIn("overdue", str(error.exception))
        self.assertEqual(customer.billing_mode, "postpaid")
        # a plain user cannot override, even by sending the flag the form hides from him
        wizard = (
            self.env["finnsys.billing.mode.switch"]
            .with_user(self.billing_user)
            .create(
                {
                    "partner_id": customer.id,
                    "new_mode": "prepaid",
                    "reason": "x",
                    "manager_override": True,
                }
            )
        )
        with self.assertRaises(UserError):
            wizard.action_switch()
        self.assertEqual(customer.billing_mode, "postpaid")

    def test_overdue_refusal_shows_the_amount_as_money(self):
        customer = self._customer("Odd Cents Co", "postpaid")
        self._invoice(customer, 1999.8, date="2025-01-10")
        with self.assertRaises(UserError) as error:
            self._switch(customer, self.billing_user, "prepaid")
        money = format_amount(self.env, 1999.8, customer.currency_id)
        self.assertIn(f"({money})", str(error.exception))
        self.assertNotIn("1999.8", str(error.exception))

    def test_manager_override_switches_with_overdue_and_logs_it(self):
        customer = self._customer("Late But Trusted Co", "postpaid")
        self._invoice(customer, 500, date="2025-01-10")
        self._switch(customer, self.billing_manager, "prepaid", override=True)
        self.assertEqual(customer.billing_mode, "prepaid")
        self.assertIn("Manager override", customer.message_ids[0].body)

    def test_switch_to_prepaid_refused_beyond_credit_limit(self):
        customer = self._customer("Owing Co", "postpaid")
        self._invoice(customer, 150, date=fields.Date.today())
        customer.credit_limit = 100  # lowered after the invoice, which nothing is overdue on
        self.assertFalse(customer.billing_overdue)
        with self.assertRaises(UserError) as error:
            self._switch(customer, self.billing_user, "prepaid")
        self.assertIn("credit limit", str(error.exception))
        self.assertEqual(customer.billing_mode, "postpaid")
        self._switch(customer, self.billing_manager, "prepaid", override=True)
        self.assertEqual(customer.billing_mode, "prepaid")
        self.assertIn("below minus the credit limit", customer.message_ids[0].body)

    def test_direct_write_of_mode_refused_once_customer_has_entries(self):
        customer = self._customer("Direct Co", "postpaid")
        self._invoice(customer, 50)
        with self.assertRaises(UserError):
            customer.billing_mode = "prepaid"
        self.assertEqual(customer.billing_mode, "postpaid")

    def test_mode_change_is_tracked(self):
        customer = self._customer("Tracked Co", "postpaid")
        # Odoo does not track changes made in the transaction that created the record:
        # close that "creation" step first, as a separate request would.
        self.env.flush_all()
        self.env.cr.flush()
        self._switch(
            customer,
            self.billing_user,
            "prepaid",
            reason="Moving to credits",
            tracking_disable=False,
            mail_notrack=False,
        )
        self.env.flush_all()
        self.env.cr.flush()  # tracking values are written when the cursor flushes
        customer.invalidate_recordset(["message_ids"])
        tracked = customer.message_ids.tracking_value_ids.filtered(
            lambda value: value.field_id.name == "billing_mode"
        )
        self.assertTrue(tracked)
