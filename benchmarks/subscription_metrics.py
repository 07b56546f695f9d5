"""Cost of the subscription metrics report on 10,000 subscriptions, against raw SQL.

Figures (printed, never asserted): the report's ``read_group`` of 12 months (MRR, ARR,
active subscriptions, new, expansion, contraction and churned MRR, logo and revenue churn
rates, grouped by month) against a raw SQL query computing the same figures from the same
tables, in the same run; the ratio's target is at most 2x. The subscriptions mix monthly,
quarterly and yearly plans started over the last 14 months; some changed plan, some are
paused and some cancelled.
"""

import argparse
import statistics
import time
from datetime import date, timedelta

from benchlib import bench_environment, setup_company

from odoo.fields import Command, Domain
from odoo.tools import SQL

ROUNDS = 5


def make_plans(env):
    product = env["product.product"].create(
        {"name": "Bench Seat", "type": "service", "taxes_id": False}
    )
    plans = []
    for name, rule, price in (
        ("Bench Monthly", "monthly", 49.0),
        ("Bench Quarterly", "quarterly", 135.0),
        ("Bench Yearly", "yearly", 480.0),
        ("Bench Premium", "monthly", 99.0),
    ):
        plans.append(
            env["contract.template"].create(
                {
                    "name": name,
                    "recurring_rule_type": rule,
                    "contract_line_ids": [
                        Command.create(
                            {"product_id": product.id, "name": name, "specific_price": price}
                        )
                    ],
                }
            )
        )
    return plans


def make_subscriptions(env, plans, count, today):
    chunk = 1000
    for first in range(0, count, chunk):
        numbers = range(first, min(first + chunk, count))
        partners = env["res.partner"].create(
            [
                {
                    "name": f"Metrics {n:05d}",
                    "is_company": True,
                    "customer_rank": 1,
                    "billing_mode": "postpaid",
                }
                for n in numbers
            ]
        )
        subscriptions = env["contract.contract"].create(
            [
                {
                    "partner_id": partner.id,
                    "contract_template_id": plans[n % 3].id,
                    "date_start": today - timedelta(days=(n * 7) % 425),
                    "subscription_state": "active",
                }
                for n, partner in zip(numbers, partners, strict=True)
            ]
        )
        # Movements, written straight to the columns the report reads.
        for n, subscription in zip(numbers, subscriptions, strict=True):
            start = subscription.date_start
            if n % 17 == 0:
                subscription.write(
                    {
                        "subscription_state": "cancelled",
                        "subscription_ends_on": start + timedelta(days=60),
                    }
                )
            elif n % 23 == 0:
                subscription.write(
                    {
                        "subscription_state": "paused",
                        "subscription_paused_on": start + timedelta(days=45),
                    }
                )
            elif n % 11 == 0:
                # A change to the premium plan from the day after its second month.
                change = start + timedelta(days=61)
                subscription.contract_line_ids.write({"date_end": change - timedelta(days=1)})
                subscription.write(
                    {
                        "contract_line_ids": [
                            Command.create(
                                {
                                    "product_id": plans[3].contract_line_ids.product_id.id,
                                    "name": "Premium",
                                    "specific_price": 99.0,
                                    "date_start": change,
                                    "recurring_rule_type": "monthly",
                                }
                            )
                        ]
                    }
                )
        env.cr.commit()
        env.invalidate_all()


def raw_sql_figures(env, first_month):
    """The same figures straight from the tables: one pass over a per-month series."""
    from odoo.addons.finnsys_billing.report.finnsys_subscription_metrics import (  # noqa: PLC0415
        subscription_months_sql,
    )

    env.cr.execute(
        SQL(
            """
            WITH figures AS (%s)
            SELECT month,
                   SUM(mrr), SUM(mrr) * 12, COUNT(*) FILTER (WHERE mrr > 0),
                   SUM(mrr) FILTER (WHERE prev_mrr = 0),
                   SUM(mrr - prev_mrr) FILTER (WHERE prev_mrr > 0 AND mrr > prev_mrr),
                   SUM(prev_mrr - mrr) FILTER (WHERE prev_mrr > 0 AND mrr > 0 AND mrr < prev_mrr),
                   SUM(prev_mrr) FILTER (WHERE prev_mrr > 0 AND mrr = 0),
                   100.0 * COUNT(*) FILTER (WHERE prev_mrr > 0 AND mrr = 0)
                       / NULLIF(COUNT(*) FILTER (WHERE prev_mrr > 0), 0),
                   100.0 * SUM(CASE WHEN prev_mrr > 0 AND mrr < prev_mrr
                                    THEN prev_mrr - mrr ELSE 0 END)
                       / NULLIF(SUM(prev_mrr), 0)
              FROM figures
             WHERE month >= %s AND (mrr > 0 OR prev_mrr > 0)
             GROUP BY month
             ORDER BY month
            """,
            subscription_months_sql(),
            first_month,
        )
    )
    return [(row[0], *(float(value or 0) for value in row[1:])) for row in env.cr.fetchall()]


def report_figures(env, first_month):
    # Importable only once the benchmark's config has put the repository on the addons path.
    from odoo.addons.finnsys_billing.report.finnsys_subscription_metrics import (  # noqa: PLC0415
        MEASURES,
    )

    groups = env["finnsys.subscription.metrics"]._read_group(
        Domain("month", ">=", first_month), ["month:month"], MEASURES, order="month:month"
    )
    return [(month, *(float(value or 0) for value in values)) for month, *values in groups]


def timed(function, *args):
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    options = parser.parse_args()
    with bench_environment("subscription_metrics") as env:
        setup_company(env)
        env.company.account_use_credit_limit = False
        plans = make_plans(env)
        today = date.today()
        started = time.perf_counter()
        make_subscriptions(env, plans, options.count, today)
        print(f"{options.count:,} subscriptions made in {time.perf_counter() - started:.0f} s")
        env.cr.execute("ANALYZE")
        # The last 12 months, this one included.
        first_month = today.replace(day=1)
        for _month in range(11):
            first_month = (first_month - timedelta(days=1)).replace(day=1)
        # One warm-up each: the same cache for both.
        report_figures(env, first_month)
        raw_sql_figures(env, first_month)
        report_time, report = timed(report_figures, env, first_month)
        sql_time, raw = timed(raw_sql_figures, env, first_month)
        months = len(report)
        equal = len(report) == len(raw) and all(
            got[0] == want[0].replace(day=1)
            and all(abs(a - b) < 0.01 for a, b in zip(got[1:], want[1:], strict=True))
            for got, want in zip(report, raw, strict=True)
        )
        last = report[-1] if report else None
        if last:
            print(
                f"last month {last[0]}: MRR {last[1]:,.2f}, ARR {last[2]:,.2f}, "
                f"{last[3]:.0f} active, logo churn {last[8]:.2f} %, revenue churn {last[9]:.2f} %"
            )
        print(
            f"=> report read_group of {months} months / raw SQL: "
            f"{report_time / sql_time:.2f}x (target: <= 2x), "
            f"{report_time * 1000:.0f} ms against {sql_time * 1000:.0f} ms on "
            f"{options.count:,} subscriptions, figures {'equal' if equal else 'DIFFERENT'}"
        )
        env.cr.rollback()
        env.cr.close()


if __name__ == "__main__":
    main()
