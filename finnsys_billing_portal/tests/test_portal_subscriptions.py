import html
import re

from odoo import Command
from odoo.tests import tagged

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalSubscriptions(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plan = cls._gold_plan()
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

    def _breadcrumbs(self, url):
        page = self.url_open(url).text
        trail = re.search(r'<ol class="o_portal_submenu.*?</ol>', page, re.S).group(0)
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", trail)).split())

    def test_subscription_pages_name_themselves_in_the_breadcrumbs(self):
        """Issue 16, item 8: the subscription page's breadcrumb showed an invoice number."""
        self.authenticate("pp_user", "pp_user")
        self.assertEqual(self._breadcrumbs("/my/subscriptions"), "Subscriptions")
        trail = self._breadcrumbs(f"/my/subscriptions/{self.subscription.id}")
        self.assertEqual(trail, f"Subscriptions {self.subscription.name}")
        self.assertNotIn(self.plan_invoice.name, trail)

    def test_dashboard_counts_active_subscriptions(self):
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my").text
        self.assertIn('<span class="o_billing_active_subscriptions">1</span>', page)

    def test_invoices_filter_by_plan(self):
        self.authenticate("pp_user", "pp_user")
        page = self.url_open(f"/my/invoices?filterby=all&plan={self.plan.id}").text
        self.assertIn("o_billing_plan_filter", page)
        self.assertEqual(re.findall(r'<tr data-invoice="([^"]+)"', page), [self.plan_invoice.name])

    def test_plan_change_shows_the_new_plan_its_amount_and_period(self):
        quarterly = self.env["contract.template"].create(
            {
                "name": "Gold Quarterly",
                "recurring_rule_type": "quarterly",
                "contract_line_ids": [
                    Command.create(
                        {
                            "product_id": self.plan.contract_line_ids.product_id.id,
                            "name": "Gold",
                            "specific_price": 219.0,
                        }
                    )
                ],
            }
        )
        self.subscription.action_subscription_change_plan(quarterly)
        self.authenticate("pp_user", "pp_user")
        detail = self.url_open(f"/my/subscriptions/{self.subscription.id}").text
        amount = re.search(r'o_billing_subscription_amount">(.*?)</dd>', detail, re.S)[1]
        next_invoice = re.search(r'o_billing_subscription_next">(.*?)</dd>', detail, re.S)[1]
        self.assertIn("219.00", amount)
        self.assertIn("quarter", amount)
        self.assertIn("219.00", next_invoice)
        self.assertIn("Gold Quarterly", detail)
        self.assertNotIn("268.00", detail)
        listing = self.url_open("/my/subscriptions").text
        self.assertIn("219.00", listing)
        self.assertNotIn("Gold Monthly", listing)
        dashboard = self.url_open("/my").text
        card = dashboard[dashboard.index("o_billing_card_subscriptions") :][:1500]
        self.assertIn("219.00", card, card)
