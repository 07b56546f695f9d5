"""Load test: portal customers on Odoo's multi-process server while FinnSys's crons run.

The script builds a database with FinnSys (``--customers`` postpaid customers holding
``--invoices`` posted invoices, the first ``--users`` of them with a portal login and a saved
``payment_demo`` card; prepaid customers due a top-up, invoices due a reminder and
subscriptions due an invoice, a tenth of ``--customers`` each), copies it and uninstalls
FinnSys's portal from the copy (Odoo's own portal on the same data, the baseline). It then
starts Odoo on both (``--workers 4 --max-cron-threads 2``, loopback only) and loads each
database in turn, FinnSys's first, on the same server: locust (``load_users.py``) runs for
``--duration`` seconds, ``--users`` customers log in, open ``/my``, the invoice list with each
tab (Odoo's: each filter) and pay 1.00 of an open invoice with their saved card through the
JSON route the payment form calls, then poll the payment status as Odoo's status page does
(which books the payment). Right after the users have logged in, that database's top-up,
reminder and subscription crons are triggered (``ir.cron._trigger()``), so the server's cron
workers run them during the load; the next database waits until they are done. Users start
two a second, and the workers wait up to 30 s for a request (``ODOO_HTTP_SOCKET_TIMEOUT``):
the reverse proxy's buffering that production has (see the README) is not here.

Figures (printed, never asserted): p50/p95 and errors per page on both databases; p95 of
FinnSys's ``/my/invoices`` pages against Odoo's (goal: at most 1.5x) and the errors (target:
0: failed requests and ERROR records in the server log, .finnsys/bench-load-server-<pid>.log).
With ``--replica`` the comparison is with and without a read replica instead: the database
is copied, a hot standby of the cluster is started (``finnsys_cli.replica``), and the same
load (users and crons) runs on the first copy with Odoo on the primary alone, then on the
second with Odoo given the standby (``--db_replica_host/--db_replica_port``). Printed: p95 and
errors per page for both, and the share of each phase's SQL statements that the primary
served (``log_statement = all`` for the two databases, counted in each server's log).

Everything it starts is stopped and its databases dropped at the end, also on Ctrl-C or
failure. Invoices are made with the ORM (``create`` then ``action_post`` per batch of 500), the
generation time is printed: about 20-50 invoices a second on two shared cores.
"""

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import (
    CRON_TIME_LIMIT,
    Meter,
    bench_database,
    bench_server,
    close_environment,
    copy_database,
    finnsys,
    open_environment,
    setup_company,
)
from reminders import attach_invoice_pdfs
from subscriptions import make_plan, make_subscriptions
from topup import make_customers as make_topup_customers

from odoo import Command, fields
from odoo.fields import Domain

from finnsys_cli.base import PG_LOG
from finnsys_cli.cluster import psql
from finnsys_cli.replica import LOG_LINE_PREFIX, logged_statements, running_replica

MODULES = ("payment_demo", "finnsys_billing_portal")
INVOICE_BATCH = 500
REMINDER_EVERY = 50  # one invoice in 50 is 10 days past due: its reminders are due today
PAID_PER_USER = 2  # invoices a portal customer has paid already (the Paid tab)
CRONS = (
    "finnsys_billing.ir_cron_billing_topup",
    "finnsys_billing.ir_cron_send_reminders",
    "finnsys_billing.ir_cron_invoice_subscriptions",
)
USERS_FILE = Path(__file__).with_name("load_users.py")
# FinnSys's database first, then the copy without its portal: the locust classes for each.
LABELS = ("ours", "odoo")
USER_CLASSES = ("BillingCustomer", "OdooCustomer")
SERVER_LOG = finnsys.STATE_DIR / f"bench-load-server-{os.getpid()}.log"
GOAL = 1.5
# Seconds an HTTP worker waits for a request on an accepted connection (Odoo's default: 2).
# In production a buffering reverse proxy hands workers whole requests; here locust shares the
# two cores with the server, and a starved locust would otherwise see its connections dropped.
SOCKET_TIMEOUT = 30
SPAWN_RATE = 2  # users started per second: each login hashes the password (600,000 rounds)
# Logged at ERROR by odoo.sql_db, then retried by Odoo's request and job runners.
RETRIED = re.compile(r"could not serialize access|deadlock detected")


