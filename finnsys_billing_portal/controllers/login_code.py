import re

from odoo import http
from odoo.exceptions import AccessDenied
from odoo.http import request
from odoo.tools import email_normalize

from odoo.addons.web.controllers.home import Home

from ..models.res_users import LOGIN_CODE_CREDENTIAL

SESSION_EMAIL_KEY = "finnsys_login_code_email"
CODE_RE = re.compile(r"[0-9]{6}")


class LoginCodeHome(Home):
    """Passwordless portal login: e-mail address, then a 6-digit code sent to it.

    The answers never tell whether an address has an account or whether a code was
    actually sent: the e-mail is kept in the session, not echoed on the page.
    """

    def _login_code_page(self, template, error=None, status=200):
        response = request.render(template, {"error": error}, status=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

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
        request.env["finnsys.login.code"].sudo()._request_code(
            normalized, request.httprequest.remote_addr
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
                    "This code is not valid. Codes work once, for 10 minutes, and stop "
                    "working after too many wrong tries: ask for a new code if needed."
                ),
            )
        request.session.pop(SESSION_EMAIL_KEY, None)
        return request.redirect(self._login_redirect(uid, redirect="/my"))

    def _login_code_authenticate(self, email, code):
        """Log in the portal user of ``email`` with ``code``; return its id, or None."""
        codes = request.env["finnsys.login.code"].sudo()
        user = codes._find_portal_user(email)
        if not user:
            codes._check_unknown(email, code, request.httprequest.remote_addr)
            return None
        credential = {"type": LOGIN_CODE_CREDENTIAL, "login": user.login, "code": code}
        try:
            auth_info = request.session.authenticate(request.env, credential)
        except AccessDenied:
            return None
        return auth_info["uid"]
