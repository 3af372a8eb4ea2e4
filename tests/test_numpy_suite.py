"""NumPy's own published gradient tests, run with ndgradient.gradient in place of numpy.gradient.

The test class is imported from the installed NumPy (``numpy/lib/tests``) and subclassed, so
its methods run unchanged; a fixture swaps ``gradient`` in that module, and ``np.gradient``
itself, for ndgradient's.
"""

import ndgradient
import numpy as np
import pytest

numpy_tests = pytest.importorskip("numpy.lib.tests.test_function_base")


@pytest.fixture(autouse=True)
def _ndgradient_in_place_of_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numpy_tests, "gradient", ndgradient.gradient)
    monkeypatch.setattr(np, "gradient", ndgradient.gradient)


class TestNumpyGradientWithNdgradient(numpy_tests.TestGradient):  # type: ignore[misc]
    """Every ``TestGradient`` method from NumPy's suite, run against ndgradient."""

    def test_the_swap_is_in_effect(self) -> None:
        assert numpy_tests.gradient is ndgradient.gradient
        assert np.gradient is ndgradient.gradient
