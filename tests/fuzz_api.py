"""Fuzz harness for the Python API: malformed and odd arguments against numpy.gradient.

Run it (not collected by pytest: its name does not start with ``test_``)::

    python tests/fuzz_api.py --minutes 10

Hypothesis draws calls of ``ndgradient.gradient``: ragged nested lists, strings, bytes, dicts,
None, objects, 0-d and 32-dimensional arrays, bool, structured, datetime, object, string and
longdouble arrays, odd layouts and byte orders; spacings of every kind (coordinates of the
wrong length, 2-D ones, NaN, inf, 0); huge, negative, float, repeated and tuple axes; odd
``edge_order`` and ``workers`` values; and the extension keywords ``out=`` (wrong shapes,
dtypes, read-only, overlapping), ``periodic=``, ``period=`` and ``accuracy=``.

The property, for each call (``check``):

* ndgradient never crashes the interpreter (a crash ends the run; ``faulthandler`` prints where),
  never hangs (a call over ``HANG_SECONDS`` ends the run with a traceback), never lets a Rust
  panic or other non-``Exception`` escape, and never modifies its inputs (nor ``out=`` when it
  raises);
* with NumPy-compatible arguments only (and a valid ``workers``), ndgradient and
  ``numpy.gradient`` both raise, ndgradient's exception being NumPy's type or a subclass, or
  both return identical results (``_oracle.assert_identical``). The documented difference: an
  ``edge_order`` other than 1 or 2 makes ndgradient raise ValueError whatever NumPy does;
* an invalid ``workers`` (0, beyond -CPUs or the shim's cap, not an integer) makes ndgradient
  raise ValueError or TypeError, or NumPy's exception where NumPy raises;
* with extension keywords, ndgradient either raises NumPy's exception for the NumPy-compatible
  part, or raises ValueError/TypeError naming the extension, or returns: then NumPy returns
  too, and where the stencil is NumPy's the values are NumPy's (``out=`` arrays hold NumPy's
  result cast to their dtype, and are what is returned); well-formed ``out=`` arrays of a safe
  dtype are never refused. Calls with extension keywords are also made without them, where
  the strict comparison above applies.

Failures are grouped by kind; the first example of each is printed (``--save DIR`` also
pickles it as ``(f, varargs, kwargs)``), and the exit status is 1 if there was any.
"""

from __future__ import annotations

import argparse
import faulthandler
import math
import operator
import pickle
import re
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ndgradient
from _oracle import assert_identical

__all__ = ["CALLS", "HANG_SECONDS", "KNOWN_ISSUES", "Call", "Failure", "calls", "check"]

# A single call taking longer than this is a hang (the arrays here are tiny).
HANG_SECONDS = 60.0

_EXTENSIONS = ("out", "periodic", "period", "accuracy")
# What an error about an extension keyword names.
_EXTENSION_MESSAGE = re.compile(
    r"\bout\b|out\[|accuracy|period|extension|natively|masked result|casting rule|"
    r"shares memory|read-only|overlapping"
)
_EDGE_ORDER_MESSAGE = "edge_order must be 1 or 2"
# The most workers the shim accepts.
_MAX_WORKERS: int = ndgradient._rules.MAX_WORKERS

# Findings of this harness not fixed yet, as (name, predicate on the call and the Failure's
# text), e.g. ("short name", lambda call, text: "PanicException" in text). The fuzz run
# reports them apart from new failures; the pytest smoke test tolerates them so that CI stays
# green meanwhile. Remove an entry once its fix lands. Findings so far: tests/FUZZING.md.
KNOWN_ISSUES: list[tuple[str, Any]] = []  # all fixed so far: see tests/FUZZING.md


# ------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------

_OMIT = object()  # a keyword left out of the call

