from freezegun import freeze_time
from lxml import etree

from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .common import BillingFiguresMixin
from .test_subscription import SubscriptionCommon


class ChangePlanCommon(SubscriptionCommon, BillingFiguresMixin):
    def _wizard_form(self, subscription):
        return Form(
            subscription.env["finnsys.subscription.change.plan"].with_context(
                default_contract_id=subscription.id
            )
        )

    def _change(self, subscription, plan, day):
        """Change the plan through the wizard on ``day``; return (credit note, invoice)."""
        with freeze_time(day):
            form = self._wizard_form(subscription)
            form.new_plan_id = plan
            action = form.save().action_confirm()
        moves = self.env["account.move"].search(action["domain"], order="id")
        self.assertEqual(moves.mapped("move_type"), ["out_refund", "out_invoice"])
        return moves[0], moves[1]

    def _assert_journal_items(self, move, plan, amount):
        """One receivable and one income item of ``amount``, on the side of the move type."""
        sign = 1 if move.move_type == "out_invoice" else -1
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.plan_id, plan)
        self.assertRecordValues(
            move.line_ids.sorted(lambda line: line.display_type != "product"),
            [
                {
                    "display_type": "product",
                    "account_id": self.company_data["default_account_revenue"].id,
                    "balance": -sign * amount,
                    "plan_id": plan.id,
                },
                {
                    "display_type": "payment_term",
                    "account_id": self.company_data["default_account_receivable"].id,
                    "balance": sign * amount,
                    "plan_id": plan.id,
                },
            ],
        )

    def _subscription_moves(self, subscription):
        return self.env["account.move"].search([("subscription_id", "=", subscription.id)])


