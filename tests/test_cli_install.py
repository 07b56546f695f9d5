"""What a newcomer sees from finnsys.py's installer and demo: pins, failure messages, mail."""

import smtplib
import sys
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from finnsys_cli import installer, system  # noqa: E402 - the CLI lives next to the tests
from finnsys_cli.mailcatcher import mail_catcher  # noqa: E402


def test_odoo_requirements_get_the_pins_that_build_and_leave_ldap_out(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "cbor2==5.4.2 ; python_version < '3.12'\n"
        "cbor2==5.6.2 ; python_version >= '3.12'\n"
        "python-ldap==3.4.0 ; sys_platform != 'win32'\n"
        "psycopg2==2.9.5 ; python_version == '3.11'\n"
    )
    lines = installer.odoo_requirements(tmp_path).splitlines()
    assert lines == [
        "cbor2==5.6.2 ; python_version < '3.12'",
        "cbor2==5.6.2 ; python_version >= '3.12'",
        "psycopg2==2.9.5 ; python_version == '3.11'",
    ]


def test_a_failed_step_says_why_and_what_to_do():
    cases = {
        "OSError: [Errno 28] No space left on device": "the disk is full",
        "Failed to establish a new connection: [Errno -3] Temporary failure in name resolution": (
            "the network failed"
        ),
        "Error: pg_config executable not found.": "apt-get install libpq-dev",
        "error: command 'gcc' failed: No such file or directory": "no C compiler",
    }
    for output, cause in cases.items():
        assert cause in installer.failure_cause(f"Collecting x\n{output}\n"), output


def test_a_held_dpkg_lock_is_not_reported_as_a_missing_package():
    held = (
        "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)\n"
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another "
        "process using it?\n"
    )
    assert "dpkg lock is held by another process" in system.apt_failure_cause(held)
    missing = "E: Unable to locate package wkhtmltopdf\n"
    assert "package lists do not have it" in system.apt_failure_cause(missing)


def test_the_demo_mail_catcher_keeps_each_message_readable(tmp_path):
    message = EmailMessage()
    message["From"] = "notifications@finnsys.example"
    message["To"] = "prepaid@customer.example"
    message["Subject"] = "Your login code: 493027"
    message.set_content("Your code is 493027.\n.A line that starts with a dot.\n")
    message.add_alternative("<p>Your code is <b>493027</b>.</p>", subtype="html")
    with mail_catcher(tmp_path) as catcher, smtplib.SMTP("127.0.0.1", catcher.port) as client:
        client.send_message(message)
    assert (tmp_path / "0001.eml").read_bytes().count(b"\n.A line that starts with a dot.") == 1
    text = (tmp_path / "0001.txt").read_text()
    assert "Subject: Your login code: 493027" in text
    assert "Your code is 493027." in text
    index = (tmp_path / "index.txt").read_text()
    assert "0001.eml  to prepaid@customer.example: Your login code: 493027" in index
