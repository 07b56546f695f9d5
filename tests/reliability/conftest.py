"""Scratch databases and Odoo processes for the reliability tests.

The tests run Odoo as separate processes (servers, seeding scripts) and kill some, so
they never touch the database pytest-odoo tests in: FinnSys is installed once per session in
a template database (payment_demo, then both addons, no demo data), and each test module gets
a copy of it, dropped at the end whatever happens.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

import psycopg2
import pytest

from odoo import sql_db
from odoo.tools import config

HERE = Path(__file__).resolve().parent
WORKER = HERE / "odoo_worker.py"
INSTALL_STEPS = ("payment_demo", "finnsys_billing,finnsys_billing_portal")
INSTALL_TIMEOUT = 600
SERVER_READY_TIMEOUT = 120
ADMIN = ("admin", "admin")  # the admin of a database created without demo data


def odoo_options(database):
    """Options that point an Odoo process at the same server and addons as this run; the
    password, if any, travels in the environment (see :func:`odoo_env`)."""
    rcfile = config["config"]
    options = ["-c", rcfile] if rcfile and os.path.exists(rcfile) else []
    options += ["--addons-path", ",".join(config["addons_path"])]
    options += ["--data-dir", config["data_dir"], "-d", database]
    for name in ("db_host", "db_port", "db_user"):
        if config[name]:
            options += [f"--{name}", str(config[name])]
    return options


def odoo_env():
    env = dict(os.environ)
    if config["db_password"]:
        env["PGPASSWORD"] = config["db_password"]
    return env


@contextlib.contextmanager
def pg_connection(database, autocommit=True):
    _name, params = sql_db.connection_info_for(database)
    connection = psycopg2.connect(**params)
    connection.autocommit = autocommit
    try:
        yield connection
    finally:
        connection.close()


def drop_database(name):
    with pg_connection("postgres") as connection, connection.cursor() as cr:
        cr.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    shutil.rmtree(config.filestore(name), ignore_errors=True)


def free_ports(count):
    """Ports next to this run's HTTP port first (a developer's range), else any free one."""
    base = int(config["http_port"] or 8069)
    ports = []
    for port in [*range(base + 1, base + 9), *([0] * count)]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            ports.append(probe.getsockname()[1])
        if len(ports) == count:
            return ports
    raise RuntimeError("no free HTTP port")


class ScratchDatabase:
    """A FinnSys database of one test module, with Odoo processes started on it."""

    def __init__(self, name, log_dir):
        self.name = name
        self.log_dir = log_dir
        self.processes = []

    # --- SQL, for assertions ------------------------------------------------------------

    def query(self, sql, params=None):
        with pg_connection(self.name) as connection, connection.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall()

    def scalar(self, sql, params=None):
        return self.query(sql, params)[0][0]

    @contextlib.contextmanager
    def pg_admin(self):
        """A cursor on the server's ``postgres`` database, for settings of the cluster."""
        with pg_connection("postgres") as connection, connection.cursor() as cr:
            yield cr

    def reminders_sent(self, invoice_ids):
        """(invoice, sent reminder logs with an e-mail, e-mails queued) per invoice."""
        return self.query(
            """
            SELECT m.id,
                   (SELECT COUNT(*) FROM finnsys_reminder_log l
                     WHERE l.move_id = m.id AND l.state = 'sent' AND l.mail_id IS NOT NULL),
                   (SELECT COUNT(*) FROM mail_mail mm
                      JOIN mail_message msg ON msg.id = mm.mail_message_id
                     WHERE msg.model = 'account.move' AND msg.res_id = m.id)
              FROM account_move m WHERE m.id IN %s ORDER BY m.id
            """,
            [tuple(invoice_ids)],
        )

    # --- processes ----------------------------------------------------------------------

    def worker_command(self, command, spec=None):
        args = [sys.executable, str(WORKER), *odoo_options(self.name), "--no-http"]
        return [*args, "--log-level", "warn", "--", command, json.dumps(spec or {})]

    def run_worker(self, command, spec=None, timeout=300):
        """Run a worker to its end; return what it printed as its result."""
        result = subprocess.run(
            self.worker_command(command, spec),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=odoo_env(),
            check=False,
        )
        marks = [line for line in result.stdout.splitlines() if line.startswith("WORKER-RESULT ")]
        if result.returncode or not marks:
            raise AssertionError(
                f"worker {command} exited with {result.returncode}:\n{result.stderr[-4000:]}"
            )
        return json.loads(marks[-1].removeprefix("WORKER-RESULT "))

    def start_server(self, port, log_name, *options):
        """An Odoo server on ``port`` with no cron thread: the tests decide what runs when;
        ``options`` are more Odoo options (a read replica, say)."""
        log = self.log_dir / f"{log_name}.log"
        command = [sys.executable, "-m", "odoo", "server", *odoo_options(self.name)]
        command += ["--http-interface", "127.0.0.1", "--http-port", str(port)]
        command += ["--max-cron-threads", "0", "--db-filter", f"^{self.name}$"]
        command += ["--logfile", str(log), "--log-level", "info", "--workers", "0", *options]
        process = subprocess.Popen(
            command, env=odoo_env(), start_new_session=True, stdout=subprocess.DEVNULL
        )
        self.processes.append(process)
        return OdooServer(self, process, port, log)

    @staticmethod
    def free_port():
        return free_ports(1)[0]

    def start_servers(self, count):
        return [self.start_server(port, f"server-{n}") for n, port in enumerate(free_ports(count))]

    def stop_processes(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
        self.processes = []


class OdooServer:
    def __init__(self, database, process, port, log):
        self.database = database
        self.process = process
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self):
        deadline = time.monotonic() + SERVER_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"Odoo server on {self.port} exited: see {self.log}")
            try:
                self.uid = self._common().authenticate(self.database.name, *ADMIN, {})
                if self.uid:
                    # wkhtmltopdf loads the PDFs' styles from here (not from web.base.url).
                    self.execute("ir.config_parameter", "set_param", "report.url", self.url)
                    return self
            except (OSError, xmlrpc.client.Error):
                pass
            time.sleep(0.5)
        raise AssertionError(f"Odoo server on {self.port} not ready: see {self.log}")

    def _common(self):
        return xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/common")

    def execute(self, model, method, *args):
        proxy = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/object", allow_none=True)
        return proxy.execute_kw(self.database.name, self.uid, ADMIN[1], model, method, list(args))

    def log_lines(self, *needles):
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if any(n in line for n in needles)]


