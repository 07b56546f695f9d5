"""Odoo 19.0 in a project virtualenv, for a Python that has none.

When this Python cannot import Odoo 19.0 and ODOO_BIN is not set, ``demo`` and ``test`` build
``.finnsys/venv``: Odoo's official 19.0 source (or ``FINNSYS_ODOO_SOURCE``), Odoo's Python
requirements with the pins below, Odoo itself, then the project's requirements.txt, and run
again in it. Each step records what it was done with, so a second run reuses it.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .base import REPO, STATE_DIR, CliError, duration, info, last_line, rel
from .system import ensure_build_tools

OFFICIAL_SOURCE = "https://github.com/odoo/odoo.git"
ODOO_BRANCH = "19.0"
VENV_DIR = STATE_DIR / "venv"
VENV_PYTHON = VENV_DIR / "bin" / "python"
STEPS_FILE = STATE_DIR / "venv-steps.json"
SOURCE_DIR = STATE_DIR / "odoo-src"
SOURCE_RECORD = STATE_DIR / "odoo-source.txt"
INSTALL_LOG = STATE_DIR / "install.log"
PROJECT_REQUIREMENTS = REPO / "requirements.txt"
ODOO_RELEASE = re.compile(r"^version_info = \((\d+), (\d+),", re.MULTILINE)
# What an earlier build left at the top of a source directory: pip would pack it again.
TOP_LEFTOVERS = {".git", "build", "dist", "odoo.egg-info"}
ODOO_REQUIREMENTS_STEP = "installing Odoo's Python requirements"
ODOO_STEP = "installing Odoo 19.0 from its source"
PROJECT_STEP = "installing FinnSys's requirements (requirements.txt)"
PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"}

# Odoo's requirements.txt pins the versions Debian 12 and Ubuntu 24.04 ship; from PyPI two of
# them do not build on a plain Debian 12 with Python 3.11 or 3.12.
REQUIREMENT_PINS = {
    # 5.4.2's build imports pkg_resources, which recent setuptools no longer has
    "cbor2==5.4.2": "cbor2==5.6.2",
}
LEFT_OUT = {
    # needs the OpenLDAP headers to build and serves only the optional auth_ldap module
    "python-ldap": "it needs the OpenLDAP headers and serves only Odoo's optional auth_ldap",
}

# What a failed step's output says, and what to do about it; the first match wins.
FAILURE_CAUSES = (
    (
        ("No space left on device",),
        "the disk is full: free some space where .finnsys/ is (the virtualenv takes about 1 GB)",
    ),
    (
        ("pg_config executable not found", "libpq-fe.h"),
        "psycopg2 is compiled here and needs PostgreSQL's client headers: as root, "
        "apt-get install libpq-dev build-essential python3-dev",
    ),
    (
        ("Python.h: No such file",),
        "a package is compiled here and needs Python's headers: as root, "
        "apt-get install python3-dev",
    ),
    (
        ("gcc: not found", "unable to execute 'gcc'", "command 'gcc' failed", "'cc'", "'x86_64"),
        "a package is compiled here and there is no C compiler: as root, "
        "apt-get install build-essential python3-dev libpq-dev",
    ),
    (
        (
            "Temporary failure in name resolution",
            "Could not resolve host",
            "Name or service not known",
            "NewConnectionError",
            "Network is unreachable",
            "Connection timed out",
            "ReadTimeoutError",
            "No matching distribution found",
            "unable to access",
        ),
        "the network failed: check the connection or the proxy (HTTPS_PROXY), use a PyPI "
        "mirror with PIP_INDEX_URL, or a local Odoo source with FINNSYS_ODOO_SOURCE",
    ),
)


@dataclass
class Source:
    """Where Odoo comes from: a git repository (URL or local) or an unpacked source tree."""

    spec: str
    is_git: bool
    pinned: str | None  # FINNSYS_ODOO_COMMIT: the commit that must be checked out
    commit: str | None = None
    ref: str | None = None


def in_project_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


def project_python(install: bool) -> Path:
    """The project virtualenv's Python with Odoo 19.0 in it, built or updated if ``install``."""
    if in_project_venv():
        raise CliError(
            f"the project's virtualenv {rel(VENV_DIR)} has no working Odoo 19.0: "
            f"delete {rel(VENV_DIR)} and run again (log of its build: {rel(INSTALL_LOG)})"
        )
    if not install:
        if VENV_PYTHON.exists():
            return VENV_PYTHON
        raise CliError(
            "Odoo 19.0 is not installed: run without --no-install to install it into "
            f"{rel(VENV_DIR)}, or set ODOO_BIN to an odoo-bin of 19.0"
        )
    build_venv(odoo_source())
    return VENV_PYTHON


