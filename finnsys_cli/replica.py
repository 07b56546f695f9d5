"""A streaming read replica of a PostgreSQL server on another local port.

``start_replica`` takes a base backup of the primary (``pg_basebackup -R``: the standby's
connection settings and ``standby.signal`` are written for it), with a physical replication
slot so that the primary keeps the WAL the standby still needs, and starts it as a hot
standby. Used by ``finnsys.py demo --replica``, ``benchmarks/load.py --replica`` and the
read-replica tests. The project cluster allows replication connections from 127.0.0.1 (initdb's
defaults); another server needs a role with REPLICATION and a ``pg_hba.conf`` line for it.
"""

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import CliError, free_port, info, last_line, rel, signals_ignored
from .cluster import PgServer, as_user, chown_to, cluster_os_user, psql

CATCH_UP_TIMEOUT = 60
STATEMENT_LOG = re.compile(r"LOG:  (?:statement|execute [^:]*): ")


@dataclass
class Replica:
    """A running hot standby of ``primary``."""

    primary: PgServer
    server: PgServer  # where clients connect to the standby
    datadir: Path
    log: Path
    slot: str
    os_user: str | None

    def sql(self, sql: str, database: str = "postgres") -> str:
        result = psql(self.server, database, sql)
        if result.returncode != 0:
            raise CliError(f"replica on port {self.server.port}: {last_line(result.stderr)}")
        return result.stdout.strip()

    def lag_bytes(self) -> int:
        """How far the standby's replay is behind the primary's WAL, in bytes."""
        primary_lsn = psql(self.primary, "postgres", "SELECT pg_current_wal_lsn()").stdout.strip()
        return int(self.sql(f"SELECT pg_wal_lsn_diff('{primary_lsn}', pg_last_wal_replay_lsn())"))

    def wait_caught_up(self, timeout: float = CATCH_UP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.lag_bytes() > 0:
            if time.monotonic() > deadline:
                raise CliError(f"the replica did not catch up within {timeout:.0f} s")
            time.sleep(0.1)

    def pause_replay(self) -> None:
        self.sql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def stop(self) -> None:
        """Stop the standby, drop its slot on the primary and its data directory."""
        with signals_ignored():
            subprocess.run(
                as_user(
                    [self.server.tool("pg_ctl"), "-D", str(self.datadir), "stop", "-m", "fast"],
                    self.os_user,
                ),
                capture_output=True,
                check=False,
            )
            psql(
                self.primary,
                "postgres",
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                f" WHERE slot_name = '{self.slot}'",
            )
            shutil.rmtree(self.datadir, ignore_errors=True)

    def statements(self, database: str | None = None) -> list[str]:
        """Statements the standby logged (with ``log_statement = all``), of ``database``."""
        return logged_statements(self.log, database)


def logged_statements(log: Path, database: str | None = None) -> list[str]:
    """The statements of a PostgreSQL log written with :data:`LOG_LINE_PREFIX`."""
    text = log.read_text(errors="replace") if log.exists() else ""
    marker = f" db={database} " if database else ""
    return [line for line in text.splitlines() if STATEMENT_LOG.search(line) and marker in line]


LOG_LINE_PREFIX = "%m [%p] db=%d "


def start_replica(
    primary: PgServer, datadir: Path, port: int | None = None, log_statements: bool = False
) -> Replica:
    """Base-backup ``primary`` into ``datadir`` and start it as a hot standby on ``port``."""
    os_user = cluster_os_user() if primary.host in ("127.0.0.1", "localhost") else None
    port = port or free_port()
    slot = f"finnsys_replica_{port}"
    if datadir.exists():
        shutil.rmtree(datadir)
    datadir.mkdir(parents=True, mode=0o700)
    chown_to(datadir, os_user)
    log = datadir.parent / f"{datadir.name}.log"
    log.touch()
    chown_to(log, os_user)
    info(f"base backup of {primary.host}:{primary.port} into {rel(datadir)}")
    backup = [
        primary.tool("pg_basebackup"),
        *("-h", primary.host, "-p", str(primary.port), "-U", primary.user),
        *("-D", str(datadir), "-R", "-X", "stream", "-C", "-S", slot, "--checkpoint=fast"),
    ]
    result = subprocess.run(
        as_user(backup, os_user), capture_output=True, text=True, env=primary.env(), check=False
    )
    if result.returncode != 0:
        raise CliError(f"pg_basebackup failed: {last_line(result.stderr)}")
    options = [
        f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c hot_standby=on",
        f"-c log_line_prefix='{LOG_LINE_PREFIX}'",
        "-c log_statement=all" if log_statements else "",
    ]
    start = [
        primary.tool("pg_ctl"),
        *("-D", str(datadir), "-l", str(log), "-o", " ".join(options), "-w", "start"),
    ]
    result = subprocess.run(as_user(start, os_user), capture_output=True, text=True, check=False)
    server = PgServer("127.0.0.1", port, primary.user, primary.password, primary.bindir)
    replica = Replica(primary, server, datadir, log, slot, os_user)
    if result.returncode != 0:
        replica.stop()
        raise CliError(f"the replica did not start on port {port}: {last_line(log.read_text())}")
    info(f"read replica (hot standby) on 127.0.0.1:{port} (log: {rel(log)})")
    replica.wait_caught_up()
    return replica


@contextlib.contextmanager
def running_replica(primary: PgServer, datadir: Path, **options) -> Iterator[Replica]:
    replica = start_replica(primary, datadir, **options)
    try:
        yield replica
    finally:
        info("stopping the read replica")
        replica.stop()
