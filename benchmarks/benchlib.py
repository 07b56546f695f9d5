"""Shared set-up of the benchmarks: a throwaway database on the project's PostgreSQL.

Benchmarks print figures as ratios against a baseline measured in the same run; they never
assert on time. Run them with ``python3 benchmarks/<name>.py`` from the repository root.
"""

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import finnsys  # noqa: E402 - the project's CLI knows how to reach PostgreSQL and Odoo


@contextlib.contextmanager
def bench_environment(name, modules=("finnsys_billing",)):
    """Yield a superuser environment on a fresh database with ``modules`` installed."""
    odoo_cmd = finnsys.detect_odoo()
    args = argparse.Namespace(
        db_host=None,
        db_port=None,
        db_user=None,
        db_password=None,
        pg_port=None,
        command="bench",
        verbose=False,
    )
    database = f"finnsys_bench_{name}_{os.getpid()}"
    with finnsys.database_server(args) as server:
        finnsys.write_odoo_rc(server)
        finnsys.drop_database(server, database)
        finnsys.create_database(server, database)
        try:
            finnsys.install_modules(
                odoo_cmd,
                server,
                database,
                tuple(modules),
                args,
                finnsys.STATE_DIR / f"bench-{name}.log",
            )
            yield _environment(server, database)
        finally:
            _close_registry(database)
            finnsys.drop_database(server, database)


def _environment(server, database):
    import odoo  # noqa: PLC0415 - only once the config points at the benchmark database
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(["-c", str(finnsys.ODOO_RC), "-d", database, "--log-level", "warn"])
    registry = Registry(database)
    cr = registry.cursor()
    return odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})


def _close_registry(database):
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


def setup_company(env):
    """Give the main company a chart of accounts (benchmark databases have no demo data)."""
    company = env.company
    if not company.chart_template:
        env["account.chart.template"].try_loading("generic_coa", company, install_demo=False)
    company.account_use_credit_limit = True
    return company