def odoo_source() -> Source:
    spec = os.environ.get("FINNSYS_ODOO_SOURCE") or OFFICIAL_SOURCE
    pinned = os.environ.get("FINNSYS_ODOO_COMMIT") or None
    path = Path(spec).expanduser()
    if path.is_dir():
        bare = (path / "HEAD").is_file() and (path / "objects").is_dir()
        return Source(str(path.resolve()), (path / ".git").exists() or bare, pinned)
    if re.match(r"^(\w+://|[\w.-]+@[\w.-]+:)", spec):
        return Source(spec, True, pinned)
    raise CliError(
        f"FINNSYS_ODOO_SOURCE={spec} is neither a directory nor a git URL: give Odoo 19.0's "
        "source directory, a git repository of it, or a git URL"
    )


# --- the steps --------------------------------------------------------------------------


class Steps:
    """Numbered steps, each skipped when it was done before with the same inputs (its key)."""

    def __init__(self, total: int):
        try:
            self.done = json.loads(STEPS_FILE.read_text())
        except (OSError, ValueError):
            self.done = {}
        self.total = total
        self.number = 0

    def run(self, title: str, key: str, action: Callable[[], None], there: bool = True) -> None:
        """Run ``action`` unless it ran before with ``key`` and what it made is ``there``."""
        self.number += 1
        label = f"[{self.number}/{self.total}] {title}"
        if there and self.done.get(title) == key:
            info(f"{label}: done before, reused")
            return
        info(f"{label} ...")
        started = time.monotonic()
        action()
        self.done[title] = key
        STEPS_FILE.write_text(json.dumps(self.done, indent=2))
        info(f"{label}: done in {duration(time.monotonic() - started)}")


def build_venv(source: Source) -> None:
    """Build or update .finnsys/venv, reusing every step done before with the same inputs."""
    STATE_DIR.mkdir(exist_ok=True)
    info(f"{sys.executable} has no Odoo 19.0: using the project's own, in {rel(VENV_DIR)}")
    ensure_build_tools()
    steps = Steps(total=5)
    python = f"python {sys.version.split()[0]} ({sys.base_prefix})"
    steps.run(
        f"creating the virtualenv {rel(VENV_DIR)}",
        python,
        lambda: create_venv(steps),
        there=VENV_PYTHON.exists(),
    )
    steps.run(
        source_title(source),
        f"{source.spec} {source.pinned or ODOO_BRANCH}",
        lambda: get_source(source, steps.done),
        there=(SOURCE_DIR / "odoo" / "release.py").exists(),
    )
    source.commit, source.ref = steps.done.get("commit"), steps.done.get("ref")
    requirements = odoo_requirements(SOURCE_DIR)
    steps.run(
        ODOO_REQUIREMENTS_STEP,
        digest(requirements),
        lambda: pip_install(["-r", str(write_requirements(requirements))], "pip install"),
    )
    steps.run(
        ODOO_STEP,
        f"{source.spec} {source.commit or odoo_version(SOURCE_DIR)} linked",
        install_odoo,
    )
    steps.run(
        PROJECT_STEP,
        digest(PROJECT_REQUIREMENTS.read_text()),
        lambda: pip_install(["-r", str(PROJECT_REQUIREMENTS)], "installing requirements.txt"),
    )
    write_source_record(source)


