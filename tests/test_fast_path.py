"""The native path and the shortcut of `gradient` are the general path for the calls they take.

``ndgradient.gradient`` enters the core first (``_core.gradient``), which computes the common
call (a plain C- or Fortran-contiguous array of a native dtype, no spacing, one Python number
or one NumPy scalar, NumPy's stencil) without running the shim, and hands every other call to
the Python implementation; that one takes the same kind of call (Python numbers only), in
any layout, through a shortcut of `general_gradient`'s steps. Here each is called with the
same arguments as the general path, bad ones included (axes too short, out of range or
repeated, bad workers, bad edge orders, spacings whose coefficients raise): the same values,
dtype, layout and container, or the same exception type and message. The native path never
raises for a bad argument: it hands the call over, so NumPy's exceptions keep their order.
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import hypothesis.strategies as st
import ndgradient
import numpy as np
import pytest
from _oracle import assert_identical, silenced
from _oracle import reference as numpy_reference
from hypothesis import given, note
from ndgradient import _core, _gradient
from ndgradient._rules import core_dtype, is_native_data, numpy_scalar_plan, resolve_workers
from test_differential import NATIVE, elements, laid_out, shapes

_PYTHON_SPACINGS = [1, 2, 0, -1, 10**400, True, False, 0.5, -0.0, 0.0, 1e-310, 1e308]
_PYTHON_SPACINGS += [-2.5, math.inf, -math.inf, math.nan, 2**54 + 2**30 + 1, -(2**80)]
# NumPy scalars: the native path takes them (its spacing values from the shim's rules), the
# shortcut hands them over.
_NUMPY_SPACINGS = [np.float64(0.5), np.float32(3.0), np.int8(2), np.bool_(True)]
_NUMPY_SPACINGS += [np.float64(-0.0), np.float16(0.1), np.float16(60000.0), np.uint64(2**64 - 1)]
_NUMPY_SPACINGS += [np.float32(np.inf), np.float64(np.nan), np.int16(0), np.float64(1e-310)]
# Exact types: a subclass may override the arithmetic of NumPy's expressions.
_NUMPY_SCALAR_TYPES = {np.dtype(c).type for c in "?bhilqBHILQefd"}
_WORKERS = [None, None, None, 1, 2, -1, 0, -(10**6), 1025, 2**64, 1.5, "2"]


class _LeftTheFastPath(Exception):
    """Raised when a call that should take the shortcut reached `general_gradient`."""


@st.composite
def calls(draw: st.DrawFn) -> tuple[np.ndarray, tuple[Any, ...], dict[str, Any]]:
    dtype = np.dtype(draw(st.sampled_from(NATIVE)))
    shape = draw(shapes(max_dims=3))
    values = draw(st.lists(elements(dtype), min_size=math.prod(shape), max_size=math.prod(shape)))
    f = draw(laid_out(np.array(values, dtype=dtype).reshape(shape)))
    spacings = [(), *((dx,) for dx in _PYTHON_SPACINGS + _NUMPY_SPACINGS), (1.0, 2.0)]
    spacing = draw(st.sampled_from(spacings))
    ndim = f.ndim
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-ndim - 1, ndim),
            st.lists(st.integers(-ndim - 1, ndim), max_size=3).map(tuple),
            st.sampled_from([1.5, "0"]),
        )
    )
    kwargs = {
        "axis": axis,
        "edge_order": draw(st.sampled_from([1, 2, 1, 2, 0, 3])),
        "workers": draw(st.sampled_from(_WORKERS)),
    }
    note(f"f {f.dtype.str} {f.shape} {f.strides}, varargs {spacing}, {kwargs}")
    return f, spacing, kwargs


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except _LeftTheFastPath:
        raise
    except Exception as exc:  # the type and message are what is compared
        return "raise", (type(exc), str(exc))


def _general(f: np.ndarray, varargs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _gradient.general_gradient(
        f, varargs, kwargs["axis"], kwargs["edge_order"], kwargs["workers"], None, False, None, 2
    )


@given(calls())
def test_fast_path_matches_the_general_path(
    call: tuple[np.ndarray, tuple[Any, ...], dict[str, Any]],
) -> None:
    f, varargs, kwargs = call
    takes_shortcut = (
        f.dtype.isnative
        and kwargs["edge_order"] in (1, 2)
        and (not varargs or (len(varargs) == 1 and type(varargs[0]) in (int, float, bool)))
    )
    if takes_shortcut:
        with mock.patch.object(_gradient, "general_gradient", side_effect=_LeftTheFastPath):
            fast = _outcome(ndgradient.gradient, f, *varargs, **kwargs)
    else:
        fast = _outcome(ndgradient.gradient, f, *varargs, **kwargs)
    general = _outcome(_general, f, varargs, kwargs)
    assert fast[0] == general[0], (fast, general)
    if fast[0] == "raise":
        assert fast[1] == general[1]
    else:
        assert_identical(fast[1], general[1], strict_nan=True)


class _NotTaken(Exception):
    """Raised by the implementation the native path hands a call over to."""


def _hand_over(*args: Any, **kwargs: Any) -> Any:
    raise _NotTaken


def _native(f: Any, *varargs: Any, **kwargs: Any) -> Any:
    """The native path's result, or None where it hands the call over."""
    try:
        return _core.gradient(_hand_over, f, *varargs, **kwargs)
    except _NotTaken:
        return None


