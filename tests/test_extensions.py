"""periodic=, period= and accuracy=: exactness on polynomials, convergence order, NumPy's
arithmetic where it applies (bit for bit), findiff agreement, and clear errors."""

from __future__ import annotations

import math
import warnings
from typing import Any

import hypothesis.strategies as st
import ndgradient
import numpy as np
import pytest
from _oracle import assert_identical, reference, silenced
from hypothesis import given
from test_differential import COMPLEX, FLOATS, INTEGERS, laid_out

ACCURACIES = [2, 4, 6, 8]
# Sum of |c| over the one-sided first-derivative coefficients of each accuracy.
FORWARD_WEIGHT_SUMS = {2: 8 / 2, 4: 128 / 12, 6: 1664 / 60, 8: 65536 / 840}


def _poly(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """A polynomial of the given degree with all coefficients 1/(k+1), and its derivative."""
    f = sum(x**k / (k + 1) for k in range(degree + 1))
    d = sum(k * x ** (k - 1) / (k + 1) for k in range(1, degree + 1))
    return np.asarray(f, dtype=np.float64), np.asarray(d, dtype=np.float64)


@pytest.mark.parametrize("accuracy", [4, 6, 8])
def test_uniform_stencils_are_exact_for_polynomials_up_to_their_order(accuracy: int) -> None:
    x = np.linspace(-1.0, 1.5, 21)
    f, d = _poly(x, accuracy)
    got = ndgradient.gradient(f, x[1] - x[0], accuracy=accuracy)
    np.testing.assert_allclose(got, d, rtol=1e-9, atol=1e-9)  # interior and edges
    f, _ = _poly(x, accuracy + 1)  # one degree more is not exact any more
    assert not np.allclose(
        ndgradient.gradient(f, x[1] - x[0], accuracy=accuracy),
        _poly(x, accuracy + 1)[1],
        rtol=1e-9,
        atol=1e-9,
    )


@pytest.mark.parametrize("accuracy", [4, 6, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coordinate_stencils_are_exact_for_polynomials(accuracy: int, seed: int) -> None:
    x = np.cumsum(np.random.default_rng(seed).uniform(0.05, 0.2, 25)) - 1.5
    f, d = _poly(x, accuracy)
    np.testing.assert_allclose(
        ndgradient.gradient(f, x, accuracy=accuracy), d, rtol=1e-8, atol=1e-8
    )


@pytest.mark.parametrize("accuracy", ACCURACIES)
def test_periodic_stencils_are_exact_for_trigonometric_polynomials(accuracy: int) -> None:
    # A stencil of accuracy p differentiates sin(k t), cos(k t) exactly on the grid only in
    # the limit; what it does exactly is the p-th order accurate derivative, so check against
    # the stencil's own symbol: the derivative of exp(i k t) is i k_eff exp(i k t).
    n = 32
    t = np.arange(n) * (2 * np.pi / n)
    h = t[1]
    for k in (1, 3):
        f = np.sin(k * t)
        half = accuracy // 2
        weights = _central_weights(accuracy)
        k_eff = (
            sum(
                w * math.sin(j * k * h)
                for j, w in zip(range(-half, half + 1), weights, strict=True)
            )
            / h
        )
        np.testing.assert_allclose(
            ndgradient.gradient(f, h, periodic=True, accuracy=accuracy),
            k_eff * np.cos(k * t),
            atol=1e-12,
        )
        x = t + 0.0  # the same grid as coordinates, with its period
        np.testing.assert_allclose(
            ndgradient.gradient(f, x, periodic=True, period=2 * np.pi, accuracy=accuracy),
            k_eff * np.cos(k * t),
            atol=1e-12,
        )


def _central_weights(accuracy: int) -> list[float]:
    table = {
        2: ([-1, 0, 1], 2),
        4: ([1, -8, 0, 8, -1], 12),
        6: ([-1, 9, -45, 0, 45, -9, 1], 60),
        8: ([3, -32, 168, -672, 0, 672, -168, 32, -3], 840),
    }
    c, den = table[accuracy]
    return [v / den for v in c]


def test_periodic_nonuniform_coordinates_are_exact_for_polynomials_on_the_wrapped_grid() -> None:
    # On a periodic axis the stencil sees x extended by the period: a polynomial of the
    # unwrapped positions is not periodic, so test with the wrap far from the output points
    # used: the interior points whose windows do not wrap.
    x = np.cumsum(np.random.default_rng(4).uniform(0.1, 0.3, 30))
    for accuracy in [4, 6, 8]:
        f, d = _poly(x, accuracy)
        got = ndgradient.gradient(
            f, x, periodic=True, period=x[-1] - x[0] + 0.2, accuracy=accuracy
        )
        half = accuracy // 2
        np.testing.assert_allclose(got[half:-half], d[half:-half], rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize(
    ("accuracy", "periodic"),
    # (2, False) is NumPy's own stencil, whose edges follow edge_order instead.
    [(p, periodic) for p in ACCURACIES for periodic in (False, True) if p > 2 or periodic],
)
def test_measured_convergence_order_matches_the_accuracy(accuracy: int, periodic: bool) -> None:
    errors = []
    sizes = [24, 48]
    for n in sizes:
        if periodic:
            t = np.arange(n) * (2 * np.pi / n)
            f, d = np.exp(np.sin(t)), np.cos(t) * np.exp(np.sin(t))
        else:
            t = np.linspace(0.0, 1.0, n)
            f, d = np.exp(np.sin(3 * t)), 3 * np.cos(3 * t) * np.exp(np.sin(3 * t))
        got = ndgradient.gradient(f, t[1] - t[0], periodic=periodic, accuracy=accuracy)
        errors.append(np.abs(got - d).max())
    order = math.log2(errors[0] / errors[1])
    assert accuracy - 0.7 < order < accuracy + 1.5, (errors, order)


# -- NumPy's arithmetic where it applies -------------------------------------------------


@st.composite
def periodic_calls(draw: st.DrawFn) -> tuple[np.ndarray, int, Any, Any]:
    dtype = draw(st.sampled_from(FLOATS + COMPLEX + INTEGERS))
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(3, 9), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.standard_normal(shape) * 10
    if np.dtype(dtype).kind == "c":
        values = values + 1j * rng.standard_normal(shape)
    f = draw(laid_out(values.astype(dtype)))
    axis = draw(st.integers(-ndim, ndim - 1))
    n = shape[axis]
    kind = draw(st.sampled_from(["none", "float", "coords", "uniform coords", "int coords"]))
    if kind == "none":
        return f, axis, (), None
    if kind == "float":
        return f, axis, (draw(st.sampled_from([0.5, 2.0, -1.25, 3])),), None
    if kind == "int coords":
        x = np.cumsum(rng.integers(1, 5, n))
        return f, axis, (x,), float(x[-1] - x[0] + rng.integers(1, 5))
    # Dyadic coordinates and period: every step is exact, so the wrap step
    # period - (x[-1] - x[0]) is also what NumPy gets from the padded coordinates.
    uniform = kind == "uniform coords"
    steps = np.full(n, 2) if uniform else rng.integers(1, 9, n)
    x = (np.cumsum(steps) / 8).astype(draw(st.sampled_from([np.float64, np.float32])))
    wrap = 0.25 if uniform else int(rng.integers(1, 9)) / 8
    return f, axis, (x,), float(x[-1] - x[0]) + wrap


@given(periodic_calls())
def test_periodic_accuracy_two_is_numpy_on_the_wrapped_array(call: Any) -> None:
    """Bit for bit: NumPy's gradient of the array padded by one wrapped cell on each side,
    with the coordinates extended by the period, then trimmed."""
    f, axis, varargs, period = call
    padded = np.concatenate([np.take(f, [-1], axis), f, np.take(f, [0], axis)], axis=axis)
    spacing: tuple[Any, ...] = varargs
    if varargs and isinstance(varargs[0], np.ndarray):
        x = varargs[0]
        if x.dtype.kind in "iu":
            x = x.astype(np.float64)
        extended = np.concatenate(
            [[x[-1] - x.dtype.type(period)], x, [x[0] + x.dtype.type(period)]]
        ).astype(x.dtype)
        spacing = (extended,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference(padded, *spacing, axis=axis)
    expected = np.take(expected, np.arange(1, f.shape[axis] + 1), axis)
    kwargs: dict[str, Any] = {"axis": axis, "periodic": True}
    if period is not None:
        kwargs["period"] = period
    got = silenced(f, *varargs, **kwargs)
    # NumPy's output dtype for f itself (byte order included); values compared natively.
    assert got.dtype == (np.dtype(np.float64) if f.dtype.kind in "iu" else f.dtype)
    native = got.astype(got.dtype.newbyteorder("="))
    assert_identical(np.ascontiguousarray(native), np.ascontiguousarray(expected))


def test_accuracy_two_without_periodic_is_numpys_gradient() -> None:
    f = np.random.default_rng(5).standard_normal((20, 30))
    x = np.cumsum(np.random.default_rng(6).random(30))
    assert_identical(
        ndgradient.gradient(f, 0.5, x, accuracy=2, periodic=False, edge_order=2),
        reference(f, 0.5, x, edge_order=2),
    )


@pytest.mark.parametrize("accuracy", [4, 8])
@pytest.mark.parametrize("periodic", [False, True])
def test_every_native_dtype(accuracy: int, periodic: bool) -> None:
    base = np.random.default_rng(7).integers(-50, 50, size=(12, 11))
    expected = ndgradient.gradient(
        base.astype(np.float64), 0.5, accuracy=accuracy, periodic=periodic
    )
    for dtype in INTEGERS:
        values = base.astype(dtype) if np.dtype(dtype).kind == "i" else (base + 50).astype(dtype)
        shift = ndgradient.gradient(
            (values.astype(np.float64)), 0.5, accuracy=accuracy, periodic=periodic
        )
        got = ndgradient.gradient(values, 0.5, accuracy=accuracy, periodic=periodic)
        for g, e in zip(got, shift, strict=True):
            assert g.dtype == np.float64
            assert_identical(g, e)  # integers are converted exactly, then computed in float64
    for dtype, rtol in [(np.float32, 1e-5), (np.float16, 2e-2), (np.complex64, 1e-5),
                        (np.complex128, 1e-12)]:  # fmt: skip
        got = ndgradient.gradient(base.astype(dtype), 0.5, accuracy=accuracy, periodic=periodic)
        for g, e in zip(got, expected, strict=True):
            assert g.dtype == dtype
            np.testing.assert_allclose(g.real.astype(np.float64), e, rtol=rtol, atol=rtol * 50)


def test_complex_parts_are_scaled_separately() -> None:
    real = np.random.default_rng(8).standard_normal(40)
    imag = np.random.default_rng(9).standard_normal(40)
    got = ndgradient.gradient(real + 1j * imag, 0.1, accuracy=6)
    assert_identical(got.real.copy(), ndgradient.gradient(real, 0.1, accuracy=6))
    assert_identical(got.imag.copy(), ndgradient.gradient(imag, 0.1, accuracy=6))
    inf = np.zeros(12, complex)
    inf[5] = complex(np.inf, 0)
    assert not np.isnan(ndgradient.gradient(inf, accuracy=4).imag).any()  # no 0 * inf


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("order", ["C", "F"])
def test_large_arrays_are_the_same_for_every_worker_count(workers: int, order: str) -> None:
    f = np.asarray(np.random.default_rng(10).standard_normal((600, 700)), order=order)
    x = np.cumsum(np.random.default_rng(11).random(700))
    kwargs = {"accuracy": 6, "periodic": [True, False]}
    serial = ndgradient.gradient(f, 0.5, x, workers=1, **kwargs)
    got = ndgradient.gradient(f, 0.5, x, workers=workers, **kwargs)
    for a, b in zip(got, serial, strict=True):
        assert_identical(a, b)
    long = np.random.default_rng(12).standard_normal(300_001)
    assert_identical(
        ndgradient.gradient(long, periodic=True, accuracy=8, workers=workers),
        ndgradient.gradient(long, periodic=True, accuracy=8, workers=1),
    )


def test_options_combine_with_out_axis_and_edge_order() -> None:
    f = np.random.default_rng(13).standard_normal((9, 10, 11))
    x = np.cumsum(np.random.default_rng(14).random(11))
    expected = ndgradient.gradient(f, x, 2.0, axis=(2, 0), accuracy=4, periodic=(False, True))
    stacked = np.empty((2, 9, 10, 11))
    got = ndgradient.gradient(f, x, 2.0, axis=(2, 0), accuracy=4, periodic=(False, True),
                              out=stacked, edge_order=2)  # fmt: skip
    assert got is stacked
    for a, b in zip(stacked, expected, strict=True):
        assert_identical(a, b)


def test_findiff_agrees_within_a_few_ulps() -> None:
    findiff = pytest.importorskip("findiff")
    for accuracy in ACCURACIES:
        for periodic in (False, True):
            if accuracy == 2 and not periodic:
                continue
            n = 64
            t = np.arange(n) * (2 * np.pi / n) if periodic else np.linspace(0, 2, n)
            f = np.exp(np.sin(t)) + 0.1 * t
            h = t[1] - t[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = findiff.Diff(0, h, periodic=periodic, acc=accuracy)(f)
            ours = ndgradient.gradient(f, h, periodic=periodic, accuracy=accuracy)
            # A few ulps of the largest sum of |weight * value| a window can have: the
            # one-sided weights add up to FORWARD_WEIGHT_SUMS[p] / h in magnitude.
            bound = 4 * np.finfo(float).eps * FORWARD_WEIGHT_SUMS[accuracy] / h * np.abs(f).max()
            assert np.abs(ours - theirs).max() <= bound, (accuracy, periodic)


# -- Errors ------------------------------------------------------------------------------


BAD_OPTIONS = [
    ((np.ones(10),), {"accuracy": 3}, ValueError, "accuracy must be 2, 4, 6 or 8"),
    ((np.ones(10),), {"accuracy": 4.0}, TypeError, "accuracy must be an integer"),
    ((np.ones(10),), {"accuracy": True}, TypeError, "accuracy must be an integer"),
    ((np.ones(4),), {"accuracy": 4}, ValueError, "too short for accuracy=4"),
    ((np.ones(8),), {"accuracy": 8, "periodic": True}, ValueError, "at least 9 points"),
    ((np.ones(2),), {"periodic": True}, ValueError, "too short for accuracy=2"),
    ((np.ones((5, 5)),), {"periodic": [True]}, ValueError, "one per differentiated axis"),
    ((np.ones(5),), {"periodic": "yes"}, TypeError, "periodic takes booleans"),
    ((np.ones(5), np.arange(5.0)), {"periodic": True}, ValueError, "give its period="),
    (
        (np.ones(5), np.arange(5.0)),
        {"periodic": True, "period": 3.0},
        ValueError,
        "must exceed the coordinates' extent",
    ),
    (
        (np.ones(5), np.arange(5.0)),
        {"periodic": True, "period": -6.0},
        ValueError,
        "must exceed the coordinates' extent",
    ),
    (
        (np.ones(5), np.arange(5.0)),
        {"periodic": True, "period": np.inf},
        ValueError,
        "must be finite",
    ),
    ((np.ones(5),), {"periodic": True, "period": 5.0}, ValueError, "there are none"),
    ((np.ones(5), np.arange(5.0)), {"period": 6.0}, ValueError, "there are none"),
    (
        (np.ones((5, 6)), np.arange(5.0), np.arange(6.0)),
        {"periodic": [False, True], "period": [6.0, 7.0]},
        ValueError,
        "axis 0 is not periodic",
    ),
    (
        (np.ones((5, 6)), 1.0, np.arange(6.0)),
        {"periodic": True, "period": [5.0, 7.0]},
        ValueError,
        "uniformly spaced",
    ),
    (
        (np.array([1, 2, 3], "datetime64[s]"),),
        {"periodic": True},
        TypeError,
        "computed natively only",
    ),
    ((np.ma.ones(6),), {"accuracy": 4}, TypeError, "computed natively only"),
    (
        (np.ones(6), np.array([1, 2, 3, 4, 5, 6], dtype=np.longdouble)),
        {"accuracy": 4},
        TypeError,
        "computed natively only",
    ),
]


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), BAD_OPTIONS)
def test_bad_options_raise_clear_errors(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        ndgradient.gradient(*args, **kwargs)


def test_a_single_period_serves_the_periodic_coordinate_axes_only() -> None:
    f = np.random.default_rng(15).standard_normal((6, 7, 8))
    x, y = np.cumsum(np.ones(7)), np.cumsum(np.arange(1.0, 9.0))
    got = ndgradient.gradient(f, 0.5, x, y, periodic=[True, True, False], period=7.0)
    per_axis = ndgradient.gradient(f, 0.5, x, y, periodic=[True, True, False],
                                   period=[None, 7.0, None])  # fmt: skip
    for a, b in zip(got, per_axis, strict=True):
        assert_identical(a, b)
    assert_identical(got[2], reference(f, 0.5, x, y)[2])  # the non-periodic axis is NumPy's
    # A 0-d array spacing is a scalar, not coordinates: no period needed.
    ndgradient.gradient(np.arange(6.0), np.array(0.5), periodic=True)


@pytest.mark.parametrize("dx", [np.inf, -np.inf, 1e308, 5e-324, 0.0, np.nan])
@pytest.mark.parametrize("accuracy", [4, 8])
def test_extreme_uniform_spacings_give_values_not_errors(dx: float, accuracy: int) -> None:
    # Found by tests/fuzz_api.py: weights that all round to zero once made the core panic.
    f = np.arange(12.0) ** 2
    with np.errstate(all="ignore"):
        got = ndgradient.gradient(f, dx, accuracy=accuracy)
        ndgradient.gradient(f, dx, accuracy=accuracy, periodic=True)
    assert got.shape == f.shape and got.dtype == f.dtype
    if np.isinf(dx):
        assert (got == 0).all()


def test_bad_period_leaves_out_untouched() -> None:
    f = np.ones((5, 6))
    out = np.full((2, 5, 6), 7.0)
    with pytest.raises(ValueError, match="extent"):
        ndgradient.gradient(
            f, 1.0, np.arange(6.0), periodic=[True, True], period=[None, 2.0], out=out
        )
    assert (out == 7.0).all()


def test_overrides_refuse_extensions() -> None:
    class Override:
        def __array_function__(self, *args: Any) -> Any:
            return "override"

    with pytest.raises(TypeError, match="ndgradient extensions"):
        ndgradient.gradient(Override(), accuracy=4)
