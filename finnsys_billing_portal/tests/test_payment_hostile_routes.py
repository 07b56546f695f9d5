"""Hostile payments over HTTP, the other entry points: declines, the country of a company,
several invoices, top-ups, reminders of a payment under way and the success page."""

from freezegun import freeze_time
from lxml import html

from odoo import Command
from odoo.tests import tagged

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token, topup_token

from .hostile_common import HostileCase


@tagged("post_install", "-at_install")
class TestDeclineAndCountry(HostileCase):
    """Finding 9: the decline route is rate-limited; the surcharge country is not the
    customer's to change."""

    def test_decline_route_stops_storing_refusals(self):
        self.authenticate("pp_user", "pp_user")
        url = f"/my/invoices/{self.invoice.id}/surcharge/decline"
        params = self._direct(
            40.0, self._signed(40.0), self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        )
        Consent = self.env["finnsys.surcharge.consent"]
        for __ in range(20):
            self.assertEqual(self._jsonrpc(url, params).status_code, 200)
        self._assert_refused_nothing_created(url, params, 429, "21st refusal in an hour")
        self.assertEqual(Consent.search_count([("invoice_id", "=", self.invoice.id)]), 20)

    def test_company_user_cannot_change_its_country_in_the_portal(self):
        # Odoo only locks the country of a partner that invoices are addressed to; these are
        # addressed to the company's invoicing contact.
        contact = self.other_customer.child_ids
        self.assertTrue(self.other_customer._can_edit_country(), "no invoice yet")
        self._post_invoice(contact, 10.0)
        self.assertFalse(self.other_customer._can_edit_country())
        self.assertFalse(contact._can_edit_country(), "Odoo's own rule")
        self.assertTrue(self.user.partner_id._can_edit_country(), "another contact's address")


@tagged("post_install", "-at_install")
class TestOtherEntryPoints(HostileCase):
    """The same method checks on paying several invoices and on topping up, and extra
    fields that Odoo would pass on to the transaction."""

    def setUp(self):
        super().setUp()
        self.authenticate("pp_user", "pp_user")
        self.csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")

    def test_several_invoices_pay_the_surcharge_of_the_card_charged(self):
        second = self._post_invoice(self.customer, 60.0)
        invoices = self.invoice + second
        url = f"/my/invoices/pay/{self.invoice.id},{second.id}/transaction"
        signed = terms_token(self.env, invoices, 160.0)
        visa = self.env.ref("payment.payment_method_visa")
        for label, params in (
            (
                "Demo token alongside",
                self._direct(160.0, signed, self.csrf, token_id=self.demo_token.id),
            ),
            ("Visa", self._direct(160.0, signed, self.csrf, method=visa)),
        ):
            self._assert_refused_nothing_created(url, params, 400, label)
        surcharge = self.rule.compute_surcharge(160.0, self.currency)
        tx = self._accepted(
            url, self._direct(160.0, signed, self.csrf, method=visa, surcharge=surcharge)
        )
        self.assertEqual((tx.payment_method_id, tx.amount), (self.card, 160.0 + surcharge))

    def test_extra_fields_are_refused(self):
        url = f"/invoice/transaction/{self.invoice.id}"
        base = self._direct(40.0, self._signed(40.0), self.csrf, surcharge=1.30)
        for extra in (
            {"partner_id": self.other_customer.id},
            {"reference_prefix": "FAKE"},
            {"currency_id": 2},
            {"custom_create_values": {"amount": 1}},
        ):
            self._assert_refused_nothing_created(url, base | extra, 400, str(extra))

    def test_topup_takes_only_methods_of_the_provider(self):
        prepaid = self._portal_customer("Hostile Prepaid Co", "prepaid", "hostile_pre")
        self.company.write({"billing_portal_topup_min": 20.0, "billing_portal_topup_max": 1000.0})
        self.authenticate("hostile_pre", "hostile_pre")
        csrf = self._csrf("/my/topup")
        signed = topup_token(self.env, prepaid, 50.0)
        url = "/my/topup/transaction"
        paypal = self.env.ref("payment.payment_method_paypal")
        for label, params in (
            ("PayPal, not offered", self._direct(50.0, signed, csrf, method=paypal)),
            ("A token of another customer", self._token_payment_params(50.0, signed, csrf)),
            ("an unknown flow", self._direct(50.0, signed, csrf, flow="offline")),
        ):
            status = 404 if "token" in label else 400
            self._assert_refused_nothing_created(
                url, params | {"landing_route": "/my"}, status, label
            )
        visa = self.env.ref("payment.payment_method_visa")
        tx = self._accepted(url, self._direct(50.0, signed, csrf, method=visa))
        self.assertEqual((tx.payment_method_id, tx.amount), (self.card, 50.0))


@tagged("post_install", "-at_install")
class TestReminderUnderWay(HostileCase):
    """Reminders leave an invoice alone while payments under way cover it."""

    def _reminder_logs(self):
        return self.env["finnsys.reminder.log"].search([("move_id", "=", self.invoice.id)])

    def _run_reminders(self):
        with freeze_time("2026-01-10"):
            self.env.ref("finnsys_billing.ir_cron_send_reminders").method_direct_trigger()

    def test_pending_payment_of_the_whole_invoice_holds_its_reminders(self):
        tx = self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.card.id,
                "partner_id": self.customer.id,
                "amount": 100.0,
                "currency_id": self.currency.id,
                "reference": "UNDER-WAY-100",
                "invoice_ids": [Command.set(self.invoice.ids)],
            }
        )
        tx._set_pending()
        self._run_reminders()
        self.assertFalse(self._reminder_logs(), "nothing to remind while 100.00 is under way")
        tx._set_canceled()
        self._run_reminders()
        self.assertTrue(self._reminder_logs(), "the failed payment leaves the invoice due")


@tagged("post_install", "-at_install")
class TestSuccessPage(HostileCase):
    """The page a payment lands on itemises what was paid: invoices, surcharge, total."""

    def _figures(self, tx):
        page = self.url_open(f"/my/payments/{tx.id}")
        self.assertEqual(page.status_code, 200, page.text[:300])
        dl = html.fromstring(page.text).xpath("//div[contains(@class, 'o_billing_payment')]//dl")
        return [
            (" ".join(dt.text_content().split()), " ".join(dd.text_content().split()))
            for dt, dd in zip(dl[0].xpath("./dt"), dl[0].xpath("./dd"), strict=True)
        ]

    def test_surcharge_is_its_own_line_between_invoices_and_total(self):
        self.authenticate("pp_user", "pp_user")
        csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        url = f"/invoice/transaction/{self.invoice.id}"
        card = self._accepted(
            url, self._token_payment_params(40.0, self._signed(40.0), csrf, surcharge=1.30)
        )
        lines = self._figures(card)
        self.assertEqual(
            [term for term, __ in lines[:3]], ["Invoices", "Surcharge (Cards)", "Amount paid"]
        )
        self.assertEqual(
            [value for __, value in lines[:3]],
            [" ".join(self.currency.format(figure).split()) for figure in (40.0, 1.30, 41.30)],
        )
        wallet = self._accepted(
            url,
            self._token_payment_params(20.0, self._signed(20.0), csrf, token_id=self.demo_token.id),
        )
        terms = [term for term, __ in self._figures(wallet)]
        self.assertNotIn("Surcharge (Cards)", terms)
        self.assertEqual(terms[0], "Amount paid")
