"""The NumPy-compatible front of the Rust core: argument rules, dtype policy, output allocation."""

from __future__ import annotations

import functools
import math
import operator
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal, SupportsIndex

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple
from numpy.typing import ArrayLike, NDArray

from . import _core

__all__ = ["gradient"]

# The original, kept so that a later patch of ``numpy.gradient`` cannot make us call ourselves.
_numpy_gradient: Callable[..., Any] = np.gradient

# Data dtypes the core computes natively (integers are read as they are, converted to float64).
_NATIVE_FLOAT_CHARS = frozenset("efdFD")
_FLOAT64 = np.dtype(np.float64)
_TOO_SHORT = (
    "Shape of array too small to calculate a numerical gradient, "
    "at least (edge_order + 1) elements are required."
)
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


def is_dask_array(x: Any) -> bool:
    """Whether ``x`` is a Dask array, without importing Dask when nothing has."""
    array_module = sys.modules.get("dask.array")
    return array_module is not None and isinstance(x, array_module.Array)


class _NotNative(Exception):
    """Raised inside planning when NumPy's own code path must compute the call."""


def gradient(
    f: ArrayLike,
    *varargs: ArrayLike,
    axis: SupportsIndex | Sequence[SupportsIndex] | None = None,
    edge_order: Literal[1, 2] = 1,
    workers: int | None = None,
    out: NDArray[Any] | Sequence[NDArray[Any]] | None = None,
    periodic: bool | Sequence[bool] = False,
    period: float | Sequence[float | None] | None = None,
    accuracy: Literal[2, 4, 6, 8] = 2,
) -> Any:
    """
    Return the gradient of an N-dimensional array, exactly as `numpy.gradient` does.

    The gradient is computed using second order accurate central differences in the interior
    points and either first or second order accurate one-sided (forward or backward)
    differences at the boundaries. The returned gradient hence has the same shape as the input
    array. The values are bit-for-bit those of `numpy.gradient` (NumPy 2 promotion rules),
    computed in one parallel pass by a Rust core with the GIL released.

    Parameters
    ----------
    f : array_like
        An N-dimensional array containing samples of a scalar function.
    *varargs : list of scalar or array, optional
        Spacing between `f` values. Default unitary spacing for all dimensions.
        Spacing can be specified using:

        1. single scalar to specify a sample distance for all dimensions.
        2. N scalars to specify a constant sample distance for each dimension.
           i.e. `dx`, `dy`, `dz`, ...
        3. N arrays to specify the coordinates of the values along each
           dimension of F. The length of the array must match the size of
           the corresponding dimension
        4. Any combination of N scalars/arrays with the meaning of 2. and 3.

        If `axis` is given, the number of varargs must equal the number of axes
        specified in the axis parameter.
    axis : None or int or tuple of ints, optional
        Gradient is calculated only along the given axis or axes.
        The default (axis = None) is to calculate the gradient for all the axes
        of the input array. axis may be negative, in which case it counts from
        the last to the first axis.
    edge_order : {1, 2}, optional
        Gradient is calculated using N-th order accurate differences
        at the boundaries. Default: 1.
    workers : int, optional
        Keyword-only (an ndgradient extension, as in `scipy.fft`). The number of threads the
        native core may use. None (default) uses ``NDGRADIENT_NUM_THREADS`` if set, else every
        CPU the process may run on; a negative value wraps around from the CPU count (-1: all
        CPUs, -2: all but one). The result is bit-identical for every worker count. Ignored on
        NumPy's code path.
    out : ndarray or sequence of ndarray, optional
        Keyword-only (an ndgradient extension). Where to write the result instead of new
        arrays: one array per differentiated axis, each of `f`'s shape, or one stacked array
        of shape ``(len(axes), *f.shape)``; with one axis, a single array of `f`'s shape is
        also accepted. Each must be writeable, have NumPy's output dtype or one it casts to
        safely (float32 results into float64, say), and share no memory with `f`, the
        spacing arrays or each other. Everything is checked before anything is written.
        The arrays given are returned: the stacked array itself, the one array for a single
        axis, otherwise a tuple. Reusing outputs saves the page faults and zeroing of fresh
        memory, which cost about as much as the computation for large arrays.
    periodic : bool or sequence of bool, optional
        Keyword-only (an ndgradient extension). True, or one flag per differentiated axis:
        the axis wraps around, so every point uses the central stencil with its neighbours
        across the boundary, and `edge_order` does not apply there. With ``accuracy=2`` a
        periodic axis computes NumPy's own interior formula at every point (bit for bit the
        values `numpy.gradient` gives on the array padded by one wrapped cell). Default False.
    period : float or sequence of float or None, optional
        Keyword-only. The period of each periodic axis given by a coordinate array: the step
        across the wrap is ``period - (x[-1] - x[0])``, which must have the sign of the
        coordinates' steps. Required for such axes (a uniformly spaced periodic axis has
        the period ``n * dx``). A single value serves every periodic coordinate axis, and is
        an error when there is none; a sequence has one entry per differentiated axis, None
        for every axis that is not a periodic coordinate axis.
    accuracy : {2, 4, 6, 8}, optional
        Keyword-only. The order of accuracy of the stencils. 2 (the default) is NumPy's:
        second-order central differences with `edge_order` at the edges. 4, 6 and 8 use the
        central differences of that order, ``accuracy + 1`` points wide, and one-sided
        differences of the same order at the first and last ``accuracy / 2`` points of a
        non-periodic axis (forward from each point, or backward to it, as findiff does;
        `edge_order` does not apply). Uniform spacings use the exact rational coefficients
        divided by the spacing; coordinate arrays use weights from Fornberg's algorithm,
        computed once per axis in float64. An axis needs at least ``accuracy + 1`` points.
        Complex values are scaled part by part.

    Returns
    -------
    gradient : ndarray or tuple of ndarray
        A tuple of ndarrays (or a single ndarray if there is only one
        dimension) corresponding to the derivatives of f with respect
        to each dimension. Each derivative has the same shape as f, the dtype
        `numpy.gradient` gives (float64 for integer input, the input's dtype for
        floating and complex input), the input's memory layout and its array subclass.

    Raises
    ------
    numpy.exceptions.AxisError
        If an axis is out of range.
    ValueError
        For repeated axes, spacing arrays of the wrong length or dimension, an axis shorter
        than ``edge_order + 1``, an `edge_order` other than 1 or 2, and ``workers=0`` or a
        negative `workers` beyond the CPU count. For the extensions: an `out` of the wrong
        shape or count, read-only or sharing memory; an `accuracy` other than 2, 4, 6, 8 or
        an axis shorter than ``accuracy + 1``; a periodic coordinate axis without a `period`,
        a period that does not reach past the coordinates, or a period for another axis.
    TypeError
        For the wrong number of spacing arguments, and boolean input (as NumPy). For an `out`
        whose dtype the result cannot be cast to safely, a non-integer `accuracy`, and the
        extensions on data only NumPy's code path computes (datetime, object, longdouble,
        masked arrays) or on arguments that override `numpy.gradient`.
    IndexError
        For a coordinate array of fewer than two points (as NumPy).

    See Also
    --------
    numpy.gradient : the reference implementation.

    Notes
    -----
    **Native dtypes.** float64, float32, float16, complex128, complex64 and every signed and
    unsigned integer width are computed by the Rust core. Integer input is converted to
    float64 as it is read; no float64 copy of the input is made. Spacings may be Python
    numbers, NumPy boolean, integer or float16/32/64 scalars or 0-d arrays, or 1-D coordinate
    arrays of an integer or float16/32/64 dtype.

    **NumPy's code path.** Everything else is passed to `numpy.gradient` itself, so it
    behaves exactly as in NumPy: datetime64 (gives timedelta64), timedelta64, object,
    longdouble and clongdouble input; boolean input (NumPy raises TypeError); masked arrays
    and ndarray subclasses that override arithmetic or indexing; complex, longdouble or other
    non-numeric spacings; and arguments whose type overrides `numpy.gradient` through
    ``__array_function__``, which get their override as `numpy.gradient` would give it.

    **Differences from NumPy.**

    * `edge_order` must equal 1 or 2. NumPy accepts 0, negative and fractional values and
      silently returns results for them (``edge_order=0`` gives second-order edges,
      ``edge_order=0.5`` first-order ones); ndgradient raises ValueError instead.
    * No floating-point ``RuntimeWarning`` (divide by zero, invalid value, overflow) is
      emitted, and `numpy.errstate` settings have no effect on the native path: the values,
      inf and NaN included, are the same as NumPy's.
    * Where two NaN operands with different signs or payloads meet in one operation, the
      result is a NaN in NumPy's position, but its sign and payload may differ: NumPy's own
      choice there depends on the array length and the loop it happens to take.

    **Dask arrays.** A Dask array `f` gives Dask arrays (one, or a tuple), computed lazily
    block by block by the core with a one-cell halo along each differentiated axis, and
    bit-identical to the result for the whole array in memory, whatever the chunking. The
    uniformity of a coordinate array is decided once over all of it, as NumPy decides it;
    coordinate arrays (Dask ones are computed first) enter the graph once. Chunks too short
    for the stencil are merged with a neighbour; unknown (NaN) chunk sizes raise ValueError.
    Inside tasks the core uses one thread unless `workers` is given (the scheduler already
    runs tasks in parallel). Data only NumPy's code path computes goes through
    `numpy.gradient` block by block. `out`, `periodic`, `period` and `accuracy` are not
    available for Dask arrays. For xarray objects see `ndgradient.xarray.differentiate`.

    **Threads.** The core runs with the GIL released, so other Python threads run meanwhile
    and several threads may call `gradient` at once. Inputs of 262144 (2**18) elements or more are
    split over a thread pool of `workers` threads (one pool per size, made on first use);
    smaller inputs stay on the calling thread. The result does not depend on the number of
    threads. In a child process created by ``fork()`` the core computes on the calling
    thread, so it never waits on the parent's pool. Inputs of 2**24 elements or more are
    computed in parts with a signal check between them: Ctrl-C interrupts a long call within
    tens of milliseconds (KeyboardInterrupt; the outputs are then incomplete).

    **Precision.** Every operation is the IEEE operation NumPy performs, in the type NumPy
    performs it in and in the same order: the difference in the data's type, the division or
    weighted sum in NumPy's promoted type (for example float64 for float32 data with a
    ``np.float64`` spacing, float32 with a Python float spacing), division by ``2 * dx``
    (never multiplication by a reciprocal), no fused multiply-add for real types, NumPy's
    complex algorithms (Smith's division; the fused multiply of its vectorised loop), and
    float16 rounded after each operation. NaN, inf and -0.0 land where NumPy puts them.

    Examples
    --------
    >>> import numpy as np
    >>> import ndgradient
    >>> f = np.array([1, 2, 4, 7, 11, 16])
    >>> ndgradient.gradient(f)
    array([1. , 1.5, 2.5, 3.5, 4.5, 5. ])
    >>> ndgradient.gradient(f, 2)
    array([0.5 ,  0.75,  1.25,  1.75,  2.25,  2.5 ])

    Spacing given as coordinates:

    >>> x = np.arange(f.size)
    >>> ndgradient.gradient(f, x)
    array([1. ,  1.5,  2.5,  3.5,  4.5,  5. ])
    >>> x = np.array([0., 1., 1.5, 3.5, 4., 6.])
    >>> ndgradient.gradient(f, x)
    array([1. ,  3. ,  3.5,  6.7,  6.9,  2.5])

    A two-dimensional array gives one array per axis:

    >>> gy, gx = ndgradient.gradient(np.array([[1, 2, 6], [3, 4, 5]]))
    >>> gy
    array([[ 2.,  2., -1.],
           [ 2.,  2., -1.]])
    >>> gx
    array([[1. , 2.5, 4. ],
           [1. , 1. , 1. ]])
    >>> ndgradient.gradient(np.array([0, 1, 4, 9, 16]), edge_order=2)
    array([0., 2., 4., 6., 8.])
    >>> ndgradient.gradient(np.array([[1, 2, 6], [3, 4, 5]]), axis=0)
    array([[ 2.,  2., -1.],
           [ 2.,  2., -1.]])

    Extensions (keyword-only). Reuse output buffers, one per axis or stacked:

    >>> field = np.arange(12.0).reshape(3, 4) ** 2
    >>> buffers = np.empty((2, 3, 4))
    >>> ndgradient.gradient(field, out=buffers) is buffers
    True

    A periodic axis wraps around instead of using one-sided edges:

    >>> ndgradient.gradient(np.array([0.0, 1.0, 0.0, -1.0]), periodic=True)
    array([ 1.,  0., -1.,  0.])
    >>> x = np.array([0.0, 1.0, 3.0])
    >>> ndgradient.gradient(np.array([0.0, 1.0, 3.0]), x, periodic=True, period=4.0)
    array([-1.        ,  1.        , -1.66666667])

    Higher-order stencils are exact for polynomials up to their order (here ``4 t**3``):

    >>> t = np.linspace(0.0, 2.0, 9)
    >>> ndgradient.gradient(t**4, t[1] - t[0], accuracy=4)
    array([ 0.    ,  0.0625,  0.5   ,  1.6875,  4.    ,  7.8125, 13.5   ,
           21.4375, 32.    ])
    """
    if (
        type(f) is np.ndarray
        and out is None
        and periodic is False
        and accuracy == 2
        and period is None
        and (not varargs or (len(varargs) == 1 and type(varargs[0]) in _PYTHON_NUMBERS))
        and type(edge_order) is int
        and 1 <= edge_order <= 2
    ):
        # The common call, kept short (its overhead is most of a small call's time): a plain
        # array of a native dtype, one Python-number spacing or none, the default edge rules.
        dtype = f.dtype
        code = "d" if dtype.kind in "iu" else dtype.char
        if code in _NATIVE_FLOAT_CHARS and dtype.isnative:
            ndim = f.ndim
            axes = tuple(range(ndim)) if axis is None else normalize_axis_tuple(axis, ndim)
            # NumPy's order: the first axis's length, its coefficients, the other lengths.
            threads = None if workers is None else _resolve_workers(workers)
            if not axes:
                return ()  # nothing computed, so no spacing arithmetic (and its errors)
            if f.shape[axes[0]] < edge_order + 1:
                raise ValueError(_TOO_SHORT)
            dx = varargs[0] if varargs else 1.0
            sign = math.copysign(1.0, dx) if type(dx) is float else 1.0
            spacing = _python_number_spacing(dx, sign, code, edge_order)
            for ax in axes:
                if f.shape[ax] < edge_order + 1:
                    raise ValueError(_TOO_SHORT)
            outs = _allocate_outputs(f, len(axes))
            requests = [(ax, spacing, 2, False, None, False) for ax in axes]
            _core.gradient_into(f, outs, requests, code, edge_order, threads)
            return outs[0] if len(axes) == 1 else tuple(outs)
    extensions = out is not None or periodic is not False or accuracy != 2 or period is not None
    if is_dask_array(f):
        if extensions:
            raise TypeError(
                "out=, periodic=, period= and accuracy= are not available for Dask arrays"
            )
        from . import _dask

        return _dask.gradient(f, varargs, axis, edge_order, workers)
    if (type(f) is not np.ndarray or varargs) and _overrides_gradient((f, *varargs)):
        if extensions:
            raise TypeError(
                "out=, periodic=, period= and accuracy= are ndgradient extensions; they are "
                "not available for arguments whose type overrides numpy.gradient through "
                "__array_function__"
            )
        return _numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order)
    f = np.asanyarray(f)
    axes = tuple(range(f.ndim)) if axis is None else normalize_axis_tuple(axis, f.ndim)  # type: ignore[arg-type]
    try:
        spacings = _spacings(f, varargs, axes)
        _check_edge_order(edge_order)
        data_dtype = _data_dtype(f)
        plan = [
            _axis_plan(f, ax, dx, data_dtype, edge_order)
            for ax, dx in zip(axes, spacings, strict=True)
        ]
        stencils = _extended_stencils(f, axes, spacings, periodic, period, accuracy)
    except _NotNative:
        _check_edge_order(edge_order)
        if workers is not None:
            _resolve_workers(workers)  # checked, though NumPy's code path runs on one thread
        if periodic is not False or accuracy != 2 or period is not None:
            _extended_stencils(f, axes, (), periodic, period, accuracy)  # argument errors first
            raise TypeError(
                "periodic=, period= and accuracy= are computed natively only: float, complex "
                "and integer data (not masked or overriding arithmetic) with real spacings"
            ) from None
        if out is None:
            return _numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order)
        if isinstance(f, np.ma.MaskedArray):
            raise TypeError("out= cannot hold a masked result; call without out=") from None
        targets = _checked_out(out, f, varargs, len(axes))
        result = _numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order)
        results = list(result) if isinstance(result, tuple) else [result]
        _check_out_dtypes(targets, results[0].dtype if results else f.dtype)
        for target, value in zip(targets, results, strict=True):
            np.copyto(target, value, casting="safe")
        return _returned(out, targets)

    threads = None if workers is None else _resolve_workers(workers)
    if out is None:
        if not axes:
            return ()
        outs = _allocate_outputs(f, len(axes))
        _compute(f, outs, axes, plan, edge_order, threads, stencils)
        return outs[0] if len(axes) == 1 else tuple(outs)
    targets = _checked_out(out, f, varargs, len(axes))
    _check_out_dtypes(targets, _FLOAT64 if f.dtype.kind in "iu" else f.dtype)
    if axes:
        _compute(f, targets, axes, plan, edge_order, threads, stencils)
    return _returned(out, targets)


