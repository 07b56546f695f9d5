"""The hostile-payment fixture: a card surcharge, a saved Demo token, one open invoice, and
helpers that post what a tampered payment form posts and count what it created."""

from odoo import Command

from odoo.addons.finnsys_billing_portal.controllers.portal import terms_token

from .portal_common import BillingPortalCommon


class HostileCase(BillingPortalCommon):
    """A card surcharge of 2.5 % + 0.30 (40.00 costs 1.30 more); the demo provider takes the
    card and its own "Demo" method, which carries none; the customer saved a Demo token."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.demo_method = cls.env.ref("payment_demo.payment_method_demo")
        cls.provider.payment_method_ids = [Command.set((cls.card + cls.demo_method).ids)]
        cls.card.active = True
        cls.customer.country_id = cls.env.ref("base.be")
        cls.rule = cls._card_surcharge_rule("707737")
        cls.demo_token = cls.env["payment.token"].create(
            {
                "provider_id": cls.provider.id,
                "payment_method_id": cls.demo_method.id,
                "partner_id": cls.customer.id,
                "payment_details": "demo",
                "provider_ref": "demo-wallet",
                "demo_simulated_state": "done",
            }
        )
        cls.invoice = cls._post_invoice(cls.customer, 100.0)

    def _assert_refused_nothing_created(self, url, params, status=400, context=""):
        before = self._counts()
        response = self._jsonrpc(url, params)
        self.assertEqual(response.status_code, status, f"{context}: {response.text[:300]}")
        self.assertTrue(response.json()["error"]["data"]["message"], context)
        self._assert_nothing_created(before, context)
        return response.json()["error"]["data"]["message"]

    def _direct(self, amount, access_token, csrf_token, method=None, **params):
        """What the payment form posts to pay ``amount`` with a new ``method`` (a card)."""
        values = self._token_payment_params(amount, access_token, csrf_token)
        values.update(payment_method_id=(method or self.card).id, token_id=None, flow="direct")
        return values | params

    def _signed(self, amount):
        return terms_token(self.env, self.invoice, amount)
