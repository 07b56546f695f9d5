from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged

from .test_subscription import SubscriptionCommon


@tagged("post_install", "-at_install")
class TestSubscriptionProration(SubscriptionCommon):
    def test_upgrade_mid_month_credits_old_and_invoices_new(self):
        customer = self._customer("Upgrade Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        self._run_cron("2026-01-01")
        with freeze_time("2026-01-11"):
            credit, invoice = subscription.action_subscription_change_plan(self.premium)
        # 21 of January's 31 days are left (11th to 31st included).
        self.assertRecordValues(
            credit | invoice,
            [
                {"move_type": "out_refund", "amount_total": 67.74, "plan_id": self.monthly.id},
                {"move_type": "out_invoice", "amount_total": 210.0, "plan_id": self.premium.id},
            ],
        )
        self.assertEqual((credit | invoice).mapped("state"), ["posted", "posted"])
        self.assertEqual(subscription.contract_template_id, self.premium)
        self.assertEqual(str(subscription.recurring_next_date), "2026-02-01")
        self._run_cron("2026-02-01")
        february = self._invoices(subscription).filtered(
            lambda m: m.invoice_date == fields.Date.to_date("2026-02-01")
        )
        self.assertRecordValues(february, [{"amount_total": 310.0, "plan_id": self.premium.id}])

    def test_monthly_to_yearly_prorates_on_the_year(self):
        customer = self._customer("Yearly Switch", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        self._run_cron("2026-01-01")
        with freeze_time("2026-01-11"):
            credit, invoice = subscription.action_subscription_change_plan(self.yearly)
        self.assertEqual(credit.amount_total, 67.74)
        # 1200 * 21 / 365
        self.assertEqual(invoice.amount_total, 69.04)
        self.assertEqual(str(subscription.recurring_next_date), "2026-02-01")

    def test_change_before_first_invoice_needs_no_proration(self):
        customer = self._customer("Early Switch", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        with freeze_time("2025-12-20"):
            moves = subscription.action_subscription_change_plan(self.premium)
        self.assertFalse(moves)
        self._run_cron("2026-01-01")
        self.assertEqual(self._invoices(subscription).amount_total, 310.0)

    def test_cancel_now_credits_unused_days(self):
        customer = self._customer("Leaving Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-04-01")
        self._run_cron("2026-04-01")
        with freeze_time("2026-04-21"):
            subscription.action_subscription_cancel_now()
        credit = self._invoices(subscription).filtered(lambda m: m.move_type == "out_refund")
        # 10 of April's 30 days are left.
        self.assertEqual(credit.amount_total, 33.33)
        self.assertEqual(subscription.subscription_state, "cancelled")
        self._run_cron("2026-05-01")
        self.assertEqual(len(self._invoices(subscription)), 2)

    def test_cancel_now_on_the_first_day_credits_the_whole_period(self):
        customer = self._customer("First Day Leaver", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-04-01")
        self._run_cron("2026-04-01")
        with freeze_time("2026-04-01"):
            subscription.action_subscription_cancel_now()
        credit = self._invoices(subscription).filtered(lambda m: m.move_type == "out_refund")
        self.assertRecordValues(credit, [{"state": "posted", "amount_total": 100.0}])
        self.assertEqual(str(subscription.subscription_ends_on), "2026-04-01")
        self.assertEqual(customer.credit, 0.0)

    def test_cancel_now_credits_the_subscriptions_own_prices(self):
        customer = self._customer("Discounted Leaver", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-04-01")
        # A negotiated price on this subscription only.
        subscription.contract_line_ids.specific_price = 60.0
        self._run_cron("2026-04-01")
        with freeze_time("2026-04-21"):
            subscription.action_subscription_cancel_now()
        invoice, credit = self._invoices(subscription)
        self.assertEqual(invoice.amount_total, 60.0)
        # 10 of April's 30 days of 60, not of the plan's 100.
        self.assertRecordValues(credit, [{"move_type": "out_refund", "amount_total": 20.0}])

    def test_cancel_now_credit_shows_its_dates_not_markers(self):
        plan = self._plan("Marked Monthly", 90.0, "monthly")
        plan.contract_line_ids.name = "Hosting #START# to #END#"
        customer = self._customer("Marked Leaver", "postpaid")
        subscription = self._subscribe(customer, plan, "2026-04-01")
        self._run_cron("2026-04-01")
        with freeze_time("2026-04-21"):
            subscription.action_subscription_cancel_now()
        credit = self._invoices(subscription).filtered(lambda m: m.move_type == "out_refund")
        [name] = credit.invoice_line_ids.mapped("name")
        self.assertNotIn("#", name)
        self.assertIn("Hosting 04/21/2026 to 04/30/2026", name)

    def test_cancel_at_period_end_keeps_service_to_period_end(self):
        customer = self._customer("Ending Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-04-01")
        self._run_cron("2026-04-01")
        with freeze_time("2026-04-21"):
            subscription.action_subscription_cancel_at_period_end()
        self.assertEqual(str(subscription.subscription_ends_on), "2026-04-30")
        self._run_cron("2026-05-01")
        self.assertEqual(len(self._invoices(subscription)), 1)
