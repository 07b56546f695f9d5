"""Login by e-mail and a 6-digit code: the flow, expiry, replay and the code's own limits."""

import threading
from datetime import timedelta

import requests
from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged

from .login_code_common import LoginCodeCase


@tagged("post_install", "-at_install")
class TestLoginCode(LoginCodeCase):
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
