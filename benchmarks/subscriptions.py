"""Cost of the subscription invoicing cron for 500 and for 5,000 subscriptions due on one day.

Figures (printed, never asserted):
- queries per invoiced subscription for 500, then for 5,000: they must not grow with the
  number of subscriptions (target: +0);
- the 5,000 are invoiced by one run of the scheduled action, started the way a cron worker
  starts it (Odoo's job runner), in batches of invoices committed one by one, inside the
  cron's time limit
  (``--cron-time-limit``, default 1,800 s). Half the subscriptions are online (the invoice is
  posted and paid), half offline (posted and e-mailed).
"""

import math

from benchlib import (
    bench_environment,
    cron_time_limit,
    make_customers,
    run_cron_job,
    setup_company,
    size_options,
)

from odoo.fields import Command, Domain

CRON = "finnsys_billing.ir_cron_invoice_subscriptions"


def make_plan(env):
    product = env["product.product"].create(
        {"name": "Bench Hosting", "type": "service", "taxes_id": False}
    )
    return env["contract.template"].create(
        {
            "name": "Bench Monthly",
            "contract_line_ids": [
                Command.create(
                    {"product_id": product.id, "name": "Hosting", "specific_price": 49.0}
                )
            ],
        }
    )


def make_subscriptions(env, plan, count, prefix):
    partners = make_customers(env, count, prefix)
    subscriptions = env["contract.contract"].create(
        [
            {
                "partner_id": partner.id,
                "contract_template_id": plan.id,
                "subscription_payment": "online" if n % 2 else "offline",
                "subscription_state": "active",
            }
            for n, partner in enumerate(partners)
        ]
    )
    env.cr.commit()
    return subscriptions


def run_cron_once(env, subscriptions):
    meter, callbacks, _queued_again = run_cron_job(env, env.ref(CRON))
    invoiced = env["account.move"].search_count(
        Domain("subscription_id", "in", subscriptions.ids) & Domain("state", "=", "posted")
    )
    return meter, invoiced, callbacks


def bench(env, plan, count, prefix):
    # Importable once the benchmark database's addons path is configured.
    from odoo.addons.finnsys_billing.models.contract_contract import (  # noqa: PLC0415
        BATCH_SIZE,
    )

    subscriptions = make_subscriptions(env, plan, count, prefix)
    meter, invoiced, callbacks = run_cron_once(env, subscriptions)
    print(
        f"subscriptions, {count:,} due: {invoiced:,} invoiced by one run, "
        f"{meter.queries_per(invoiced):.1f} queries and "
        f"{meter.ms_per(invoiced):.1f} ms per subscription; "
        f"{meter.seconds:.1f} s in {len(callbacks.records)} callbacks "
        f"(longest {callbacks.longest:.1f} s), "
        f"{math.ceil(count / BATCH_SIZE)} batches of {BATCH_SIZE}, one commit per invoice"
    )
    return meter, invoiced


def main():
    options = size_options(
        __doc__.splitlines()[0], small=500, large=5000, large_flag="--count", items="subscriptions"
    )
    with bench_environment("subscriptions") as env:
        limit = cron_time_limit(options.cron_time_limit)
        setup_company(env)
        env.company.account_use_credit_limit = False
        plan = make_plan(env)
        env.cr.commit()
        small, small_done = bench(env, plan, options.small, "Small")
        large, large_done = bench(env, plan, options.large, "Large")
        per_small = small.queries_per(small_done)
        per_large = large.queries_per(large_done)
        print(
            f"=> queries per subscription {per_large - per_small:+.1f} when subscriptions grow "
            f"{options.large / options.small:.0f}-fold (target: +0); "
            f"{large_done:,} of {options.large:,} invoiced by one run in {large.seconds:.0f} s "
            f"(cron time limit {limit} s)"
        )
        env.cr.rollback()
        env.cr.close()


if __name__ == "__main__":
    main()
