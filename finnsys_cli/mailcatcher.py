"""A local mail catcher for the demo: an SMTP sink on 127.0.0.1 that keeps every message.

Odoo sends the demo's e-mails (login codes, invitations, reminders, receipts) to it instead
of the world: each one becomes ``.finnsys/mail/NNNN.eml`` (the message as sent) and
``NNNN.txt`` (its text, to read a login code at a glance), listed in ``index.txt``, and a
line on the console names it. A minimal SMTP server of our own (the standard library's
``smtpd`` is gone in Python 3.12), enough for Odoo's smtplib client.
"""

import contextlib
import email
import html
import re
import socketserver
import threading
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

from .base import STATE_DIR, info, rel

MAIL_DIR = STATE_DIR / "mail"
MAIL_INDEX = MAIL_DIR / "index.txt"
MAX_LINE = 1 << 20
MAX_MESSAGE = 50 << 20
EHLO_REPLY = b"250-finnsys mail catcher\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"


class MailCatcher(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, directory: Path = MAIL_DIR):
        super().__init__(("127.0.0.1", 0), SmtpSession)
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.lock = threading.Lock()
        self.count = len(list(directory.glob("*.eml")))

    @property
    def port(self) -> int:
        return self.server_address[1]

    def keep(self, recipients: list[str], data: bytes) -> None:
        """Write the message and its text, add it to the index, say so on the console."""
        message = email.message_from_bytes(data, policy=policy.default)
        subject = " ".join(str(message.get("Subject", "(no subject)")).split())
        to = ", ".join(recipients)
        with self.lock:
            self.count += 1
            path = self.directory / f"{self.count:04d}.eml"
            path.write_bytes(data)
            text = f"To: {to}\nSubject: {subject}\n\n{text_of(message)}"
            path.with_suffix(".txt").write_text(text)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            with (self.directory / MAIL_INDEX.name).open("a") as index:
                index.write(f"{stamp}  {path.name}  to {to}: {subject}\n")
        info(f"mail to {to}: {subject} ({rel(path.with_suffix('.txt'))})")


def text_of(message: email.message.EmailMessage) -> str:
    """The message's plain text, or its HTML without tags."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if part.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(style|script)\b.*?</\1>|<[^>]+>", " ", content)
        content = html.unescape(content)
    lines = (" ".join(line.split()) for line in content.splitlines())
    return "\n".join(line for line in lines if line) + "\n"


class SmtpSession(socketserver.StreamRequestHandler):
    """One SMTP client: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT (RFC 5321's minimum)."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 finnsys mail catcher")
        recipients: list[str] = []
        while line := self.rfile.readline(MAX_LINE):
            verb = line[:4].decode("ascii", "replace").upper()
            if verb == "EHLO":
                self.wfile.write(EHLO_REPLY)
            elif verb in ("HELO", "NOOP", "MAIL"):
                recipients = [] if verb == "MAIL" else recipients
                self.reply("250 OK")
            elif verb == "RCPT":
                found = re.search(rb"<([^>]*)>", line)
                recipients.append(found[1].decode("utf-8", "replace") if found else "?")
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.server.keep(recipients, self.read_data())
                self.reply("250 OK: kept")
            elif verb == "RSET":
                recipients = []
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def read_data(self) -> bytes:
        """The message up to the lone dot, with the dot-stuffing undone."""
        lines = []
        size = 0
        while (line := self.rfile.readline(MAX_LINE)) and line.rstrip(b"\r\n") != b".":
            size += len(line)
            if size <= MAX_MESSAGE:
                lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


@contextlib.contextmanager
def mail_catcher(directory: Path = MAIL_DIR) -> Iterator[MailCatcher]:
    """A catcher serving in a thread until the context ends (Ctrl-C included)."""
    catcher = MailCatcher(directory)
    thread = threading.Thread(target=catcher.serve_forever, name="mail-catcher", daemon=True)
    thread.start()
    try:
        yield catcher
    finally:
        catcher.shutdown()
        catcher.server_close()
