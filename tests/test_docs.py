"""The docstring examples run as doctests, so the documentation cannot drift from behaviour."""

import doctest
import importlib.util
from types import ModuleType

import ndgradient._gradient
import ndgradient._patch
import ndgradient.xarray
import pytest


@pytest.mark.parametrize(
    ("module", "minimum"),
    [
        (ndgradient._gradient, 10),
        (ndgradient._patch, 6),
        (ndgradient._pool, 2),
        pytest.param(
            ndgradient.xarray,
            5,
            # Importing ndgradient.xarray does not import xarray; its examples do.
            marks=pytest.mark.skipif(
                importlib.util.find_spec("xarray") is None, reason="needs xarray"
            ),
        ),
    ],
)
def test_docstring_examples(module: ModuleType, minimum: int) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted >= minimum
    assert result.failed == 0