def create_venv(steps: Steps) -> None:
    """A clean virtualenv: no system site-packages, so it works the same on a fresh machine."""
    shutil.rmtree(VENV_DIR, ignore_errors=True)
    for title in (ODOO_REQUIREMENTS_STEP, ODOO_STEP, PROJECT_STEP):  # the source stays
        steps.done.pop(title, None)
    run_logged([sys.executable, "-m", "venv", str(VENV_DIR)], "creating the virtualenv")


def source_title(source: Source) -> str:
    if not source.is_git:
        return f"copying Odoo's source from {source.spec}"
    if source.spec == OFFICIAL_SOURCE:
        return f"downloading Odoo {ODOO_BRANCH} from {OFFICIAL_SOURCE} (about 400 MB)"
    return f"fetching Odoo {ODOO_BRANCH} from {source.spec}"


def get_source(source: Source, done: dict) -> None:
    """Fetch the commit (pinned, else the 19.0 branch) into .finnsys/odoo-src, or copy the
    source directory there; check that it is Odoo 19.0; remember the commit."""
    if source.is_git:
        done["commit"], done["ref"] = fetch_commit(source), source.ref
        info(f"Odoo source: {source.ref} of {source.spec}, commit {done['commit']}")
    else:
        check_version(Path(source.spec), source)
        copy_source(source.spec)
        done.pop("commit", None)
        done.pop("ref", None)
    check_version(SOURCE_DIR, source)


def check_version(tree: Path, source: Source) -> None:
    version = odoo_version(tree)
    if version != ODOO_BRANCH:
        raise CliError(f"{source.spec} holds Odoo {version}, not {ODOO_BRANCH}: {source_hint()}")


def copy_source(directory: str) -> None:
    shutil.rmtree(SOURCE_DIR, ignore_errors=True)
    try:
        shutil.copytree(directory, SOURCE_DIR, ignore=leftovers_of(directory), symlinks=True)
    except (OSError, shutil.Error) as error:
        raise CliError(f"copying {directory} failed: {error}") from None


def leftovers_of(root: str) -> Callable[[str, list[str]], set[str]]:
    """copytree's ignore: build leftovers at the top of ``root``, compiled files anywhere."""

    def leftovers(directory: str, names: list[str]) -> set[str]:
        top = TOP_LEFTOVERS if os.path.samefile(directory, root) else set()
        return top | {name for name in names if name == "__pycache__" or name.endswith(".pyc")}

    return leftovers


def fetch_commit(source: Source) -> str:
    if not shutil.which("git"):
        raise CliError(
            "git is needed to download Odoo's source: as root, apt-get install git; "
            "or set FINNSYS_ODOO_SOURCE to an unpacked Odoo 19.0 source directory"
        )
    shutil.rmtree(SOURCE_DIR, ignore_errors=True)
    source.ref = source.pinned or ODOO_BRANCH
    if not source.pinned and not remote_has_branch(source.spec, ODOO_BRANCH):
        if source.spec == OFFICIAL_SOURCE:
            raise CliError(f"{OFFICIAL_SOURCE} has no branch {ODOO_BRANCH}: {source_hint()}")
        info(f"{source.spec} has no branch {ODOO_BRANCH}: taking its HEAD (checked below)")
        source.ref = "HEAD"
    git = ["git", "-C", str(SOURCE_DIR)]
    run_logged(["git", "init", "-q", str(SOURCE_DIR)], "git init")
    fetch = [*git, "fetch", "-q", "--depth", "1", source.spec, source.ref]
    run_logged(fetch, f"fetching {source.ref} of {source.spec}")
    run_logged([*git, "checkout", "-q", "FETCH_HEAD"], "git checkout")
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if source.pinned and not commit.startswith(source.pinned):
        raise CliError(f"fetched commit {commit}, not FINNSYS_ODOO_COMMIT={source.pinned}")
    return commit


def remote_has_branch(spec: str, branch: str) -> bool:
    command = ["git", "ls-remote", "--heads", spec, f"refs/heads/{branch}"]
    return bool(run_logged(command, f"reaching {spec}").strip())