_ACCURACIES = (2, 4, 6, 8)


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


def _extended_stencils(
    f: np.ndarray,
    axes: tuple[int, ...],
    spacings: Sequence[Any],
    periodic: Any,
    period: Any,
    accuracy: Any,
) -> list[tuple[int, bool, float | None] | None] | None:
    """Per axis, ``(accuracy, periodic, period)`` for the extended kernel, or None where
    NumPy's own stencil applies; None for a call without extended stencils. Checks arguments.
    """
    if periodic is False and accuracy == 2 and period is None:
        return None
    if type(accuracy) is bool or not isinstance(accuracy, int | np.integer):
        raise TypeError(f"accuracy must be an integer, got {type(accuracy).__name__}")
    if accuracy not in _ACCURACIES:
        raise ValueError(f"accuracy must be 2, 4, 6 or 8, got {accuracy}")
    flags = _per_axis(periodic, len(axes), "periodic")
    for flag in flags:
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"periodic takes booleans, got {flag!r}")
    periods = _per_axis(period, len(axes), "period")
    per_axis = isinstance(period, Sequence | np.ndarray)
    plan: list[tuple[int, bool, float | None] | None] = []
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
        if f.shape[ax] < accuracy + 1 and (flag or accuracy > 2):
            raise ValueError(
                f"axis {ax} of length {f.shape[ax]} is too short for accuracy={accuracy}: "
                f"the stencil needs at least {accuracy + 1} points"
            )
        plan.append((int(accuracy), bool(flag), length) if flag or accuracy > 2 else None)
    if isinstance(period, int | float | np.number) and not any(
        p is not None and p[2] is not None for p in plan
    ):
        raise ValueError("period= is for periodic axes with coordinate arrays; there are none")
    return plan


