from odoo import SUPERUSER_ID, Command, api
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

from .common import CommittedCompanyCase


@tagged("post_install", "-at_install")
class TestWithdrawal(AccountTestInvoicingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bank_journal = cls.company_data["default_journal_bank"]
        company = cls.env.company
        user_values = {"company_id": company.id, "company_ids": [Command.set(company.ids)]}
        cls.manager = new_test_user(
            cls.env,
            login="wdr_manager",
            groups="base.group_user,finnsys_billing.group_billing_manager",
            **user_values,
        )
        cls.clerk = new_test_user(
            cls.env,
            login="wdr_clerk",
            groups="base.group_user,finnsys_billing.group_billing_user",
            **user_values,
        )
        # The test user is accountman: let it read withdrawals too.
        cls.env.user.group_ids += cls.env.ref("finnsys_billing.group_billing_manager")
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "Prepaid Customer",
                "is_company": True,
                "billing_mode": "prepaid",
            }
        )
        cls._receive_payment(cls.customer, 500.0)
        # Posting the invoice applies 120 of the 500 credit.
        cls.init_invoice("out_invoice", partner=cls.customer, amounts=[120], taxes=[], post=True)

    @classmethod
    def _receive_payment(cls, partner, amount):
        payment = cls.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": amount,
                "journal_id": cls.bank_journal.id,
            }
        )
        payment.action_post()
        return payment

    def _request(self, amount, partner=None, **values):
        return (
            self.env["finnsys.withdrawal"]
            .with_user(self.clerk)
            .create(
                {
                    "partner_id": (partner or self.customer).id,
                    "amount": amount,
                    "journal_id": self.bank_journal.id,
                    "reason": "Customer leaves",
                    **values,
                }
            )
        )

    def _refunds(self, partner=None):
        return self.env["account.payment"].search(
            [
                ("partner_id", "=", (partner or self.customer).id),
                ("payment_type", "=", "outbound"),
            ]
        )

    def _figures(self, partner=None):
        partner = partner or self.customer
        partner.invalidate_recordset(["billing_balance", "billing_unapplied_credit"])
        return partner.billing_balance, partner.billing_unapplied_credit

    def test_withdrawal_pays_back_unapplied_credit(self):
        self.assertEqual(self._figures(), (380.0, 380.0))
        withdrawal = self._request(300.0)
        self.assertEqual(withdrawal.state, "requested")
        self.assertRegex(withdrawal.name, r"^WDR/\d{4}/\d{4}$")
        self.assertEqual(withdrawal.requested_by, self.clerk)
        self.assertEqual(withdrawal.available_amount, 380.0)

        withdrawal.with_user(self.manager).action_approve()
        self.assertEqual(withdrawal.state, "approved")
        self.assertEqual(withdrawal.approved_by, self.manager)
        self.assertTrue(withdrawal.approved_on)

        withdrawal.with_user(self.manager).action_pay()
        self.assertEqual(withdrawal.state, "paid")
        payment = withdrawal.payment_id
        self.assertEqual(payment, self._refunds())
        self.assertEqual(
            (payment.payment_type, payment.partner_type, payment.amount, payment.journal_id),
            ("outbound", "customer", 300.0, self.bank_journal),
        )
        receivable = self.customer.property_account_receivable_id
        self.assertRecordValues(
            payment.move_id.line_ids.sorted("debit"),
            [
                {
                    "account_id": payment.outstanding_account_id.id,
                    "partner_id": self.customer.id,
                    "debit": 0.0,
                    "credit": 300.0,
                    "reconciled": False,
                },
                {
                    "account_id": receivable.id,
                    "partner_id": self.customer.id,
                    "debit": 300.0,
                    "credit": 0.0,
                    "reconciled": True,
                },
            ],
        )
        self.assertNotEqual(payment.outstanding_account_id, receivable)
        self.assertEqual(self._figures(), (80.0, 80.0))
        self.assertIn("WDR/", self.customer.message_ids[0].body)

    def test_amount_must_be_positive_and_within_unapplied_credit(self):
        for amount in (0.0, -5.0, 381.0):
            with self.subTest(amount=amount), self.assertRaisesRegex(ValidationError, "Amount"):
                self._request(amount)
        self.assertFalse(
            self.env["finnsys.withdrawal"].search(
                [
                    ("partner_id", "=", self.customer.id),
                ]
            )
        )
        self.assertEqual(self._request(380.0).amount, 380.0)

    def test_credit_limit_is_not_withdrawable(self):
        self.env.company.account_use_credit_limit = True
        self.customer.credit_limit = 1000.0
        with self.assertRaisesRegex(ValidationError, "Amount"):
            self._request(500.0)

    def test_money_owed_on_open_invoices_is_not_withdrawable(self):
        customer = self.env["res.partner"].create({"name": "Owing Customer", "is_company": True})
        self.init_invoice("out_invoice", partner=customer, amounts=[150], taxes=[], post=True)
        self._receive_payment(customer, 100.0)
        self.assertEqual(self._figures(customer), (-50.0, 100.0))
        with self.assertRaisesRegex(ValidationError, "Amount"):
            self._request(50.0, partner=customer)

    def test_contact_request_belongs_to_the_commercial_partner(self):
        contact = self.env["res.partner"].create(
            {
                "name": "Jane",
                "parent_id": self.customer.id,
            }
        )
        self.assertEqual(self._request(10.0, partner=contact).partner_id, self.customer)

    def test_journal_defaults_to_the_company_bank_journal(self):
        with Form(self.env["finnsys.withdrawal"].with_user(self.clerk)) as form:
            self.assertEqual(form.journal_id, self.bank_journal)
            form.partner_id = self.customer
            form.amount = 100
        self.assertEqual(form.record.journal_id, self.bank_journal)
        other = self.setup_other_company()
        self.env.user.group_ids += self.env.ref("base.group_multi_company")
        form = Form(self.env["finnsys.withdrawal"])
        form.company_id = other["company"]
        self.assertEqual(form.journal_id, other["default_journal_bank"], "follows the company")

    def test_journal_of_another_company_is_refused(self):
        other_journal = self.setup_other_company()["default_journal_bank"]
        with self.assertRaisesRegex(ValidationError, "Journal"):
            self.env["finnsys.withdrawal"].create(
                {
                    "partner_id": self.customer.id,
                    "amount": 10.0,
                    "journal_id": other_journal.id,
                }
            )
        self.assertFalse(self.env["finnsys.withdrawal"].search([]))

    def test_billing_user_cannot_approve_or_pay(self):
        withdrawal = self._request(100.0)
        with self.assertRaises(AccessError):
            withdrawal.with_user(self.clerk).action_approve()
        with self.assertRaises(UserError):
            withdrawal.with_user(self.clerk).write({"state": "approved"})
        self.assertEqual(withdrawal.state, "requested")
        withdrawal.with_user(self.manager).action_approve()
        with self.assertRaises(AccessError):
            withdrawal.with_user(self.clerk).action_pay()
        with self.assertRaises(AccessError):
            withdrawal.with_user(self.clerk).action_cancel()
        self.assertEqual(withdrawal.state, "approved")
        self.assertFalse(self._refunds())

    def test_paying_twice_creates_one_payment(self):
        withdrawal = self._request(100.0)
        withdrawal.with_user(self.manager).action_approve()
        withdrawal.with_user(self.manager).action_pay()
        with self.assertRaisesRegex(UserError, "already paid"):
            withdrawal.with_user(self.manager).action_pay()
        self.assertEqual(len(self._refunds()), 1)
        self.assertEqual(self._figures(), (280.0, 280.0))

    def test_credit_shrunk_since_request_is_refused_at_payment(self):
        withdrawal = self._request(300.0)
        withdrawal.with_user(self.manager).action_approve()
        self.init_invoice("out_invoice", partner=self.customer, amounts=[100], taxes=[], post=True)
        self.assertEqual(self._figures(), (280.0, 280.0))
        with self.assertRaisesRegex(ValidationError, "Amount"):
            withdrawal.with_user(self.manager).action_pay()
        self.assertEqual(withdrawal.state, "approved")
        self.assertFalse(self._refunds())

    def test_credit_shrunk_since_request_is_refused_at_approval(self):
        withdrawal = self._request(300.0)
        self.init_invoice("out_invoice", partner=self.customer, amounts=[100], taxes=[], post=True)
        with self.assertRaisesRegex(ValidationError, "Amount"):
            withdrawal.with_user(self.manager).action_approve()
        self.assertEqual(withdrawal.state, "requested")

    def test_close_account_disables_auto_topup(self):
        # sudo: the demo provider belongs to the main company, not the test one.
        token = (
            self.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": self.env.ref("payment.payment_provider_demo").id,
                    "payment_method_id": self.env.ref("payment.payment_method_card").id,
                    "partner_id": self.customer.id,
                    "provider_ref": "wdr-test-token",
                    "payment_details": "4242",
                }
            )
        )
        self.customer.write(
            {
                "billing_token_id": token.id,
                "billing_topup_enabled": True,
                "billing_topup_amount": 100.0,
            }
        )
        withdrawal = self._request(380.0, close_account=True)
        withdrawal.with_user(self.manager).action_approve()
        self.assertTrue(self.customer.billing_topup_enabled)
        withdrawal.with_user(self.manager).action_pay()
        self.assertFalse(self.customer.billing_topup_enabled)
        self.assertEqual(self._figures(), (0.0, 0.0))

    def test_state_only_moves_forward(self):
        withdrawal = self._request(100.0)
        with self.assertRaisesRegex(UserError, "cannot become"):
            withdrawal.with_user(self.manager).action_pay()
        withdrawal.with_user(self.clerk).action_cancel()
        self.assertEqual(withdrawal.state, "cancelled")
        with self.assertRaisesRegex(UserError, "cannot become"):
            withdrawal.with_user(self.manager).action_approve()
        with self.assertRaisesRegex(UserError, "starts as a request"):
            self.env["finnsys.withdrawal"].with_user(self.clerk).create(
                {
                    "partner_id": self.customer.id,
                    "amount": 10.0,
                    "journal_id": self.bank_journal.id,
                    "state": "paid",
                }
            )

    def test_amount_frozen_once_approved(self):
        withdrawal = self._request(100.0)
        withdrawal.with_user(self.manager).action_approve()
        with self.assertRaisesRegex(UserError, "Amount"):
            withdrawal.with_user(self.manager).amount = 50.0
        self.assertEqual(withdrawal.amount, 100.0)

    def test_only_requested_or_cancelled_withdrawals_can_be_deleted(self):
        withdrawal = self._request(100.0)
        withdrawal.with_user(self.manager).action_approve()
        withdrawal.with_user(self.manager).action_pay()
        with self.assertRaises(UserError):
            withdrawal.with_user(self.manager).unlink()
        draft = self._request(50.0)
        with self.assertRaises(AccessError):
            draft.with_user(self.clerk).unlink()
        draft.with_user(self.manager).unlink()
        self.assertFalse(draft.exists())


