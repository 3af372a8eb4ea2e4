"""NumPy's argument rules and ndgradient's dtype policy, each written once.

`ndgradient.gradient` (``_gradient``) and the Dask path (``_dask``) take every decision through
these functions: how ``varargs`` are read, which axes, which edge order, which dtypes the core
computes and in which type, how many threads, how outputs are allocated and which ``out=``
arrays are acceptable. Where the core cannot reproduce NumPy, `NotNative` sends the call to
NumPy's own code path.
"""

from __future__ import annotations

import functools
import math
import operator
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, overload

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from . import _core

__all__ = [
    "FLOAT64",
    "MAX_WORKERS",
    "POOLED_FROM",
    "PYTHON_NUMBERS",
    "TOO_SHORT",
    "AxisPlan",
    "AxisRequest",
    "NotNative",
    "allocate_outputs",
    "asks_extended_stencils",
    "axis_plan",
    "check_edge_order",
    "check_length",
    "check_out_dtypes",
    "checked_out",
    "core_dtype",
    "data_dtype",
    "extended_stencils",
    "is_dask_array",
    "is_native_data",
    "normalized_axes",
    "numpy_gradient",
    "numpy_scalar_plan",
    "overrides_gradient",
    "python_number_request",
    "read_spacings",
    "register_numpy_tails",
    "resolve_workers",
    "result_dtype",
    "returned_out",
    "whole_array_steps",
]

# The original, kept so that a later patch of ``numpy.gradient`` cannot make us call ourselves.
numpy_gradient: Callable[..., Any] = np.gradient

FLOAT64 = np.dtype(np.float64)
TOO_SHORT = (
    "Shape of array too small to calculate a numerical gradient, "
    "at least (edge_order + 1) elements are required."
)
# Spacings NumPy treats as weak scalars (NEP 50): the data's own dtype computes.
PYTHON_NUMBERS = (int, float, bool)
# More threads than this is a mistake, not a request (each worker is an OS thread).
MAX_WORKERS = 1024
ACCURACIES = (2, 4, 6, 8)

# Float and complex data dtypes the core computes (integers too: see `is_native_data`).
_NATIVE_FLOAT_CHARS = frozenset("efdFD")
# Compute dtypes the core has a kernel for, for each data dtype.
_COMPUTE_CHARS = {"d": "d", "f": "fd", "e": "efd", "D": "D", "F": "FD"}

# Methods through which numpy.gradient's arithmetic reaches an ndarray subclass. A subclass
# that overrides none of them gets NumPy's values from the plain-ndarray computation.
_ARITHMETIC_METHODS = (
    "__array_ufunc__",
    "__getitem__",
    "__setitem__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
)

_Edges = tuple[tuple[float, float, float], tuple[float, float, float]]
# (2 * dx, dx, second-order edge weights or None), each already in the compute type.
UniformSpacing = tuple[float, float, _Edges | None, int]


class NotNative(Exception):
    """Raised inside planning when NumPy's own code path must compute the call."""


class AxisRequest(NamedTuple):
    """One derivative as the core takes it (``_core.gradient_into``'s request tuple)."""

    axis: int
    # Coordinates (1-D, native byte order), or a uniform spacing in the compute type.
    spacing: np.ndarray | UniformSpacing
    accuracy: int = 2
    periodic: bool = False
    period: float | None = None  # the period of a periodic coordinate axis
    uneven: bool = False  # coordinates sliced from a longer, non-uniform array (Dask blocks)


class AxisPlan(NamedTuple):
    """One differentiated axis, decided: the dtype code it computes in, and the request."""

    compute: str
    request: AxisRequest

    def with_spacing(self, spacing: np.ndarray | UniformSpacing) -> AxisPlan:
        """The same axis with another spacing (a block's slice of the coordinates)."""
        return self._replace(request=self.request._replace(spacing=spacing))

    def with_stencil(self, accuracy: int, periodic: bool, period: float | None) -> AxisPlan:
        """The same axis with the stencil `extended_stencils` chose for it."""
        request = self.request._replace(accuracy=accuracy, periodic=periodic, period=period)
        return self._replace(request=request)


# ------------------------------------------------------------------------------------------
# Which path computes the call
# ------------------------------------------------------------------------------------------


def is_dask_array(x: Any) -> bool:
    """Whether ``x`` is a Dask array, without importing Dask when nothing has."""
    array_module = sys.modules.get("dask.array")
    return array_module is not None and isinstance(x, array_module.Array)