def _native_takes(f: np.ndarray, varargs: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether the native path must take a call (one that NumPy computes without raising).

    It may hand over the spacings whose arithmetic Python refuses, even where NumPy has no
    axis to use them on: ints beyond float64 and, with second-order edges, zero; and those
    whose values raise a floating-point error (``2. * 1e308``), which the shim then reports
    as NumPy does (not at all if NumPy never uses the value).
    """
    axis, edge_order = kwargs["axis"], kwargs["edge_order"]
    dx = varargs[0] if len(varargs) == 1 else 1.0
    return (
        type(f) is np.ndarray
        and f.dtype.isnative
        and not _spacing_raises(f, dx, edge_order)
        and (f.flags.c_contiguous or f.flags.f_contiguous)
        and len(varargs) <= 1
        and (_python_number_taken(dx, edge_order) or _numpy_scalar_taken(f, dx))
        and _workers_valid(kwargs["workers"])
        and type(edge_order) is int
        and (
            axis is None
            or type(axis) is int
            or (type(axis) is tuple and all(type(a) is int for a in axis))
        )
    )


def _workers_valid(workers: Any) -> bool:
    """Whether the shim's rule accepts ``workers``."""
    try:
        resolve_workers(workers)
    except (TypeError, ValueError):
        return False
    return True


def _spacing_raises(f: np.ndarray, dx: Any, edge_order: Any) -> bool:
    """Whether computing the spacing's values for the core raises a floating-point error."""
    if edge_order not in (1, 2) or not is_native_data(f.dtype):
        return False
    code = core_dtype(f.dtype).char
    if type(dx) in (int, float, bool):
        if abs(dx) >= 2**1024 or (edge_order == 2 and dx == 0):
            return False
        return _core.python_number_spacing(float(dx), code, edge_order)[3] != 0
    plan = numpy_scalar_plan(dx, code, edge_order)
    return plan is not None and plan[1][3] != 0


def _python_number_taken(dx: Any, edge_order: Any) -> bool:
    return (
        type(dx) in (int, float, bool)
        and not (type(dx) is int and abs(dx) >= 2**1024)
        and not (edge_order == 2 and dx == 0)
    )


def _numpy_scalar_taken(f: np.ndarray, dx: Any) -> bool:
    # Complex data with a spacing whose ``2. * dx`` promotes further than ``dx`` (np.int8:
    # float64) goes to NumPy's code path: its one-sided edges divide in another type.
    if type(dx) not in _NUMPY_SCALAR_TYPES:
        return False
    data = np.float64 if f.dtype.kind in "iu" else f.dtype
    with np.errstate(all="ignore"):
        twice_dx = 2.0 * dx
    return f.dtype.kind != "c" or np.result_type(data, dx) == np.result_type(data, twice_dx)


def _assert_fresh(result: Any) -> None:
    """Ordinary new arrays: own their data, no base, writeable and aligned."""
    for a in result if isinstance(result, tuple) else (result,):
        assert a.base is None and a.flags.owndata
        assert a.flags.writeable and a.flags.aligned


@given(calls())
def test_native_path_matches_the_general_path(
    call: tuple[np.ndarray, tuple[Any, ...], dict[str, Any]],
) -> None:
    f, varargs, kwargs = call
    native = _native(f, *varargs, **kwargs)
    general = _outcome(_general, f, varargs, kwargs)
    if native is None:
        assert general[0] == "raise" or not _native_takes(f, varargs, kwargs), general
        return
    assert general[0] == "ok", general  # the native path never computes what NumPy refuses
    assert_identical(native, general[1], strict_nan=True)
    _assert_fresh(native)


def test_native_path_takes_explicit_defaults_and_hands_over_the_rest() -> None:
    f = np.arange(12.0).reshape(3, 4) ** 2
    taken: list[dict[str, Any]] = [
        {},
        {"workers": None, "out": None, "periodic": False, "period": None, "accuracy": 2},
        {"axis": 0, "edge_order": 2},
        {"axis": (-1, 0)},
        {"axis": ()},
        {"workers": 1},
        {"workers": -1, "axis": 1},
        {"workers": np.int64(2)},
    ]
    for kwargs in taken:
        assert_identical(_native(f, **kwargs), _general(f, (), {**_DEFAULTS, **kwargs}))
    handed_over: list[dict[str, Any]] = [
        {"workers": 0},
        {"workers": 1.5},
        {"workers": 1025},
        {"workers": "2"},
        {"accuracy": 2.0},
        {"periodic": np.False_},
        {"period": 1.0},
        {"out": np.empty_like(f)},
        {"edge_order": True},
        {"edge_order": 2.0},
        {"axis": [0]},
        {"axis": np.int64(0)},
        {"axis": (0, 0)},
        {"axis": 2},
        {"bogus": 1},
    ]
    for kwargs in handed_over:
        assert _native(f, **kwargs) is None, kwargs
    assert _native(f, 1.0, 2.0) is None  # one spacing per axis
    assert _native(f, 1j) is None
    for dx in (np.complex128(1.0), np.longdouble(1.0), np.array(1.0), np.datetime64(1, "s")):
        assert _native(f, dx) is None, dx
    assert _native(f, type("Sub", (np.float64,), {})(1.0)) is None
    assert _native(f.astype(np.complex64), np.int8(2)) is None  # see `_numpy_scalar_taken`
    assert_identical(_native(f, np.float64(1.0)), _general(f, (np.float64(1.0),), _DEFAULTS))
    assert _native(f, 10**400) is None  # Python's OverflowError, from the Python path
    assert _native(np.arange(3.0), 0, edge_order=2) is None  # Python's ZeroDivisionError
    assert _native(np.arange(3.0), 0.5, edge_order=1) is not None
    # A floating-point error NumPy would report (here a division by zero): handed over.
    assert _native(np.arange(3.0), 0.0, edge_order=1) is None
    assert _native(f[:, ::2]) is None  # neither C- nor Fortran-contiguous
    assert _native(f.astype(">f8")) is None
    assert _native(f.view(type("Sub", (np.ndarray,), {}))) is None
    assert _native(f.tolist()) is None
    for dtype in (bool, object, np.longdouble, "M8[s]", "m8[s]", np.clongdouble):
        assert _native(np.zeros(4, dtype)) is None, dtype
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        ndgradient.gradient(f, bogus=1)
    assert_identical(ndgradient.gradient(f=f), _general(f, (), _DEFAULTS))


_DEFAULTS: dict[str, Any] = {"axis": None, "edge_order": 1, "workers": None}


def test_native_path_writes_out_arrays_that_need_no_cast() -> None:
    # The arrays given are filled and returned as the shim returns them; anything the shim
    # would cast, copy, slice or refuse is handed over (and then gives the shim's answer).
    f = np.arange(12.0).reshape(3, 4) ** 2
    both = _general(f, (), _DEFAULTS)
    pair = (np.full_like(f, np.nan), np.asfortranarray(np.full_like(f, np.nan)))
    for out in (pair, list(pair)):
        got = _native(f, out=out)
        assert type(got) is tuple and all(g is o for g, o in zip(got, out, strict=True))
        assert_identical(got[0], both[0])
        assert_identical(np.ascontiguousarray(got[1]), both[1])  # written in Fortran order
    for axis, out in ((1, np.empty_like(f)), (0, [np.empty_like(f)]), (-1, (np.empty_like(f),))):
        got = _native(f, axis=axis, out=out)
        assert got is (out if isinstance(out, np.ndarray) else out[0])
        assert_identical(got, _general(f, (), {**_DEFAULTS, "axis": axis}))
    assert _native(f, axis=(), out=()) == ()
    # Stacked: one array whose first axis holds the outputs, returned itself, as the shim does.
    for axis, count in ((None, 2), (0, 1), ((1, 0), 2)):
        for order in ("C", "F"):
            # A Fortran-ordered stack of one holds one contiguous array; of two, strided ones.
            stacked = np.full((count, *f.shape), np.nan, order=order)
            got = _native(f, axis=axis, out=stacked)
            if order == "F" and count > 1:
                assert got is None
                continue
            assert got is stacked, (axis, order)
            general = _general(f, (), {**_DEFAULTS, "axis": axis})
            expected = np.stack([general] if count == 1 else list(general))
            assert_identical(np.ascontiguousarray(got), expected)
    ints = np.arange(12, dtype=np.int16).reshape(3, 4) ** 2
    got = _native(ints, 2.0, out=[np.empty(f.shape), np.empty(f.shape)])
    assert_identical(got, _general(ints, (2.0,), _DEFAULTS))
    f32 = f.astype(np.float32)  # an np.float64 spacing computes in float64, writes float32
    got = _native(f32, np.float64(0.1), axis=0, out=np.empty_like(f32))
    assert_identical(got, _general(f32, (np.float64(0.1),), {**_DEFAULTS, "axis": 0}))

    read_only = np.empty_like(f)
    read_only.flags.writeable = False
    unaligned = np.frombuffer(bytearray(8 * 12 + 1), np.float64, 12, offset=1).reshape(3, 4)
    same = np.empty_like(f)
    wide = np.empty((3, 8))
    handed_over: list[tuple[Any, Any]] = [
        (None, np.empty((3, 3, 4))),  # stacked, one array too many: the shim's ValueError
        (0, np.empty((2, 3, 4))),  # stacked, one too many for one axis
        (None, np.empty((2, 4, 3))),  # stacked, each of the wrong shape
        (None, np.empty((2, 3, 8))[:, :, ::2]),  # stacked, not contiguous
        (None, np.empty((2, 3, 4), np.float32)),  # stacked, a cast
        (None, np.empty((2, 3, 4)).view(type("Sub", (np.ndarray,), {}))),  # a subclass
        (None, np.broadcast_to(np.empty((1, 3, 4)), (2, 3, 4))),  # read-only, overlapping
        (None, (np.empty(f.shape, np.float32), np.empty_like(f))),  # a cast
        (None, (np.empty(f.shape, np.complex128), np.empty_like(f))),  # a safe cast
        (None, (np.empty(f.shape, ">f8"), np.empty_like(f))),
        (1, read_only),
        (1, unaligned),
        (1, f),  # the input itself
        (None, (same, same)),
        (1, wide[:, ::2]),  # not contiguous
        (1, wide[:, :4]),  # not contiguous either
        (1, np.empty((4, 3))),
        (None, (np.empty_like(f),)),  # one array for two axes
        (1, np.ma.masked_all(f.shape)),
        (1, np.empty_like(f).view(type("Sub", (np.ndarray,), {}))),
        (1, [np.empty_like(f).tolist()]),
        (1, {"out": np.empty_like(f)}),
    ]
    for axis, out in handed_over:
        assert _native(f, axis=axis, out=out) is None, out
        kwargs = {**_DEFAULTS, "axis": axis, "out": out}
        full = _outcome(ndgradient.gradient, f, **kwargs)
        shim = _outcome(_gradient.gradient, f, **kwargs)
        assert full[0] == shim[0] and (full[0] == "ok" or full[1] == shim[1]), (out, full)
    # Overlapping views of one buffer, found by address (no common base object needed).
    memory = np.empty(2 * f.size + 1)
    first, second = memory[: f.size].reshape(f.shape), memory[1 : f.size + 1].reshape(f.shape)
    assert _native(f, out=(first, second)) is None
    apart = memory[f.size + 1 :].reshape(f.shape)
    assert_identical(_native(f, out=(first, apart)), both)


def test_native_layouts_are_numpys() -> None:
    # np.empty_like keeps C or Fortran order; a both-contiguous input gives C order; integer
    # input gives float64 outputs in the input's order.
    cases = [
        np.arange(24.0).reshape(2, 3, 4),
        np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)),
        np.asfortranarray(np.arange(24, dtype=np.int16).reshape(4, 6)),
        np.arange(6.0).reshape(6, 1),
        np.asfortranarray(np.arange(6.0).reshape(1, 6)),
        # C-contiguous with an odd stride on its length-1 axis, which NumPy's output drops
        np.lib.stride_tricks.as_strided(np.arange(4.0), (2, 1, 2), (16, 1000, 8)),
        np.zeros((3, 0)),
        np.ones((), np.float32),
    ]
    for f in cases:
        axis = tuple(i for i, n in enumerate(f.shape) if n > 1)  # the axes long enough
        native = _native(f, axis=axis)
        assert native is not None, f.shape
        assert_identical(native, numpy_reference(f, axis=axis))
        _assert_fresh(native)


