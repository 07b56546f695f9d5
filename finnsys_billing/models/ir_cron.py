import threading
import time

from odoo import api, models
from odoo.tools import config

from odoo.addons.base.models.ir_cron import MIN_TIME_PER_JOB

# Share of the cron's real time limit a job run may spend starting new batches: the batch
# under way when the budget runs out must still finish before the server kills the worker.
BUDGET_SHARE = 0.75


class IrCron(models.Model):
    """The time budget of FinnSys's batch jobs.

    Odoo 19's ``_commit_progress`` answers the time left of a 10-second slice, after which the
    job is queued again behind the other jobs. FinnSys's jobs (top-ups, reminders,
    subscription invoices, snapshots) are due once a day or a quarter-hour and are meant to
    finish in one run: they keep committing batches until nothing is left or three quarters
    of the cron's real time limit (``--limit-time-real-cron``, else ``--limit-time-real``) are
    spent. What is left then is picked up at once by the next run, as Odoo does.
    """

    _inherit = "ir.cron"

    @api.model
    def _finnsys_time_limit(self):
        """Seconds a cron worker may run before the server stops it, or ``None`` (no limit)."""
        limit = config["limit_time_real_cron"]
        if limit is not None and limit < 0:
            limit = config["limit_time_real"]
        return limit if limit and limit > 0 else None

    @api.model
    def _finnsys_has_time(self):
        """Whether this job run may start another batch (always, outside a job run).

        The time limit covers the cron thread's whole pass over the database's due jobs, not
        one job: a job that follows another in the same pass has only what is left of it.
        (Odoo's multi-process cron workers do not say when their pass started: there each job
        counts from its own start, and a job cut short by the limit is rolled back to its last
        committed batch and resumed by the next run.)"""
        end_of_slice = self.env.context.get("cron_end_time")
        limit = self._finnsys_time_limit()
        if end_of_slice is None or limit is None:
            return True
        elapsed = time.monotonic() - (end_of_slice - MIN_TIME_PER_JOB)
        thread = threading.current_thread()
        if getattr(thread, "type", None) == "cron" and getattr(thread, "start_time", None):
            elapsed = max(elapsed, time.time() - thread.start_time)
        return elapsed < limit * BUDGET_SHARE

    @api.model
    def _finnsys_commit_batch(self, processed=0, remaining=None):
        """Commit a batch and its progress; return whether another batch may start."""
        self._commit_progress(processed, remaining=remaining)
        return self._finnsys_has_time()
