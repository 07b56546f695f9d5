from odoo.tests import tagged

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalPayTour(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.invoice = cls._post_invoice(cls.customer, 100.0)

    def _transaction(self):
        return self.env["payment.transaction"].search([("invoice_ids", "=", self.invoice.id)])

    def test_partial_payment_with_saved_card(self):
        self.start_tour(
            "/my/invoices?filterby=open", "finnsys_portal_pay_saved_card_tour", login="pp_user"
        )
        tx = self._transaction()
        self.assertEqual((tx.amount, tx.token_id, tx.state), (40.0, self.token, "done"))
        tx._post_process()
        self.assertEqual(self.invoice.amount_residual, 60.0)
        self.assertEqual(self.invoice.payment_state, "partial")

    def test_payment_with_a_new_card(self):
        self.other_token.active = False
        self.token.active = False
        self.start_tour(
            "/my/invoices?filterby=open", "finnsys_portal_pay_new_card_tour", login="pp_user"
        )
        tx = self._transaction()
        self.assertEqual((tx.amount, tx.state), (100.0, "done"))
        tx._post_process()
        self.assertTrue(self.invoice.currency_id.is_zero(self.invoice.amount_residual))

    def test_payment_through_the_emailed_link(self):
        """Logged out, with the reminder's "Pay online" link: the same amount and terms step."""
        link = f"/my/invoices/{self.invoice.id}?access_token={self.invoice._portal_ensure_token()}"
        self.start_tour(link, "finnsys_portal_pay_link_tour")
        tx = self._transaction()
        self.assertEqual((tx.amount, tx.state, tx.token_id), (40.0, "done", self.token.browse()))
        tx._post_process()
        self.assertEqual(self.invoice.amount_residual, 60.0)
