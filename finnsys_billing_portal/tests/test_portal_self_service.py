import re
from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import Form, tagged
from odoo.tools import hmac

from .portal_common import BillingPortalCommon


@tagged("post_install", "-at_install")
class TestPortalSelfService(BillingPortalCommon):
    """Change plan, cancel at period end and undo, and the saved card that pays, as the
    owner, as another customer and logged out, with tampered forms."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.service = cls.env["product.product"].create(
            {"name": "Hosting", "type": "service", "taxes_id": [Command.clear()]}
        )
        cls.monthly = cls._plan("Gold Monthly", 100.0)
        cls.premium = cls._plan("Platinum Monthly", 310.0)
        cls.hidden = cls._plan("Staff Only", 1.0)
        cls.monthly.finnsys_switch_plan_ids = cls.premium
        cls.today = fields.Date.context_today(cls.env["contract.contract"])
        cls.subscription = cls._subscribe(cls.customer)
        cls.foreign = cls._subscribe(cls.other_customer)
        cls.own_token = cls._token(cls.customer, "5555")

    @classmethod
    def _plan(cls, name, price):
        return cls.env["contract.template"].create(
            {
                "name": name,
                "recurring_rule_type": "monthly",
                "contract_line_ids": [
                    Command.create(
                        {"product_id": cls.service.id, "name": name, "specific_price": price}
                    )
                ],
            }
        )

    @classmethod
    def _subscribe(cls, customer):
        """An online subscription whose first period, started 10 days ago, is invoiced."""
        subscription = cls.env["contract.contract"].create(
            {
                "partner_id": customer.id,
                "contract_template_id": cls.monthly.id,
                "date_start": cls.today - timedelta(days=10),
                "subscription_payment": "online",
            }
        )
        subscription.action_subscription_activate()
        subscription.recurring_create_invoice()
        return subscription

    # helpers -------------------------------------------------------------------------

    def _url(self, action="", subscription=None):
        subscription = subscription or self.subscription
        return f"/my/subscriptions/{subscription.id}{action}"

    def _post(self, action, data, subscription=None):
        # The default card form is on that page whatever the subscription's status.
        data = {"csrf_token": self._csrf("/my/payment_method"), **data}
        return self.url_open(self._url(action, subscription), data=data, allow_redirects=False)

    def _preview_form(self, plan):
        page = self.url_open(self._url(f"?plan={plan.id}"))
        self.assertEqual(page.status_code, 200, page.text[:500])
        form = page.text[page.text.index("o_billing_plan_preview") :]
        return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))

    def _state(self):
        """What a refusal must leave untouched."""
        self.env.flush_all()
        self.env.invalidate_all()
        subscription = self.subscription
        moves = self.env["account.move"].search_count([("subscription_id", "=", subscription.id)])
        return (
            moves,
            self.env["payment.transaction"].search_count([]),
            len(subscription.message_ids),
            subscription.contract_template_id,
            subscription.subscription_state,
            subscription.subscription_token_id,
            self.customer.billing_token_id,
        )

    def _assert_redirect(self, response, location):
        self.assertEqual(response.status_code, 303, response.text[:500])
        self.assertTrue(response.headers["Location"].endswith(location), response.headers)

    def _last_note(self):
        self.env.flush_all()
        self.subscription.invalidate_recordset(["message_ids"])
        # Tracked values come in a message of their own, without a body.
        return self.subscription.message_ids.filtered("body")[:1]

    # change plan -----------------------------------------------------------------------

    def test_preview_equals_the_backend_wizard_and_confirm_posts_it(self):
        wizard = Form(
            self.env["finnsys.subscription.change.plan"].with_context(
                default_contract_id=self.subscription.id
            )
        )
        wizard.new_plan_id = self.premium
        self.authenticate("pp_user", "pp_user")
        page = self.url_open(self._url()).text
        self.assertIn("Platinum Monthly", page)
        self.assertNotIn("Staff Only", page, "only the plans the plan offers are shown")
        form = self._preview_form(self.premium)
        self.assertEqual(float(form["credit"]), wizard.credit_amount)
        self.assertEqual(float(form["invoice"]), wizard.invoice_amount)
        self.assertEqual(form["date"], str(self.today))
        self.assertTrue(wizard.credit_amount and wizard.invoice_amount)
        before = self._state()[0]
        response = self._post("/change-plan", form)
        self._assert_redirect(response, self._url("?done=plan"))
        self.assertEqual(self.subscription.contract_template_id, self.premium)
        moves = self.env["account.move"].search(
            [("subscription_id", "=", self.subscription.id)], order="id"
        )[before:]
        self.assertEqual(
            [(m.move_type, m.amount_untaxed) for m in moves],
            [("out_refund", wizard.credit_amount), ("out_invoice", wizard.invoice_amount)],
        )
        note = self._last_note()
        self.assertIn("Platinum Monthly", note.body)
        self.assertEqual(note.author_id, self.user.partner_id)
        page = self.url_open(response.headers["Location"]).text
        self.assertIn("o_billing_subscription_done", page)

    def test_change_plan_refused_without_creating_anything(self):
        self.authenticate("pp_user", "pp_user")
        form = self._preview_form(self.premium)
        before = self._state()
        # Another customer's subscription does not exist for this one.
        self.assertEqual(
            self.url_open(self._url(f"?plan={self.premium.id}", self.foreign)).status_code, 404
        )
        self.assertEqual(self._post("/change-plan", form, self.foreign).status_code, 404)
        # A plan the current plan does not offer, in the preview or forged into the form.
        self.assertEqual(self.url_open(self._url(f"?plan={self.hidden.id}")).status_code, 403)
        forged = {**form, "plan_id": str(self.hidden.id)}
        self.assertEqual(self._post("/change-plan", forged).status_code, 403)
        # Tampered figures or signature.
        for tampered in ({"credit": "999.00"}, {"invoice": "0.00"}, {"signature": "x"}, {}):
            data = (
                {**form, **tampered}
                if tampered
                else {k: v for k, v in form.items() if k != "signature"}
            )
            response = self._post("/change-plan", data)
            self.assertEqual(response.status_code, 403, tampered)
            self.assertIn("o_billing_subscription_error", response.text)
        self.assertEqual(self._state(), before)
        # Logged out: the login page, nothing changed.
        self.authenticate(None, None)
        response = self.url_open(self._url("/change-plan"), data=form, allow_redirects=False)
        self.assertIn(response.status_code, (303, 400))
        self.assertEqual(self._state(), before)
        response = self.url_open(self._url(f"?plan={self.premium.id}"), allow_redirects=False)
        self.assertIn("/web/login", response.headers.get("Location", ""))

    def test_stale_preview_is_refused_with_the_new_figures(self):
        self.authenticate("pp_user", "pp_user")
        form = self._preview_form(self.premium)
        # Staff edit the subscription's price after the customer looked.
        self.subscription.contract_line_ids.specific_price = 120.0
        before = self._state()
        response = self._post("/change-plan", form)
        self.assertEqual(response.status_code, 409, response.text[:500])
        self.assertEqual(self._state(), before)
        fresh = dict(
            re.findall(
                r'type="hidden" name="(\w+)" value="([^"]*)"',
                response.text[response.text.index("o_billing_plan_preview") :],
            )
        )
        self.assertGreater(float(fresh["credit"]), float(form["credit"]))
        # A signature of yesterday's figures is genuine but stale.
        yesterday = {**form, "date": str(self.today - timedelta(days=1))}
        yesterday["signature"] = hmac(
            self.env(su=True),
            "generate_access_token",
            "|".join(
                str(v)
                for v in (
                    "finnsys_plan_change",
                    self.subscription.id,
                    form["plan_id"],
                    yesterday["date"],
                    form["credit"],
                    form["invoice"],
                )
            ),
        )
        self.assertEqual(self._post("/change-plan", yesterday).status_code, 409)
        self.assertEqual(self._post("/change-plan", fresh).status_code, 303)
        self.assertEqual(self.subscription.contract_template_id, self.premium)

    def test_closed_subscription_offers_no_action(self):
        self.subscription.action_subscription_close()
        self.authenticate("pp_user", "pp_user")
        page = self.url_open(self._url()).text
        for form in ("o_billing_change_plan", "o_billing_cancel_form", "o_billing_token_form"):
            self.assertNotIn(form, page)
        before = self._state()
        self.assertEqual(self.url_open(self._url(f"?plan={self.premium.id}")).status_code, 403)
        self.assertEqual(self._post("/cancel", {"reason": "other"}).status_code, 403)
        self.assertEqual(self._post("/undo-cancel", {}).status_code, 403)
        self.assertEqual(
            self._post("/payment-method", {"token_id": self.own_token.id}).status_code, 403
        )
        self.assertEqual(self._state(), before)

    # cancel at period end and undo -----------------------------------------------------

    def test_cancel_at_period_end_stops_invoicing_and_undo_resumes_it(self):
        period = self.subscription.subscription_period_ids
        self.authenticate("pp_user", "pp_user")
        before = self._state()
        self.assertEqual(self._post("/cancel", {"reason": "bogus"}).status_code, 400)
        self.assertEqual(self._post("/cancel", {}).status_code, 400)
        self.assertEqual(self._post("/cancel", {"reason": "other"}, self.foreign).status_code, 404)
        self.assertEqual(self._post("/undo-cancel", {}).status_code, 403, "nothing to undo")
        self.assertEqual(self._state(), before)

        response = self._post("/cancel", {"reason": "too_expensive", "note": "Budget cut"})
        self._assert_redirect(response, "?done=cancel")
        self.assertRecordValues(
            self.subscription,
            [
                {
                    "subscription_state": "cancelled",
                    "subscription_ends_on": period.period_end,
                    "subscription_cancel_reason": "too_expensive",
                    "subscription_cancel_note": "Budget cut",
                }
            ],
        )
        note = self._last_note()
        self.assertIn("Budget cut", note.body)
        self.assertEqual(note.author_id, self.user.partner_id)
        page = self.url_open(response.headers["Location"]).text
        self.assertIn("o_billing_undo_cancel", page)
        self.assertEqual(self._post("/undo-cancel", {}, self.foreign).status_code, 404)

        # Undone before the period ends: billed again from the next period.
        self._assert_redirect(self._post("/undo-cancel", {}), "?done=undo")
        self.assertRecordValues(
            self.subscription,
            [{"subscription_state": "active", "subscription_ends_on": False}],
        )
        self.assertIn("undone", self._last_note().body)
        self.assertEqual(
            str(self.subscription.recurring_next_date), str(period.period_end + timedelta(days=1))
        )

        # Cancelled again, the cron of the day after the period invoices nothing.
        self._post("/cancel", {"reason": "not_used"})
        invoices = self._state()[0]
        cron = self.env.ref("finnsys_billing.ir_cron_invoice_subscriptions")
        with freeze_time(period.period_end + timedelta(days=1)), self.enter_registry_test_mode():
            cron.method_direct_trigger()
        self.env.invalidate_all()
        self.assertEqual(self._state()[0], invoices)
        with freeze_time(period.period_end + timedelta(days=1)):
            self.assertFalse(self.subscription.finnsys_can_undo_cancel())

    def test_cancel_now_cannot_be_undone(self):
        self.subscription.action_subscription_cancel_now()
        self.authenticate("pp_user", "pp_user")
        before = self._state()
        self.assertEqual(self._post("/undo-cancel", {}).status_code, 403)
        self.assertEqual(self._state(), before)

    # the saved card that pays ----------------------------------------------------------

    def test_subscription_card_is_the_one_charged(self):
        self.authenticate("pp_user", "pp_user")
        response = self._post("/payment-method", {"token_id": self.own_token.id})
        self._assert_redirect(response, "?done=card")
        self.assertEqual(self.subscription.subscription_token_id, self.own_token)
        self.assertEqual(self.subscription.finnsys_payment_token(), self.own_token)
        self.assertEqual(self._last_note().author_id, self.user.partner_id)
        self.assertIn("5555", self._last_note().body)
        # The next period's invoice is charged to it.
        with freeze_time(self.subscription.recurring_next_date):
            invoice = self.subscription.recurring_create_invoice()
        tx = self.env["payment.transaction"].search([("invoice_ids", "in", invoice.ids)])
        self.assertEqual((tx.token_id, tx.state), (self.own_token, "done"))
        # Back to the default: the customer's default card, none here.
        self._assert_redirect(self._post("/payment-method", {"token_id": ""}), "?done=card")
        self.assertFalse(self.subscription.finnsys_payment_token())

    def test_foreign_or_unusable_card_is_refused(self):
        archived = self._token(self.customer, "7777")
        archived.active = False
        other_provider = self.provider.copy({"name": "Disabled", "state": "disabled"})
        disabled = self._token(self.customer, "8888")
        disabled.provider_id = other_provider
        self.authenticate("pp_user", "pp_user")
        before = self._state()
        for token_id, status in (
            (self.other_token.id, 403),
            (archived.id, 400),
            (disabled.id, 400),
            ("abc", 400),
            (999999, 400),
        ):
            response = self._post("/payment-method", {"token_id": token_id})
            self.assertEqual(response.status_code, status, token_id)
        self.assertEqual(
            self._post(
                "/payment-method", {"token_id": self.own_token.id}, self.foreign
            ).status_code,
            404,
        )
        self.assertEqual(self._state(), before)

    def test_default_card_pays_auto_topup_and_subscriptions_without_their_own(self):
        self.authenticate("pp_user", "pp_user")
        page = self.url_open("/my/payment_method").text
        self.assertIn("o_billing_default_token_form", page)
        self.assertIn("5555", page)
        self.assertNotIn("1111", page, "another customer's card is not offered")
        before = self._state()
        response = self.url_open(
            "/my/payment_method/default",
            data={"token_id": self.other_token.id, "csrf_token": self._csrf("/my/payment_method")},
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self._state(), before)
        response = self.url_open(
            "/my/payment_method/default",
            data={"token_id": self.own_token.id, "csrf_token": self._csrf("/my/payment_method")},
            allow_redirects=False,
        )
        self._assert_redirect(response, "/my/payment_method?saved=1")
        self.customer.invalidate_recordset()
        self.assertEqual(self.customer.billing_token_id, self.own_token)
        self.assertEqual(self.customer.billing_payment_method, "token")
        self.assertEqual(self.subscription.finnsys_payment_token(), self.own_token)
        # Auto top-up needs a card: removing the default is refused while it is on.
        self.customer.write({"billing_topup_enabled": True, "billing_topup_amount": 50})
        before = self._state()
        response = self.url_open(
            "/my/payment_method/default",
            data={"token_id": "", "csrf_token": self._csrf("/my/payment_method")},
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("o_billing_default_error", response.text)
        self.assertEqual(self._state(), before)
        # Logged out: the login page.
        self.authenticate(None, None)
        response = self.url_open("/my/payment_method", allow_redirects=False)
        self.assertIn("/web/login", response.headers.get("Location", ""))

    # tour ------------------------------------------------------------------------------

    def test_self_service_tour(self):
        self.start_tour(
            self._url(), "finnsys_portal_subscription_self_service_tour", login="pp_user"
        )
        self.env.invalidate_all()
        self.assertEqual(self.subscription.contract_template_id, self.premium)
        self.assertEqual(self.subscription.subscription_state, "active")
        self.assertFalse(self.subscription.subscription_ends_on)
        bodies = " ".join(self.subscription.message_ids.mapped("body"))
        for logged in ("Platinum Monthly", "Cancelled at period end", "undone"):
            self.assertIn(logged, bodies)
