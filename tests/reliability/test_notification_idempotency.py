"""Idempotency: a payment notification delivered twice, late or at once books one payment.

Notifications go through the demo provider's real route (``/payment/demo/simulate_payment``,
which calls ``payment.transaction._process``); post-processing through the customer's status
poll (``/payment/status/poll``) and Odoo's cron (``payment.cron_post_process_payment_tx``).
The races run on committed data with two cursors (``CommittedCompanyCase``).
"""

import uuid

import psycopg2
from reliability_common import ReliabilityPortalCase

from odoo import Command
from odoo.fields import Domain
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.finnsys_billing.tests.common import CommittedCompanyCase, demo_provider
from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token, topup_token

POST_PROCESS_CRON = "payment.cron_post_process_payment_tx"


class PaymentFiguresMixin:
    """What finance checks once a payment of ``amount`` from ``partner`` is booked."""

    def _assert_one_payment(self, tx, partner, amount):
        payments = tx.env["account.payment"].search(Domain("partner_id", "=", partner.id))
        self.assertEqual(len(payments), 1, "one notification, one payment")
        self.assertEqual(tx.payment_id, payments)
        self.assertEqual(payments.amount, amount)
        lines = payments.move_id.line_ids
        receivable = lines.filtered(lambda line: line.account_id.account_type == "asset_receivable")
        self.assertRecordValues(
            receivable, [{"partner_id": partner.id, "debit": 0.0, "credit": amount}]
        )
        self.assertRecordValues(lines - receivable, [{"debit": amount, "credit": 0.0}])
        return payments


class NotificationCase(PaymentFiguresMixin, ReliabilityPortalCase):
    """Payments made through the portal, then notified by the demo provider."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The payment intent charges only a method the provider offers: the card, here.
        cls.provider.payment_method_ids = [Command.link(cls.card.id)]
        cls.card.active = True
        cls.invoice = cls._post_invoice(cls.customer, 100.0)
        cls.company.write({"billing_portal_topup_min": 20.0, "billing_portal_topup_max": 1000.0})
        cls.prepaid = cls._portal_customer("Idempotent Prepaid Co", "prepaid", "idem_pre")

    def _direct_params(self, amount, access_token, csrf_url):
        return {
            "access_token": access_token,
            "amount": amount,
            "provider_id": self.provider.id,
            "payment_method_id": self.card.id,
            "token_id": None,  # the payment form sends every key, null when it has no value
            "flow": "direct",
            "tokenization_requested": False,
            "landing_route": "/my",
            "is_validation": False,
            "csrf_token": self._csrf(csrf_url),
        }

    def _new_tx(self, url, params):
        """A draft transaction created by the portal, as the payment form creates it."""
        response = self._jsonrpc(url, params)
        body = response.json()
        self.assertIn("result", body, body)
        tx = self.env["payment.transaction"].search(
            Domain("reference", "=", body["result"]["reference"])
        )
        self.assertEqual(tx.state, "draft")
        return tx

    def _invoice_tx(self):
        self.authenticate("pp_user", "pp_user")
        params = self._direct_params(
            100.0,
            terms_token(self.env, self.invoice, 100.0),
            f"/my/invoices/{self.invoice.id}/pay",
        )
        return self._new_tx(f"/invoice/transaction/{self.invoice.id}", params)

    def _topup_tx(self):
        self.authenticate("idem_pre", "idem_pre")
        params = self._direct_params(50.0, topup_token(self.env, self.prepaid, 50.0), "/my/topup")
        return self._new_tx("/my/topup/transaction", params)

    def _notify(self, tx, state):
        """The provider's notification of ``state`` for ``tx``."""
        response = self._jsonrpc(
            "/payment/demo/simulate_payment",
            {"reference": tx.reference, "simulated_state": state, "payment_details": "4242"},
        )
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("error", response.json(), response.text[:300])
        tx.invalidate_recordset()

    def _poll(self):
        """The customer's status page: Odoo post-processes the transaction it monitors."""
        response = self._jsonrpc("/payment/status/poll", {})
        self.assertNotIn("error", response.json(), response.text[:300])

    def _run_post_process_cron(self):
        self.env.ref(POST_PROCESS_CRON).method_direct_trigger()
        self.env.invalidate_all()

    def _assert_invoice_paid_once(self, tx):
        self.assertEqual(tx.state, "done")
        self._assert_one_payment(tx, self.customer, 100.0)
        self.assertEqual(self.invoice.amount_residual, 0.0)
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        receivable = self.invoice.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertTrue(receivable.reconciled)
        self.assertEqual(receivable.matched_credit_ids.credit_move_id.payment_id, tx.payment_id)


