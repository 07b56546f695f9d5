"""``finnsys.py pot``: each addon's ``i18n/<addon>.pot``, exported from a scratch database.

Odoo collects the translatable terms (field labels, selection values, views, QWeb templates,
``_()`` calls) only from a database where the addon is installed, so the command installs both
addons into a throwaway database without demo data, runs ``odoo i18n export`` and drops the
database. Translators start a ``<lang>.po`` from the template with Odoo's usual tools.
"""

import argparse
import subprocess

from .addon_readme import ADDONS
from .base import ODOO_RC, STATE_DIR, CliError, info, rel
from .cluster import create_database, database_server, drop_database
from .odoo import install_modules, write_odoo_rc

POT_DB = "finnsys_pot"
POT_LOG = STATE_DIR / "odoo-pot.log"


def export_pot(odoo: list[str], server, database: str) -> None:
    command = [*odoo, "i18n", "export", "-c", str(ODOO_RC), "-d", database, *ADDONS]
    with POT_LOG.open("a") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=server.env())
    if result.returncode != 0:
        raise CliError(f"odoo i18n export failed (exit {result.returncode}): see {rel(POT_LOG)}")


def cmd_pot(args: argparse.Namespace, odoo: list[str]) -> int:
    with database_server(args) as server:
        write_odoo_rc(server)
        drop_database(server, POT_DB)
        create_database(server, POT_DB)
        try:
            install_modules(odoo, server, POT_DB, ADDONS, args, POT_LOG)
            export_pot(odoo, server, POT_DB)
        finally:
            drop_database(server, POT_DB)
    for addon in ADDONS:
        info(f"wrote {addon}/i18n/{addon}.pot")
    return 0
