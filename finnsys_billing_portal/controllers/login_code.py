import re
import secrets

from odoo import http
from odoo.exceptions import AccessDenied
from odoo.http import request
from odoo.tools import email_normalize

from odoo.addons.auth_signup.controllers.main import AuthSignupHome

from ..models.res_users import LOGIN_CODE_CREDENTIAL

SESSION_EMAIL_KEY = "finnsys_login_code_email"
SESSION_NONCE_KEY = "finnsys_login_code_nonce"
CODE_RE = re.compile(r"[0-9]{6}")


class LoginCodeHome(AuthSignupHome):
    """Passwordless portal login (e-mail address, then a 6-digit code) and password reset.

    Neither tells whether an address has an account: the routes store the request and
    answer at once, the same for everybody; a cron looks the address up and sends the
    e-mail. A code works only in the browser session that asked for it.
    """

    def _login_code_page(self, template, error=None, status=200):
        response = request.render(template, {"error": error}, status=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    def _login_code_session_key(self):
        """The key binding codes to this browser session (made on its first request)."""
        nonce = request.session.get(SESSION_NONCE_KEY)
        if not nonce:
            nonce = request.session[SESSION_NONCE_KEY] = secrets.token_urlsafe(32)
        return request.env["finnsys.login.code"]._session_key(nonce)

    @http.route(
        "/web/login/code",
        type="http",
        auth="public",
        website=True,
        methods=["GET", "POST"],
        sitemap=False,
    )
    def web_login_code_request(self, email=None, **kwargs):
        if request.session.uid:
            return request.redirect(self._login_redirect(request.session.uid))
        if request.httprequest.method == "GET":
            return self._login_code_page("finnsys_billing_portal.login_code_request")
        normalized = email_normalize(email or "", strict=True)
        if not normalized or len(email) > 254:
            return self._login_code_page(
                "finnsys_billing_portal.login_code_request",
                error=request.env._("Enter a valid e-mail address, like name@example.com."),
                status=400,
            )
        request.env["finnsys.login.request"]._enqueue(
            "code", normalized, request.httprequest.remote_addr, self._login_code_session_key()
        )
        request.session[SESSION_EMAIL_KEY] = normalized
        return self._login_code_page("finnsys_billing_portal.login_code_verify")

    @http.route(
        "/web/login/code/verify",
        type="http",
        auth="public",
        website=True,
        methods=["GET", "POST"],
        sitemap=False,
    )
    def web_login_code_verify(self, code=None, redirect=None, **kwargs):
        if request.session.uid:
            return request.redirect(self._login_redirect(request.session.uid))
        email = request.session.get(SESSION_EMAIL_KEY)
        if not email:
            return self._login_code_page(
                "finnsys_billing_portal.login_code_request",
                error=request.env._("Ask for a login code first."),
                status=400,
            )
        if request.httprequest.method == "GET":
            return self._login_code_page("finnsys_billing_portal.login_code_verify")
        code = (code or "").strip()
        if not CODE_RE.fullmatch(code):
            return self._login_code_page(
                "finnsys_billing_portal.login_code_verify",
                error=request.env._("The code is the 6 digits from the e-mail we sent you."),
                status=400,
            )
        uid = self._login_code_authenticate(email, code)
        if not uid:
            return self._login_code_page(
                "finnsys_billing_portal.login_code_verify",
                error=request.env._(
                    "This code is not valid. Codes work once, for 10 minutes, in the browser "
                    "that asked for them, and stop working after too many wrong tries: ask "
                    "for a new code if needed."
                ),
            )
        request.session.pop(SESSION_EMAIL_KEY, None)
        request.session.pop(SESSION_NONCE_KEY, None)
        return request.redirect(self._login_redirect(uid, redirect="/my"))

    def _login_code_authenticate(self, email, code):
        """Log in the portal user of ``email`` with ``code``; return its id, or None."""
        codes = request.env["finnsys.login.code"].sudo()
        user = codes._find_portal_user(email)
        if not user:
            codes._check_unknown(email, code, request.httprequest.remote_addr)
            return None
        credential = {
            "type": LOGIN_CODE_CREDENTIAL,
            "login": user.login,
            "code": code,
            "session_key": self._login_code_session_key(),
        }
        try:
            auth_info = request.session.authenticate(request.env, credential)
        except AccessDenied:
            return None
        return auth_info["uid"]

    @http.route()
    def web_auth_reset_password(self, *args, **kw):
        """Queue the reset e-mail and say the same thing whether the login exists or not.

        Odoo's answer tells an unknown login apart ("No account found for this login") and
        sends the e-mail inside the request, which makes a known login slower. Setting the
        new password (a request with a token) stays Odoo's.
        """
        qcontext = self.get_auth_signup_qcontext()
        asking = request.httprequest.method == "POST" and not qcontext.get("token")
        if not asking or "error" in qcontext or not qcontext.get("reset_password_enabled"):
            return super().web_auth_reset_password(*args, **kw)
        login = (qcontext.get("login") or "").strip()
        if login:
            request.env["finnsys.login.request"]._enqueue(
                "reset", login, request.httprequest.remote_addr
            )
            qcontext["message"] = request.env._(
                "If an account uses this login, we have e-mailed it the instructions to reset "
                "its password."
            )
        else:
            qcontext["error"] = request.env._("Enter your login or e-mail address.")
        response = request.render("auth_signup.reset_password", qcontext)
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        return response
