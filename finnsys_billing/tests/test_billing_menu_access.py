from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


@tagged("post_install", "-at_install")
class TestBillingMenuAccess(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.billing_menu = cls.env.ref("finnsys_billing.menu_billing_root")
        cls.config_menu = cls.env.ref("finnsys_billing.menu_billing_configuration")
        cls.billing_user = new_test_user(
            cls.env, login="clerk", groups="base.group_user,finnsys_billing.group_billing_user"
        )
        cls.billing_admin = new_test_user(
            cls.env,
            login="boss",
            groups="base.group_system,finnsys_billing.group_billing_manager",
        )
        cls.employee = new_test_user(cls.env, login="employee", groups="base.group_user")
        cls.portal_user = new_test_user(cls.env, login="customer", groups="base.group_portal")

    def _visible_menus(self, user):
        # sudo: portal users may not read menus at all; visibility still follows user's groups
        return self.env["ir.ui.menu"].with_user(user).sudo()._visible_menu_ids()

    def test_billing_user_sees_billing_menu_but_not_configuration(self):
        visible = self._visible_menus(self.billing_user)
        self.assertIn(self.billing_menu.id, visible)
        self.assertIn(self.env.ref("finnsys_billing.menu_billing_customers").id, visible)
        self.assertIn(self.env.ref("finnsys_billing.menu_billing_payments").id, visible)
        self.assertNotIn(self.config_menu.id, visible)

    def test_billing_admin_sees_configuration(self):
        visible = self._visible_menus(self.billing_admin)
        self.assertIn(self.config_menu.id, visible)
        self.assertIn(self.env.ref("finnsys_billing.menu_billing_settings").id, visible)
        self.assertTrue(self.billing_admin.has_group("finnsys_billing.group_billing_user"))

    def test_portal_user_and_plain_employee_do_not_see_billing(self):
        self.assertNotIn(self.billing_menu.id, self._visible_menus(self.portal_user))
        self.assertNotIn(self.billing_menu.id, self._visible_menus(self.employee))

    def test_billing_groups_share_one_privilege(self):
        user_group = self.env.ref("finnsys_billing.group_billing_user")
        manager_group = self.env.ref("finnsys_billing.group_billing_manager")
        self.assertEqual(user_group.privilege_id, manager_group.privilege_id)
        self.assertIn(user_group, manager_group.implied_ids)