def _install(name, log_dir):
    drop_database(name)
    for step, modules in enumerate(INSTALL_STEPS):
        log = log_dir / f"install-{step}.log"
        command = [sys.executable, "-m", "odoo", *odoo_options(name), "-i", modules]
        command += ["--stop-after-init", "--no-http", "--logfile", str(log)]
        result = subprocess.run(
            command, env=odoo_env(), timeout=INSTALL_TIMEOUT, check=False, capture_output=True
        )
        if result.returncode:
            raise AssertionError(f"installing {modules} in {name} failed: see {log}")
    _freeze_template(name)


def _freeze_template(name):
    """The tests run the crons themselves: none is left for a cron thread to start, here or in
    the copies. Then no one may connect any more (another Odoo server's cron thread on this
    machine would otherwise keep a connection, and a database in use cannot be copied)."""
    with pg_connection(name) as connection, connection.cursor() as cr:
        cr.execute("UPDATE ir_cron SET active = FALSE")
    with pg_connection("postgres") as connection, connection.cursor() as cr:
        cr.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        cr.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [name],
        )


@pytest.fixture(scope="session")
def reliability_template(tmp_path_factory):
    """A database with FinnSys installed, copied by each module (installed once a session)."""
    base = config["db_name"][0] if config["db_name"] else "finnsys"
    name = f"{base[:40]}_rel_{secrets.token_hex(3)}"
    log_dir = tmp_path_factory.mktemp("reliability")
    try:
        _install(name, log_dir)
        yield name, log_dir
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def scratch_db(reliability_template, request):
    """This module's own copy of the template database, dropped at the end."""
    template, log_dir = reliability_template
    name = f"{template}_{request.module.__name__.rsplit('_', 1)[-1][:10]}"
    module_logs = log_dir / name
    module_logs.mkdir()
    database = ScratchDatabase(name, module_logs)
    try:
        drop_database(name)
        with pg_connection("postgres") as connection, connection.cursor() as cr:
            cr.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        if os.path.isdir(config.filestore(template)):
            shutil.copytree(config.filestore(template), config.filestore(name), dirs_exist_ok=True)
        yield database
    finally:
        database.stop_processes()
        drop_database(name)
