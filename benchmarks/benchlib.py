"""Shared set-up of the benchmarks: a throwaway database on the project's PostgreSQL.

Benchmarks print figures as ratios against a baseline measured in the same run; they never
assert on time. Run them with ``python3 benchmarks/<name>.py`` from the repository root.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import finnsys  # noqa: E402 - the project's CLI knows how to reach PostgreSQL and Odoo


def _server_args():
    """The project cluster, or the server that FINNSYS_DB_HOST/_PORT/_USER/_PASSWORD name."""
    port = os.environ.get("FINNSYS_DB_PORT")
    return argparse.Namespace(
        db_host=os.environ.get("FINNSYS_DB_HOST"),
        db_port=int(port) if port else None,
        db_user=os.environ.get("FINNSYS_DB_USER"),
        db_password=os.environ.get("FINNSYS_DB_PASSWORD"),
        pg_port=None,
        command="bench",
        verbose=False,
    )


@contextlib.contextmanager
def bench_server():
    """Yield the PostgreSQL server of the benchmarks.

    Each run writes an Odoo config file of its own: benchmarks running side by side (or on
    another server) must not read each other's.
    """
    finnsys.base.ODOO_RC = finnsys.STATE_DIR / f"odoo-bench-{os.getpid()}.rc"
    with finnsys.database_server(_server_args()) as server:
        finnsys.write_odoo_rc(server)
        try:
            yield server
        finally:
            finnsys.base.ODOO_RC.unlink(missing_ok=True)


@contextlib.contextmanager
def bench_database(server, name, modules=("finnsys_billing",)):
    """Yield the name of a fresh database with ``modules`` installed; dropped at the end."""
    database = f"{os.environ.get('FINNSYS_BENCH_PREFIX', 'finnsys_bench')}_{name}_{os.getpid()}"
    finnsys.drop_database(server, database)
    finnsys.create_database(server, database)
    try:
        finnsys.install_modules(
            finnsys.detect_odoo(),
            server,
            database,
            tuple(modules),
            _server_args(),
            finnsys.STATE_DIR / f"bench-{name}.log",
        )
        yield database
    finally:
        close_environment(database)
        finnsys.drop_database(server, database)


@contextlib.contextmanager
def copy_database(server, source, name):
    """Yield the name of a copy of ``source`` (nobody may be connected to it); dropped at the
    end. PostgreSQL copies the files: far faster than building the same data twice."""
    database = f"{os.environ.get('FINNSYS_BENCH_PREFIX', 'finnsys_bench')}_{name}_{os.getpid()}"
    finnsys.drop_database(server, database)
    command = [server.tool("createdb"), "-T", source, database]
    result = subprocess.run(command, capture_output=True, text=True, env=server.env())
    if result.returncode != 0:
        raise finnsys.CliError(f"createdb -T {source} failed: {finnsys.last_line(result.stderr)}")
    filestore = finnsys.DATA_DIR / "filestore"
    if (filestore / source).is_dir():
        shutil.copytree(filestore / source, filestore / database)
    try:
        yield database
    finally:
        close_environment(database)
        finnsys.drop_database(server, database)


@contextlib.contextmanager
def bench_environment(name, modules=("finnsys_billing",)):
    """Yield a superuser environment on a fresh database with ``modules`` installed."""
    with bench_server() as server, bench_database(server, name, modules) as database:
        yield open_environment(database)


def open_environment(database):
    """A superuser environment on ``database`` (of the server ``bench_server`` yielded)."""
    import odoo  # noqa: PLC0415 - only once the config points at the benchmark database
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-c", str(finnsys.base.ODOO_RC), "-d", database, "--log-level", "warn"])
    registry = Registry(database)
    cr = registry.cursor()
    return odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})


def close_environment(database):
    """Forget the registry of ``database`` and close every connection of this process."""
    if "odoo.modules.registry" not in sys.modules:
        return
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.sql_db import close_all  # noqa: PLC0415

    Registry.delete(database)
    close_all()


class Meter:
    """Counts SQL queries and wall time of a block."""

    def __enter__(self):
        from odoo import sql_db  # noqa: PLC0415

        self._sql_db = sql_db
        self.queries = sql_db.sql_counter
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        self.queries = self._sql_db.sql_counter - self.queries

    def queries_per(self, count):
        """Queries per item of the ``count`` items the block processed."""
        return self.queries / max(count, 1)

    def ms_per(self, count):
        """Milliseconds per item of the ``count`` items the block processed."""
        return self.seconds * 1000 / max(count, 1)


def seconds_of(function, *args):
    """The seconds ``function(*args)`` takes (data set-up: its result is not needed)."""
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def queries_per_item(bench_size, small, large):
    """Run ``bench_size(count, prefix)`` (it returns its meter and the items it processed) on
    ``small`` then on ``large`` customers: the queries per item of each run."""
    small_meter, small_done = bench_size(small, "Small")
    large_meter, large_done = bench_size(large, "Large")
    return small_meter.queries_per(small_done), large_meter.queries_per(large_done)


def setup_company(env):
    """Give the main company a chart of accounts (benchmark databases have no demo data)."""
    company = env.company
    if not company.chart_template:
        env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
    company.account_use_credit_limit = True
    return company


def size_options(description, small, large, large_flag="--large", items="customers"):
    """The options of a batch benchmark: the sizes of its small and large runs (``large``
    also under ``large_flag``) and the cron time limit they run under."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", type=int, default=small, help=f"{items} of the small run")
    parser.add_argument(
        large_flag, dest="large", type=int, default=large, help=f"{items} of the large run"
    )
    parser.add_argument("--cron-time-limit", type=int, default=CRON_TIME_LIMIT, help="seconds")
    return parser.parse_args()


