from odoo import Command
from odoo.exceptions import RedirectWarning
from odoo.tests import tagged

from .surcharge_common import SurchargeCommon


@tagged("post_install", "-at_install")
class TestSurcharge(SurchargeCommon):
    """A card surcharge the customer accepted is booked as an invoice of its own, paid by
    the money charged for it before the invoices it was charged on."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rule = cls._card_surcharge_rule(
            "707707",
            cap_amount=5.0,
            excluded_country_ids=[Command.set(cls.env.ref("base.nl").ids)],
        )
        cls.income = cls.rule.income_account_id
        cls.invoice = cls._invoice(cls.customer, 100.0)

    def test_rule_computes_percent_fixed_and_cap(self):
        self.assertEqual(self.rule.compute_surcharge(40.0, self.currency), 1.30)
        self.assertEqual(self.rule.compute_surcharge(1000.0, self.currency), 5.0)
        self.assertEqual(
            self.env["finnsys.surcharge.rule"].compute_surcharge(40.0, self.currency), 0.0
        )

    def test_excluded_country_pays_no_surcharge(self):
        Rule = self.env["finnsys.surcharge.rule"]
        self.assertEqual(
            Rule.find_applicable(self.company, self.card, self.env.ref("base.be")), self.rule
        )
        self.assertFalse(Rule.find_applicable(self.company, self.card, self.env.ref("base.nl")))
        self.assertTrue(
            Rule.country_change_drops_surcharge(self.env.ref("base.be"), self.env.ref("base.nl"))
        )
        self.assertFalse(
            Rule.country_change_drops_surcharge(self.env.ref("base.nl"), self.env.ref("base.be"))
        )

    def test_accepted_surcharge_is_booked_and_paid_before_the_invoice(self):
        tx = self._pay_by_card(self.invoice, 40.0, self.rule)
        self.assertEqual(tx.amount, 41.30)
        # The surcharge is paid by the money charged for it; only the rest pays the invoice.
        self.assertEqual(self.invoice.amount_residual, 60.0)
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        self.assertRecordValues(
            surcharge_move,
            [{"move_type": "out_invoice", "state": "posted", "amount_residual": 0.0}],
        )
        self.assertIn(surcharge_move.payment_state, ("paid", "in_payment"))
        income_line = surcharge_move.line_ids.filtered(lambda line: line.account_id == self.income)
        self.assertEqual(income_line.credit, 1.30)
        self.assertEqual(tx.payment_id.amount, 41.30)
        self.assertEqual(tx.payment_id.reconciled_invoice_ids, self.invoice + surcharge_move)
        self.assertEqual(tx._finnsys_surcharge_moves(), surcharge_move)

    def test_surcharge_takes_no_older_credit_and_passes_the_credit_limit(self):
        """The customer's older credit goes to its invoices, not to a surcharge the card
        paid, and a surcharge never counts against the credit limit."""
        self._receive(self.customer, 30.0)
        self.invoice.invalidate_recordset()
        self.assertEqual(self.invoice.amount_residual, 100.0)
        # Already at its limit: one more invoice of any amount would be refused.
        self.customer.credit_limit = 70.0
        with self.assertRaises(RedirectWarning):
            self._invoice(self.customer, 1.30)
        tx = self._pay_by_card(self.invoice, 40.0, self.rule)
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        self.assertEqual(surcharge_move.state, "posted")
        self.assertEqual(surcharge_move.amount_residual, 0.0)
        credit_lines = surcharge_move.line_ids.matched_credit_ids.credit_move_id
        self.assertEqual(credit_lines.move_id, tx.payment_id.move_id)

    def test_surcharge_takes_no_older_credit_without_credit_limits(self):
        """Credit limits off: the older credit still goes to the invoices, not to the
        surcharge the card paid."""
        self.company.account_use_credit_limit = False
        self._receive(self.customer, 30.0)
        tx = self._pay_by_card(self.invoice, 40.0, self.rule)
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        self.assertEqual(surcharge_move.amount_residual, 0.0)
        credit_lines = surcharge_move.line_ids.matched_credit_ids.credit_move_id
        self.assertEqual(credit_lines.move_id, tx.payment_id.move_id)

    def test_surcharge_posted_again_is_still_a_surcharge_document(self):
        """Reset to draft and posted again by an accountant, at its credit limit and with
        older credit: still no credit check, still no older credit applied; a document booked
        before posting marked it is marked when the module is updated."""
        older = self._receive(self.customer, 30.0)
        tx = self._pay_by_card(self.invoice, 40.0, self.rule)
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        self.assertTrue(surcharge_move.finnsys_surcharge_document)
        surcharge_move.button_draft()
        # Any other invoice would be refused: the customer owes more than 1.00 already.
        self.customer.credit_limit = 1.0
        surcharge_move.action_post()
        self.assertEqual(surcharge_move.state, "posted")
        credit_moves = surcharge_move.line_ids.matched_credit_ids.credit_move_id.move_id
        self.assertNotIn(older.move_id, credit_moves, "the older credit is not applied to it")
        self.env.cr.execute(
            "UPDATE account_move SET finnsys_surcharge_document = NULL WHERE id = %s",
            [surcharge_move.id],
        )
        surcharge_move.invalidate_recordset(["finnsys_surcharge_document"])
        self.env["finnsys.surcharge.consent"].init()
        self.assertTrue(surcharge_move.finnsys_surcharge_document)
        self.assertFalse(self.invoice.finnsys_surcharge_document)

    def test_booking_twice_books_one_surcharge(self):
        tx = self._pay_by_card(self.invoice, 40.0, self.rule)
        surcharge_move = tx.finnsys_surcharge_consent_id.surcharge_move_id
        tx._post_process()
        consents = self.env["finnsys.surcharge.consent"].search([("transaction_id", "=", tx.id)])
        self.assertEqual(consents.surcharge_move_id, surcharge_move)
        self.assertEqual(
            self.env["account.move"].search_count(
                [("invoice_origin", "=", self.invoice.name), ("move_type", "=", "out_invoice")]
            ),
            1,
        )


@tagged("post_install", "-at_install")
class TestSurchargeCompanies(SurchargeCommon):
    """Surcharge rules and consents, and subscription periods, are read in their company
    only: a billing manager of two companies sees the records of the companies selected."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        other = cls.setup_other_company()["company"]
        cls.other_company = other
        cls.billing_manager.company_ids |= other
        rules = cls._card_surcharge_rule("707709")
        income = (
            cls.env["account.account"]
            .with_company(other)
            .create({"name": "Payment surcharges", "code": "707710", "account_type": "income"})
        )
        rules |= rules.with_company(other).copy(
            {"company_id": other.id, "income_account_id": income.id}
        )
        cls.rules = rules
        invoices = cls._invoice(cls.customer, 10.0) | cls.init_invoice(
            "out_invoice", cls.customer, post=True, amounts=[10.0], taxes=[], company=other
        )
        cls.consents = (
            cls.env["finnsys.surcharge.consent"]
            .sudo()
            .create(
                [
                    {
                        "state": "declined",
                        "partner_id": cls.customer.id,
                        "user_id": cls.env.user.id,
                        "invoice_id": invoice.id,
                        "rule_id": rule.id,
                        "currency_id": invoice.currency_id.id,
                        "amount": 10.0,
                        "surcharge": 0.55,
                        "total": 10.55,
                    }
                    for invoice, rule in zip(invoices, rules, strict=True)
                ]
            )
        )
        contracts = cls.env["contract.contract"].create(
            [
                {"name": f"Plan of {company.name}", "partner_id": cls.customer.id}
                | {"company_id": company.id}
                for company in (cls.company, other)
            ]
        )
        cls.periods = cls.env["finnsys.subscription.period"].create(
            [{"contract_id": contract.id, "period_start": "2026-01-01"} for contract in contracts]
        )

    def _manager_sees(self, records, companies):
        env = self.billing_manager.with_context(allowed_company_ids=companies.ids).env
        return env[records._name].search([("id", "in", records.ids)])

    def test_records_are_read_in_their_company_only(self):
        both = self.company | self.other_company
        for records in (self.rules, self.consents, self.periods):
            with self.subTest(model=records._name):
                self.assertEqual(records.company_id, both)
                self.assertEqual(self._manager_sees(records, self.company).company_id, self.company)
                self.assertEqual(
                    self._manager_sees(records, self.other_company).company_id,
                    self.other_company,
                )
                self.assertEqual(self._manager_sees(records, both), records)
