from freezegun import freeze_time

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain
from odoo.tests import Form, tagged

from .common import BillingCommon

DUE = "2026-03-10"
EARLIER = "Despite our earlier reminders"


@tagged("post_install", "-at_install")
class TestReminders(BillingCommon):
    """The daily reminder cron, run for real on frozen days."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.billing_reminder_group = False
        cls.customer = cls._customer("Late Payer", "postpaid", email="accounts@late-payer.example")
        cls.rule_before = cls.env.ref("finnsys_billing.reminder_rule_before_due")
        cls.rule_due = cls.env.ref("finnsys_billing.reminder_rule_due")
        cls.rule_overdue = cls.env.ref("finnsys_billing.reminder_rule_overdue")
        cls.rule_final = cls.env.ref("finnsys_billing.reminder_rule_final")

    def _run_cron(self, day):
        with freeze_time(day), self.enter_registry_test_mode():
            self.env.ref("finnsys_billing.ir_cron_send_reminders").method_direct_trigger()

    def _run_method(self, day):
        """Call the cron's method itself, in a cursor it may commit, to read its counts."""
        with freeze_time(day), self.enter_registry_test_mode(), self.registry.cursor() as cr:
            return self.env(cr=cr)["finnsys.reminder.log"].sudo()._cron_send_reminders()

    def _mails(self, invoice, partner=None):
        partner = partner or invoice.partner_id
        return self.env["mail.mail"].search(
            Domain("model", "=", "account.move")
            & Domain("res_id", "=", invoice.id)
            & Domain("recipient_ids", "in", partner.ids)
        )

    def _logs(self, invoice):
        return self.env["finnsys.reminder.log"].search(Domain("move_id", "=", invoice.id))

    def test_each_rule_fires_once_on_its_day(self):
        invoice = self._invoice(self.customer, 100, date=DUE)
        expected = [
            ("2026-03-02", None),
            ("2026-03-03", self.rule_before),
            ("2026-03-03", None),
            ("2026-03-09", None),
            ("2026-03-10", self.rule_due),
            ("2026-03-16", None),
            ("2026-03-17", self.rule_overdue),
            ("2026-03-18", None),
            ("2026-04-09", self.rule_final),
            ("2026-04-10", None),
            ("2026-06-10", None),
        ]
        sent = self.env["mail.mail"]
        for day, rule in expected:
            self._run_cron(day)
            new = self._mails(invoice) - sent
            sent |= new
            if rule:
                self.assertEqual(len(new), 1, f"one reminder on {day}")
                subject = rule.template_id._render_field("subject", invoice.ids)[invoice.id]
                self.assertEqual(new.subject, subject)
            else:
                self.assertFalse(new, f"no reminder on {day}")
        logs = self._logs(invoice)
        self.assertEqual(
            logs.rule_id, self.rule_before | self.rule_due | self.rule_overdue | self.rule_final
        )
        self.assertEqual(set(logs.mapped("state")), {"sent"})
        self.assertEqual(logs.mail_id, sent)
        self.assertEqual(len(logs.message_id), 4, "each reminder shows in the chatter")
        self.assertLessEqual(logs.message_id, invoice.message_ids)

    def test_reminder_mail_has_invoice_pdf_and_payment_link(self):
        invoice = self._invoice(self.customer, 250, date=DUE)
        self._run_cron("2026-03-10")
        mail = self._mails(invoice)
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.recipient_ids, self.customer)
        self.assertEqual(mail.state, "outgoing", "queued, sent by Odoo's mail queue")
        self.assertIn(invoice.name, mail.subject)
        self.assertIn("is due today", mail.subject)
        self.assertEqual(mail.attachment_ids, invoice.invoice_pdf_report_id)
        self.assertTrue(mail.attachment_ids.name.endswith(".pdf"))
        self.assertIn(
            f"/my/invoices/{invoice.id}?access_token={invoice.access_token}", mail.body_html
        )
        self.assertIn(invoice.get_base_url(), mail.body_html)
        # The history shows in the invoice's chatter.
        log = self._logs(invoice)
        self.assertEqual(log.mail_id, mail)
        self.assertIn(log.message_id, invoice.message_ids)
        self.assertIn("On the due date", log.message_id.body)

    def test_missed_days_send_only_the_latest_reminder(self):
        invoice = self._invoice(self.customer, 100, date=DUE)
        self._run_cron("2026-04-20")
        mails = self._mails(invoice)
        self.assertEqual(len(mails), 1)
        self.assertIn("final notice", mails.subject)
        logs = self._logs(invoice)
        self.assertEqual(
            {(log.rule_id, log.state, log.skip_reason) for log in logs},
            {
                (self.rule_before, "skipped", "superseded"),
                (self.rule_due, "skipped", "superseded"),
                (self.rule_overdue, "skipped", "superseded"),
                (self.rule_final, "sent", False),
            },
        )
        self._run_cron("2026-04-21")
        self.assertEqual(self._mails(invoice), mails)

    def test_prepaid_customer_never_gets_reminders(self):
        prepaid = self._customer("Prepaid Co", "prepaid", limit=1000, email="pre@paid.example")
        invoice = self._invoice(prepaid, 100, date=DUE)
        for day in ("2026-03-03", "2026-03-10", "2026-04-20"):
            self._run_cron(day)
        self.assertFalse(self._mails(invoice))
        self.assertFalse(self._logs(invoice))

    def test_paid_invoice_gets_no_reminder_and_partly_paid_does(self):
        paid = self._invoice(self.customer, 100, date=DUE)
        partial = self._invoice(self.customer, 300, date=DUE)
        for invoice, amount in ((paid, 100), (partial, 50)):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"amount": amount, "payment_date": DUE})._create_payments()
        self.assertEqual(partial.payment_state, "partial")
        self._run_cron("2026-03-17")
        self.assertFalse(self._mails(paid))
        self.assertEqual(len(self._mails(partial)), 1)

    def test_promise_to_pay_pauses_reminders_until_its_date(self):
        self.customer.billing_reminder_promise_date = "2026-03-20"
        invoice = self._invoice(self.customer, 100, date=DUE)
        self._run_cron("2026-03-17")
        self._run_cron("2026-03-20")
        self.assertFalse(self._mails(invoice))
        self.assertFalse(self._logs(invoice), "paused customers are not logged")
        self._run_cron("2026-03-21")
        mails = self._mails(invoice)
        self.assertEqual(len(mails), 1, "only the latest reminder once the promise expires")
        self.assertIn("overdue", mails.subject)

    def test_disputed_customer_gets_no_reminders(self):
        self.customer.billing_reminder_dispute = True
        invoice = self._invoice(self.customer, 100, date=DUE)
        self._run_cron("2026-03-17")
        self.assertFalse(self._mails(invoice))
        self.customer.billing_reminder_dispute = False
        self._run_cron("2026-03-18")
        self.assertEqual(len(self._mails(invoice)), 1)

    def test_opted_out_customer_gets_no_reminders_but_invoices_stay_sendable(self):
        self.customer.billing_reminder_opt_out = True
        contact = self.env["res.partner"].create(
            {"name": "Accountant", "parent_id": self.customer.id, "email": "acc@late.example"}
        )
        self.assertTrue(contact.billing_reminder_opt_out, "shared by the company's contacts")
        invoice = self._invoice(self.customer, 100, date=DUE)
        self._run_cron("2026-03-17")
        self.assertFalse(self._mails(invoice))
        opted_out = self._logs(invoice).filtered(lambda log: log.skip_reason == "opt_out")
        self.assertEqual(opted_out.rule_id, self.rule_overdue)

    def test_customer_without_email_is_skipped_logged_and_counted(self):
        no_email = self._customer("Silent Co", "postpaid")
        silent = self._invoice(no_email, 100, date=DUE)
        reachable = self._invoice(self.customer, 100, date=DUE)
        counted_before = self.env["finnsys.reminder.log"].search_count(
            Domain("skip_reason", "=", "no_email")
        )
        counts = self._run_method("2026-03-10")
        log = self._logs(silent).filtered(lambda log: log.rule_id == self.rule_due)
        self.assertEqual((log.state, log.skip_reason), ("skipped", "no_email"))
        self.assertEqual(
            counts.get("no_email"),
            self.env["finnsys.reminder.log"].search_count(Domain("skip_reason", "=", "no_email"))
            - counted_before,
        )
        self.assertFalse(
            self.env["mail.mail"].search(
                Domain("res_id", "=", silent.id) & Domain("model", "=", "account.move")
            )
        )
        self.assertEqual(len(self._mails(reachable)), 1, "the batch went on")

    def test_grouped_reminders_send_one_email_per_customer(self):
        self.env.company.billing_reminder_group = True
        older = self._invoice(self.customer, 100, date="2026-03-03")
        newer = self._invoice(self.customer, 200, date=DUE)
        self._run_cron("2026-03-10")
        mails = self.env["mail.mail"].search(
            Domain("model", "=", "account.move")
            & Domain("res_id", "in", (older | newer).ids)
            & Domain("recipient_ids", "in", self.customer.ids)
        )
        self.assertEqual(len(mails), 1)
        self.assertEqual(mails.res_id, older.id, "the most overdue invoice leads")
        self.assertIn("overdue", mails.subject)
        self.assertEqual(
            mails.attachment_ids, older.invoice_pdf_report_id | newer.invoice_pdf_report_id
        )
        self.assertIn(older.name, mails.body_html)
        self.assertIn(newer.name, mails.body_html)
        sent_logs = (self._logs(older) | self._logs(newer)).filtered(
            lambda log: log.state == "sent"
        )
        self.assertEqual(sent_logs.mail_id, mails)
        self.assertEqual(len(sent_logs.message_id), 2, "a note in each invoice's chatter")

    def test_rule_needs_template_and_offset_within_a_year(self):
        template = self.rule_due.template_id
        Rule = self.env["finnsys.reminder.rule"]
        with self.assertRaisesRegex(ValidationError, "needs an e-mail template"):
            Rule.create({"name": "No template", "offset_days": 3})
        with self.assertRaisesRegex(ValidationError, "between -365 and 365"):
            Rule.create({"name": "Too late", "offset_days": 366, "template_id": template.id})
        with self.assertRaisesRegex(ValidationError, "between -365 and 365"):
            Rule.create({"name": "Too early", "offset_days": -400, "template_id": template.id})
        rule = Rule.create({"name": "Day 14", "offset_days": 14, "template_id": template.id})
        with self.assertRaisesRegex(ValidationError, "needs an e-mail template"):
            rule.template_id = False

    def test_send_reminder_now_with_preview(self):
        invoice = self._invoice(self.customer, 100, date=DUE)
        with freeze_time("2026-03-18"):
            wizard_form = Form(
                self.env["finnsys.reminder.send"]
                .with_user(self.billing_user)
                .with_context(default_move_id=invoice.id)
            )
            self.assertEqual(wizard_form.rule_id, self.rule_overdue)
            self.assertIn(invoice.name, wizard_form.subject)
            self.assertIn(f"/my/invoices/{invoice.id}", wizard_form.body)
            wizard_form.save().action_send()
        log = self._logs(invoice)
        self.assertEqual((log.rule_id, log.state), (self.rule_overdue, "sent"))
        self.assertEqual(log.message_id.create_uid, self.billing_user)
        self.assertEqual(self._mails(invoice), log.mail_id)
        # The cron does not send the same reminder again.
        self._run_cron("2026-03-19")
        self.assertEqual(len(self._mails(invoice)), 1)

    def test_send_reminder_now_refused_for_prepaid_customer(self):
        prepaid = self._customer("Prepaid Co", "prepaid", limit=1000, email="pre@paid.example")
        invoice = self._invoice(prepaid, 100, date=DUE)
        wizard = self.env["finnsys.reminder.send"].create({"move_id": invoice.id})
        self.assertIn("prepaid", wizard.warning)
        with self.assertRaisesRegex(UserError, "prepaid customers get no payment reminders"):
            wizard.action_send()

    def test_reminder_menus_follow_billing_groups(self):
        sent_menu = self.env.ref("finnsys_billing.menu_billing_reminders_sent")
        rules_menu = self.env.ref("finnsys_billing.menu_billing_reminder_rules")
        Menu = self.env["ir.ui.menu"]
        clerk_menus = Menu.with_user(self.billing_user)._visible_menu_ids()
        boss_menus = Menu.with_user(self.billing_manager)._visible_menu_ids()
        self.assertIn(sent_menu.id, clerk_menus)
        self.assertNotIn(rules_menu.id, clerk_menus)
        self.assertIn(rules_menu.id, boss_menus)
        with self.assertRaises(AccessError):
            self.rule_due.with_user(self.billing_user).offset_days = 1

    def _final_notice(self, invoice):
        return self._mails(invoice).filtered(lambda m: "final notice" in m.subject)

    def test_final_notice_after_skipped_reminders_claims_no_earlier_ones(self):
        invoice = self._invoice(self.customer, 100, date=DUE)
        self._run_cron("2026-04-20")
        final = self._final_notice(invoice)
        self.assertEqual(len(final), 1)
        self.assertNotIn(EARLIER, final.body_html)
        self.assertIn("The invoice below is still unpaid", final.body_html)

    def test_final_notice_after_a_sent_reminder_recalls_it(self):
        invoice = self._invoice(self.customer, 100, date=DUE)
        self._run_cron("2026-03-17")
        self.assertEqual(len(self._mails(invoice)), 1, "the overdue reminder")
        self._run_cron("2026-04-09")
        self.assertIn(EARLIER, self._final_notice(invoice).body_html)

    def test_grouped_final_notice_recalls_only_what_every_invoice_got(self):
        self.env.company.billing_reminder_group = True
        reminded = self._invoice(self.customer, 100, date=DUE)
        self._run_cron("2026-03-17")
        never = self._invoice(self.customer, 200, date="2026-03-09")
        self._run_cron("2026-04-09")
        final = self.env["mail.mail"].search(
            Domain("model", "=", "account.move")
            & Domain("res_id", "in", (reminded | never).ids)
            & Domain("subject", "ilike", "final notice")
        )
        self.assertEqual(len(final), 1)
        self.assertIn(never.name, final.body_html)
        self.assertNotIn(EARLIER, final.body_html)

    def _switch(self, partner, mode):
        self.env["finnsys.billing.mode.switch"].create(
            {
                "partner_id": partner.id,
                "new_mode": mode,
                "reason": "Customer asked",
                "manager_override": True,
            }
        ).action_switch()

    def test_invoices_issued_while_postpaid_keep_reminders_after_switch_to_prepaid(self):
        switched = self._customer(
            "Switched Co", "postpaid", limit=1000, email="ap@switched.example"
        )
        owed = self._invoice(switched, 100, date=DUE)
        self._run_cron("2026-03-10")
        self._switch(switched, "prepaid")
        after = self._invoice(switched, 40, date=DUE)
        self._run_cron("2026-03-17")
        overdue = self._mails(owed).filtered(lambda m: "overdue" in m.subject)
        self.assertEqual(len(overdue), 1, "the postpaid debt is still chased")
        self.assertFalse(self._mails(after), "an invoice issued while prepaid is not")
        self.assertFalse(self._logs(after))
        wizard = self.env["finnsys.reminder.send"].create({"move_id": owed.id})
        self.assertFalse(wizard.warning, "and a clerk may still send its reminder")
        self.assertTrue(self.env["finnsys.reminder.send"].create({"move_id": after.id}).warning)
