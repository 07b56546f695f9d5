import functools
import subprocess

import lxml.html

from odoo import api, models
from odoo.tools import config, find_in_path

# Where the header and footer go when wkhtmltopdf cannot print them apart: inside each
# document, under class names Odoo's own extraction does not look for.
INLINE_CLASSES = {"header": "o_finnsys_inline_header", "footer": "o_finnsys_inline_footer"}
# Page margins (mm) once the header is part of the page body, not a reserved band.
INLINE_MARGINS = {"data-report-margin-top": "12", "data-report-margin-bottom": "12"}


@functools.cache
def wkhtmltopdf_prints_headers():
    """Whether wkhtmltopdf is built on its patched Qt, the only build that honours
    ``--header-html`` and ``--footer-html`` (Debian's and most distributions' are not)."""
    try:
        binary = find_in_path("wkhtmltopdf")
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return True  # no wkhtmltopdf: Odoo says so itself, leave its layout alone
    return "with patched qt" in version.lower()


class IrActionsReport(models.Model):
    _inherit = "ir.actions.report"

    def _get_report_url(self, layout=None):
        """The address wkhtmltopdf fetches the report's styles from: ``report.url`` when set,
        else this server itself on the loopback, not ``web.base.url``.

        ``web.base.url`` is ``localhost:8069`` until the administrator's first login, and in
        production a public address the server often cannot reach from inside; a PDF made
        then has no styles. wkhtmltopdf runs on this machine, so this server's own port is
        always the right one while it serves HTTP.
        """
        if self.env["ir.config_parameter"].sudo().get_param("report.url"):
            return super()._get_report_url(layout=layout)
        if not config.get("http_enable", True) or not config.get("http_port"):
            return super()._get_report_url(layout=layout)
        interface = config.get("http_interface") or ""
        host = "127.0.0.1" if interface in ("", "0.0.0.0", "::") else interface
        return f"http://{host}:{config['http_port']}"

    def _prepare_html(self, html, report_model=False):
        if not wkhtmltopdf_prints_headers():
            html = self._finnsys_inline_headers(html)
        return super()._prepare_html(html, report_model=report_model)

    @api.model
    def _finnsys_inline_headers(self, html):
        """Put each document's header (seller's logo, name, address, VAT) and footer inside
        the document itself, with small page margins, for a wkhtmltopdf that would drop them.
        """
        root = lxml.html.fromstring(html, parser=lxml.html.HTMLParser(encoding="utf-8"))
        match = "//div[contains(concat(' ', normalize-space(@class), ' '), ' {} ')]"
        articles = root.xpath(match.format("article"))
        if not articles:
            return html
        for article in articles:
            header = article.getprevious()
            footer = article.getnext()
            for node, kind in ((header, "header"), (footer, "footer")):
                classes = (node.get("class") or "").split() if node is not None else []
                if kind not in classes:
                    continue
                node.set("class", " ".join(INLINE_CLASSES.get(c, c) for c in classes))
                if kind == "header":
                    article.insert(0, node)
                    continue
                # "Page x / y" is filled in by wkhtmltopdf in a footer band only.
                for counter in node.xpath(".//*[span[contains(@class, 'topage')]]"):
                    counter.getparent().remove(counter)
                article.append(node)
        for name, value in INLINE_MARGINS.items():
            root.set(name, value)
        return lxml.html.tostring(root, encoding="unicode")

    def _get_rendering_context(self, report, docids, data):
        """A posted customer invoice is the invoice: Odoo's portal calls it a proforma until
        its PDF has been generated once, which FinnSys does not wait for."""
        data = super()._get_rendering_context(report, docids, data)
        if data.get("proforma") and self.env.context.get("proforma_invoice"):
            moves = self.env["account.move"].browse(docids).exists()
            if report.model == "account.move" and all(m.state == "posted" for m in moves):
                data["proforma"] = False
        return data
