"""System packages from Debian: what the project needs besides Python packages.

Installed with apt-get when we are root; otherwise, or when apt-get fails, the message says
which package is missing and why it could not be installed (a held dpkg lock is not a
missing package).
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from .base import CliError, info, last_line
from .cluster import pg_bindir

APT_FAILURES = (
    (
        ("Could not get lock", "Unable to acquire the dpkg frontend lock", "dpkg was interrupted"),
        "the dpkg lock is held by another process (an upgrade or another apt-get): wait for it "
        "to finish (or run dpkg --configure -a if it was interrupted) and run again",
    ),
    (
        ("Unable to locate package", "has no installation candidate"),
        "Debian's package lists do not have it: check /etc/apt/sources.list (main) and run again",
    ),
    (
        ("Temporary failure resolving", "Failed to fetch", "Unable to connect"),
        "the Debian mirror cannot be reached: check the network or the proxy and run again",
    ),
    (("No space left on device",), "the disk is full: free some space and run again"),
)


def missing_tools() -> dict[str, str]:
    """Debian package -> what needs it, for the tools the demo and the tests use."""
    missing = {}
    if not shutil.which("chromium"):
        missing["chromium"] = "the browser tests (tours) run in headless Chromium"
    if not shutil.which("wkhtmltopdf"):
        missing["wkhtmltopdf"] = "Odoo renders PDF invoices with wkhtmltopdf"
    try:
        pg_bindir(server_tools=True)
    except CliError:
        missing["postgresql"] = "the project runs a private PostgreSQL cluster"
    return missing


def missing_build_tools() -> dict[str, str]:
    """Debian package -> why, for building Odoo's requirements that have no wheel here."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    missing = {}
    if importlib.util.find_spec("ensurepip") is None:
        missing[f"{version}-venv"] = "Debian's Python creates virtualenvs with it"
    if not shutil.which("cc"):
        missing["build-essential"] = "a C compiler, for psycopg2"
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        missing[f"{version}-dev"] = "Python's headers, for psycopg2"
    if not shutil.which("pg_config"):
        missing["libpq-dev"] = "PostgreSQL's client headers, for psycopg2"
    if not shutil.which("git") and not os.environ.get("FINNSYS_ODOO_SOURCE"):
        missing["git"] = "Odoo's source is downloaded with git"
    return missing


def ensure_system_tools() -> None:
    """Chromium, wkhtmltopdf and PostgreSQL must be there: without them, stop and say why."""
    missing = install_missing(missing_tools(), missing_tools)
    if missing:
        raise CliError(f"{missing} (or pass --no-install to skip this check)")


def ensure_build_tools() -> None:
    """What building Odoo's requirements may need; missing, it is only worth a warning (wheels
    may do without), and a failed build says again what to install."""
    missing = install_missing(missing_build_tools(), missing_build_tools)
    if missing:
        info(f"warning: {missing}; building Odoo's requirements may fail")


def install_missing(needed: dict[str, str], check) -> str | None:
    """apt-get install what is missing when we can; return what is still missing, and why,
    as a sentence (None when nothing is)."""
    if not needed:
        return None
    packages = sorted(needed)
    if os.geteuid() != 0:
        reason = f"not root: as root, apt-get install {' '.join(packages)}"
    elif not shutil.which("apt-get"):
        reason = f"no apt-get here: install {', '.join(packages)} with the system's packages"
    else:
        reason = apt_get_install(packages)
        needed = check()
        if not needed:
            return None
    details = "; ".join(f"{package}: {why}" for package, why in sorted(needed.items()))
    return f"missing {', '.join(sorted(needed))} ({details}), not installed: {reason}"


def apt_get_install(packages: list[str]) -> str:
    """Run apt-get update and install; return why it failed (empty when it did not)."""
    info(f"installing {' '.join(packages)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    output = ""
    for command in (["update", "-q"], ["install", "-y", "-q", *packages]):
        result = subprocess.run(
            ["apt-get", *command], env=env, capture_output=True, text=True, errors="replace"
        )
        output += result.stdout + result.stderr
        if result.returncode != 0 and command[0] == "install":
            break
    return f"apt-get failed: {apt_failure_cause(output)}"


def apt_failure_cause(output: str) -> str:
    for needles, cause in APT_FAILURES:
        if any(needle in output for needle in needles):
            return cause
    return last_line(output)
