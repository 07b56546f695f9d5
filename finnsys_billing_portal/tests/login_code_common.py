"""The login-by-code fixture: a portal customer, an internal user, and what a browser posts."""

import re
from contextlib import contextmanager

from odoo.tests import HttpCase, new_test_user
from odoo.tests.common import Opener

from .portal_common import new_portal_customer

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
# The token is also in the page's session script, so strip every occurrence of it.
TOKEN_RE = re.compile(r"[0-9a-f]{40}o[0-9]*")
CODE_IN_MAIL_RE = re.compile(r">\s*([0-9]{6})\s*<")


class LoginCodeCase(HttpCase):
    """A portal customer and an internal user, and helpers that ask for, read and type codes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        _customer, cls.portal_user = new_portal_customer(
            cls.env,
            "Code Customer Co",
            "prepaid",
            "cora@code.example",
            email="cora@code.example",
            password="cora-password-1",
            name="Cora Code",
        )
        cls.other_portal_user = new_test_user(
            cls.env,
            login="otto@code.example",
            email="otto@code.example",
            groups="base.group_portal",
            name="Otto Other",
        )
        # Switch off Odoo's per-process login cool-down (res.users._assert_can_auth): the
        # limits under test are the ones kept in the database, and must hold on their own.
        cls.env["ir.config_parameter"].sudo().set_param("base.login_cooldown_after", 0)
        # Its failure counts stay in process memory though: do not leave them to later classes.
        cls.addClassCleanup(cls._forget_process_login_failures)
        cls.internal_user = new_test_user(
            cls.env,
            login="ivan@code.example",
            email="ivan@code.example",
            groups="base.group_user",
            name="Ivan Internal",
        )

    @classmethod
    def _forget_process_login_failures(cls):
        getattr(cls.registry, "_login_failures", {}).clear()

    # helpers ----------------------------------------------------------------
    def _csrf(self, url, session=None):
        response = (session or self.opener).get(self.base_url() + url, timeout=12)
        return CSRF_RE.search(response.text).group(1)

    def _post_code_request(self, email):
        token = self._csrf("/web/login/code")
        return self.opener.post(
            self.base_url() + "/web/login/code",
            data={"email": email, "csrf_token": token},
            allow_redirects=False,
            timeout=12,
        )

    def _ask_reset(self, login):
        token = self._csrf("/web/reset_password")
        return self.opener.post(
            self.base_url() + "/web/reset_password",
            data={"login": login, "csrf_token": token},
            timeout=12,
        )

    def _answer_requests(self):
        """Run the cron that answers code and password-reset requests, as its job does."""
        self.env.ref("finnsys_billing_portal.ir_cron_login_requests").method_direct_trigger()
        self.env.invalidate_all()

    def _ask_code(self, email):
        response = self._post_code_request(email)
        self._answer_requests()
        return response

    @contextmanager
    def _other_browser(self):
        """Requests made inside go from another browser session (same IP address)."""
        owner = self.opener
        self.opener = Opener(self)
        try:
            yield
        finally:
            self.opener = owner

    def _send_code(self, code, session=None):
        session = session or self.opener
        token = self._csrf("/web/login/code/verify", session)
        return session.post(
            self.base_url() + "/web/login/code/verify",
            data={"code": code, "csrf_token": token},
            allow_redirects=False,
            timeout=20,
        )

    def _mails_to(self, user):
        return self.env["mail.mail"].search([("email_to", "=", user.email)], order="id desc")

    def _last_code(self, user):
        mail = self._mails_to(user)[:1]
        self.assertTrue(mail, f"a login code e-mail is queued for {user.login}")
        return CODE_IN_MAIL_RE.search(mail.body_html).group(1)

    def _logged_in(self, session=None):
        response = (session or self.opener).get(
            self.base_url() + "/my", allow_redirects=False, timeout=12
        )
        return response.status_code == 200

    def _codes(self, user):
        return self.env["finnsys.login.code"].sudo().search([("user_id", "=", user.id)])

    def _events(self, user, kind):
        return self.env["finnsys.login.event"].search(
            [("user_id", "=", user.id), ("kind", "=", kind)]
        )
