from odoo import http
from odoo.http import request

from odoo.addons.account.controllers.terms import TermsController


class BillingTermsController(TermsController):
    """The pay and top-up steps ask customers to accept the terms at ``/terms``.

    Odoo answers that address only when the company publishes its invoice terms as a web page,
    and otherwise says the page does not exist: customers were asked to accept terms they could
    not read. The company's billing terms (Settings) are shown there in every case: below
    Odoo's own terms page when it is published, on a page of their own otherwise.
    """

    @http.route()
    def terms_conditions(self, **kwargs):
        company = request.env.company
        if company._finnsys_invoice_terms_published():
            return super().terms_conditions(**kwargs)
        return request.render("finnsys_billing_portal.billing_terms_page", {"company": company})
