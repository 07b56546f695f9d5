"""A real streaming replica: reads land on the standby, and a customer sees their own payment.

The module's scratch database gets a hot standby (``finnsys_cli.replica``: base backup with a
replication slot, on another local port) and an Odoo server started with
``--db_replica_host/--db_replica_port``. Statements are counted in each server's log
(``log_statement = all`` for this database only, lines prefixed with the database name).
Customers browse as a browser would, over HTTP with their own session cookie.
"""

import re
import sys
import time
from pathlib import Path

import pytest
import requests

from odoo.tools import config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from finnsys_cli.base import PG_LOG, STATE_DIR  # noqa: E402 - the CLI lives beside the tests
from finnsys_cli.cluster import PgServer, pg_bindir  # noqa: E402
from finnsys_cli.replica import LOG_LINE_PREFIX, logged_statements, start_replica  # noqa: E402

READ_PAGES = ("/my", "/my/invoices", "/my/invoices?filterby=open", "/my/subscriptions")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """One customer's browser: a session cookie, pages and the payment form's JSON calls."""

    def __init__(self, server, login):
        self.url = server.url
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy for 127.0.0.1
        page = self.get("/web/login")
        response = self.http.post(
            f"{self.url}/web/login",
            data={"login": login, "password": login, "csrf_token": self.csrf(page)},
            timeout=60,
        )
        assert response.status_code == 200 and "/web/login" not in response.url, response.url

    @staticmethod
    def csrf(page):
        return CSRF.search(page.text).group(1)

    def get(self, path):
        response = self.http.get(f"{self.url}{path}", timeout=60)
        assert response.status_code == 200, f"{path}: HTTP {response.status_code}"
        return response

    def rpc(self, path, params):
        body = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}
        response = self.http.post(f"{self.url}{path}", json=body, timeout=60)
        assert response.status_code == 200, f"{path}: HTTP {response.status_code}"
        reply = response.json()
        assert "error" not in reply, f"{path}: {reply['error']}"
        return reply.get("result")  # Odoo leaves it out when the route returns None

    def pay(self, seeded, customer):
        """Pay the customer's invoice by card as the portal's payment form does."""
        invoice = customer["invoice"]
        page = self.get(f"/my/invoices/{invoice}/pay")
        tx = self.rpc(
            f"/invoice/transaction/{invoice}",
            {
                "access_token": customer["terms_token"],
                "amount": seeded["amount"],
                "provider_id": seeded["provider"],
                "payment_method_id": seeded["card"],
                "token_id": None,
                "flow": "direct",
                "tokenization_requested": False,
                "landing_route": "/my/invoices",
                "is_validation": False,
                "csrf_token": self.csrf(page),
            },
        )
        self.rpc(
            "/payment/demo/simulate_payment",
            {"reference": tx["reference"], "simulated_state": "done", "payment_details": "4242"},
        )
        self.rpc("/payment/status/poll", {})


class StatementCount:
    """Statements of the database logged by the primary and the standby since creation."""

    def __init__(self, setup):
        self.setup = setup
        self.primary_mark = len(setup["primary_statements"]())
        self.replica_mark = len(setup["replica"].statements(setup["db"].name))

    @property
    def primary(self):
        return len(self.setup["primary_statements"]()) - self.primary_mark

    @property
    def replica(self):
        return len(self.setup["replica"].statements(self.setup["db"].name)) - self.replica_mark


def _primary_server():
    if config["db_host"] not in (None, False, "127.0.0.1", "localhost") or not PG_LOG.exists():
        pytest.skip("needs the project's own PostgreSQL cluster (finnsys.py test)")
    return PgServer(
        "127.0.0.1", int(config["db_port"] or 5432), config["db_user"], None, pg_bindir(True)
    )


