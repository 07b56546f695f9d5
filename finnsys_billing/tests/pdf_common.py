"""Reading printed documents back: the seller they name, and the PDF's text as poppler-utils
(pdftotext) reads it, the way a customer's PDF reader shows it."""

import base64
import io
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from PIL import Image

# The seller the printed documents name (the tests' main company).
SELLER = {"name": "Nordic Seller Oy", "street": "Mannerheimintie 12", "vat": "FI12345671"}


def require_poppler(*tools):
    """Skip the test class unless poppler-utils' ``tools`` (default: pdftotext) are installed."""
    tools = tools or ("pdftotext",)
    if not all(shutil.which(tool) for tool in tools):
        raise unittest.SkipTest(f"poppler-utils ({', '.join(tools)}) is not installed")


def png_logo():
    image = Image.new("RGB", (40, 20), "navy")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue())


def poppler(pdf, tool, *options, output=()):
    """What poppler-utils' ``tool`` prints for ``pdf``: ``tool [options] file [output]``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "document.pdf")
        path.write_bytes(pdf)
        command = [tool, *options, path, *output]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def pdf_text(pdf):
    """The text of ``pdf`` as pdftotext reads it, with plain spaces."""
    return poppler(pdf, "pdftotext", "-layout", output=["-"]).replace("\xa0", " ")


def pdf_fonts(pdf):
    """The fonts table of ``pdf`` as pdffonts prints it."""
    return poppler(pdf, "pdffonts")


def receipt_pdf(env, payment):
    """The receipt PDF of ``payment``, printed by wkhtmltopdf even in tests."""
    pdf, _type = (
        env["ir.actions.report"]
        .with_context(force_report_rendering=True)
        ._render_qweb_pdf("account.action_report_payment_receipt", payment.ids)
    )
    return pdf
