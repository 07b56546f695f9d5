from odoo import Command
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger


@tagged("post_install", "-at_install")
class TestBillingStateOverXmlRpc(HttpCase):
    """Other systems read a customer's billing state over XML-RPC, as an integration user."""

    # Odoo 19 warns that XML-RPC goes away in Odoo 20; integrations still use it today.
    @mute_logger("odoo.addons.rpc.controllers.xmlrpc")
    def test_billing_state_and_balance_are_readable_over_xmlrpc(self):
        integration = new_test_user(
            self.env,
            login="integration",
            password="integration-secret",
            groups="base.group_user,finnsys_billing.group_billing_user",
        )
        customer = self.env["res.partner"].create(
            {
                "name": "Rpc Prepaid Co",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "prepaid",
            }
        )
        if not self.env.company.chart_template:
            self.env["account.chart.template"].try_loading(
                "generic_coa", self.env.company, install_demo=False
            )
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": "2026-01-10",
                "invoice_line_ids": [
                    Command.create({"name": "Usage", "price_unit": 25, "tax_ids": []})
                ],
            }
        )
        invoice.action_post()

        rows = self.xmlrpc_object.execute_kw(
            self.env.cr.dbname,
            integration.id,
            "integration-secret",
            "res.partner",
            "read",
            [[customer.id]],
            {"fields": ["billing_mode", "billing_state", "billing_balance"]},
        )
        self.assertEqual(rows[0]["billing_mode"], "prepaid")
        self.assertEqual(rows[0]["billing_state"], "low_balance")
        self.assertEqual(rows[0]["billing_balance"], -25.0)
