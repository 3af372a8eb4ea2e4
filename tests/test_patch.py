"""patch_numpy / unpatch_numpy / patched: numpy.gradient resolves to ndgradient, then back."""

import threading
from collections.abc import Iterator
from typing import Any

import ndgradient
import ndgradient._patch
import numpy as np
import pytest
from _oracle import assert_identical

ORIGINAL = np.gradient


@pytest.fixture(autouse=True)
def _restore_numpy() -> Iterator[None]:
    yield
    np.gradient = ORIGINAL  # whatever a failing test left behind


def test_patch_and_unpatch_restore_the_very_same_function() -> None:
    ndgradient.patch_numpy()
    assert np.gradient is ndgradient.gradient
    ndgradient.patch_numpy()  # idempotent: the original is still what comes back
    ndgradient.unpatch_numpy()
    assert np.gradient is ORIGINAL
    ndgradient.unpatch_numpy()  # unpatching twice does nothing
    assert np.gradient is ORIGINAL


def test_patched_gives_numpy_results_through_ndgradient() -> None:
    f = np.random.default_rng(0).standard_normal((30, 40))
    x = np.cumsum(np.random.default_rng(1).random(40))
    expected = ORIGINAL(f, 0.5, x, edge_order=2)
    with ndgradient.patched():
        assert np.gradient is ndgradient.gradient
        got = np.gradient(f, 0.5, x, edge_order=2)
    assert np.gradient is ORIGINAL
    assert_identical(got, expected)


def test_patched_restores_on_exception_and_nests() -> None:
    with pytest.raises(RuntimeError), ndgradient.patched():
        with ndgradient.patched():
            assert np.gradient is ndgradient.gradient
        assert np.gradient is ndgradient.gradient  # the inner block left the outer's patch
        raise RuntimeError
    assert np.gradient is ORIGINAL


def test_patched_keeps_an_earlier_explicit_patch() -> None:
    ndgradient.patch_numpy()
    with ndgradient.patched():
        pass
    assert np.gradient is ndgradient.gradient
    ndgradient.unpatch_numpy()
    assert np.gradient is ORIGINAL


def test_unpatch_restores_a_third_party_replacement() -> None:
    def other(*args: object, **kwargs: object) -> object:
        return ORIGINAL(*args, **kwargs)

    np.gradient = other
    with ndgradient.patched():
        assert np.gradient is ndgradient.gradient
    assert np.gradient is other


def test_patched_blocks_in_threads_overlap_safely() -> None:
    inside = threading.Barrier(8)
    seen: list[bool] = []

    def worker() -> None:
        with ndgradient.patched():
            inside.wait(timeout=30)
            seen.append(np.gradient is ndgradient.gradient)
            inside.wait(timeout=30)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seen == [True] * 8
    assert np.gradient is ORIGINAL


def test_overrides_still_reach_their_own_implementation_when_patched() -> None:
    # __array_function__ dispatch must hand overriding types NumPy's own function object.
    class Wrapped:
        def __init__(self, data: np.ndarray) -> None:
            self.data = data

        def __array_function__(self, func, types, args, kwargs):  # type: ignore[no-untyped-def]
            return ("override", func is ORIGINAL)

    with ndgradient.patched():
        assert np.gradient(Wrapped(np.arange(3.0))) == ("override", True)


def test_xarray_differentiate_unchanged_when_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    xr = pytest.importorskip("xarray")
    calls = []

    def counting_gradient(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return ndgradient.gradient(*args, **kwargs)

    monkeypatch.setattr(ndgradient._patch, "gradient", counting_gradient)
    rng = np.random.default_rng(2)
    da = xr.DataArray(
        rng.standard_normal((20, 30)),
        dims=("y", "x"),
        coords={"x": np.cumsum(rng.random(30)), "y": np.arange(20.0) * 0.5},
    )
    expected = da.differentiate("x", edge_order=2)
    with ndgradient.patched():
        got = da.differentiate("x", edge_order=2)
    assert calls, "xarray did not go through the patched numpy.gradient"
    assert got.identical(expected)
    assert_identical(got.values, expected.values)