def _resolve_workers(workers: Any) -> int:
    """scipy.fft's rule: a positive count, or a negative one counted back from the CPUs."""
    count = operator.index(workers)
    cpus = _core.available_cpus()
    resolved = count if count > 0 else cpus + 1 + count
    if count == 0 or resolved < 1 or resolved > _MAX_WORKERS:
        raise ValueError(
            f"workers value out of range; got {count}, must not be less than {-cpus} or 0, "
            f"nor more than {_MAX_WORKERS}"
        )
    return resolved


# More threads than this is a mistake, not a request (each worker is an OS thread).
_MAX_WORKERS = 1024


def _overrides_gradient(relevant: tuple[Any, ...]) -> bool:
    """Whether an argument's type overrides NumPy functions via ``__array_function__``."""
    default = np.ndarray.__array_function__
    for arg in relevant:
        override = getattr(type(arg), "__array_function__", default)
        if override is not default:
            return True
    return False


def _spacings(f: np.ndarray, varargs: tuple[Any, ...], axes: tuple[int, ...]) -> list[Any]:
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
        if type(distances) is not np.ndarray or not (
            distances.dtype.kind in "iu" or distances.dtype.char in "efd"
        ):
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
        raise _NotNative
    return spacings


def _check_edge_order(edge_order: Any) -> None:
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    if not (edge_order == 1 or edge_order == 2):
        raise ValueError(
            f"edge_order must be 1 or 2, got {edge_order!r} (numpy.gradient silently "
            "accepts other values and returns inconsistent edges; ndgradient refuses them)"
        )


