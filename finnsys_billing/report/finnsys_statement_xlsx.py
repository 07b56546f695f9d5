from odoo import models


class ReportFinnsysStatementXlsx(models.AbstractModel):
    _name = "report.finnsys_billing.report_statement_xlsx"
    _inherit = "report.report_xlsx.abstract"
    _description = "Statement of account XLSX"

    def _get_objs_for_report(self, docids, data):
        return self.env["report.finnsys_billing.report_statement"]._partners(docids, data)

    def generate_xlsx_report(self, workbook, data, partners):
        statements = self.env[
            "report.finnsys_billing.report_statement"
        ]._statements_in_their_language(partners, data)
        styles = {
            "title": workbook.add_format({"bold": True, "font_size": 14}),
            "bold": workbook.add_format({"bold": True}),
            "head": workbook.add_format({"bold": True, "bottom": 1}),
            "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        }
        names = set()
        for partner in partners:
            statement = statements[partner.id]
            sheet = workbook.add_worksheet(self._sheet_name(partner, names))
            row = self._write_header(sheet, statement, styles)
            row = self._write_lines(workbook, sheet, statement, styles, row)
            self._write_aging(workbook, sheet, statement, styles, row + 1)

    def _sheet_name(self, partner, names):
        """A unique sheet name of at most 31 characters, without those Excel refuses."""
        base = "".join(c for c in partner.name or str(partner.id) if c not in "[]:*?/\\")[:25]
        name, count = base or str(partner.id), 1
        while name.lower() in names:
            count += 1
            name = f"{base} ({count})"
        names.add(name.lower())
        return name

    def _write_header(self, sheet, statement, styles):
        sheet.write(0, 0, self.env._("Statement of Account"), styles["title"])
        headers = [
            (self.env._("Customer"), statement["customer"].name),
            (self.env._("Company"), statement["company"].name),
            (self.env._("From"), statement["date_from"]),
            (self.env._("To"), statement["date_to"]),
            (self.env._("Currency"), statement["currency"].name),
        ]
        for index, (label, value) in enumerate(headers, start=1):
            sheet.write(index, 0, label, styles["bold"])
            if isinstance(value, str):
                sheet.write(index, 1, value)
            else:
                sheet.write_datetime(index, 1, value, styles["date"])
        row = len(headers) + 2
        titles = [
            self.env._("Date"),
            self.env._("Type"),
            self.env._("Reference"),
            self.env._("Details"),
            self.env._("Due Date"),
            self.env._("Charges"),
            self.env._("Payments and credits"),
            self.env._("Balance"),
        ]
        sheet.write_row(row, 0, titles, styles["head"])
        sheet.set_column(0, 0, 12)
        sheet.set_column(1, 1, 18)
        sheet.set_column(2, 3, 28)
        sheet.set_column(4, 7, 16)
        return row + 1

    def _write_lines(self, workbook, sheet, statement, styles, row):
        money = workbook.add_format(
            {"num_format": self._report_xlsx_currency_format(statement["currency"])}
        )
        bold_money = workbook.add_format(
            {"num_format": self._report_xlsx_currency_format(statement["currency"]), "bold": True}
        )
        sheet.write_datetime(row, 0, statement["date_from"], styles["date"])
        sheet.write(row, 1, self.env._("Opening balance"), styles["bold"])
        sheet.write_number(row, 7, statement["opening"], money)
        row += 1
        for line in statement["lines"]:
            sheet.write_datetime(row, 0, line["date"], styles["date"])
            sheet.write(row, 1, line["kind_label"])
            sheet.write(row, 2, line["reference"])
            sheet.write(row, 3, line["details"])
            if line["date_due"]:
                sheet.write_datetime(row, 4, line["date_due"], styles["date"])
            sheet.write_row(row, 5, [line["debit"] or None, line["credit"] or None], money)
            sheet.write_number(row, 7, line["balance"], money)
            row += 1
        sheet.write_datetime(row, 0, statement["date_to"], styles["date"])
        sheet.write(row, 1, self.env._("Closing balance"), styles["bold"])
        totals = [statement["total_debit"], statement["total_credit"], statement["closing"]]
        sheet.write_row(row, 5, totals, bold_money)
        return row + 1

    def _write_aging(self, workbook, sheet, statement, styles, row):
        money = workbook.add_format(
            {"num_format": self._report_xlsx_currency_format(statement["currency"])}
        )
        sheet.write(row, 0, self.env._("Aged balance"), styles["bold"])
        sheet.write_datetime(row, 1, statement["date_to"], styles["date"])
        labels = [label for _key, label in statement["buckets"]] + [self.env._("Total")]
        sheet.write_row(row + 1, 0, labels, styles["head"])
        amounts = [statement["aging"][key] for key, _label in statement["buckets"]]
        sheet.write_row(row + 2, 0, [*amounts, sum(amounts)], money)
