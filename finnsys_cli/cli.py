"""FinnSys developer CLI for the FinnSys Odoo 19 addons.

    python3 finnsys.py demo [options]   install or upgrade the demo database, then serve it
    python3 finnsys.py test [options]   run the Odoo and pytest-odoo suites on a throwaway database
    python3 finnsys.py readme           render the addons' README.rst and index.html from readme/
    python3 finnsys.py pot              export the addons' translation templates (i18n/*.pot)

Odoo 19.0 comes from the Python running this script, from ODOO_BIN, or else from a virtualenv
in .finnsys/venv that the first run builds from Odoo's official 19.0 source (or from
FINNSYS_ODOO_SOURCE: a git URL, a git repository or a source directory).
"""

import argparse
import os
import signal
import subprocess
import sys
from typing import NoReturn

from . import installer
from .addon_readme import cmd_readme
from .base import ENTRY_POINT, REPO, CliError, info, port_number, raise_interrupt
from .demo import DEFAULT_DEMO_DB, cmd_demo
from .i18n import cmd_pot
from .odoo import find_odoo
from .system import ensure_system_tools
from .testrun import cmd_test


def common_options() -> argparse.ArgumentParser:
    """Options shared by demo and test."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--no-install",
        action="store_true",
        help="install nothing: no pip, no apt-get, no Odoo (an Odoo installed before is used)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="show all of Odoo's output")
    common.add_argument(
        "--pg-port",
        type=port_number,
        help="port of the project PostgreSQL cluster (default: PGPORT, else free)",
    )
    server = common.add_argument_group("use an existing PostgreSQL server, not the project cluster")
    server.add_argument("--db-host", help="default: localhost")
    server.add_argument("--db-port", type=port_number, help="default: 5432")
    server.add_argument("--db-user", help="default: PGUSER, else odoo")
    server.add_argument("--db-password", help="default: none (PGPASSWORD and ~/.pgpass apply)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="finnsys.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", parents=[common], help="install/upgrade and serve the demo")
    demo.add_argument("--database", default=DEFAULT_DEMO_DB, help="default: %(default)s")
    demo.add_argument("--http-port", type=port_number, help="default: 8069 if free, else any")
    demo.add_argument(
        "--no-serve",
        "--stop-after-init",
        dest="no_serve",
        action="store_true",
        help="install or upgrade only, do not start the server",
    )
    demo.add_argument(
        "--replica",
        action="store_true",
        help="also start a read replica (hot standby) of the cluster and serve reads from it",
    )
    demo.set_defaults(handler=cmd_demo)
    readme = commands.add_parser(
        "readme",
        parents=[common],
        help="render each addon's readme/ fragments into README.rst and index.html",
    )
    readme.add_argument("--check", action="store_true", help="fail if a file is out of date")
    readme.set_defaults(handler=cmd_readme)
    pot = commands.add_parser(
        "pot",
        parents=[common],
        help="export each addon's translation template i18n/<addon>.pot from a scratch database",
    )
    pot.set_defaults(handler=cmd_pot)
    test = commands.add_parser("test", parents=[common], help="run the test suites")
    test.add_argument("--keep-db", action="store_true", help="keep the test database")
    test.add_argument("--tags", help="Odoo --test-tags (default: /finnsys_billing,...)")
    test.add_argument("-k", metavar="EXPRESSION", help="pytest -k expression")
    test.add_argument(
        "--long",
        action="store_true",
        help="also run the long variants of tests/reliability (more rounds and examples)",
    )
    test.add_argument(
        "--slow",
        action="store_true",
        help="also run the slow tests (building Odoo's virtualenv from FINNSYS_ODOO_SOURCE)",
    )
    test.set_defaults(handler=cmd_test)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        odoo = find_odoo()
        if odoo is None:
            if not args.no_install:
                ensure_system_tools()  # before the long build, so a missing browser is said now
            run_in_venv(installer.project_python(install=not args.no_install), argv)
        if not args.no_install:
            install_requirements()
        return args.handler(args, odoo)
    except CliError as error:
        print(f"finnsys: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("finnsys: interrupted", file=sys.stderr)
        return 130


def install_requirements() -> None:
    """requirements.txt in this Python (in the project's virtualenv only when it changed),
    then the system tools."""
    if installer.in_project_venv():
        installer.install_project_requirements()
    else:
        info("installing Python requirements (requirements.txt)")
        env = dict(os.environ, **installer.PIP_ENV)
        requirements = str(REPO / "requirements.txt")
        command = [sys.executable, "-m", "pip", "install", "-q", "-r", requirements]
        if subprocess.run(command, env=env).returncode != 0:
            raise CliError("pip install -r requirements.txt failed (see pip's output above)")
    ensure_system_tools()


def run_in_venv(python, argv: list[str]) -> NoReturn:
    """The same command again, in the project's virtualenv (which has Odoo 19.0)."""
    info(f"running again in {python}")
    os.execv(python, [str(python), str(ENTRY_POINT), *argv])
