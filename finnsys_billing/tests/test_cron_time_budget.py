import threading
import time
from unittest.mock import patch

from freezegun import freeze_time

from odoo.fields import Domain
from odoo.tests import tagged
from odoo.tools import config

from odoo.addons.base.models import ir_cron as odoo_ir_cron
from odoo.addons.finnsys_billing.models import ir_cron as finnsys_ir_cron

from .common import BillingCommon

DUE = "2026-03-10"
CUSTOMERS = 15


class SlowClock:
    """``time`` as the cron code sees it, where each reading of the clock is ``step`` seconds
    after the previous one: a batch job of a few seconds looks like one of minutes."""

    def __init__(self, step):
        self.step = step
        self.elapsed = 0.0

    def monotonic(self):
        self.elapsed += self.step
        return time.monotonic() + self.elapsed

    def __getattr__(self, name):
        return getattr(time, name)


@tagged("post_install", "-at_install")
class TestCronTimeBudget(BillingCommon):
    """A due batch job finishes in one run while it has time, and hands the rest over to the
    next run when three quarters of the cron's time limit are spent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.billing_reminder_group = False
        cls.cron = cls.env.ref("finnsys_billing.ir_cron_send_reminders")
        # One customer per batch: fifteen batches. Odoo's own 10 s slices would take two runs.
        cls.cron.code = "model._cron_send_reminders(batch_size=1)"
        cls.invoices = cls.env["account.move"]
        for n in range(CUSTOMERS):
            customer = cls._customer(f"Slow Payer {n}", "postpaid", email=f"ap{n}@slow.example")
            cls.invoices |= cls._invoice(customer, 100, date=DUE)

    def _run_job(self, clock):
        Trigger = self.env["ir.cron.trigger"]
        Trigger.search(Domain("cron_id", "=", self.cron.id)).unlink()
        with (
            freeze_time(DUE),
            self.enter_registry_test_mode(),
            patch.dict(config.options, {"limit_time_real_cron": 120}),
            patch.object(odoo_ir_cron, "time", clock),
            patch.object(finnsys_ir_cron, "time", clock),
        ):
            self.cron.method_direct_trigger()
        self.env.invalidate_all()
        sent = self.env["finnsys.reminder.log"].search_count(
            Domain("move_id", "in", self.invoices.ids) & Domain("state", "=", "sent")
        )
        queued_again = bool(Trigger.search_count(Domain("cron_id", "=", self.cron.id)))
        return sent, queued_again

    def test_one_run_sends_every_batch_within_the_time_limit(self):
        # Each batch looks like ~4 s: past Odoo's 10 s slice, well inside 90 s of 120 s.
        sent, queued_again = self._run_job(SlowClock(step=2))
        self.assertEqual(sent, CUSTOMERS, "every reminder went out in one run")
        self.assertFalse(queued_again, "nothing left for another run")

    def test_spent_budget_hands_the_rest_to_the_next_run(self):
        # Each batch looks like ~80 s: the first one spends the 90 s budget.
        sent, queued_again = self._run_job(SlowClock(step=40))
        self.assertLess(sent, CUSTOMERS)
        self.assertGreater(sent, 0)
        self.assertTrue(queued_again, "the job is queued again at once for the rest")
        sent, _queued_again = self._run_job(SlowClock(step=2))
        self.assertEqual(sent, CUSTOMERS, "the next run sent the rest, none twice")
        self.assertEqual(
            self.env["mail.mail"].search_count(
                Domain("model", "=", "account.move") & Domain("res_id", "in", self.invoices.ids)
            ),
            CUSTOMERS,
        )

    def test_a_job_after_a_long_one_has_only_what_is_left_of_the_pass(self):
        # The cron thread has been busy for 100 s of its 120 s with another job of this pass.
        thread = threading.current_thread()
        saved = {name: getattr(thread, name, None) for name in ("type", "start_time")}
        with freeze_time(DUE):  # the job runs on that day: its clock says so
            thread.type, thread.start_time = "cron", time.time() - 100
        try:
            sent, queued_again = self._run_job(SlowClock(step=0.001))
        finally:
            for name, value in saved.items():
                setattr(thread, name, value)
        self.assertEqual(sent, 0, "no batch started past the budget")
        self.assertTrue(queued_again)
        sent, _queued_again = self._run_job(SlowClock(step=0.001))
        self.assertEqual(sent, CUSTOMERS)
