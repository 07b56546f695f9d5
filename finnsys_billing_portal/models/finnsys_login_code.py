import hashlib
import hmac
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessDenied
from odoo.fields import Domain
from odoo.tools import SQL, email_normalize

CODE_TTL = timedelta(minutes=10)
CODE_MAX_TRIES = 5
ACCOUNT_MAX_FAILURES = 10  # per ACCOUNT_WINDOW, then the account cools down
ACCOUNT_WINDOW = timedelta(hours=1)
EMAIL_MAX_CODES = 3  # per SEND_WINDOW
SEND_WINDOW = timedelta(minutes=15)
IP_MAX_SENDS = 20  # code requests per SEND_WINDOW from one address
IP_MAX_FAILURES = 50  # failed checks per ACCOUNT_WINDOW from one address
HASH_ROUNDS = 100_000
UNKNOWN_SALT = "00" * 16


class FinnsysLoginCode(models.Model):
    """A one-time 6-digit login code e-mailed to a portal user.

    Only a salted PBKDF2 hash is kept. At most one code per user is live (not used, not
    voided): a partial unique index guarantees it. Every check locks the live code row and
    writes to it, so parallel checks are serialised by PostgreSQL and the try counters hold
    across workers.
    """

    _name = "finnsys.login.code"
    _description = "Portal login code"
    _order = "id desc"

    user_id = fields.Many2one(
        "res.users", required=True, readonly=True, index=True, ondelete="cascade"
    )
    code_hash = fields.Char(required=True, readonly=True)
    code_salt = fields.Char(required=True, readonly=True)
    created_at = fields.Datetime(
        required=True, readonly=True, default=lambda self: fields.Datetime.now()
    )
    expires_at = fields.Datetime(required=True, readonly=True)
    used_at = fields.Datetime(readonly=True)
    attempts = fields.Integer(readonly=True)
    voided = fields.Boolean(readonly=True)

    _one_live_code_per_user = models.UniqueIndex(
        "(user_id) WHERE used_at IS NULL AND voided IS NOT TRUE",
        "A user can only have one live login code.",
    )
    _user_created_idx = models.Index("(user_id, created_at)")

    @staticmethod
    def _hash(code, salt):
        return hashlib.pbkdf2_hmac("sha256", code.encode(), bytes.fromhex(salt), HASH_ROUNDS).hex()

    @api.model
    def _find_portal_user(self, email):
        """The active portal (share) user whose login or e-mail is ``email``, if exactly one."""
        email = email_normalize(email)
        if not email:
            return self.env["res.users"]
        users = self.env["res.users"].sudo()
        user = users.search([("login", "=", email), ("share", "=", True)], limit=1)
        if not user:
            user = users.search([("email_normalized", "=", email), ("share", "=", True)], limit=2)
        return user if len(user) == 1 and user._is_portal() else users

    # ------------------------------------------------------------------
    # sending
    # ------------------------------------------------------------------
    @api.model
    def _request_code(self, email, ip):
        """E-mail a new code to the portal user of ``email`` unless a limit says no.

        The caller must answer the same way whatever happens here: nothing of the outcome
        is returned on purpose.
        """
        events = self.env["finnsys.login.event"]
        email = email_normalize(email)
        user = self._find_portal_user(email)
        reason = self._send_refusal(email, user, ip)
        if not reason:
            code = self._issue(user)
            if code:
                self._send_code_mail(user, code)
                events._log("sent", email, ip, user)
                return
            reason = "concurrent request"
        events._log("suppressed", email, ip, user, reason)

    def _send_refusal(self, email, user, ip):
        now = fields.Datetime.now()
        events = self.env["finnsys.login.event"]
        if events._count_since(now - SEND_WINDOW, ["sent", "suppressed"], ip=ip) >= IP_MAX_SENDS:
            return "IP address limit"
        if not user:
            return "no portal user"
        # Lock the live code first: a parallel request for the same user then fails to
        # serialise and is retried by Odoo with a fresh view of the rows counted below.
        self._lock_live_code(user)
        recent = self.sudo().search_count(
            Domain("user_id", "=", user.id) & Domain("created_at", ">=", now - SEND_WINDOW)
        )
        if recent >= EMAIL_MAX_CODES:
            return "e-mail limit"
        if self._account_cooling_down(user):
            return "account cool-down"
        return None

    def _issue(self, user):
        """Void the live code of ``user`` and store a new one; return its clear text.

        Two requests may race to store the first live code of a user. The unique index
        makes the second one fail to serialise (REPEATABLE READ), and Odoo replays it on
        fresh data, where it sees and voids the first code.
        """
        self._lock_live_code(user).write({"voided": True})
        self.env.flush_all()
        code = f"{secrets.randbelow(10**6):06d}"
        salt = secrets.token_hex(16)
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                """INSERT INTO finnsys_login_code (user_id, code_hash, code_salt, created_at,
                                                   expires_at, attempts, voided, create_uid,
                                                   create_date, write_uid, write_date)
                   VALUES (%(user)s, %(hash)s, %(salt)s, %(now)s, %(expires)s, 0, FALSE,
                           %(uid)s, %(now)s, %(uid)s, %(now)s)
                   ON CONFLICT (user_id) WHERE used_at IS NULL AND voided IS NOT TRUE
                   DO NOTHING
                   RETURNING id""",
                user=user.id,
                hash=self._hash(code, salt),
                salt=salt,
                now=now,
                expires=now + CODE_TTL,
                uid=self.env.uid,
            ),
            log_exceptions=False,
        )
        return code if self.env.cr.fetchone() else None

    def _send_code_mail(self, user, code):
        template = self.env.ref("finnsys_billing_portal.mail_template_login_code").sudo()
        template.with_context(login_code=code, login_code_minutes=CODE_TTL.seconds // 60).send_mail(
            user.id,
            email_values={"email_to": user.email, "recipient_ids": [], "auto_delete": True},
            email_layout_xmlid="mail.mail_notification_light",
        )
        # Queued rather than sent inline so the code row is committed first; wake the queue.
        self.env.ref("mail.ir_cron_mail_scheduler_action").sudo()._trigger()

    # ------------------------------------------------------------------
    # checking
    # ------------------------------------------------------------------
    def _lock_live_code(self, user):
        """Lock the live code row of ``user`` (if any) and return it.

        When a parallel request changed that row, PostgreSQL refuses the lock with a
        serialisation failure and Odoo replays the request on fresh data; that expected
        failure is not logged as a bad query.
        """
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """SELECT id FROM finnsys_login_code
                    WHERE user_id = %s AND used_at IS NULL AND voided IS NOT TRUE
                      FOR UPDATE""",
                user.id,
            ),
            log_exceptions=False,
        )
        return self.sudo().browse([row[0] for row in self.env.cr.fetchall()])

    def _account_cooling_down(self, user):
        since = fields.Datetime.now() - ACCOUNT_WINDOW
        failures = self.env["finnsys.login.event"]._count_since(since, ["failure"], user_id=user.id)
        return failures >= ACCOUNT_MAX_FAILURES

    @api.model
    def _check_code(self, user, code, ip):
        """Consume ``code`` for ``user`` or raise AccessDenied; every outcome is logged.

        Runs under a row lock on the live code, so the try counters cannot be overrun by
        parallel requests. Called from ``res.users._check_credentials``.
        """
        events = self.env["finnsys.login.event"]
        live = self._lock_live_code(user)
        refusal = self._check_refusal(user, live, ip)
        if refusal:
            kind, reason = refusal
            events._log(kind, user.login, ip, user, reason)
            raise AccessDenied()
        live.attempts += 1
        if not hmac.compare_digest(live.code_hash, self._hash(code, live.code_salt)):
            if live.attempts >= CODE_MAX_TRIES:
                live.voided = True
            events._log("failure", user.login, ip, user, "wrong code")
            raise AccessDenied()
        live.used_at = fields.Datetime.now()
        events._log("success", user.login, ip, user)

    @api.model
    def _check_unknown(self, email, code, ip):
        """Refuse a code for an address without a portal user, as slowly as a real check."""
        self._hash(code, UNKNOWN_SALT)
        self.env["finnsys.login.event"]._log("failure", email, ip, reason="no portal user")

    def _check_refusal(self, user, live, ip):
        """``(event kind, reason)`` when the code must not even be compared, else None.

        Refusals by a limit are logged as "blocked" and do not prolong the cool-down.
        """
        events = self.env["finnsys.login.event"]
        since = fields.Datetime.now() - ACCOUNT_WINDOW
        if events._count_since(since, ["failure"], ip=ip) >= IP_MAX_FAILURES:
            return "blocked", "IP address limit"
        if self._account_cooling_down(user):
            return "blocked", "account cool-down"
        if not live:
            return "failure", "no live code"
        if live.expires_at <= fields.Datetime.now():
            return "failure", "expired code"
        return None
