import io
import logging

import lxml.html

from odoo import api, models, modules
from odoo.exceptions import AccessError
from odoo.tools import config
from odoo.tools.pdf import PdfFileReader, PdfFileWriter

from ..const import BILLING_USER_GROUP
from ..models.ir_actions_report import wkhtmltopdf_prints_headers

_logger = logging.getLogger(__name__)

STATEMENT_REPORT = "finnsys_billing.action_report_statement"
# Each statement starts on a page of its own: what lets one PDF of many be cut per customer.
PAGE_BREAK = "page-break-before: always;"


class ReportFinnsysStatement(models.AbstractModel):
    _name = "report.finnsys_billing.report_statement"
    _description = "Statement of account PDF"

    @api.model
    def _get_report_values(self, docids, data=None):
        partners = self._partners(docids, data)
        return {
            "doc_ids": partners.ids,
            "doc_model": "res.partner",
            "docs": partners,
            "statements": self._statements_in_their_language(partners, data),
        }

    @api.model
    def _partners(self, docids, data):
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

    @api.model
    def _pdfs(self, customer_ids, data):
        """{customer id: PDF} of the statements of ``customer_ids`` (commercial partners),
        made by one wkhtmltopdf run for them all (sudo; the monthly e-mail's).

        A wkhtmltopdf on the patched Qt prints several documents in one run and Odoo cuts
        the PDF by its outline. Other builds (Debian's) refuse several documents: the
        statements are then printed as one document, each from a new page, and cut where
        each customer's number (``C-000042``) first appears, in the order they were printed.
        A customer missing from the result (the cut failed) is left to the caller.
        """
        Report = self.env["ir.actions.report"].sudo()
        report = self.env.ref(STATEMENT_REPORT).sudo()
        if len(customer_ids) == 1 or wkhtmltopdf_prints_headers() or not self._renders_pdf():
            content, report_type = Report._pre_render_qweb_pdf(
                report.report_name, res_ids=customer_ids, data=dict(data)
            )
            return Report._get_splitted_report(report.report_name, content, report_type)
        Report = Report.with_context(debug=False)
        html = Report._render_qweb_html(
            report.report_name, customer_ids, data=dict(data, report_type="pdf", debug=False)
        )[0]
        bodies, html_ids, header, footer, paper_args = report.with_context(
            debug=False
        )._prepare_html(html, report_model="res.partner")
        pdf = Report._run_wkhtmltopdf(
            [self._one_body(bodies)],
            report_ref=report.report_name,
            header=header,
            footer=footer,
            specific_paperformat_args=paper_args,
        )
        return self._cut(pdf, html_ids)

    @api.model
    def _one_body(self, bodies):
        """The documents of ``bodies`` (one HTML page each) in the first page, each but the
        first starting a new page."""
        parser = lxml.html.HTMLParser(encoding="utf-8")
        root = lxml.html.fromstring(str(bodies[0]), parser=parser)
        body = root.find("body")
        for other in bodies[1:]:
            for node in lxml.html.fromstring(str(other), parser=parser).find("body"):
                if "article" in (node.get("class") or "").split():
                    node.set("style", f"{PAGE_BREAK} {node.get('style') or ''}".strip())
                body.append(node)
        return lxml.html.tostring(root, encoding="unicode")

    @api.model
    def _cut(self, pdf, customer_ids):
        """{customer id: PDF}: ``pdf`` cut before the first page naming each customer's
        number, the customers in the order printed; {} when one is not found where expected."""
        reader = PdfFileReader(io.BytesIO(pdf))
        pages = [page.extract_text() or "" for page in reader.pages]
        starts, page = [], 0
        for customer_id in customer_ids:
            number = self.env["finnsys.statement"]._customer_number(customer_id)
            while page < len(pages) and number not in pages[page]:
                page += 1
            if page == len(pages) or (not starts and page):
                _logger.warning("Statements: cannot cut the PDF at customer %s", customer_id)
                return {}
            starts.append(page)
            page += 1
        pdfs = {}
        for index, customer_id in enumerate(customer_ids):
            end = starts[index + 1] if index + 1 < len(starts) else len(pages)
            writer = PdfFileWriter()
            for number in range(starts[index], end):
                writer.add_page(reader.pages[number])
            stream = io.BytesIO()
            writer.write(stream)
            pdfs[customer_id] = stream.getvalue()
        return pdfs

    @api.model
    def _renders_pdf(self):
        """Whether reports are printed by wkhtmltopdf: not in tests, where Odoo prints HTML
        unless asked with ``force_report_rendering``."""
        testing = modules.module.current_test or config["test_enable"]
        return not testing or bool(self.env.context.get("force_report_rendering"))