@tagged("post_install", "-at_install")
class TestNotificationIdempotency(NotificationCase):
    @mute_logger("odoo.addons.payment.models.payment_transaction")
    def test_done_twice_then_late_pending_and_cancel_pay_the_invoice_once(self):
        tx = self._invoice_tx()
        self._notify(tx, "done")
        self._poll()
        for state in ("done", "pending", "cancel", "done"):
            self._notify(tx, state)
            self._poll()
            self._run_post_process_cron()
        self._assert_invoice_paid_once(tx)

    @mute_logger("odoo.addons.payment.models.payment_transaction")
    def test_pending_and_done_out_of_order_pay_the_invoice_once(self):
        tx = self._invoice_tx()
        for state in ("pending", "done", "pending", "done"):
            self._notify(tx, state)
            self._run_post_process_cron()
        self._poll()
        self._assert_invoice_paid_once(tx)

    @mute_logger("odoo.addons.payment.models.payment_transaction")
    def test_topup_done_twice_credits_the_balance_once(self):
        self.prepaid.invalidate_recordset()
        before = self.prepaid.billing_balance
        tx = self._topup_tx()
        for state in ("done", "done", "pending", "done"):
            self._notify(tx, state)
            self._poll()
            self._run_post_process_cron()
        self.assertEqual(tx.state, "done")
        self._assert_one_payment(tx, self.prepaid, 50.0)
        self.prepaid.invalidate_recordset()
        self.assertEqual(self.prepaid.billing_balance, before + 50.0)


