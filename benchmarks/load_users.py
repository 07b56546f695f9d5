"""Locust users of ``load.py``: portal customers browsing and paying their invoices.

Not run on its own: ``load.py`` starts ``locust -f`` on this file with the databases and the
logins in environment variables, and reads back the response times this file records.

- ``BillingCustomer`` uses FinnSys's portal: the dashboard, the four tabs of the invoice list
  and a partial payment with the customer's saved demo card (the pay page, its form, then the
  JSON transaction route the payment form calls, with the page's CSRF token);
- ``OdooCustomer`` does the same on the database without FinnSys's portal: Odoo's own pages
  (its four invoice filters), and a partial payment from Odoo's invoice page.
"""

import collections
import functools
import itertools
import json
import os
import random
import re

from locust import HttpUser, between, events, task

FORM_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PAGE_CSRF = re.compile(r"csrf_token\W+([0-9a-f]{40}o\d+)")
# FinnSys's form carries the signed amount; Odoo's invoice page the invoice's own token only.
ACCESS_TOKEN = re.compile(r'data-access-token="([^"]+)"')
INVOICE_TOKEN = re.compile(r"access_token=([\w-]+)")
TOKEN_OPTION = re.compile(r'<input[^>]*data-payment-option-type="token"[^>]*>')
OPTION_ID = re.compile(r'data-payment-option-id="(\d+)"')
PROVIDER_ID = re.compile(r'data-provider-id="(\d+)"')
INVOICE_LINK = re.compile(r'href="/my/invoices/(\d+)[?"]')
PAY_AMOUNT = "1.00"

SAMPLES = collections.defaultdict(list)  # request name -> [[milliseconds, failed], ...]
FAILURES = collections.defaultdict(collections.Counter)  # request name -> {message: count}


@events.request.add_listener
def record(name, response_time, exception, **_kwargs):
    SAMPLES[name].append([response_time, exception is not None])
    if exception is not None:
        FAILURES[name][str(exception)[:200]] += 1


@events.quitting.add_listener
def save(**_kwargs):
    with open(os.environ["LOAD_SAMPLES"], "w") as samples:
        json.dump({"samples": SAMPLES, "failures": FAILURES}, samples)


class Customer(HttpUser):
    abstract = True
    wait_time = between(1, 3)
    database_variable = None
    label = None
    logins = None

    def on_start(self):
        self.client.trust_env = False  # loopback only: no proxy from the environment
        self.login = next(type(self).logins)
        self.invoice_ids = []
        self.logged_in = self.log_in()

    def log_in(self):
        """Log in as a browser does; True once the portal home page is reached."""
        database = os.environ[self.database_variable]
        page = self.client.get(f"/web/login?db={database}", name=f"{self.label} login page")
        csrf = FORM_CSRF.search(page.text)
        with self.client.post(
            "/web/login",
            data={
                "login": self.login,
                "password": self.login,
                "csrf_token": csrf.group(1) if csrf else "",
                "redirect": "/my",
            },
            name=f"{self.label} login",
            catch_response=True,
        ) as response:
            if not response.url.endswith("/my"):
                response.failure(f"login of {self.login} ended on {response.url}")
                return False
            return True

    def page(self, url, name):
        with self.client.get(url, name=f"{self.label} {name}", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{url}: HTTP {response.status_code}")
            return response

    def rpc(self, url, name, params):
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}
        with self.client.post(
            url, json=payload, name=f"{self.label} {name}", catch_response=True
        ) as response:
            reply = response.json() if response.status_code == 200 else {}
            if "error" in reply or "result" not in reply:
                message = reply.get("error", {}).get("data", {}).get("message")
                response.failure(f"{url}: {message or response.status_code}")
                return None
            return reply["result"]

    def pay(self, invoice_id, form_page, **params):
        """Pay PAY_AMOUNT with the saved card the way the payment form does, then poll."""
        self.invoice_ids.remove(invoice_id)  # a payment under way: not open until it is done
        token = TOKEN_OPTION.search(form_page.text)
        access_token = ACCESS_TOKEN.search(form_page.text) or INVOICE_TOKEN.search(form_page.text)
        csrf = PAGE_CSRF.search(form_page.text)
        if not (token and access_token and csrf):
            form_page.failure("no saved card on the payment form")
            return
        processing = self.rpc(
            f"/invoice/transaction/{invoice_id}",
            "pay (JSON transaction route)",
            {
                "provider_id": int(PROVIDER_ID.search(token.group()).group(1)),
                "payment_method_id": None,
                "token_id": int(OPTION_ID.search(token.group()).group(1)),
                "amount": float(PAY_AMOUNT),
                "flow": "token",
                "tokenization_requested": False,
                "landing_route": f"/my/invoices/{invoice_id}",
                "is_validation": False,
                "access_token": access_token.group(1),
                "csrf_token": csrf.group(1),
                **params,
            },
        )
        if processing is not None:
            self.rpc("/payment/status/poll", "pay (status poll)", {"csrf_token": csrf.group(1)})

    def remember_invoices(self, response):
        ids = INVOICE_LINK.findall(response.text)
        if ids:
            self.invoice_ids = sorted(set(ids))


