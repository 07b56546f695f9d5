import json

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user

from odoo.addons.finnsys_billing.tests.surcharge_common import SurchargeRuleMixin

# The records a refused payment must not create.
WATCHED_MODELS = ("payment.transaction", "account.payment", "finnsys.surcharge.consent")


def new_portal_customer(env, company_name, mode, login, **user_values):
    """A customer company ``company_name`` billed in ``mode`` and its portal contact
    ``login`` (password: the login, unless ``user_values`` give one): (customer, user)."""
    customer = env["res.partner"].create(
        {"name": company_name, "is_company": True, "customer_rank": 1, "billing_mode": mode}
    )
    user_values.setdefault("password", login)
    user = new_test_user(env, login=login, groups="base.group_portal", **user_values)
    user.partner_id.parent_id = customer
    return customer, user


class BillingPortalCommon(SurchargeRuleMixin, HttpCase):
    """Two customers of the main company, each with a portal contact, and Odoo's demo provider."""

    watched_models = WATCHED_MODELS

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
        customer, _user = new_portal_customer(
            cls.env, name, mode, login, name=f"{name} Contact", email=f"{login}@customer.example"
        )
        if limit:
            customer.credit_limit = limit
        return customer

    @classmethod
    def _topup_customer(cls, name, login):
        """A prepaid portal customer with a saved card, who may top up 20 to 1,000."""
        cls.company.write({"billing_portal_topup_min": 20.0, "billing_portal_topup_max": 1000.0})
        customer = cls._portal_customer(name, "prepaid", login)
        return customer, cls._token(customer, "5555")

    @classmethod
    def _unpayable_invoices(cls, foreign_amount, paid_amount, cancelled_amount):
        """Invoices the customer may not pay: another customer's, a paid one (in the backend)
        and a cancelled one: (foreign, paid, cancelled)."""
        foreign = cls._post_invoice(cls.other_customer, foreign_amount)
        paid = cls._post_invoice(cls.customer, paid_amount)
        cls._pay_in_backend(paid, paid_amount)
        cancelled = cls._post_invoice(cls.customer, cancelled_amount)
        cancelled.button_draft()
        cancelled.button_cancel()
        return foreign, paid, cancelled

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

    def _counts(self):
        """How many records of each of ``watched_models`` exist, archived ones included."""
        return {
            model: self.env[model].sudo().with_context(active_test=False).search_count([])
            for model in self.watched_models
        }

    def _assert_nothing_created(self, before, context=""):
        """No record of ``watched_models`` was created since ``before`` (``_counts()``)."""
        self.env.invalidate_all()
        self.assertEqual(self._counts(), before, f"{context}: a record was created")

    def _accepted(self, url, params):
        """Call a transaction route that must accept ``params``: the transaction it made."""
        response = self._jsonrpc(url, params)
        self.assertEqual(response.status_code, 200, response.text[:300])
        body = response.json()
        self.assertIn("result", body, body)
        return self.env["payment.transaction"].search(
            [("reference", "=", body["result"]["reference"])]
        )

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
