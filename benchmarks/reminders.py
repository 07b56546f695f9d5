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

import base64
import datetime
import functools

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

CRON = "finnsys_billing.ir_cron_send_reminders"

INVOICES_PER_CUSTOMER = 5
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
    partners = make_customers(env, customers, prefix)
    invoice_date = datetime.date.today() - datetime.timedelta(days=10)
    invoices = post_invoices(env, partners, invoice_date, per_partner=INVOICES_PER_CUSTOMER)
    attach_invoice_pdfs(env, invoices)
    env.cr.commit()
    return invoices


def run_reminders(env):
    """Start the scheduled action the way a cron worker does (Odoo's job runner), once.

    Returns the meter, what the run did: invoices processed (the ``done`` of its callbacks)
    and e-mails queued, and the summary of the job run."""
    last_mail = env["mail.mail"].search([], order="id desc", limit=1).id or 0
    meter, callbacks, queued_again = run_cron_job(env, env.ref(CRON))
    counts = {
        "invoices": sum(callbacks.records.mapped("done")),
        "emails": env["mail.mail"].search_count(Domain("id", ">", last_mail)),
    }
    return meter, counts, job_summary(meter, callbacks, queued_again)


def bench_volume(env, customers, prefix):
    setup_seconds = seconds_of(make_open_invoices, env, customers, prefix)
    meter, counts, job = run_reminders(env)
    invoices = counts["invoices"]
    print(
        f"{invoices:>6} invoices of {customers:>5} customers: "
        f"{meter.queries_per(invoices):.1f} queries and {meter.ms_per(invoices):.1f} ms per "
        f"invoice, {counts['emails']} e-mails; {job} (data set-up {setup_seconds:.0f} s)"
    )
    return meter, invoices


def run(env, small, large):
    company = setup_company(env)
    company.billing_reminder_group = False
    env.cr.commit()
    # A first run sends what the database already owed, so both runs measure their own data.
    run_reminders(env)
    per_small, per_large = queries_per_item(functools.partial(bench_volume, env), small, large)
    print(
        f"=> queries per invoice {per_small:.1f} -> {per_large:.1f} "
        f"({per_large - per_small:+.1f}) when invoices grow tenfold (target: no growth)"
    )


def main():
    options = size_options(__doc__.splitlines()[0], small=200, large=2000)
    with bench_environment("reminders") as env:
        cron_time_limit(options.cron_time_limit)
        run(env, options.small, options.large)
        env.cr.close()


if __name__ == "__main__":
    main()
