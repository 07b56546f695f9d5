"""Cost of the credit-limit check when posting invoices, and of the Customers list.

Figures (printed, never asserted):
- posting N invoices with the check vs the same N with the check switched off, same run:
  extra queries per posting and the time ratio (targets: <= +3 queries, <= 1.15x);
- the Billing > Customers list (list + pivot reads) for 200 and for 2,000 customers: the
  query count must not grow with the number of customers.
"""

import argparse

from benchlib import Meter, bench_environment, setup_company

from odoo.fields import Command


def make_customers(env, count, prefix):
    partners = env["res.partner"].create(
        [
            {
                "name": f"{prefix} {n:05d}",
                "is_company": True,
                "customer_rank": 1,
                "billing_mode": "prepaid" if n % 2 else "postpaid",
            }
            for n in range(count)
        ]
    )
    for partner in partners:
        partner.credit_limit = 10**9
    return partners


def make_invoices(env, partners):
    return env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_date": "2026-01-10",
                "invoice_line_ids": [
                    Command.create({"name": "Usage", "price_unit": 10.0, "tax_ids": []})
                ],
            }
            for partner in partners
        ]
    )


def post_one_by_one(env, invoices):
    env.flush_all()
    env.invalidate_all()
    with Meter() as meter:
        for invoice in invoices:
            invoice.action_post()
        env.flush_all()
    return meter


def bench_posting(env, count):
    company = env.company
    partners = make_customers(env, count, "Posting")
    checked, unchecked = make_invoices(env, partners), make_invoices(env, partners)

    # Both runs keep Odoo's own credit-limit banner on; "off" is FinnSys' warn policy.
    company.billing_credit_policy = "warn"
    off = post_one_by_one(env, unchecked)
    company.billing_credit_policy = "block"
    on = post_one_by_one(env, checked)
    print(
        f"posting {count} invoices, check off: {off.queries / count:.1f} queries and "
        f"{off.seconds * 1000 / count:.1f} ms per invoice"
    )
    print(
        f"posting {count} invoices, check on:  {on.queries / count:.1f} queries and "
        f"{on.seconds * 1000 / count:.1f} ms per invoice"
    )
    print(
        f"=> check costs {(on.queries - off.queries) / count:+.1f} queries per posting "
        f"(target <= +3), time ratio {on.seconds / off.seconds:.2f}x (target <= 1.15x)"
    )


def read_customers_list(env):
    env.flush_all()
    env.cr.execute("ANALYZE res_partner, account_move_line, account_move")  # as autovacuum would
    accounts = env["finnsys.billing.account"]
    spec = {
        name: {}
        for name in (
            "partner_id",
            "company_id",
            "currency_id",
            "billing_mode",
            "balance",
            "credit_limit",
            "available",
            "overdue",
            "unapplied_credit",
            "topup_enabled",
            "billing_state",
        )
    }
    env.invalidate_all()
    with Meter() as meter:
        accounts.web_search_read([], spec, limit=80)
        accounts.web_read_group([], ["billing_mode"], ["balance:sum", "overdue:sum"])
    env.invalidate_all()
    with Meter() as baseline:  # Odoo's own customer list with its receivable column
        env["res.partner"].web_search_read(
            [("customer_rank", ">", 0)], {"display_name": {}, "email": {}, "credit": {}}, limit=80
        )
    meter.baseline = baseline
    return meter


def bench_customers_list(env):
    make_invoices(env, make_customers(env, 200, "List A")).action_post()
    small = read_customers_list(env)
    make_invoices(env, make_customers(env, 1800, "List B")).action_post()
    large = read_customers_list(env)
    for label, meter in (("~200", small), ("~2,000", large)):
        print(
            f"customers list, {label} customers: {meter.queries} queries, "
            f"{meter.seconds * 1000:.0f} ms; Odoo's own customer list: "
            f"{meter.baseline.queries} queries, {meter.baseline.seconds * 1000:.0f} ms"
        )
    print(f"=> queries {large.queries - small.queries:+d} when customers grow tenfold (target: +0)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=200)
    options = parser.parse_args()
    with bench_environment("credit_check") as env:
        setup_company(env)
        bench_posting(env, options.invoices)
        bench_customers_list(env)
        env.cr.rollback()
        env.cr.close()


if __name__ == "__main__":
    main()
