import re

from odoo import models
from odoo.exceptions import AccessDenied
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
        ip = (env or {}).get("REMOTE_ADDR") or (request and request.httprequest.remote_addr)
        self.env["finnsys.login.code"].sudo()._check_code(user, code, ip)
        return {"uid": user.id, "auth_method": LOGIN_CODE_CREDENTIAL, "mfa": "default"}