_SPECIAL_FLOATS = [0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 5e-324, 1e308, -1e300]
_NATIVE_DTYPES = ["f8", "f4", "f2", "c16", "c8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@st.composite
def _layout(draw: st.DrawFn, a: np.ndarray) -> np.ndarray:
    """``a``'s values in another memory layout or byte order (a view where possible)."""
    kind = draw(st.integers(0, 6))
    if kind == 1 and a.ndim >= 2:
        return np.ascontiguousarray(a.T).T  # Fortran order
    if kind == 2 and a.ndim >= 1:
        flipped = np.ascontiguousarray(np.flip(a, axis=0))
        return np.flip(flipped, axis=0)  # negative stride
    if kind == 3 and a.ndim >= 1:
        wide = np.zeros((a.shape[0] * 2, *a.shape[1:]), dtype=a.dtype)
        wide[::2] = a
        return wide[::2]  # strided
    if kind == 4 and a.dtype.kind in "fciu" and a.dtype.itemsize > 1:
        return a.astype(a.dtype.newbyteorder())  # non-native byte order
    if kind == 5 and a.ndim >= 2:
        perm = draw(st.permutations(range(a.ndim)))
        return np.ascontiguousarray(a.transpose(perm)).transpose(np.argsort(perm))
    return a


def _native_arrays() -> st.SearchStrategy[np.ndarray]:
    arrays = hnp.arrays(
        dtype=st.sampled_from(_NATIVE_DTYPES).map(np.dtype),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6),
    )
    return arrays.flatmap(_layout)


@st.composite
def _thirty_two_dims(draw: st.DrawFn) -> np.ndarray:
    shape = [1] * 32
    for position in draw(st.lists(st.integers(0, 31), max_size=4)):
        shape[position] = 2
    if draw(st.booleans()) and draw(st.integers(0, 7)) == 0:
        shape[draw(st.integers(0, 31))] = 0
    size = math.prod(shape)
    dtype = draw(st.sampled_from(["f8", "f4", "i4", "c16"]))
    return np.arange(size, dtype=dtype).reshape(shape)


@st.composite
def _zero_d(draw: st.DrawFn) -> Any:
    x = draw(st.floats() | st.sampled_from(_SPECIAL_FLOATS))
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return np.array(x)
    if kind == 1:
        return _quiet(np.float32, x)
    if kind == 2:
        return x
    if kind == 3:
        return draw(st.integers(-(2**70), 2**70))
    if kind == 4:
        return complex(x, 1.0)
    return np.array(draw(st.integers(-5, 5)), dtype="i2")


@st.composite
def _odd_arrays(draw: st.DrawFn) -> Any:
    n = draw(st.integers(0, 6))
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return draw(hnp.arrays(np.bool_, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)))
    if kind == 1:
        structured = np.dtype([("a", "f8"), ("b", "i4")])
        return np.zeros((n,), dtype=structured)
    if kind == 2:
        unit = draw(st.sampled_from(["s", "ms", "D", "ns"]))
        a = np.arange(n, dtype="i8").astype(f"M8[{unit}]")
        if n and draw(st.booleans()):
            a[draw(st.integers(0, n - 1))] = np.datetime64("NaT")
        return a
    if kind == 3:
        return (np.arange(n, dtype="i8") * draw(st.integers(-3, 3))).astype("m8[s]")
    if kind == 4:
        values = draw(
            st.lists(
                st.floats(allow_nan=False, width=32) | st.integers(-100, 100),
                min_size=n,
                max_size=n,
            )
        )
        return np.array(values, dtype=object)
    if kind == 5:
        pool = [1.0, 2, Fraction(1, 3), Decimal("1.5"), None, "x", 3 + 1j]
        return np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)), object)
    if kind == 6:
        return np.array(["a", "bc", "d"][: n % 4])
    if kind == 7:
        return np.array([b"a", b"b", b"c"][: n % 4])
    if kind == 8:
        return np.arange(n, dtype=np.longdouble) ** 2
    if kind == 9:
        return (np.arange(n) * (1 + 1j)).astype(np.clongdouble)
    if kind == 10:
        data = np.arange(float(max(n, 1) * 3)).reshape(-1, 3)
        return np.ma.masked_array(data, mask=data % 4 == 0)
    return np.asmatrix(np.arange(float(max(n, 1) * 2)).reshape(-1, 2))


