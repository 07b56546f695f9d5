from odoo import api, models


class ReportFinnsysAgedReceivable(models.AbstractModel):
    _name = "report.finnsys_billing.report_aged_receivable"
    _description = "Aged receivables PDF"

    @api.model
    def _get_report_values(self, docids, data=None):
        wizards = self.env["finnsys.aged.receivable.wizard"].browse(docids)
        return {
            "doc_ids": docids,
            "doc_model": "finnsys.aged.receivable.wizard",
            "docs": wizards,
            "reports": [wizard._aging_report_with_headers() for wizard in wizards],
        }
