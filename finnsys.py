#!/usr/bin/env python3
"""FinnSys developer CLI for the FinnSys Odoo 19 addons.

    python3 finnsys.py demo [options]   install or upgrade the demo database, then serve it
    python3 finnsys.py test [options]   run the Odoo and pytest-odoo suites on a throwaway database

Everything the script creates lives in ``.finnsys/`` next to this file: a private PostgreSQL
cluster (unless --db-host/--db-port/--db-user points to an existing server), the Odoo data
directory and the logs. It uses the standard library only, because it runs before any
requirement is installed.
"""

import argparse
import ast
import collections
import contextlib
import importlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
STATE_DIR = REPO / ".finnsys"
PGDATA = STATE_DIR / "pgdata"
PG_LOG = STATE_DIR / "postgres.log"
DATA_DIR = STATE_DIR / "data"
ODOO_RC = STATE_DIR / "odoo.rc"
DEMO_LOG = STATE_DIR / "odoo-demo.log"
TEST_LOG = STATE_DIR / "odoo-test.log"
PYTEST_LOG = STATE_DIR / "pytest.log"
PYTEST_DIR = REPO / "tests"

ADDONS = ("finnsys_billing", "finnsys_billing_portal")
PAYMENT_ADDON = "payment_demo"  # installed first: the portal demo data uses its provider
DEFAULT_DEMO_DB = "finnsys_demo"
CLUSTER_ROLE = "finnsys"
INITDB_OPTIONS = ("-U", CLUSTER_ROLE, "--auth=trust", "-E", "UTF8", "--locale=C")
PG_FALLBACK_BINDIR = Path("/usr/lib/postgresql/15/bin")
SYSTEM_TOOLS = ("chromium", "wkhtmltopdf")
DEFAULT_HTTP_PORT = 8069
HTTP_READY_TIMEOUT = 120
DB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # the one Odoo enforces

# Logins created by the addons' demo data, shown once the demo is up.
ADMIN_LOGIN = ("admin", "admin")
DEMO_LOGINS = (
    ("Billing user:", "billing@finnsys.example", "billing"),
    ("Prepaid customer (portal):", "prepaid@customer.example", "prepaid"),
    ("Postpaid customer (portal):", "postpaid@customer.example", "postpaid"),
)

ODOO_INSTALL_HINT = (
    "install it from Odoo's official 19.0 source (pip install -r requirements.txt && "
    "pip install . in a checkout of github.com/odoo/odoo branch 19.0), "
    "or set ODOO_BIN to its odoo-bin"
)
ODOO_LOG_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (?P<level>[A-Z]+) \S+ (?P<logger>[\w.]+): "
)
ODOO_TEST_RESULT = re.compile(
    r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database"
)
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
PYTEST_NO_TESTS = 5  # pytest's exit code when nothing was collected


