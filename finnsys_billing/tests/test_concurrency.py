import uuid

from psycopg2.errors import LockNotAvailable, SerializationFailure

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import SQL, mute_logger

from odoo.addons.finnsys_billing.concurrency import (
    claim_rows,
    insert_once,
    insert_select_once,
    lock_or_refuse,
    lock_rows,
    retry_batch,
    run_once,
    serialize,
)

from .common import CommittedCompanyCase


@tagged("post_install", "-at_install")
class TestConcurrencyToolkit(CommittedCompanyCase):
    """Each primitive of ``finnsys_billing.concurrency`` on two real transactions: what the
    second worker gets while the first holds or has just committed the same rows."""

    company_name = "Toolkit Co"

    @classmethod
    def _setup_committed_data(cls, env, company):
        partners = env["res.partner"].create(
            [{"name": f"Toolkit customer {n}", "company_id": company.id} for n in range(2)]
        )
        cls.partner_ids = partners.ids

    def tearDown(self):
        with self.registry.cursor() as cr:
            cr.execute(
                SQL("DELETE FROM finnsys_topup_attempt WHERE company_id = %s", self.company_id)
            )
        super().tearDown()

    def _snapshot(self, cr):
        """Start ``cr``'s transaction snapshot now (REPEATABLE READ takes it at the first
        query)."""
        cr.execute("SELECT 1")

    def _attempt_row(self, key):
        # Cancelled: no top-up run of another test picks it up meanwhile.
        return {
            "partner_id": self.partner_ids[0],
            "company_id": self.company_id,
            "currency_id": self._currency_id,
            "amount": 10.0,
            "state": "cancelled",
            "origin": "cron",
            "try_count": 0,
            "idempotency_key": key,
        }

    @property
    def _currency_id(self):
        with self.registry.cursor() as cr:
            return self._env(cr)["res.company"].browse(self.company_id).currency_id.id

    def _count_key(self, key):
        with self.registry.cursor() as cr:
            cr.execute(
                SQL("SELECT COUNT(*) FROM finnsys_topup_attempt WHERE idempotency_key = %s", key)
            )
            return cr.fetchone()[0]

    def test_claim_rows_skips_rows_another_worker_holds(self):
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            first = claim_rows(env_a, "res_partner", self.partner_ids[:1])
            self.assertEqual(first, self.partner_ids[:1])
            # The second worker does not wait: it gets the customer nobody holds.
            second = claim_rows(env_b, "res_partner", self.partner_ids)
            self.assertEqual(second, self.partner_ids[1:])
            cr_a.rollback()
            cr_b.rollback()
            self.assertEqual(claim_rows(env_b, "res_partner", self.partner_ids), self.partner_ids)

    @mute_logger("odoo.sql_db")
    def test_claim_rows_counts_a_row_served_meanwhile_as_taken(self):
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            self._snapshot(cr_b)
            serialize(env_a, "res_partner", self.partner_ids[:1])
            cr_a.commit()
            self.assertEqual(claim_rows(env_b, "res_partner", self.partner_ids[:1]), [])
            # The transaction goes on: only the claim was rolled back.
            self.assertEqual(
                claim_rows(env_b, "res_partner", self.partner_ids[1:]), self.partner_ids[1:]
            )
            with self.assertRaises(SerializationFailure):
                claim_rows(env_b, "res_partner", self.partner_ids[:1], raise_unseen=True)

    @mute_logger("odoo.sql_db")
    def test_insert_once_lets_the_first_worker_own_the_key(self):
        key = f"toolkit-{uuid.uuid4().hex}"
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            self._snapshot(cr_b)
            [attempt_id] = insert_once(
                env_a, "finnsys_topup_attempt", [self._attempt_row(key)], SQL("(idempotency_key)")
            )
            self.assertTrue(attempt_id)
            cr_a.commit()
            # Committed after the second worker's snapshot: taken, nothing inserted.
            row = self._attempt_row(key)
            self.assertEqual(
                insert_once(env_b, "finnsys_topup_attempt", [row], SQL("(idempotency_key)")), []
            )
            with self.assertRaises(SerializationFailure):
                insert_once(
                    env_b,
                    "finnsys_topup_attempt",
                    [row],
                    SQL("(idempotency_key)"),
                    raise_unseen=True,
                )
            cr_b.rollback()
            # On a fresh snapshot the key is plainly taken.
            self.assertEqual(
                insert_once(env_b, "finnsys_topup_attempt", [row], SQL("(idempotency_key)")), []
            )
        self.assertEqual(self._count_key(key), 1)

    def test_lock_or_refuse_tells_the_user_the_row_is_busy(self):
        busy = "This customer is already being served: try again in a minute."
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            lock_rows(env_a, "res_partner", self.partner_ids[:1])
            with self.assertRaisesRegex(UserError, "already being served"):
                lock_or_refuse(env_b, "res_partner", self.partner_ids, busy)
            with self.assertRaises(LockNotAvailable):
                lock_rows(env_b, "res_partner", self.partner_ids[:1], nowait=True)
            cr_b.rollback()
            cr_a.rollback()
            locked = lock_or_refuse(env_b, "res_partner", self.partner_ids, busy)
            self.assertEqual(locked, self.partner_ids)

    @mute_logger("odoo.sql_db")
    def test_lock_or_refuse_refuses_a_row_changed_meanwhile_when_asked(self):
        busy = "This customer is already being served: try again in a minute."
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            self._snapshot(cr_b)
            serialize(env_a, "res_partner", self.partner_ids[:1])
            cr_a.commit()
            with self.assertRaisesRegex(UserError, "already being served"):
                lock_or_refuse(env_b, "res_partner", self.partner_ids, busy, refuse_unseen=True)
            # By default the request is replayed by Odoo on a fresh snapshot instead.
            with self.assertRaises(SerializationFailure):
                lock_or_refuse(env_b, "res_partner", self.partner_ids, busy)

    @mute_logger("odoo.sql_db")
    def test_serialize_makes_the_second_decision_start_again(self):
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            self._snapshot(cr_b)
            serialize(env_a, "res_partner", self.partner_ids)
            cr_a.commit()
            with self.assertRaises(SerializationFailure):
                serialize(env_b, "res_partner", self.partner_ids)
            cr_b.rollback()
            serialize(env_b, "res_partner", self.partner_ids)

    @mute_logger("odoo.sql_db")
    def test_retry_batch_runs_the_batch_again_on_a_fresh_snapshot(self):
        key = f"toolkit-{uuid.uuid4().hex}"
        calls = []
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            self._snapshot(cr_b)
            row = self._attempt_row(key)
            insert_once(env_a, "finnsys_topup_attempt", [row], SQL("(idempotency_key)"))
            cr_a.commit()

            def batch():
                calls.append(key)
                return insert_once(
                    env_b,
                    "finnsys_topup_attempt",
                    [row],
                    SQL("(idempotency_key)"),
                    raise_unseen=True,
                )

            # The first run conflicts with the committed key; the retry sees it and inserts
            # nothing.
            self.assertEqual(retry_batch(env_b, batch), [])
            self.assertEqual(len(calls), 2)
            self._snapshot(cr_b)
            cr_a.execute(
                SQL("UPDATE finnsys_topup_attempt SET amount = 20 WHERE idempotency_key = %s", key)
            )
            cr_a.commit()

            def update():
                env_b.cr.execute(
                    SQL(
                        "UPDATE finnsys_topup_attempt SET amount = 30 WHERE idempotency_key = %s",
                        key,
                    ),
                    log_exceptions=False,
                )

            with self.assertRaises(SerializationFailure):
                retry_batch(env_b, update, retries=0)
        self.assertEqual(self._count_key(key), 1)

    def _insert_from_select(self, env, key):
        row = {**self._attempt_row(key), "create_uid": env.uid, "write_uid": env.uid}
        select = SQL(
            "SELECT %s, NOW() AT TIME ZONE 'UTC', NOW() AT TIME ZONE 'UTC'",
            SQL(", ").join(SQL("%s", value) for value in row.values()),
        )
        columns = [*row, "create_date", "write_date"]
        return insert_select_once(env, "finnsys_topup_attempt", columns, select)

    def test_insert_select_once_and_run_once_leave_the_key_to_its_first_writer(self):
        key = f"toolkit-{uuid.uuid4().hex}"
        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            env_a, env_b = self._env(cr_a), self._env(cr_b)
            self._snapshot(cr_b)
            self.assertEqual(len(self._insert_from_select(env_a, key)), 1)
            cr_a.commit()
            self.assertEqual(self._insert_from_select(env_b, key), [])

            # Without ON CONFLICT the second writer fails: its work is undone.
            self.assertIsNone(run_once(env_b, lambda: self._plain_insert(env_b, key)))
            # The transaction goes on.
            self.assertEqual(
                claim_rows(env_b, "res_partner", self.partner_ids[1:]), self.partner_ids[1:]
            )
        self.assertEqual(self._count_key(key), 1)

    def _plain_insert(self, env, key):
        row = self._attempt_row(key)
        env.cr.execute(
            SQL(
                "INSERT INTO finnsys_topup_attempt (%s) VALUES (%s) RETURNING id",
                SQL(", ").join(SQL.identifier(col) for col in row),
                SQL(", ").join(SQL("%s", value) for value in row.values()),
            )
        )
        return env.cr.fetchone()[0]