def make_postpaid_customers(env, count, users):
    """``count`` postpaid customers; the first ``users`` get a portal login (password = login)
    and a saved demo card on that contact."""
    customers = env["res.partner"].create(
        [
            {
                "name": f"Customer {n:05d}",
                "email": f"customer-{n}@bench.example",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "postpaid",
            }
            for n in range(count)
        ]
    )
    logins = [f"load-{n:03d}" for n in range(min(users, count))]
    portal_users = env["res.users"].create(
        [
            {
                "name": f"{customer.name} Contact",
                "login": login,
                "password": login,
                "email": f"{login}@bench.example",
                "group_ids": [Command.set(env.ref("base.group_portal").ids)],
            }
            for customer, login in zip(customers, logins, strict=False)
        ]
    )
    provider = env.ref("payment.payment_provider_demo")
    for customer, user in zip(customers, portal_users, strict=False):
        user.partner_id.parent_id = customer
    env["payment.token"].create(
        [
            {
                "provider_id": provider.id,
                "payment_method_id": env.ref("payment.payment_method_card").id,
                "partner_id": user.partner_id.id,
                "payment_details": "4242",
                "provider_ref": f"load-{user.id}",
                "demo_simulated_state": "done",
            }
            for user in portal_users
        ]
    )
    env.cr.commit()
    return customers, logins


def invoice_values(customers, n, today, account):
    """Invoice ``n``, round-robin over the customers: due in 30 days, or (one in
    REMINDER_EVERY) 10 days ago."""
    reminder_due = n % REMINDER_EVERY == 0
    invoice_date = today - datetime.timedelta(days=20 if reminder_due else n % 15)
    due = today + datetime.timedelta(days=-10 if reminder_due else 30)
    return {
        "move_type": "out_invoice",
        "partner_id": customers[n % len(customers)].id,
        "invoice_date": invoice_date,
        "invoice_date_due": due,
        "invoice_line_ids": [
            Command.create(
                {
                    "name": "Usage",
                    "account_id": account.id,
                    "price_unit": 100 + n % 50,
                    "tax_ids": [],
                }
            )
        ],
    }


def make_invoices(env, customers, count):
    """Posted invoices, created and posted in committed batches of INVOICE_BATCH."""
    today = fields.Date.context_today(env.user)
    # The sales journal's account: Odoo would otherwise look up each customer's usual one.
    account = (
        env["account.journal"]
        .search(Domain("type", "=", "sale") & Domain("company_id", "=", env.company.id), limit=1)
        .default_account_id
    )
    # Data set-up only: no chatter messages, followers or tracking on the generated invoices.
    Move = env["account.move"].with_context(
        tracking_disable=True,
        mail_create_nolog=True,
        mail_create_nosubscribe=True,
        mail_notrack=True,
    )
    for start in range(0, count, INVOICE_BATCH):
        values = [
            invoice_values(customers, n, today, account)
            for n in range(start, min(count, start + INVOICE_BATCH))
        ]
        Move.create(values).action_post()
        env.cr.commit()
        env.invalidate_all()
    # Invoices are e-mailed with their PDF: reminders attach it rather than render one.
    due = Move.search(
        Domain("move_type", "=", "out_invoice")
        & Domain("invoice_date_due", "<", today)
        & Domain("partner_id", "in", customers.ids)
    )
    attach_invoice_pdfs(env, due)
    env.cr.commit()
    return len(due)


def pay_some(env, customers):
    """The portal customers have paid PAID_PER_USER invoices each (their Paid tab)."""
    for customer in customers:
        invoices = env["account.move"].search(
            Domain("partner_id", "=", customer.id) & Domain("payment_state", "=", "not_paid"),
            limit=PAID_PER_USER,
        )
        if invoices:
            env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoices.ids
            ).create({"group_payment": True})._create_payments()
    env.cr.commit()