class CliError(Exception):
    """A problem reported to the user as one line on stderr, exiting with ``code``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


@dataclass
class PgServer:
    """Where Odoo and the pg client tools connect."""

    host: str
    port: int
    user: str
    password: str | None
    bindir: Path

    def env(self) -> dict[str, str]:
        """Environment for child processes; the password travels as PGPASSWORD, not argv."""
        env = dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(self.passed + other.passed, self.failed + other.failed)


def info(message: str) -> None:
    print(f"finnsys: {message}", flush=True)


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- Odoo and requirements -------------------------------------------------------------------


def reports_odoo_19(command: list[str]) -> bool:
    """True if ``command --version`` answers ``Odoo Server 19.0...``."""
    try:
        result = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.startswith("Odoo Server 19.0")


def detect_odoo() -> list[str]:
    """Return the command that runs Odoo 19.0: ODOO_BIN if set, else the installed package."""
    odoo_bin = os.environ.get("ODOO_BIN")
    if odoo_bin:
        command = [sys.executable, odoo_bin]
        if not (Path(odoo_bin).is_file() and reports_odoo_19(command)):
            raise CliError(f"ODOO_BIN={odoo_bin} is not an Odoo 19.0 odoo-bin: {ODOO_INSTALL_HINT}")
        return command
    try:
        version = tuple(importlib.import_module("odoo.release").version_info[:2])
    except Exception:  # a broken install is as good as none
        version = None
    if version == (19, 0):
        script = shutil.which("odoo")
        for command in ([sys.executable, "-m", "odoo"], [script] if script else None):
            if command and reports_odoo_19(command):
                return command
    raise CliError(f"Odoo 19.0 is not installed: {ODOO_INSTALL_HINT}")


def install_requirements() -> None:
    """pip-install requirements.txt, then make sure the browser and PDF tools exist."""
    requirements = REPO / "requirements.txt"
    if requirements.is_file():
        info("installing Python requirements (requirements.txt)")
        env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1")
        command = [sys.executable, "-m", "pip", "install", "-q", "-r", str(requirements)]
        if subprocess.run(command, env=env).returncode != 0:
            raise CliError("pip install -r requirements.txt failed (see pip's output above)")
    ensure_system_tools()


def ensure_system_tools() -> None:
    """Chromium runs the browser tests, wkhtmltopdf renders PDF reports: apt-get them if root."""
    missing = [tool for tool in SYSTEM_TOOLS if not shutil.which(tool)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        info(f"installing {' '.join(missing)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-q"], env=env)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env)
        missing = [tool for tool in SYSTEM_TOOLS if not shutil.which(tool)]
    if missing:
        raise CliError(
            f"{' and '.join(missing)} not found on PATH: install them as root "
            f"(apt-get install {' '.join(missing)}) or pass --no-install to skip this check"
        )


# --- ports, processes, signals -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    """True if something listens on 127.0.0.1:port (SO_REUSEADDR ignores TIME_WAIT leftovers)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def port_number(text: str) -> int:
    """argparse type for TCP ports."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"invalid port: {text}")
    return int(text)


def raise_interrupt(signum, frame) -> None:
    """SIGTERM handler: unwind through the same cleanup as Ctrl-C."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Keep a second Ctrl-C (or SIGTERM) from interrupting a cleanup half-way."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_process(proc: subprocess.Popen, grace: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stream(
    command: list[str], env: dict[str, str], log_path: Path, show: Callable[[str], bool]
) -> tuple[int, list[str]]:
    """Run command, append its output to log_path, echo the lines ``show`` accepts.

    Returns the exit code and the last lines of output (where the result summaries are).
    """
    tail: collections.deque[str] = collections.deque(maxlen=500)
    with log_path.open("a") as log:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            text=True,
            errors="replace",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            for line in proc.stdout:
                log.write(line)
                tail.append(line)
                if show(line):
                    sys.stdout.write(line)
                    sys.stdout.flush()
            return proc.wait(), list(tail)
        finally:
            stop_process(proc)
            proc.stdout.close()


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


# --- PostgreSQL --------------------------------------------------------------------------


def pg_bindir(server_tools: bool) -> Path:
    """Directory holding the PostgreSQL binaries (initdb/pg_ctl only for the local cluster)."""
    tools = ["psql", "createdb", "dropdb"] + (["initdb", "pg_ctl"] if server_tools else [])
    candidates = [PG_FALLBACK_BINDIR]
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if found.returncode == 0:
            candidates.insert(0, Path(found.stdout.strip()))
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in tools):
            return candidate
    raise CliError(
        f"PostgreSQL binaries ({', '.join(tools)}) not found: install PostgreSQL 15 "
        "(apt-get install postgresql-15) or put its pg_config on PATH"
    )


