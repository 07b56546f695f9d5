import re

from odoo import fields
from odoo.tests import new_test_user, tagged

from odoo.addons.finnsys_billing.tests.query_spy import recorded_queries
from odoo.addons.finnsys_billing_portal.controllers.portal import BillingPortal

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalInvoices(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.open = cls._post_invoice(cls.customer, 100.0, "2026-01-05", due="2026-02-05")
        cls.partial = cls._post_invoice(cls.customer, 300.0, "2026-01-07", due="2026-01-20")
        cls._pay_in_backend(cls.partial, 50.0)
        cls.paid = cls._post_invoice(cls.customer, 200.0, "2026-01-06", due="2026-03-01")
        cls._pay_in_backend(cls.paid, 200.0)
        cls.running = cls._post_invoice(cls.customer, 40.0, "2026-01-08")
        cls.env["payment.transaction"].create(
            {
                "provider_id": cls.provider.id,
                "payment_method_id": cls.card.id,
                "amount": 40.0,
                "currency_id": cls.currency.id,
                "partner_id": cls.customer.id,
                "state": "pending",
                "invoice_ids": [(6, 0, cls.running.ids)],
            }
        )
        cls.refund = cls._post_invoice(cls.customer, 10.0, "2026-01-09", move_type="out_refund")
        cls.foreign = cls._post_invoice(cls.other_customer, 777.0)
        new_test_user(
            cls.env,
            login="pp_colleague",
            password="pp_colleague",
            groups="base.group_portal",
            name="Colleague",
        ).partner_id.parent_id = cls.customer

    def _tab(self, tab, **params):
        query = "&".join(f"{key}={value}" for key, value in {"filterby": tab, **params}.items())
        response = self.url_open(f"/my/invoices?{query}")
        self.assertEqual(response.status_code, 200)
        return response.text

    def _rows(self, page):
        return re.findall(r'<tr data-invoice="([^"]+)"', page)

    def test_tabs_list_documents_by_payment_status_with_counts(self):
        self.authenticate("pp_user", "pp_user")
        page = self._tab("all")
        counts = re.findall(r'data-tab="(\w+)">\s*\w+(?: \w+)?\s*<span[^>]*>(\d+)', page)
        # an unapplied credit note is credit on account: in All, not an open item to pay
        self.assertEqual(dict(counts), {"all": "5", "open": "2", "progress": "1", "paid": "1"})
        self.assertCountEqual(
            self._rows(page),
            (self.open | self.partial | self.paid | self.running | self.refund).mapped("name"),
        )
        self.assertCountEqual(
            self._rows(self._tab("open")), (self.open | self.partial).mapped("name")
        )
        self.assertEqual(self._rows(self._tab("progress")), [self.running.name])
        self.assertEqual(self._rows(self._tab("paid")), [self.paid.name])
        self.assertNotIn(self.foreign.name, page)

    def test_partly_paid_invoice_stays_open_with_its_residual(self):
        self.authenticate("pp_user", "pp_user")
        page = self._tab("open")
        self.assertIn("250.00", page)
        self.assertIn("Partly paid", page)

    def test_overdue_invoices_show_how_many_days_late(self):
        """Issue 16, item 8: overdue invoices were not marked in the list."""
        self.authenticate("pp_user", "pp_user")
        page = self._tab("all")
        rows = dict(re.findall(r'<tr data-invoice="([^"]+)"(.*?)</tr>', page, re.S))
        late = (fields.Date.today() - self.partial.invoice_date_due).days
        self.assertIn(f"{late} days late", rows[self.partial.name])
        self.assertNotIn("late", rows[self.paid.name], "a paid invoice is not late")
        self.assertNotIn("late", rows[self.running.name], "a payment under way covers it")
        self.assertNotIn("late", rows[self.refund.name])

    def test_every_contact_of_the_customer_sees_its_documents(self):
        self.authenticate("pp_colleague", "pp_colleague")
        self.assertEqual(len(self._rows(self._tab("all"))), 5)
        detail = self.url_open(f"/my/invoices/{self.open.id}", allow_redirects=False)
        self.assertEqual(detail.status_code, 200)
        self.assertIn(f'href="/my/invoices/{self.open.id}/pay"', detail.text)
        self.authenticate("other_user", "other_user")
        self.assertEqual(self._rows(self._tab("all")), [self.foreign.name])
        detail = self.url_open(f"/my/invoices/{self.open.id}", allow_redirects=False)
        self.assertIn(detail.status_code, (302, 303), "another customer's invoice is refused")

    def test_search_by_number_and_sort(self):
        self.authenticate("pp_user", "pp_user")
        self.assertEqual(self._rows(self._tab("all", search=self.paid.name)), [self.paid.name])
        by_amount = self._rows(self._tab("all", sortby="amount"))
        self.assertEqual(by_amount[0], self.partial.name)
        self.assertEqual(by_amount[-1], self.refund.name)
        by_due = self._rows(self._tab("open", sortby="duedate"))
        self.assertEqual(by_due, [self.partial.name, self.open.name])
        by_date = self._rows(self._tab("all", sortby="date"))
        self.assertEqual(by_date[0], self.refund.name)

    def test_pagination_splits_long_lists(self):
        for _index in range(3):
            self._post_invoice(self.customer, 1.0, "2025-12-01")
        self.patch(BillingPortal, "_items_per_page", 4)
        self.authenticate("pp_user", "pp_user")
        first = self._rows(self._tab("all"))
        second = self._rows(self.url_open("/my/invoices/page/2?filterby=all").text)
        self.assertEqual(len(first), 4)
        self.assertEqual(len(second), 4)
        self.assertFalse(set(first) & set(second))

    def test_tabs_tour(self):
        self.start_tour("/my/invoices", "finnsys_portal_tabs_tour", login="pp_user")

    def _running_lookups(self, url):
        """The page at ``url`` and the searches of invoices with a payment under way it ran."""
        with recorded_queries() as queries:
            response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        running = [
            query
            for query in queries
            if re.match(r'\s*SELECT "account_move"\."id" FROM "account_move"', query)
            and '"account_invoice_transaction_rel"' in query
        ]
        return response.text, running

    def test_payment_under_way_is_looked_up_once_per_page(self):
        """The tabs, their counts and the rows are drawn from one look-up of the payments
        under way per page; the next page looks again."""
        self.authenticate("pp_user", "pp_user")
        for tab in ("all", "progress"):
            page, running = self._running_lookups(f"/my/invoices?filterby={tab}")
            self.assertEqual(len(running), 1, "\n\n".join(running))
            self.assertIn(self.running.name, self._rows(page))
        self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.card.id,
                "amount": 100.0,
                "currency_id": self.currency.id,
                "partner_id": self.customer.id,
                "state": "pending",
                "invoice_ids": [(6, 0, self.open.ids)],
            }
        )
        page, running = self._running_lookups("/my/invoices?filterby=progress")
        self.assertEqual(len(running), 1, "\n\n".join(running))
        self.assertCountEqual(self._rows(page), (self.running | self.open).mapped("name"))
        counts = re.findall(r'data-tab="(\w+)">\s*\w+(?: \w+)?\s*<span[^>]*>(\d+)', page)
        self.assertEqual(dict(counts), {"all": "5", "open": "1", "progress": "2", "paid": "1"})
        self.authenticate("other_user", "other_user")
        page, running = self._running_lookups("/my/invoices?filterby=all")
        self.assertEqual(len(running), 1, "\n\n".join(running))
        self.assertEqual(self._rows(page), [self.foreign.name])
