from odoo.tests import HttpCase, tagged
from odoo.tools import format_amount

from .common import BillingCommon
from .pdf_common import SELLER, pdf_fonts, pdf_text, png_logo, require_poppler


@tagged("post_install", "-at_install")
class TestInvoicePdf(BillingCommon, HttpCase):
    """The invoice PDF a customer receives, read back as a customer's PDF reader would."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_poppler("pdftotext", "pdffonts")
        cls.env.company.write({**SELLER, "zip": "00100", "city": "Helsinki", "logo": png_logo()})
        cls.customer = cls._customer("Buyer Industries", "postpaid", street="1 Harbour Road")

    def test_invoice_pdf_names_the_seller_and_is_real_text(self):
        invoice = self._invoice(self.customer, 1234.5)
        # In tests Odoo returns the HTML unless asked for the real PDF.
        pdf, _type = (
            self.env["ir.actions.report"]
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf("account.account_invoices", invoice.ids)
        )
        text, fonts = pdf_text(pdf), pdf_fonts(pdf)
        for expected in (
            "Nordic Seller Oy",
            "Mannerheimintie 12",
            "FI12345671",
            "Buyer Industries",
            invoice.name,
            format_amount(self.env, invoice.amount_residual, invoice.currency_id),
        ):
            # pdftotext gives the no-break space of "$ 1,234.50" as a plain one.
            self.assertIn(expected.replace("\xa0", " "), text)
        self.assertIn("DejaVu", fonts, "the text is embedded as text, not drawn as shapes")
        self.assertLess(len(pdf), 100_000, "a one-page invoice stays small")

    def test_posted_invoice_is_not_a_proforma_in_the_portal(self):
        invoice = self._invoice(self.customer, 100)
        self.assertFalse(invoice.invoice_pdf_report_id)
        # What Odoo's portal route renders for an invoice whose PDF was never generated.
        html, _type = (
            self.env["ir.actions.report"]
            .with_context(proforma_invoice=True)
            ._render_qweb_html("account.account_invoices", invoice.ids)
        )
        self.assertNotIn("Proforma", html.decode())
        self.assertIn(invoice.name, html.decode())
        draft = self._invoice(self.customer, 100, post=False)
        html, _type = (
            self.env["ir.actions.report"]
            .with_context(proforma_invoice=True)
            ._render_qweb_html("account.account_invoices", draft.ids)
        )
        self.assertIn("Proforma", html.decode(), "a draft still is one")
