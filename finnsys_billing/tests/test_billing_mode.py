from odoo.tests import Form, tagged

from odoo.addons.account.tests.common import AccountTestInvoicingCommon


@tagged("post_install", "-at_install")
class TestBillingMode(AccountTestInvoicingCommon):
    def test_new_customer_takes_company_default_mode(self):
        self.env.company.billing_default_mode = "prepaid"
        with Form(self.env["res.partner"]) as partner_form:
            partner_form.name = "Fresh Customer"
        self.assertEqual(partner_form.record.billing_mode, "prepaid")

    def test_contacts_share_the_mode_of_their_company(self):
        company = self.env["res.partner"].create(
            {"name": "Parent Co", "is_company": True, "billing_mode": "postpaid"}
        )
        contact = self.env["res.partner"].create({"name": "Jane", "parent_id": company.id})
        self.assertEqual(contact.billing_mode, "postpaid")
        company.billing_mode = "prepaid"
        self.assertEqual(contact.billing_mode, "prepaid")
