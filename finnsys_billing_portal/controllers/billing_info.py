from werkzeug.exceptions import NotFound

from odoo import http
from odoo.exceptions import ValidationError
from odoo.http import request

from odoo.addons.portal.controllers.portal import CustomerPortal

from ..models.res_partner import BILLING_INFO_FIELDS


class BillingInfoPortal(CustomerPortal):
    """The customer's invoicing data (company name, address, tax ID, billing e-mail).

    It belongs to the commercial entity, not to the contact who is logged in: the route
    takes no record id, so a contact can only ever edit its own company's data.
    """

    def _finnsys_info_customer(self):
        user = request.env.user
        if not user._is_portal():
            raise NotFound()
        return user.partner_id.commercial_partner_id

    @http.route("/my/billing-info", type="http", auth="user", website=True, methods=["GET", "POST"])
    def portal_billing_info(self, **form):
        customer = self._finnsys_info_customer()
        error, status = None, 200
        if request.httprequest.method == "POST":
            try:
                # Portal users may not write partners: the check above and the fixed record
                # (the user's own commercial entity) are what allows this one.
                customer.sudo()._finnsys_info_update(form, request.env.user.partner_id)
            except ValidationError as exc:
                error, status = exc.args[0], 400
            else:
                return request.redirect("/my/billing-info?saved=1")
        response = request.render(
            "finnsys_billing_portal.portal_billing_info",
            self._finnsys_info_values(customer, form if error else {}, error),
            status=status,
        )
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    def _finnsys_info_values(self, customer, form, error):
        values = self._prepare_portal_layout_values()
        shown = {
            name: form.get(name, customer.sudo()._finnsys_info_value(name) or "")
            for name in BILLING_INFO_FIELDS
        }
        country_id = str(shown["country_id"])
        countries = request.env["res.country"].sudo()
        country = countries.browse(int(country_id)).exists() if country_id.isdigit() else countries
        values.update(
            {
                "page_name": "billing_info",
                "customer": customer,
                "shown": shown,
                "locked": customer.sudo()._finnsys_info_locked_fields(),
                "countries": countries.search([]),
                "states": country.state_ids,
                "error": error,
                "saved": request.params.get("saved") and not error,
            }
        )
        return values
