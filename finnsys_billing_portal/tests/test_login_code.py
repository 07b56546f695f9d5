import re
import threading
from contextlib import contextmanager
from datetime import timedelta

import requests
from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import Opener

from ..models.finnsys_login_code import ADDRESS_MAX_SENDS

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')
# The token is also in the page's session script, so strip every occurrence of it.
TOKEN_RE = re.compile(r"[0-9a-f]{40}o[0-9]*")
CODE_IN_MAIL_RE = re.compile(r">\s*([0-9]{6})\s*<")


@tagged("post_install", "-at_install")
class TestLoginCode(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        customer = cls.env["res.partner"].create(
            {"name": "Code Customer Co", "is_company": True, "billing_mode": "prepaid"}
        )
        cls.portal_user = new_test_user(
            cls.env,
            login="cora@code.example",
            email="cora@code.example",
            password="cora-password-1",
            groups="base.group_portal",
            name="Cora Code",
        )
        cls.portal_user.partner_id.parent_id = customer
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

    # tests ------------------------------------------------------------------
    def test_login_page_offers_code_and_flow_ends_on_my(self):
        self.assertIn('href="/web/login/code"', self.url_open("/web/login").text)
        self.assertEqual(self._ask_code("Cora@Code.example").status_code, 200)
        mail = self._mails_to(self.portal_user)
        self.assertEqual(len(mail), 1)
        code = self._last_code(self.portal_user)
        stored = self._codes(self.portal_user)
        self.assertNotIn(code, stored.code_hash + stored.code_salt, "only a salted hash is kept")

        response = self._send_code(code)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.headers["Location"].endswith("/my"))
        page = self.url_open("/my")
        self.assertEqual(page.status_code, 200)
        self.assertTrue(page.url.endswith("/my"))
        self.assertIn("Cora Code", page.text)
        self.assertTrue(stored.used_at)
        self.assertEqual(len(self._events(self.portal_user, "sent")), 1)
        self.assertEqual(len(self._events(self.portal_user, "success")), 1)

    def test_used_code_and_replayed_form_are_refused(self):
        self._ask_code(self.portal_user.email)
        code = self._last_code(self.portal_user)
        token = self._csrf("/web/login/code/verify")
        form = {"code": code, "csrf_token": token}
        url = self.base_url() + "/web/login/code/verify"
        self.assertEqual(self.opener.post(url, data=form, allow_redirects=False).status_code, 303)
        self.url_open("/web/session/logout")
        # The same form again, then the same code through the whole flow.
        self._ask_code(self.portal_user.email)
        with self.assertLogs("odoo.http", "WARNING"):  # the old form's token died at logout
            replay = self.opener.post(url, data=form, allow_redirects=False)
        self.assertEqual(replay.status_code, 400)
        self.assertFalse(self._logged_in())
        self.assertIn("not valid", self._send_code(code).text)
        self.assertFalse(self._logged_in())

    def test_expired_code_is_refused(self):
        self._ask_code(self.portal_user.email)
        code = self._last_code(self.portal_user)
        with freeze_time(fields.Datetime.now() + timedelta(minutes=11)):
            response = self._send_code(code)
            self.assertEqual(response.status_code, 200)
            self.assertIn("not valid", response.text)
            self.assertFalse(self._logged_in())
        self.assertEqual(self._events(self.portal_user, "failure").reason, "expired code")

    def test_wrong_code_is_refused_and_counted(self):
        self._ask_code(self.portal_user.email)
        code = self._last_code(self.portal_user)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        response = self._send_code(wrong)
        self.assertIn("not valid", response.text)
        self.assertFalse(self._logged_in())
        self.assertEqual(self._codes(self.portal_user).attempts, 1)
        self.assertEqual(self._send_code(code).status_code, 303, "the right code still works")

    def test_new_code_voids_the_previous_one(self):
        self._ask_code(self.portal_user.email)
        first = self._last_code(self.portal_user)
        self._ask_code(self.portal_user.email)
        second = self._last_code(self.portal_user)
        codes = self._codes(self.portal_user)
        self.assertEqual(len(codes), 2)
        self.assertEqual(codes.mapped("voided"), [False, True])
        if first != second:
            self.assertIn("not valid", self._send_code(first).text)
        self.assertEqual(self._send_code(second).status_code, 303)

    def test_at_most_three_codes_per_email_per_quarter_hour(self):
        for _attempt in range(5):
            self.assertEqual(self._ask_code(self.portal_user.email).status_code, 200)
        self.assertEqual(len(self._mails_to(self.portal_user)), 3)
        self.assertEqual(len(self._events(self.portal_user, "suppressed")), 2)
        with freeze_time(fields.Datetime.now() + timedelta(minutes=16)):
            self._ask_code(self.portal_user.email)
        self.assertEqual(len(self._mails_to(self.portal_user)), 4)

    def test_parallel_wrong_codes_check_at_most_five(self):
        self._ask_code(self.portal_user.email)
        code = self._last_code(self.portal_user)
        wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 21)]
        statuses = []

        def attack(guess, cookies):
            session = requests.Session()
            session.cookies.update(cookies)
            statuses.append(self._send_code(guess, session).status_code)

        self.env.flush_all()
        with self.allow_requests():
            # Same browser session (and test-server cookie) as the form, one connection each.
            cookies = self.opener.cookies.get_dict()
            threads = [threading.Thread(target=attack, args=(g, cookies)) for g in wrong]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self.env.invalidate_all()

        self.assertEqual(sorted(set(statuses)), [200])
        live = self._codes(self.portal_user)
        self.assertEqual(live.attempts, 5)
        self.assertTrue(live.voided)
        wrong_checks = self._events(self.portal_user, "failure").filtered(
            lambda e: e.reason == "wrong code"
        )
        self.assertEqual(len(wrong_checks), 5)
        failures = self._events(self.portal_user, "failure")
        self.assertEqual(len(failures), 20, "5 wrong codes, then 15 tries on the voided code")
        self.assertFalse(self._events(self.portal_user, "blocked"), "no account lock")
        self.assertFalse(self._logged_in())
        self.assertIn("not valid", self._send_code(code).text)

        # Failures count against the code, not the account: a new code works at once.
        self._ask_code(self.portal_user.email)
        self.assertEqual(self._send_code(self._last_code(self.portal_user)).status_code, 303)
        self.assertTrue(self._logged_in())

    def test_known_and_unknown_addresses_get_the_same_answer(self):
        def strip(response):
            return response.status_code, TOKEN_RE.sub("", response.text)

        known = self._ask_code(self.portal_user.email)
        unknown = self._ask_code("nobody@code.example")
        self.assertEqual(strip(known), strip(unknown))
        self.assertEqual(len(self._mails_to(self.portal_user)), 1)
        for _attempt in range(4):  # the limit now suppresses the send: same answer again
            suppressed = self._ask_code(self.portal_user.email)
        self.assertEqual(len(self._mails_to(self.portal_user)), 3)
        self.assertEqual(strip(suppressed), strip(unknown))

        wrong_known = self._send_code("000000")
        self._ask_code("nobody@code.example")
        wrong_unknown = self._send_code("000000")
        self.assertEqual(strip(wrong_known), strip(wrong_unknown))
        self.assertTrue(
            self.env["finnsys.login.event"].search(
                [("login", "=", "nobody@code.example"), ("kind", "=", "suppressed")]
            )
        )

    def test_internal_user_gets_no_code_and_must_use_password(self):
        unknown = self._ask_code("nobody@code.example")
        internal = self._ask_code(self.internal_user.email)
        self.assertEqual(internal.status_code, unknown.status_code)
        self.assertEqual(TOKEN_RE.sub("", internal.text), TOKEN_RE.sub("", unknown.text))
        self.assertFalse(self._mails_to(self.internal_user))
        self.assertFalse(self._codes(self.internal_user))
        self.assertIn("not valid", self._send_code("123456").text)
        self.assertFalse(self._logged_in())

    def test_code_of_another_account_is_refused(self):
        self._ask_code(self.other_portal_user.email)
        others_code = self._last_code(self.other_portal_user)
        self._ask_code(self.portal_user.email)
        own_code = self._last_code(self.portal_user)
        if others_code != own_code:
            self.assertIn("not valid", self._send_code(others_code).text)
            self.assertFalse(self._logged_in())
        self.assertFalse(self._codes(self.other_portal_user).used_at)

    def test_malformed_input_is_rejected_without_session(self):
        response = self._ask_code("not-an-email")
        self.assertEqual(response.status_code, 400)
        self.assertIn("valid e-mail address", response.text)
        self.assertEqual(self._send_code("123456").status_code, 400, "no code asked yet")
        self._ask_code(self.portal_user.email)
        code = self._last_code(self.portal_user)
        for bad in ("12a456", code[:5], code + "1", "", "１２３４５６"):
            response = self._send_code(bad)
            self.assertEqual(response.status_code, 400, bad)
            self.assertIn("6 digits", response.text)
        with self.assertLogs("odoo.http", "WARNING"):
            no_csrf = self.opener.post(
                self.base_url() + "/web/login/code/verify",
                data={"code": code},
                allow_redirects=False,
            )
        self.assertEqual(no_csrf.status_code, 400)
        self.assertFalse(self._logged_in())
        self.assertEqual(self._codes(self.portal_user).attempts, 0, "bad input is not a try")
        self.assertEqual(self._send_code(code).status_code, 303)

    def test_password_login_and_reset_keep_working(self):
        token = self._csrf("/web/login")
        response = self.url_open(
            "/web/login",
            data={
                "login": self.portal_user.login,
                "password": "cora-password-1",
                "csrf_token": token,
            },
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 303)
        self.assertTrue(self._logged_in())
        self.url_open("/web/session/logout")
        response = self._ask_reset(self.portal_user.login)
        self.assertEqual(response.status_code, 200)
        self.assertIn("instructions to reset its password", response.text)
        self._answer_requests()
        self.assertEqual(self.portal_user.partner_id.signup_type, "reset")
        token = self.portal_user.partner_id._generate_signup_token()
        response = self.url_open(
            "/web/reset_password",
            data={
                "token": token,
                "login": self.portal_user.login,
                "password": "cora-password-2",
                "confirm_password": "cora-password-2",
                "csrf_token": self._csrf(f"/web/reset_password?token={token}"),
            },
        )
        self.assertIn("Your password has been reset successfully", response.text)

    def test_ip_address_cap_suppresses_sends(self):
        for n in range(20):
            self._ask_code(f"stranger{n}@code.example")
        self.assertEqual(self._ask_code(self.portal_user.email).status_code, 200)
        self.assertFalse(self._mails_to(self.portal_user))
        self.assertEqual(self._events(self.portal_user, "suppressed").reason, "IP address limit")

    def test_login_log_is_for_billing_managers(self):
        self._ask_code(self.portal_user.email)
        manager = new_test_user(
            self.env,
            login="log_boss",
            groups="base.group_user,finnsys_billing.group_billing_manager",
        )
        clerk = new_test_user(
            self.env, login="log_clerk", groups="base.group_user,finnsys_billing.group_billing_user"
        )
        events = self.env["finnsys.login.event"]
        self.assertEqual(
            events.with_user(manager).search_count([("user_id", "=", self.portal_user.id)]), 1
        )
        with self.assertRaises(AccessError):
            events.with_user(clerk).search([])
        with self.assertRaises(AccessError):
            self.env["finnsys.login.code"].with_user(manager).search([])

    # issue #14, item 7: no leak through the answer or the work done -------------
    def _work_done(self):
        self.env.invalidate_all()
        return {
            "queued mails": self.env["mail.mail"].search_count([]),
            "login codes": self.env["finnsys.login.code"].sudo().search_count([]),
            "reset tokens": self.env["res.partner"].search_count([("signup_type", "=", "reset")]),
            "login events": self.env["finnsys.login.event"].search_count([]),
            "waiting requests": self.env["finnsys.login.request"].sudo().search_count([]),
        }

    def _assert_same_answer_and_work(self, ask, logins):
        """``ask(login)`` answers alike, runs as many queries and stores nothing but the
        request, for every login."""
        ask("warm-up@code.example")  # fill the server's caches first
        answers, queries = {}, {}
        for login in logins:
            before = self._work_done()
            count = self.cr.sql_log_count
            response = ask(login)
            queries[login] = self.cr.sql_log_count - count
            after = self._work_done()
            # The reset form shows the login typed in again: that is not a leak.
            text = TOKEN_RE.sub("", response.text).replace(login, "")
            answers[login] = (response.status_code, text)
            before["waiting requests"] += 1
            self.assertEqual(after, before, f"only the request is stored for {login}")
        self.assertEqual(len(set(answers.values())), 1, "the same answer for every login")
        self.assertEqual(len(set(queries.values())), 1, f"the same queries: {queries}")
        self.assertGreater(min(queries.values()), 0, "the server's queries are counted")

    def test_code_request_does_the_same_work_for_every_address(self):
        logins = [self.portal_user.email, "nobody@code.example", self.internal_user.email]
        self._assert_same_answer_and_work(self._post_code_request, logins)
        self._answer_requests()
        self.assertEqual(len(self._mails_to(self.portal_user)), 1, "the cron sends the code")
        self.assertFalse(self._mails_to(self.internal_user))

    def test_password_reset_answers_alike_and_sends_from_the_cron(self):
        unknown = "nobody@code.example"
        logins = [self.portal_user.login, unknown, self.internal_user.login]
        self._assert_same_answer_and_work(self._ask_reset, logins)
        self.assertNotIn("No account found", self._ask_reset(unknown).text)
        self._answer_requests()
        self.assertEqual(self.portal_user.partner_id.signup_type, "reset")
        self.assertEqual(self.internal_user.partner_id.signup_type, "reset")
        sent = self.env["finnsys.login.event"].search(
            [("channel", "=", "reset"), ("kind", "=", "sent")]
        )
        self.assertEqual(sent.user_id, self.portal_user | self.internal_user)
        refused = self.env["finnsys.login.event"].search([("login", "=", unknown)])
        self.assertEqual(set(refused.mapped("reason")), {"no account"})

    # issue #14, item 8: nobody but the owner's browser can spoil its code ----------
    def test_other_session_cannot_lock_the_owner_out(self):
        self._ask_code(self.portal_user.email)
        owners_code = self._last_code(self.portal_user)
        with self._other_browser():
            for _request in range(3):
                self._ask_code(self.portal_user.email)
            for guess in range(10):
                self.assertIn("not valid", self._send_code(f"{guess:06d}").text)
            self.assertFalse(self._logged_in())
        self.assertEqual(self._send_code(owners_code).status_code, 303)
        self.assertTrue(self._logged_in())
        self.assertFalse(self._events(self.portal_user, "blocked"))

    def test_code_from_another_session_is_refused(self):
        self._ask_code(self.portal_user.email)
        code = self._last_code(self.portal_user)
        with self._other_browser():
            self._post_code_request(self.portal_user.email)  # not answered: no code of its own
            self.assertIn("not valid", self._send_code(code).text)
            self.assertFalse(self._logged_in())
        self.assertEqual(self._codes(self.portal_user).attempts, 0)
        self.assertEqual(self._send_code(code).status_code, 303)

    def test_requests_from_elsewhere_do_not_use_up_the_owners_sends(self):
        codes = self.env["finnsys.login.code"].sudo()
        email = self.portal_user.email
        self.env["finnsys.login.event"]._log("success", email, "198.51.100.7", self.portal_user)
        for n in range(ADDRESS_MAX_SENDS + 2):  # three per IP address, from several
            codes._request_code(email, f"203.0.113.{n // 3}", codes._session_key(f"attacker{n}"))
        self.assertEqual(len(self._codes(self.portal_user)), ADDRESS_MAX_SENDS)
        codes._request_code(email, "192.0.2.1", codes._session_key("newcomer"))
        self.assertEqual(len(self._codes(self.portal_user)), ADDRESS_MAX_SENDS, "hourly cap")
        codes._request_code(email, "198.51.100.7", codes._session_key("owner"))
        self.assertEqual(
            len(self._codes(self.portal_user)), ADDRESS_MAX_SENDS + 1, "trusted IP address"
        )