def _data_dtype(f: np.ndarray) -> np.dtype[Any]:
    """The dtype NumPy differences ``f`` in, or _NotNative for NumPy's own code path."""
    cls = type(f)
    if cls is not np.ndarray and (
        issubclass(cls, np.ma.MaskedArray)
        or any(getattr(cls, m) is not getattr(np.ndarray, m) for m in _ARITHMETIC_METHODS)
    ):
        raise _NotNative
    if f.dtype.kind in "iu":
        return _FLOAT64
    if f.dtype.char in _NATIVE_FLOAT_CHARS:
        return f.dtype if f.dtype.isnative else f.dtype.newbyteorder("=")
    raise _NotNative


def _checked_out(out: Any, f: np.ndarray, varargs: tuple[Any, ...], count: int) -> list[Any]:
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


def _check_out_dtypes(targets: list[Any], result: np.dtype[Any]) -> None:
    for i, target in enumerate(targets):
        if not np.can_cast(result, target.dtype, casting="safe"):
            raise TypeError(
                f"Cannot write the gradient (dtype {result}) into out[{i}] of dtype "
                f"{target.dtype} with casting rule 'safe'"
            )


def _returned(out: Any, targets: list[Any]) -> Any:
    """What a call with ``out`` returns: the stacked array, the one array, or a tuple."""
    if isinstance(out, np.ndarray):
        return out
    return targets[0] if len(targets) == 1 else tuple(targets)  # () for no axes


