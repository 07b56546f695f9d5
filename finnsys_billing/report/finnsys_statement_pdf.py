from odoo import api, models
from odoo.exceptions import AccessError

BILLING_USER_GROUP = "finnsys_billing.group_billing_user"


class ReportFinnsysStatement(models.AbstractModel):
    _name = "report.finnsys_billing.report_statement"
    _description = "Statement of account PDF"

    @api.model
    def _get_report_values(self, docids, data=None):
        partners = self._statement_partners(docids, data)
        return {
            "doc_ids": partners.ids,
            "doc_model": "res.partner",
            "docs": partners,
            "statements": self._statements_in_their_language(partners, data),
        }

    @api.model
    def _statement_partners(self, docids, data):
        """The customers asked for: ``data['partner_ids']`` (the backend wizard, whose report
        URL carries no ids) or ``docids``. Billing users only, unless called in sudo by the
        portal (the logged-in customer's own statement) or the monthly e-mail."""
        data = data or {}
        if not self.env.su and not self.env.user.has_group(BILLING_USER_GROUP):
            raise AccessError(self.env._("Only billing users may print statements of account."))
        partners = self.env["res.partner"].browse(data.get("partner_ids") or docids or [])
        partners.check_access("read")
        return partners.commercial_partner_id

    @api.model
    def _statements_in_their_language(self, partners, data):
        """{customer id: statement}, each computed in its customer's language (the line
        labels), one batch of queries per language."""
        data = data or {}
        values = {key: data.get(key) for key in ("date_from", "date_to", "as_of", "company_id")}
        statements = {}
        for lang, customers in partners.grouped("lang").items():
            Statement = self.env["finnsys.statement"].with_context(lang=lang or self.env.lang)
            statements.update(Statement._statements(customers, values))
        return statements
