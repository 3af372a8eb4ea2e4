"""patch_numpy / unpatch_numpy / patched: numpy.gradient resolves to ndgradient, then back."""

import importlib.util
import inspect
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ndgradient
import ndgradient._patch
import numpy as np
import pytest
from _oracle import assert_identical
from numpy.testing.overrides import allows_array_function_override

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


class Tabled:
    """An ``__array_function__`` type whose handlers sit in a dict keyed by the NumPy function
    they serve, as astropy's ``FUNCTION_HELPERS`` do: the key is whatever ``np.gradient`` was
    when the table was built."""

    def __init__(self, data: np.ndarray, handlers: dict[Any, Callable[..., Any]]) -> None:
        self.data = data
        self.handlers = handlers

    def __array_function__(self, func, types, args, kwargs):  # type: ignore[no-untyped-def]
        handler = self.handlers.get(func)
        if handler is None:
            return NotImplemented  # NumPy then raises TypeError
        return handler(func, *args, **kwargs)


def _unwrapping(func: Any, f: Tabled, *varargs: Any, **kwargs: Any) -> Any:
    """A handler that calls the function it was given on the plain data."""
    return ("handled", func(f.data, *varargs, **kwargs))


def test_an_override_table_built_before_the_patch_serves_it() -> None:
    handlers = {np.gradient: _unwrapping}
    data = np.arange(6.0) ** 2
    with ndgradient.patched():
        tag, got = np.gradient(Tabled(data, handlers), 0.5)
    assert tag == "handled"
    assert_identical(got, ORIGINAL(data, 0.5))


def test_an_override_table_built_while_patched_serves_it_then_and_after() -> None:
    data = np.arange(6.0) ** 2
    with ndgradient.patched():
        handlers = {np.gradient: _unwrapping}  # keyed by ndgradient's function
        assert np.gradient(Tabled(data, handlers), 0.5)[0] == "handled"
    # NumPy's own function, restored, finds the handler registered under ndgradient's.
    assert np.gradient is ORIGINAL
    tag, got = np.gradient(Tabled(data, handlers), 0.5)
    assert tag == "handled"
    assert_identical(got, ORIGINAL(data, 0.5))


def test_a_type_without_a_handler_gets_numpys_type_error() -> None:
    with ndgradient.patched(), pytest.raises(TypeError, match="no implementation found"):
        np.gradient(Tabled(np.arange(3.0), {}))


def test_numpy_lists_the_patched_function_as_overridable() -> None:
    assert allows_array_function_override(ORIGINAL)
    assert allows_array_function_override(ndgradient.gradient)
    with ndgradient.patched():
        assert allows_array_function_override(np.gradient)
        assert {np.gradient} == {ORIGINAL}  # sets of NumPy functions keep one gradient


def test_ndgradient_gradient_still_behaves_as_a_function() -> None:
    g = ndgradient.gradient
    assert pickle.loads(pickle.dumps(g)) is g  # by name, as functions are pickled
    assert (g.__module__, g.__name__, g.__qualname__) == ("ndgradient", "gradient", "gradient")
    assert g.__doc__ is not None and g.__doc__.startswith("\n    Differentiate sampled values")
    assert "workers" in inspect.signature(g).parameters

    class Samples:
        # Bound as a method when stored on a class, as functions (NumPy's too) are.
        derivative = g

        def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
            return np.arange(4.0) ** 2

    assert Samples().derivative().tolist() == [1.0, 2.0, 4.0, 5.0]
    assert g != np.add and g in {ORIGINAL: 1}


@pytest.mark.skipif(importlib.util.find_spec("astropy") is None, reason="needs astropy")
@pytest.mark.parametrize("patch_first", [True, False])
def test_astropy_quantities_in_either_import_order(patch_first: bool) -> None:
    # A fresh interpreter, since astropy registers its helpers once, when it is imported.
    steps = ["import astropy.units as u", "ndgradient.patch_numpy()"]
    code = "\n".join(
        [
            "import warnings, numpy as np, ndgradient",
            "from numpy.testing.overrides import allows_array_function_override",
            *(reversed(steps) if patch_first else steps),
            "assert np.gradient is ndgradient.gradient",
            # Astropy warns, then runs NumPy's code, for a function it does not know.
            "warnings.simplefilter('error')",
            "print(np.gradient(np.arange(4.0) * u.m, 10.0 * u.s))",
            "print(allows_array_function_override(np.gradient))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[0.1 0.1 0.1 0.1] m / s", "True"]


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
