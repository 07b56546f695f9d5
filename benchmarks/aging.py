"""Aged receivables: this report vs the OCA's aged partner balance vs one raw SQL GROUP BY.

Generates ``--lines`` receivable journal items (default 200,000) over ``--customers`` customers
(default 2,000) with SQL bulk inserts: 70 % invoices, 30 % payments, every payment matched to an
invoice of its customer (a third of them partially), reconciliations dated on the later of the
two items. All three are timed as of ``--date`` (default 2026-06-30, so reconciliations dated
after it are undone) and their totals per customer compared. Printed, never asserted:
targets are >= 10x faster than the OCA and <= 2x the raw SQL.

Then the screens against the printed report, at ``--date`` and 90 and 365 days before it, the
best of three runs each: the wizard's printout (``_aging_report_with_headers``, what the PDF and
XLSX print), the pivot (its grouping sets), the graph and the list (first page and count) the
*View* button opens, and the raw SQL floor. Target: each screen <= 1.2x the printout. The
screens' figures per customer and bucket are compared with the printout's.

The OCA's ``account_financial_report`` 19.0 and ``date_range`` are not dependencies of the
addon: install them next to the benchmark only, e.g.
``pip install --no-deps --target /tmp/ocaafr odoo-addon-account-financial-report
odoo-addon-date-range==19.0.*``; ``--oca-path`` (default /tmp/ocaafr) puts that directory on
the Python path of this run only. Without it the OCA figure is skipped.
"""

import argparse
import os
import sys
from datetime import timedelta

PARSER = argparse.ArgumentParser(description=__doc__.splitlines()[0])
PARSER.add_argument("--lines", type=int, default=200_000)
PARSER.add_argument("--customers", type=int, default=2_000)
PARSER.add_argument("--date", default="2026-06-30")
PARSER.add_argument("--oca-path", default="/tmp/ocaafr")
PARSER.add_argument("--explain", action="store_true", help="print the plan of this report's SQL")
ARGS = PARSER.parse_args()
OCA = os.path.isdir(os.path.join(ARGS.oca_path, "odoo", "addons", "account_financial_report"))
if OCA:
    # odoo.addons is a namespace package: the OCA addons join it through the Python path,
    # here and in the Odoo process that installs the benchmark database.
    sys.path.insert(0, ARGS.oca_path)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [ARGS.oca_path, os.environ.get("PYTHONPATH")])
    )

from benchlib import Meter, bench_environment, setup_company  # noqa: E402

from odoo import fields  # noqa: E402
from odoo.tools import SQL  # noqa: E402


def make_customers(env, count):
    partners = env["res.partner"].create(
        [{"name": f"Aging {n:05d}", "is_company": True, "customer_rank": 1} for n in range(count)]
    )
    return partners.ids