def _allocate_outputs(f: np.ndarray, count: int) -> list[np.ndarray]:
    """``count`` outputs with NumPy's dtype (float64 for integers, else the input's, byte
    order included), layout and subclass.

    For integers NumPy allocates ``empty_like(f.astype(float64))``; ``empty_like`` does not
    always keep the strides of length-1 axes, so the layout is that of two ``empty_like``
    steps. The intermediate array is never written, so it costs no page faults.
    """
    if f.dtype.kind in "iu":
        prototype = np.empty_like(f, dtype=_FLOAT64)
        return [np.empty_like(prototype) for _ in range(count)]
    return [np.empty_like(f) for _ in range(count)]


_PYTHON_NUMBERS = (int, float, bool)


def _is_native_scalar(dx: Any) -> bool:
    if type(dx) in _PYTHON_NUMBERS:
        return True
    if isinstance(dx, np.generic) or (type(dx) is np.ndarray and dx.ndim == 0):
        return dx.dtype.kind in "biu" or dx.dtype.char in "efd"
    return False


def _axis_plan(
    f: np.ndarray, axis: int, dx: Any, data_dtype: np.dtype[Any], edge_order: int
) -> tuple[str, Any]:
    """The compute dtype code and the core's spacing argument for one axis."""
    if f.shape[axis] < edge_order + 1:
        raise ValueError(_TOO_SHORT)
    if isinstance(dx, np.ndarray) and dx.ndim == 1:
        coordinate_dtype = np.dtype(np.float64) if dx.dtype.kind in "iu" else dx.dtype
        compute = np.result_type(data_dtype, coordinate_dtype)
        spacing: Any = dx if dx.dtype.isnative else dx.astype(dx.dtype.newbyteorder("="))
    elif type(dx) in _PYTHON_NUMBERS:
        # A Python number is weak (NEP 50): NumPy computes in the data's own dtype.
        compute = data_dtype
        # The sign is part of the key: -0.0 == 0.0 but gives other bits.
        sign = math.copysign(1.0, dx) if type(dx) is float else 1.0
        spacing = _python_number_spacing(dx, sign, compute.char, edge_order)
    elif _is_native_scalar(dx):
        # NumPy's own expressions, evaluated by NumPy in the spacing's type.
        with np.errstate(all="ignore"):
            twice_dx = 2.0 * dx
            compute = np.result_type(data_dtype, twice_dx)
            # NumPy divides the first-order edges by ``dx`` itself, whose type can promote
            # less far (``np.int8`` vs the float64 of ``2. * dx``). For real data one
            # correctly rounded division gives the same bits in either type; for complex
            # data (Smith's algorithm rounds several times) it does not.
            if data_dtype.kind == "c" and np.result_type(data_dtype, dx) != compute:
                raise _NotNative

            def exact(value: Any) -> float:
                # Rounded to the compute type as NumPy's ufunc would; exact as a Python float.
                return float(np.asarray(value, dtype=compute).real)

            edges = None
            if edge_order == 2:
                first = (-1.5 / dx, 2.0 / dx, -0.5 / dx)
                last = (0.5 / dx, -2.0 / dx, 1.5 / dx)
                edges = (tuple(exact(v) for v in first), tuple(exact(v) for v in last))
            spacing = (exact(twice_dx), exact(dx), edges)
    else:
        raise _NotNative
    if compute.char not in _COMPUTE_CHARS[data_dtype.char]:
        raise _NotNative
    return compute.char, spacing