_RAGGED = [
    [[1.0, 2.0], [3.0]],
    [[1], [2, 3], []],
    [1.0, [2.0, 3.0]],
    [[[1.0, 2.0]], [[3.0]]],
    [[1.0, 2.0, 3.0], [4.0, 5.0]],
    [[1, 2, 3], "abc"],
    [None, 1.0, 2.0],
    [1.0, "2", 3.0],
    [[1.0, 2.0], None],
]


@st.composite
def _python_objects(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 13))
    if kind == 0:
        return draw(st.sampled_from(_RAGGED))
    if kind == 1:  # well-formed nested lists
        rows = draw(st.integers(1, 4))
        cols = draw(st.integers(1, 5))
        values = st.floats(allow_nan=True) | st.integers(-(2**40), 2**40)
        return [draw(st.lists(values, min_size=cols, max_size=cols)) for _ in range(rows)]
    if kind == 2:
        return draw(st.lists(st.floats() | st.integers(-50, 50), max_size=8))
    if kind == 3:
        return tuple(draw(st.lists(st.integers(-(2**63), 2**64 - 1), max_size=6)))
    if kind == 4:
        return draw(st.text(max_size=5))
    if kind == 5:
        return draw(st.binary(max_size=5))
    if kind == 6:
        return None
    if kind == 7:
        return object()
    if kind == 8:
        return draw(st.sampled_from([{}, {"a": 1}, {1: 2.0}]))
    if kind == 9:
        return {1.0, 2.0}
    if kind == 10:
        return range(draw(st.integers(0, 6)))
    if kind == 11:
        return Ellipsis
    if kind == 12:
        return [[1.0, 2.0], [3.0, 4.0]] if draw(st.booleans()) else [[]]
    return memoryview(b"\x01\x02\x03\x04")


def _data() -> st.SearchStrategy[Any]:
    return st.one_of(
        _native_arrays(),
        _native_arrays(),
        _native_arrays(),
        _thirty_two_dims(),
        _zero_d(),
        _odd_arrays(),
        _python_objects(),
    )


def _guess(f: Any, axis: Any) -> tuple[tuple[int, ...] | None, tuple[int, ...]]:
    """The shape of ``f`` and its differentiated axes, where NumPy would make sense of them."""
    try:
        a = _quiet(np.asanyarray, f)
        axes = tuple(range(a.ndim)) if axis is None or axis is _OMIT else None
        if axes is None:
            axes = np.lib.array_utils.normalize_axis_tuple(axis, a.ndim)
        return a.shape, tuple(axes)
    except Exception:
        return None, ()


_AXES = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([2**63, -(2**70), 2**31, -(2**31) - 1, 1.5, 1.0, True, "0", None]),
    st.lists(st.integers(-5, 5), max_size=4).map(tuple),
    st.lists(st.integers(-3, 3), max_size=3),
    st.sampled_from([(0, 0), (0, -1), (), [], np.int64(1), np.array([0, 1]), (1.5,), (0, None)]),
)


@st.composite
def _scalar_spacing(draw: st.DrawFn) -> Any:
    x = draw(st.floats() | st.sampled_from(_SPECIAL_FLOATS))
    kind = draw(st.integers(0, 14))
    if kind <= 3:
        return x
    if kind == 4:
        return draw(st.integers(-3, 3) | st.sampled_from([2**70, -(2**63), 2**1100]))
    if kind == 5:
        return draw(st.booleans())
    if kind == 6:
        return _quiet(np.float32, x)
    if kind == 7:
        return _quiet(np.float16, x)
    if kind == 8:
        return np.int8(draw(st.integers(-128, 127)))
    if kind == 9:
        return np.uint64(draw(st.integers(0, 2**64 - 1)))
    if kind == 10:
        return np.array(x)
    if kind == 11:
        return np.complex128(complex(x, 1.0))
    if kind == 12:
        return np.longdouble(3)
    if kind == 13:
        return np.bool_(draw(st.booleans()))
    return draw(st.sampled_from([None, "1", object(), [], b"2", np.datetime64(1, "s")]))


