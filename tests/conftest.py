"""Options shared by the acceptance and reliability tests (pytest-odoo)."""

import os

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--finnsys-long",
        action="store_true",
        default=False,
        help="run the long variants of tests/reliability (more rounds and examples)",
    )
    parser.addoption(
        "--finnsys-slow",
        action="store_true",
        default=False,
        help="run the slow tests too (building Odoo's virtualenv: finnsys.py test --slow)",
    )


@pytest.fixture(scope="session")
def long_run(request):
    """True when the long variants were asked for (``finnsys.py test --long``)."""
    return request.config.getoption("--finnsys-long")


@pytest.fixture(scope="session")
def slow_run(request):
    """True when the slow tests were asked for (``finnsys.py test --slow`` or FINNSYS_SLOW=1)."""
    return request.config.getoption("--finnsys-slow") or os.environ.get("FINNSYS_SLOW") == "1"


def pytest_configure(config):
    """unittest-style Odoo test classes cannot take fixtures: they read FINNSYS_LONG."""
    if config.getoption("--finnsys-long"):
        os.environ["FINNSYS_LONG"] = "1"
