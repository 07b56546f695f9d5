from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestPortalHome(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Portal Customer Co", "is_company": True, "billing_mode": "prepaid"}
        )
        cls.portal_user = new_test_user(
            cls.env,
            login="portal_customer",
            password="portal_customer",
            groups="base.group_portal",
            name="Pat Portal",
            email="pat@portal.example",
        )
        cls.portal_user.partner_id.parent_id = cls.customer

    def test_portal_user_opens_my_home(self):
        self.authenticate("portal_customer", "portal_customer")
        response = self.url_open("/my")
        self.assertEqual(response.status_code, 200)
        self.assertIn("Pat Portal", response.text)

    def test_anonymous_visitor_is_sent_to_login(self):
        response = self.url_open("/my", allow_redirects=False)
        self.assertIn(response.status_code, (302, 303))
        self.assertIn("/web/login", response.headers["Location"])