@st.composite
def _coordinates(draw: st.DrawFn, n: int) -> Any:
    """Coordinates for an axis of ``n`` points, sometimes of another length or dimension."""
    if draw(st.integers(0, 9)) == 0:
        n = max(0, n + draw(st.sampled_from([-2, -1, 1, 2])))
    kind = draw(st.integers(0, 6))
    if kind == 0:
        step = draw(st.sampled_from([1.0, 0.5, -2.0, 0.0, 0.1, math.inf, math.nan]))
        x = np.arange(n) * step
    elif kind == 1:
        x = np.array(
            draw(st.lists(st.floats() | st.sampled_from(_SPECIAL_FLOATS), min_size=n, max_size=n)),
            dtype=float,
        )
    elif kind == 2:
        steps = draw(st.lists(st.floats(0.01, 10.0), min_size=n, max_size=n))
        x = np.cumsum(np.array(steps, dtype=float))
    elif kind == 3:
        x = np.array(draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)))
    elif kind == 4:
        x = np.sort(np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n))))
    elif kind == 5:
        return draw(st.lists(st.floats(-10, 10) | st.integers(-10, 10), min_size=n, max_size=n))
    else:
        return np.arange(float(n * 2)).reshape(n, 2) if n else np.zeros((0, 2))
    dtype = draw(
        st.sampled_from(["f8", "f8", "f4", "f2", "i4", "u1", "i8", "?", "c16", "O", ">f8", "g"])
    )
    x = _quiet(x.astype, dtype)
    if draw(st.booleans()) and x.ndim == 1 and n:
        wide = np.zeros(2 * n, dtype=x.dtype)
        wide[::2] = x
        x = wide[::2]
    return x


@st.composite
def _varargs(draw: st.DrawFn, shape: tuple[int, ...] | None, axes: tuple[int, ...]) -> tuple:
    count = draw(st.sampled_from([0, 0, 1, len(axes), len(axes), len(axes) + 1, 2]))
    varargs = []
    for i in range(count):
        if shape is not None and i < len(axes) and draw(st.booleans()):
            varargs.append(draw(_coordinates(shape[axes[i]])))
        else:
            varargs.append(draw(_scalar_spacing()))
    return tuple(varargs)


_EDGE_ORDERS = st.sampled_from(
    [1, 2, 1, 2, 0, 3, -1, 1.5, 0.5, None, "1", True, False, 2.0, np.int8(2), np.float64(1.0)]
)
_WORKERS = st.sampled_from(
    [None, 1, 2, -1, 0, -100, 2**40, 1.5, "2", True, np.int64(2), -(2**70), 2**70, -2, []]
)
_PERIODIC = st.sampled_from(
    [False, True, [True, False], (True,), (1, 0), "yes", None, np.bool_(True), np.array([True])]
)
_PERIOD = st.sampled_from(
    [None, 4.0, 0.0, -1.0, math.nan, math.inf, 1e300, [None, 5.0], (6.0,), "x", np.float32(9)]
)
_ACCURACY = st.sampled_from(
    [2, 4, 6, 8, 0, 3, 5, 10, -2, 4.0, 2.0, True, "4", None, np.int64(4), 2**63, (4,)]
)


