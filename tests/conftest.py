"""Hypothesis profiles, the --runslow option, and which ndgradient is under test.

Profiles: "default" (quick, for local edits), "ci" (used when CI=true), "thorough" (thousands
of examples per property; select with NDGRADIENT_HYPOTHESIS_PROFILE=thorough).

With NDGRADIENT_EXPECT_INSTALLED=1 the session refuses to run unless ndgradient is imported
from site-packages (an installed wheel), not from the source tree.
"""

import os
from pathlib import Path

import ndgradient
import pytest
from hypothesis import HealthCheck, settings

_common = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}
settings.register_profile("default", max_examples=120, **_common)
settings.register_profile("ci", max_examples=200, derandomize=False, **_common)
settings.register_profile("thorough", max_examples=3000, **_common)
settings.load_profile(
    os.environ.get("NDGRADIENT_HYPOTHESIS_PROFILE")
    or ("ci" if os.environ.get("CI", "").lower() in ("1", "true") else "default")
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_report_header() -> str:
    return f"ndgradient {ndgradient.__version__} from {Path(ndgradient.__file__).parent}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("NDGRADIENT_EXPECT_INSTALLED") == "1":
        location = Path(ndgradient.__file__).resolve()
        if "site-packages" not in location.parts:
            raise pytest.UsageError(f"expected an installed ndgradient, got {location}")