@functools.lru_cache(maxsize=512)
def _python_number_spacing(dx: float, sign: float, code: str, edge_order: int) -> tuple[Any, ...]:
    """The core's spacing tuple for a Python-number spacing, computed in ``code``'s type.

    Python's float arithmetic is NumPy's float64 arithmetic; for float64 and complex128 the
    values are used as they are, otherwise NumPy rounds them to the compute type.
    """
    twice_dx = 2.0 * dx
    values: tuple[float, ...] = (twice_dx, dx)
    if edge_order == 2:
        values += (-1.5 / dx, 2.0 / dx, -0.5 / dx, 0.5 / dx, -2.0 / dx, 1.5 / dx)
    if code not in "dD":
        with np.errstate(all="ignore"):
            values = tuple(float(v) for v in np.array(values, dtype=code).real)
    else:
        values = tuple(float(v) for v in values)
    edges = (values[2:5], values[5:8]) if edge_order == 2 else None
    return (values[0], values[1], edges)


def _compute(
    f: np.ndarray,
    outs: list[np.ndarray],
    axes: tuple[int, ...],
    plan: list[tuple[str, Any]],
    edge_order: int,
    workers: int | None,
    stencils: list[tuple[int, bool, float | None] | None] | None = None,
    uneven: Sequence[bool] | None = None,
) -> None:
    """Fills ``outs`` through the core: one fused pass per compute dtype. ``uneven`` flags
    coordinate arrays that are slices of a longer, non-uniform array (Dask blocks)."""
    if f.size == 0:
        return  # nothing to write (and zero-size outputs may share one address)
    source = f.view(np.ndarray)
    if not source.dtype.isnative:
        source = source.astype(source.dtype.newbyteorder("="))
    targets = [out.view(np.ndarray) for out in outs]
    # The core writes the data's dtype in native byte order; other outputs get a copy.
    written = _FLOAT64 if f.dtype.kind in "iu" else f.dtype.newbyteorder("=")
    natives = [t if t.dtype == written else np.empty_like(t, dtype=written) for t in targets]
    codes = [code for code, _ in plan]
    for code in dict.fromkeys(codes):
        chosen = [i for i, c in enumerate(codes) if c == code]
        requests = []
        for i in chosen:
            accuracy, periodic, period = (stencils[i] if stencils else None) or (2, False, None)
            requests.append(
                (
                    axes[i],
                    plan[i][1],
                    accuracy,
                    periodic,
                    period,
                    bool(uneven[i]) if uneven is not None else False,
                )
            )
        _core.gradient_into(
            source, [natives[i] for i in chosen], requests, code, int(edge_order), workers
        )
    for target, native in zip(targets, natives, strict=True):
        if native is not target:
            np.copyto(target, native, casting="safe")
