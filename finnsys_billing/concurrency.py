"""Locking and idempotency for crons and routes, written once.

Odoo runs every transaction in REPEATABLE READ. Two consequences shape these helpers:

- a row changed by a transaction that committed after this one's snapshot cannot be
  locked or updated: PostgreSQL raises ``SerializationFailure``. For a worker that claims
  rows, that row is *taken* (another worker just served it); for a request, Odoo replays
  the whole request on a fresh snapshot;
- a plain ``SELECT ... FOR UPDATE`` waits for a concurrent writer but then reads the old
  snapshot, so a decision that must see the other writer's rows serialises with a no-op
  ``UPDATE`` instead (``serialize``).

Every function takes an environment and ``odoo.tools.SQL`` pieces; tables are given by
name. Locks are ``FOR NO KEY UPDATE``: they do not block inserts of rows pointing at the
locked ones (foreign keys take ``FOR KEY SHARE``).

- crons: ``claim_rows`` (``SKIP LOCKED``), ``claim_ids`` (any claiming statement),
  ``insert_once`` / ``insert_select_once`` (``ON CONFLICT DO NOTHING``), ``retry_batch``,
  ``run_once``, ``BUSY_ERRORS`` (one record rolled back alone and left for later);
- routes and buttons: ``lock_or_refuse`` (``NOWAIT``, a sentence for the user),
  ``lock_rows`` (wait), ``serialize`` (no-op ``UPDATE`` before a credit decision).
"""

from psycopg2.errors import (
    DeadlockDetected,
    LockNotAvailable,
    SerializationFailure,
    UniqueViolation,
)

from odoo import fields
from odoo.exceptions import UserError
from odoo.tools import SQL, mute_logger

# Another worker wrote the same unique row or the same rows first.
CONFLICT_ERRORS = (SerializationFailure, UniqueViolation)
# Another worker holds or changed the rows: leave them to it, try again later.
BUSY_ERRORS = (DeadlockDetected, LockNotAvailable, SerializationFailure)


def _where(ids, condition):
    clauses = [SQL("id IN %s", tuple(ids))] if ids is not None else []
    if condition is not None:
        clauses.append(condition)
    return SQL(" AND ").join(clauses) if clauses else SQL("TRUE")


def claim_ids(env, query):
    """Run a statement that locks or writes rows and returns their ids as its first column
    (``... SKIP LOCKED``, ``UPDATE ... RETURNING id``, ``INSERT ... RETURNING id``).

    A row another worker committed after this transaction's snapshot counts as taken: the
    statement is rolled back to a savepoint and no id is returned.

    :return: list of the first column of the rows returned
    """
    return [row[0] for row in _fetch(env, query)]


def _fetch(env, query, raise_unseen=False):
    """The rows ``query`` returns; ``[]`` when a row it locks or writes changed after this
    transaction's snapshot, unless ``raise_unseen``."""
    if raise_unseen:
        env.cr.execute(query, log_exceptions=False)
        return env.cr.fetchall()
    try:
        with env.cr.savepoint(flush=False):
            env.cr.execute(query, log_exceptions=False)
            return env.cr.fetchall()
    except SerializationFailure:
        return []


def claim_rows(env, table, ids=None, condition=None, order=None, limit=None, raise_unseen=False):
    """Lock the rows of ``table`` that no other worker holds, skip the others.

    ``SELECT id FROM table WHERE id IN ids AND condition ORDER BY order LIMIT limit
    FOR NO KEY UPDATE SKIP LOCKED``, through ``claim_ids``: safe for several cron workers
    at once, each row is served by one of them.

    :param str table: table name
    :param ids: ids to claim among (``None``: any row matching ``condition``)
    :param SQL condition: extra filter, read again on the locked row
    :param SQL order: lock order (default ``id``, so workers never deadlock)
    :param bool raise_unseen: a row changed after this transaction's snapshot raises
        ``SerializationFailure`` (for ``retry_batch``) instead of counting as taken
    :return: list of the ids claimed
    """
    if ids is not None and not ids:
        return []
    query = SQL(
        "SELECT id FROM %s WHERE %s ORDER BY %s %s FOR NO KEY UPDATE SKIP LOCKED",
        SQL.identifier(table),
        _where(ids, condition),
        order or SQL("id"),
        SQL("LIMIT %s", limit) if limit else SQL(),
    )
    return [row[0] for row in _fetch(env, query, raise_unseen)]


def lock_rows(env, table, ids=None, condition=None, nowait=False):
    """Lock rows of ``table`` for this transaction, waiting for their holders (or raising
    ``LockNotAvailable`` at once with ``nowait``). A row changed after this transaction's
    snapshot raises ``SerializationFailure``: Odoo replays the request on a fresh one.

    :param ids: ids of the rows (``None``: the rows matching ``condition``)
    :param SQL condition: extra filter
    :return: list of the ids locked (those that still exist and match)
    """
    if ids is not None and not ids:
        return []
    env.cr.execute(
        SQL(
            "SELECT id FROM %s WHERE %s ORDER BY id FOR NO KEY UPDATE%s",
            SQL.identifier(table),
            _where(ids, condition),
            SQL(" NOWAIT") if nowait else SQL(),
        ),
        log_exceptions=False,  # the expected conflict is retried, logged there
    )
    return [row[0] for row in env.cr.fetchall()]