def cluster_os_user() -> str | None:
    """The unprivileged OS user owning the cluster when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    raise CliError(
        "running as root, but there is no 'postgres' or 'nobody' OS user to own the "
        "PostgreSQL cluster: create one (adduser --system postgres)"
    )


def as_user(command: list[str], user: str | None) -> list[str]:
    if user is None:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *command]
    return ["su", "-s", "/bin/sh", user, "-c", shlex.join(command)]


def run_as(command: list, user: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        as_user([str(part) for part in command], user),
        capture_output=True,
        text=True,
        cwd=STATE_DIR,
    )


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def ensure_traversable(user: str) -> None:
    """Let the cluster user reach .finnsys/ even when the checkout sits in a 0700 directory
    (``mktemp -d`` does that): add the o+x (search only) bit where it is missing."""
    if run_as(["test", "-x", STATE_DIR], user).returncode == 0:
        return
    changed = []
    for directory in [*reversed(STATE_DIR.parents), STATE_DIR]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append(str(directory))
    if changed:
        info(
            f"added o+x (search only) to {', '.join(changed)} so that OS user {user} "
            f"can reach {STATE_DIR}"
        )
    if run_as(["test", "-x", STATE_DIR], user).returncode != 0:
        raise CliError(f"OS user {user} cannot reach {STATE_DIR}: move the checkout elsewhere")


def chown_to(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def init_cluster(bindir: Path, user: str | None) -> None:
    """initdb .finnsys/pgdata unless it already holds a cluster; never leave half of one."""
    if (PGDATA / "PG_VERSION").exists():
        return
    if PGDATA.exists():  # leftover of an interrupted initdb
        shutil.rmtree(PGDATA)
    PGDATA.mkdir(mode=0o700)
    chown_to(PGDATA, user)
    info(f"creating a PostgreSQL cluster in {rel(PGDATA)}")
    try:
        result = run_as([bindir / "initdb", "-D", PGDATA, *INITDB_OPTIONS], user)
    except BaseException:
        shutil.rmtree(PGDATA, ignore_errors=True)
        raise
    if result.returncode != 0:
        shutil.rmtree(PGDATA, ignore_errors=True)
        raise CliError(f"initdb failed: {last_line(result.stderr)}")


def running_cluster_port(bindir: Path, user: str | None) -> int | None:
    """Port of the project cluster if it is already running (line 4 of postmaster.pid)."""
    if not (PGDATA / "PG_VERSION").exists():
        return None
    if run_as([bindir / "pg_ctl", "-D", PGDATA, "status"], user).returncode != 0:
        return None
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int((PGDATA / "postmaster.pid").read_text().splitlines()[3])
    return None


def start_cluster(bindir: Path, user: str | None, port: int) -> None:
    options = f"-p {port} -k {shlex.quote(str(PGDATA))} -c listen_addresses=127.0.0.1"
    command = [bindir / "pg_ctl", "-D", PGDATA, "-l", PG_LOG, "-o", options, "-w", "start"]
    info(f"starting PostgreSQL on 127.0.0.1:{port} (log: {rel(PG_LOG)})")
    try:
        result = run_as(command, user)
    except BaseException:
        stop_cluster(bindir, user)
        raise
    if result.returncode != 0:
        stop_cluster(bindir, user)  # pg_ctl -w may give up on a postmaster still starting
        log_tail = last_line(PG_LOG.read_text(errors="replace")) if PG_LOG.exists() else ""
        raise CliError(f"PostgreSQL did not start on port {port}: {log_tail} (see {rel(PG_LOG)})")


def stop_cluster(bindir: Path, user: str | None) -> None:
    with signals_ignored():
        run_as([bindir / "pg_ctl", "-D", PGDATA, "stop", "-m", "fast", "-w"], user)


def requested_pg_port(args: argparse.Namespace) -> int | None:
    if args.pg_port:
        return args.pg_port
    if os.environ.get("PGPORT"):
        try:
            return port_number(os.environ["PGPORT"])
        except argparse.ArgumentTypeError as error:
            raise CliError(f"PGPORT: {error}") from None
    return None


def ensure_cluster(bindir: Path, user: str | None, requested: int | None) -> tuple[int, bool]:
    """Reuse the running project cluster or start it; return (port, started by this run)."""
    STATE_DIR.mkdir(exist_ok=True)
    if user is not None:
        ensure_traversable(user)
        PG_LOG.touch()
        chown_to(PG_LOG, user)
    running = running_cluster_port(bindir, user)
    if running:
        ignored = f", not port {requested}" if requested and requested != running else ""
        info(f"using the project PostgreSQL cluster already running on port {running}{ignored}")
        return running, False
    port = requested or free_port()
    if port_in_use(port):
        raise CliError(f"port {port} is already in use: choose another --pg-port (or PGPORT)")
    init_cluster(bindir, user)
    start_cluster(bindir, user, port)
    return port, True


@contextlib.contextmanager
def database_server(args: argparse.Namespace) -> Iterator[PgServer]:
    """The server to use: the given one, or the project cluster (stopped at the end if this
    run started it)."""
    if args.db_host or args.db_port or args.db_user:
        yield PgServer(
            args.db_host or "localhost",
            args.db_port or 5432,
            args.db_user or os.environ.get("PGUSER") or "odoo",
            args.db_password,
            pg_bindir(server_tools=False),
        )
        return
    bindir, user = pg_bindir(server_tools=True), cluster_os_user()
    port, started = ensure_cluster(bindir, user, requested_pg_port(args))
    try:
        yield PgServer("127.0.0.1", port, CLUSTER_ROLE, None, bindir)
    finally:
        if started:
            info("stopping PostgreSQL")
            stop_cluster(bindir, user)


def psql(server: PgServer, database: str, sql: str) -> subprocess.CompletedProcess:
    command = [server.tool("psql"), "-XqAt", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql]
    return subprocess.run(command, capture_output=True, text=True, env=server.env())


def database_exists(server: PgServer, database: str) -> bool:
    result = psql(server, "template1", f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
    if result.returncode != 0:
        raise CliError(
            f"cannot query PostgreSQL at {server.host}:{server.port}: {last_line(result.stderr)}"
        )
    return result.stdout.strip() == "1"


def installed_modules(server: PgServer, database: str, names: tuple[str, ...]) -> set[str]:
    """Which of ``names`` are installed (empty if the database is not an Odoo one)."""
    listed = ", ".join(f"'{name}'" for name in names)
    sql = f"SELECT name FROM ir_module_module WHERE state = 'installed' AND name IN ({listed})"
    result = psql(server, database, sql)
    return set(result.stdout.split()) if result.returncode == 0 else set()


def create_database(server: PgServer, database: str) -> None:
    command = [server.tool("createdb"), "-T", "template0", "-E", "UTF8", "--lc-collate=C", database]
    result = subprocess.run(command, capture_output=True, text=True, env=server.env())
    if result.returncode != 0:
        raise CliError(f"createdb {database} failed: {last_line(result.stderr)}")


def drop_database(server: PgServer, database: str) -> None:
    """Drop the database and its filestore; runs during cleanup, so it never raises."""
    with signals_ignored():
        command = [server.tool("dropdb"), "--if-exists", "--force", database]
        result = subprocess.run(command, capture_output=True, text=True, env=server.env())
        shutil.rmtree(DATA_DIR / "filestore" / database, ignore_errors=True)
    if result.returncode == 0:
        info(f"dropped database {database}")
    else:
        print(
            f"finnsys: could not drop database {database}: {last_line(result.stderr)}",
            file=sys.stderr,
        )


# --- Odoo runs ---------------------------------------------------------------------------


def check_db_name(name: str) -> str:
    if not DB_NAME_PATTERN.match(name):
        raise CliError(f"invalid database name {name!r}: use letters, digits, _ . and -")
    return name


def write_odoo_rc(server: PgServer) -> None:
    """A config file for every Odoo run: keeps ~/.odoorc out and tells pytest-odoo where to go."""
    STATE_DIR.mkdir(exist_ok=True)
    DATA_DIR.mkdir(exist_ok=True)
    ODOO_RC.write_text(
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
    return [*odoo, "-c", str(ODOO_RC), *connection, *paths, "-d", database, *extra]


def local_http(port: int) -> list[str]:
    return ["--http-interface", "127.0.0.1", "--http-port", str(port)]


def run_odoo_init(
    odoo: list[str],
    server: PgServer,
    database: str,
    extra: list[str],
    log_path: Path,
    verbose: bool,
) -> None:
    """Install or upgrade modules (--stop-after-init); errors are shown live."""
    what = " ".join(extra)
    info(f"odoo {what} on {database} (log: {rel(log_path)})")
    command = odoo_command(odoo, server, database, *extra, "--stop-after-init")
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
) -> None:
    with_demo = ["--with-demo"] if args.command == "demo" else []  # Odoo 19: demo on request only
    extra = ["-i", ",".join(modules), *with_demo]
    run_odoo_init(odoo, server, database, extra, log_path, args.verbose)
    missing = set(modules) - installed_modules(server, database, modules)
    if missing:  # Odoo only warns about module names it cannot find
        raise CliError(
            f"{', '.join(sorted(missing))} did not get installed in {database}: "
            f"see {rel(log_path)}",
            code=1,
        )


# --- demo --------------------------------------------------------------------------------


def prepare_demo_database(odoo: list[str], server: PgServer, args: argparse.Namespace) -> None:
    """Create and install the demo database, or upgrade the addons in the existing one."""
    database = args.database
    if not database_exists(server, database):
        create_demo_database(odoo, server, args)
    elif installed_modules(server, database, ADDONS) == set(ADDONS):
        # A newer manifest may depend on modules the database does not have yet: Odoo's -u
        # alone would skip our addons, and installing them first would load our new code on
        # the old schema. One run installs them and upgrades ours in dependency order.
        depends = manifest_depends()
        missing = sorted(set(depends) - installed_modules(server, database, depends))
        upgrade = (["-i", ",".join(missing)] if missing else []) + ["-u", ",".join(ADDONS)]
        run_odoo_init(odoo, server, database, upgrade, DEMO_LOG, args.verbose)
    else:
        raise CliError(
            f"database {database} exists and is not a FinnSys demo database: "
            "choose another --database"
        )


def manifest_depends() -> tuple[str, ...]:
    """The modules our addons depend on, besides each other, read from their manifests."""
    depends = set()
    for addon in ADDONS:
        manifest = ast.literal_eval((REPO / addon / "__manifest__.py").read_text())
        depends.update(manifest.get("depends", []))
    return tuple(sorted(depends - set(ADDONS)))


def create_demo_database(odoo: list[str], server: PgServer, args: argparse.Namespace) -> None:
    database = args.database
    create_database(server, database)
    try:
        install_modules(odoo, server, database, (PAYMENT_ADDON,), args, DEMO_LOG)
        install_modules(odoo, server, database, ADDONS, args, DEMO_LOG)
    except BaseException:
        drop_database(server, database)
        raise


def demo_block(port: int, header: str) -> str:
    base = f"http://127.0.0.1:{port}"
    rows = [
        (f"Backend: {base}/odoo", "login {} / {}".format(*ADMIN_LOGIN)),
        (DEMO_LOGINS[0][0], "login {} / {}".format(*DEMO_LOGINS[0][1:])),
        (f"Portal:  {base}/my", ""),
        *((label, f"login {login} / {password}") for label, login, password in DEMO_LOGINS[1:]),
    ]
    width = max(len(left) for left, _ in rows) + 3
    return "\n".join([header, *(f"  {left:<{width}}{right}".rstrip() for left, right in rows)])


def choose_http_port(requested: int | None) -> int:
    if requested:
        if port_in_use(requested):
            raise CliError(f"HTTP port {requested} is already in use: choose another --http-port")
        return requested
    return DEFAULT_HTTP_PORT if not port_in_use(DEFAULT_HTTP_PORT) else free_port()


def wait_until_up(proc: subprocess.Popen, url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for localhost
    deadline = time.monotonic() + HTTP_READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CliError(
                f"Odoo exited (code {proc.returncode}) before answering: see {rel(DEMO_LOG)}",
                code=1,
            )
        with contextlib.suppress(OSError), opener.open(url, timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(1)
    raise CliError(
        f"Odoo did not answer {url} within {HTTP_READY_TIMEOUT} s: see {rel(DEMO_LOG)}", code=1
    )


def serve_demo(odoo: list[str], server: PgServer, database: str, port: int) -> None:
    """Run Odoo in the foreground until it stops or we are interrupted."""
    command = odoo_command(
        odoo, server, database, "--db-filter", f"^{database}$", *local_http(port)
    )
    info(f"starting Odoo on 127.0.0.1:{port} (log: {rel(DEMO_LOG)})")
    with DEMO_LOG.open("a") as log:
        proc = subprocess.Popen(
            command, env=server.env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(proc, f"http://127.0.0.1:{port}/web/login")
            print(demo_block(port, "FinnSys demo is running (Ctrl-C to stop)"), flush=True)
            returncode = proc.wait()
            raise CliError(
                f"Odoo stopped on its own (exit {returncode}): see {rel(DEMO_LOG)}", code=1
            )
        finally:
            with signals_ignored():
                stop_process(proc)


def cmd_demo(args: argparse.Namespace, odoo: list[str]) -> int:
    check_db_name(args.database)
    port = None if args.no_serve else choose_http_port(args.http_port)
    with database_server(args) as server:
        write_odoo_rc(server)
        prepare_demo_database(odoo, server, args)
        if port is None:
            header = f"FinnSys demo database {args.database} is ready (not serving: --no-serve)"
            print(demo_block(args.http_port or DEFAULT_HTTP_PORT, header))
            return 0
        try:
            serve_demo(odoo, server, args.database, port)
        except KeyboardInterrupt:
            info("stopping the demo")
    return 0


# --- test --------------------------------------------------------------------------------


def odoo_tally(returncode: int, tail: list[str]) -> Tally:
    """Counts from Odoo's final ``odoo.tests.result`` line; a crash counts as one failure."""
    results = [match for line in tail if (match := ODOO_TEST_RESULT.search(line))]
    if not results:
        info(
            f"Odoo exited (code {returncode}) without reporting test results: counted as 1 failure"
        )
        return Tally(0, 1)
    failures, errors, total = (int(group) for group in results[-1].groups())
    tally = Tally(total - failures - errors, failures + errors)
    if returncode != 0 and not tally.failed:
        info(f"Odoo exited with code {returncode}: counted as 1 failure")
        tally.failed += 1
    info(f"Odoo tests: {tally.passed} passed, {tally.failed} failed")
    return tally


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