@st.composite
def _out(draw: st.DrawFn, f: Any, shape: tuple[int, ...] | None, count: int) -> tuple[Any, bool]:
    """An ``out=`` value and whether it is well-formed for the guessed shape and count."""
    if shape is None:
        return draw(st.sampled_from([np.zeros(3), "abc", 3, [None]])), False
    dtype = draw(st.sampled_from(["f8", "f8", "f4", "c16", "i8", "f2", "c8", ">f8"]))

    def fresh(s: tuple[int, ...] = shape) -> np.ndarray:
        return np.full(s, -7.0).astype(dtype) if math.prod(s) else np.zeros(s, dtype)

    kind = draw(st.integers(0, 12))
    if kind <= 2:
        return fresh((count, *shape)), True
    if kind <= 4:
        return [fresh() for _ in range(count)], True
    if kind == 5:
        if count == 1:
            return fresh(), True
        return fresh(), False
    if kind == 6:
        return (fresh(), fresh(), fresh())[: count + draw(st.sampled_from([-1, 1]))], False
    if kind == 7:
        bad = (*shape, 1) if draw(st.booleans()) else (count + 1, *shape)
        return fresh(bad), False
    if kind == 8:
        stacked = fresh((count, *shape))
        stacked.flags.writeable = False
        return stacked, False
    if kind == 9 and isinstance(f, np.ndarray):
        return ([f] + [fresh() for _ in range(count - 1)]) if count else f, False
    if kind == 10 and count >= 2:
        shared = fresh()
        return [shared] * count, False
    if kind == 11 and math.prod(shape) > 1:
        base = np.zeros(1, dtype=dtype)
        zero_strides = np.lib.stride_tricks.as_strided(
            base, shape=shape, strides=(0,) * len(shape), writeable=True
        )
        return [zero_strides] * count if count != 1 else zero_strides, False
    if kind == 12:
        return draw(st.sampled_from(["abc", 3, [None], {}, np.ma.zeros(shape)])), False
    return fresh((count, *shape)).transpose(0, *range(len(shape), 0, -1)), False


@dataclass
class Call:
    """One drawn call: ``ndgradient.gradient(f, *varargs, **kwargs)``."""

    f: Any
    varargs: tuple[Any, ...]
    kwargs: dict[str, Any]
    out_well_formed: bool = False
    notes: list[str] = field(default_factory=list)

    def numpy_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in self.kwargs.items() if k in ("axis", "edge_order")}

    def __repr__(self) -> str:
        parts = [_describe(self.f), *(_describe(v) for v in self.varargs)]
        parts += [f"{k}={_describe(v)}" for k, v in self.kwargs.items()]
        return f"gradient({', '.join(parts)})"


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        with np.printoptions(threshold=24, edgeitems=2, linewidth=200, floatmode="unique"):
            text = " ".join(repr(value).split())
        return (
            f"{text} [{type(value).__name__} dtype={value.dtype.str} shape={value.shape} "
            f"strides={value.strides} writeable={value.flags.writeable}]"
        )
    if isinstance(value, list | tuple) and any(isinstance(v, np.ndarray) for v in value):
        inner = ", ".join(_describe(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner},)"
    return repr(value)


@st.composite
def calls(draw: st.DrawFn) -> Call:
    """A call of ``ndgradient.gradient`` with odd or malformed arguments."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # making odd arrays warns (NaN * 0, casts)
        return _draw_call(draw)


def _draw_call(draw: st.DrawFn) -> Call:
    f = draw(_data())
    kwargs: dict[str, Any] = {}
    axis = draw(st.just(_OMIT) | _AXES)
    if axis is not _OMIT:
        kwargs["axis"] = axis
    shape, axes = _guess(f, axis)
    varargs = draw(_varargs(shape, axes))
    for name, values in (("edge_order", _EDGE_ORDERS), ("workers", _WORKERS)):
        if draw(st.booleans()):
            kwargs[name] = draw(values)
    well_formed = False
    if draw(st.integers(0, 3)) == 0:
        kwargs["out"], well_formed = draw(_out(f, shape, len(axes)))
    for name, values in (("periodic", _PERIODIC), ("period", _PERIOD), ("accuracy", _ACCURACY)):
        if draw(st.integers(0, 4)) == 0:
            kwargs[name] = draw(values)
    return Call(f, varargs, kwargs, well_formed)


# ------------------------------------------------------------------------------------------
# The property
# ------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    value: Any = None  # the result, or the exception


# ndgradient calls made so far.
CALLS = [0]


def _attempt(fn: Any, *args: Any, **kwargs: Any) -> Outcome:
    if fn is ndgradient.gradient:
        CALLS[0] += 1
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        return Outcome(True, _quiet(fn, *args, **kwargs))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a Rust panic (PanicException) is a BaseException
        return Outcome(False, exc)
    finally:
        faulthandler.cancel_dump_traceback_later()


class Failure(Exception):
    """A violation of the property: ``kind`` groups it, the message explains it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def _name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"


def _edge_order_is_valid(edge_order: Any) -> bool:
    try:
        return bool(edge_order == 1 or edge_order == 2)
    except Exception:
        return False