def overrides_gradient(relevant: tuple[Any, ...]) -> bool:
    """Whether an argument's type overrides NumPy functions via ``__array_function__``."""
    default = np.ndarray.__array_function__
    for arg in relevant:
        override = getattr(type(arg), "__array_function__", default)
        if override is not default:
            return True
    return False


def asks_extended_stencils(periodic: Any, period: Any, accuracy: Any) -> bool:
    """Whether a call asks for more than NumPy's stencil (``accuracy=2``, not periodic)."""
    return periodic is not False or accuracy != 2 or period is not None


# ------------------------------------------------------------------------------------------
# Dtypes
# ------------------------------------------------------------------------------------------


def result_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """NumPy's result dtype for data the core computes: float64 for integer data, otherwise
    the data's own dtype, byte order included."""
    return FLOAT64 if dtype.kind in "iu" else dtype


def core_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype the core differences and writes data of ``dtype`` in: `result_dtype`, in
    native byte order."""
    result = result_dtype(dtype)
    return result if result.isnative else result.newbyteorder("=")


def is_native_data(dtype: np.dtype[Any]) -> bool:
    """Whether the core computes data of this dtype (any integer, float16/32/64, complex)."""
    return dtype.kind in "iu" or dtype.char in _NATIVE_FLOAT_CHARS


def data_dtype(f: np.ndarray) -> np.dtype[Any]:
    """The dtype NumPy differences ``f`` in, or NotNative for NumPy's own code path."""
    cls = type(f)
    if cls is not np.ndarray and (
        issubclass(cls, np.ma.MaskedArray)
        or any(getattr(cls, m) is not getattr(np.ndarray, m) for m in _ARITHMETIC_METHODS)
    ):
        raise NotNative
    if not is_native_data(f.dtype):
        raise NotNative
    return core_dtype(f.dtype)


def _in_native_order(a: np.ndarray) -> np.ndarray:
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


# ------------------------------------------------------------------------------------------
# NumPy's argument rules
# ------------------------------------------------------------------------------------------


def normalized_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The differentiated axes, NumPy's way (negative axes counted from the end)."""
    return tuple(range(ndim)) if axis is None else normalize_axis_tuple(axis, ndim)


def check_edge_order(edge_order: Any) -> None:
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    if not (edge_order == 1 or edge_order == 2):
        raise ValueError(
            f"edge_order must be 1 or 2, got {edge_order!r} (numpy.gradient silently "
            "accepts other values and returns inconsistent edges; ndgradient refuses them)"
        )


def check_length(shape: tuple[int, ...], axis: int, edge_order: int) -> None:
    """NumPy's check that an axis has the ``edge_order + 1`` points its edges need."""
    if shape[axis] < edge_order + 1:
        raise ValueError(TOO_SHORT)


def _is_native_coordinates(distances: np.ndarray) -> bool:
    return type(distances) is np.ndarray and (
        distances.dtype.kind in "iu" or distances.dtype.char in "efd"
    )


def read_spacings(f: np.ndarray, varargs: tuple[Any, ...], axes: tuple[int, ...]) -> list[Any]:
    """NumPy's reading of ``varargs``: one scalar or one 1-D array per axis, same errors."""
    n, len_axes = len(varargs), len(axes)
    if n == 0:
        return [1.0] * len_axes
    if n == 1 and np.ndim(varargs[0]) == 0:
        return [varargs[0]] * len_axes
    if n != len_axes:
        raise TypeError("invalid number of arguments")
    spacings = list(varargs)
    not_native = False
    for i, distances in enumerate(spacings):
        distances = np.asanyarray(distances)
        if distances.ndim == 0:
            continue  # NumPy keeps the scalar object itself
        if distances.ndim != 1:
            raise ValueError("distances must be either scalars or 1d")
        if len(distances) != f.shape[axes[i]]:
            raise ValueError(
                "when 1d, distances must match the length of the corresponding dimension"
            )
        if not _is_native_coordinates(distances):
            # NumPy's own next steps, so that its errors (TypeError for boolean coordinates,
            # IndexError for one point) come in its order, before any later argument's.
            differences = np.diff(distances)
            differences[0]
            not_native = True
            continue
        if len(distances) < 2:
            # NumPy indexes the first of no coordinate differences.
            raise IndexError("index 0 is out of bounds for axis 0 with size 0")
        spacings[i] = distances
    if not_native:
        raise NotNative
    return spacings


