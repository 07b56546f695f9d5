#!/usr/bin/env python3
"""FinnSys developer CLI for the FinnSys Odoo 19 addons.

    python3 finnsys.py demo [options]   install or upgrade the demo database, then serve it
    python3 finnsys.py test [options]   run the Odoo and pytest-odoo suites on a throwaway database
    python3 finnsys.py readme           render the addons' readme/ into README.rst, index.html

Everything the script creates lives in ``.finnsys/`` next to this file: a private PostgreSQL
cluster (unless --db-host/--db-port/--db-user points to an existing server), the Odoo data
directory and the logs, and, when the Python running it has no Odoo 19.0, a virtualenv with
Odoo 19.0 built from its official source (``FINNSYS_ODOO_SOURCE`` names another source).
It uses the standard library only, because it runs before any requirement is installed. The
code is in ``finnsys_cli/``; the names below are the ones the benchmarks use.
"""

import sys

from finnsys_cli import base
from finnsys_cli.base import (
    DATA_DIR,
    REPO,
    STATE_DIR,
    CliError,
    free_port,
    last_line,
    raise_interrupt,
    signals_ignored,
    stop_process,
)
from finnsys_cli.cli import main
from finnsys_cli.cluster import create_database, database_server, drop_database
from finnsys_cli.odoo import (
    ODOO_LOG_RECORD,
    detect_odoo,
    install_modules,
    local_http,
    odoo_command,
    write_odoo_rc,
)

__all__ = [
    "DATA_DIR",
    "ODOO_LOG_RECORD",
    "REPO",
    "STATE_DIR",
    "CliError",
    "base",
    "create_database",
    "database_server",
    "detect_odoo",
    "drop_database",
    "free_port",
    "install_modules",
    "last_line",
    "local_http",
    "odoo_command",
    "raise_interrupt",
    "signals_ignored",
    "stop_process",
    "write_odoo_rc",
]

if __name__ == "__main__":
    sys.exit(main())