@tagged("post_install", "-at_install")
class TestWithdrawalConcurrency(CommittedCompanyCase):
    """Two transactions pay the same withdrawal: a double click, or two managers at once.

    Row locks do not conflict inside one test transaction, so this runs on committed data
    in a company of its own, with two real cursors.
    """

    company_name = "Withdrawal Race Co"

    @classmethod
    def _setup_committed_data(cls, env, company):
        journal = env["account.journal"].search(
            [
                ("company_id", "=", company.id),
                ("type", "=", "bank"),
            ],
            limit=1,
        )
        customer = env["res.partner"].create(
            {
                "name": "Racing Prepaid Customer",
                "is_company": True,
                "billing_mode": "prepaid",
                "company_id": company.id,
            }
        )
        env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": customer.id,
                "amount": 500.0,
                "journal_id": journal.id,
            }
        ).action_post()
        withdrawal = env["finnsys.withdrawal"].create(
            {
                "partner_id": customer.id,
                "amount": 200.0,
                "journal_id": journal.id,
            }
        )
        withdrawal.action_approve()
        cls.customer_id = customer.id
        cls.withdrawal_id = withdrawal.id

    def _withdrawal(self, cr):
        env = api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})
        return env["finnsys.withdrawal"].browse(self.withdrawal_id)

    def test_second_payment_while_the_first_runs_is_refused(self):
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            self._withdrawal(cr_a).action_pay()
            # cr_a holds the row lock until it commits: the second click is refused at once.
            with mute_logger("odoo.sql_db"), self.assertRaisesRegex(UserError, "being paid"):
                self._withdrawal(cr_b).action_pay()
            cr_b.rollback()
            cr_a.commit()
            with self.assertRaisesRegex(UserError, "already paid"):
                self._withdrawal(cr_b).action_pay()
            cr_b.rollback()
            withdrawal = self._withdrawal(cr_b)
            self.assertEqual(withdrawal.state, "paid")
            refunds = withdrawal.env["account.payment"].search(
                [
                    ("partner_id", "=", self.customer_id),
                    ("payment_type", "=", "outbound"),
                ]
            )
            self.assertEqual(refunds, withdrawal.payment_id)