def generate(env, company, partner_ids, lines):
    """Moves with one receivable and one counterpart item each, then partials."""
    account = env["account.account"].with_company(company)
    receivable = account.search([("account_type", "=", "asset_receivable")], limit=1)
    income = account.search([("account_type", "=", "income")], limit=1)
    sale = env["account.journal"].search(
        [("type", "=", "sale"), ("company_id", "=", company.id)], limit=1
    )
    bank = env["account.journal"].search(
        [("type", "=", "bank"), ("company_id", "=", company.id)], limit=1
    )
    cr = env.cr
    cr.execute(
        SQL(
            """
            CREATE TEMP TABLE gen AS
            SELECT g,
                   (%(partners)s::int[])[(g %% %(count)s)::int + 1] AS partner_id,
                   (g / %(count)s) %% 10 < 7 AS is_invoice,
                   DATE '2025-01-01' + ((g * 7919) %% 540)::int AS date,
                   round(10 + ((g * 104729) %% 99000) / 100.0, 2) AS amount,
                   nextval('account_move_id_seq') AS move_id
              FROM generate_series(0::bigint, %(lines)s - 1) g
            """,
            partners=partner_ids,
            count=len(partner_ids),
            lines=lines,
        )
    )
    common = SQL(
        "%(company)s, %(currency)s, %(uid)s, %(uid)s, now() AT TIME ZONE 'UTC', "
        "now() AT TIME ZONE 'UTC'",
        company=company.id,
        currency=company.currency_id.id,
        uid=env.uid,
    )
    cr.execute(
        SQL(
            """
            INSERT INTO account_move (id, name, journal_id, state, move_type, auto_post, date,
                   invoice_date, invoice_date_due, partner_id, commercial_partner_id,
                   company_id, currency_id, create_uid, write_uid, create_date, write_date)
            SELECT move_id, 'BENCH/' || g,
                   CASE WHEN is_invoice THEN %(sale)s ELSE %(bank)s END, 'posted',
                   CASE WHEN is_invoice THEN 'out_invoice' ELSE 'entry' END, 'no', date,
                   CASE WHEN is_invoice THEN date END, date + 30, partner_id, partner_id,
                   %(common)s
              FROM gen
            """,
            sale=sale.id,
            bank=bank.id,
            common=common,
        )
    )
    for side, sign, account_sql, display in (
        ("receivable", 1, receivable.id, "payment_term"),
        ("counterpart", -1, income.id, "product"),
    ):
        balance = SQL("%s * CASE WHEN is_invoice THEN amount ELSE -amount END", sign)
        residual = balance if side == "receivable" else SQL("0")
        cr.execute(
            SQL(
                """
                INSERT INTO account_move_line (move_id, move_name, name, date, parent_state,
                       journal_id, account_id, partner_id, display_type, debit, credit,
                       balance, amount_currency, amount_residual, amount_residual_currency,
                       reconciled, date_maturity, invoice_date, company_id, currency_id,
                       create_uid, write_uid, create_date, write_date, company_currency_id)
                SELECT move_id, 'BENCH/' || g, %(side)s, date, 'posted',
                       CASE WHEN is_invoice THEN %(sale)s ELSE %(bank)s END, %(account)s,
                       partner_id, %(display)s, GREATEST(%(balance)s, 0),
                       GREATEST(-(%(balance)s), 0), %(balance)s, %(balance)s, %(residual)s,
                       %(residual)s, FALSE,
                       CASE WHEN is_invoice THEN date + 30 ELSE date END,
                       CASE WHEN is_invoice THEN date END,
                       %(common)s, %(currency)s
                  FROM gen
                """,
                side=side,
                sale=sale.id,
                bank=bank.id,
                account=account_sql,
                display=display,
                balance=balance,
                residual=residual,
                common=common,
                currency=company.currency_id.id,
            )
        )
    reconcile(env, company, receivable, len(partner_ids))
    cr.execute("DROP TABLE gen")
    env.invalidate_all()


def reconcile(env, company, receivable, customers):
    """Each payment (blocks 7-9 of ten) is matched with the invoice of the same customer
    three blocks before (blocks 4-6); one in three only partially."""
    env.cr.execute(
        SQL(
            """
            CREATE TEMP TABLE pairs AS
            SELECT inv_line.id AS debit_id, pay_line.id AS credit_id,
                   round(
                       LEAST(inv.amount, pay.amount)
                           * CASE WHEN pay.g %% 3 = 0 THEN 0.5 ELSE 1 END,
                       2
                   ) AS amount,
                   GREATEST(inv.date, pay.date) AS max_date
              FROM gen pay
              JOIN gen inv ON inv.g = pay.g - 3 * %(customers)s
              JOIN account_move_line pay_line
                ON pay_line.move_id = pay.move_id AND pay_line.account_id = %(account)s
              JOIN account_move_line inv_line
                ON inv_line.move_id = inv.move_id AND inv_line.account_id = %(account)s
             WHERE NOT pay.is_invoice;
            INSERT INTO account_partial_reconcile (debit_move_id, credit_move_id, amount,
                   debit_amount_currency, credit_amount_currency, company_id, max_date,
                   debit_currency_id, credit_currency_id,
                   create_uid, write_uid, create_date, write_date)
            SELECT debit_id, credit_id, amount, amount, amount, %(company)s, max_date,
                   %(currency)s, %(currency)s, %(uid)s, %(uid)s,
                   max_date, max_date
              FROM pairs;
            UPDATE account_move_line line
               SET amount_residual = line.amount_residual - pairs.amount,
                   amount_residual_currency = line.amount_residual_currency - pairs.amount
              FROM pairs WHERE line.id = pairs.debit_id;
            UPDATE account_move_line line
               SET amount_residual = line.amount_residual + pairs.amount,
                   amount_residual_currency = line.amount_residual_currency + pairs.amount
              FROM pairs WHERE line.id = pairs.credit_id;
            UPDATE account_move_line SET reconciled = TRUE
             WHERE account_id = %(account)s AND amount_residual = 0;
            DROP TABLE pairs;
            """,
            customers=customers,
            account=receivable.id,
            company=company.id,
            currency=company.currency_id.id,
            uid=env.uid,
        )
    )