def lock_or_refuse(env, table, ids, message, condition=None, refuse_unseen=False):
    """Lock rows of ``table`` now or refuse with ``UserError(message)``: for a button or a
    route that must not wait behind another user doing the same thing.

    :param str message: the sentence the user reads ("... is already being paid: reload
        the page in a moment.")
    :param SQL condition: extra filter read on the locked rows
    :param bool refuse_unseen: also refuse when a row changed after this transaction's
        snapshot (by default Odoo replays the request on a fresh snapshot instead)
    :return: list of the ids locked (those still matching ``condition``)
    """
    if not ids:
        return []
    query = SQL(
        "SELECT id FROM %s WHERE %s ORDER BY id FOR NO KEY UPDATE NOWAIT",
        SQL.identifier(table),
        _where(ids, condition),
    )
    try:
        with env.cr.savepoint(flush=False):
            env.cr.execute(query, log_exceptions=False)
            return [row[0] for row in env.cr.fetchall()]
    except LockNotAvailable:
        raise UserError(message) from None
    except SerializationFailure:
        if refuse_unseen:
            raise UserError(message) from None
        raise


def serialize(env, table, ids):
    """Serialise decisions on rows of ``table`` with a no-op ``UPDATE``.

    The second of two transactions that decide on the same rows (a credit check, a
    payment) waits for the first, then fails with ``SerializationFailure``; Odoo retries it
    with a fresh snapshot that shows what the first one wrote.
    """
    if ids:
        env.cr.execute(
            SQL(
                "UPDATE %s SET write_date = write_date WHERE id IN %s",
                SQL.identifier(table),
                tuple(sorted(ids)),
            ),
            log_exceptions=False,  # the expected conflict is retried by Odoo, logged there
        )


def insert_once(env, table, rows, conflict, now=None, raise_unseen=False, returning=("id",)):
    """Insert ``rows`` into ``table`` unless their unique key is taken.

    ``INSERT ... ON CONFLICT conflict DO NOTHING RETURNING id``: the first worker to insert
    a key owns it; a second one waits for it, then inserts nothing. The audit columns
    (``create_uid``...) are filled in.

    :param str table: table name
    :param list rows: dicts of column values, all with the same keys
    :param SQL conflict: the conflict target, e.g. ``SQL("(idempotency_key)")``
    :param datetime now: the audit date (default: now)
    :param bool raise_unseen: a key committed after this transaction's snapshot raises
        ``SerializationFailure`` (for ``retry_batch``) instead of counting as taken
    :param returning: columns returned for each row inserted
    :return: the ids of the rows inserted; tuples of the ``returning`` columns when there
        are several
    """
    if not rows:
        return []
    now = now or fields.Datetime.now()
    audit = {"create_uid": env.uid, "create_date": now, "write_uid": env.uid, "write_date": now}
    columns = list(rows[0]) + [col for col in audit if col not in rows[0]]
    values = SQL(
        "VALUES %s",
        SQL(", ").join(
            SQL("(%s)", SQL(", ").join(SQL("%s", {**audit, **row}[col]) for col in columns))
            for row in rows
        ),
    )
    return insert_select_once(env, table, columns, values, conflict, raise_unseen, returning)


def insert_select_once(
    env, table, columns, select, conflict=None, raise_unseen=False, returning=("id",)
):
    """``insert_once`` for rows given by a query: ``INSERT INTO table (columns) select
    ON CONFLICT conflict DO NOTHING RETURNING ...``; ``select`` gives every column, the
    audit ones included. Without ``conflict``, any unique key counts.
    """
    query = SQL(
        "INSERT INTO %s (%s) %s ON CONFLICT %s DO NOTHING RETURNING %s",
        SQL.identifier(table),
        SQL(", ").join(SQL.identifier(col) for col in columns),
        select,
        conflict or SQL(),
        SQL(", ").join(SQL.identifier(col) for col in returning),
    )
    rows = _fetch(env, query, raise_unseen)
    return [row[0] for row in rows] if len(returning) == 1 else rows


def run_once(env, work, errors=CONFLICT_ERRORS):
    """Run ``work()`` in a savepoint and return its result, or ``None`` when another worker
    wrote the same unique rows first (``errors``): its work is undone, the transaction
    goes on. For a job whose result is stored under a unique key (a daily snapshot).
    """
    try:
        with mute_logger("odoo.sql_db"), env.cr.savepoint():
            return work()
    except errors:
        return None


def retry_batch(env, batch, retries=3, errors=CONFLICT_ERRORS, logger=None):
    """Run ``batch()`` and return its result; when another worker committed some of the
    same rows after this snapshot (``errors``), roll back and run it again on a fresh
    snapshot, which sees them and does nothing twice. After ``retries`` retries the error
    is raised.

    The rollback undoes everything since the last commit: call it right after a commit
    (``ir.cron._commit_progress``), with the batch rebuilding its input itself.
    """
    for attempt in range(retries + 1):
        try:
            return batch()
        except errors:
            env.cr.rollback()
            if attempt == retries:
                raise
            if logger:
                logger.info("Batch written meanwhile by another worker, retrying")
    return None
