from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalAccessRules(BillingPortalCommon):
    """The portal pages read as the customer: record rules, not the controller, keep another
    customer's records out of sight."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plan = cls._gold_plan()
        rule = cls._card_surcharge_rule("707737")
        cls.records = {}
        for customer in (cls.customer, cls.other_customer):
            cls._post_invoice(customer, 20.0, move_type="out_refund")  # credit to withdraw
            cls.records[customer] = {
                "contract.contract": cls.env["contract.contract"].create(
                    {"partner_id": customer.id, "contract_template_id": cls.plan.id}
                ),
                "finnsys.topup.attempt": cls.env["finnsys.topup.attempt"].create(
                    {
                        "partner_id": customer.id,
                        "company_id": cls.company.id,
                        "currency_id": cls.currency.id,
                        "amount": 50.0,
                        "idempotency_key": f"rule-test-{customer.id}",
                    }
                ),
                "finnsys.withdrawal": cls.env["finnsys.withdrawal"].create(
                    {"partner_id": customer.id, "amount": 10.0}
                ),
                "account.move": cls._post_invoice(customer, 30.0),
            }
            invoice = cls.records[customer]["account.move"]
            cls.records[customer]["finnsys.surcharge.consent"] = cls.env[
                "finnsys.surcharge.consent"
            ].create(
                {
                    "state": "declined",
                    "partner_id": customer.id,
                    "user_id": cls.env.user.id,
                    "invoice_id": invoice.id,
                    "rule_id": rule.id,
                    "currency_id": cls.currency.id,
                    "amount": 30.0,
                    "surcharge": 1.05,
                    "total": 31.05,
                }
            )
        # A second contact of the customer, who follows none of these records.
        cls.colleague = cls.env["res.users"].create(
            {
                "name": "Colleague",
                "login": "pp_colleague",
                "group_ids": [Command.set(cls.env.ref("base.group_portal").ids)],
            }
        )
        cls.colleague.partner_id.parent_id = cls.customer

    def test_portal_contact_sees_own_customer_records_only(self):
        for user in (self.user, self.colleague):
            env = self.env(user=user)
            for model, mine in self.records[self.customer].items():
                with self.subTest(user=user.login, model=model):
                    theirs = self.records[self.other_customer][model]
                    found = env[model].search([("id", "in", (mine | theirs).ids)])
                    self.assertEqual(found, mine.with_env(env))
                    with self.assertRaises(AccessError):
                        theirs.with_env(env).read(["partner_id"])

    def test_portal_contact_cannot_change_customer_records(self):
        env = self.env(user=self.user)
        models = ("finnsys.topup.attempt", "finnsys.withdrawal", "contract.contract")
        for model in (*models, "finnsys.surcharge.consent"):
            with self.subTest(model=model), self.assertRaises(AccessError):
                self.records[self.customer][model].with_env(env).write({"partner_id": False})
