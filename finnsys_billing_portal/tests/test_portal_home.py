from odoo.tests import HttpCase, tagged

from .portal_common import new_portal_customer


@tagged("post_install", "-at_install")
class TestPortalHome(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer, cls.portal_user = new_portal_customer(
            cls.env,
            "Portal Customer Co",
            "prepaid",
            "portal_customer",
            name="Pat Portal",
            email="pat@portal.example",
        )

    def test_portal_user_opens_my_home(self):
        self.authenticate("portal_customer", "portal_customer")
        response = self.url_open("/my")
        self.assertEqual(response.status_code, 200)
        self.assertIn("Pat Portal", response.text)

    def test_anonymous_visitor_is_sent_to_login(self):
        response = self.url_open("/my", allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])
