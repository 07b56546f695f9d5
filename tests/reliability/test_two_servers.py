"""Two Odoo servers on one database run every FinnSys cron at the same moment.

How the crons are run: two real ``odoo server`` processes (own HTTP port, no cron thread) and,
for each cron, an ``ir.actions.server`` with the cron's own code that both servers are asked
to run over XML-RPC at the same instant (a barrier releases both calls together). Odoo's job
runner cannot be used for this: it locks the ``ir_cron`` row, so two servers never run the same
job at once, and ``ir.cron.method_direct_trigger`` takes the same lock. A server action runs
the cron method in a request thread of each server, with the batch commits of
``ir.cron._commit_progress``, so what is tested is FinnSys' own locking between two processes.
The actions use small batches so that the two servers' batches interleave. Besides the
simultaneous rounds, one test starts a subscription run on the second server whenever the
first has committed invoices it has not charged yet. Both servers' logs must show no error and
no call retried by Odoo's RPC layer (a cron that escapes a concurrency error has failed).

The seeded data (customers tagged ``two``): prepaid customers below their auto top-up
threshold with a demo token, prepaid customers without auto top-up who are low, postpaid
customers with invoices due for each reminder rule, and monthly subscriptions starting today,
online (charged to a demo token) and offline (invoice e-mailed).
"""

import threading
import time
import xmlrpc.client

import pytest

CRONS = ("topups", "reminders", "subscriptions", "aging")
TOPUP_AMOUNT = 100
OWED = 40  # each prepaid customer's first invoice


@pytest.fixture(scope="module")
def race(scratch_db, long_run):
    """Seed, start two servers, run every cron on both at once for several rounds."""
    size = 40 if long_run else 20
    seeded = scratch_db.run_worker(
        "seed",
        {
            "tag": "two",
            "topup": size,
            "low_balance": 5,
            "reminders": size,
            "invoices_per_customer": 2 if long_run else 1,
            "subscriptions": size,
        },
    )
    actions = scratch_db.run_worker("cron_actions", {"batch_size": 3})
    servers = scratch_db.start_servers(2)
    for server in servers:
        server.wait_ready()
    calls = []
    started = time.monotonic()
    for round_no in range(8 if long_run else 3):
        for cron in CRONS:
            calls += _run_on_both(servers, cron, actions[cron], round_no)
    elapsed = time.monotonic() - started
    scratch_db.stop_processes()
    print(f"\n{len(calls)} cron calls on two servers in {elapsed:.1f} s")
    return {"seeded": seeded, "calls": calls, "servers": servers, "db": scratch_db}