def test_a_huge_python_int_spacing_rounds_through_float64_as_numpy_does() -> None:
    # 2**54 + 2**30 + 1 rounds to 2**54 + 2**30 in float64, a tie that float32 rounds to
    # even (2**54); rounded directly it would give 2**54 + 2**31.
    dx = 2**54 + 2**30 + 1
    for dtype in (np.float32, np.float16, np.complex64, np.float64):
        f = np.arange(6.0, dtype=dtype) * 3
        for edge_order in (1, 2):
            expected = numpy_reference(f, dx, edge_order=edge_order)
            assert_identical(silenced(f, dx, edge_order=edge_order), expected)
            if dtype == np.float16:
                # The spacing overflows float16, which NumPy reports: handed over.
                assert _native(f, dx, edge_order=edge_order) is None
            else:
                assert_identical(_native(f, dx, edge_order=edge_order), expected)


def test_native_numpy_scalar_spacings_are_numpys() -> None:
    # Every scalar type with every data dtype: NumPy's promotion (float32 data with an
    # np.float64 spacing computes in float64), its zero signs, and its errors, which NumPy
    # reports (handed over) unless ignored (taken). The plans are remembered: each value is
    # asked twice, and -0.0 right after 0.0.
    values = [0.5, 0.0, -0.0, 3.0, 1e-3, 60000.0, np.inf, np.nan]
    real = np.concatenate([np.arange(7.0) ** 2, np.arange(7.0) * 5])
    for dtype in ("f8", "f4", "f2", "c16", "c8", "i8", "u1"):
        f = (real + 1j * real[::-1] if dtype[0] == "c" else real).astype(dtype)
        for kind in _NUMPY_SCALAR_TYPES:
            for dx in _scalars(kind, values):
                for edge_order in (1, 2, 1):
                    expected = numpy_reference(f, dx, edge_order=edge_order)
                    with np.errstate(all="ignore"):
                        native = _native(f, dx, edge_order=edge_order)
                    case = (dtype, repr(dx), edge_order)
                    if not _numpy_scalar_taken(f, dx):
                        assert native is None, case
                        continue
                    assert native is not None, case
                    assert_identical(native, expected, strict_nan=True)
                    noisy = _native(f, dx, edge_order=edge_order) is None
                    assert noisy == bool(_numpy_errors(f, dx, edge_order)), case