def whole_array_steps(dx: Any) -> tuple[Any, bool]:
    """NumPy's uniformity decision for a coordinate array, taken over all of it: uniform
    coordinates become their (NumPy scalar) step, as in `numpy.gradient`; the flag says the
    coordinates stay and are uneven."""
    if not (isinstance(dx, np.ndarray) and dx.ndim == 1):
        return dx, False
    steps = np.diff(dx.astype(result_dtype(dx.dtype), copy=False))
    if (steps == steps[0]).all():
        return steps[0], False
    return dx, True


@overload
def resolve_workers(workers: Any, default: int) -> int: ...
@overload
def resolve_workers(workers: Any, default: None = None) -> int | None: ...
def resolve_workers(workers: Any, default: int | None = None) -> int | None:
    """scipy.fft's rule: a positive count, or a negative one counted back from the CPUs;
    ``default`` for None (None: the core's own default)."""
    if workers is None:
        return default
    count = operator.index(workers)
    cpus = _core.available_cpus()
    resolved = count if count > 0 else cpus + 1 + count
    if count == 0 or resolved < 1 or resolved > MAX_WORKERS:
        raise ValueError(
            f"workers value out of range; got {count}, must not be less than {-cpus} or 0, "
            f"nor more than {MAX_WORKERS}"
        )
    return resolved


# ------------------------------------------------------------------------------------------
# The plan per axis: compute dtype and the core's spacing
# ------------------------------------------------------------------------------------------


def _is_native_scalar(dx: Any) -> bool:
    if type(dx) in PYTHON_NUMBERS:
        return True
    if isinstance(dx, np.generic) or (type(dx) is np.ndarray and dx.ndim == 0):
        return dx.dtype.kind in "biu" or dx.dtype.char in "efd"
    return False


def axis_plan(f: np.ndarray, axis: int, dx: Any, data: np.dtype[Any], edge_order: int) -> AxisPlan:
    """The compute dtype and the core's spacing for one axis of data differenced in ``data``
    (NumPy's stencil; `extended_stencils` may widen it)."""
    check_length(f.shape, axis, edge_order)
    spacing: np.ndarray | UniformSpacing
    if isinstance(dx, np.ndarray) and dx.ndim == 1:
        compute = np.result_type(data, result_dtype(dx.dtype))
        spacing = _in_native_order(dx)
    elif type(dx) in PYTHON_NUMBERS:
        return AxisPlan(data.char, python_number_request(axis, dx, data.char, edge_order))
    elif _is_native_scalar(dx):
        compute, spacing = _numpy_scalar_spacing(dx, data, edge_order)
    else:
        raise NotNative
    if compute.char not in _COMPUTE_CHARS[data.char]:
        raise NotNative
    return AxisPlan(compute.char, AxisRequest(axis, spacing))


def python_number_request(axis: int, dx: float, code: str, edge_order: int) -> AxisRequest:
    """The core's request, NumPy's stencil, for an axis with a Python-number spacing, which
    is weak (NEP 50): NumPy computes in the data's own dtype, ``code``."""
    # The sign is part of the cache key: -0.0 == 0.0 but gives other bits.
    sign = math.copysign(1.0, dx) if type(dx) is float else 1.0
    return _python_number_request(axis, dx, sign, code, edge_order)


@functools.lru_cache(maxsize=512)
def _python_number_request(
    axis: int, dx: float, sign: float, code: str, edge_order: int
) -> AxisRequest:
    # Cached whole, request included: this is most of a small call's planning.
    return AxisRequest(axis, _python_number_spacing(dx, sign, code, edge_order))


def _python_number_spacing(dx: float, sign: float, code: str, edge_order: int) -> UniformSpacing:
    # The values are the core's rule, which the native path of the common call uses too.
    # NumPy's expressions on a Python number raise Python's own errors first: OverflowError
    # for an int beyond float64 (``2. * dx`` converts it as `float` does, and NumPy rounds a
    # Python int through float64 too), ZeroDivisionError for second-order edges of a zero
    # spacing (``-1.5 / dx``).
    value = float(dx)
    if edge_order == 2:
        _ = -1.5 / dx
    return _core.python_number_spacing(value, code, int(edge_order))  # 2.0 means 2


