"""A cron process killed (``kill -9``) in the middle of a batch, then run again.

The cron runs in an ``odoo server`` process, started by an XML-RPC call of a server action
with the cron's code and a batch of one customer (so there are many commits to fall between).
The test polls the database and kills the whole process the moment the run is half done,
starts a new server and runs the cron again to its end. Whatever the kill interrupted must
be finished once: each customer charged once, each reminder sent once, nothing left in draft,
pending or unbalanced. The long variant kills at several points of the run.
"""

import os
import signal
import threading
import time
import xmlrpc.client

import pytest

POLL = 0.01
RUN_TIMEOUT = 300
TOPUP_CUSTOMERS = 10
REMINDER_CUSTOMERS = 6  # two invoices each

# (name, SQL true at the kill point); %(ids)s: the seeded ids, %(n)s: how many.
TOPUP_KILL_POINTS = [
    (
        "attempt committed, charge not yet",
        """SELECT COUNT(*) > 0 FROM finnsys_topup_attempt a
             JOIN payment_transaction tx ON tx.id = a.transaction_id
            WHERE a.partner_id IN %(ids)s AND a.state = 'pending' AND tx.state = 'draft'
              AND EXISTS (SELECT 1 FROM finnsys_topup_attempt d
                           WHERE d.partner_id IN %(ids)s AND d.state = 'done')""",
    ),
]
TOPUP_LONG_KILL_POINTS = [
    (
        "first attempt committed",
        "SELECT COUNT(*) > 0 FROM finnsys_topup_attempt WHERE partner_id IN %(ids)s",
    ),
    (
        "half of the customers topped up",
        """SELECT COUNT(*) >= %(n)s / 2 FROM finnsys_topup_attempt
            WHERE partner_id IN %(ids)s AND state = 'done'""",
    ),
    (
        "all but one topped up",
        """SELECT COUNT(*) >= %(n)s - 1 FROM finnsys_topup_attempt
            WHERE partner_id IN %(ids)s AND state = 'done'""",
    ),
]
REMINDER_KILL_POINTS = [
    (
        "first customer reminded",
        """SELECT COUNT(*) > 0 FROM finnsys_reminder_log
            WHERE move_id IN %(ids)s AND state = 'sent'""",
    ),
]
REMINDER_LONG_KILL_POINTS = [
    (
        "half of the invoices reminded",
        """SELECT COUNT(*) >= %(n)s / 2 FROM finnsys_reminder_log
            WHERE move_id IN %(ids)s AND state = 'sent'""",
    ),
    (
        "all but one customer reminded",
        """SELECT COUNT(*) >= %(n)s - 2 FROM finnsys_reminder_log
            WHERE move_id IN %(ids)s AND state = 'sent'""",
    ),
]


def pytest_generate_tests(metafunc):
    """One test per kill point; the long variant (``--finnsys-long``) adds kill points."""
    long_run = metafunc.config.getoption("--finnsys-long")
    for argument, short, long in (
        ("topup_kill_point", TOPUP_KILL_POINTS, TOPUP_LONG_KILL_POINTS),
        ("reminder_kill_point", REMINDER_KILL_POINTS, REMINDER_LONG_KILL_POINTS),
    ):
        if argument in metafunc.fixturenames:
            points = short + (long if long_run else [])
            metafunc.parametrize(argument, points, ids=[name for name, _sql in points])


@pytest.fixture(scope="module")
def actions(scratch_db):
    return scratch_db.run_worker("cron_actions", {"batch_size": 1})


def _kill_when(db, action_id, condition, ids):
    """Run the action on a new server, kill -9 the server once ``condition`` holds, run the
    action to its end on another server. Returns whether the kill happened mid-run."""
    (server,) = db.start_servers(1)
    server.wait_ready()
    outcome = {}

    def run():
        try:
            outcome["result"] = server.execute("ir.actions.server", "run", [action_id])
        except (OSError, xmlrpc.client.Error) as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    params = {"ids": tuple(ids), "n": len(ids)}
    killed = False
    deadline = time.monotonic() + RUN_TIMEOUT
    while thread.is_alive() and time.monotonic() < deadline:
        if db.scalar(condition, params):
            os.killpg(server.process.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(POLL)
    thread.join(RUN_TIMEOUT)
    server.process.wait(30)
    db.stop_processes()
    assert killed, f"the run ended before the kill point: {outcome}"

    (server,) = db.start_servers(1)
    server.wait_ready()
    server.execute("ir.actions.server", "run", [action_id])
    db.stop_processes()
    return killed


def _assert_nothing_half_done(db):
    unbalanced = db.query(
        "SELECT move_id FROM account_move_line GROUP BY move_id "
        "HAVING ROUND(SUM(debit) - SUM(credit), 2) != 0"
    )
    assert not unbalanced
    assert db.scalar("SELECT COUNT(*) FROM account_move WHERE state != 'posted'") == 0
    assert db.scalar("SELECT COUNT(*) FROM account_payment WHERE state = 'draft'") == 0
    assert db.scalar("SELECT COUNT(*) FROM payment_transaction WHERE state = 'draft'") == 0
    assert db.scalar("SELECT COUNT(*) FROM finnsys_topup_attempt WHERE state = 'pending'") == 0


def test_top_up_run_killed_midway_charges_each_customer_once(scratch_db, actions, topup_kill_point):
    name, condition = topup_kill_point
    seeded = scratch_db.run_worker("seed", {"tag": f"crash {name}", "topup": TOPUP_CUSTOMERS})
    partner_ids = seeded["topup"]
    _kill_when(scratch_db, actions["topups"], condition, partner_ids)

    rows = scratch_db.query(
        """
        SELECT p.id,
               (SELECT array_agg(state) FROM finnsys_topup_attempt WHERE partner_id = p.id),
               (SELECT array_agg(state) FROM payment_transaction WHERE partner_id = p.id),
               (SELECT array_agg(state) FROM account_payment WHERE partner_id = p.id),
               (SELECT SUM(l.balance) FROM account_move_line l
                  JOIN account_account a ON a.id = l.account_id
                 WHERE l.partner_id = p.id AND l.parent_state = 'posted'
                   AND a.account_type = 'asset_receivable')
          FROM res_partner p WHERE p.id IN %s ORDER BY p.id
        """,
        [tuple(partner_ids)],
    )
    assert len(rows) == TOPUP_CUSTOMERS
    for partner_id, attempts, transactions, payments, receivable in rows:
        assert (attempts, transactions) == (["done"], ["done"]), (
            partner_id,
            attempts,
            transactions,
        )
        assert len(payments) == 1 and payments[0] not in ("draft", "canceled"), payments
        assert float(receivable) == -60.0, (partner_id, receivable)
    _assert_nothing_half_done(scratch_db)


def test_reminder_run_killed_midway_sends_each_reminder_once(
    scratch_db, actions, reminder_kill_point
):
    name, condition = reminder_kill_point
    seeded = scratch_db.run_worker(
        "seed", {"tag": f"remind {name}", "reminders": REMINDER_CUSTOMERS}
    )
    invoice_ids = seeded["reminder_invoices"]
    _kill_when(scratch_db, actions["reminders"], condition, invoice_ids)

    rows = scratch_db.reminders_sent(invoice_ids)
    assert len(rows) == 2 * REMINDER_CUSTOMERS
    wrong = [row for row in rows if row[1:] != (1, 1)]
    assert not wrong, f"(invoice, sent logs, e-mails) not (1, 1): {wrong}"
    _assert_nothing_half_done(scratch_db)
