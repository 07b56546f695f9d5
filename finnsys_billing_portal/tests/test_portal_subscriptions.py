import re

from odoo import Command
from odoo.tests import tagged

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalSubscriptions(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        service = cls.env["product.product"].create({"name": "Hosting", "type": "service"})
        cls.plan = cls.env["contract.template"].create(
            {
                "name": "Gold Monthly",
                "recurring_rule_type": "monthly",
                "contract_line_ids": [
                    Command.create(
                        {"product_id": service.id, "name": "Gold", "specific_price": 49.0}
                    )
                ],
            }
        )
        cls.subscription = cls._subscribe(cls.customer)
        cls.foreign_subscription = cls._subscribe(cls.other_customer)
        cls.plan_invoice = cls._post_invoice(cls.customer, 49.0)
        cls.plan_invoice.write({"plan_id": cls.plan.id, "subscription_id": cls.subscription.id})
        cls.plain_invoice = cls._post_invoice(cls.customer, 12.0)

    @classmethod
    def _subscribe(cls, customer):
        subscription = cls.env["contract.contract"].create(
            {"partner_id": customer.id, "contract_template_id": cls.plan.id}
        )
        subscription.action_subscription_activate()
        return subscription

    def test_subscriptions_list_and_detail(self):
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my/subscriptions").text
        self.assertIn("Gold Monthly", page)
        self.assertIn("49.00", page)
        self.assertEqual(
            re.findall(r'data-subscription="(\d+)"', page), [str(self.subscription.id)]
        )
        detail = self.url_open(f"/my/subscriptions/{self.subscription.id}")
        self.assertEqual(detail.status_code, 200)
        self.assertIn(self.plan_invoice.name, detail.text)
        self.assertNotIn(self.plain_invoice.name, detail.text)
        foreign = self.url_open(f"/my/subscriptions/{self.foreign_subscription.id}")
        self.assertEqual(foreign.status_code, 404)

    def test_dashboard_counts_active_subscriptions(self):
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my").text
        self.assertIn('<span class="o_billing_active_subscriptions">1</span>', page)

    def test_invoices_filter_by_plan(self):
        self.authenticate("pp_user", "pp_user")
        page = self.url_open(f"/my/invoices?filterby=all&plan={self.plan.id}").text
        self.assertIn("o_billing_plan_filter", page)
        self.assertEqual(re.findall(r'<tr data-invoice="([^"]+)"', page), [self.plan_invoice.name])
