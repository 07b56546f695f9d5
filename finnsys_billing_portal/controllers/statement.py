from werkzeug.exceptions import NotFound

from odoo import fields, http
from odoo.exceptions import AccessError, ValidationError
from odoo.http import content_disposition, request

from odoo.addons.finnsys_billing.models.ir_http import served_from_replica

from .portal import BillingPortal

STATEMENT_REPORT = "finnsys_billing.action_report_statement"


class BillingStatementPortal(BillingPortal):
    """The statement of account of the logged-in customer's company, for any period.

    The routes take no customer: the statement is always the commercial entity's of the
    user, so another customer's cannot be asked for; a ``partner_id`` that is not the
    user's own is answered with a 404 rather than ignored.
    """

    def _finnsys_statement_customer(self, partner_id=None):
        customer = self._finnsys_customer()
        if not customer or (partner_id and partner_id != str(customer.id)):
            raise NotFound()
        return customer

    def _finnsys_statement_options(self, date_from, date_to):
        """The period asked for (default: the last full month) as statement options.

        :raise ValidationError: a date that is not one, or an impossible period
        """
        try:
            dates = [
                fields.Date.to_date(value) if value else None for value in (date_from, date_to)
            ]
        except ValueError as error:
            raise ValidationError(request.env._("Enter dates as YYYY-MM-DD.")) from error
        Statement = request.env["finnsys.statement"]
        default_from, default_to = Statement._default_period()
        return Statement._options(
            {
                "date_from": dates[0] or default_from,
                "date_to": dates[1] or default_to,
                "company_id": request.env.company.id,
            }
        )

    def _finnsys_statement(self, customer, options):
        """The statement, read from the ledger in sudo: the SQL behind it is limited to
        ``customer``, the user's own company, and the aging it reuses is a backend report."""
        Statement = request.env["finnsys.statement"].sudo().with_company(options["company"])
        values = {
            "date_from": options["date_from"],
            "date_to": options["date_to"],
            "company_id": options["company"].id,
        }
        return Statement.with_context(lang=customer.lang or request.env.lang)._statements(
            customer, values
        )[customer.id]

    @http.route(
        "/my/statement",
        type="http",
        auth="user",
        website=True,
        sitemap=False,
        readonly=served_from_replica,
    )
    def portal_billing_statement(self, date_from=None, date_to=None, partner_id=None, **kw):
        customer = self._finnsys_statement_customer(partner_id)
        values = self._prepare_portal_layout_values()
        values.update(
            page_name="billing_statement",
            customer=customer,
            date_from=date_from,
            date_to=date_to,
        )
        try:
            options = self._finnsys_statement_options(date_from, date_to)
        except (ValidationError, AccessError) as error:
            values["error"] = error.args[0]
            return request.render("finnsys_billing_portal.portal_statement", values, status=400)
        statement = self._finnsys_statement(customer, options)
        values.update(
            statement=statement,
            date_from=fields.Date.to_string(options["date_from"]),
            date_to=fields.Date.to_string(options["date_to"]),
        )
        return request.render("finnsys_billing_portal.portal_statement", values)

    @http.route(
        "/my/statement/pdf",
        type="http",
        auth="user",
        website=True,
        sitemap=False,
        readonly=served_from_replica,
    )
    def portal_billing_statement_pdf(self, date_from=None, date_to=None, partner_id=None, **kw):
        customer = self._finnsys_statement_customer(partner_id)
        try:
            options = self._finnsys_statement_options(date_from, date_to)
        except (ValidationError, AccessError) as error:
            return request.make_response(error.args[0], status=400)
        data = {
            "date_from": fields.Date.to_string(options["date_from"]),
            "date_to": fields.Date.to_string(options["date_to"]),
            "company_id": options["company"].id,
        }
        # As Odoo's portal prints documents: in sudo, for the one customer checked above.
        Report = request.env["ir.actions.report"].sudo().with_company(options["company"])
        content, report_type = Report._render_qweb_pdf(STATEMENT_REPORT, [customer.id], data=data)
        filename = request.env._(
            "Statement %(start)s %(end)s.%(ext)s",
            start=data["date_from"],
            end=data["date_to"],
            ext=report_type,
        )
        mimetype = "application/pdf" if report_type == "pdf" else "text/html"
        return request.make_response(
            content,
            headers=[
                ("Content-Type", mimetype),
                ("Content-Length", len(content)),
                ("Content-Disposition", content_disposition(filename)),
            ],
        )