def pytest_counts(tail: list[str]) -> dict[str, int] | None:
    """Counts from pytest's closing line, e.g. ``=== 3 passed, 1 failed in 2.05s ===``."""
    for line in reversed(tail):
        if re.search(r"\bin \d+(\.\d+)?s\b", line):
            counts = {kind: int(n) for n, kind in PYTEST_COUNT.findall(line)}
            if counts or "no tests ran" in line:
                return counts
    return None


def pytest_tally(returncode: int, tail: list[str]) -> Tally:
    if returncode == PYTEST_NO_TESTS:
        info("pytest collected no tests")
        return Tally()
    counts = pytest_counts(tail)
    if counts is None:
        info(f"pytest exited (code {returncode}) without a summary: counted as 1 failure")
        return Tally(0, 1)
    failed = sum(counts.get(kind, 0) for kind in ("failed", "error", "errors"))
    tally = Tally(counts.get("passed", 0), failed)
    if returncode != 0 and not tally.failed:
        info(f"pytest exited with code {returncode}: counted as 1 failure")
        tally.failed = 1
    info(f"pytest: {tally.passed} passed, {tally.failed} failed")
    return tally


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
    plugin += ["--odoo-config", str(ODOO_RC), "--odoo-http"]
    selection = (["-k", args.k] if args.k else []) + (["-v"] if args.verbose else [])
    selection += ["--finnsys-long"] if args.long else []
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


# --- command line ------------------------------------------------------------------------


def common_options() -> argparse.ArgumentParser:
    """Options shared by demo and test."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--no-install",
        action="store_true",
        help="skip pip install -r requirements.txt and the chromium/wkhtmltopdf check",
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
    demo.set_defaults(handler=cmd_demo)
    test = commands.add_parser("test", parents=[common], help="run the test suites")
    test.add_argument("--keep-db", action="store_true", help="keep the test database")
    test.add_argument("--tags", help="Odoo --test-tags (default: /finnsys_billing,...)")
    test.add_argument("-k", metavar="EXPRESSION", help="pytest -k expression")
    test.add_argument(
        "--long",
        action="store_true",
        help="also run the long variants of tests/reliability (more rounds and examples)",
    )
    test.set_defaults(handler=cmd_test)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        odoo = detect_odoo()
        if not args.no_install:
            install_requirements()
        return args.handler(args, odoo)
    except CliError as error:
        print(f"finnsys: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("finnsys: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