def logged_in(task_method):
    """Run the task once logged in: a failed login (server overloaded) is tried again instead
    of browsing without a session."""

    @functools.wraps(task_method)
    def run(self):
        if not self.logged_in:
            self.logged_in = self.log_in()
            return None
        return task_method(self)

    return run


class PortalCustomer(Customer):
    """The tasks both sides share: the dashboard, four invoice tabs (``tabs``: URL and
    request name, the first of them lists the open invoices) and a partial payment."""

    abstract = True
    tabs = ()

    @task(2)
    @logged_in
    def dashboard(self):
        self.page("/my", "/my")

    @task(4)
    @logged_in
    def invoice_tab(self):
        """One of the four tabs, each as often as one task of its own."""
        self.tab(random.choice(self.tabs))

    def tab(self, tab):
        response = self.page(*tab)
        if tab == self.tabs[0]:
            self.remember_invoices(response)

    @task
    @logged_in
    def pay_part(self):
        if not self.invoice_ids:
            self.tab(self.tabs[0])
        if self.invoice_ids:
            self.pay_invoice(random.choice(self.invoice_ids))

    def pay_invoice(self, invoice_id):
        raise NotImplementedError


class BillingCustomer(PortalCustomer):
    database_variable = "LOAD_DB_OURS"
    label = "ours"
    logins = itertools.cycle(os.environ.get("LOAD_LOGINS", "").split(","))
    tabs = (
        ("/my/invoices?filterby=open", "/my/invoices Open"),
        ("/my/invoices?filterby=all", "/my/invoices All"),
        ("/my/invoices?filterby=progress", "/my/invoices In Progress"),
        ("/my/invoices?filterby=paid", "/my/invoices Paid"),
    )

    def pay_invoice(self, invoice_id):
        """FinnSys's pay page, its form, then the payment form's JSON route."""
        url = f"/my/invoices/{invoice_id}/pay"
        with self.client.get(url, name="ours pay page", catch_response=True) as page:
            csrf = FORM_CSRF.search(page.text)
            if page.status_code != 200 or not csrf:
                page.failure(f"{url}: HTTP {page.status_code}")
                return
        data = {"amount": PAY_AMOUNT, "terms": "1", "csrf_token": csrf.group(1)}
        with self.client.post(url, data=data, name="ours pay form", catch_response=True) as form:
            if form.status_code != 200:
                form.failure(f"{url}: HTTP {form.status_code}")
                return
            self.pay(invoice_id, form)


class OdooCustomer(PortalCustomer):
    database_variable = "LOAD_DB_ODOO"
    label = "odoo"
    logins = itertools.cycle(os.environ.get("LOAD_LOGINS", "").split(","))
    # Odoo's list has no "open" filter: its payments start from all invoices.
    tabs = (
        ("/my/invoices?filterby=all", "/my/invoices all"),
        ("/my/invoices?filterby=overdue_invoices", "/my/invoices overdue_invoices"),
        ("/my/invoices?filterby=invoices", "/my/invoices invoices"),
        ("/my/invoices?filterby=bills", "/my/invoices bills"),
    )

    def pay_invoice(self, invoice_id):
        """Odoo's invoice page, then its payment form's JSON route."""
        with self.client.get(
            f"/my/invoices/{invoice_id}", name="odoo invoice page", catch_response=True
        ) as page:
            if page.status_code != 200:
                page.failure(f"invoice page: HTTP {page.status_code}")
                return
            if "o_payment_form" not in page.text:
                # Odoo's list has no "open" filter: a paid invoice shows no payment form.
                self.invoice_ids.remove(invoice_id)
                return
            self.pay(invoice_id, page)
