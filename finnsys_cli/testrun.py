"""``finnsys.py test``: the Odoo tests, then pytest-odoo, on one throwaway database."""

import argparse
import os
import secrets
import sys
from pathlib import Path

from . import base
from .base import PYTEST_DIR, PYTEST_LOG, REPO, TEST_LOG, free_port, info, rel, stream
from .cluster import PgServer, create_database, database_server, drop_database, installed_modules
from .odoo import (
    ADDONS,
    PAYMENT_ADDON,
    OdooLogFilter,
    install_modules,
    local_http,
    odoo_command,
    write_odoo_rc,
)
from .tally import Tally, odoo_tally, pytest_tally


def run_odoo_tests(
    odoo: list[str], server: PgServer, database: str, args: argparse.Namespace
) -> Tally:
    tags = args.tags or ",".join(f"/{name}" for name in ADDONS)
    testing = ["--test-enable", "--test-tags", tags, "--log-level", "info", "--stop-after-init"]
    install = ["-i", ",".join(ADDONS)]
    command = odoo_command(odoo, server, database, *install, *testing, *local_http(free_port()))
    info(f"running the Odoo tests ({tags}; full log: {rel(TEST_LOG)})")
    show = OdooLogFilter(("WARNING", "ERROR", "CRITICAL"), results=True, verbose=args.verbose)
    return odoo_tally(*stream(command, server.env(), TEST_LOG, show))


def pytest_env(server: PgServer) -> dict[str, str]:
    """pytest imports odoo: with ODOO_BIN, that means its checkout must be on PYTHONPATH."""
    env = server.env()
    odoo_bin = os.environ.get("ODOO_BIN")
    if odoo_bin:
        paths = [str(Path(odoo_bin).resolve().parent), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return env


def run_pytest(server: PgServer, database: str, args: argparse.Namespace) -> Tally:
    if not any(PYTEST_DIR.rglob("test_*.py")) and not any(PYTEST_DIR.rglob("*_test.py")):
        info(f"no pytest tests in {rel(PYTEST_DIR)}/: skipped")
        return Tally()
    plugin = ["--odoo-database", database, "--odoo-addons-path", str(REPO)]
    plugin += ["--odoo-config", str(base.ODOO_RC), "--odoo-http"]
    selection = (["-k", args.k] if args.k else []) + (["-v"] if args.verbose else [])
    selection += ["--finnsys-long"] if args.long else []
    selection += ["--finnsys-slow"] if args.slow else []
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin, *selection]
    command.append(str(PYTEST_DIR))
    info(f"running pytest on {rel(PYTEST_DIR)}/ (log: {rel(PYTEST_LOG)})")
    PYTEST_LOG.write_text("")
    return pytest_tally(*stream(command, pytest_env(server), PYTEST_LOG, lambda line: True))


def run_test_suites(
    odoo: list[str], server: PgServer, database: str, args: argparse.Namespace
) -> Tally:
    """Both runners on one throwaway database, which is dropped whatever happens."""
    TEST_LOG.write_text("")
    try:
        create_database(server, database)
        install_modules(odoo, server, database, (PAYMENT_ADDON,), args, TEST_LOG)
        tally = run_odoo_tests(odoo, server, database, args)
        missing = set(ADDONS) - installed_modules(server, database, ADDONS)
        if missing:
            info(f"{', '.join(sorted(missing))} did not get installed (a failure): pytest skipped")
            tally.failed = max(tally.failed, 1)
            return tally
        return tally + run_pytest(server, database, args)
    finally:
        if args.keep_db:
            info(f"kept database {database} (--keep-db)")
        else:
            drop_database(server, database)


def cmd_test(args: argparse.Namespace, odoo: list[str]) -> int:
    database = f"finnsys_test_{os.getpid()}_{secrets.token_hex(3)}"
    with database_server(args) as server:
        write_odoo_rc(server)
        tally = run_test_suites(odoo, server, database, args)
    if tally.passed + tally.failed == 0:
        print("finnsys: no test ran, which counts as a failure")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed or not tally.passed else 0