def _numpy_scalar_spacing(
    dx: Any, data: np.dtype[Any], edge_order: int
) -> tuple[np.dtype[Any], UniformSpacing]:
    """NumPy's own expressions for a NumPy scalar spacing, evaluated by NumPy in its type,
    with the floating-point errors they raised (recorded here, reported with the core's)."""
    raised = [0]

    def record(_: str, flag: int) -> None:
        raised[0] |= flag

    with np.errstate(all="call", call=record):
        twice_dx = 2.0 * dx
        compute = np.result_type(data, twice_dx)
        # NumPy divides the first-order edges by ``dx`` itself, whose type can promote less
        # far (``np.int8`` vs the float64 of ``2. * dx``). For real data one correctly
        # rounded division gives the same bits in either type; for complex data (Smith's
        # algorithm rounds several times) it does not.
        if data.kind == "c" and np.result_type(data, dx) != compute:
            raise NotNative

        def exact(value: Any) -> float:
            # Rounded to the compute type as NumPy's ufunc would; exact as a Python float.
            return float(np.asarray(value, dtype=compute).real)

        edges: _Edges | None = None
        if edge_order == 2:
            first = (exact(-1.5 / dx), exact(2.0 / dx), exact(-0.5 / dx))
            last = (exact(0.5 / dx), exact(-2.0 / dx), exact(1.5 / dx))
            edges = (first, last)
        values = (exact(twice_dx), exact(dx), edges)
    return compute, (*values, raised[0])


# `_is_native_scalar`'s NumPy scalar types, as a set of exact types for the native path of
# the common call (a subclass may override the arithmetic NumPy's expressions use).
_NUMPY_SCALAR_TYPES = frozenset(
    type(scalar)
    for scalar in (np.zeros((), code)[()] for code in np.typecodes["All"] if code != "O")
    if isinstance(scalar, np.generic) and _is_native_scalar(scalar)
)
_FLOAT_SCALAR_TYPES = frozenset(t for t in _NUMPY_SCALAR_TYPES if issubclass(t, np.floating))
_numpy_scalar_plans: dict[tuple[Any, ...], tuple[str, UniformSpacing] | None] = {}


def numpy_scalar_plan(
    dx: Any, data_char: str, edge_order: int
) -> tuple[str, UniformSpacing] | None:
    """For the core's native path of the common call: the compute dtype's code and the
    core's spacing (`axis_plan`'s) for a NumPy scalar spacing ``dx`` of data differenced in
    dtype ``data_char``; None where the shim must take the call.

    Remembered per scalar type, value (the sign of a zero included) and arguments: NumPy's
    expressions take several microseconds, most of a small call."""
    kind = type(dx)
    if kind not in _NUMPY_SCALAR_TYPES:
        return None
    # The scalar itself is the key's value (hashing it is cheaper than converting it).
    sign = math.copysign(1.0, dx) if kind in _FLOAT_SCALAR_TYPES else 1.0
    key = (kind, dx, sign, data_char, edge_order)
    if key in _numpy_scalar_plans:
        return _numpy_scalar_plans[key]
    data = np.dtype(data_char)
    plan: tuple[str, UniformSpacing] | None
    try:
        compute, spacing = _numpy_scalar_spacing(dx, data, edge_order)
        plan = (compute.char, spacing) if compute.char in _COMPUTE_CHARS[data.char] else None
    except NotNative:
        plan = None
    if len(_numpy_scalar_plans) < 512 and dx == dx:  # a NaN key never matches again
        _numpy_scalar_plans[key] = plan
    return plan