@tagged("post_install", "-at_install")
class TestSurchargeNotificationIdempotency(NotificationCase):
    """A card surcharge (2.5 % + 0.30): paying 40.00 charges 41.30, booked as a surcharge
    invoice of 1.30 settled by the same payment; repeated notifications book it once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rule = cls._card_surcharge_rule("707727")

    def _surcharged_tx(self):
        self.authenticate("pp_user", "pp_user")
        params = self._direct_params(
            40.0, terms_token(self.env, self.invoice, 40.0), f"/my/invoices/{self.invoice.id}/pay"
        )
        params["surcharge"] = 1.30
        return self._new_tx(f"/invoice/transaction/{self.invoice.id}", params)

    @mute_logger("odoo.addons.payment.models.payment_transaction")
    def test_surcharged_payment_notified_twice_books_the_surcharge_once(self):
        tx = self._surcharged_tx()
        for state in ("done", "done", "pending", "done"):
            self._notify(tx, state)
            self._poll()
            self._run_post_process_cron()
        self.assertEqual((tx.state, tx.amount), ("done", 41.30))
        self._assert_one_payment(tx, self.customer, 41.30)
        consent = tx.finnsys_surcharge_consent_id
        surcharge_invoices = self.env["account.move"].search(
            Domain("invoice_origin", "=", self.invoice.name)
            & Domain("move_type", "=", "out_invoice")
        )
        self.assertEqual(surcharge_invoices, consent.surcharge_move_id, "one surcharge invoice")
        self.assertRecordValues(
            surcharge_invoices, [{"amount_total": 1.30, "amount_residual": 0.0, "state": "posted"}]
        )
        self.assertEqual(self.invoice.amount_residual, 60.0)


@tagged("post_install", "-at_install")
class TestConcurrentNotifications(PaymentFiguresMixin, CommittedCompanyCase):
    """Two deliveries at once: the second worker read the transaction before the first one
    committed, and writes after. Odoo's REPEATABLE READ makes it fail and roll back, as
    the cron and the status poll expect; what counts is one payment in the end."""

    company_name = "Notification Race Co"
    company_values = {"account_use_credit_limit": False}

    @classmethod
    def _setup_committed_data(cls, env, company):
        cls.provider_id = demo_provider(env, company).id

    def _customer(self, env, mode):
        return env["res.partner"].create(
            {
                "name": f"Racer {mode} {uuid.uuid4().hex[:6]}",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": mode,
                "company_id": self.company_id,
            }
        )

    def _draft_tx(self, env, partner, amount, invoices=None):
        Tx = env["payment.transaction"]
        return Tx.create(
            {
                "provider_id": self.provider_id,
                "payment_method_id": env.ref("payment_demo.payment_method_demo").id,
                "partner_id": partner.id,
                "amount": amount,
                "currency_id": env["res.company"].browse(self.company_id).currency_id.id,
                "reference": Tx._compute_reference("demo", prefix=f"RACE-{uuid.uuid4().hex[:8]}"),
                "operation": "online_direct",
                "invoice_ids": [Command.set(invoices.ids if invoices else [])],
            }
        )

    def _committed_invoice_tx(self):
        with self.registry.cursor() as cr:
            env = self._env(cr)
            customer = self._customer(env, "postpaid")
            invoice = env["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_date": "2026-01-10",
                    "invoice_line_ids": [
                        Command.create({"name": "Usage", "price_unit": 100, "tax_ids": []})
                    ],
                }
            )
            invoice.action_post()
            return self._draft_tx(env, customer, 100.0, invoice).id

    def _committed_topup_tx(self):
        with self.registry.cursor() as cr:
            env = self._env(cr)
            return self._draft_tx(env, self._customer(env, "prepaid"), 50.0).id

    def _deliver(self, env, tx_id, post_process):
        """One worker: the notification (and the post-processing), then commit; a worker that
        loses the race rolls back, as Odoo's cron and status poll do."""
        tx = env["payment.transaction"].browse(tx_id)
        try:
            tx._process("demo", {"reference": tx.reference, "simulated_state": "done"})
            if post_process:
                tx._post_process()
            env.flush_all()
            env.cr.commit()
            return True
        except psycopg2.OperationalError:
            env.cr.rollback()
            return False

    def _race(self, tx_id, post_process):
        """Worker 2 reads the draft transaction, worker 1 delivers and commits, then worker 2
        delivers the same notification."""
        with self.registry.cursor() as cr_1, self.registry.cursor() as cr_2:
            env_1, env_2 = self._env(cr_1), self._env(cr_2)
            self.assertEqual(env_2["payment.transaction"].browse(tx_id).state, "draft")
            first = self._deliver(env_1, tx_id, post_process)
            second = self._deliver(env_2, tx_id, post_process)
        self.assertTrue(first)
        return second

    def _cron(self):
        with self.registry.cursor() as cr:
            self._env(cr)["payment.transaction"]._cron_post_process()

    @mute_logger("odoo.sql_db", "odoo.addons.payment.models.payment_transaction")
    def test_two_workers_deliver_done_at_once_pay_the_invoice_once(self):
        tx_id = self._committed_invoice_tx()
        self._race(tx_id, post_process=True)
        self._cron()
        with self.registry.cursor() as cr:
            tx = self._env(cr)["payment.transaction"].browse(tx_id)
            self.assertEqual(tx.state, "done")
            self._assert_one_payment(tx, tx.partner_id, 100.0)
            self.assertEqual(tx.invoice_ids.amount_residual, 0.0)
            self.assertIn(tx.invoice_ids.payment_state, ("paid", "in_payment"))

    @mute_logger("odoo.sql_db", "odoo.addons.payment.models.payment_transaction")
    def test_poll_and_cron_post_process_at_once_pay_once(self):
        tx_id = self._committed_invoice_tx()
        with self.registry.cursor() as cr:
            env = self._env(cr)
            tx = env["payment.transaction"].browse(tx_id)
            tx._process("demo", {"reference": tx.reference, "simulated_state": "done"})
        with self.registry.cursor() as cr_1, self.registry.cursor() as cr_2:
            env_1, env_2 = self._env(cr_1), self._env(cr_2)
            self.assertFalse(env_2["payment.transaction"].browse(tx_id).is_post_processed)
            for env in (env_1, env_2):
                try:
                    env["payment.transaction"].browse(tx_id)._post_process()
                    env.flush_all()
                    env.cr.commit()
                except psycopg2.OperationalError:
                    env.cr.rollback()
        self._cron()
        with self.registry.cursor() as cr:
            tx = self._env(cr)["payment.transaction"].browse(tx_id)
            self._assert_one_payment(tx, tx.partner_id, 100.0)
            self.assertEqual(tx.invoice_ids.amount_residual, 0.0)

    @mute_logger("odoo.sql_db", "odoo.addons.payment.models.payment_transaction")
    def test_two_workers_deliver_a_topup_at_once_credit_it_once(self):
        tx_id = self._committed_topup_tx()
        self._race(tx_id, post_process=True)
        self._cron()
        with self.registry.cursor() as cr:
            env = self._env(cr)
            tx = env["payment.transaction"].browse(tx_id)
            self._assert_one_payment(tx, tx.partner_id, 50.0)
            partner = tx.partner_id.with_company(self.company_id)
            self.assertEqual(partner.billing_balance, 50.0)
