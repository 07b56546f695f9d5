from freezegun import freeze_time

from odoo.fields import Domain
from odoo.tests import tagged

from .test_topup import TopupCommon

TODAY = "2026-02-10"


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestLowBalance(TopupCommon):
    """Prepaid customers without auto top-up are warned once per crossing, with a forecast."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.billing_low_balance_days = 7
        cls.customer.billing_topup_enabled = False
        cls.payg = cls._customer("Pay As You Go", "prepaid", email="payg@customer.example")

    def _warnings(self, partner=None):
        return self._mails("running low", partner or self.payg)

    def test_forecast_from_the_last_30_days_is_shown(self):
        self._receive(self.payg, 400, date="2026-01-05")
        # 2026-01-05 is outside the window (11 Jan - 10 Feb); 300 over 30 days is 10 a day.
        self._invoice(self.payg, 60, date="2026-01-05")
        self._invoice(self.payg, 100, date="2026-01-20")
        self._invoice(self.payg, 200, date="2026-02-09")
        self.assertEqual(self.payg.billing_balance, 40.0)
        self.assertAlmostEqual(self.payg.billing_daily_consumption, 10.0)
        self.assertEqual(self.payg.billing_days_left, 4)

    def test_one_warning_per_crossing(self):
        self._receive(self.payg, 400, date="2026-01-05")
        self._invoice(self.payg, 240, date="2026-01-20")
        # Balance 160 at 8 a day: 20 days left, nothing to say.
        self._run_cron(f"{TODAY} 08:00:00")
        self.assertFalse(self._warnings())

        self._invoice(self.payg, 110, date="2026-02-09")
        # Balance 50 at 11.67 a day: 4 days left.
        self._run_cron(f"{TODAY} 08:15:00")
        mail = self._warnings()
        self.assertEqual(len(mail), 1)
        self.assertIn("about <strong>4</strong> days of credit left", mail.body_html)
        self.assertTrue(self.payg.billing_low_balance_notified)
        self._run_cron(f"{TODAY} 08:30:00")
        self.assertEqual(len(self._warnings()), 1, "still low: no second warning")

        self._receive(self.payg, 500, date=TODAY)
        self._run_cron(f"{TODAY} 08:45:00")
        self.assertFalse(self.payg.billing_low_balance_notified)
        self._invoice(self.payg, 520, date=TODAY)
        self._run_cron(f"{TODAY} 09:00:00")
        self.assertEqual(len(self._warnings()), 2, "a new crossing warns again")

    def test_auto_top_up_customers_are_not_warned(self):
        self.customer.billing_topup_enabled = True
        self._receive(self.customer, 500, date="2026-02-01")
        # Balance 30, above the threshold of 20, but under 2 days of credit left.
        self._invoice(self.customer, 470, date="2026-02-01")
        self._run_cron(f"{TODAY} 08:00:00")
        self.assertFalse(self._warnings(self.customer))
        self.customer.billing_topup_enabled = False
        self._run_cron(f"{TODAY} 08:15:00")
        self.assertEqual(len(self._warnings(self.customer)), 1)

    def test_customer_without_email_is_skipped_and_counted(self):
        self.payg.email = False
        self._receive(self.payg, 100, date="2026-01-20")
        self._invoice(self.payg, 90, date="2026-01-20")
        result = self._run_method(f"{TODAY} 08:00:00")
        self.assertEqual(result.get("no_email"), 1)
        self.assertFalse(self.payg.billing_low_balance_notified)
        self.assertFalse(
            self.env["mail.mail"]
            .search(Domain("subject", "ilike", "running low"))
            .filtered(lambda m: self.payg in m.recipient_ids)
        )
