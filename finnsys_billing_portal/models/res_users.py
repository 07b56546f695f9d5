import re

from odoo import api, models
from odoo.exceptions import AccessDenied, UserError
from odoo.http import request

LOGIN_CODE_CREDENTIAL = "finnsys_login_code"


class ResUsers(models.Model):
    _inherit = "res.users"

    def _check_credentials(self, credential, env):
        """Accept a 6-digit e-mailed code, for portal users only.

        The code is checked and consumed under a row lock by ``finnsys.login.code``; a
        user with two-factor authentication still gets the second step (``mfa`` default).
        """
        if credential.get("type") != LOGIN_CODE_CREDENTIAL:
            return super()._check_credentials(credential, env)
        user = self.env.user
        code = credential.get("code")
        if not (isinstance(code, str) and re.fullmatch(r"[0-9]{6}", code)):
            raise AccessDenied()
        if not user._is_portal():
            raise AccessDenied()
        session_key = credential.get("session_key")
        if not (isinstance(session_key, str) and session_key):
            raise AccessDenied()
        ip = (env or {}).get("REMOTE_ADDR") or (request and request.httprequest.remote_addr)
        self.env["finnsys.login.code"].sudo()._check_code(user, code, ip, session_key)
        return {"uid": user.id, "auth_method": LOGIN_CODE_CREDENTIAL, "mfa": "default"}

    @api.model
    def _finnsys_reset_password(self, login, ip):
        """E-mail a reset link to the one active user of ``login``, within the send limits.

        Run by the cron of ``finnsys.login.request``, never in the request that asked, so the
        reset page answers alike and as fast whether ``login`` has an account or not. The
        user is looked up as Odoo's ``reset_password`` does; Odoo's own method sends the link.
        """
        users = self.sudo().search(self._get_login_domain(login))
        if not users:
            users = self.sudo().search(self._get_email_domain(login))
        user = users if len(users) == 1 else self.browse()
        reason = self.env["finnsys.login.code"]._send_refusal(user, ip, "reset")
        if not reason:
            try:
                with self.env.cr.savepoint():
                    user.action_reset_password()
            except UserError as error:  # no e-mail address, archived user
                reason = error.args[0]
        kind = "suppressed" if reason else "sent"
        self.env["finnsys.login.event"]._log(kind, login, ip, user, reason, channel="reset")
