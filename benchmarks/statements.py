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

import datetime
import functools
import socket

from benchlib import (
    bench_environment,
    cron_time_limit,
    job_summary,
    make_customers,
    post_invoices,
    queries_per_item,
    run_cron_job,
    seconds_of,
    setup_company,
    size_options,
)

from odoo.fields import Domain

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


def make_statement_customers(env, count, prefix):
    """``count`` postpaid customers with an invoice before last month, two invoices and a
    payment in it."""
    partners = make_customers(env, count, prefix)
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
    """Start the scheduled action once, the way a cron worker does; the meter, the counts and
    the summary of the job run."""
    last_log = env["finnsys.statement.log"].search([], order="id desc", limit=1).id or 0
    meter, callbacks, queued_again = run_cron_job(env, env.ref(CRON))
    logs = env["finnsys.statement.log"].search(Domain("id", ">", last_log))
    counts = {"customers": len(logs), "emails": len(logs.mail_id), "pdfs": len(logs.attachment_id)}
    return meter, counts, job_summary(meter, callbacks, queued_again)


def bench_volume(env, customers, prefix):
    setup_seconds = seconds_of(make_statement_customers, env, customers, prefix)
    meter, counts, job = run_statements(env)
    done = counts["customers"]
    print(
        f"{done:>6} statements: {meter.queries_per(done):.1f} queries and "
        f"{meter.ms_per(done):.0f} ms per customer, {counts['emails']} e-mails "
        f"with {counts['pdfs']} PDFs; {job} (data set-up {setup_seconds:.0f} s)",
        flush=True,
    )
    return meter, done


def run(env, small, large):
    company = setup_company(env)
    company.billing_statement_email = True
    env.cr.commit()
    run_statements(env)  # whatever the new database already owed a statement for
    per_small, per_large = queries_per_item(functools.partial(bench_volume, env), small, large)
    ratio = per_large / per_small if per_small else 0.0
    print(
        f"=> queries per customer {per_small:.1f} -> {per_large:.1f} ({ratio:.2f}x) "
        f"when customers grow from {small:,} to {large:,} (target: no growth)"
    )


def main():
    options = size_options(__doc__.splitlines()[0], small=200, large=2000)
    with bench_environment("statements") as env:
        cron_time_limit(options.cron_time_limit)
        serve_http(env.cr.dbname)
        run(env, options.small, options.large)
        env.cr.close()


if __name__ == "__main__":
    main()
