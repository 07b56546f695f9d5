from odoo import Command

from .common import BillingCommon


class SurchargeRuleMixin:
    """Card surcharge rules for tests of classes that have the card method as ``cls.card``."""

    @classmethod
    def _card_surcharge_rule(cls, code, **values):
        """A card surcharge of 2.5 % + 0.30, booked on a new income account ``code``;
        ``values`` add or change the rule's fields (a cap, excluded countries...)."""
        income = cls.env["account.account"].create(
            {"name": "Payment surcharges", "code": code, "account_type": "income"}
        )
        return cls.env["finnsys.surcharge.rule"].create(
            {
                "name": "Cards",
                "payment_method_ids": [Command.set(cls.card.ids)],
                "percent": 2.5,
                "fixed_amount": 0.30,
                "income_account_id": income.id,
                **values,
            }
        )


class SurchargeCommon(SurchargeRuleMixin, BillingCommon):
    """A Belgian postpaid customer, a card surcharge rule of 2.5 % + 0.30 and a saved card
    of Odoo's demo provider: card payments with an accepted surcharge, made in the backend
    as the portal makes them (a consent, then a transaction)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        cls.currency = cls.company.currency_id
        cls.customer = cls._customer(
            "Surcharged Co", "postpaid", country_id=cls.env.ref("base.be").id
        )
        cls.provider, cls.card, cls.token = cls._saved_demo_card(cls.customer, "surcharge-4242")

    def _pay_by_card(self, invoices, amount, rule=None):
        """Charge ``amount`` of ``invoices`` to the saved card with the surcharge of ``rule``
        accepted (none without a rule), and post-process the payment: the transaction."""
        surcharge = rule.compute_surcharge(amount, self.currency) if rule else 0.0
        tx = self.env["payment.transaction"].create(
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.card.id,
                "token_id": self.token.id,
                "operation": "online_token",
                "partner_id": self.customer.id,
                "amount": self.currency.round(amount + surcharge),
                "currency_id": self.currency.id,
                "reference": self.env["payment.transaction"]._compute_reference("demo"),
                "invoice_ids": [Command.set(invoices.ids)],
            }
        )
        if surcharge:
            # Consents are recorded by the portal, as superuser.
            Consent = self.env["finnsys.surcharge.consent"].sudo()
            tx.finnsys_surcharge_consent_id = Consent.create(
                {
                    "state": "accepted",
                    "partner_id": self.customer.id,
                    "user_id": self.env.user.id,
                    "invoice_id": invoices[:1].id,
                    "rule_id": rule.id,
                    "payment_method_id": self.card.id,
                    "transaction_id": tx.id,
                    "currency_id": self.currency.id,
                    "amount": amount,
                    "surcharge": surcharge,
                    "total": tx.amount,
                }
            )
        tx._set_done()
        tx._post_process()
        return tx
