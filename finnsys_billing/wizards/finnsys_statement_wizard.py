from odoo import api, fields, models

from ..report.finnsys_aged_receivable import AS_OF_MODES


class FinnsysStatementWizard(models.TransientModel):
    _name = "finnsys.statement.wizard"
    _description = "Statement of account options"

    partner_ids = fields.Many2many(
        "res.partner",
        string="Customers",
        required=True,
        domain=[("is_company", "=", True)],
        default=lambda self: self._default_partner_ids(),
        help="Contacts are replaced by their company.",
    )
    date_from = fields.Date(
        string="From",
        required=True,
        default=lambda self: self.env["finnsys.statement"]._default_period()[0],
    )
    date_to = fields.Date(
        string="To",
        required=True,
        default=lambda self: self.env["finnsys.statement"]._default_period()[1],
    )
    as_of = fields.Selection(
        AS_OF_MODES,
        string="History",
        required=True,
        default="dated",
        help="As dated: every entry dated in the period, even one entered later. As known: "
        "only what was entered by the end of the last day (UTC), to reproduce a statement "
        "printed then.",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        domain=lambda self: [("id", "in", self.env.companies.ids)],
    )

    @api.model
    def _default_partner_ids(self):
        if self.env.context.get("active_model") != "res.partner":
            return []
        active_ids = self.env.context.get("active_ids") or []
        return self.env["res.partner"].browse(active_ids).commercial_partner_id.ids

    @api.constrains("date_from", "date_to", "as_of", "company_id")
    def _check_statement_options(self):
        for wizard in self:
            self.env["finnsys.statement"]._options(wizard._report_data())

    def _report_data(self):
        self.ensure_one()
        return {
            "partner_ids": self.partner_ids.commercial_partner_id.ids,
            "date_from": fields.Date.to_string(self.date_from),
            "date_to": fields.Date.to_string(self.date_to),
            "as_of": self.as_of,
            "company_id": self.company_id.id,
        }

    def action_print_pdf(self):
        data = self._report_data()
        partners = self.env["res.partner"].browse(data["partner_ids"])
        return self.env.ref("finnsys_billing.action_report_statement").report_action(
            partners, data=data
        )

    def action_export_xlsx(self):
        data = self._report_data()
        partners = self.env["res.partner"].browse(data["partner_ids"])
        return self.env.ref("finnsys_billing.action_report_statement_xlsx").report_action(
            partners, data=data
        )