def _per_axis(value: Any, count: int, name: str) -> list[Any]:
    """A scalar for every axis, or a sequence with one entry per differentiated axis."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if len(value) != count:
            raise ValueError(
                f"{name} must be one value or one per differentiated axis ({count}), "
                f"got {len(value)}"
            )
        return list(value)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return _per_axis(value.tolist(), count, name)
    return [value] * count


def extended_stencils(
    f: np.ndarray,
    axes: tuple[int, ...],
    spacings: Sequence[Any],
    periodic: Any,
    period: Any,
    accuracy: Any,
) -> list[tuple[int, bool, float | None]] | None:
    """Per axis, ``(accuracy, periodic, period)`` for the core (``(2, False, None)`` is
    NumPy's stencil); None for a call without extended stencils. Checks the arguments."""
    if not asks_extended_stencils(periodic, period, accuracy):
        return None
    if type(accuracy) is bool or not isinstance(accuracy, int | np.integer):
        raise TypeError(f"accuracy must be an integer, got {type(accuracy).__name__}")
    if accuracy not in ACCURACIES:
        raise ValueError(f"accuracy must be 2, 4, 6 or 8, got {accuracy}")
    flags = _per_axis(periodic, len(axes), "periodic")
    for flag in flags:
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"periodic takes booleans, got {flag!r}")
    periods = _per_axis(period, len(axes), "period")
    per_axis = isinstance(period, Sequence | np.ndarray)
    stencils: list[tuple[int, bool, float | None]] = []
    some_period = False
    for i, (ax, flag, length) in enumerate(zip(axes, flags, periods, strict=True)):
        coordinates = (
            i < len(spacings) and isinstance(spacings[i], np.ndarray) and spacings[i].ndim == 1
        )
        if length is not None:
            if not flag or not coordinates:
                if per_axis:
                    raise ValueError(
                        f"period= is for periodic axes with coordinate arrays; axis {ax} "
                        f"is {'not periodic' if not flag else 'uniformly spaced'}"
                    )
                length = None  # a single period serves the periodic coordinate axes only
            else:
                length = float(length)
                if not math.isfinite(length):
                    raise ValueError(f"period must be finite, got {length}")
        elif flag and coordinates:
            raise ValueError(
                f"periodic axis {ax} has a coordinate array: give its period= (the wrap "
                "step is period - (x[-1] - x[0]))"
            )
        numpys = accuracy == 2 and not flag
        if f.shape[ax] < accuracy + 1 and not numpys:
            raise ValueError(
                f"axis {ax} of length {f.shape[ax]} is too short for accuracy={accuracy}: "
                f"the stencil needs at least {accuracy + 1} points"
            )
        if numpys:
            stencils.append((2, False, None))
        else:
            stencils.append((int(accuracy), bool(flag), length))
            some_period = some_period or length is not None
    if isinstance(period, int | float | np.number) and not some_period:
        raise ValueError("period= is for periodic axes with coordinate arrays; there are none")
    return stencils


# ------------------------------------------------------------------------------------------
# Outputs
# ------------------------------------------------------------------------------------------


#: Outputs at least this large come from the output pool; never if the pool is off
#: (``NDGRADIENT_POOL_BYTES=0``).
POOLED_FROM: int = _core.POOL_MIN_BYTES if _core.pool_stats()["enabled"] else sys.maxsize


def allocate_outputs(f: np.ndarray, count: int) -> list[np.ndarray]:
    """``count`` outputs with NumPy's dtype (`result_dtype`), layout and subclass.

    For integers NumPy allocates ``empty_like(f.astype(float64))``; ``empty_like`` does not
    always keep the strides of length-1 axes, so the layout is that of two ``empty_like``
    steps. The intermediate array is never written, so it costs no page faults.
    """
    data = f.dtype
    result = result_dtype(data)
    prototype = f if result is data else np.empty_like(f, dtype=result)
    if prototype.nbytes >= POOLED_FROM and type(prototype) is np.ndarray:
        # Large plain outputs come from ndgradient's pool of already-faulted blocks: NumPy's
        # memory handler is switched for these allocations only. Subclasses are left out, as
        # their `__array_finalize__` would run arbitrary code under it.
        return _core.with_output_pool(_empty_likes, prototype, count)
    return _empty_likes(prototype, count)


def _empty_likes(prototype: np.ndarray, count: int) -> list[np.ndarray]:
    """``count`` arrays ``np.empty_like(prototype)``."""
    if count == 1:
        return [np.empty_like(prototype)]
    # map, not a comprehension: a small call's allocation is a good part of its overhead.
    return list(map(np.empty_like, [prototype] * count))