@pytest.fixture(scope="module")
def setup(scratch_db):
    primary = _primary_server()
    seeded = scratch_db.run_worker("portal_customers", {"count": 2, "amount": 100.0})
    with scratch_db.pg_admin() as cr:
        cr.execute(f"ALTER DATABASE \"{scratch_db.name}\" SET log_statement = 'all'")
        cr.execute("SHOW log_line_prefix")
        if cr.fetchone()[0] != LOG_LINE_PREFIX:
            cr.execute(f"ALTER SYSTEM SET log_line_prefix = '{LOG_LINE_PREFIX}'")
            cr.execute("SELECT pg_reload_conf()")
    replica = start_replica(primary, STATE_DIR / f"replica-{scratch_db.name}")
    try:
        port = scratch_db.free_port()
        server = scratch_db.start_server(
            port,
            "server-with-replica",
            *("--db_replica_host", "127.0.0.1", "--db_replica_port", str(replica.server.port)),
        ).wait_ready()
        replica.wait_caught_up()
        yield {
            "db": scratch_db,
            "seeded": seeded,
            "replica": replica,
            "server": server,
            "primary_statements": lambda: logged_statements(PG_LOG, scratch_db.name),
        }
    finally:
        scratch_db.stop_processes()
        replica.stop()


def _browse(browser, pages=READ_PAGES):
    return {path: browser.get(path).text for path in pages}


def _settled(setup, browser):
    """Once the replica has replayed the session's writes, one read drops the session's mark."""
    setup["replica"].wait_caught_up()
    _browse(browser, ("/my",))


def test_portal_pages_are_read_on_the_standby(setup):
    customer = setup["seeded"]["customers"][0]
    browser = Browser(setup["server"], customer["login"])
    _settled(setup, browser)
    counted = StatementCount(setup)
    pages = _browse(browser)
    assert customer["invoice_name"] in pages["/my/invoices?filterby=open"]
    assert counted.replica > len(READ_PAGES), "the pages were not read on the standby"
    assert counted.primary == 0, "a read-only page queried the primary"
    assert not setup["server"].log_lines(" ERROR ", "retrying with a read/write cursor")


def test_a_customer_who_pays_sees_it_while_the_standby_lags(setup):
    payer, other = setup["seeded"]["customers"]
    replica = setup["replica"]
    paying, watching = (
        Browser(setup["server"], payer["login"]),
        Browser(setup["server"], other["login"]),
    )
    _settled(setup, paying)
    _settled(setup, watching)
    replica.pause_replay()
    try:
        paying.pay(setup["seeded"], payer)
        # The standby has not seen the payment...
        time.sleep(1)
        state_sql = f"SELECT payment_state FROM account_move WHERE id = {payer['invoice']}"
        assert setup["db"].scalar(state_sql) in ("paid", "in_payment")
        assert replica.sql(state_sql, setup["db"].name) == "not_paid"
        # ...but the payer's next pages come from the primary: the invoice is paid.
        counted = StatementCount(setup)
        assert payer["invoice_name"] not in paying.get("/my/invoices?filterby=open").text
        assert counted.primary > 0
        # Another customer, who wrote nothing, keeps reading the standby.
        counted = StatementCount(setup)
        assert other["invoice_name"] in watching.get("/my/invoices?filterby=open").text
        assert counted.primary == 0
    finally:
        replica.resume_replay()
    # Replayed: the payer is back on the standby, and sees the same.
    _settled(setup, paying)
    counted = StatementCount(setup)
    assert payer["invoice_name"] not in paying.get("/my/invoices?filterby=open").text
    assert counted.primary == 0
    assert not setup["server"].log_lines(" ERROR ", "retrying with a read/write cursor")


def test_pages_fall_back_to_the_primary_when_the_standby_stops(setup):
    customer = setup["seeded"]["customers"][1]
    browser = Browser(setup["server"], customer["login"])
    _settled(setup, browser)
    setup["replica"].stop()
    pages = _browse(browser)
    assert customer["invoice_name"] in pages["/my/invoices?filterby=open"]
    assert setup["server"].log_lines("falling back to read-write cursor")