def build(env, options):
    """Everything the load test needs in FinnSys's database; returns what was made."""
    company = setup_company(env)
    company.account_use_credit_limit = False
    env.cr.commit()
    side = max(options.customers // 10, 1)
    make_topup_customers(env, side, "Prepaid")  # puts the demo provider in test mode
    # Reading the provider's journal gives it its payment method line, as the provider form
    # does; left to the first payments, concurrent ones each create one and then all fail.
    if not env.ref("payment.payment_provider_demo").journal_id:
        raise SystemExit("the demo payment provider found no bank journal")
    customers, logins = make_postpaid_customers(env, options.customers, options.users)
    with Meter() as invoicing:
        reminders_due = make_invoices(env, customers, options.invoices)
    pay_some(env, customers[: options.users])
    make_subscriptions(env, make_plan(env), side, "Subscriber")
    env.cr.commit()
    print(
        f"data: {options.customers:,} customers, {options.invoices:,} posted invoices in "
        f"{invoicing.seconds:.0f} s ({options.invoices / invoicing.seconds:.0f} invoices/s, "
        f"batches of {INVOICE_BATCH}), {reminders_due:,} due a reminder, {side:,} prepaid "
        f"customers due a top-up, {side:,} subscriptions due, {len(logins)} portal logins",
        flush=True,
    )
    return logins, side


def uninstall_portal(database):
    """Odoo's own portal pages on the copy: uninstall FinnSys's portal addon there."""
    env = open_environment(database)
    try:
        env["ir.module.module"].search(
            Domain("name", "=", "finnsys_billing_portal")
        ).button_immediate_uninstall()
        env.cr.commit()
    finally:
        env.cr.close()
        close_environment(database)


@contextlib.contextmanager
def odoo_server(server, databases, port, gevent_port, *options):
    """Odoo in multi-process mode on 127.0.0.1:``port`` serving ``databases`` only; its cron
    workers run the jobs of those databases alone (``-d`` lists them); ``options`` are more
    Odoo options."""
    odoo = finnsys.detect_odoo()
    if odoo[1:3] == ["-m", "odoo"] and shutil.which("odoo"):
        # The server starts its gevent (websocket) process as ``python argv[0] gevent``:
        # with ``python -m odoo`` argv[0] is odoo/__main__.py, which cannot run alone.
        odoo = [shutil.which("odoo")]
    command = finnsys.odoo_command(
        odoo,
        server,
        ",".join(databases),
        "--workers",
        "4",
        "--max-cron-threads",
        "2",
        "--limit-time-real",
        "120",
        "--limit-time-real-cron",
        str(CRON_TIME_LIMIT),
        "--db-filter",
        f"^({'|'.join(databases)})$",
        "--gevent-port",
        str(gevent_port),
        *finnsys.local_http(port),
        *options,
    )
    with SERVER_LOG.open("w") as log:
        proc = subprocess.Popen(
            command,
            env=dict(server.env(), ODOO_HTTP_SOCKET_TIMEOUT=str(SOCKET_TIMEOUT)),
            cwd=finnsys.REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(proc, f"http://127.0.0.1:{port}/web/health")
            yield f"http://127.0.0.1:{port}"
        finally:
            with finnsys.signals_ignored():
                finnsys.stop_process(proc)


def wait_until_up(proc, url, timeout=120):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"Odoo exited (code {proc.returncode}): see {SERVER_LOG}")
        with contextlib.suppress(OSError), opener.open(url, timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(1)
    raise SystemExit(f"Odoo did not answer {url} within {timeout} s: see {SERVER_LOG}")


def warm_up(url, databases):
    """Load both registries in every HTTP worker before measuring (concurrent requests reach
    different workers), so that the first users do not time the registry loading."""

    def visit(database):
        jar = urllib.request.HTTPCookieProcessor()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), jar)
        with opener.open(f"{url}/web/login?db={database}", timeout=120) as response:
            response.read()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(visit, [database for database in databases for _n in range(8)]))


def trigger_crons(database):
    """Queue the batch jobs the way a scheduler does: the server's cron workers pick them up."""
    env = open_environment(database)
    try:
        for xmlid in CRONS:
            env.ref(xmlid)._trigger()
        env.cr.commit()
    finally:
        env.cr.close()


@contextlib.contextmanager
def locust(url, databases, user_class, logins, options, samples):
    """Start locust headless with ``options.users`` customers of ``user_class``."""
    env = dict(
        os.environ,
        LOAD_DB_OURS=databases[0],
        LOAD_DB_ODOO=databases[1],
        LOAD_LOGINS=",".join(logins),
        LOAD_SAMPLES=samples,
    )
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(USERS_FILE),
        user_class,
        "--headless",
        "--users",
        str(options.users),
        "--spawn-rate",
        str(SPAWN_RATE),
        "--run-time",
        f"{options.duration}s",
        "--stop-timeout",
        "30",
        "--host",
        url,
        "--only-summary",
        "--loglevel",
        "ERROR",
    ]
    with open(f"{samples}.log", "w") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            with finnsys.signals_ignored():
                finnsys.stop_process(proc, grace=60)


def cron_outcome(database, side):
    env = open_environment(database)
    try:
        topped = env["finnsys.topup.attempt"].search_count(Domain("state", "=", "done"))
        reminders = env["finnsys.reminder.log"].search_count([])
        invoiced = env["account.move"].search_count(
            Domain("subscription_id", "!=", False) & Domain("state", "=", "posted")
        )
        return f"{topped:,}/{side:,} top-ups done, {reminders:,} reminders logged, " + (
            f"{invoiced:,}/{side:,} subscriptions invoiced"
        )
    finally:
        env.cr.close()
        close_environment(database)


