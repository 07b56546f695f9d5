"""Acceptance checks of the foundation: what an admin installing FinnSys would notice."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from odoo.tests import tagged
from odoo.tests.common import TransactionCase, new_test_user

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ("finnsys_billing", "finnsys_billing_portal")


@tagged("post_install", "-at_install")
class TestAddonsInstalled(TransactionCase):
    def test_both_addons_are_installed_at_their_release(self):
        modules = self.env["ir.module.module"].search([("name", "in", ADDONS)])
        self.assertEqual(sorted(modules.mapped("name")), sorted(ADDONS))
        self.assertEqual(set(modules.mapped("state")), {"installed"})
        self.assertEqual(set(modules.mapped("latest_version")), {"19.0.1.0.0"})

    def test_billing_app_is_for_billing_staff_only(self):
        clerk = new_test_user(
            self.env,
            login="acceptance_clerk",
            groups="base.group_user,finnsys_billing.group_billing_user",
        )
        customer = new_test_user(self.env, login="acceptance_customer", groups="base.group_portal")
        root = self.env.ref("finnsys_billing.menu_billing_root")
        menus = self.env["ir.ui.menu"]
        self.assertIn(root.id, menus.with_user(clerk)._visible_menu_ids())
        self.assertNotIn(root.id, menus.with_user(customer).sudo()._visible_menu_ids())


@tagged("post_install", "-at_install")
class TestCommandLine(TransactionCase):
    def _run(self, *args, **env):
        return subprocess.run(
            [sys.executable, str(ROOT / "finnsys.py"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
            check=False,
        )

    def test_missing_odoo_stops_with_one_clear_line(self):
        result = self._run("test", "--no-install", ODOO_BIN="/nonexistent/odoo-bin")
        self.assertEqual(result.returncode, 2)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("Odoo 19", lines[0])

    def test_addon_readmes_are_rendered_from_their_fragments(self):
        result = self._run("readme", "--no-install", "--check")
        self.assertEqual(result.returncode, 0, result.stderr)
        for addon in ADDONS:
            rst = (ROOT / addon / "README.rst").read_text()
            self.assertIn("Usage\n=====", rst)
            html = (ROOT / addon / "static/description/index.html").read_text()
            self.assertIn('<h1 class="title">FinnSys Billing', html)

    def test_unknown_verb_is_refused(self):
        result = self._run("deploy")
        self.assertNotEqual(result.returncode, 0)


@tagged("post_install", "-at_install")
class TestWheel(TransactionCase):
    def test_addon_builds_as_an_oca_style_wheel(self):
        out = Path(self.env["ir.attachment"]._filestore()) / "acceptance-wheels"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-q",
                "-w",
                str(out),
                str(ROOT / "finnsys_billing"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        wheels = sorted(out.glob("odoo_addon_finnsys_billing-19.0.1.0.0*.whl"))
        self.assertTrue(wheels, list(out.iterdir()))
        with zipfile.ZipFile(wheels[-1]) as wheel:
            names = wheel.namelist()
        self.assertIn("odoo/addons/finnsys_billing/__manifest__.py", names)
        self.assertIn("odoo/addons/finnsys_billing/models/res_partner.py", names)
        metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
        with zipfile.ZipFile(wheels[-1]) as wheel:
            description = wheel.read(metadata).decode()
        self.assertIn("prepaid", description, "the wheel carries README.rst as its description")