def source_hint() -> str:
    return (
        f"set FINNSYS_ODOO_SOURCE to Odoo {ODOO_BRANCH}'s source (a git URL, a git repository "
        "or a source directory), or ODOO_BIN to an odoo-bin of 19.0"
    )


def odoo_version(tree: Path) -> str:
    """The series in odoo/release.py, e.g. ``19.0``."""
    try:
        found = ODOO_RELEASE.search((tree / "odoo" / "release.py").read_text())
    except OSError:
        found = None
    if not found:
        raise CliError(f"{tree} is not Odoo's source (no odoo/release.py): {source_hint()}")
    return f"{found[1]}.{found[2]}"


def odoo_requirements(tree: Path) -> str:
    """Odoo's requirements.txt with the pins that build here, without what is left out."""
    lines = []
    for line in (tree / "requirements.txt").read_text().splitlines():
        name = re.match(r"\s*([A-Za-z0-9_.-]+)", line)
        if name and name[1].lower() in LEFT_OUT:
            continue
        for pinned, replacement in REQUIREMENT_PINS.items():
            line = line.replace(pinned, replacement)
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_requirements(requirements: str) -> Path:
    for name, why in LEFT_OUT.items():
        info(f"leaving out {name}: {why}")
    path = STATE_DIR / "odoo-requirements.txt"
    path.write_text(requirements)
    return path


def install_odoo() -> None:
    """Odoo runs from its source tree, as Odoo's own source install does: a wheel of it would
    lose the data files of the addons outside odoo/ (Odoo's MANIFEST.in grafts odoo/ only).
    The editable install links the tree with a .pth file and records the ``odoo``
    distribution, which the OCA addons require."""
    compat = ["--config-settings", "editable_mode=compat"]
    pip_install(["--no-deps", *compat, "--editable", str(SOURCE_DIR)], "installing Odoo")


def pip_install(arguments: list[str], what: str) -> None:
    command = [str(VENV_PYTHON), "-m", "pip", "install", "--progress-bar", "off", *arguments]
    run_logged(command, what, env=dict(os.environ, **PIP_ENV))


def install_project_requirements() -> None:
    """Inside the virtualenv: requirements.txt again only when it changed."""
    Steps(total=1).run(
        PROJECT_STEP,
        digest(PROJECT_REQUIREMENTS.read_text()),
        lambda: pip_install(["-r", str(PROJECT_REQUIREMENTS)], "installing requirements.txt"),
    )


def digest(text: str) -> str:
    return hashlib.sha256(f"{sys.version}\n{text}".encode()).hexdigest()


def write_source_record(source: Source) -> None:
    commit = source.commit or "none (a source directory, not a git repository)"
    SOURCE_RECORD.write_text(
        f"source:  {source.spec}\n"
        f"ref:     {source.ref or '-'}\n"
        f"commit:  {commit}\n"
        f"version: {odoo_version(SOURCE_DIR)}\n"
        f"python:  {sys.version.split()[0]}\n"
        f"into:    {VENV_DIR}\n"
    )


# --- running a step's command -----------------------------------------------------------


def run_logged(command: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """Run command with its output in .finnsys/install.log and return that output; on
    failure say why, and what to do, in one line."""
    INSTALL_LOG.parent.mkdir(exist_ok=True)
    with INSTALL_LOG.open("a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        start = log.tell()
        try:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        except OSError as error:
            raise CliError(f"{what} failed: {error}") from None
    with INSTALL_LOG.open(errors="replace") as log:
        log.seek(start)
        output = log.read()
    if result.returncode != 0:
        raise CliError(f"{what} failed: {failure_cause(output)} (full output: {rel(INSTALL_LOG)})")
    return output


def failure_cause(output: str) -> str:
    for needles, cause in FAILURE_CAUSES:
        if any(needle in output for needle in needles):
            return cause
    errors = [line.strip() for line in output.splitlines() if "error" in line.lower()]
    return errors[-1] if errors else last_line(output)