def _workers_is_valid(workers: Any) -> bool:
    if workers is None:
        return True
    try:
        count = operator.index(workers)
    except TypeError:
        return False
    cpus = ndgradient._core.available_cpus()
    resolved = count if count > 0 else cpus + 1 + count
    # A positive count up to the shim's cap, or a negative one down to -CPUs.
    return count != 0 and 1 <= resolved <= _MAX_WORKERS


def _neutral_extensions(kwargs: dict[str, Any]) -> bool:
    """Whether the extension keywords given ask for nothing beyond numpy.gradient."""
    try:
        accuracy_two = bool(kwargs.get("accuracy", 2) == 2)
    except Exception:
        return False
    return (
        kwargs.get("out") is None
        and kwargs.get("periodic", False) is False
        and kwargs.get("period") is None
        and accuracy_two
    )


def _numpy_stencils(kwargs: dict[str, Any]) -> bool:
    """Whether a successful call with these keywords computed NumPy's stencils."""
    periodic = kwargs.get("periodic", False)
    flags = periodic if isinstance(periodic, list | tuple) else [periodic]
    try:
        return bool(kwargs.get("accuracy", 2) == 2) and not any(bool(p) for p in flags)
    except Exception:
        return False


def _snapshot(call: Call) -> list[tuple[np.ndarray, bytes, bool]]:
    """Every array the call passes, with its bytes, and whether it is an output."""
    found: list[tuple[np.ndarray, bool]] = []

    def collect(value: Any, is_out: bool) -> None:
        if isinstance(value, np.ndarray):
            found.append((value, is_out))
        elif isinstance(value, list | tuple):
            for v in value:
                if isinstance(v, np.ndarray):
                    found.append((v, is_out))

    collect(call.f, False)
    for v in call.varargs:
        collect(v, False)
    collect(call.kwargs.get("out"), True)
    inputs = {id(a) for a, is_out in found if not is_out}
    return [(a, _bytes(a), is_out and id(a) not in inputs) for a, is_out in found]


def _bytes(a: np.ndarray) -> bytes:
    if a.dtype.hasobject:
        return repr([id(v) for v in a.reshape(-1).tolist()]).encode()
    return np.ascontiguousarray(a).view(np.uint8).tobytes() if a.size else b""


def _compare_exceptions(ours: BaseException, numpy_exc: BaseException, what: str) -> None:
    if not isinstance(ours, type(numpy_exc)):
        raise Failure(
            f"{what}: other exception type than NumPy",
            f"numpy raised {_name(numpy_exc)}; ndgradient raised {_name(ours)}",
        )


def _strict(call: Call, expected: Outcome, ours: Outcome, what: str) -> None:
    """NumPy-compatible arguments: NumPy's behaviour exactly, but for edge_order."""
    if not ours.ok:
        if not isinstance(ours.value, Exception):
            raise Failure(f"{what}: non-Exception escaped", _name(ours.value))
        if not _edge_order_is_valid(call.kwargs.get("edge_order", 1)):
            if isinstance(ours.value, ValueError) and _EDGE_ORDER_MESSAGE in str(ours.value):
                return  # the documented difference
        if expected.ok:
            raise Failure(f"{what}: ndgradient raised where NumPy returned", _name(ours.value))
        _compare_exceptions(ours.value, expected.value, what)
        return
    if not _edge_order_is_valid(call.kwargs.get("edge_order", 1)):
        raise Failure(f"{what}: invalid edge_order accepted", repr(call.kwargs["edge_order"]))
    if not expected.ok:
        raise Failure(f"{what}: ndgradient returned where NumPy raised", _name(expected.value))
    try:
        assert_identical(ours.value, expected.value)
    except AssertionError as exc:
        raise Failure(f"{what}: result differs from NumPy's", str(exc)) from None


def _out_targets(out: Any, references: list[np.ndarray]) -> list[Any]:
    """The arrays ``out`` stands for (as the shim reads it) for NumPy's results."""
    if isinstance(out, np.ndarray):
        stacked = not references or out.ndim == references[0].ndim + 1
        return list(out) if stacked else [out]
    return list(out)


