"""PostgreSQL: the project cluster in .finnsys/pgdata, or an existing server, and databases."""

import argparse
import contextlib
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import (
    DATA_DIR,
    PG_LOG,
    PGDATA,
    STATE_DIR,
    CliError,
    free_port,
    info,
    last_line,
    port_in_use,
    port_number,
    rel,
    signals_ignored,
)

CLUSTER_ROLE = "finnsys"
INITDB_OPTIONS = ("-U", CLUSTER_ROLE, "--auth=trust", "-E", "UTF8", "--locale=C")
DEBIAN_PG_BINDIRS = Path("/usr/lib/postgresql")  # one <major>/bin per installed version


@dataclass
class PgServer:
    """Where Odoo and the pg client tools connect."""

    host: str
    port: int
    user: str
    password: str | None
    bindir: Path
    started: bool = False  # the project cluster, started by this run (and stopped at its end)

    def env(self) -> dict[str, str]:
        """Environment for child processes; the password travels as PGPASSWORD, not argv."""
        env = dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def pg_bindir(server_tools: bool) -> Path:
    """Directory holding the PostgreSQL binaries (initdb/pg_ctl only for the local cluster)."""
    tools = ["psql", "createdb", "dropdb"] + (["initdb", "pg_ctl"] if server_tools else [])
    # Debian's newest version first; pg_config's (the client's) before it
    candidates = sorted(DEBIAN_PG_BINDIRS.glob("*/bin"), key=debian_major, reverse=True)
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
        f"PostgreSQL binaries ({', '.join(tools)}) not found: install PostgreSQL "
        "(apt-get install postgresql) or put its pg_config on PATH"
    )


def debian_major(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


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
        yield PgServer("127.0.0.1", port, CLUSTER_ROLE, None, bindir, started)
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
