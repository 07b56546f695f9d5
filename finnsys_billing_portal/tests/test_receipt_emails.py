import shutil
import unittest

from freezegun import freeze_time

from odoo.fields import Domain
from odoo.tests import HttpCase, tagged

from odoo.addons.finnsys_billing.tests.pdf_common import pdf_text, receipt_pdf
from odoo.addons.finnsys_billing.tests.test_subscription import SubscriptionCommon
from odoo.addons.finnsys_billing.tests.test_topup import TopupCommon


@tagged("post_install", "-at_install")
class TestReceiptEmails(SubscriptionCommon, TopupCommon, HttpCase):
    """Every e-mail of a payment gives its receipt: the link of the auto top-up and
    subscription charge e-mails opens the receipt PDF without logging in, the backend's
    "Send receipt" attaches it; each PDF says what was paid and the credit left."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not shutil.which("pdftotext"):
            raise unittest.SkipTest("poppler-utils (pdftotext) is not installed")

    def _trigger(self, xmlid, when):
        """Run the scheduled action ``xmlid`` as a cron worker does, on ``when``."""
        with freeze_time(when), self.enter_registry_test_mode():
            self.env.ref(xmlid).method_direct_trigger()
        self.env.invalidate_all()

    def _receipt_text(self, payment):
        return pdf_text(receipt_pdf(self.env, payment))

    def _money(self, amount):
        return self.env.company.currency_id.format(amount).replace("\xa0", " ")

    def _assert_link_opens_the_receipt(self, mail, payment):
        url = payment.finnsys_receipt_url()
        self.assertIn(f"/my/receipts/{payment.id}?access_token=", url)
        self.assertIn(url, mail.body_html)
        response = self.url_open(url.removeprefix(payment.get_base_url()))
        self.assertEqual(response.status_code, 200, "the link opens without logging in")
        self.assertIn(payment.name, response.text)  # tests render the HTML of the PDF

    def test_auto_topup_email_links_its_receipt_with_the_credit_left(self):
        self._spend_down_to(self.customer, 10)
        self._trigger("finnsys_billing.ir_cron_billing_topup", "2026-01-10 12:00:00")
        payment = self._transactions().payment_id
        self.assertEqual(len(payment), 1)
        mail = self._mails("topped up")
        self.assertEqual(len(mail), 1)
        self._assert_link_opens_the_receipt(mail, payment)
        text = self._receipt_text(payment)
        self.assertIn("Added to your account's credit", text)
        self.assertIn("Credit left on your account", text)
        self.assertIn(self._money(110.0), text, "10 left before, 100 added")
        self.assertRegex(text, r"Paid with: .*4242")

    def test_subscription_card_charge_emails_its_receipt(self):
        customer = self._customer("Card Subscriber", "postpaid", email="sub@customer.example")
        token = self._demo_token(customer, "done")
        customer.write({"billing_payment_method": "token", "billing_token_id": token.id})
        subscription = self._subscribe(customer, self.monthly, "2026-03-01", "online")
        self._trigger("finnsys_billing.ir_cron_invoice_subscriptions", "2026-03-01")
        invoice = self._invoices(subscription)
        payment = invoice.transaction_ids.filtered(lambda tx: tx.state == "done").payment_id
        self.assertEqual(len(payment), 1, "the subscription invoice was charged to the card")
        mails = self.env["mail.mail"].search(
            Domain("model", "=", "account.payment") & Domain("res_id", "=", payment.id)
        )
        self.assertEqual(len(mails), 1, "one receipt e-mail")
        self.assertEqual(mails.recipient_ids, customer)
        self.assertIn(invoice.name, mails.body_html)
        self._assert_link_opens_the_receipt(mails, payment)
        text = self._receipt_text(payment)
        self.assertIn(f"Invoice {invoice.name}", text)
        self.assertIn("Total paid", text)
        self.assertIn(self._money(100.0), text)
        self.assertIn("Credit left on your account", text)

    def test_backend_payment_send_receipt_attaches_the_receipt_pdf(self):
        customer = self._customer("Bank Payer Ltd", "postpaid", email="bank@customer.example")
        invoice = self._invoice(customer, 80.0)
        payment = self._receive(customer, 100.0)
        (payment.move_id.line_ids + invoice.line_ids).filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        ).reconcile()
        # The payment form's "Send receipt": Odoo's template, with the receipt report.
        template = self.env.ref("account.mail_template_data_payment_receipt")
        mail_id = template.with_context(force_report_rendering=True).send_mail(payment.id)
        attachments = self.env["mail.mail"].browse(mail_id).attachment_ids
        self.assertEqual(len(attachments), 1)
        self.assertEqual(attachments.mimetype, "application/pdf")
        text = pdf_text(attachments.raw)
        self.assertIn(f"Invoice {invoice.name}", text)
        self.assertIn("Added to your account's credit", text)
        self.assertIn("Credit left on your account", text)
        self.assertIn(self._money(20.0), text)
