"""Cost of the daily payment reminder run as the number of open invoices grows.

Figures (printed, never asserted):
- one run over 1,000 open invoices of 200 postpaid customers, then over 10,000 invoices of
  2,000 customers, each started the way a cron worker starts it (Odoo's job runner): queries
  and milliseconds per processed invoice (the queries must not grow with the volume), and
  whether one job run processed them all inside the cron's time limit (``--cron-time-limit``,
  default 1,800 s) in committed batches.

Sent invoices carry their PDF (Odoo stores it when it first sends an invoice), so the run
attaches it and renders none; rendering is wkhtmltopdf's cost, not the reminders'.
"""

import argparse
import base64
import datetime
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

CRON = "finnsys_billing.ir_cron_send_reminders"

INVOICES_PER_CUSTOMER = 5
POST_BATCH = 500
# A one-page PDF; identical content is stored once in the filestore.
PDF = base64.b64decode(
    b"JVBERi0xLjEKMSAwIG9iajw8L1R5cGUvQ2F0YWxvZy9QYWdlcyAyIDAgUj4+ZW5kb2JqCjIgMCBvYmo8PC9UeXBl"
    b"L1BhZ2VzL0tpZHNbMyAwIFJdL0NvdW50IDE+PmVuZG9iagozIDAgb2JqPDwvVHlwZS9QYWdlL1BhcmVudCAyIDAg"
    b"Ui9NZWRpYUJveFswIDAgMyAzXT4+ZW5kb2JqCnRyYWlsZXI8PC9Sb290IDEgMCBSPj4KJSVFT0YK"
)


def attach_invoice_pdfs(env, invoices):
    """Give ``invoices`` the PDF Odoo keeps once an invoice is sent: reminders attach it
    rather than render one."""
    env["ir.attachment"].create(
        [
            {
                "name": f"{invoice.name.replace('/', '_')}.pdf",
                "raw": PDF,
                "mimetype": "application/pdf",
                "res_model": "account.move",
                "res_id": invoice.id,
                "res_field": "invoice_pdf_report_file",
            }
            for invoice in invoices
        ]
    )


def make_open_invoices(env, customers, prefix):
    """``customers`` postpaid customers with INVOICES_PER_CUSTOMER posted invoices each,
    10 days past due, with their PDF stored."""
    partners = env["res.partner"].create(
        [
            {
                "name": f"{prefix} {n:05d}",
                "email": f"{prefix.lower()}{n}@customer.example",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "postpaid",
            }
            for n in range(customers)
        ]
    )
    invoice_date = datetime.date.today() - datetime.timedelta(days=10)
    # Data set-up only: no chatter tracking on the generated invoices.
    moves = env["account.move"].with_context(tracking_disable=True)
    invoices = moves
    values = [
        {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "invoice_date": invoice_date,
            "invoice_line_ids": [Command.create({"name": "Usage", "price_unit": 10.0})],
        }
        for partner in partners
        for _n in range(INVOICES_PER_CUSTOMER)
    ]
    for start in range(0, len(values), POST_BATCH):
        batch = moves.create(values[start : start + POST_BATCH])
        batch.action_post()
        invoices |= batch
        env.cr.commit()
    attach_invoice_pdfs(env, invoices)
    env.cr.commit()
    return invoices


def run_reminders(env):
    """Start the scheduled action the way a cron worker does (Odoo's job runner), once.

    Returns the meter and what the run did: invoices processed and callbacks (one committed
    progress record each, ``done`` = invoices), e-mails queued, and whether the job was queued
    again for the rest (it was not if the run finished inside the cron's time limit)."""
    cron = env.ref(CRON)
    last_mail = env["mail.mail"].search([], order="id desc", limit=1).id or 0
    env["ir.cron.trigger"].search(Domain("cron_id", "=", cron.id)).unlink()
    with cron_callbacks(env, cron) as callbacks, Meter() as meter:
        cron.method_direct_trigger()
    meter.longest_batch = callbacks.longest
    counts = {
        "invoices": sum(callbacks.records.mapped("done")),
        "callbacks": len(callbacks.records),
        "emails": env["mail.mail"].search_count(Domain("id", ">", last_mail)),
        "queued_again": bool(env["ir.cron.trigger"].search_count(Domain("cron_id", "=", cron.id))),
    }
    return meter, counts


def bench_volume(env, customers, prefix):
    started = time.perf_counter()
    make_open_invoices(env, customers, prefix)
    setup_seconds = time.perf_counter() - started
    meter, counts = run_reminders(env)
    invoices = counts.get("invoices", 0)
    print(
        f"{invoices:>6} invoices of {customers:>5} customers: "
        f"{meter.queries / max(invoices, 1):.1f} queries and "
        f"{meter.seconds * 1000 / max(invoices, 1):.1f} ms per invoice, "
        f"{counts['emails']} e-mails; one job run of {meter.seconds:.0f} s, "
        f"{counts['callbacks']} callback(s) (longest {meter.longest_batch:.1f} s), "
        f"{'queued again for the rest' if counts['queued_again'] else 'nothing left'} "
        f"(data set-up {setup_seconds:.0f} s)"
    )
    return meter, invoices


def run(env, small, large):
    company = setup_company(env)
    company.billing_reminder_group = False
    env.cr.commit()
    # A first run sends what the database already owed, so both runs measure their own data.
    run_reminders(env)
    small_meter, small_count = bench_volume(env, small, "Small")
    large_meter, large_count = bench_volume(env, large, "Large")
    per_small = small_meter.queries / max(small_count, 1)
    per_large = large_meter.queries / max(large_count, 1)
    print(
        f"=> queries per invoice {per_small:.1f} -> {per_large:.1f} "
        f"({per_large - per_small:+.1f}) when invoices grow tenfold (target: no growth)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200, help="customers of the small run")
    parser.add_argument("--large", type=int, default=2000, help="customers of the large run")
    parser.add_argument("--cron-time-limit", type=int, default=CRON_TIME_LIMIT, help="seconds")
    options = parser.parse_args()
    with bench_environment("reminders") as env:
        cron_time_limit(options.cron_time_limit)
        run(env, options.small, options.large)
        env.cr.close()


if __name__ == "__main__":
    main()