def _with_extensions(call: Call, expected: Outcome, ours: Outcome) -> None:
    """Extension keywords: NumPy's error, an error about the extension, or a result."""
    kwargs = call.kwargs
    if not ours.ok:
        exc = ours.value
        if not isinstance(exc, Exception):
            raise Failure("extensions: non-Exception escaped", _name(exc))
        if not _edge_order_is_valid(kwargs.get("edge_order", 1)):
            if isinstance(exc, ValueError) and _EDGE_ORDER_MESSAGE in str(exc):
                return
        if not expected.ok and isinstance(exc, type(expected.value)):
            return  # NumPy's error for the NumPy-compatible part
        if isinstance(exc, ValueError | TypeError) and _EXTENSION_MESSAGE.search(str(exc)):
            if (
                expected.ok
                and call.out_well_formed
                and not isinstance(call.f, np.ma.MaskedArray)  # documented: out= refused
                and _neutral_extensions({k: v for k, v in kwargs.items() if k != "out"})
                and _fits(kwargs["out"], expected.value)
            ):
                raise Failure("extensions: well-formed out= refused", _name(exc))
            return
        raise Failure(
            "extensions: unexpected error",
            f"ndgradient raised {_name(exc)}; numpy "
            + ("returned" if expected.ok else f"raised {_name(expected.value)}"),
        )
    if not expected.ok:
        raise Failure("extensions: ndgradient returned where NumPy raised", _name(expected.value))
    if not _numpy_stencils(kwargs):
        results = ours.value if isinstance(ours.value, tuple) else (ours.value,)
        references = expected.value if isinstance(expected.value, tuple) else (expected.value,)
        if "out" in kwargs and kwargs["out"] is not None:
            return
        if len(results) != len(references) or any(
            r.shape != e.shape or r.dtype != e.dtype
            for r, e in zip(results, references, strict=True)
        ):
            raise Failure("extensions: result shapes or dtypes differ from NumPy's", "")
        return
    out = kwargs.get("out")
    if out is None:
        try:
            assert_identical(ours.value, expected.value)
        except AssertionError as exc:
            raise Failure("extensions: result differs from NumPy's", str(exc)) from None
        return
    references = list(expected.value) if isinstance(expected.value, tuple) else [expected.value]
    targets = _out_targets(out, references)
    returned = ours.value
    if isinstance(out, np.ndarray):
        if returned is not out:
            raise Failure("out=: the array given is not what is returned", "")
    else:
        items = list(returned) if isinstance(returned, tuple) else [returned]
        if len(items) != len(targets) or any(
            a is not b for a, b in zip(items, targets, strict=True)
        ):
            raise Failure("out=: the arrays given are not what is returned", "")
    for target, reference in zip(targets, references, strict=True):
        cast = _quiet(np.asarray(reference).astype, target.dtype)
        try:
            assert_identical(np.ascontiguousarray(target), np.ascontiguousarray(cast))
        except AssertionError as exc:
            raise Failure("out=: values differ from NumPy's", str(exc)) from None


def _fits(out: Any, result: Any) -> bool:
    """Whether ``out`` (well-formed for the guessed shape and count) fits NumPy's result."""
    references = list(result) if isinstance(result, tuple) else [result]
    try:
        targets = _out_targets(out, references)
    except TypeError:
        return False
    return len(targets) == len(references) and all(
        isinstance(t, np.ndarray)
        and t.shape == r.shape
        and np.can_cast(r.dtype, t.dtype, casting="safe")
        for t, r in zip(targets, references, strict=True)
    )


def check(call: Call) -> str | None:
    """Checks the property for one call: raises Failure for a violation, returns the name of
    the known issue (``KNOWN_ISSUES``) the call ran into, or None."""
    try:
        _check(call)
    except Failure as failure:
        for name, predicate in KNOWN_ISSUES:
            if predicate(call, str(failure)):
                return name
        raise
    return None


