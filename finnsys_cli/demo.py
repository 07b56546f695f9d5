"""``finnsys.py demo``: the demo database, installed or upgraded, then served."""

import argparse
import contextlib
import subprocess
import time
import urllib.request

from .base import (
    DEMO_LOG,
    REPO,
    STATE_DIR,
    CliError,
    free_port,
    info,
    port_in_use,
    rel,
    signals_ignored,
    stop_process,
)
from .cluster import (
    PgServer,
    create_database,
    database_exists,
    database_server,
    drop_database,
    installed_modules,
    psql,
)
from .mailcatcher import MAIL_DIR, MAIL_INDEX, mail_catcher
from .odoo import (
    ADDONS,
    PAYMENT_ADDON,
    check_db_name,
    install_modules,
    local_http,
    manifest_depends,
    odoo_command,
    run_odoo_init,
    write_odoo_rc,
)
from .replica import running_replica

DEFAULT_DEMO_DB = "finnsys_demo"
DEFAULT_HTTP_PORT = 8069
HTTP_READY_TIMEOUT = 120

# Logins created by the addons' demo data, shown once the demo is up.
ADMIN_LOGIN = ("admin", "admin")
DEMO_LOGINS = (
    ("Billing user:", "billing@finnsys.example", "billing"),
    ("Prepaid customer (portal):", "prepaid@customer.example", "prepaid"),
    ("Postpaid customer (portal):", "postpaid@customer.example", "postpaid"),
)


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
        run_odoo_init(odoo, server, database, upgrade, DEMO_LOG, args.verbose, args.smtp)
        requeue_unsent_mail(server, database)
    else:
        raise CliError(
            f"database {database} exists and is not a FinnSys demo database: "
            "choose another --database"
        )


def create_demo_database(odoo: list[str], server: PgServer, args: argparse.Namespace) -> None:
    database = args.database
    create_database(server, database)
    try:
        for modules in ((PAYMENT_ADDON,), ADDONS):
            install_modules(odoo, server, database, modules, args, DEMO_LOG, args.smtp)
    except BaseException:
        drop_database(server, database)
        raise


def requeue_unsent_mail(server: PgServer, database: str) -> None:
    """E-mails that failed when the demo had no mail server go out again, to the catcher."""
    sql = (
        "WITH requeued AS (UPDATE mail_mail SET state = 'outgoing', failure_reason = NULL,"
        " failure_type = NULL WHERE state = 'exception' AND failure_type = 'mail_smtp'"
        " RETURNING 1) SELECT count(*) FROM requeued"
    )
    count = psql(server, database, sql).stdout.strip()
    if count not in ("", "0"):
        info(f"{count} e-mails that found no mail server before are queued again")


def demo_block(args: argparse.Namespace, server: PgServer, port: int, header: str) -> str:
    """The banner: where everything is, the logins, where the e-mails go."""
    base = f"http://127.0.0.1:{port}"
    mail = f"caught while the demo runs, kept in {rel(MAIL_DIR)}/ (list: {rel(MAIL_INDEX)})"
    rows = [
        ("Database:", f"{args.database} on PostgreSQL {server.host}:{server.port}"),
        (f"Backend: {base}/odoo", "login {} / {}".format(*ADMIN_LOGIN)),
        (DEMO_LOGINS[0][0], "login {} / {}".format(*DEMO_LOGINS[0][1:])),
        (f"Portal:  {base}/my", f"or log in by e-mailed code: {base}/web/login/code"),
        *((label, f"login {login} / {password}") for label, login, password in DEMO_LOGINS[1:]),
        ("E-mails:", mail),
    ]
    if getattr(args, "replica_port", None):
        rows.append(
            ("Read replica:", f"hot standby on 127.0.0.1:{args.replica_port}, read-only pages")
        )
    width = max(len(left) for left, _ in rows) + 3
    return "\n".join([header, *(f"  {left:<{width}}{right}".rstrip() for left, right in rows)])


def stop_note(server: PgServer) -> str:
    if server.started:
        return "Ctrl-C stops Odoo, the mail catcher and PostgreSQL"
    return "Ctrl-C stops Odoo and the mail catcher; PostgreSQL was running before and stays"


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


def serve_demo(odoo: list[str], server: PgServer, args: argparse.Namespace, port: int) -> None:
    """Run Odoo in the foreground until it stops or we are interrupted."""
    database = args.database
    filter_ = ("--db-filter", f"^{database}$")
    replica = ("--db_replica_host", "127.0.0.1", "--db_replica_port", str(args.replica_port))
    extra = replica if args.replica_port else ()
    command = odoo_command(odoo, server, database, *filter_, *local_http(port), *args.smtp, *extra)
    info(f"starting Odoo on 127.0.0.1:{port} (log: {rel(DEMO_LOG)})")
    with DEMO_LOG.open("a") as log:
        proc = subprocess.Popen(
            command, env=server.env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(proc, f"http://127.0.0.1:{port}/web/login")
            header = f"FinnSys demo is running ({stop_note(server)})"
            print(demo_block(args, server, port, header), flush=True)
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
    with database_server(args) as server, mail_catcher() as catcher:
        args.smtp = ("--smtp", "127.0.0.1", "--smtp-port", str(catcher.port))
        write_odoo_rc(server)
        prepare_demo_database(odoo, server, args)
        if port is None:
            header = f"FinnSys demo database {args.database} is ready (not serving: --no-serve)"
            print(demo_block(args, server, args.http_port or DEFAULT_HTTP_PORT, header))
            return 0
        with contextlib.ExitStack() as stack:
            args.replica_port = None
            if args.replica:
                replica = stack.enter_context(running_replica(server, STATE_DIR / "replica"))
                args.replica_port = replica.server.port
            try:
                serve_demo(odoo, server, args, port)
            except KeyboardInterrupt:
                info("stopping the demo")
    return 0