def percentile(values, share):
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1]


def row(label, samples):
    times = [ms for ms, _failed in samples]
    errors = sum(failed for _ms, failed in samples)
    return (
        (
            f"{label:<40} {len(times):>8} {percentile(times, 50):>8.0f} "
            f"{percentile(times, 95):>8.0f} {errors:>7}"
        ),
        percentile(times, 95),
        errors,
    )


def report(results, server_log, outcome):
    samples = results["samples"]
    print(f"{'page':<40} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7}")
    errors = 0
    for name in sorted(samples):
        line, _p95, failed = row(name, samples[name])
        errors += failed
        print(line)
    p95 = {}
    for label in ("ours", "odoo"):
        pages = [
            s
            for name, data in samples.items()
            if name.startswith(f"{label} /my/invoices")
            for s in data
        ]
        line, p95[label], _failed = row(f"{label} /my/invoices, every tab", pages)
        print(line)
    ratio = p95["ours"] / p95["odoo"]
    for name, messages in sorted(results["failures"].items()):
        for message, count in messages.items():
            print(f"failed: {name}: {count} x {message}")
    log_errors, retried = server_log
    print(
        f"server log: {log_errors} ERROR records (and {retried} serialization conflicts, "
        f"retried by Odoo)"
    )
    for label, figures in outcome.items():
        print(f"crons during the {label} load: {figures}")
    print(
        f"=> p95 of /my/invoices {ratio:.2f}x Odoo's /my/invoices (goal: at most {GOAL}x); "
        f"errors {errors + log_errors} (target: 0)"
    )


def server_errors():
    """ERROR records of the server log, less the serialization conflicts Odoo retries."""
    lines = SERVER_LOG.read_text(errors="replace").splitlines() if SERVER_LOG.exists() else []
    errors = retried = 0
    for index, line in enumerate(lines):
        record = finnsys.ODOO_LOG_RECORD.match(line)
        if not record or record["level"] not in ("ERROR", "CRITICAL"):
            continue
        following = " ".join(lines[index : index + 2])
        if record["logger"] == "odoo.sql_db" and RETRIED.search(following):
            retried += 1
        else:
            errors += 1
    return errors, retried


def run(server, options):
    with bench_database(server, "load", MODULES) as ours:
        env = open_environment(ours)
        logins, side = build(env, options)
        env.cr.close()
        close_environment(ours)
        if options.replica:
            run_with_replica(server, ours, logins, side, options)
            return
        with copy_database(server, ours, "load_odoo") as theirs:
            uninstall_portal(theirs)
            results = load(server, (ours, theirs), logins, options)
            outcome = {
                label: cron_outcome(database, side)
                for label, database in zip(LABELS, (ours, theirs), strict=True)
            }
            report(results, server_errors(), outcome)


