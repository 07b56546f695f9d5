"""A first run where Python has no Odoo: the README's two commands install Odoo 19.0 themselves.

Slow (it builds a virtualenv with Odoo and every requirement, then the demo database), so it
runs only with ``finnsys.py test --slow`` (or ``FINNSYS_SLOW=1``), and only when
``FINNSYS_ODOO_SOURCE`` names Odoo 19.0's source (a git URL, a git repository or a source
directory), since this machine may not reach github.com. It works on a copy of the repository,
run by a bare virtualenv's Python (which cannot import odoo), on a cluster of its own.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = 5
RUN_TIMEOUT = 3600
# This run's own PostgreSQL and Odoo settings must not leak into the copy's runs.
PARENT_ONLY = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "ODOO_BIN", "PYTHONPATH", "ODOO_RC")


@pytest.fixture
def fresh_machine(slow_run):
    """(a Python without Odoo, a copy of the repository) for a first run.

    Not under pytest's tmp_path: the copy's PostgreSQL runs as another OS user, who must
    keep reaching it, and any pytest session of this user may make that tree 0700 again."""
    if not slow_run:
        pytest.skip("slow: run with finnsys.py test --slow (or FINNSYS_SLOW=1)")
    if not os.environ.get("FINNSYS_ODOO_SOURCE"):
        pytest.skip("set FINNSYS_ODOO_SOURCE to Odoo 19.0's source to test the self-install")
    machine = Path(tempfile.mkdtemp(prefix="finnsys-install-"))
    repo = machine / "repo"
    ignored = shutil.ignore_patterns(".finnsys", ".git", "__pycache__", "*.pyc", ".*_cache")
    shutil.copytree(ROOT, repo, ignore=ignored)
    bare = machine / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    python = bare / "bin" / "python"
    assert subprocess.run([python, "-c", "import odoo"], capture_output=True).returncode != 0
    try:
        yield python, repo
    finally:
        shutil.rmtree(machine, ignore_errors=True)


def finnsys(python, repo, *args):
    env = {name: value for name, value in os.environ.items() if name not in PARENT_ONLY}
    result = subprocess.run(
        [python, repo / "finnsys.py", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


def test_first_demo_installs_odoo_into_the_project_venv_and_a_second_reuses_it(fresh_machine):
    python, repo = fresh_machine
    first = finnsys(python, repo, "demo", "--no-serve")
    for step in range(1, STEPS + 1):
        assert f"[{step}/{STEPS}]" in first, first
    assert "FinnSys demo database finnsys_demo is ready" in first, first
    venv = repo / ".finnsys" / "venv"
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    record = (repo / ".finnsys" / "odoo-source.txt").read_text()
    assert "version: 19.0" in record, record
    assert os.environ["FINNSYS_ODOO_SOURCE"] in record, record

    second = finnsys(python, repo, "demo", "--no-serve")
    reused = re.findall(rf"^finnsys: \[\d/{STEPS}\] .*: done before, reused$", second, re.M)
    assert len(reused) == STEPS, second
    assert "FinnSys demo database finnsys_demo is ready" in second, second

    tests = finnsys(python, repo, "test", "--tags", "/none", "-k", "both_addons_are_installed")
    assert tests.rstrip().endswith("1 passed, 0 failed"), tests
