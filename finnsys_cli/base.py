"""Paths, errors and child processes shared by every part of the CLI."""

import argparse
import collections
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".finnsys"
PGDATA = STATE_DIR / "pgdata"
PG_LOG = STATE_DIR / "postgres.log"
DATA_DIR = STATE_DIR / "data"
# Read at call time (``base.ODOO_RC``): the benchmarks give each run a config file of its own.
ODOO_RC = STATE_DIR / "odoo.rc"
DEMO_LOG = STATE_DIR / "odoo-demo.log"
TEST_LOG = STATE_DIR / "odoo-test.log"
PYTEST_LOG = STATE_DIR / "pytest.log"
PYTEST_DIR = REPO / "tests"
ENTRY_POINT = REPO / "finnsys.py"


class CliError(Exception):
    """A problem reported to the user as one line on stderr, exiting with ``code``."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def info(message: str) -> None:
    print(f"finnsys: {message}", flush=True)


def rel(path: Path) -> str:
    """The path as the user sees it from the repository (absolute when outside)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


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
