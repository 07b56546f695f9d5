"""Running Odoo: finding an Odoo 19.0, its config file, its command line, module installs."""

import argparse
import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import base
from .base import DATA_DIR, REPO, STATE_DIR, CliError, info, rel, stream
from .cluster import PgServer, installed_modules

ADDONS = ("finnsys_billing", "finnsys_billing_portal")
PAYMENT_ADDON = "payment_demo"  # installed first: the portal demo data uses its provider
DB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # the one Odoo enforces
ODOO_INSTALL_HINT = (
    "unset ODOO_BIN and run finnsys.py demo once to install Odoo 19.0 into .finnsys/venv "
    "(then run with .finnsys/venv/bin/python), or set ODOO_BIN to the odoo-bin of a 19.0 "
    "checkout of github.com/odoo/odoo whose requirements this Python has"
)
ODOO_LOG_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) \S+ (?P<logger>[\w.]+): "
)


def reports_odoo_19(command: list[str]) -> bool:
    """True if ``command --version`` answers ``Odoo Server 19.0...``."""
    try:
        result = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.startswith("Odoo Server 19.0")


def find_odoo() -> list[str] | None:
    """The command that runs Odoo 19.0: ODOO_BIN if set, else this Python's ``odoo`` package;
    None when this Python has no Odoo 19.0 (a broken install is as good as none)."""
    odoo_bin = os.environ.get("ODOO_BIN")
    if odoo_bin:
        command = [sys.executable, odoo_bin]
        if not (Path(odoo_bin).is_file() and reports_odoo_19(command)):
            raise CliError(f"ODOO_BIN={odoo_bin} is not an Odoo 19.0 odoo-bin: {ODOO_INSTALL_HINT}")
        return command
    try:
        version = tuple(importlib.import_module("odoo.release").version_info[:2])
    except Exception:
        version = None
    if version == (19, 0):
        script = shutil.which("odoo")
        for command in ([sys.executable, "-m", "odoo"], [script] if script else None):
            if command and reports_odoo_19(command):
                return command
    return None


def detect_odoo() -> list[str]:
    """Like :func:`find_odoo`, for callers that cannot do without (the benchmarks)."""
    odoo = find_odoo()
    if odoo is None:
        raise CliError(f"Odoo 19.0 is not installed: {ODOO_INSTALL_HINT}")
    return odoo


class OdooLogFilter:
    """Pick the Odoo log records worth showing live, with their traceback lines."""

    RESULT_LOGGERS = ("odoo.tests.result", "odoo.tests.stats")

    def __init__(self, levels: tuple[str, ...], results: bool = False, verbose: bool = False):
        self.levels = levels
        self.results = results
        self.verbose = verbose
        self.showing = False

    def __call__(self, line: str) -> bool:
        if self.verbose:
            return True
        record = ODOO_LOG_RECORD.match(line)
        if record:  # continuation lines (tracebacks) follow their record
            self.showing = record["level"] in self.levels or (
                self.results and record["logger"] in self.RESULT_LOGGERS
            )
        return self.showing


def check_db_name(name: str) -> str:
    if not DB_NAME_PATTERN.match(name):
        raise CliError(f"invalid database name {name!r}: use letters, digits, _ . and -")
    return name


def write_odoo_rc(server: PgServer) -> None:
    """A config file for every Odoo run: keeps ~/.odoorc out and tells pytest-odoo where to go."""
    STATE_DIR.mkdir(exist_ok=True)
    DATA_DIR.mkdir(exist_ok=True)
    base.ODOO_RC.write_text(
        "[options]\n"
        f"db_host = {server.host}\n"
        f"db_port = {server.port}\n"
        f"db_user = {server.user}\n"
        f"addons_path = {REPO}\n"
        f"data_dir = {DATA_DIR}\n"
        "http_interface = 127.0.0.1\n"
    )


def odoo_command(odoo: list[str], server: PgServer, database: str, *extra: str) -> list[str]:
    """Odoo's own addons come with it (odoo.addons namespace), so the repo is the addons path."""
    connection = ["--db_host", server.host, "--db_port", str(server.port), "--db_user", server.user]
    paths = ["--addons-path", str(REPO), "--data-dir", str(DATA_DIR)]
    return [*odoo, "-c", str(base.ODOO_RC), *connection, *paths, "-d", database, *extra]


def local_http(port: int) -> list[str]:
    return ["--http-interface", "127.0.0.1", "--http-port", str(port)]


def run_odoo_init(
    odoo: list[str],
    server: PgServer,
    database: str,
    extra: list[str],
    log_path: Path,
    verbose: bool,
    options: tuple[str, ...] = (),
) -> None:
    """Install or upgrade modules (--stop-after-init); errors are shown live. ``options``
    are Odoo options not worth showing (the demo's mail server)."""
    what = " ".join(extra)
    info(f"odoo {what} on {database} (log: {rel(log_path)})")
    command = odoo_command(odoo, server, database, *extra, *options, "--stop-after-init")
    show = OdooLogFilter(("ERROR", "CRITICAL"), verbose=verbose)
    returncode, _ = stream(command, server.env(), log_path, show)
    if returncode != 0:
        raise CliError(
            f"odoo {what} on {database} failed (exit {returncode}): see {rel(log_path)}", code=1
        )


def install_modules(
    odoo: list[str],
    server: PgServer,
    database: str,
    modules: tuple[str, ...],
    args: argparse.Namespace,
    log_path: Path,
    options: tuple[str, ...] = (),
) -> None:
    with_demo = ["--with-demo"] if args.command == "demo" else []  # Odoo 19: demo on request only
    extra = ["-i", ",".join(modules), *with_demo]
    run_odoo_init(odoo, server, database, extra, log_path, args.verbose, options)
    missing = set(modules) - installed_modules(server, database, modules)
    if missing:  # Odoo only warns about module names it cannot find
        raise CliError(
            f"{', '.join(sorted(missing))} did not get installed in {database}: "
            f"see {rel(log_path)}",
            code=1,
        )


def manifest_depends() -> tuple[str, ...]:
    """The modules our addons depend on, besides each other, read from their manifests."""
    depends = set()
    for addon in ADDONS:
        manifest = ast.literal_eval((REPO / addon / "__manifest__.py").read_text())
        depends.update(manifest.get("depends", []))
    return tuple(sorted(depends - set(ADDONS)))
