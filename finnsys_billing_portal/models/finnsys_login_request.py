import logging

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.finnsys_billing.concurrency import claim_rows

_logger = logging.getLogger(__name__)

LOGIN_REQUEST_PURPOSES = [("code", "Login code"), ("reset", "Password reset")]
BATCH_SIZE = 100


class FinnsysLoginRequest(models.Model):
    """A login-code or password-reset request, waiting for the cron that answers it.

    The public routes only store the request and wake the cron: they do the same work
    for a customer, an unknown address and an internal user, so neither their answer nor
    their duration tells whether an address has an account. The cron looks the address
    up, applies the limits and queues the e-mail.
    """

    _name = "finnsys.login.request"
    _description = "Portal login request"
    _order = "id"

    purpose = fields.Selection(LOGIN_REQUEST_PURPOSES, required=True, readonly=True)
    email = fields.Char(required=True, readonly=True)
    ip = fields.Char(string="IP Address", readonly=True)
    session_key = fields.Char(readonly=True)

    @api.model
    def _enqueue(self, purpose, email, ip, session_key=None):
        """Store a request and wake the cron; the caller answers the same whatever follows."""
        self.sudo().create(
            {"purpose": purpose, "email": email, "ip": ip, "session_key": session_key}
        )
        self.env.ref("finnsys_billing_portal.ir_cron_login_requests").sudo()._trigger()

    @api.model
    def _cron_process(self, batch_size=BATCH_SIZE):
        """Answer the waiting requests, oldest first, in committed batches.

        Rows are claimed with ``SKIP LOCKED`` and deleted in the batch that answers them,
        so two runs at once answer each request once.
        """
        cron = self.env["ir.cron"]
        while True:
            rows = []
            if ids := claim_rows(self.env, self._table, limit=batch_size):
                self.env.cr.execute(
                    SQL(
                        "DELETE FROM finnsys_login_request WHERE id IN %s "
                        "RETURNING purpose, email, ip, session_key",
                        tuple(ids),
                    )
                )
                rows = self.env.cr.fetchall()
            for purpose, email, ip, session_key in rows:
                self._answer(purpose, email, ip, session_key)
            remaining = self.sudo().search_count([])
            if not cron._finnsys_commit_batch(len(rows), remaining=remaining) or not remaining:
                return

    def _answer(self, purpose, email, ip, session_key):
        # One request that fails (a broken template, an address the mail server refuses)
        # must not hold up the others: it is logged and dropped.
        try:
            with self.env.cr.savepoint():
                if purpose == "code":
                    self.env["finnsys.login.code"]._request_code(email, ip, session_key)
                else:
                    self.env["res.users"].sudo()._finnsys_reset_password(email, ip)
        except Exception:
            _logger.exception("Could not answer the %s request for %s", purpose, email)