def run_ours(env, date_at):
    report = env["finnsys.aged.receivable"]._aging_report({"date_at": date_at})
    return {row["partner_name"]: row["total"] for row in report["rows"]}


def run_our_sql(env, date_at):
    aging = env["finnsys.aged.receivable"]
    env.cr.execute(aging._aging_sql(aging._aging_options({"date_at": date_at})))
    return env.cr.fetchall()


def run_raw(env, date_at):
    """The floor: the receivable balance per customer at the date, one GROUP BY."""
    env.cr.execute(
        SQL(
            """
            SELECT partner.name, SUM(line.balance)
              FROM account_move_line line
              JOIN account_account account ON account.id = line.account_id
              JOIN res_partner partner ON partner.id = line.partner_id
             WHERE account.account_type = 'asset_receivable'
               AND line.parent_state = 'posted'
               AND line.date <= %s
             GROUP BY partner.name
            """,
            date_at,
        )
    )
    return {name: float(total) for name, total in env.cr.fetchall() if total}


def run_oca(env, company, date_at):
    receivables = env["account.account"].search(
        [("account_type", "=", "asset_receivable"), ("company_ids", "in", company.ids)]
    )
    wizard = env["aged.partner.balance.report.wizard"].create(
        {"date_at": date_at, "company_id": company.id, "account_ids": receivables.ids}
    )
    # The OCA's report expects the data as it comes back from the browser: dates as strings.
    data = dict(wizard._prepare_report_data(), date_at=fields.Date.to_string(date_at))
    values = env["report.account_financial_report.aged_partner_balance"]._get_report_values(
        wizard.ids, data
    )
    return {
        partner["name"]: partner["residual"]
        for account in values["aged_partner_balance"]
        for partner in account["partners"]
    }


PIVOT_SETS = [["partner_id", "bucket"], ["partner_id"], ["bucket"], []]
# What the web client's pivot and graph ask for these views (pivot_model.js, graph_model.js):
# each measure, the currency and converted sum of a monetary one, and the count.
MONETARY = ["company_currency_id:array_agg_distinct", "residual:sum_currency"]
PIVOT_MEASURES = ["residual:sum", *MONETARY, "share:sum", "__count"]
GRAPH_MEASURES = ["__count", *MONETARY, "residual:sum"]
LIST_FIELDS = {
    "partner_id": {"fields": {"display_name": {}}},
    "move_id": {"fields": {"display_name": {}}},
    "date": {},
    "date_maturity": {},
    "days_overdue": {},
    "bucket": {},
    "residual": {},
}


def screen_model(env, date_at):
    """The screens' model in the context the wizard's View button gives it."""
    wizard = env["finnsys.aged.receivable.wizard"].create({"date_at": date_at})
    return wizard, env["finnsys.aged.receivable"].with_context(**wizard.action_view()["context"])


def run_printout(env, wizard):
    report = wizard._aging_report_with_headers()
    return {
        (row["partner_id"], key): amount
        for row in report["rows"]
        for key, amount in row["amounts"].items()
        if amount
    }


def run_pivot(env, aging):
    cells, *_totals = aging.formatted_read_grouping_sets([], PIVOT_SETS, PIVOT_MEASURES)
    return {
        (cell["partner_id"][0], cell["bucket"]): cell["residual:sum"]
        for cell in cells
        if cell["residual:sum"]
    }


def run_pivot_unformatted(env, aging):
    """The pivot's query and grouping alone, without the web client's formatting of the
    groups (labels and a domain per cell): where the pivot's time goes."""
    return aging._read_grouping_sets([], PIVOT_SETS, PIVOT_MEASURES)


def run_graph(env, aging):
    return aging.formatted_read_group([], ["bucket"], GRAPH_MEASURES)


def run_list(env, aging):
    return aging.web_search_read([], LIST_FIELDS, limit=80, count_limit=10001)


def best_of(env, runs, function, *args):
    """The fastest of ``runs`` runs (another process shares the machine: the minimum is the
    figure least disturbed by it) and the result of the last."""
    best = None
    for _run in range(runs):
        env.flush_all()
        env.invalidate_all()
        with Meter() as meter:
            result = function(env, *args)
        if best is None or meter.seconds < best.seconds:
            best = meter
    return best, result