def checked_out(out: Any, f: np.ndarray, varargs: tuple[Any, ...], count: int) -> list[Any]:
    """The arrays ``out`` stands for, one per axis, after every check but the dtype's."""
    if isinstance(out, np.ndarray):
        if out.ndim == f.ndim + 1:
            if out.shape != (count, *f.shape):
                raise ValueError(
                    f"stacked out must have shape {(count, *f.shape)} (one {f.shape} array "
                    f"per differentiated axis), got {out.shape}"
                )
            targets = list(out)
        elif count == 1:
            targets = [out]
        else:
            raise ValueError(
                f"out must be a sequence of {count} arrays or one stacked array of shape "
                f"{(count, *f.shape)}, got one array of shape {out.shape}"
            )
    elif isinstance(out, Sequence) and not isinstance(out, str | bytes):
        targets = list(out)
        if len(targets) != count:
            raise ValueError(
                f"out must hold one array per differentiated axis: {count}, got {len(targets)}"
            )
    else:
        raise TypeError(f"out must be an ndarray or a sequence of them, got {type(out).__name__}")
    inputs = [f, *(v for v in varargs if isinstance(v, np.ndarray))]
    for i, target in enumerate(targets):
        name = f"out[{i}]" if len(targets) > 1 or not isinstance(out, np.ndarray) else "out"
        if not isinstance(target, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(target).__name__}")
        if isinstance(target, np.ma.MaskedArray):
            raise TypeError(f"{name} is a masked array; out= takes plain arrays")
        if target.shape != f.shape:
            raise ValueError(f"{name} must have the input's shape {f.shape}, got {target.shape}")
        if not target.flags.writeable:
            raise ValueError(f"{name} is read-only")
        if _overlaps_itself(target):
            raise ValueError(f"{name} has elements that share memory (overlapping strides)")
        for j, source in enumerate(inputs):
            if _may_overlap(target, source):
                what = "the input f" if j == 0 else "a spacing array"
                raise ValueError(f"{name} shares memory with {what}")
        for k in range(i):
            if _may_overlap(target, targets[k]):
                raise ValueError(f"{name} shares memory with out[{k}]")
    return targets


def _may_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays share memory; undecidable quickly counts as sharing."""
    if a.size == 0 or b.size == 0 or not np.may_share_memory(a, b):
        return False
    try:
        # NumPy's stub allows only its two named limits; any positive bound works at runtime.
        return bool(np.shares_memory(a, b, max_work=100_000))  # type: ignore[arg-type]
    except np.exceptions.TooHardError:
        return True


def _overlaps_itself(a: np.ndarray) -> bool:
    """Whether two elements of ``a`` may share memory (a zero or interleaved stride).

    Sufficient for safety: strides that nest (each at least the extent of the smaller ones)
    never overlap; other layouts are refused, since threads write the outputs in parallel.
    """
    if a.size == 0:
        return False
    extent = a.itemsize
    dims = sorted((abs(s), n) for s, n in zip(a.strides, a.shape, strict=True) if n > 1)
    for stride, length in dims:
        if stride < extent:
            return True
        extent = stride * (length - 1) + extent
    return False


def check_out_dtypes(targets: list[Any], result: np.dtype[Any]) -> None:
    for i, target in enumerate(targets):
        if not np.can_cast(result, target.dtype, casting="safe"):
            raise TypeError(
                f"Cannot write the gradient (dtype {result}) into out[{i}] of dtype "
                f"{target.dtype} with casting rule 'safe'"
            )


def returned_out(out: Any, targets: list[Any]) -> Any:
    """What a call with ``out`` returns: the stacked array, the one array, or a tuple."""
    if isinstance(out, np.ndarray):
        return out
    return targets[0] if len(targets) == 1 else tuple(targets)  # () for no axes


# ------------------------------------------------------------------------------------------
# NumPy's NaN rule in its remainder loops
# ------------------------------------------------------------------------------------------

_TAIL_PERIODS = (1, 2, 4, 8, 16)
_TAIL_LENGTHS = 3 * max(_TAIL_PERIODS) + 1  # a first period may differ (short arrays)


def _right_operand_suffix(code: str, n: int) -> int | None:
    """How many trailing elements of NumPy's add of two ``n``-element arrays of NaNs return
    the right operand's NaN (None if those elements are not a suffix)."""
    left = np.full(n, np.nan, code)
    right = np.full(n, -np.nan, code)
    if left.dtype.kind == "c":
        left.imag, right.imag = np.nan, -np.nan
    with np.errstate(all="ignore"):
        total = np.add(left, right)
    signs = np.signbit(total.real if total.dtype.kind == "c" else total)
    count = int(signs.sum())
    return count if count == 0 or bool(signs[n - count :].all()) else None


def register_numpy_tails() -> None:
    """Measures, on the running NumPy and CPU, which trailing elements of a contiguous add
    NumPy computes in its scalar loop (where a NaN from each operand gives the right one's),
    and registers the rule with the core, which follows it for NumPy's weighted sums."""
    for code in "dfDF":
        counts = [_right_operand_suffix(code, n) for n in range(_TAIL_LENGTHS)]
        if any(c is None for c in counts):
            continue  # not a remainder loop this NumPy has: the core keeps the left operand
        measured = [int(c) for c in counts if c is not None]
        for period in _TAIL_PERIODS:
            if _core.register_numpy_tails(code, measured, period):
                break
