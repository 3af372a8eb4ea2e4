"""The docstring examples run as doctests, so the documentation cannot drift from behaviour."""

import doctest

import ndgradient._gradient


def test_gradient_docstring_examples() -> None:
    result = doctest.testmod(
        ndgradient._gradient, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted >= 10
    assert result.failed == 0
