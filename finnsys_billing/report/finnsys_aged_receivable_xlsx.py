from odoo import models


class ReportFinnsysAgedReceivableXlsx(models.AbstractModel):
    _name = "report.finnsys_billing.report_aged_receivable_xlsx"
    _inherit = "report.report_xlsx.abstract"
    _description = "Aged receivables XLSX"

    def _get_objs_for_report(self, docids, data):
        # The wizard is the only possible source, whatever the caller's active_model.
        return self.env["finnsys.aged.receivable.wizard"].browse(docids)

    def generate_xlsx_report(self, workbook, data, wizards):
        styles = {
            "title": workbook.add_format({"bold": True, "font_size": 14}),
            "bold": workbook.add_format({"bold": True}),
            "head": workbook.add_format({"bold": True, "bottom": 1, "align": "right"}),
            "percent": workbook.add_format({"italic": True, "num_format": "0.0%"}),
        }
        for wizard in wizards:
            report = wizard._aging_report_with_headers()
            sheet = workbook.add_worksheet(str(wizard.date_at))
            row = self._write_header(sheet, report, styles)
            row = self._write_rows(workbook, sheet, report, styles, row)
            self._write_totals(workbook, sheet, report, styles, row)

    def _write_header(self, sheet, report, styles):
        sheet.write(0, 0, self.env._("Aged Receivables"), styles["title"])
        for index, (label, value) in enumerate(report["headers"], start=1):
            sheet.write(index, 0, label, styles["bold"])
            sheet.write(index, 1, value)
        row = len(report["headers"]) + 2
        titles = [self.env._("Customer"), self.env._("Company"), self.env._("Currency")]
        titles += [label for _key, label in report["buckets"]] + [self.env._("Total")]
        sheet.write_row(row, 0, titles, styles["head"])
        sheet.set_column(0, 0, 36)
        sheet.set_column(1, 2, 14)
        sheet.set_column(3, len(titles), 14)
        return row + 1

    def _money(self, workbook, currency, bold=False):
        return workbook.add_format(
            {"num_format": self._report_xlsx_currency_format(currency), "bold": bold}
        )

    def _write_rows(self, workbook, sheet, report, styles, row):
        formats = {}
        for line in report["rows"]:
            currency = line["currency"]
            money = formats.setdefault(currency, self._money(workbook, currency))
            sheet.write(row, 0, line["partner_name"])
            sheet.write(row, 1, line["company"].name)
            sheet.write(row, 2, currency.name)
            amounts = [line["amounts"][key] for key, _label in report["buckets"]]
            sheet.write_row(row, 3, [*amounts, line["total"]], money)
            row += 1
        return row

    def _write_totals(self, workbook, sheet, report, styles, row):
        for total in report["totals"]:
            money = self._money(workbook, total["currency"], bold=True)
            sheet.write(row, 0, self.env._("Total"), styles["bold"])
            sheet.write(row, 2, total["currency"].name, styles["bold"])
            amounts = [total["amounts"][key] for key, _label in report["buckets"]]
            sheet.write_row(row, 3, [*amounts, total["total"]], money)
            sheet.write(row + 1, 0, self.env._("Share of amounts owed"), styles["percent"])
            # Unapplied credit has no share: the aged buckets make 100 % of what is owed.
            shares = [
                total["percent"][key] / 100.0 if key in total["percent"] else None
                for key, _label in report["buckets"]
            ]
            sheet.write_row(row + 1, 3, shares, styles["percent"])
            row += 2
        return row
