from odoo.tests import HttpCase, tagged
from odoo.tools import format_amount

from .common import BillingCommon
from .pdf_common import SELLER, pdf_text, png_logo, receipt_pdf, require_poppler


@tagged("post_install", "-at_install")
class TestPaymentReceipt(BillingCommon, HttpCase):
    """Odoo's payment receipt, as FinnSys completes it, read back from the PDF."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_poppler()
        cls.env.company.write({**SELLER, "city": "Helsinki", "logo": png_logo()})
        cls.customer = cls._customer("Receipt Buyer Ltd", "prepaid")
        cls.provider, cls.card, cls.token = cls._saved_demo_card(cls.customer, "receipt-4242")

    def _pdf(self, payment):
        return pdf_text(receipt_pdf(self.env, payment))

    def _money(self, amount):
        return format_amount(self.env, amount, self.env.company.currency_id).replace("\xa0", " ")

    def _topup(self, amount):
        tx = self._demo_transaction(
            self.provider,
            self.customer,
            amount,
            "TOPUP-RECEIPT-1",
            payment_method_id=self.card.id,
            token_id=self.token.id,
            operation="online_token",
        )
        tx._set_done()
        tx._post_process()
        return tx

    def test_top_up_receipt_names_seller_card_and_credit_left(self):
        tx = self._topup(250.0)
        text = self._pdf(tx.payment_id)
        for expected in (
            "Nordic Seller Oy",
            "FI12345671",
            "Receipt Buyer Ltd",
            tx.payment_id.name,
            "TOPUP-RECEIPT-1",
            "Added to your account's credit",
            "Total paid",
            "Credit left on your account",
        ):
            self.assertIn(expected, text)
        self.assertRegex(text, r"Paid with: Card\W+4242")
        # The amount paid, the credit it added, the total and the credit left.
        self.assertGreaterEqual(text.count(self._money(250.0)), 4, text)
        self.assertNotIn("Card surcharge", text)

    def test_backend_payment_receipt_lists_what_it_paid(self):
        customer = self._customer("Bank Payer Ltd", "postpaid")
        invoice = self._invoice(customer, 80.0)
        payment = self._receive(customer, 100.0)
        (payment.move_id.line_ids + invoice.line_ids).filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        ).reconcile()
        values = payment._finnsys_receipt_values()
        self.assertEqual(
            [(line["kind"], line["amount"]) for line in values["lines"]],
            [("invoice", 80.0), ("credit", 20.0)],
        )
        self.assertEqual(values["balance"], 20.0)
        text = self._pdf(payment)
        self.assertIn(f"Invoice {invoice.name}", text)
        self.assertIn(self._money(80.0), text)
        self.assertIn("Nordic Seller Oy", text)
        self.assertIn("Credit left on your account", text)
