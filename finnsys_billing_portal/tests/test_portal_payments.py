import re
import shutil
import unittest

from odoo.fields import Domain
from odoo.tests import tagged

from odoo.addons.finnsys_billing.tests.pdf_common import pdf_text
from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalPayments(BillingPortalCommon):
    """The payments page and the receipts, as the owner, another customer and logged out."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.country_id = cls.env.ref("base.be")
        cls.rule = cls._card_surcharge_rule("707708")
        cls.invoice = cls._post_invoice(cls.customer, 100.0)
        cls.backend_invoice = cls._post_invoice(cls.customer, 30.0, date="2026-01-02")
        cls.backend_payment = (
            cls.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=cls.backend_invoice.ids)
            .create({"amount": 30.0, "payment_date": "2026-01-05"})
            ._create_payments()
        )

    def _pay_with_surcharge(self):
        """Pay 40 of the invoice with the saved card through the portal route, surcharge
        accepted, and let Odoo post-process it as its status page does."""
        self.authenticate("pp_user", "pp_user")
        csrf = self._csrf(f"/my/invoices/{self.invoice.id}/pay")
        params = self._token_payment_params(
            40.0, terms_token(self.env, self.invoice, 40.0), csrf, surcharge=1.30
        )
        response = self._jsonrpc(f"/invoice/transaction/{self.invoice.id}", params)
        self.assertNotIn("error", response.json(), response.text)
        tx = self.env["payment.transaction"].search(Domain("invoice_ids", "=", self.invoice.id))
        tx._post_process()
        return tx

    def test_card_payment_receipt_itemises_the_surcharge(self):
        if not shutil.which("pdftotext"):
            raise unittest.SkipTest("poppler-utils (pdftotext) is not installed")
        tx = self._pay_with_surcharge()
        payment = tx.payment_id
        values = payment._finnsys_receipt_values()
        self.assertEqual(
            [(line["kind"], line["amount"]) for line in values["lines"]],
            [("surcharge", 1.30), ("invoice", 40.0)],
        )
        pdf, _type = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("account.action_report_payment_receipt", payment.ids)
        )
        text = pdf_text(pdf)
        self.assertIn(self.company.name, text)
        self.assertIn(f"Card surcharge: Payment surcharge on {self.invoice.name} (Cards)", text)
        self.assertIn(f"Invoice {self.invoice.name}", text)
        self.assertIn(tx.reference, text)
        self.assertIn("Total paid", text)
        for amount in (1.30, 40.0, 41.30):
            self.assertIn(self.currency.format(amount).replace("\xa0", " "), text)

    def test_portal_payment_queues_one_receipt_email_with_the_surcharge(self):
        tx = self._pay_with_surcharge()
        tx._post_process()  # processed twice: still one e-mail
        mails = self.env["mail.mail"].search(
            Domain("model", "=", "account.payment") & Domain("res_id", "=", tx.payment_id.id)
        )
        self.assertEqual(len(mails), 1)
        self.assertEqual(mails.state, "outgoing", "sent by the mail queue")
        self.assertEqual(mails.recipient_ids, self.user.partner_id)
        self.assertIn("Card surcharge", mails.body_html)
        self.assertIn(f"/my/receipts/{tx.payment_id.id}?access_token=", mails.body_html)

    def test_success_page_links_the_receipt(self):
        tx = self._pay_with_surcharge()
        page = self.url_open(f"/my/payments/{tx.id}")
        self.assertEqual(page.status_code, 200)
        self.assertIn(f'href="/my/receipts/{tx.payment_id.id}"', page.text)

    def test_receipt_route_for_owner_other_customer_and_visitor(self):
        payment = self.backend_payment
        url = f"/my/receipts/{payment.id}"
        signed = payment.get_receipt_portal_url()
        # Logged out: to the login page, unless the link is signed.
        response = self.url_open(url, allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])
        self.assertEqual(self.url_open(signed).status_code, 200)
        forged = self.url_open(f"{url}?access_token=forged", allow_redirects=False)
        self.assertEqual(forged.status_code, 303)
        # Another customer, even with a wrong token, gets nothing.
        self.authenticate("other_user", "other_user")
        self.assertEqual(self.url_open(url).status_code, 404)
        self.assertEqual(self.url_open(f"{url}?access_token=forged").status_code, 404)
        self.authenticate("pp_user", "pp_user")
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "application/pdf")
        self.assertIn(payment.name, response.text)  # tests render the HTML of the PDF

    def test_payments_page_lists_own_payments_newest_first(self):
        tx = self._pay_with_surcharge()
        pending = self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.card.id,
                "amount": 25.0,
                "currency_id": self.currency.id,
                "partner_id": self.customer.id,
                "reference": "TOPUP-PENDING-1",
                "operation": "online_direct",
                "state": "pending",
            }
        )
        # Everything in a test shares one transaction time: the top-up came an hour later.
        self.env.cr.execute(
            "UPDATE payment_transaction SET create_date = create_date + interval '1 hour' "
            "WHERE id = %s",
            [pending.id],
        )
        page = self.url_open("/my/payments")
        self.assertEqual(page.status_code, 200)
        text = page.text
        self.assertEqual(
            re.findall(r'data-reference="([^"]+)"', text),
            [pending.reference, tx.reference, self.backend_payment.name],
        )
        self.assertIn(f'href="/my/receipts/{tx.payment_id.id}"', text)
        self.assertIn(f'href="/my/receipts/{self.backend_payment.id}"', text)
        self.assertEqual(text.count("o_billing_receipt_link"), 2, "none for the pending one")
        self.assertIn("Pending", text)
        self.assertIn(pending.reference, text)
        # Another customer sees none of it.
        self.authenticate("other_user", "other_user")
        other = self.url_open("/my/payments")
        self.assertEqual(other.status_code, 200)
        self.assertIn("o_billing_no_payments", other.text)
        for reference in (tx.reference, pending.reference, self.backend_payment.name):
            self.assertNotIn(reference, other.text)
        # Logged out: the login page.
        self.authenticate(None, None)
        response = self.url_open("/my/payments", allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])

    def test_payments_page_is_paginated(self):
        self.env["payment.transaction"].create(
            [
                {
                    "provider_id": self.provider.id,
                    "payment_method_id": self.card.id,
                    "amount": 10.0 + index,
                    "currency_id": self.currency.id,
                    "partner_id": self.customer.id,
                    "reference": f"TOPUP-PAGE-{index:03d}",
                    "operation": "online_direct",
                    "state": "pending",
                }
                for index in range(85)
            ]
        )
        self.authenticate("pp_user", "pp_user")
        first = self.url_open("/my/payments").text
        second = self.url_open("/my/payments/page/2").text
        self.assertEqual(first.count("o_billing_payment_row"), 80)
        # 85 top-ups and the backend payment.
        self.assertEqual(second.count("o_billing_payment_row"), 6)
        self.assertIn(self.backend_payment.name, second)
        self.assertIn('href="/my/payments/page/2"', first)

    def test_payments_tour(self):
        self._pay_with_surcharge()
        self.start_tour("/my", "finnsys_portal_payments_tour", login="pp_user")
