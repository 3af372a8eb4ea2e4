"""tests/conftest.py's Hypothesis profiles: the default and CI runs draw the same examples on
every machine and every run; "explore" and "thorough" draw new ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

TESTS = Path(__file__).parent


@pytest.mark.parametrize("name", ["default", "ci"])
def test_default_and_ci_profiles_are_fixed(name: str) -> None:
    profile = settings.get_profile(name)
    assert profile.derandomize
    assert profile.database is None  # no example remembered from an earlier run


@pytest.mark.parametrize("name", ["explore", "thorough"])
def test_exploring_profiles_draw_new_examples_and_remember_failures(name: str) -> None:
    profile = settings.get_profile(name)
    assert not profile.derandomize
    assert profile.database is not None


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, (True, 120)),
        ({"CI": "true"}, (True, 200)),
        ({"CI": "1"}, (True, 200)),
        ({"NDGRADIENT_HYPOTHESIS_PROFILE": "explore"}, (False, 120)),
        ({"CI": "true", "NDGRADIENT_HYPOTHESIS_PROFILE": "thorough"}, (False, 3000)),
    ],
    ids=["unset", "CI=true", "CI=1", "explore", "thorough-over-CI"],
)
def test_the_environment_chooses_the_profile(
    environment: dict[str, str], expected: tuple[bool, int]
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NDGRADIENT_HYPOTHESIS_PROFILE")}
    code = (
        "import conftest; from hypothesis import settings; "
        "print(settings.default.derandomize, settings.default.max_examples)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=TESTS,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(value) for value in expected]
