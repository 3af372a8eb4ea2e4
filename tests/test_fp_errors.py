"""NumPy's floating-point error reporting: the same warnings, errors and handler calls.

The core reads the processor's exception flags around its arithmetic; the shim acts on them
as ``np.geterr()`` says, through NumPy's own computation of the call when a flag is set
(``_fperrors.py``). These tests compare what NumPy and ndgradient report, per mode, on every
path (the native common call, the shim's fast and general paths, the thread pool).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import ndgradient
import numpy as np
import pytest
from ndgradient import _gradient

# Calls whose arithmetic raises each of NumPy's errors, and calls that raise none.
SIGNALLING: dict[str, Callable[[Callable[..., Any]], Any]] = {
    "zero NumPy-scalar spacing": lambda g: g(np.array([1.0, 2.0, 4.0]), np.float64(0.0)),
    "zero Python spacing": lambda g: g(np.array([1.0, 2.0, 4.0, 3.0]), 0.0),
    "repeated coordinate": lambda g: g(np.array([1.0, 2.0, 4.0, 3.0]), np.array([0, 1, 1, 2.0])),
    "overflowing difference": lambda g: g(np.array([-1e308, 0.0, 1e308])),
    "infinite difference": lambda g: g(np.array([np.inf, 1.0, np.inf, 2.0])),
    "huge NumPy-scalar spacing": lambda g: g(np.arange(4.0), np.float64(1e308)),
    "float32 overflow": lambda g: g(np.array([-3e38, 0, 3e38], np.float32)),
    "float16 overflow": lambda g: g(np.array([-6e4, 0, 6e4], np.float16), 0.5),
    "complex, zero spacing": lambda g: g(np.array([1 + 1j, 2, 4]), np.float64(0.0)),
    "complex, NaN coordinate": lambda g: g(np.zeros(3, complex), np.array([np.nan, 0, 1])),
    "2-D, second-order edges": lambda g: g(
        np.array([[0.0, 1e308, 1], [1.0, -1e308, 2], [2, 0, 3]]), 1.0, edge_order=2
    ),
    "float16 coordinates": lambda g: g(
        np.array([1.0, 2.0, 5.0, 3.0], np.float16), np.array([0, 1e-4, 2e-4, 1], np.float16)
    ),
}  # fmt: skip
CLEAN: dict[str, Callable[[Callable[..., Any]], Any]] = {
    "clean": lambda g: g(np.array([1.0, 2.0, 4.0])),
    "NaN data": lambda g: g(np.array([np.nan, 2.0, 4.0, np.nan])),
    "infinite data": lambda g: g(np.array([np.inf, 2.0, 4.0, 5.0])),
    "coordinates": lambda g: g(np.arange(5.0) ** 2, np.array([0, 1, 3, 4, 9.0])),
}


def outcome(call: Callable[[Callable[..., Any]], Any], gradient: Callable[..., Any]) -> Any:
    """What ``call`` reports with ``gradient``: its warnings, or the exception it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call(gradient)
        except FloatingPointError as err:
            return ("raised", str(err), [str(w.message) for w in caught])
    return [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize("name", [*SIGNALLING, *CLEAN])
@pytest.mark.parametrize("mode", ["warn", "raise", "ignore"])
def test_reports_what_numpy_reports(name: str, mode: str) -> None:
    call = SIGNALLING.get(name) or CLEAN[name]
    with np.errstate(all=mode):
        expected = outcome(call, np.gradient)
        got = outcome(call, ndgradient.gradient)
    assert got == expected
    if mode == "warn":
        assert bool(expected) == (name in SIGNALLING)


@pytest.mark.parametrize("name", SIGNALLING)
def test_the_handler_is_called_as_numpys(name: str) -> None:
    def calls_of(gradient: Callable[..., Any]) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []
        with np.errstate(all="call", call=lambda kind, flag: seen.append((kind, flag))):
            SIGNALLING[name](gradient)
        return seen

    assert calls_of(ndgradient.gradient) == calls_of(np.gradient)
    assert calls_of(np.gradient)


@pytest.mark.parametrize(
    "options",
    [{"workers": 1}, {"workers": 2}, {"out": "fresh"}, {"axis": 0}],
    ids=["workers=1", "workers=2", "out=", "axis=0"],
)
def test_every_path_reports(options: dict[str, Any]) -> None:
    # Overflow in one element of a large array, far from the first thread's share.
    f = np.linspace(0.0, 1.0, 1 << 20).reshape(1024, 1024)
    f[899, 300], f[901, 300] = -1e308, 1e308
    if options.get("out") == "fresh":
        options = {"out": (np.empty_like(f), np.empty_like(f))}
    with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="overflow"):
        ndgradient.gradient(f, **options)
    with np.errstate(all="warn"), pytest.warns(RuntimeWarning, match="overflow encountered"):
        ndgradient.gradient(f, **options)


def test_the_native_common_call_reports_through_the_shim() -> None:
    # The common call (a Python-number spacing) is computed natively, and handed to the
    # shim when a flag is set.
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
        ndgradient.gradient(np.array([1.0, 2.0, 4.0]), 0.0)
    with ndgradient.patched(), np.errstate(all="raise"), pytest.raises(FloatingPointError):
        np.gradient(np.array([1.0, 2.0, 4.0]), 0.0)


def test_seterr_catches_a_zero_spacing() -> None:
    saved = np.seterr(all="raise")
    try:
        with pytest.raises(FloatingPointError):
            ndgradient.gradient(np.arange(5.0), np.zeros(5))
    finally:
        np.seterr(**saved)


