from odoo import api, fields, models

from ..const import BILLING_MODES
from ..report.finnsys_aged_receivable_query import AGING_BASES, AS_OF_MODES


class FinnsysAgedReceivableWizard(models.TransientModel):
    _name = "finnsys.aged.receivable.wizard"
    _description = "Aged receivables options"

    date_at = fields.Date(string="As of", required=True, default=fields.Date.context_today)
    as_of = fields.Selection(
        AS_OF_MODES,
        string="History",
        required=True,
        default="dated",
        help="As dated: every entry dated on or before the date, even one entered later "
        "(backdated). As known: only what was entered by the end of that day (UTC), to "
        "reproduce a report printed then or for an audit.",
    )
    aging_basis = fields.Selection(AGING_BASES, string="Age by", required=True, default="due")
    bucket_limits = fields.Char(
        required=True,
        default=lambda self: self.env.company.billing_aging_limits,
        help="Upper day limits of the buckets, comma separated, e.g. 30,60,90,120.",
    )
    partner_ids = fields.Many2many(
        "res.partner", string="Customers", domain=[("is_company", "=", True)]
    )
    billing_mode = fields.Selection(BILLING_MODES)
    user_id = fields.Many2one("res.users", string="Salesperson")
    company_ids = fields.Many2many(
        "res.company",
        string="Companies",
        required=True,
        default=lambda self: self.env.companies,
        domain=lambda self: [("id", "in", self.env.companies.ids)],
    )
    include_draft = fields.Boolean(
        string="Include Draft Entries", help="Also age invoices and payments not yet posted."
    )
    show_zero = fields.Boolean(
        string="Show Customers Without Balance",
        help="Also list customers that have nothing open at the date.",
    )
    in_currency = fields.Boolean(
        string="Amounts in Invoice Currency",
        help="Show each customer's amounts in the currency of its invoices instead of the "
        "company currency.",
    )

    @api.constrains("date_at", "bucket_limits")
    def _check_aging_options(self):
        for wizard in self:
            wizard._aging_options()

    def _aging_options(self):
        self.ensure_one()
        return self.env["finnsys.aged.receivable"]._aging_options(
            {
                "date_at": self.date_at,
                "basis": self.aging_basis,
                "as_of": self.as_of,
                "limits": self.bucket_limits,
                "company_ids": self.company_ids.ids,
                "partner_ids": self.partner_ids.ids,
                "billing_mode": self.billing_mode,
                "user_id": self.user_id.id,
                "include_draft": self.include_draft,
                "show_zero": self.show_zero,
                "in_currency": self.in_currency,
            }
        )

    def _context_options(self):
        options = self._aging_options()
        return dict(options, date_at=fields.Date.to_string(options["date_at"]))

    def action_view(self):
        options = self._context_options()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Aged Receivables at %(date)s", date=options["date_at"])
            if options["as_of"] == "dated"
            else self.env._("Aged Receivables as known on %(date)s", date=options["date_at"]),
            "res_model": "finnsys.aged.receivable",
            "view_mode": "pivot,graph,list",
            "views": [
                (self.env.ref("finnsys_billing.finnsys_aged_receivable_view_pivot").id, "pivot"),
                (self.env.ref("finnsys_billing.finnsys_aged_receivable_view_graph").id, "graph"),
                (self.env.ref("finnsys_billing.finnsys_aged_receivable_view_list").id, "list"),
            ],
            "context": {"finnsys_aging": options, "create": False},
        }

    def action_print_pdf(self):
        return self.env.ref("finnsys_billing.action_report_aged_receivable").report_action(self)

    def action_export_xlsx(self):
        return self.env.ref("finnsys_billing.action_report_aged_receivable_xlsx").report_action(
            self
        )

    def _aging_report_with_headers(self):
        """The report figures plus the options as (label, value) lines for the printouts."""
        self.ensure_one()
        report = self.env["finnsys.aged.receivable"]._aging_report(self._aging_options())
        options = report["options"]
        fields_info = self.fields_get()
        companies = self.env["res.company"].browse(options["company_ids"])
        headers = [
            (self.env._("As of"), fields.Date.to_string(options["date_at"])),
            (fields_info["as_of"]["string"], dict(AS_OF_MODES)[options["as_of"]]),
            (self.env._("Age by"), dict(AGING_BASES)[options["basis"]]),
            (self.env._("Buckets (days)"), ", ".join(map(str, options["limits"]))),
            (self.env._("Companies"), ", ".join(companies.mapped("name"))),
            (
                self.env._("Customers"),
                ", ".join(self.partner_ids.mapped("display_name")) or self.env._("All"),
            ),
            (
                fields_info["billing_mode"]["string"],
                dict(BILLING_MODES).get(options["billing_mode"], self.env._("All")),
            ),
            (self.env._("Salesperson"), self.user_id.name or self.env._("All")),
        ]
        for name in ("include_draft", "show_zero", "in_currency"):
            headers.append(
                (
                    fields_info[name]["string"],
                    self.env._("Yes") if options[name] else self.env._("No"),
                )
            )
        report.update(headers=headers, multi_company=len(companies) > 1)
        return report