def compare_screens(env, date_at):
    """Printout, screens and floor as of ``date_at``; screens against the printout."""
    wizard, aging = screen_model(env, date_at)
    printout, printed = best_of(env, 3, run_printout, wizard)
    raw, _totals = best_of(env, 3, run_raw, date_at)
    print(f"-- as of {date_at}")
    print(f"   printout {printout.seconds * 1000:>8.1f} ms {printout.queries:>4} queries")
    print(f"   raw SQL  {raw.seconds * 1000:>8.1f} ms")
    for name, function in (("pivot", run_pivot), ("graph", run_graph), ("list", run_list)):
        meter, result = best_of(env, 3, function, aging)
        print(f"   {name:<8} {meter.seconds * 1000:>8.1f} ms {meter.queries:>4} queries")
        if name == "pivot":
            unformatted, _groups = best_of(env, 3, run_pivot_unformatted, aging)
            print(f"   of which unformatted {unformatted.seconds * 1000:>8.1f} ms")
            differing = sum(
                abs(printed.get(cell, 0) - result.get(cell, 0)) > 0.005
                for cell in set(printed) | set(result)
            )
            print(f"   pivot cells that differ from the printout: {differing}")
        print(
            f"=> {name} at {date_at} / printout: {meter.seconds / printout.seconds:.2f}x "
            f"(target <= 1.2x), {meter.seconds / raw.seconds:.2f}x the raw SQL"
        )


def measure(env, label, function, *args):
    env.flush_all()
    env.invalidate_all()
    with Meter() as meter:
        totals = function(env, *args)
    print(f"{label:<34} {meter.seconds * 1000:>10.1f} ms {meter.queries:>7} queries")
    return meter, totals


def differences(reference, other):
    names = set(reference) | set(other)
    differing = sorted(
        name for name in names if abs(reference.get(name, 0) - other.get(name, 0)) > 0.005
    )
    for name in differing[:3]:
        print(f"   e.g. {name}: {reference.get(name, 0):.2f} vs {other.get(name, 0):.2f}")
    return len(differing)


def main():
    modules = ("finnsys_billing", "account_financial_report") if OCA else ("finnsys_billing",)
    with bench_environment("aging", modules) as env:
        company = setup_company(env)
        partner_ids = make_customers(env, ARGS.customers)
        with Meter() as meter:
            generate(env, company, partner_ids, ARGS.lines)
            env.cr.commit()
            env.cr.execute("ANALYZE")
        print(
            f"generated {ARGS.lines} receivable items over {ARGS.customers} customers "
            f"in {meter.seconds:.1f} s"
        )
        date_at = fields.Date.to_date(ARGS.date)
        measure(env, "(warm-up)", run_ours, date_at)
        ours, our_totals = measure(env, "this report", run_ours, date_at)
        measure(env, "  of which its SQL alone", run_our_sql, date_at)
        if ARGS.explain:
            aging = env["finnsys.aged.receivable"]
            sql = aging._aging_sql(aging._aging_options({"date_at": date_at}))
            env.cr.execute(SQL("EXPLAIN (ANALYZE, BUFFERS) %s", sql))
            print("\n".join(row[0] for row in env.cr.fetchall()))
        raw, raw_totals = measure(env, "raw SQL GROUP BY (floor)", run_raw, date_at)
        print(
            f"=> this report / raw SQL: {ours.seconds / raw.seconds:.2f}x (target <= 2x); "
            f"customers whose total differs: {differences(raw_totals, our_totals)}"
        )
        for days in (0, 90, 365):
            compare_screens(env, date_at - timedelta(days=days))
        if not OCA:
            print(f"OCA account_financial_report not found under {ARGS.oca_path}: skipped")
            return
        oca, oca_totals = measure(env, "OCA aged partner balance", run_oca, company, date_at)
        print(
            f"=> OCA / this report: {oca.seconds / ours.seconds:.1f}x (target >= 10x); "
            f"customers whose total differs: {differences(oca_totals, our_totals)}; "
            f"grand totals {sum(our_totals.values()):.2f} / {sum(oca_totals.values()):.2f} "
            f"/ {sum(raw_totals.values()):.2f} (ours / OCA / raw)"
        )


if __name__ == "__main__":
    main()
