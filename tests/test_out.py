"""out=: results written into given arrays are NumPy's values (cast safely), checked first."""

from __future__ import annotations

import warnings
from typing import Any

import hypothesis.strategies as st
import ndgradient
import numpy as np
import pytest
from _oracle import reference
from hypothesis import given, note
from test_differential import NATIVE, calls, laid_out

SENTINEL = 12345


def _expected_list(f: Any, *varargs: Any, **kwargs: Any) -> list[np.ndarray]:
    result = reference(f, *varargs, **kwargs)
    return list(result) if isinstance(result, tuple) else [result]


def _same_values(got: np.ndarray, expected: np.ndarray) -> None:
    """``got`` holds ``expected`` cast to ``got``'s dtype: equal values, NaN positions and
    zero signs (exact for every float width, longdouble padding bytes aside)."""
    cast = expected.astype(got.dtype)
    assert got.shape == cast.shape
    if got.dtype.kind not in "fc":
        assert np.array_equal(got, cast)
        return
    assert np.array_equal(got, cast, equal_nan=True), (got, cast)
    for part in (np.real, np.imag):
        # Zero signs count; NaN signs are not guaranteed (see "Differences from NumPy").
        numbers = ~np.isnan(part(got))
        assert np.array_equal(np.signbit(part(got))[numbers], np.signbit(part(cast))[numbers])


@st.composite
def out_dtypes(draw: st.DrawFn, result: np.dtype[Any]) -> np.dtype[Any]:
    """The result's dtype (either byte order) or a dtype it casts to safely."""
    wider = [d for d in (np.float16, np.float32, np.float64, np.complex64, np.complex128,
                         np.longdouble) if np.can_cast(result, d, "safe")]  # fmt: skip
    dtype = np.dtype(draw(st.sampled_from([result, result, *wider])))
    return dtype.newbyteorder() if draw(st.booleans()) else dtype


