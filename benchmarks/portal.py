"""Cost of the customer portal's invoice list for a customer with 10 and with 1,000 invoices.

Figures (printed, never asserted):
- SQL queries of one ``/my/invoices`` page for a portal customer with 10, then 1,000 posted
  invoices (target: equal within 2: the tab counts are one query each, the page is one search
  and its rows are read in batches);
- median time of the page for the 1,000 invoices against Odoo's own ``/my/invoices`` (an
  internal invoicing user, for whom the addon leaves Odoo's page as it is) on the same
  invoices, same run (goal: at most 1.3 times Odoo's).

The requests go through Odoo's WSGI application in this process, logged in like a browser.
"""

import argparse
import re
import statistics

from benchlib import Meter, bench_environment, setup_company
from werkzeug.test import Client

from odoo import Command, http

RUNS = 7


def make_customer(env, name, count):
    customer = env["res.partner"].create(
        {"name": name, "is_company": True, "customer_rank": 1, "billing_mode": "postpaid"}
    )
    login = name.lower().replace(" ", "-")
    user = env["res.users"].create(
        {
            "name": f"{name} Contact",
            "login": login,
            "password": login,
            "email": f"{login}@bench.example",
            "group_ids": [Command.set(env.ref("base.group_portal").ids)],
        }
    )
    user.partner_id.parent_id = customer
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": "2026-01-15",
                "invoice_line_ids": [
                    Command.create(
                        {"name": "Usage", "quantity": 1, "price_unit": 10 + n, "tax_ids": []}
                    )
                ],
            }
            for n in range(count)
        ]
    )
    invoices.action_post()
    return login


def make_accountant(env):
    env["res.users"].create(
        {
            "name": "Bench Accountant",
            "login": "bench-accountant",
            "password": "bench-accountant",
            "group_ids": [Command.set(env.ref("account.group_account_invoice").ids)],
        }
    )
    return "bench-accountant"


class Browser(Client):
    """A werkzeug test client that looks like a browser on the local machine to Odoo."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("environ_base", {"REMOTE_ADDR": "127.0.0.1"})
        return super().open(*args, **kwargs)


def browser(login):
    client = Browser(http.root)
    page = client.get("/web/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(
        "/web/login",
        data={"login": login, "password": login, "csrf_token": csrf, "redirect": "/my"},
    )
    return client


def measure(client, url="/my/invoices"):
    """Queries and median seconds of ``url``, after one warm-up request."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status, response.headers.get("Location"))
    meters = []
    for _run in range(RUNS):
        with Meter() as meter:
            response = client.get(url)
            response.get_data()
        assert response.status_code == 200, url
        meters.append(meter)
    return meters[0].queries, statistics.median(meter.seconds for meter in meters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=1000)
    options = parser.parse_args()
    with bench_environment("portal", modules=("finnsys_billing_portal",)) as env:
        company = setup_company(env)
        company.account_use_credit_limit = False
        small = make_customer(env, "Small Customer", options.small)
        large = make_customer(env, "Large Customer", options.large)
        accountant = make_accountant(env)
        env.cr.commit()
        small_queries, small_seconds = measure(browser(small))
        large_queries, large_seconds = measure(browser(large))
        odoo_queries, odoo_seconds = measure(browser(accountant))
        print(
            f"/my/invoices, {options.small} invoices: {small_queries} queries, "
            f"{small_seconds * 1000:.1f} ms"
        )
        print(
            f"/my/invoices, {options.large:,} invoices: {large_queries} queries, "
            f"{large_seconds * 1000:.1f} ms"
        )
        print(
            f"Odoo's /my/invoices, same {options.large:,} invoices: {odoo_queries} queries, "
            f"{odoo_seconds * 1000:.1f} ms"
        )
        print(
            f"=> queries {large_queries - small_queries:+d} from {options.small} to "
            f"{options.large:,} invoices (target: within 2); "
            f"time {large_seconds / odoo_seconds:.2f}x Odoo's page (goal: at most 1.3x)"
        )
        env.cr.rollback()
        env.cr.close()


if __name__ == "__main__":
    main()