def make_customers(env, count, prefix, billing_mode="postpaid"):
    """``count`` customer companies named "<prefix> 00000"... with an e-mail address."""
    slug = prefix.lower().replace(" ", "-")
    return env["res.partner"].create(
        [
            {
                "name": f"{prefix} {n:05d}",
                "email": f"{slug}-{n}@bench.example",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": billing_mode,
            }
            for n in range(count)
        ]
    )


def post_invoices(env, partners, invoice_date, per_partner=1, batch=500):
    """Post ``per_partner`` invoices of 10.00 dated ``invoice_date`` to each of ``partners``,
    ``batch`` at a time, each batch committed; returns the invoices."""
    from odoo.fields import Command  # noqa: PLC0415 - odoo is importable once benchlib is

    # Data set-up only: no chatter tracking on the generated invoices.
    moves = env["account.move"].with_context(tracking_disable=True)
    values = [
        {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "invoice_date": invoice_date,
            "invoice_line_ids": [Command.create({"name": "Usage", "price_unit": 10.0})],
        }
        for partner in partners
        for _n in range(per_partner)
    ]
    invoices = moves
    for start in range(0, len(values), batch):
        posted = moves.create(values[start : start + batch])
        posted.action_post()
        invoices |= posted
        env.cr.commit()
    return invoices


# The cron time limit the batch benchmarks run under: what "Running in production" in the
# README advises for daily batches of this size (--limit-time-real-cron).
CRON_TIME_LIMIT = 1800


def cron_time_limit(seconds):
    """Run this process's cron jobs under ``seconds`` of real time (Odoo's
    ``--limit-time-real-cron``), the budget FinnSys's batch jobs plan their batches in."""
    from odoo.tools import config  # noqa: PLC0415 - odoo is importable once benchlib is

    config["limit_time_real_cron"] = seconds
    return seconds


@contextlib.contextmanager
def cron_callbacks(env, cron):
    """Yield what the scheduled action ``cron`` does while the block runs: after it,
    ``records`` are its callbacks (one committed ``ir.cron.progress`` each, ``done`` = items)
    and ``longest`` the longest of them in seconds. The job runs in cursors of its own: they
    are read from a fresh snapshot."""
    Progress = env["ir.cron.progress"]
    last = Progress.search([], order="id desc", limit=1).id or 0
    env.cr.commit()
    seen = types.SimpleNamespace(records=Progress.browse(), longest=0.0)
    yield seen
    env.cr.commit()
    env.invalidate_all()
    seen.records = Progress.search([("cron_id", "=", cron.id), ("id", ">", last)])
    seen.longest = max(
        ((p.write_date - p.create_date).total_seconds() for p in seen.records), default=0.0
    )


def run_cron_job(env, cron):
    """Start the scheduled action ``cron`` once, the way a cron worker does (Odoo's job
    runner), with no trigger left from before. Returns the meter of the run, its callbacks
    (as ``cron_callbacks`` yields them) and whether the job queued itself again for the rest
    (it does not when it finished inside the cron's time limit)."""
    from odoo.fields import Domain  # noqa: PLC0415 - odoo is importable once benchlib is

    triggers = env["ir.cron.trigger"]
    triggers.search(Domain("cron_id", "=", cron.id)).unlink()
    with cron_callbacks(env, cron) as callbacks, Meter() as meter:
        cron.method_direct_trigger()
    queued_again = bool(triggers.search_count(Domain("cron_id", "=", cron.id)))
    return meter, callbacks, queued_again


def job_summary(meter, callbacks, queued_again):
    """How one job run went, for the benchmark's line of figures."""
    return (
        f"one job run of {meter.seconds:.0f} s, {len(callbacks.records)} callback(s) "
        f"(longest {callbacks.longest:.1f} s), "
        f"{'queued again for the rest' if queued_again else 'nothing left'}"
    )