def test_extensions_report_each_category_once() -> None:
    # No NumPy computation of a periodic stencil exists: each raised category is signalled
    # once, by a NumPy operation that raises it.
    f = np.array([1.0, 2.0, 4.0, 3.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ndgradient.gradient(f, 0.0, periodic=True)
    assert [str(w.message) for w in caught] == ["divide by zero encountered in divide"]
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        ndgradient.gradient(f, 0.0, periodic=True)


def test_clean_data_never_runs_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The flags cost nothing per element: NumPy's computation runs only once a flag is set.
    runs: list[Any] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(args)
        return np.gradient(*args, **kwargs)

    monkeypatch.setattr(_gradient, "numpy_gradient", counted)
    for call in CLEAN.values():
        call(ndgradient.gradient)
        call(lambda *a, **k: ndgradient.gradient(*a, **k, workers=1))
    assert runs == []
    with np.errstate(all="ignore"):
        SIGNALLING["zero Python spacing"](lambda *a, **k: ndgradient.gradient(*a, **k, workers=1))
    assert runs == []  # every raised category ignored
    with np.errstate(all="warn"), pytest.warns(RuntimeWarning):
        SIGNALLING["zero Python spacing"](lambda *a, **k: ndgradient.gradient(*a, **k, workers=1))
    assert len(runs) == 1


def test_errors_numpy_ignores_keep_the_native_path() -> None:
    # An underflow (ignored by default) leaves the common call native; with underflow
    # reported it is handed to the shim, which reports it as NumPy does.
    from ndgradient import _core

    def shim(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("handed over")

    f = np.array([0.0, 5e-324j])
    assert _core.gradient(shim, f, 2).tolist() == [0j, 0j]
    with np.errstate(under="raise"), pytest.raises(AssertionError, match="handed over"):
        _core.gradient(shim, f, 2)
    with np.errstate(under="raise"), pytest.raises(FloatingPointError, match="underflow"):
        ndgradient.gradient(f, 2)


def _benign_spacings(n: int, kinds: str) -> list[Any]:
    """Spacings of every form for an axis of ``n`` points, none of whose arithmetic raises a
    floating-point error: distinct coordinates, steps and weights far from the limits."""
    uneven = np.cumsum(np.linspace(0.25, 0.75, n)) + 1
    spacings: list[Any] = [1.0, 0.7, np.float64(0.7), np.float32(0.7), np.float16(0.7)]
    for dtype in ("float64", "float32", "float16", "int64", "uint8"):
        spacings.append((np.arange(n) * 3 + 1).astype(dtype))  # uniform coordinates
        if kinds == "all" or dtype != "uint8":
            spacings.append((uneven * (4 if dtype[0] in "iu" else 1)).astype(dtype))
    return spacings


BENIGN_DTYPES = ["float64", "float32", "float16", "complex128", "complex64", "int16", "uint8"]


@pytest.mark.parametrize("dtype", BENIGN_DTYPES)
def test_clean_data_raises_no_flag(monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    # The core's flags are the processor's, raised by whatever code the compiler made: a
    # vector lane it fills with padding and divides, or a conversion it computes before the
    # branch that needs it, raises errors no operation of the call did. On data whose
    # arithmetic raises nothing, nothing may be reported, and NumPy never runs again; with
    # every error set to raise, a spurious flag of an extension (which NumPy cannot
    # reproduce) is a FloatingPointError.
    runs: list[Any] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append((args, kwargs))
        return np.gradient(*args, **kwargs)

    monkeypatch.setattr(_gradient, "numpy_gradient", counted)
    rng = np.random.default_rng(3)
    calls: list[tuple[np.ndarray, tuple[Any, ...], dict[str, Any]]] = []
    # Up to a whole piece for wide vectors and a remainder (longer float16 coordinates are
    # not benign: NumPy underflows).
    for n in (3, 5, 8, 9, 17, 40, 70):
        values = rng.standard_normal((n, 7)) * 10
        f2 = (np.abs(values) if dtype == "uint8" else values).astype(dtype)
        for f in (f2[:, 0].copy(), f2, np.asfortranarray(f2)):
            for spacing in _benign_spacings(n, "all"):
                rest = () if f.ndim == 1 else (1.0,)
                for edge_order in (1, 2):
                    calls.append((f, (spacing, *rest), {"edge_order": edge_order}))
                calls.append((f, (spacing,), {"axis": 0}))
                for accuracy in (4, 6):
                    if n > accuracy:
                        calls.append((f, (spacing,), {"axis": 0, "accuracy": accuracy}))
                if not isinstance(spacing, np.ndarray) or spacing.dtype != np.uint8:
                    # A wrap step like the others (a long one makes float16 weights tiny).
                    x = spacing if isinstance(spacing, np.ndarray) else None
                    period = None if x is None else float(x[-1]) - float(x[0]) + 1.0
                    calls.append((f, (spacing,), {"axis": 0, "periodic": True, "period": period}))
        calls.append((f2, (), {}))
    flagged = []
    with np.errstate(all="raise"):
        for f, args, kwargs in calls:
            if not {"accuracy", "periodic"} & kwargs.keys():
                np.gradient(f, *args, **kwargs)  # raises nothing: the data is clean
            for workers in (1, 2):
                try:
                    ndgradient.gradient(f, *args, **kwargs, workers=workers)
                except FloatingPointError as err:
                    runs.append(str(err))
                if runs:
                    layout = "F" if f.flags.f_contiguous and f.ndim > 1 else "C"
                    spacing = [getattr(a, "dtype", type(a).__name__) for a in args]
                    flagged.append((f.shape, layout, spacing, kwargs, workers))
                    runs.clear()
    assert flagged == []
