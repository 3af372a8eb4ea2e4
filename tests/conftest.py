"""Hypothesis profiles, the --runslow option, and which ndgradient is under test.

Hypothesis profiles, chosen by NDGRADIENT_HYPOTHESIS_PROFILE, else by CI:

- "default" (no variable, CI unset): 120 examples per property, derandomized. Each property
  draws the same examples on every machine and every run (for one version of Hypothesis,
  Python and the test's source), and no example database is read or written, so that
  ``python -m pytest -q`` gives the same counts on a fresh clone as on the tenth run.
- "ci" (CI=true or CI=1, as GitHub Actions sets): the same, with 200 examples.
- "explore": 120 random examples per property, a new draw every run; failures are saved in
  the example database (``.hypothesis/``) and replayed first next time, and reported with the
  ``@reproduce_failure`` blob. For local and soak runs, to find what the fixed draw misses.
- "thorough": "explore" with 3000 examples per property.

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
# Hypothesis's own defaults, which every profile starts from. (A profile's parent is otherwise
# the loaded one, which is ours once "default" is registered: "explore" would inherit its
# missing database.)
_hypothesis_defaults = settings.get_profile("default")
# The same examples everywhere, and nothing remembered between runs.
_fixed = {"derandomize": True, "database": None, **_common}
_random = {"derandomize": False, "print_blob": True, **_common}
for _name, _examples, _kind in [
    ("default", 120, _fixed),
    ("ci", 200, _fixed),
    ("explore", 120, _random),
    ("thorough", 3000, _random),
]:
    settings.register_profile(_name, parent=_hypothesis_defaults, max_examples=_examples, **_kind)
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
