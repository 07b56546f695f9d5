from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import BillingCommon


@tagged("post_install", "-at_install")
class TestPaymentSettings(BillingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer("Card Co", "prepaid", limit=200)
        cls.other = cls._customer("Other Co", "prepaid")
        cls.token = cls._token(cls.customer)

    @classmethod
    def _token(cls, partner, **values):
        return (
            cls.env["payment.token"]
            .sudo()
            .create(
                {
                    "provider_id": cls.env.ref("payment.payment_provider_demo").id,
                    "payment_method_id": cls.env.ref("payment.payment_method_card").id,
                    "partner_id": partner.id,
                    "payment_details": "4242",
                    "provider_ref": f"test-{partner.id}",
                    **values,
                }
            )
        )

    def _assert_refused(self, values, field_label):
        before = self.customer.read(list(values))[0]
        with self.assertRaises(ValidationError) as error:
            self.customer.write(values)
            self.env.flush_all()
        self.assertIn(field_label, str(error.exception))
        self.customer.invalidate_recordset()
        self.assertEqual(self.customer.read(list(values))[0], before)

    def test_valid_auto_top_up(self):
        self.customer.write(
            {
                "billing_payment_method": "token",
                "billing_token_id": self.token.id,
                "billing_topup_enabled": True,
                "billing_topup_amount": 100,
                "billing_topup_threshold": -150,
            }
        )
        self.assertTrue(self.customer.billing_topup_enabled)

    def test_top_up_amount_must_be_positive(self):
        for amount in (0, -10):
            self._assert_refused(
                {
                    "billing_token_id": self.token.id,
                    "billing_topup_enabled": True,
                    "billing_topup_amount": amount,
                },
                "Top-up Amount",
            )

    def test_threshold_not_below_minus_the_limit(self):
        self._assert_refused(
            {
                "billing_token_id": self.token.id,
                "billing_topup_enabled": True,
                "billing_topup_amount": 50,
                "billing_topup_threshold": -200.01,
            },
            "Top-up Threshold",
        )

    def test_auto_top_up_needs_a_token(self):
        self._assert_refused(
            {"billing_topup_enabled": True, "billing_topup_amount": 50}, "Saved Payment Method"
        )

    def test_token_of_another_customer_refused(self):
        foreign = self._token(self.other)
        self._assert_refused({"billing_token_id": foreign.id}, "another customer")

    def test_archived_token_refused(self):
        archived = self._token(self.customer, provider_ref="old", active=False)
        self._assert_refused({"billing_token_id": archived.id}, "archived")
