"""Cost of the auto top-up scheduled action for 200 and for 2,000 customers due a top-up.

Figures (printed, never asserted):
- queries per topped-up customer for 200, then for 2,000 customers: they must not grow with
  the number of customers (target: +0, the per-run queries spread over more customers);
- the scheduled action, started the way a cron worker starts it (Odoo's job runner), tops up
  all 2,000 in committed batches: the job runs it took (target: one), its callbacks and its
  time against the cron's time limit (``--cron-time-limit``, default 1,800 s; the job starts
  batches while it has spent less than three quarters of it, then hands the rest over to the
  next run).
"""

import math

from benchlib import (
    Meter,
    bench_environment,
    cron_callbacks,
    cron_time_limit,
    make_customers,
    setup_company,
    size_options,
)

from odoo.fields import Domain

CRON = "finnsys_billing.ir_cron_billing_topup"


def demo_provider(env):
    provider = env.ref("payment.payment_provider_demo")
    provider.state = "test"
    return provider


def make_topup_customers(env, count, prefix):
    """Prepaid customers with a saved demo card, auto top-up of 100 at a threshold of 0: with
    no invoice yet their balance is 0, so every one of them is due a top-up."""
    provider = demo_provider(env)
    method = env.ref("payment_demo.payment_method_demo")
    partners = make_customers(env, count, prefix, billing_mode="prepaid")
    tokens = env["payment.token"].create(
        [
            {
                "provider_id": provider.id,
                "payment_method_id": method.id,
                "partner_id": partner.id,
                "payment_details": "4242",
                "provider_ref": f"bench-{partner.id}",
                "demo_simulated_state": "done",
            }
            for partner in partners
        ]
    )
    for partner, token in zip(partners, tokens, strict=True):
        partner.write(
            {
                "billing_payment_method": "token",
                "billing_token_id": token.id,
                "billing_topup_enabled": True,
                "billing_topup_amount": 100,
                "billing_topup_threshold": 0,
            }
        )
    env.cr.commit()
    return partners


def run_cron(env, partners, max_runs=10):
    """Start the scheduled action the way a cron worker does (Odoo's job runner) until every
    customer is topped up; returns the meter, the customers topped up, the job runs and the
    callbacks (one committed progress record each) they made."""
    cron = env.ref(CRON)
    done = runs = 0
    with cron_callbacks(env, cron) as callbacks, Meter() as meter:
        while done < len(partners) and runs < max_runs:
            cron.method_direct_trigger()
            env.cr.commit()  # the job ran in its own cursors: read it from a fresh snapshot
            runs += 1
            done = env["finnsys.topup.attempt"].search_count(
                Domain("partner_id", "in", partners.ids) & Domain("state", "=", "done")
            )
    return meter, done, runs, callbacks


def bench(env, count, prefix):
    # Importable once the benchmark database's addons path is configured.
    from odoo.addons.finnsys_billing.models.finnsys_topup_attempt import (  # noqa: PLC0415
        BATCH_SIZE,
    )

    partners = make_topup_customers(env, count, prefix)
    meter, done, runs, callbacks = run_cron(env, partners)
    print(
        f"auto top-up, {count:,} customers due: {done:,} topped up in {runs} job run(s), "
        f"{meter.queries_per(done):.1f} queries and {meter.ms_per(done):.1f} ms per customer; "
        f"{meter.seconds:.1f} s, {len(callbacks.records)} callbacks "
        f"(longest {callbacks.longest:.1f} s), {math.ceil(count / BATCH_SIZE)} committed batches "
        f"of {BATCH_SIZE}"
    )
    return meter, done, runs, callbacks.longest


def main():
    options = size_options(__doc__.splitlines()[0], small=200, large=2000)
    with bench_environment("topup", modules=("payment_demo", "finnsys_billing")) as env:
        limit = cron_time_limit(options.cron_time_limit)
        company = setup_company(env)
        # Balances may go below zero: limits are not what is measured here.
        company.account_use_credit_limit = False
        env.cr.commit()
        small, small_done, _runs, _longest = bench(env, options.small, "Small")
        large, large_done, runs, longest = bench(env, options.large, "Large")
        per_small = small.queries_per(small_done)
        per_large = large.queries_per(large_done)
        print(
            f"=> queries per customer {per_large - per_small:+.1f} when customers grow tenfold "
            f"(target: +0 or less); the {options.large:,} took {runs} job run(s), "
            f"{large.seconds:.0f} s, longest callback {longest:.1f} s (cron time limit {limit} s)"
        )
        env.cr.rollback()
        env.cr.close()


if __name__ == "__main__":
    main()
