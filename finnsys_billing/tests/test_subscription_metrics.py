from freezegun import freeze_time

from odoo.fields import Domain
from odoo.tests import tagged

from odoo.addons.finnsys_billing.report.finnsys_subscription_metrics import MEASURES

from .test_subscription import SubscriptionCommon


@tagged("post_install", "-at_install")
class TestSubscriptionMetrics(SubscriptionCommon):
    """Six months of a small book of subscriptions against figures computed by hand."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        subscribe = cls._subscribe

        def customer(name):
            return cls._customer(name, "postpaid")

        cls.subs = {
            "A": subscribe(customer("Metrics A"), cls.monthly, "2026-01-10"),
            "B": subscribe(customer("Metrics B"), cls.quarterly, "2026-01-01"),
            "C": subscribe(customer("Metrics C"), cls.yearly, "2026-02-15"),
            "D": subscribe(customer("Metrics D"), cls.monthly, "2026-01-01"),
            "E": subscribe(customer("Metrics E"), cls.premium, "2026-01-01"),
            "F": subscribe(customer("Metrics F"), cls.monthly, "2026-01-01"),
            "G": subscribe(customer("Metrics G"), cls.monthly, "2026-01-01"),
        }

    def _invoice_month(self, day):
        # The cron runs in an environment of its own: what this one posted must be written.
        self.env.flush_all()
        self._run_cron(day)

    def _month_figures(self):
        partners = [sub.partner_id.id for sub in self.subs.values()]
        groups = self.env["finnsys.subscription.metrics"]._read_group(
            Domain("partner_id", "in", partners) & Domain("month", "<=", "2026-06-30"),
            ["month:month"],
            MEASURES,
        )
        return {
            month.strftime("%Y-%m"): [round(value, 2) for value in values]
            for month, *values in groups
        }

    def test_figures_equal_the_hand_computation(self):
        subs = self.subs
        for day in ("2026-01-01", "2026-01-10", "2026-02-01"):
            self._invoice_month(day)
        with freeze_time("2026-02-10"):
            subs["G"].action_subscription_cancel_now()
        for day in ("2026-02-15", "2026-03-01"):
            self._invoice_month(day)
        with freeze_time("2026-03-15"):
            subs["D"].action_subscription_change_plan(self.premium)
        with freeze_time("2026-03-20"):
            subs["F"].action_subscription_pause()
        with freeze_time("2026-03-25"):
            subs["E"].action_subscription_change_plan(self.monthly)
        with freeze_time("2026-05-02"):
            subs["F"].action_subscription_resume()
        self.env.flush_all()

        # MRR on each month's last day, by hand:
        #   A monthly 100 from 10 Jan, B quarterly 300 (100/month), C yearly 1200 from
        #   15 Feb (100/month), D monthly 100 then premium 310 from the period after the
        #   15 Mar change (April), E premium 310 then monthly 100 from the period after
        #   the 25 Mar change (April), F monthly 100
        #   paused 20 Mar and resumed 2 May, G monthly 100 cancelled now on 10 Feb.
        # columns: MRR, ARR, active, new, expansion, contraction, churned,
        #          logo churn %, revenue churn %
        expected = {
            "2026-01": [810, 9720, 6, 810, 0, 0, 0, 0, 0],
            # G churns (1 of 6, 100 of 810), C is new.
            "2026-02": [810, 9720, 6, 100, 0, 0, 100, 16.67, 12.35],
            # F is paused: churned (1 of 6, 100 of 810).
            "2026-03": [710, 8520, 5, 0, 0, 0, 100, 16.67, 12.35],
            # D moves up to 310, E down to 100 (210 of 710).
            "2026-04": [710, 8520, 5, 0, 210, 210, 0, 0, 29.58],
            # F is back.
            "2026-05": [810, 9720, 6, 100, 0, 0, 0, 0, 0],
            "2026-06": [810, 9720, 6, 0, 0, 0, 0, 0, 0],
        }
        self.assertEqual(self._month_figures(), expected)

    def test_monthly_equivalent_of_each_subscription(self):
        amounts = {name: sub.monthly_amount for name, sub in self.subs.items()}
        self.assertEqual(
            amounts, {"A": 100, "B": 100, "C": 100, "D": 100, "E": 310, "F": 100, "G": 100}
        )
        with freeze_time("2026-03-15"):
            self.subs["D"].action_subscription_change_plan(self.premium)
        self.assertEqual(self.subs["D"].monthly_amount, 310)

    def test_draft_subscription_counts_nothing(self):
        draft = self.env["contract.contract"].create(
            {
                "partner_id": self._customer("Metrics Draft", "postpaid").id,
                "contract_template_id": self.monthly.id,
                "date_start": "2026-01-01",
            }
        )
        self.env.flush_all()
        rows = self.env["finnsys.subscription.metrics"].search(Domain("contract_id", "=", draft.id))
        self.assertFalse(rows)
