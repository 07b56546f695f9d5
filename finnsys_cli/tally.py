"""Counting passed and failed tests from Odoo's and pytest's closing lines."""

import re
from dataclasses import dataclass

from .base import info

ODOO_TEST_RESULT = re.compile(
    r"odoo\.tests\.result: (\d+) failed, (\d+) error\(s\) of (\d+) tests when loading database"
)
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
PYTEST_NO_TESTS = 5  # pytest's exit code when nothing was collected


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(self.passed + other.passed, self.failed + other.failed)


def odoo_tally(returncode: int, tail: list[str]) -> Tally:
    """Counts from Odoo's final ``odoo.tests.result`` line; a crash counts as one failure."""
    results = [match for line in tail if (match := ODOO_TEST_RESULT.search(line))]
    if not results:
        info(
            f"Odoo exited (code {returncode}) without reporting test results: counted as 1 failure"
        )
        return Tally(0, 1)
    failures, errors, total = (int(group) for group in results[-1].groups())
    tally = Tally(total - failures - errors, failures + errors)
    if returncode != 0 and not tally.failed:
        info(f"Odoo exited with code {returncode}: counted as 1 failure")
        tally.failed += 1
    info(f"Odoo tests: {tally.passed} passed, {tally.failed} failed")
    return tally


def pytest_counts(tail: list[str]) -> dict[str, int] | None:
    """Counts from pytest's closing line, e.g. ``=== 3 passed, 1 failed in 2.05s ===``."""
    for line in reversed(tail):
        if re.search(r"\bin \d+(\.\d+)?s\b", line):
            counts = {kind: int(n) for n, kind in PYTEST_COUNT.findall(line)}
            if counts or "no tests ran" in line:
                return counts
    return None


def pytest_tally(returncode: int, tail: list[str]) -> Tally:
    if returncode == PYTEST_NO_TESTS:
        info("pytest collected no tests")
        return Tally()
    counts = pytest_counts(tail)
    if counts is None:
        info(f"pytest exited (code {returncode}) without a summary: counted as 1 failure")
        return Tally(0, 1)
    failed = sum(counts.get(kind, 0) for kind in ("failed", "error", "errors"))
    tally = Tally(counts.get("passed", 0), failed)
    if returncode != 0 and not tally.failed:
        info(f"pytest exited with code {returncode}: counted as 1 failure")
        tally.failed = 1
    info(f"pytest: {tally.passed} passed, {tally.failed} failed")
    return tally
