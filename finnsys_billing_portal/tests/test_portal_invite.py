import re

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged

from odoo.addons.finnsys_billing.tests.common import BillingCommon

SIGNUP_URL_RE = re.compile(r'href="[^"]*(/web/signup\?[^"]+)"')


class PortalInviteCommon(BillingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer(
            "Invited Customer Co", "postpaid", email="office@invited.example"
        )
        cls.billing_contact = cls.env["res.partner"].create(
            {
                "name": "Bea Billing",
                "parent_id": cls.customer.id,
                "type": "invoice",
                "email": "bea@invited.example",
            }
        )
        cls.sales_contact = cls.env["res.partner"].create(
            {"name": "Sam Sales", "parent_id": cls.customer.id, "email": "sam@invited.example"}
        )

    def _invitations_to(self, partner):
        return self.env["mail.mail"].search(
            [("recipient_ids", "in", partner.ids), ("body_html", "ilike", "/web/signup?")]
        )


@tagged("post_install", "-at_install")
class TestPortalInvite(PortalInviteCommon):
    def test_invite_button_grants_portal_access_and_sends_invitation(self):
        action = self.billing_contact.with_user(self.billing_user).action_billing_portal_invite()
        self.assertEqual(action["params"]["type"], "success")
        user = self.billing_contact.user_ids
        self.assertTrue(user._is_portal())
        self.assertEqual(user.login, "bea@invited.example")
        self.assertTrue(self.billing_contact.billing_portal_access)
        self.assertEqual(len(self._invitations_to(self.billing_contact)), 1)
        again = self.billing_contact.with_user(self.billing_user).action_billing_portal_invite()
        self.assertEqual(again["params"]["type"], "warning", "already invited")

    def test_invitation_is_resent_and_revoked(self):
        contact = self.billing_contact.with_user(self.billing_user)
        contact.action_billing_portal_invite()
        contact.action_billing_portal_resend()
        self.assertEqual(len(self._invitations_to(self.billing_contact)), 2)
        user = self.billing_contact.user_ids
        contact.action_billing_portal_revoke()
        self.assertFalse(user.active)
        self.assertFalse(user._is_portal())
        self.assertFalse(self.billing_contact.billing_portal_access)

    def test_only_billing_users_manage_portal_access(self):
        clerk = self.env["res.users"].create(
            {
                "name": "No Billing",
                "login": "nobilling",
                "group_ids": [(6, 0, self.env.ref("base.group_user").ids)],
            }
        )
        with self.assertRaises(AccessError):
            self.billing_contact.with_user(clerk).action_billing_portal_invite()
        self.assertFalse(self.billing_contact.user_ids)

    def test_bulk_action_from_billing_customers_invites_billing_contacts(self):
        other = self._customer("Second Customer Co", "prepaid", email="owner@second.example")
        self.env.flush_all()
        accounts = self.env["finnsys.billing.account"].search(
            [("partner_id", "in", (self.customer | other).ids)]
        )
        self.assertEqual(len(accounts), 2)
        server_action = self.env.ref("finnsys_billing_portal.action_billing_portal_invite_account")
        server_action.with_user(self.billing_user).with_context(
            active_model="finnsys.billing.account", active_ids=accounts.ids
        ).run()
        self.assertTrue(self.billing_contact.user_ids._is_portal())
        self.assertFalse(self.sales_contact.user_ids, "only the invoicing contacts")
        self.assertTrue(other.user_ids._is_portal(), "a customer without contacts itself")

    def test_first_posted_invoice_invites_when_enabled(self):
        self.env.company.billing_portal_auto_invite = True
        self._invoice(self.customer, 100.0)
        self.assertTrue(self.billing_contact.user_ids._is_portal())
        self.assertEqual(len(self._invitations_to(self.billing_contact)), 1)
        self.billing_contact.user_ids.action_archive()
        self._invoice(self.customer, 50.0)
        self.assertEqual(len(self._invitations_to(self.billing_contact)), 1, "first invoice only")

    def test_first_subscription_start_invites_when_enabled(self):
        self.env.company.billing_portal_auto_invite = True
        service = self.env["product.product"].create({"name": "Hosting", "type": "service"})
        plan = self.env["contract.template"].create(
            {
                "name": "Monthly",
                "recurring_rule_type": "monthly",
                "contract_line_ids": [
                    Command.create(
                        {"product_id": service.id, "name": "Hosting", "specific_price": 50}
                    )
                ],
            }
        )

        def subscribe():
            subscription = self.env["contract.contract"].create(
                {"partner_id": self.customer.id, "contract_template_id": plan.id}
            )
            subscription.action_subscription_activate()

        subscribe()
        self.assertTrue(self.billing_contact.user_ids._is_portal())
        self.assertEqual(len(self._invitations_to(self.billing_contact)), 1)
        self.billing_contact.user_ids.action_archive()
        subscribe()
        self.assertEqual(
            len(self._invitations_to(self.billing_contact)), 1, "first subscription only"
        )

    def test_no_automatic_invitation_when_disabled(self):
        self.assertFalse(self.env.company.billing_portal_auto_invite)
        self._invoice(self.customer, 100.0)
        self.assertFalse(self.billing_contact.user_ids)


@tagged("post_install", "-at_install")
class TestPortalInvitationTour(HttpCase):
    def test_invitation_accept_set_password_logs_in(self):
        contact = self.env["res.partner"].create(
            {"name": "Tina Tour", "email": "tina@invited.example"}
        )
        contact.action_billing_portal_invite()
        mail = self.env["mail.mail"].search([("recipient_ids", "in", contact.ids)])
        signup_path = SIGNUP_URL_RE.search(mail.body_html).group(1).replace("&amp;", "&")
        self.start_tour(signup_path, "finnsys_portal_invitation_signup", login=None)
        user = contact.user_ids
        self.assertTrue(user.login_date, "the invited customer is logged in")
        credential = {"type": "password", "login": user.login, "password": "Invited-Pass-2026"}
        auth = user.with_user(user)._check_credentials(credential, {"interactive": True})
        self.assertEqual(auth["uid"], user.id, "the password chosen in the browser was saved")