@given(calls(dtypes=NATIVE, max_dims=4), st.data())
def test_out_arrays_get_numpy_values(call: Any, data: st.DataObject) -> None:
    f, varargs, kwargs = call
    try:
        expected = _expected_list(f, *varargs, **kwargs)
    except Exception as err:  # invalid calls: the same exception type with out= as without
        note(f"numpy raised {err!r}")
        dummy = [np.empty(f.shape) for _ in range(max(1, f.ndim))]
        with pytest.raises(type(err)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ndgradient.gradient(f, *varargs, out=dummy[: _count(f, kwargs)], **kwargs)
        return
    stacked = data.draw(st.booleans())
    dtype = data.draw(out_dtypes(expected[0].dtype if expected else np.dtype(np.float64)))
    note(f"out dtype {dtype}, stacked {stacked}")
    if stacked:
        out: Any = np.full((len(expected), *f.shape), SENTINEL, dtype)
        targets = list(out)
    else:
        targets = [data.draw(laid_out(np.full(f.shape, SENTINEL, dtype))) for _ in expected]
        targets = [t if t.flags.writeable else t.copy() for t in targets]
        out = tuple(targets)
    before = f.copy()
    with warnings.catch_warnings():  # NumPy's code path warns as NumPy does
        warnings.simplefilter("ignore")
        result = ndgradient.gradient(f, *varargs, out=out, **kwargs)
    if stacked:
        assert result is out
    elif len(targets) == 1:
        assert result is targets[0]
    else:
        assert isinstance(result, tuple) and all(
            r is t for r, t in zip(result, targets, strict=True)
        )
    for target, value in zip(targets, expected, strict=True):
        _same_values(target, value)
    assert np.array_equal(f, before, equal_nan=f.dtype.kind in "fc")


def _count(f: np.ndarray, kwargs: dict[str, Any]) -> int:
    axis = kwargs.get("axis")
    if axis is None:
        return f.ndim
    return 1 if isinstance(axis, int) else len(axis)


@pytest.mark.parametrize("workers", [1, 2, None])
@pytest.mark.parametrize("order", ["C", "F"])
def test_large_stacked_and_tuple_outputs_on_the_thread_pool(workers: Any, order: str) -> None:
    f = np.asarray(np.random.default_rng(0).standard_normal((700, 600)), order=order)
    x = np.cumsum(np.random.default_rng(1).random(600))
    expected = reference(f, 0.5, x, edge_order=2)
    stacked = np.empty((2, 700, 600))
    ndgradient.gradient(f, 0.5, x, edge_order=2, out=stacked, workers=workers)
    pair = (np.empty((700, 600), order="F"), np.empty((600, 700)).T[::-1, ::-1])
    ndgradient.gradient(f, 0.5, x, edge_order=2, out=pair, workers=workers)
    for i in range(2):
        _same_values(stacked[i], expected[i])
        _same_values(pair[i], expected[i])


def test_one_axis_takes_a_bare_array_and_returns_it() -> None:
    f = np.arange(24.0).reshape(4, 6) ** 2
    target = np.empty((4, 6))
    assert ndgradient.gradient(f, axis=1, out=target) is target
    _same_values(target, reference(f, axis=1))
    stacked = np.empty((1, 4, 6))
    assert ndgradient.gradient(f, axis=-1, out=stacked) is stacked
    _same_values(stacked[0], reference(f, axis=-1))


def test_integer_and_numpy_code_path_dtypes() -> None:
    ints = np.arange(30, dtype=np.int16).reshape(5, 6) ** 2
    pair = (np.empty((5, 6)), np.empty((5, 6), np.longdouble))
    ndgradient.gradient(ints, out=pair)
    for target, value in zip(pair, reference(ints), strict=True):
        _same_values(target, value)
    dates = np.array([0, 5, 7, 20], dtype="datetime64[s]")
    target = np.empty(4, "m8[s]")
    assert ndgradient.gradient(dates, out=target) is target
    _same_values(target, reference(dates))
    objects = np.array([1.0, 4.0, 9.0, 16.0], dtype=object)
    target = np.empty(4, object)
    ndgradient.gradient(objects, out=target)
    assert list(target) == list(reference(objects))
    wide = np.linspace(0, 1, 9, dtype=np.longdouble) ** 3
    target = np.empty(9, np.longdouble)
    ndgradient.gradient(wide, out=target)
    _same_values(target, reference(wide))


def test_no_axes_returns_an_empty_tuple_or_the_empty_stack() -> None:
    assert ndgradient.gradient(np.float64(3.0), out=()) == ()
    empty = np.empty((0, 3))
    assert ndgradient.gradient(np.ones(3), axis=(), out=empty) is empty


def _bad_out_cases() -> list[tuple[str, Any, Any, type[Exception], str]]:
    f = np.random.default_rng(3).standard_normal((6, 5))
    x = np.cumsum(np.ones(5))
    base = np.zeros((2, 6, 5))
    readonly = np.zeros((6, 5))
    readonly.flags.writeable = False
    overlapping = np.lib.stride_tricks.as_strided(np.zeros(40), shape=(6, 5), strides=(8, 8))
    shared = np.zeros((6, 5))
    return [
        ("wrong dtype", f, (np.zeros((6, 5), np.float32), np.zeros((6, 5))), TypeError,
         "casting rule 'safe'"),
        ("int dtype", f, np.zeros((2, 6, 5), np.int64), TypeError, "casting rule 'safe'"),
        ("wrong stack", f, np.zeros((3, 6, 5)), ValueError, "stacked out must have shape"),
        ("wrong shape", f, (np.zeros((6, 5)), np.zeros((5, 6))), ValueError, "input's shape"),
        ("too few", f, (np.zeros((6, 5)),), ValueError, "one array per differentiated axis"),
        ("one array", f, np.zeros((6, 5)), ValueError, "sequence of 2 arrays"),
        ("not arrays", f, ([0.0] * 5,) * 2, TypeError, "must be a numpy.ndarray"),
        ("a string", f, "out", TypeError, "must be an ndarray or a sequence"),
        ("read-only", f, (np.zeros((6, 5)), readonly), ValueError, "read-only"),
        ("self overlap", f, (overlapping, np.zeros((6, 5))), ValueError, "share memory"),
        ("same twice", f, (shared, shared), ValueError, "shares memory with out[0]"),
        ("is the input", f, (f, np.zeros((6, 5))), ValueError, "shares memory with the input"),
        ("views the input", base[0], (base[1], base[0][::-1]), ValueError, "the input f"),
        ("masked", f, (np.ma.zeros((6, 5)), np.zeros((6, 5))), TypeError, "masked"),
        ("spacing", np.zeros((6, 5)), (np.zeros((6, 5)), x), ValueError, "input's shape"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "f", "out", "error", "message"), _bad_out_cases(), ids=lambda v: str(v)[:20]
)
def test_bad_out_is_refused_before_anything_is_written(
    name: str, f: np.ndarray, out: Any, error: type[Exception], message: str
) -> None:
    given = [out] if isinstance(out, np.ndarray) else list(out)
    arrays = [o for o in given if isinstance(o, np.ndarray)]
    before = [a.copy() for a in arrays]
    f_before = f.copy()
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        ndgradient.gradient(f, out=out)
    for a, b in zip(arrays, before, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(f, f_before)


def test_out_sharing_memory_with_a_coordinate_array_is_refused() -> None:
    buffer = np.zeros((3, 8))
    x = buffer[0]
    x[:] = np.arange(8.0)
    f = np.arange(8.0) ** 2
    with pytest.raises(ValueError, match="shares memory with a spacing array"):
        ndgradient.gradient(f, x, out=buffer[0:1])
    np.testing.assert_array_equal(x, np.arange(8.0))


def test_out_with_masked_input_or_overrides_is_a_type_error() -> None:
    masked = np.ma.masked_array(np.arange(5.0), mask=[0, 1, 0, 0, 0])
    with pytest.raises(TypeError, match="masked result"):
        ndgradient.gradient(masked, out=np.empty(5))

    class Override:
        def __array_function__(self, *args: Any) -> Any:
            return "override"

    with pytest.raises(TypeError, match="__array_function__"):
        ndgradient.gradient(Override(), out=np.empty(5))


def test_numpy_errors_still_come_first() -> None:
    with pytest.raises(np.exceptions.AxisError):
        ndgradient.gradient(np.ones((3, 3)), axis=2, out="not checked yet")
    with pytest.raises(ValueError, match="too small"):
        ndgradient.gradient(np.ones(2), edge_order=2, out=np.empty(2))