@tagged("post_install", "-at_install")
class TestSubscriptionChangePlanWizard(ChangePlanCommon):
    def test_wizard_previews_then_posts_the_proration(self):
        customer = self._customer("Wizard Co", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        self._run_cron("2026-01-01")
        with freeze_time("2026-01-11"):
            form = self._wizard_form(subscription)
            self.assertEqual(form.date, fields.Date.to_date("2026-01-11"))
            self.assertEqual(form.current_plan_id, self.monthly)
            self.assertEqual(str(form.period_start), "2026-01-01")
            self.assertEqual(str(form.period_end), "2026-01-31")
            # 21 of January's 31 days are left: 100 * 21 / 31 and 310 * 21 / 31.
            self.assertEqual(form.credit_amount, 67.74)
            self.assertEqual(form.invoice_amount, 0.0)
            form.new_plan_id = self.premium
            self.assertEqual(form.invoice_amount, 210.0)
            # 11 days left from the 21st: 100 * 11 / 31 and 310 * 11 / 31.
            form.date = "2026-01-21"
            self.assertEqual(form.credit_amount, 35.48)
            self.assertEqual(form.invoice_amount, 110.0)
            action = form.save().action_confirm()
        self.assertEqual(action["res_model"], "account.move")
        moves = self.env["account.move"].search(action["domain"], order="id")
        credit, invoice = moves
        day = fields.Date.to_date("2026-01-21")
        self.assertRecordValues(
            moves,
            [
                {"move_type": "out_refund", "amount_total": 35.48, "invoice_date": day},
                {"move_type": "out_invoice", "amount_total": 110.0, "invoice_date": day},
            ],
        )
        self._assert_journal_items(credit, self.monthly, 35.48)
        self._assert_journal_items(invoice, self.premium, 110.0)
        self.assertEqual(subscription.contract_template_id, self.premium)
        self.assertEqual(str(subscription.recurring_next_date), "2026-02-01")
        # Postpaid: the credit note pays part of the new invoice; January's stays open.
        self.assertRecordValues(invoice, [{"amount_residual": 74.52}])
        self._assert_figures(
            customer, balance=-174.52, receivable=174.52, outstanding=174.52, unapplied=0.0
        )
        self._run_cron("2026-02-01")
        february = self._subscription_moves(subscription).filtered(
            lambda m: m.invoice_date == fields.Date.to_date("2026-02-01")
        )
        self.assertRecordValues(february, [{"amount_total": 310.0, "plan_id": self.premium.id}])

    def test_billing_user_changes_plan_from_the_subscription_form(self):
        customer = self._customer("Clerk Switch", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        self._run_cron("2026-01-01")
        form_arch = etree.fromstring(
            self.env["contract.contract"]
            .with_user(self.billing_user)
            .get_view(self.env.ref("contract.contract_contract_customer_form_view").id)["arch"]
        )
        action = self.env.ref("finnsys_billing.action_finnsys_subscription_change_plan")
        [button] = form_arch.xpath(f"//header/button[@name='{action.id}']")
        self.assertEqual(button.get("string"), "Change Plan")
        self.assertIn("subscription_state != 'active'", button.get("invisible"))
        subscription = subscription.with_user(self.billing_user)
        credit, invoice = self._change(subscription, self.premium, "2026-01-11")
        self.assertEqual((credit | invoice).mapped("amount_total"), [67.74, 210.0])
        self.assertEqual(subscription.contract_template_id, self.premium)


@tagged("post_install", "-at_install")
class TestSubscriptionChangePlanBadInput(ChangePlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer("Stubborn Co", "postpaid")

    def _invoiced_subscription(self):
        subscription = self._subscribe(self.customer, self.monthly, "2026-01-01")
        self._run_cron("2026-01-01")
        return subscription

    def _assert_refused(self, subscription, exception, message, plan=None, day="2026-01-11"):
        """Confirming the wizard raises ``exception`` saying ``message``; nothing changes."""
        moves = self._subscription_moves(subscription)
        lines = subscription.contract_line_ids
        with freeze_time("2026-01-11"):
            form = self._wizard_form(subscription)
            form.new_plan_id = plan or self.premium
            form.date = day
            wizard = form.save()
            with self.assertRaises(exception) as caught:
                wizard.action_confirm()
        self.assertIn(message, str(caught.exception))
        self.env.invalidate_all()
        self.assertEqual(subscription.contract_template_id, self.monthly)
        self.assertEqual(subscription.contract_line_ids, lines)
        self.assertFalse(any(subscription.contract_line_ids.mapped("is_canceled")))
        self.assertEqual(self._subscription_moves(subscription), moves)

    def test_same_plan_is_refused(self):
        subscription = self._invoiced_subscription()
        self._assert_refused(subscription, ValidationError, "another plan", plan=self.monthly)

    def test_plan_of_another_company_is_refused(self):
        other = self.setup_other_company()["company"]
        plan = self.env["contract.template"].create(
            {
                "name": "Elsewhere Monthly",
                "company_id": other.id,
                "contract_line_ids": [
                    Command.create(
                        {"product_id": self.service.id, "name": "Elsewhere", "specific_price": 90}
                    )
                ],
            }
        )
        subscription = self._invoiced_subscription()
        self._assert_refused(subscription, ValidationError, "company_2", plan=plan)

    def test_plan_in_another_currency_is_refused(self):
        eur = self.setup_other_currency("EUR")
        plan = self._plan("Euro Monthly", 90.0, "monthly")
        plan.plan_currency_id = eur
        subscription = self._invoiced_subscription()
        self._assert_refused(subscription, ValidationError, "priced in EUR", plan=plan)

    def test_date_outside_the_current_period_is_refused(self):
        subscription = self._invoiced_subscription()
        for day in ("2025-12-31", "2026-02-01"):
            with self.subTest(day=day):
                self._assert_refused(
                    subscription, ValidationError, "outside the current invoiced period", day=day
                )

    def test_paused_cancelled_and_closed_subscriptions_are_refused(self):
        for action, state in (
            ("action_subscription_pause", "paused"),
            ("action_subscription_cancel_at_period_end", "cancelled"),
            ("action_subscription_close", "closed"),
        ):
            with self.subTest(state=state):
                subscription = self._invoiced_subscription()
                getattr(subscription, action)()
                self._assert_refused(subscription, UserError, f"is {state}")

    def test_subscription_without_invoiced_period_is_refused(self):
        subscription = self._subscribe(self.customer, self.monthly, "2026-01-01")
        self._assert_refused(subscription, UserError, "no invoiced period yet")

    def test_prepaid_upgrade_beyond_credit_is_refused(self):
        customer = self._customer("Short Prepaid", "prepaid")
        self._receive(customer, 110.0, date="2025-12-31")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01", payment="online")
        self._run_cron("2026-01-01")
        # 10 + 67.74 of credit cannot pay 210.
        self._assert_refused(subscription, UserError, "credit limit")
        self._assert_figures(
            customer, balance=10.0, receivable=-10.0, outstanding=0.0, unapplied=10.0
        )


@tagged("post_install", "-at_install")
class TestSubscriptionProrationPrepaid(ChangePlanCommon):
    """A prepaid customer's credit note goes back to its balance; the new invoice uses it."""

    def _prepaid(self, name, plan, start, deposit=500.0):
        customer = self._customer(name, "prepaid")
        self._receive(customer, deposit, date="2025-12-31")
        subscription = self._subscribe(customer, plan, start, payment="online")
        self._run_cron(start)
        return customer, subscription

    def _assert_paid_from_credit(self, invoice):
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        receivable = invoice.line_ids.filtered(lambda line: line.display_type == "payment_term")
        self.assertTrue(receivable.reconciled)

    def test_upgrade_credits_balance_and_invoice_consumes_it(self):
        customer, subscription = self._prepaid("Prepaid Up", self.monthly, "2026-01-01")
        self._assert_figures(
            customer, balance=400.0, receivable=-400.0, outstanding=0.0, unapplied=400.0
        )
        credit, invoice = self._change(subscription, self.premium, "2026-01-11")
        # 21 of 31 days left: 100 * 21 / 31 = 67.74 back, 310 * 21 / 31 = 210 charged.
        self._assert_journal_items(credit, self.monthly, 67.74)
        self._assert_journal_items(invoice, self.premium, 210.0)
        self._assert_paid_from_credit(invoice)
        # The credit note stays as credit: 400 + 67.74 - 210.
        self.assertEqual(credit.amount_residual, 67.74)
        self._assert_figures(
            customer, balance=257.74, receivable=-257.74, outstanding=0.0, unapplied=257.74
        )

    def test_downgrade_returns_more_than_it_charges(self):
        customer, subscription = self._prepaid("Prepaid Down", self.premium, "2026-01-01")
        self._assert_figures(
            customer, balance=190.0, receivable=-190.0, outstanding=0.0, unapplied=190.0
        )
        credit, invoice = self._change(subscription, self.monthly, "2026-01-11")
        # 310 * 21 / 31 = 210 back, 100 * 21 / 31 = 67.74 charged: 190 + 210 - 67.74.
        self._assert_journal_items(credit, self.premium, 210.0)
        self._assert_journal_items(invoice, self.monthly, 67.74)
        self._assert_paid_from_credit(invoice)
        self._assert_figures(
            customer, balance=332.26, receivable=-332.26, outstanding=0.0, unapplied=332.26
        )
        self._run_cron("2026-02-01")
        self._assert_figures(
            customer, balance=232.26, receivable=-232.26, outstanding=0.0, unapplied=232.26
        )

    def test_change_on_the_first_day_prorates_the_whole_period(self):
        customer, subscription = self._prepaid("Prepaid First", self.monthly, "2026-02-01")
        credit, invoice = self._change(subscription, self.quarterly, "2026-02-01")
        # All 28 days of February: 100 back; on the quarter from 1 February (89 days),
        # 300 * 28 / 89 = 94.38 charged.
        self._assert_journal_items(credit, self.monthly, 100.0)
        self._assert_journal_items(invoice, self.quarterly, 94.38)
        self._assert_paid_from_credit(invoice)
        self._assert_figures(
            customer, balance=405.62, receivable=-405.62, outstanding=0.0, unapplied=405.62
        )
        self.assertEqual(str(subscription.recurring_next_date), "2026-03-01")

    def test_change_on_the_last_day_prorates_one_day(self):
        customer, subscription = self._prepaid("Prepaid Last", self.monthly, "2026-01-01")
        credit, invoice = self._change(subscription, self.premium, "2026-01-31")
        # One of January's 31 days: 100 / 31 = 3.23 back, 310 / 31 = 10 charged.
        self._assert_journal_items(credit, self.monthly, 3.23)
        self._assert_journal_items(invoice, self.premium, 10.0)
        self._assert_paid_from_credit(invoice)
        self._assert_figures(
            customer, balance=393.23, receivable=-393.23, outstanding=0.0, unapplied=393.23
        )
        self._run_cron("2026-02-01")
        february = self._subscription_moves(subscription).filtered(
            lambda m: m.invoice_date == fields.Date.to_date("2026-02-01")
        )
        self.assertRecordValues(february, [{"amount_total": 310.0, "plan_id": self.premium.id}])


@tagged("post_install", "-at_install")
class TestSubscriptionChangePlanFigures(ChangePlanCommon):
    def test_credit_rounds_the_amount_not_each_line(self):
        plan = self.env["contract.template"].create(
            {
                "name": "Two Lines",
                "contract_line_ids": [
                    Command.create(
                        {"product_id": self.service.id, "name": name, "specific_price": 10.0}
                    )
                    for name in ("Hosting", "Backups")
                ],
            }
        )
        customer = self._customer("Two Lines Co", "postpaid")
        subscription = self._subscribe(customer, plan, "2026-04-01")
        self._run_cron("2026-04-01")
        # 5 of April's 30 days are left: 20 * 5 / 30 = 3.333.
        with freeze_time("2026-04-26"):
            form = self._wizard_form(subscription)
            form.new_plan_id = self.monthly
            self.assertEqual(form.credit_amount, 3.33)
        credit, invoice = self._change(subscription, self.monthly, "2026-04-26")
        self.assertEqual(credit.amount_total, 3.33)
        self.assertEqual(sum(credit.invoice_line_ids.mapped("price_subtotal")), 3.33)
        self._assert_figures(
            customer, balance=-33.34, receivable=33.34, outstanding=33.34, unapplied=0.0
        )

    def test_plan_change_documents_show_dates_not_markers(self):
        for plan in self.monthly | self.premium:
            plan.contract_line_ids.name = f"{plan.name} #START# to #END#"
        customer = self._customer("Marked Switch", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        self._run_cron("2026-01-01")
        credit, invoice = self._change(subscription, self.premium, "2026-01-11")
        self.assertIn("Monthly 01/11/2026 to 01/31/2026", credit.invoice_line_ids.name)
        self.assertIn("Premium Monthly 01/11/2026 to 01/31/2026", invoice.invoice_line_ids.name)
        self.assertNotIn("#", credit.invoice_line_ids.name + invoice.invoice_line_ids.name)

    def test_plan_change_credits_the_subscriptions_own_prices(self):
        customer = self._customer("Negotiated Switch", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        subscription.contract_line_ids.specific_price = 62.0
        self._run_cron("2026-01-01")
        credit, invoice = self._change(subscription, self.premium, "2026-01-11")
        # 21 of January's 31 days of 62 (not of the plan's 100), and of the new 310.
        self.assertEqual(credit.amount_total, 42.0)
        self.assertEqual(invoice.amount_total, 210.0)


@tagged("post_install", "-at_install")
class TestSubscriptionShowsItsPlan(ChangePlanCommon):
    def test_after_a_plan_change_the_subscription_shows_the_new_plan(self):
        customer = self._customer("Upgrader", "postpaid")
        subscription = self._subscribe(customer, self.monthly, "2026-01-01")
        self._run_cron("2026-01-01")
        old_line = subscription.contract_line_ids
        self._change(subscription, self.quarterly, "2026-01-11")
        self.assertRecordValues(
            subscription,
            [
                {
                    "name": "Quarterly",
                    "plan_amount": 300.0,
                    "billing_period": "quarter",
                    "monthly_amount": 100.0,
                    "recurring_next_date": fields.Date.to_date("2026-02-01"),
                }
            ],
        )
        self.assertRecordValues(
            old_line,
            [
                {
                    "is_canceled": True,
                    "recurring_next_date": False,
                    "date_end": fields.Date.to_date("2026-01-31"),
                }
            ],
        )

    def test_monthly_totals_add_monthly_equivalents(self):
        customer = self._customer("Mixed Periods", "postpaid")
        subscriptions = (
            self._subscribe(customer, self.monthly, "2026-01-01")
            | self._subscribe(customer, self.quarterly, "2026-01-01")
            | self._subscribe(customer, self.yearly, "2026-01-01")
        )
        self.assertEqual(subscriptions.mapped("monthly_amount"), [100.0, 100.0, 100.0])
        [(total,)] = self.env["contract.contract"]._read_group(
            [("id", "in", subscriptions.ids)], aggregates=["monthly_amount:sum"]
        )
        self.assertEqual(total, 300.0)
        list_arch = self.env.ref("finnsys_billing.contract_contract_view_list_subscription").arch
        self.assertIn('name="monthly_amount" sum=', list_arch)
        self.assertNotIn('name="plan_amount" string="Amount per Period" sum=', list_arch)
