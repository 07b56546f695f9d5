import threading
from contextlib import contextmanager
from datetime import date

from freezegun import freeze_time

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import SQL

from .common import BillingCommon


class SubscriptionCommon(BillingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.service = cls.env["product.product"].create(
            {"name": "Hosting", "type": "service", "list_price": 100.0, "taxes_id": False}
        )
        cls.monthly = cls._plan("Monthly", 100.0, "monthly")
        cls.quarterly = cls._plan("Quarterly", 300.0, "quarterly")
        cls.yearly = cls._plan("Yearly", 1200.0, "yearly")
        cls.premium = cls._plan("Premium Monthly", 310.0, "monthly")
        cls.cron = cls.env.ref("finnsys_billing.ir_cron_invoice_subscriptions")

    @classmethod
    def _plan(cls, name, price, rule):
        return cls.env["contract.template"].create(
            {
                "name": name,
                "recurring_rule_type": rule,
                "contract_line_ids": [
                    Command.create(
                        {"product_id": cls.service.id, "name": name, "specific_price": price}
                    )
                ],
            }
        )

    @classmethod
    def _subscribe(cls, partner, plan, start, payment="offline"):
        subscription = cls.env["contract.contract"].create(
            {
                "partner_id": partner.id,
                "contract_template_id": plan.id,
                "date_start": start,
                "subscription_payment": payment,
            }
        )
        subscription.action_subscription_activate()
        return subscription

    def _run_cron(self, day):
        with freeze_time(day), self.enter_registry_test_mode():
            self.cron.method_direct_trigger()
        self.env.invalidate_all()

    def _invoices(self, subscription):
        return self.env["account.move"].search(
            [("subscription_id", "=", subscription.id)], order="invoice_date, id"
        )


@tagged("post_install", "-at_install")
class TestSubscriptionRecurrence(SubscriptionCommon):
    def _periods(self, subscription):
        return [
            (str(p.period_start), str(p.period_end))
            for p in subscription.subscription_period_ids.sorted("period_start")
        ]

    def test_monthly_from_the_31st_through_leap_february(self):
        customer = self._customer("Leap Monthly", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2024-01-31")
        for day in ("2024-01-31", "2024-02-15", "2024-02-29", "2024-03-29"):
            self._run_cron(day)
        self.assertEqual(
            self._periods(subscription),
            [
                ("2024-01-31", "2024-02-28"),
                ("2024-02-29", "2024-03-28"),
                ("2024-03-29", "2024-04-28"),
            ],
        )
        invoices = self._invoices(subscription)
        self.assertEqual(
            [str(d) for d in invoices.mapped("invoice_date")],
            ["2024-01-31", "2024-02-29", "2024-03-29"],
        )
        self.assertEqual(invoices.mapped("amount_total"), [100.0] * 3)
        self.assertEqual(str(subscription.recurring_next_date), "2024-04-29")

    def test_quarterly_over_february_end(self):
        customer = self._customer("Quarterly Co", "postpaid")
        subscription = self._subscribe(customer, self.quarterly, "2023-11-30")
        for day in ("2023-11-30", "2024-02-29", "2024-05-28"):
            self._run_cron(day)
        self.assertEqual(
            self._periods(subscription),
            [("2023-11-30", "2024-02-28"), ("2024-02-29", "2024-05-28")],
        )
        self.assertEqual(str(subscription.recurring_next_date), "2024-05-29")
        self._run_cron("2024-05-31")
        self.assertEqual(len(self._invoices(subscription)), 3)

    def test_yearly_from_leap_day(self):
        customer = self._customer("Yearly Co", "postpaid")
        subscription = self._subscribe(customer, self.yearly, "2024-02-29")
        self._run_cron("2024-02-29")
        self._run_cron("2025-02-27")
        self.assertEqual(len(self._invoices(subscription)), 1)
        self._run_cron("2025-02-28")
        self.assertEqual(
            self._periods(subscription),
            [("2024-02-29", "2025-02-27"), ("2025-02-28", "2026-02-27")],
        )
        self.assertEqual(self._invoices(subscription).mapped("amount_total"), [1200.0, 1200.0])

    def test_cron_twice_on_one_day_invoices_once(self):
        customer = self._customer("Twice Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-31")
        self._run_cron("2026-01-31")
        self._run_cron("2026-01-31")
        self.assertEqual(len(self._invoices(subscription)), 1)
        self.assertEqual(len(subscription.subscription_period_ids), 1)

    def test_draft_and_paused_subscriptions_are_not_invoiced(self):
        customer = self._customer("Idle Co", "postpaid")
        draft = self.env["contract.contract"].create(
            {"partner_id": customer.id, "contract_template_id": self.monthly.id}
        )
        paused = self._subscribe(customer, self.monthly, "2026-01-01")
        paused.action_subscription_pause()
        self._run_cron("2026-01-05")
        self.assertFalse(self._invoices(draft) | self._invoices(paused))
        paused.action_subscription_resume()
        self._run_cron("2026-01-05")
        self.assertEqual(str(self._invoices(paused).invoice_date), "2026-01-01")


@tagged("post_install", "-at_install")
class TestSubscriptionPayment(SubscriptionCommon):
    def test_offline_invoice_is_sent_and_carries_the_plan(self):
        customer = self._customer("Offline Co", "postpaid", email="billing@offline.example")
        subscription = self._subscribe(customer, self.monthly, "2026-02-01")
        self._run_cron("2026-02-01")
        invoice = self._invoices(subscription)
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(invoice.plan_id, self.monthly)
        self.assertEqual(invoice.line_ids.plan_id, self.monthly)
        self.assertTrue(invoice.is_move_sent)
        self.assertEqual(
            self.env["account.move"].search([("plan_id", "=", self.monthly.id)]), invoice
        )
        mail = self.env["mail.mail"].search(
            [("model", "=", "account.move"), ("res_id", "=", invoice.id)]
        )
        self.assertEqual(len(mail), 1)
        self.assertIn(customer, mail.recipient_ids)
        self.assertIn("Monthly", mail.subject)
        self.assertIn(invoice.get_portal_url(), mail.body_html)

    def test_online_prepaid_invoice_is_paid_from_credit(self):
        customer = self._customer("Prepaid Online", "prepaid")
        self._receive(customer, 500.0, date="2026-01-02")
        subscription = self._subscribe(customer, self.monthly, "2026-03-01", payment="online")
        self._run_cron("2026-03-01")
        invoice = self._invoices(subscription)
        self.assertEqual(invoice.state, "posted")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        receivable = invoice.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertRecordValues(receivable, [{"debit": 100.0, "reconciled": True}])
        self.assertRecordValues(
            invoice.line_ids.filtered(lambda line: line.display_type == "product"),
            [{"credit": 100.0, "plan_id": self.monthly.id}],
        )
        customer.invalidate_recordset()
        self.assertEqual(customer.billing_balance, 400.0)
        self.assertFalse(
            self.env["mail.mail"].search(
                [("model", "=", "account.move"), ("res_id", "=", invoice.id)]
            )
        )

    def test_online_postpaid_invoice_is_charged_to_the_saved_card(self):
        provider = self._demo_provider()
        customer = self._customer("Postpaid Card", "postpaid")
        token = (
            self.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": self.env.ref("payment_demo.payment_method_demo").id,
                    "partner_id": customer.id,
                    "payment_details": "4242",
                    "provider_ref": f"demo-{customer.id}",
                    "demo_simulated_state": "done",
                }
            )
        )
        customer.write({"billing_payment_method": "token", "billing_token_id": token.id})
        subscription = self._subscribe(customer, self.monthly, "2026-03-01", payment="online")
        self._run_cron("2026-03-01")
        invoice = self._invoices(subscription)
        self.assertEqual(invoice.transaction_ids.mapped("state"), ["done"])
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        payment = invoice.transaction_ids.payment_id
        self.assertRecordValues(payment, [{"amount": 100.0, "partner_id": customer.id}])
        receivable = (invoice.line_ids | payment.move_id.line_ids).filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        self.assertEqual(sorted(receivable.mapped("balance")), [-100.0, 100.0])
        self.assertTrue(all(receivable.mapped("reconciled")))
        self._run_cron("2026-03-01")
        self.assertEqual(len(invoice.transaction_ids), 1)

    def test_online_prepaid_without_credit_is_paused_and_both_told(self):
        customer = self._customer("Prepaid Empty", "prepaid", email="owner@empty.example")
        subscription = self._subscribe(customer, self.monthly, "2026-03-01", payment="online")
        subscription.user_id = self.billing_manager
        self._run_cron("2026-03-01")
        self.assertFalse(self._invoices(subscription))
        self.assertFalse(subscription.subscription_period_ids)
        self.assertEqual(subscription.subscription_state, "paused")
        mail = self.env["mail.mail"].search(
            [("model", "=", "contract.contract"), ("res_id", "=", subscription.id)]
        )
        to_customer = mail.filtered(lambda m: customer in m.recipient_ids)
        self.assertEqual(len(to_customer), 1)
        self.assertIn("paused", to_customer.subject)
        activity = subscription.activity_ids
        self.assertEqual(activity.user_id, self.billing_manager)
        self.assertIn("credit limit", activity.note)

        self._receive(customer, 100.0, date="2026-03-02")
        subscription.action_subscription_resume()
        self._run_cron("2026-03-03")
        invoice = self._invoices(subscription)
        self.assertEqual(str(invoice.invoice_date), "2026-03-01")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))

    def test_refused_posting_activity_goes_to_a_manager_not_odoobot(self):
        customer = self._customer("Prepaid Unwatched", "prepaid")
        odoobot = self.env.ref("base.user_root")
        manager_group = self.env.ref("finnsys_billing.group_billing_manager")
        odoobot.group_ids |= manager_group
        subscription = self._subscribe(customer, self.monthly, "2026-03-01", payment="online")
        subscription.user_id = odoobot
        self._run_cron("2026-03-01")
        self.assertEqual(subscription.subscription_state, "paused")
        activity = subscription.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertNotEqual(activity.user_id, odoobot)
        self.assertIn(manager_group, activity.user_id.all_group_ids)
        self.assertFalse(activity.user_id.share)

    def test_billing_user_subscribes_and_invoices_by_hand(self):
        customer = self._customer("Clerk Co", "postpaid")
        Subscription = self.env["contract.contract"].with_user(self.billing_user)
        menus = self.env["ir.ui.menu"].with_user(self.billing_user)._visible_menu_ids()
        self.assertIn(self.env.ref("finnsys_billing.menu_billing_subscriptions").id, menus)
        self.assertIn(self.env.ref("finnsys_billing.menu_billing_plans").id, menus)
        subscription = Subscription.create(
            {
                "partner_id": customer.id,
                "contract_template_id": self.monthly.id,
                "date_start": "2026-05-01",
            }
        )
        subscription.action_subscription_activate()
        invoice = subscription.recurring_create_invoice()
        self.assertRecordValues(
            invoice.sudo(), [{"state": "posted", "plan_id": self.monthly.id, "amount_total": 100}]
        )
        self.assertEqual(subscription.subscription_period_ids.move_id, invoice)

    def test_manual_invoice_refused_for_paused_subscription(self):
        customer = self._customer("Manual Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        subscription.action_subscription_pause()
        with self.assertRaises(Exception):  # noqa: B017 - UserError with a sentence
            subscription.recurring_create_invoice()
        subscription.action_subscription_resume()
        invoice = subscription.recurring_create_invoice()
        self.assertEqual(invoice.plan_id, self.monthly)


@tagged("post_install", "-at_install")
class TestSubscriptionLocking(SubscriptionCommon):
    """Each invoicing of a subscription locks its row once and reads it again once."""

    @contextmanager
    def _subscription_locks(self):
        """Collect the statements this thread sends that lock subscription rows."""
        statements = []

        def hook(cr, query, params, start, delay):
            text = query.decode() if isinstance(query, bytes) else str(query)
            if '"contract_contract"' in text and "FOR NO KEY UPDATE" in text:
                statements.append(text)

        thread = threading.current_thread()
        hooks = getattr(thread, "query_hooks", ())
        thread.query_hooks = (*hooks, hook)
        try:
            yield statements
        finally:
            thread.query_hooks = hooks

    def test_cron_locks_each_due_subscription_once(self):
        customer = self._customer("Lock Once Co", "postpaid")
        subscriptions = self._subscribe(customer, self.monthly, "2026-04-01") | self._subscribe(
            customer, self.monthly, "2026-04-01"
        )
        with self._subscription_locks() as locks:
            self._run_cron("2026-04-01")
        self.assertEqual(len(self._invoices(subscriptions[0])), 1)
        self.assertEqual(len(self._invoices(subscriptions[1])), 1)
        self.assertEqual(len(locks), 2, "one row lock per subscription invoiced")
        self.assertTrue(all(lock.endswith("NOWAIT") for lock in locks))

    def test_create_invoice_click_locks_once_and_waits(self):
        customer = self._customer("Lock Click Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-04-01")
        with self._subscription_locks() as locks:
            invoice = subscription.recurring_create_invoice()
        self.assertEqual(invoice.state, "posted")
        self.assertEqual(len(locks), 1)
        self.assertFalse(locks[0].endswith("NOWAIT"))

    def test_subscription_paused_since_it_was_read_is_not_invoiced(self):
        customer = self._customer("Lock Paused Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-04-01")
        self.assertEqual(subscription.subscription_state, "active")
        self.env.flush_all()
        # Paused by another process: this one's cache still says active.
        self.env.cr.execute(
            SQL(
                "UPDATE contract_contract SET subscription_state = 'paused' WHERE id = %s",
                subscription.id,
            )
        )
        with freeze_time("2026-04-01"):
            invoice = subscription._finnsys_invoice_next_period(
                nowait=True, due_by=date(2026, 4, 1)
            )
        self.assertFalse(invoice)
        self.assertFalse(self._invoices(subscription))
        self.assertFalse(subscription.subscription_period_ids)
        self.assertEqual(subscription.subscription_state, "paused")


@tagged("post_install", "-at_install")
class TestSubscriptionBadInput(SubscriptionCommon):
    def test_plan_without_lines_is_refused(self):
        with self.assertRaises(ValidationError) as caught:
            self.env["contract.template"].create({"name": "Empty"})
        self.assertIn("no product lines", str(caught.exception))
        self.assertFalse(self.env["contract.template"].search([("name", "=", "Empty")]))

    def test_plan_with_zero_period_is_refused(self):
        with self.assertRaises(ValidationError) as caught:
            self.monthly.recurring_interval = 0
        self.assertIn("Invoice Every", str(caught.exception))
        self.assertEqual(self.monthly.recurring_interval, 1)

    def test_start_after_end_is_refused(self):
        customer = self._customer("Dates Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-03-01")
        with self.assertRaises(ValidationError):
            subscription.write({"date_end": "2026-02-01"})
        self.assertFalse(subscription.date_end)

    def test_customer_of_another_company_is_refused(self):
        other = self.setup_other_company()["company"]
        customer = self._customer("Elsewhere", "postpaid", company_id=other.id)
        with self.assertRaises(ValidationError) as caught:
            self._subscribe(customer, self.monthly, "2026-03-01")
        self.assertIn("customer of", str(caught.exception))
        self.assertFalse(self.env["contract.contract"].search([("partner_id", "=", customer.id)]))

    def test_closed_subscription_cannot_resume(self):
        customer = self._customer("Closed Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-03-01")
        subscription.action_subscription_close()
        with self.assertRaises(ValidationError) as caught:
            subscription.action_subscription_resume()
        self.assertIn("closed", str(caught.exception))
        self.assertEqual(subscription.subscription_state, "closed")