def _check(call: Call) -> None:
    before = _snapshot(call)
    expected = _attempt(np.gradient, call.f, *call.varargs, **call.numpy_kwargs())
    ours = _attempt(ndgradient.gradient, call.f, *call.varargs, **call.kwargs)
    for array, data, is_out in before:
        if (is_out and ours.ok) or _bytes(array) == data:
            continue
        raise Failure(
            "input modified" if not is_out else "out= written although the call raised",
            f"{_describe(array)}",
        )
    workers = call.kwargs.get("workers")
    if not _workers_is_valid(workers):
        numpy_error = None if expected.ok else type(expected.value)
        if ours.ok or not isinstance(ours.value, (ValueError, TypeError, numpy_error or ())):
            raise Failure(
                "invalid workers: no ValueError or TypeError",
                f"workers={workers!r}: " + ("returned" if ours.ok else _name(ours.value)),
            )
    elif _neutral_extensions(call.kwargs):
        _strict(call, expected, ours, "numpy-compatible")
    else:
        _with_extensions(call, expected, ours)
    if set(call.kwargs) - {"axis", "edge_order"}:
        # The same call without ndgradient's keywords: NumPy's behaviour exactly.
        base = _attempt(ndgradient.gradient, call.f, *call.varargs, **call.numpy_kwargs())
        _strict(call, expected, base, "without extensions")


# ------------------------------------------------------------------------------------------
# The fuzz run
# ------------------------------------------------------------------------------------------


class _Stop(Exception):
    """Raised inside the property when the time is up."""


@dataclass
class _Tally:
    deadline: float = 0.0
    examples: int = 0
    failures: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    known: dict[str, tuple[int, str]] = field(default_factory=dict)
    save: Path | None = None

    def record(self, kind: str, call: Call, message: str) -> None:
        count, first, detail = self.failures.get(kind, (0, repr(call), message))
        self.failures[kind] = (count + 1, first, detail)
        if count == 0 and self.save is not None:
            # The first example of each kind, to replay: f, varargs, kwargs = pickle.load(...)
            self.save.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")
            try:
                data = pickle.dumps((call.f, call.varargs, call.kwargs))
            except Exception:
                return  # not picklable (object(), memoryview): the printed call is all there is
            (self.save / f"{name}.pkl").write_bytes(data)


def fuzz(minutes: float, seed: int | None, save: Path | None = None) -> _Tally:
    tally = _Tally(deadline=time.monotonic() + 60.0 * minutes, save=save)

    @settings(
        max_examples=10**9,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(call=calls())
    def property_(call: Call) -> None:
        if time.monotonic() > tally.deadline:
            raise _Stop
        tally.examples += 1
        try:
            known = check(call)
        except Failure as failure:
            tally.record(failure.kind, call, str(failure))
            return
        except Exception as exc:  # the harness itself
            tally.record(
                f"harness error {type(exc).__name__}", call, traceback.format_exc(limit=4)
            )
            return
        if known is not None:
            count, first = tally.known.get(known, (0, repr(call)))
            tally.known[known] = (count + 1, first)

    if seed is not None:
        from hypothesis import seed as hypothesis_seed

        property_ = hypothesis_seed(seed)(property_)
    try:
        property_()
    except _Stop:
        pass
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed")
    parser.add_argument(
        "--save", type=Path, default=None, help="pickle the first call of each failure here"
    )
    args = parser.parse_args()
    faulthandler.enable()
    start = time.monotonic()
    tally = fuzz(args.minutes, args.seed, args.save)
    elapsed = time.monotonic() - start
    print(
        f"fuzz_api: {elapsed:.0f} s, {tally.examples} examples, {CALLS[0]} ndgradient calls "
        f"({tally.examples / max(elapsed, 1e-9):.0f} examples/s)"
    )
    for name, (count, first) in tally.known.items():
        print(f"known issue ({count} examples): {name}\n  first: {first}")
    failures = sum(count for count, _, _ in tally.failures.values())
    print(f"failures: {failures} ({len(tally.failures)} kinds)")
    for kind, (count, first, message) in tally.failures.items():
        print(f"\n[{count}x] {kind}\n  call: {first}\n  {message}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