def _scalars(kind: type[np.generic], floats: list[float]) -> list[np.generic]:
    """Values of a scalar type: ``floats`` for a float type, zero, one, three and both ends
    for an integer type, both for bool."""
    dtype = np.dtype(kind)
    if dtype.kind == "f":
        with np.errstate(all="ignore"):
            return [kind(value) for value in floats]
    if dtype.kind == "b":
        return [kind(False), kind(True)]
    info = np.iinfo(dtype)
    return [kind(value) for value in (0, 1, 3, info.min, info.max)]


def _numpy_errors(f: np.ndarray, dx: Any, edge_order: int) -> list[str]:
    """The floating-point errors NumPy's own computation reports by default (underflow is
    ignored)."""
    errors: list[str] = []
    with np.errstate(all="call", under="ignore", call=lambda kind, _: errors.append(kind)):
        np.gradient(f, dx, edge_order=edge_order)
    return errors


def test_a_too_short_axis_is_reported_before_bad_workers() -> None:
    # NumPy's errors come before ndgradient's own, on both paths (the shortcut once checked
    # workers first).
    for f in (np.ones(1), [1.0]):
        for workers in (0, 1.5):
            try:
                ndgradient.gradient(f, workers=workers)
            except ValueError as exc:
                assert "too small" in str(exc)
            else:
                raise AssertionError("no error")
