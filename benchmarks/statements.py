"""Cost of the monthly statement e-mail run as the number of customers grows.

Figures (printed, never asserted):
- one run of the scheduled action for 200 customers, then for 2,000 more, each started the way
  a cron worker starts it (Odoo's job runner): queries and milliseconds per customer (the
  queries must not grow with the number of customers: target +0, the per-batch queries spread
  over the batch) and whether one job run sent them all inside the cron's time limit
  (``--cron-time-limit``, default 1,800 s) in committed batches.

Each customer has an invoice before the month, two invoices and a payment in it, so each
statement has an opening balance, three lines and aged buckets. The PDFs are rendered for real
by wkhtmltopdf, which loads the report styles from this process's own HTTP server (started
here, as the cron server of a real installation serves HTTP): one wkhtmltopdf run per batch
of customers (100), cut into one PDF per customer, so the time per customer is a share of a
batch's run, not a run of its own (about 1.3 s on this project's machine).
"""

import argparse
import datetime
import socket
import time

from benchlib import (
    CRON_TIME_LIMIT,
    Meter,
    bench_environment,
    cron_callbacks,
    cron_time_limit,
    setup_company,
)

from odoo.fields import Command, Domain

CRON = "finnsys_billing.ir_cron_send_statements"
POST_BATCH = 500


def serve_http(database):
    """Serve HTTP from this process on a free loopback port, for wkhtmltopdf's styles."""
    from odoo import http  # noqa: PLC0415
    from odoo.service import server  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config["http_interface"] = "127.0.0.1"
    config["http_port"] = port
    config["dbfilter"] = f"^{database}$"
    server.ThreadedServer(http.root).http_spawn()
    return port


def last_month():
    end = datetime.date.today().replace(day=1) - datetime.timedelta(days=1)
    return end.replace(day=1), end


def post_invoices(env, partners, day):
    moves = env["account.move"].with_context(tracking_disable=True)
    values = [
        {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "invoice_date": day,
            "invoice_line_ids": [Command.create({"name": "Usage", "price_unit": 10.0})],
        }
        for partner in partners
    ]
    for start in range(0, len(values), POST_BATCH):
        moves.create(values[start : start + POST_BATCH]).action_post()
        env.cr.commit()


def make_customers(env, count, prefix):
    """``count`` postpaid customers with an invoice before last month, two invoices and a
    payment in it."""
    partners = env["res.partner"].create(
        [
            {
                "name": f"{prefix} {n:05d}",
                "email": f"{prefix.lower()}{n}@customer.example",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "postpaid",
            }
            for n in range(count)
        ]
    )
    start, _end = last_month()
    post_invoices(env, partners, start - datetime.timedelta(days=10))
    post_invoices(env, partners, start + datetime.timedelta(days=4))
    post_invoices(env, partners, start + datetime.timedelta(days=14))
    payments = env["account.payment"].with_context(tracking_disable=True)
    for index in range(0, count, POST_BATCH):
        payments.create(
            [
                {
                    "payment_type": "inbound",
                    "partner_type": "customer",
                    "partner_id": partner.id,
                    "amount": 15.0,
                    "date": start + datetime.timedelta(days=19),
                }
                for partner in partners[index : index + POST_BATCH]
            ]
        ).action_post()
        env.cr.commit()
    return partners


def run_statements(env):
    """Start the scheduled action once, the way a cron worker does; the meter and counts."""
    cron = env.ref(CRON)
    last_log = env["finnsys.statement.log"].search([], order="id desc", limit=1).id or 0
    env["ir.cron.trigger"].search(Domain("cron_id", "=", cron.id)).unlink()
    with cron_callbacks(env, cron) as callbacks, Meter() as meter:
        cron.method_direct_trigger()
    meter.longest_batch = callbacks.longest
    logs = env["finnsys.statement.log"].search(Domain("id", ">", last_log))
    counts = {
        "customers": len(logs),
        "emails": len(logs.mail_id),
        "pdfs": len(logs.attachment_id),
        "callbacks": len(callbacks.records),
        "queued_again": bool(env["ir.cron.trigger"].search_count(Domain("cron_id", "=", cron.id))),
    }
    return meter, counts


def bench_volume(env, customers, prefix):
    started = time.perf_counter()
    make_customers(env, customers, prefix)
    setup_seconds = time.perf_counter() - started
    meter, counts = run_statements(env)
    done = counts["customers"]
    print(
        f"{done:>6} statements: {meter.queries / max(done, 1):.1f} queries and "
        f"{meter.seconds * 1000 / max(done, 1):.0f} ms per customer, {counts['emails']} e-mails "
        f"with {counts['pdfs']} PDFs; one job run of {meter.seconds:.0f} s, "
        f"{counts['callbacks']} callback(s) (longest {meter.longest_batch:.1f} s), "
        f"{'queued again for the rest' if counts['queued_again'] else 'nothing left'} "
        f"(data set-up {setup_seconds:.0f} s)",
        flush=True,
    )
    return meter, done


def run(env, small, large):
    company = setup_company(env)
    company.billing_statement_email = True
    env.cr.commit()
    run_statements(env)  # whatever the new database already owed a statement for
    small_meter, small_count = bench_volume(env, small, "Small")
    large_meter, large_count = bench_volume(env, large, "Large")
    per_small = small_meter.queries / max(small_count, 1)
    per_large = large_meter.queries / max(large_count, 1)
    ratio = per_large / per_small if per_small else 0.0
    print(
        f"=> queries per customer {per_small:.1f} -> {per_large:.1f} ({ratio:.2f}x) "
        f"when customers grow from {small:,} to {large:,} (target: no growth)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200, help="customers of the small run")
    parser.add_argument("--large", type=int, default=2000, help="customers of the large run")
    parser.add_argument("--cron-time-limit", type=int, default=CRON_TIME_LIMIT, help="seconds")
    options = parser.parse_args()
    with bench_environment("statements") as env:
        cron_time_limit(options.cron_time_limit)
        serve_http(env.cr.dbname)
        run(env, options.small, options.large)
        env.cr.close()


if __name__ == "__main__":
    main()
