import json

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user

from odoo.addons.finnsys_billing.tests.surcharge_common import SurchargeRuleMixin


class BillingPortalCommon(SurchargeRuleMixin, HttpCase):
    """Two customers of the main company, each with a portal contact, and Odoo's demo provider."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.currency = cls.company.currency_id
        cls.provider = cls.env.ref("payment.payment_provider_demo").sudo()
        cls.provider.write({"state": "test", "company_id": cls.company.id})
        cls.card = cls.env.ref("payment.payment_method_card")
        cls.customer = cls._portal_customer("Portal Postpaid Co", "postpaid", "pp_user")
        cls.other_customer = cls._portal_customer("Other Customer Co", "postpaid", "other_user")
        cls.user = cls.customer.child_ids.user_ids
        cls.token = cls._token(cls.customer, "4242")
        cls.other_token = cls._token(cls.other_customer, "1111")

    @classmethod
    def _portal_customer(cls, name, mode, login, limit=0.0):
        customer = cls.env["res.partner"].create(
            {"name": name, "is_company": True, "customer_rank": 1, "billing_mode": mode}
        )
        if limit:
            customer.credit_limit = limit
        user = new_test_user(
            cls.env,
            login=login,
            password=login,
            groups="base.group_portal",
            name=f"{name} Contact",
            email=f"{login}@customer.example",
        )
        user.partner_id.parent_id = customer
        return customer

    @classmethod
    def _gold_plan(cls):
        """A monthly subscription plan of 49.00."""
        service = cls.env["product.product"].create({"name": "Hosting", "type": "service"})
        return cls.env["contract.template"].create(
            {
                "name": "Gold Monthly",
                "recurring_rule_type": "monthly",
                "contract_line_ids": [
                    Command.create(
                        {"product_id": service.id, "name": "Gold", "specific_price": 49.0}
                    )
                ],
            }
        )

    @classmethod
    def _token(cls, customer, digits):
        return cls.env["payment.token"].create(
            {
                "provider_id": cls.provider.id,
                "payment_method_id": cls.card.id,
                "partner_id": customer.id,
                "payment_details": digits,
                "provider_ref": f"demo-{digits}",
                "demo_simulated_state": "done",
            }
        )

    @classmethod
    def _post_invoice(cls, customer, amount, date="2026-01-10", move_type="out_invoice", due=None):
        move = cls.env["account.move"].create(
            {
                "move_type": move_type,
                "partner_id": customer.id,
                "invoice_date": fields.Date.to_date(date),
                "invoice_date_due": fields.Date.to_date(due or date),
                "invoice_line_ids": [
                    Command.create(
                        {"name": "Usage", "quantity": 1, "price_unit": amount, "tax_ids": []}
                    )
                ],
            }
        )
        move.action_post()
        return move

    @classmethod
    def _pay_in_backend(cls, invoice, amount):
        wizard = (
            cls.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"amount": amount})
        )
        return wizard._create_payments()

    def _csrf(self, url):
        """The CSRF token of the form on ``url``, as a browser would post it."""
        page = self.url_open(url)
        self.assertEqual(page.status_code, 200, page.text[:500])
        marker = 'name="csrf_token" value="'
        start = page.text.index(marker) + len(marker)
        return page.text[start : page.text.index('"', start)]

    def _token_payment_params(self, amount, access_token, csrf_token, **params):
        """What Odoo's payment form posts to a transaction route to pay ``amount`` with the
        saved card ``self.token``; ``params`` override or add keys."""
        return {
            "access_token": access_token,
            "amount": amount,
            "provider_id": self.provider.id,
            "payment_method_id": self.card.id,
            "token_id": self.token.id,
            "flow": "token",
            "tokenization_requested": False,
            "landing_route": "/my/invoices",
            "is_validation": False,
            "csrf_token": csrf_token,
            **params,
        }

    def _jsonrpc(self, url, params):
        """Call a JSON-RPC route as Odoo's ``rpc()`` does; the HTTP response."""
        return self.url_open(
            url,
            data=json.dumps({"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}),
            headers={"Content-Type": "application/json"},
        )

    def _assert_refused(self, response, status, text=None):
        """``response`` is a refusal with HTTP ``status`` and a message for the customer."""
        self.assertEqual(response.status_code, status, response.text[:500])
        error = response.json()["error"]
        self.assertEqual(error["code"], status)
        self.assertTrue(error["data"]["message"])
        if text:
            self.assertIn(text, error["data"]["message"])
        return error["data"]["message"]
