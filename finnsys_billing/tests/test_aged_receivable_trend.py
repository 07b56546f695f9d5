from freezegun import freeze_time

from odoo.tests import tagged

from .common import BillingCommon


@tagged("post_install", "-at_install")
class TestReceivablesTrend(BillingCommon):
    """The weekly snapshot cron feeds the Receivables Trend screen: bucket totals per date
    and the DSO (receivable / credit sales of the last 90 days x 90), hand-computed here.

    Due dates equal invoice dates (immediate terms); buckets are the default 30, 60, 90, 120.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        customer = cls._customer("Trend Co", "postpaid")
        cls._invoice(customer, 900, date="2026-01-05")
        cls._invoice(customer, 600, date="2026-02-20")
        cls._receive(customer, 300, date="2026-03-10")  # not applied: unapplied credit
        cls._invoice(customer, 100, date="2026-04-01", move_type="out_refund")

    def _run_cron_on(self, day):
        cron = self.env.ref("finnsys_billing.ir_cron_aging_snapshot")
        with freeze_time(day), self.enter_registry_test_mode():
            cron.method_direct_trigger()

    def _trend(self):
        """What the screen shows: the list grouped by snapshot date, one line per snapshot."""
        snapshots = self.env["finnsys.aging.snapshot"].with_user(self.billing_user)
        groups = snapshots.formatted_read_group(
            [("company_id", "=", self.env.company.id)],
            ["date:day"],
            ["amount:sum", "receivable_total:max", "sales_total:max", "dso:max"],
        )
        return {
            group["date:day"][0]: (
                group["amount:sum"],
                group["receivable_total:max"],
                group["sales_total:max"],
                round(group["dso:max"], 1),
            )
            for group in groups
        }

    def _buckets(self, date):
        snapshots = self.env["finnsys.aging.snapshot"].search(
            [("company_id", "=", self.env.company.id), ("date", "=", date)]
        )
        return {snap.bucket: snap.amount for snap in snapshots if snap.amount}

    def test_cron_on_two_dates_stores_buckets_and_dso(self):
        self._run_cron_on("2026-03-01")
        self._run_cron_on("2026-04-10")
        # 1 Mar: 900 at 55 days, 600 at 9 days; the payment and the credit note do not
        # exist yet. Sales of 1 Dec - 1 Mar: both invoices, 1500. DSO 1500 / 1500 x 90.
        self.assertEqual(self._buckets("2026-03-01"), {"b2": 900.0, "b1": 600.0})
        # 10 Apr: 900 at 95 days, 600 at 49 days, payment and credit note -400 unapplied.
        # Sales of 10 Jan - 10 Apr: 600 - 100 (the 900 of 5 Jan is older). 1100 / 500 x 90.
        self.assertEqual(self._buckets("2026-04-10"), {"b4": 900.0, "b2": 600.0, "credit": -400.0})
        self.assertEqual(
            self._trend(),
            {
                "2026-03-01": (1500.0, 1500.0, 1500.0, 90.0),
                "2026-04-10": (1100.0, 1100.0, 500.0, 198.0),
            },
        )

    def test_backfill_takes_the_missing_past_weeks_as_of_their_dates(self):
        self._run_cron_on("2026-04-10")
        with freeze_time("2026-04-10"):
            self.env["finnsys.aging.snapshot"]._backfill_snapshots(weeks=6)
            self.env["finnsys.aging.snapshot"]._backfill_snapshots(weeks=6)  # nothing twice
        trend = self._trend()
        self.assertEqual(
            sorted(trend),
            [
                "2026-02-27",
                "2026-03-06",
                "2026-03-13",
                "2026-03-20",
                "2026-03-27",
                "2026-04-03",
                "2026-04-10",
            ],
        )
        # 27 Feb: both invoices open, nothing received yet; 13 Mar: the 300 of 10 Mar is in.
        self.assertEqual(trend["2026-02-27"][:2], (1500.0, 1500.0))
        self.assertEqual(trend["2026-03-13"][:2], (1200.0, 1200.0))
        # 13 Mar: the 900 of 5 Jan is 67 days overdue, the 600 of 20 Feb 21 days.
        self.assertEqual(self._buckets("2026-03-13"), {"b3": 900.0, "b1": 600.0, "credit": -300.0})

    def test_trend_screen_is_in_billing_reporting(self):
        menu = self.env.ref("finnsys_billing.menu_billing_aging_snapshot")
        self.assertEqual(menu.parent_id, self.env.ref("finnsys_billing.menu_billing_reporting"))
        self.assertIn(menu.id, menu.with_user(self.billing_user)._visible_menu_ids())
        self.assertEqual(menu.action.view_mode, "graph,pivot,list")
        views = (
            self.env["finnsys.aging.snapshot"]
            .with_user(self.billing_user)
            .get_views([(False, "graph"), (False, "list")])["views"]
        )
        graph, listing = views["graph"]["arch"], views["list"]["arch"]
        for text in ('type="line"', 'stacked="1"', 'name="date"', 'name="amount"'):
            self.assertIn(text, graph)
        self.assertIn('default_group_by="date:day"', listing)
        self.assertIn('name="dso"', listing)

    def test_trend_series_come_in_bucket_order_with_their_own_colours(self):
        """The chart's series (and legend) follow the buckets, not the alphabet; the graph
        view colours them by that order: not due green, credit grey."""
        self._run_cron_on("2026-04-10")
        snapshots = self.env["finnsys.aging.snapshot"].with_user(self.billing_user)
        # What the graph asks: the dates, then the buckets within each date.
        groups = snapshots.formatted_read_group([], ["date:day", "bucket_name"], ["amount:sum"])
        self.assertEqual(
            [group["bucket_name"] for group in groups],
            ["Not due", "1-30", "31-60", "61-90", "91-120", "Over 120", "Unapplied credit"],
        )
        # An explicit order is the caller's.
        groups = snapshots.formatted_read_group(
            [], ["bucket_name"], ["amount:sum"], order="bucket_name desc"
        )
        self.assertEqual(groups[0]["bucket_name"], "Unapplied credit")
        graph = snapshots.get_views([(False, "graph")])["views"]["graph"]["arch"]
        self.assertIn('js_class="finnsys_aging_trend_graph"', graph)
