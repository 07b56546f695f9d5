import hashlib
import hmac
import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessDenied
from odoo.tools import SQL, email_normalize

from odoo.addons.finnsys_billing.concurrency import insert_once, lock_rows

CODE_TTL = timedelta(minutes=10)
CODE_MAX_TRIES = 5
SEND_WINDOW = timedelta(minutes=15)
ADDRESS_IP_MAX_SENDS = 3  # e-mails per address and IP address per SEND_WINDOW
ADDRESS_WINDOW = timedelta(hours=1)
ADDRESS_MAX_SENDS = 10  # e-mails per address per ADDRESS_WINDOW, but from a trusted IP
TRUSTED_IP_WINDOW = timedelta(days=30)  # an IP the user logged in from is trusted this long
IP_MAX_SENDS = 20  # requests per SEND_WINDOW from one IP address
IP_MAX_FAILURES = 50  # failed checks per ADDRESS_WINDOW from one IP address
HASH_ROUNDS = 100_000
UNKNOWN_SALT = "00" * 16


class FinnsysLoginCode(models.Model):
    """A one-time 6-digit login code e-mailed to a portal user, for one browser session.

    Only a salted PBKDF2 hash is kept, with a hash of the key that the requesting browser
    session holds: a code can only be entered in the session that asked for it, so wrong
    tries and new requests from another session never touch it. At most one code per user
    and session is live (not used, not voided): a partial unique index guarantees it. Every
    check locks the live code row and writes to it, so parallel checks are serialised by
    PostgreSQL and the try counter holds across workers.
    """

    _name = "finnsys.login.code"
    _description = "Portal login code"
    _order = "id desc"

    user_id = fields.Many2one(
        "res.users", required=True, readonly=True, index=True, ondelete="cascade"
    )
    session_key = fields.Char(readonly=True)
    code_hash = fields.Char(required=True, readonly=True)
    code_salt = fields.Char(required=True, readonly=True)
    created_at = fields.Datetime(
        required=True, readonly=True, default=lambda self: fields.Datetime.now()
    )
    expires_at = fields.Datetime(required=True, readonly=True)
    used_at = fields.Datetime(readonly=True)
    attempts = fields.Integer(readonly=True)
    voided = fields.Boolean(readonly=True)

    # Same name as the former one-per-user index, so that an upgrade replaces it.
    _one_live_code_per_user = models.UniqueIndex(
        "(user_id, session_key) WHERE used_at IS NULL AND voided IS NOT TRUE",
        "A user can only have one live login code per browser session.",
    )
    _user_created_idx = models.Index("(user_id, created_at)")

    @staticmethod
    def _hash(code, salt):
        return hashlib.pbkdf2_hmac("sha256", code.encode(), bytes.fromhex(salt), HASH_ROUNDS).hex()

    @staticmethod
    def _session_key(nonce):
        """What is stored of the secret that a browser session keeps for its codes."""
        return hashlib.sha256(nonce.encode()).hexdigest()

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
    # sending (from the cron of finnsys.login.request, never in a request)
    # ------------------------------------------------------------------
    @api.model
    def _request_code(self, email, ip, session_key):
        """E-mail a new code for ``session_key`` to the portal user of ``email``, within limits."""
        events = self.env["finnsys.login.event"]
        email = email_normalize(email)
        user = self._find_portal_user(email)
        reason = self._send_refusal(user, ip, "code")
        if not reason:
            code = self._issue(user, session_key)
            if code:
                self._send_code_mail(user, code)
                events._log("sent", email, ip, user)
                return
            reason = "concurrent request"
        events._log("suppressed", email, ip, user, reason)

    @api.model
    def _send_refusal(self, user, ip, channel):
        """Why no e-mail of ``channel`` (code or reset) may go to ``user`` now, or None.

        The limits are per address *and* IP address, plus an hourly cap per address that
        does not apply to an IP the user logged in from: someone who knows the address can
        neither flood its mailbox nor use up the sends its owner needs.
        """
        events = self.env["finnsys.login.event"]
        now = fields.Datetime.now()
        if events._count_since(now - SEND_WINDOW, ["sent", "suppressed"], ip=ip) >= IP_MAX_SENDS:
            return "IP address limit"
        if not user:
            return "no account"
        self._lock_user(user)
        sent = {"kinds": ["sent"], "user_id": user.id, "channel": channel}
        if events._count_since(now - SEND_WINDOW, ip=ip, **sent) >= ADDRESS_IP_MAX_SENDS:
            return "e-mail limit for this IP address"
        hourly = events._count_since(now - ADDRESS_WINDOW, **sent)
        if hourly >= ADDRESS_MAX_SENDS and not self._trusted_ip(user, ip):
            return "e-mail limit"
        return None

    def _lock_user(self, user):
        """Make the limit checks of one user wait for each other.

        E-mails are only sent by the request cron, which Odoo never runs twice at once (it
        holds the job's row); this lock covers a manual run at the same moment, which then
        waits. Its snapshot may still miss the rows just committed by the other run, so the
        limits could be passed by one e-mail then, never by a second live code per session
        (the unique index).
        """
        lock_rows(self.env, "res_users", user.ids)

    def _trusted_ip(self, user, ip):
        since = fields.Datetime.now() - TRUSTED_IP_WINDOW
        return bool(
            self.env["finnsys.login.event"]._count_since(since, ["success"], user_id=user.id, ip=ip)
        )

    def _issue(self, user, session_key):
        """Void the live code of ``user`` for ``session_key``, store a new one; return it.

        Two runs may race to store the first live code of a session. The unique index
        makes the second one insert nothing, and no e-mail goes out for it.
        """
        self._lock_live_code(user, session_key).write({"voided": True})
        self.env.flush_all()
        code = f"{secrets.randbelow(10**6):06d}"
        salt = secrets.token_hex(16)
        now = fields.Datetime.now()
        row = {
            "user_id": user.id,
            "session_key": session_key,
            "code_hash": self._hash(code, salt),
            "code_salt": salt,
            "created_at": now,
            "expires_at": now + CODE_TTL,
            "attempts": 0,
            "voided": False,
        }
        live = SQL("(user_id, session_key) WHERE used_at IS NULL AND voided IS NOT TRUE")
        # A live code committed by a parallel run after this snapshot: Odoo replays.
        inserted = insert_once(self.env, self._table, [row], live, now=now, raise_unseen=True)
        return code if inserted else None

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
    def _lock_live_code(self, user, session_key):
        """Lock the live code row of ``user`` for ``session_key`` (if any) and return it.

        When a parallel request changed that row, PostgreSQL refuses the lock with a
        serialisation failure and Odoo replays the request on fresh data; that expected
        failure is not logged as a bad query.
        """
        self.env.flush_all()
        live = SQL(
            "user_id = %s AND session_key = %s AND used_at IS NULL AND voided IS NOT TRUE",
            user.id,
            session_key,
        )
        return self.sudo().browse(lock_rows(self.env, self._table, condition=live))

    @api.model
    def _check_code(self, user, code, ip, session_key):
        """Consume ``code`` of ``user`` for ``session_key`` or raise AccessDenied; log it.

        Runs under a row lock on the live code, so the try counter cannot be overrun by
        parallel requests. Failures count against that code (voided after CODE_MAX_TRIES)
        and the IP address, never against the account. Called from
        ``res.users._check_credentials``.
        """
        events = self.env["finnsys.login.event"]
        live = self._lock_live_code(user, session_key)
        refusal = self._check_refusal(live, ip)
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

    def _check_refusal(self, live, ip):
        """``(event kind, reason)`` when the code must not even be compared, else None."""
        since = fields.Datetime.now() - ADDRESS_WINDOW
        failures = self.env["finnsys.login.event"]._count_since(since, ["failure"], ip=ip)
        if failures >= IP_MAX_FAILURES:
            return "blocked", "IP address limit"
        if not live:
            return "failure", "no live code"
        if live.expires_at <= fields.Datetime.now():
            return "failure", "expired code"
        return None
