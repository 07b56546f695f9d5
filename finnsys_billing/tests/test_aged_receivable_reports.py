import io

import openpyxl
from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import HttpCase, tagged

from odoo.addons.web.models.models import Base as WebBase

from .common import BillingCommon


@tagged("post_install", "-at_install")
@freeze_time("2026-04-15")
class TestAgedReceivableReports(BillingCommon):
    """Screens and printouts of the aged receivables: the same figures everywhere."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer("Printed Co", "postpaid")
        cls._invoice(cls.customer, 1000, date="2026-01-10")
        cls._invoice(cls.customer, 500, date="2026-04-01")
        cls._receive(cls.customer, 250, date="2026-04-02")
        cls.wizard = (
            cls.env["finnsys.aged.receivable.wizard"]
            .with_user(cls.billing_user)
            .create({"date_at": "2026-04-15"})
        )

    def test_pivot_cells_and_drill_down_match_the_report(self):
        action = self.wizard.action_view()
        aging = self.env["finnsys.aged.receivable"].with_user(self.billing_user)
        aging = aging.with_context(**action["context"])
        groups = aging.formatted_read_group(
            [("partner_id", "=", self.customer.id)], ["bucket"], ["residual:sum"]
        )
        self.assertEqual(
            {group["bucket"]: group["residual:sum"] for group in groups},
            {"b1": 500.0, "b4": 1000.0, "credit": -250.0},
        )
        labels = dict(aging.fields_get(["bucket"])["bucket"]["selection"])
        self.assertEqual(labels["b4"], "91-120")
        self.assertEqual(labels["b5"], "Over 120")
        items = aging.search([("partner_id", "=", self.customer.id), ("bucket", "=", "b4")])
        self.assertEqual(items.move_line_id.move_id.amount_total, 1000.0)
        self.assertEqual(items.days_overdue, 95)

    def test_screen_shows_bucket_shares_of_the_amounts_owed(self):
        """Open 1250: 500 not yet 30 days old, 1000 at 95 days, 250 of unapplied payment;
        owed 1500, of which the shares are, credit having none."""
        action = self.wizard.action_view()
        aging = self.env["finnsys.aged.receivable"].with_user(self.billing_user)
        aging = aging.with_context(**action["context"])
        # The pivot's total row (and the list grouped by bucket): one share per bucket.
        groups = aging.formatted_read_group([], ["bucket"], ["share:sum", "residual:sum"])
        self.assertEqual(
            {group["bucket"]: round(group["share:sum"], 2) for group in groups},
            {"b1": 33.33, "b4": 66.67, "credit": 0.0},
        )
        # The grand total (pivot's total column): 100 %.
        (total,) = aging.formatted_read_group([], [], ["share:sum", "residual:sum"])
        self.assertAlmostEqual(total["share:sum"], 100.0)
        self.assertEqual(total["residual:sum"], 1250.0)
        # The pivot (grouping sets) gives the same shares, per customer too.
        by_customer, by_bucket = aging.formatted_read_grouping_sets(
            [], [["partner_id"], ["bucket"]], ["share:sum"]
        )
        self.assertAlmostEqual(by_customer[0]["share:sum"], 100.0)
        self.assertEqual(
            {group["bucket"]: round(group["share:sum"], 2) for group in by_bucket},
            {"b1": 33.33, "b4": 66.67, "credit": 0.0},
        )
        # A grouped list reads some groups only: the shares are still of all that is owed.
        (first,) = aging.formatted_read_group([], ["bucket"], ["share:sum"], limit=1)
        self.assertAlmostEqual(first["share:sum"], 100.0 / 3, places=2)
        # The same figures as the share line of the PDF and XLSX.
        (printed,) = self.wizard._aging_report_with_headers()["totals"]
        for group in groups:
            self.assertAlmostEqual(group["share:sum"], printed["percent"].get(group["bucket"], 0))
        views = aging.get_views([(False, "pivot")])["views"]
        self.assertIn('<field name="share" type="measure"/>', views["pivot"]["arch"])

    def _screen(self, date_at="2026-04-15"):
        wizard = self.env["finnsys.aged.receivable.wizard"].create({"date_at": date_at})
        aging = self.env["finnsys.aged.receivable"].with_user(self.billing_user)
        return aging.with_context(**wizard.with_user(self.billing_user).action_view()["context"])

    def test_bucket_boundaries_are_one_rule_on_screen_and_printed(self):
        """Due today is not due; 1 and 30 days are 1-30; 31 is 31-60; 120 is 91-120; 121
        is over 120 (default buckets 30, 60, 90, 120)."""
        edges = self._customer("Edges Co", "postpaid")
        for days, amount in ((0, 1), (1, 2), (30, 4), (31, 8), (120, 16), (121, 32)):
            day = fields.Date.subtract(fields.Date.to_date("2026-04-15"), days=days)
            self._invoice(edges, amount, date=day)
        expected = {"b0": 1.0, "b1": 6.0, "b2": 8.0, "b4": 16.0, "b5": 32.0}
        groups = self._screen().formatted_read_group(
            [("partner_id", "=", edges.id)], ["bucket"], ["residual:sum"]
        )
        self.assertEqual({g["bucket"]: g["residual:sum"] for g in groups}, expected)
        (row,) = [
            row
            for row in self.wizard._aging_report_with_headers()["rows"]
            if row["partner_id"] == edges.id
        ]
        self.assertEqual({key: value for key, value in row["amounts"].items() if value}, expected)

    def test_pivot_graph_and_list_show_every_open_item(self):
        """The pivot and graph read the items summed per bucket, the list a page and its
        count in one query: counts, sums and pages as item by item."""
        second = self._customer("Second Co", "postpaid")
        self._invoice(second, 70, date="2026-04-03")
        self._invoice(second, 30, date="2026-04-05")
        aging = self._screen()
        measures = [
            "residual:sum",
            "company_currency_id:array_agg_distinct",
            "residual:sum_currency",
            "share:sum",
            "__count",
        ]
        sets = [["partner_id", "bucket"], ["partner_id"], ["bucket"], []]
        pivot = aging.formatted_read_grouping_sets([], sets, measures)
        cells = {(c["partner_id"][0], c["bucket"]): c for c in pivot[0]}
        self.assertEqual(cells[(second.id, "b1")]["__count"], 2)
        self.assertEqual(cells[(second.id, "b1")]["residual:sum"], 100.0)
        self.assertEqual(pivot[3][0]["__count"], 5)
        self.assertEqual(pivot[3][0]["residual:sum"], 1350.0)
        # A filter on an item's own field reads item by item: the same figures.
        every_item = [("date", "!=", False)]
        self.assertEqual(aging.formatted_read_grouping_sets(every_item, sets, measures), pivot)
        graph = aging.formatted_read_group([], ["bucket"], ["__count", "residual:sum"])
        self.assertEqual(
            {g["bucket"]: (g["__count"], g["residual:sum"]) for g in graph},
            {"b1": (3, 600.0), "b4": (1, 1000.0), "credit": (1, -250.0)},
        )
        spec = {"partner_id": {"fields": {"display_name": {}}}, "residual": {}}
        page = aging.web_search_read([], spec, limit=2, count_limit=10001)
        self.assertEqual(page["length"], 5)
        self.assertEqual([r["id"] for r in page["records"]], aging.search([], limit=2).ids)
        self.assertEqual(aging.web_search_read(every_item, spec, limit=2)["length"], 5)
        last = aging.web_search_read([], spec, offset=4, limit=2, count_limit=10001)
        self.assertEqual((last["length"], len(last["records"])), (5, 1))

    def test_screen_groups_are_formatted_as_core_formats_them(self):
        """The pivot's groups (names, domains the web client opens a cell with, measures) are
        those core's formatting gives, with a journal item of no partner among them, booked
        in the same transaction as the screen is read."""
        self._invoice(self._customer("Second Co", "postpaid"), 70, date="2026-04-03")
        no_partner = self.env["account.move"].create(
            {
                "move_type": "entry",
                "date": "2026-04-10",
                "line_ids": [
                    Command.create(
                        {
                            "account_id": self.company_data["default_account_receivable"].id,
                            "debit": 40.0,
                            "name": "no partner",
                        }
                    ),
                    Command.create(
                        {
                            "account_id": self.company_data["default_account_revenue"].id,
                            "credit": 40.0,
                            "name": "no partner",
                        }
                    ),
                ],
            }
        )
        no_partner.action_post()
        aging = self._screen()
        measures = ("residual:sum", "company_currency_id:array_agg_distinct", "__count")
        for groupby in (("partner_id", "bucket"), ("bucket",), ("partner_id",), ()):
            groups = aging._read_group([], groupby, measures)
            formatted = aging._web_read_group_format(groupby, measures, groups)
            self.assertEqual(
                formatted, WebBase._web_read_group_format(aging, groupby, measures, groups)
            )
            self.assertEqual(len(formatted), len(groups))
        cells = aging.formatted_read_group([], ["partner_id", "bucket"], ["residual:sum"])
        self.assertIn(
            (False, ["&", ("partner_id", "=", False), ("bucket", "=", "b1")], 40.0),
            [(c["partner_id"], c["__extra_domain"], c["residual:sum"]) for c in cells],
        )

    def test_html_prints_totals_and_options(self):
        html = (
            self.env["ir.actions.report"]
            .with_user(self.billing_user)
            ._render_qweb_html("finnsys_billing.action_report_aged_receivable", self.wizard.ids)[0]
            .decode()
        )
        for text in (
            "Printed Co",
            "Total <span>USD</span>",
            "Share",
            "91-120",
            "Buckets (days)",
            "66.7</span> %",
        ):
            self.assertIn(text, html)

    def test_xlsx_has_rows_totals_and_options(self):
        content, kind = (
            self.env["ir.actions.report"]
            .with_user(self.billing_user)
            ._render_xlsx("finnsys_billing.action_report_aged_receivable_xlsx", self.wizard.ids, {})
        )
        self.assertEqual(kind, "xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(content)).active
        values = [[cell for cell in row if cell is not None] for row in sheet.values]
        self.assertIn(["As of", "2026-04-15"], values)
        self.assertIn(
            ["Printed Co", self.env.company.name, "USD", 0, 500, 0, 0, 1000, 0, -250, 1250], values
        )
        self.assertIn(["Total", "USD", 0, 500, 0, 0, 1000, 0, -250, 1250], values)

    def test_weekly_cron_stores_bucket_totals_and_dso(self):
        cron = self.env.ref("finnsys_billing.ir_cron_aging_snapshot")
        with self.enter_registry_test_mode():
            cron.method_direct_trigger()
        snapshots = self.env["finnsys.aging.snapshot"].search(
            [("company_id", "=", self.env.company.id), ("date", "=", "2026-04-15")]
        )
        amounts = {snap.bucket: snap.amount for snap in snapshots}
        self.assertEqual(amounts["b4"], 1000.0)
        self.assertEqual(amounts["credit"], -250.0)
        # Receivable 1250; sales of the last 90 days (16 Jan - 15 Apr): the 500 invoice only.
        self.assertEqual(set(snapshots.mapped("receivable_total")), {1250.0})
        self.assertEqual(set(snapshots.mapped("sales_total")), {500.0})
        self.assertAlmostEqual(snapshots[0].dso, 225.0)
        with self.enter_registry_test_mode():
            cron.method_direct_trigger()
        self.assertEqual(
            self.env["finnsys.aging.snapshot"].search_count(
                [("company_id", "=", self.env.company.id), ("date", "=", "2026-04-15")]
            ),
            len(snapshots),
        )


@tagged("post_install", "-at_install")
class TestAgedReceivablePdf(BillingCommon, HttpCase):
    """wkhtmltopdf fetches the report assets over HTTP: it needs the test server."""

    def test_pdf_is_rendered(self):
        customer = self._customer("Pdf Co", "postpaid")
        self._invoice(customer, 100, date="2026-01-10")
        wizard = self.env["finnsys.aged.receivable.wizard"].create({})
        pdf, kind = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("finnsys_billing.action_report_aged_receivable", wizard.ids)
        )
        self.assertEqual(kind, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"))
