from odoo import Command
from odoo.tests import tagged

from .portal_common import BillingPortalCommon
from .test_portal_pay import TestPortalPayBadInput


@tagged("post_install", "-at_install")
class TestPortalSurcharge(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.country_id = cls.env.ref("base.be")
        cls.rule = cls._card_surcharge_rule(
            "707707",
            cap_amount=5.0,
            excluded_country_ids=[Command.set(cls.env.ref("base.nl").ids)],
        )
        cls.income = cls.rule.income_account_id
        cls.invoice = cls._post_invoice(cls.customer, 100.0)

    def _rpc(self, amount, **params):
        return TestPortalPayBadInput._rpc(self, self.invoice, amount, **params)

    def test_forged_lower_surcharge_is_refused(self):
        self.authenticate("pp_user", "pp_user")
        for forged in (1.0, 0, None, "abc"):
            with self.subTest(forged=forged):
                self._assert_refused(self._rpc(40.0, surcharge=forged), 400, "surcharge")
        self.assertFalse(
            self.env["payment.transaction"].search([("invoice_ids", "=", self.invoice.id)])
        )
        self.assertFalse(
            self.env["finnsys.surcharge.consent"].search([("invoice_id", "=", self.invoice.id)])
        )

    def _assert_surcharge_booked(self, tx):
        consent = tx.finnsys_surcharge_consent_id
        self.assertRecordValues(
            consent,
            [
                {
                    "state": "accepted",
                    "partner_id": self.customer.id,
                    "user_id": self.user.id,
                    "rule_id": self.rule.id,
                    "amount": 40.0,
                    "surcharge": 1.30,
                    "total": 41.30,
                }
            ],
        )
        self.assertTrue(consent.ip_address)
        self.assertEqual(tx.amount, 41.30)
        tx._post_process()
        self.assertEqual(self.invoice.amount_residual, 60.0)
        surcharge_move = consent.surcharge_move_id
        self.assertEqual(surcharge_move.state, "posted")
        self.assertIn(surcharge_move.payment_state, ("paid", "in_payment"))
        income_line = surcharge_move.line_ids.filtered(lambda line: line.account_id == self.income)
        self.assertEqual(income_line.credit, 1.30)
        self.assertEqual(tx.payment_id.amount, 41.30)
        self.assertIn(surcharge_move, tx.payment_id.reconciled_invoice_ids)
        self.assertIn(self.invoice, tx.payment_id.reconciled_invoice_ids)

    def test_accepted_surcharge_is_charged_and_booked(self):
        self.authenticate("pp_user", "pp_user")
        response = self._rpc(40.0, surcharge=1.30)
        self.assertNotIn("error", response.json(), response.text)
        tx = self.env["payment.transaction"].search([("invoice_ids", "=", self.invoice.id)])
        self._assert_surcharge_booked(tx)

    def test_surcharge_accepted_tour(self):
        self.start_tour(
            "/my/invoices?filterby=open", "finnsys_portal_surcharge_accept_tour", login="pp_user"
        )
        tx = self.env["payment.transaction"].search([("invoice_ids", "=", self.invoice.id)])
        self._assert_surcharge_booked(tx)

    def test_surcharge_declined_tour(self):
        self.start_tour(
            "/my/invoices?filterby=open", "finnsys_portal_surcharge_decline_tour", login="pp_user"
        )
        self.assertFalse(
            self.env["payment.transaction"].search([("invoice_ids", "=", self.invoice.id)])
        )
        consent = self.env["finnsys.surcharge.consent"].search(
            [("invoice_id", "=", self.invoice.id)]
        )
        # The tour cancels twice: each refusal is recorded.
        self.assertRecordValues(
            consent, [{"state": "declined", "surcharge": 1.30, "transaction_id": False}] * 2
        )
        self.assertEqual(self.invoice.amount_residual, 100.0)
