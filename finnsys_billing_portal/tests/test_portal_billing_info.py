import re

from odoo.tests import new_test_user, tagged

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalBillingInfo(BillingPortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.belgium = cls.env.ref("base.be")
        cls.france = cls.env.ref("base.fr")
        cls.customer.write(
            {
                "street": "Rue de Rivoli 1",
                "city": "Paris",
                "zip": "75001",
                "country_id": cls.france.id,
                "email": "accounts@postpaid.example",
            }
        )

    def _form(self, **changes):
        values = {
            "name": "Portal Postpaid SA",
            "vat": "FR 123 456 789 01",
            "email": "invoices@postpaid.example",
            "street": "Rue Haute 1",
            "street2": "",
            "zip": "1000",
            "city": "Brussels",
            "country_id": str(self.france.id),
            "state_id": "",
        }
        values.update(changes)
        return values

    def _save(self, **changes):
        form = {**self._form(**changes), "csrf_token": self._csrf("/my/billing-info")}
        return self.url_open("/my/billing-info", data=form, allow_redirects=False)

    def _snapshot(self, partner):
        self.env.cr.flush()  # post the pending tracking messages first
        partner.invalidate_recordset()
        fields = ["name", "vat", "email", "street", "zip", "city", "country_id", "state_id"]
        return partner.read(fields)[0], len(partner.message_ids)

    def test_billing_info_edits_the_company_used_by_the_next_invoice(self):
        self.authenticate("pp_user", "pp_user")
        contact_email = self.user.partner_id.email
        response = self._save()
        self.assertEqual(response.status_code, 303, response.text[:500])
        self.assertTrue(response.headers["Location"].endswith("/my/billing-info?saved=1"))
        self.customer.invalidate_recordset()
        self.assertEqual(self.customer.name, "Portal Postpaid SA")
        self.assertEqual(self.customer.vat, "FR12345678901")
        self.assertEqual(self.customer.email, "invoices@postpaid.example")
        self.assertEqual(self.customer.street, "Rue Haute 1")
        self.assertEqual(self.user.partner_id.email, contact_email, "the contact is not edited")
        note = self.customer.message_ids[:1]
        self.assertEqual(note.author_id, self.user.partner_id)
        self.assertIn("Rue de Rivoli 1", note.body)
        self.assertIn("Rue Haute 1", note.body)

        # The dashboard lets an address wrap only before its "@" (<wbr/> between two spans).
        card = re.sub(r"<[^>]+>", "", self.url_open("/my").text)
        self.assertIn("Rue Haute 1", card)
        self.assertIn("invoices@postpaid.example", card)
        invoice = self._post_invoice(self.customer, 50.0)
        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html("account.account_invoices", invoice.ids)[0]
            .decode()
        )
        for shown in ("Portal Postpaid SA", "Rue Haute 1", "FR12345678901"):
            self.assertIn(shown, html)

    def test_invalid_billing_info_is_refused_and_nothing_written(self):
        self.authenticate("pp_user", "pp_user")
        before = self._snapshot(self.customer)
        brussels = self.env["res.country.state"].create(
            {"name": "Test Region", "code": "TR", "country_id": self.belgium.id}
        )
        cases = {
            "City is required": {"city": " "},
            "valid billing e-mail": {"email": "not-an-address"},
            "Choose a state of France": {"state_id": str(brussels.id)},
            "2 to 20 letters and digits": {"vat": "FR#12"},
            "Country is required": {"country_id": "999999"},
        }
        for message, changes in cases.items():
            response = self._save(**changes)
            self.assertEqual(response.status_code, 400, message)
            self.assertIn(message, response.text)
            self.assertEqual(self._snapshot(self.customer), before, message)

    def test_verified_billing_info_is_read_only(self):
        self.customer.billing_info_verified = True
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my/billing-info").text
        self.assertIn("o_billing_info_verified", page)
        self.assertNotIn('name="country_id"', page)
        before = self._snapshot(self.customer)
        for field, value in [
            ("name", "Other Name SA"),
            ("vat", "BE0477472701"),
            ("country_id", str(self.belgium.id)),
        ]:
            response = self._save(**{"name": self.customer.name, "vat": "", field: value})
            self.assertEqual(response.status_code, 400, field)
            self.assertIn("verified by our billing team", response.text)
            self.assertEqual(self._snapshot(self.customer), before, field)
        response = self._save(name=self.customer.name, vat="")
        self.assertEqual(response.status_code, 303, "the address stays editable")
        self.assertEqual(self.customer.street, "Rue Haute 1")
        self.assertEqual(self.customer.country_id, self.france)

    def test_country_change_cannot_drop_the_card_surcharge(self):
        self._card_surcharge_rule("990001", excluded_country_ids=[(6, 0, self.belgium.ids)])
        self.authenticate("pp_user", "pp_user")
        before = self._snapshot(self.customer)
        response = self._save(country_id=str(self.belgium.id))
        self.assertEqual(response.status_code, 400)
        self.assertIn("changes the card fees", response.text)
        self.assertEqual(self._snapshot(self.customer), before)

    def test_another_customer_edits_only_its_own_company(self):
        self.authenticate("other_user", "other_user")
        before = self._snapshot(self.customer)
        response = self._save(partner_id=str(self.customer.id), id=str(self.customer.id))
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self._snapshot(self.customer), before)
        self.assertEqual(self.other_customer.street, "Rue Haute 1")

    def test_logged_out_and_internal_users_cannot_edit(self):
        before = self._snapshot(self.customer)
        response = self.url_open("/my/billing-info", allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])
        response = self.url_open("/my/billing-info", data=self._form(), allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])
        new_test_user(self.env, login="clerk_info", groups="base.group_user")
        self.authenticate("clerk_info", "clerk_info")
        self.assertEqual(self.url_open("/my/billing-info").status_code, 404)
        self.assertEqual(self._snapshot(self.customer), before)

    def test_edit_billing_info_tour(self):
        self.start_tour("/my", "finnsys_portal_edit_billing_info_tour", login="pp_user")
        self.assertEqual(self.customer.street, "Rue Haute 1")
        self.assertEqual(self.customer.city, "Brussels")
        self.assertEqual(self.customer.country_id, self.belgium)

    def test_edit_billing_info_tour_on_phone_width(self):
        self.browser_size = "375x812"
        self.start_tour("/my", "finnsys_portal_edit_billing_info_tour", login="pp_user")
        self.assertEqual(self.customer.street, "Rue Haute 1")
