from odoo.tests import HttpCase, tagged

from .common import BillingCommon


@tagged("post_install", "-at_install")
class TestCreditOverrideForm(BillingCommon, HttpCase):
    """The override as a billing manager lives it in the invoice form, in Chromium."""

    def test_override_leaves_the_form_on_the_posted_invoice(self):
        self.billing_manager.group_ids |= self.env.ref("account.group_account_invoice")
        customer = self._customer("Override Co", "postpaid", limit=100)
        invoice = self._invoice(customer, 150, post=False)
        # The refusal is a warning the manager acts on, not a server error with a traceback.
        with self.assertNoLogs("odoo.http", "ERROR"):
            self.start_tour(
                f"/odoo/account.move/{invoice.id}",
                "finnsys_credit_override",
                login=self.billing_manager.login,
            )
        self.assertEqual(invoice.state, "posted")
        self.assertIn("not yet on the statement", "".join(invoice.message_ids.mapped("body")))