def run_with_replica(server, ours, logins, side, options):
    """The same load on two copies of the data: on the primary alone, then with a replica."""
    with copy_database(server, ours, "load_replica") as mirrored:
        for database in (ours, mirrored):
            psql(server, database, f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
        if psql(server, "postgres", "SHOW log_line_prefix").stdout.strip() != LOG_LINE_PREFIX:
            psql(server, "postgres", f"ALTER SYSTEM SET log_line_prefix = '{LOG_LINE_PREFIX}'")
            psql(server, "postgres", "SELECT pg_reload_conf()")
        datadir = finnsys.STATE_DIR / f"bench-replica-{os.getpid()}"
        with running_replica(server, datadir) as replica:
            replica_options = ("--db_replica_host", "127.0.0.1")
            replica_options += ("--db_replica_port", str(replica.server.port))
            phases = {"primary only": (ours, ()), "with replica": (mirrored, replica_options)}
            figures = {}
            for label, (database, extra) in phases.items():
                marks = (
                    len(logged_statements(PG_LOG, database)),
                    len(replica.statements(database)),
                )
                results = load(server, (database, database), logins, options, extra, 1)
                primary = len(logged_statements(PG_LOG, database)) - marks[0]
                standby = len(replica.statements(database)) - marks[1] if extra else 0
                figures[label] = (results, server_errors(), primary, standby)
                print(f"crons during the {label} load: {cron_outcome(database, side)}")
        report_replica(figures)


def invoice_samples(samples):
    return [sample for name, data in samples.items() if "/my/invoices" in name for sample in data]


def report_replica(figures):
    labels = list(figures)
    samples = {label: figures[label][0]["samples"] for label in labels}
    pages = sorted({name for data in samples.values() for name in data})
    print(f"{'page (p95 ms / errors)':<40} " + " ".join(f"{label:>22}" for label in labels))
    for page in [*pages, "/my/invoices, every tab"]:
        cells = []
        for label in labels:
            data = samples[label].get(page) or invoice_samples(samples[label])
            _line, p95, errors = row(page, data)
            cells.append(f"{p95:>14.0f} / {errors:>5}")
        print(f"{page.removeprefix('ours '):<40} " + " ".join(f"{cell:>22}" for cell in cells))
    for label, (results, (log_errors, retried), primary, standby) in figures.items():
        failed = sum(sum(messages.values()) for messages in results["failures"].values())
        share = primary / (primary + standby) if primary + standby else float("nan")
        print(
            f"{label}: {failed} failed requests, {log_errors} ERROR records ({retried} "
            f"serialization conflicts retried); SQL statements on the primary {primary:,}, "
            f"on the replica {standby:,}: the primary served {share:.0%}"
        )
    p95 = {label: row("", invoice_samples(samples[label]))[1] for label in labels}
    print(
        f"=> p95 of /my/invoices with a replica {p95[labels[1]] / p95[labels[0]]:.2f}x "
        "the primary alone"
    )


def load(server, databases, logins, options, server_options=(), phases=2):
    """Serve both databases; load each in turn (its users and its crons, the same data and
    server); the users' results of both."""
    results = {"samples": {}, "failures": {}}
    with (
        odoo_server(
            server, databases[:phases], options.http_port, options.gevent_port, *server_options
        ) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        warm_up(url, databases[:phases])
        for database, user_class in list(zip(databases, USER_CLASSES, strict=True))[:phases]:
            samples = Path(tmp) / f"{user_class}.json"
            with locust(url, databases, user_class, logins, options, str(samples)) as proc:
                time.sleep(min(options.users / SPAWN_RATE, options.duration / 2))
                trigger_crons(database)
                proc.wait(options.duration + 120)
            if not samples.exists():
                log = Path(f"{samples}.log").read_text(errors="replace")
                raise SystemExit(f"locust exited (code {proc.returncode}) without results:\n{log}")
            for key, values in json.loads(samples.read_text()).items():
                results[key].update(values)
            idle = wait_for_crons(database)
            print(f"load of {user_class}: crons done {idle:.0f} s after the users stopped")
            close_environment(database)
    return results


def wait_for_crons(database, timeout=1800):
    """Seconds until the batch jobs of ``database`` are neither queued nor running, so that
    the next phase does not share the machine with them."""
    start = time.monotonic()
    env = open_environment(database)
    try:
        cron_ids = tuple(env.ref(xmlid).id for xmlid in CRONS)
        while time.monotonic() - start < timeout:
            env.cr.rollback()
            env.cr.execute(
                "SELECT COUNT(*) FROM ir_cron_trigger WHERE cron_id IN %s AND call_at <= now() "
                "AT TIME ZONE 'UTC'",
                [cron_ids],
            )
            queued = env.cr.fetchone()[0]
            env.cr.execute(
                "SELECT id FROM ir_cron WHERE id IN %s FOR NO KEY UPDATE SKIP LOCKED",
                [cron_ids],
            )
            if not queued and len(env.cr.fetchall()) == len(cron_ids):
                break
            time.sleep(2)
        env.cr.rollback()
    finally:
        env.cr.close()
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=50, help="portal customers per database")
    parser.add_argument("--duration", type=int, default=300, help="seconds of load")
    parser.add_argument(
        "--http-port",
        type=int,
        default=int(os.environ.get("FINNSYS_BENCH_HTTP_PORT", 0)) or None,
        help="Odoo's HTTP port, the next one is its websocket port (default: "
        "FINNSYS_BENCH_HTTP_PORT, else free ports)",
    )
    parser.add_argument(
        "--replica",
        action="store_true",
        help="compare the load with and without a read replica (not with Odoo's portal)",
    )
    options = parser.parse_args()
    if options.http_port:
        options.gevent_port = options.http_port + 1
    else:
        options.http_port, options.gevent_port = finnsys.free_port(), finnsys.free_port()
    signal.signal(signal.SIGTERM, finnsys.raise_interrupt)
    try:
        with bench_server() as server:
            run(server, options)
    except KeyboardInterrupt:
        print("load: interrupted, everything stopped and dropped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