def _run_on_both(servers, cron, action_id, round_no):
    barrier = threading.Barrier(len(servers))
    outcomes = []

    def call(server):
        barrier.wait(30)
        try:
            server.execute("ir.actions.server", "run", [action_id])
            outcomes.append((round_no, cron, server.port, None))
        except xmlrpc.client.Fault as fault:
            outcomes.append((round_no, cron, server.port, fault.faultString[-2000:]))

    threads = [threading.Thread(target=call, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    assert not any(thread.is_alive() for thread in threads), f"{cron} still running after 600 s"
    return outcomes


def test_every_cron_call_succeeds_on_both_servers(race):
    failures = [outcome for outcome in race["calls"] if outcome[3]]
    assert not failures, failures
    assert len(race["calls"]) >= 2 * len(CRONS)
    _assert_clean_logs(race["servers"])


def _assert_clean_logs(servers):
    """No error, and no call retried by Odoo's RPC layer: a cron that is safe to run twice at
    once handles its own concurrency errors (Odoo's job runner would not retry it)."""
    errors = [line for server in servers for line in server.log_lines(" ERROR ", "tries left")]
    assert not errors, "\n".join(errors[:20])


def test_each_prepaid_customer_is_charged_once_per_threshold_crossing(race):
    db, partner_ids = race["db"], tuple(race["seeded"]["topup"])
    rows = db.query(
        """
        SELECT p.id,
               (SELECT array_agg(state ORDER BY id) FROM finnsys_topup_attempt
                 WHERE partner_id = p.id),
               (SELECT array_agg(state ORDER BY id) FROM payment_transaction
                 WHERE partner_id = p.id),
               (SELECT array_agg(state ORDER BY id) FROM account_payment
                 WHERE partner_id = p.id),
               (SELECT SUM(l.balance) FROM account_move_line l
                  JOIN account_account a ON a.id = l.account_id
                 WHERE l.partner_id = p.id AND l.parent_state = 'posted'
                   AND a.account_type = 'asset_receivable')
          FROM res_partner p WHERE p.id IN %s ORDER BY p.id
        """,
        [partner_ids],
    )
    assert len(rows) == len(partner_ids)
    for partner_id, attempts, transactions, payments, receivable in rows:
        assert attempts == ["done"], (partner_id, attempts)
        assert transactions == ["done"], (partner_id, transactions)
        assert len(payments) == 1 and payments[0] not in ("draft", "canceled"), (
            partner_id,
            payments,
        )
        assert float(receivable) == OWED - TOPUP_AMOUNT, (partner_id, receivable)
    receipts = db.query(
        """
        SELECT a.partner_id, COUNT(m.id) FROM finnsys_topup_attempt a
          LEFT JOIN mail_message msg
                 ON msg.model = 'finnsys.topup.attempt' AND msg.res_id = a.id
          LEFT JOIN mail_mail m ON m.mail_message_id = msg.id
         WHERE a.partner_id IN %s GROUP BY 1
        """,
        [partner_ids],
    )
    assert {count for _partner, count in receipts} == {1}, receipts


def test_each_low_balance_customer_is_warned_once(race):
    db, partner_ids = race["db"], tuple(race["seeded"]["low_balance"])
    rows = db.query(
        """
        SELECT p.id, p.billing_low_balance_notified,
               (SELECT COUNT(*) FROM mail_mail m
                  JOIN mail_message msg ON msg.id = m.mail_message_id
                 WHERE msg.model = 'res.partner' AND msg.res_id = p.id)
          FROM res_partner p WHERE p.id IN %s ORDER BY p.id
        """,
        [partner_ids],
    )
    assert rows and all(notified and mails == 1 for _id, notified, mails in rows), rows


def test_each_reminder_is_sent_once_per_invoice_and_rule(race):
    db, invoice_ids = race["db"], tuple(race["seeded"]["reminder_invoices"])
    duplicates = db.query(
        "SELECT move_id, rule_id, COUNT(*) FROM finnsys_reminder_log WHERE move_id IN %s "
        "GROUP BY 1, 2 HAVING COUNT(*) > 1",
        [invoice_ids],
    )
    assert not duplicates
    rows = db.reminders_sent(invoice_ids)
    assert len(rows) == len(invoice_ids)
    wrong = [(move_id, sent, mails) for move_id, sent, mails in rows if (sent, mails) != (1, 1)]
    assert not wrong, f"(invoice, sent logs, e-mails) not (1, 1): {wrong}"
    rules = db.query(
        "SELECT DISTINCT rule_id FROM finnsys_reminder_log WHERE move_id IN %s AND state = 'sent'",
        [invoice_ids],
    )
    assert len(rules) == 4, "the seed makes every default rule the one due on some invoices"
    # All runs are on one day: only the latest due rule of an invoice is sent, whatever
    # invoice it is (subscription invoices due today are reminded too).
    twice = db.query(
        "SELECT move_id FROM finnsys_reminder_log WHERE state = 'sent' GROUP BY move_id "
        "HAVING COUNT(*) > 1"
    )
    assert not twice
    mails = db.query(
        "SELECT l.move_id FROM finnsys_reminder_log l JOIN mail_mail mm ON mm.id = l.mail_id "
        "GROUP BY l.move_id HAVING COUNT(DISTINCT mm.id) > 1"
    )
    assert not mails


def test_each_subscription_period_is_invoiced_once(race):
    db, subscription_ids = race["db"], tuple(race["seeded"]["subscriptions"])
    rows = db.query(
        """
        SELECT c.id, c.subscription_payment,
               (SELECT COUNT(*) FROM finnsys_subscription_period p WHERE p.contract_id = c.id),
               (SELECT array_agg(state) FROM account_move m WHERE m.subscription_id = c.id),
               (SELECT COUNT(*) FROM finnsys_subscription_period p
                  JOIN account_move m ON m.id = p.move_id AND m.subscription_id = c.id
                 WHERE p.contract_id = c.id),
               (SELECT array_agg(tx.state) FROM payment_transaction tx
                  JOIN account_invoice_transaction_rel rel ON rel.transaction_id = tx.id
                  JOIN account_move m ON m.id = rel.invoice_id
                 WHERE m.subscription_id = c.id),
               (SELECT COUNT(*) FROM mail_mail mm
                  JOIN mail_message msg ON msg.id = mm.mail_message_id
                  JOIN account_move m ON msg.model = 'account.move' AND msg.res_id = m.id
                 WHERE m.subscription_id = c.id
                   AND mm.id NOT IN (SELECT mail_id FROM finnsys_reminder_log
                                      WHERE mail_id IS NOT NULL))
          FROM contract_contract c WHERE c.id IN %s ORDER BY c.id
        """,
        [subscription_ids],
    )
    assert len(rows) == len(subscription_ids)
    for contract_id, payment, periods, moves, linked, charges, mails in rows:
        assert (periods, moves, linked) == (1, ["posted"], 1), (contract_id, periods, moves)
        if payment == "online":
            assert (charges, mails) == (["done"], 0), (contract_id, charges, mails)
        else:
            assert (charges, mails) == (None, 1), (contract_id, charges, mails)


def test_every_move_is_balanced_and_nothing_is_left_in_draft(race):
    db = race["db"]
    unbalanced = db.query(
        """
        SELECT move_id, SUM(debit), SUM(credit) FROM account_move_line
         GROUP BY move_id HAVING ROUND(SUM(debit) - SUM(credit), 2) != 0
        """
    )
    assert not unbalanced
    assert db.scalar("SELECT COUNT(*) FROM account_move WHERE state != 'posted'") == 0
    assert db.scalar("SELECT COUNT(*) FROM account_payment WHERE state = 'draft'") == 0
    assert db.scalar("SELECT COUNT(*) FROM payment_transaction WHERE state = 'draft'") == 0
    assert db.scalar("SELECT COUNT(*) FROM finnsys_topup_attempt WHERE state = 'pending'") == 0


def test_aging_snapshot_is_taken_once_a_day(race):
    rows = race["db"].query(
        "SELECT date, company_id, COUNT(*), COUNT(DISTINCT bucket) FROM finnsys_aging_snapshot "
        "GROUP BY 1, 2"
    )
    assert len(rows) == 1, rows
    assert rows[0][2] == rows[0][3] > 1, rows


def test_subscription_run_started_during_another_charges_each_invoice_once(race):
    """A run that starts while another is between committing its invoices and charging them
    must not charge them too (its first step charges what a crashed run left uncharged)."""
    db = race["db"]
    seeded = db.run_worker("seed", {"tag": "stagger", "subscriptions": 8, "online_only": True})
    action_id = db.run_worker("cron_actions", {"batch_size": 1})["subscriptions"]
    first, second = db.start_servers(2)
    for server in (first, second):
        server.wait_ready()
    faults = []

    def run(server):
        try:
            server.execute("ir.actions.server", "run", [action_id])
        except xmlrpc.client.Fault as fault:
            faults.append(fault.faultString[-2000:])

    thread = threading.Thread(target=run, args=(first,))
    thread.start()
    draft = """SELECT COUNT(*) FROM payment_transaction tx
                 JOIN account_invoice_transaction_rel rel ON rel.transaction_id = tx.id
                 JOIN account_move m ON m.id = rel.invoice_id
                WHERE m.subscription_id IN %s AND tx.state = 'draft'"""
    subscriptions = tuple(seeded["subscriptions"])
    second_runs = 0
    while thread.is_alive():
        if db.scalar(draft, [subscriptions]):
            run(second)
            second_runs += 1
        time.sleep(0.01)
    thread.join()
    db.stop_processes()
    assert second_runs, "the first run never left a committed, uncharged invoice"
    assert not faults, faults
    _assert_clean_logs([first, second])
    rows = db.query(
        """
        SELECT c.id,
               (SELECT COUNT(*) FROM account_move m WHERE m.subscription_id = c.id),
               (SELECT array_agg(tx.state) FROM payment_transaction tx
                  JOIN account_invoice_transaction_rel rel ON rel.transaction_id = tx.id
                  JOIN account_move m ON m.id = rel.invoice_id
                 WHERE m.subscription_id = c.id),
               (SELECT COUNT(*) FROM account_payment p
                  JOIN payment_transaction tx ON tx.id = p.payment_transaction_id
                  JOIN account_invoice_transaction_rel rel ON rel.transaction_id = tx.id
                  JOIN account_move m ON m.id = rel.invoice_id
                 WHERE m.subscription_id = c.id)
          FROM contract_contract c WHERE c.id IN %s ORDER BY c.id
        """,
        [subscriptions],
    )
    assert rows and all(row[1:] == (1, ["done"], 1) for row in rows), rows
