"""`ndgradient.gradient`: the public function, its shortcut for small calls, the general path.

Every rule the function follows is in ``_rules``; ``_native`` calls the core and ``_dask`` takes
Dask arrays. The shortcut takes the general path's steps for the common call, in its order,
and ``tests/test_fast_path.py`` checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, SupportsIndex

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core, _windows
from ._fperrors import report
from ._native import fill
from ._rules import (
    PYTHON_NUMBERS,
    AxisPlan,
    NotNative,
    allocate_outputs,
    asks_extended_stencils,
    axis_plan,
    check_edge_order,
    check_length,
    check_out_dtypes,
    checked_out,
    data_dtype,
    extended_stencils,
    is_dask_array,
    is_native_data,
    normalized_axes,
    numpy_gradient,
    overrides_gradient,
    python_number_request,
    read_spacings,
    resolve_workers,
    result_dtype,
    returned_out,
)

__all__ = ["general_gradient", "gradient"]


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
    Differentiate sampled values along one or more axes, giving `numpy.gradient`'s result.

    Every output value is a finite difference of `f`: a centred difference over a point's two
    neighbours inside each axis, and a one-sided difference at its first and last point,
    whose accuracy `edge_order` sets. Each derivative has the shape of `f`. The arguments are
    those of `numpy.gradient` and so are the results, to the last bit (with NumPy 2's
    promotion rules); a Rust core computes them in one pass over memory, on several threads,
    with the GIL released.

    Parameters
    ----------
    f : array_like
        The samples, an array of any number of dimensions.
    *varargs : scalar or 1-D array, optional
        Where the samples lie. Given nothing, neighbouring samples are one unit apart along
        every axis. A single scalar is the distance between neighbours along every
        differentiated axis. Otherwise, pass one item per differentiated axis, in the order
        of `axis`: a scalar for evenly spaced samples, or a 1-D array of the coordinates of
        the samples along that axis, as long as the axis. Scalars and arrays can be mixed.
    axis : None or int or tuple of ints, optional
        Which axes to differentiate along; a negative axis counts back from the last one.
        None (the default) means all of them.
    edge_order : {1, 2}, optional
        The order of accuracy of the one-sided differences at both ends of each axis: 1 (the
        default) takes two points there, 2 takes three.
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
        The derivative along each differentiated axis, in the order of `axis`: one array for
        one axis, a tuple for several (and an empty tuple for none). Each has `f`'s shape,
        memory layout and array subclass, and the dtype `numpy.gradient` gives: float64 for
        integer `f`, `f`'s own dtype (byte order included) for float and complex `f`.

    Raises
    ------
    numpy.exceptions.AxisError
        If an axis is out of range.
    ValueError
        For repeated axes, spacing arrays of the wrong length or dimension, an axis shorter
        than ``edge_order + 1``, an `edge_order` other than 1 or 2, and ``workers=0``, a
        negative `workers` beyond the CPU count or one above 1024. For the extensions: an
        `out` of the wrong shape or count, read-only or sharing memory; an `accuracy` other
        than 2, 4, 6, 8 or an axis shorter than ``accuracy + 1``; a periodic coordinate axis
        without a `period`, a period that does not reach past the coordinates, or a period
        for another axis.
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
    split over `workers` threads: up to 2**22 elements the calling thread computes a share and
    a pool of ``workers - 1`` helpers the rest, and the helpers stay awake (waiting) for 100
    microseconds after such a call, for the next one; larger inputs run on a pool of `workers`
    threads (pools are made on first use and kept). Smaller inputs stay on the calling
    thread. The result does not depend on the number of threads. In a child process created
    by ``fork()`` the core computes on the calling thread, so it never waits on the parent's
    pool. Inputs of 2**24 elements or more are
    computed in parts with a signal check between them: Ctrl-C interrupts a long call within
    tens of milliseconds (KeyboardInterrupt; the outputs are then incomplete).

    **Precision.** Every operation is the IEEE operation NumPy performs, in the type NumPy
    performs it in and in the same order: the difference in the data's type, the division or
    weighted sum in NumPy's promoted type (for example float64 for float32 data with a
    ``np.float64`` spacing, float32 with a Python float spacing), division by ``2 * dx``
    (multiplication by a reciprocal only where it gives the same bits: by the exact
    reciprocal of a power of two, for real types), no fused multiply-add for real types, NumPy's
    complex algorithms (Smith's division; the fused multiply of its vectorised loop), and
    float16 rounded after each operation. NaN, inf and -0.0 land where NumPy puts them.

    Examples
    --------
    >>> import numpy as np
    >>> import ndgradient
    >>> squares = np.array([0, 1, 4, 9, 16, 25])  # x**2 at x = 0, 1, ..., 5
    >>> ndgradient.gradient(squares)
    array([1., 2., 4., 6., 8., 9.])
    >>> ndgradient.gradient(squares, 0.5)  # the samples half a unit apart
    array([ 2.,  4.,  8., 12., 16., 18.])

    Second-order edges are exact for a parabola at the ends too:

    >>> ndgradient.gradient(squares, edge_order=2)
    array([ 0.,  2.,  4.,  6.,  8., 10.])

    Uneven samples, given by their coordinates:

    >>> x = np.array([0.0, 1.0, 3.0, 4.0, 6.0, 7.0])
    >>> ndgradient.gradient(x**2, x)
    array([ 1.,  2.,  6.,  8., 12., 13.])

    One derivative per axis of a two-dimensional array, or along the chosen axes only:

    >>> plane = np.array([[0, 1, 2], [10, 11, 12]])  # 10 more per row, 1 more per column
    >>> per_row, per_column = ndgradient.gradient(plane)
    >>> per_row
    array([[10., 10., 10.],
           [10., 10., 10.]])
    >>> per_column
    array([[1., 1., 1.],
           [1., 1., 1.]])
    >>> ndgradient.gradient(plane, np.array([0.0, 5.0]), axis=0)
    array([[2., 2., 2.],
           [2., 2., 2.]])

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
        and not asks_extended_stencils(periodic, period, accuracy)
        and (not varargs or (len(varargs) == 1 and type(varargs[0]) in PYTHON_NUMBERS))
        and type(edge_order) is int
        and 1 <= edge_order <= 2
        and f.dtype.isnative
        and is_native_data(f.dtype)
    ):
        # The common call (a plain array of a native dtype, one Python-number spacing or
        # none, NumPy's stencil), kept short since its overhead is most of a small call's
        # time: `general_gradient`'s steps for it, in its order, without its generality.
        code = result_dtype(f.dtype).char  # a Python number computes in the data's type
        dx = varargs[0] if varargs else 1.0
        shape = f.shape
        requests = []
        for ax in normalized_axes(axis, f.ndim):
            check_length(shape, ax, edge_order)
            requests.append(python_number_request(ax, dx, code, edge_order))
        threads = resolve_workers(workers)
        if not requests:
            return ()
        outs = allocate_outputs(f, len(requests))
        raised = _core.gradient_into(f, outs, requests, code, edge_order, threads)
        if raised:
            report(raised, lambda: numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order))
        return outs[0] if len(outs) == 1 else tuple(outs)
    return general_gradient(f, varargs, axis, edge_order, workers, out, periodic, period, accuracy)


def general_gradient(
    f: Any,
    varargs: tuple[Any, ...],
    axis: Any,
    edge_order: Any,
    workers: Any,
    out: Any,
    periodic: Any,
    period: Any,
    accuracy: Any,
) -> Any:
    """`gradient` for any call: Dask arrays, overrides, NumPy's code path and the core."""
    extensions = out is not None or asks_extended_stencils(periodic, period, accuracy)
    if is_dask_array(f):
        if extensions:
            raise TypeError(
                "out=, periodic=, period= and accuracy= are not available for Dask arrays"
            )
        from . import _dask

        return _dask.gradient(f, varargs, axis, edge_order, workers)
    if (type(f) is not np.ndarray or varargs) and overrides_gradient((f, *varargs)):
        if extensions:
            raise TypeError(
                "out=, periodic=, period= and accuracy= are ndgradient extensions; they are "
                "not available for arguments whose type overrides numpy.gradient through "
                "__array_function__"
            )
        return numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order)
    f = np.asanyarray(f)
    axes = normalized_axes(axis, f.ndim)
    if _windows.takes(f, out, periodic, period, accuracy):  # memory-mapped files
        result = _windows.gradient(f, varargs, axes, edge_order, workers, out)
        if result is not _windows.DECLINED:
            return result
    plans = _native_plans(f, varargs, axes, edge_order, periodic, period, accuracy)
    if plans is None:
        # NumPy's own code path, after ndgradient's own argument checks (NumPy's come first).
        check_edge_order(edge_order)
        resolve_workers(workers)  # checked, though NumPy's code path runs on one thread
        if asks_extended_stencils(periodic, period, accuracy):
            extended_stencils(f, axes, (), periodic, period, accuracy)  # argument errors first
            raise TypeError(
                "periodic=, period= and accuracy= are computed natively only: float, complex "
                "and integer data (not masked or overriding arithmetic) with real spacings"
            )
        return _numpy_path(f, varargs, axis, axes, edge_order, out)
    threads = resolve_workers(workers)
    # NumPy's computation of the call, for its floating-point errors: `_fperrors.report`
    # runs it when the core's arithmetic raised one that `np.geterr()` acts on.
    reproduce = (
        None
        if asks_extended_stencils(periodic, period, accuracy)
        else lambda: numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order)
    )
    if out is None:
        if not axes:
            return ()
        outs = allocate_outputs(f, len(axes))
        fill(f, outs, plans, edge_order, threads, reproduce)
        return outs[0] if len(axes) == 1 else tuple(outs)
    targets = checked_out(out, f, varargs, len(axes))
    check_out_dtypes(targets, result_dtype(f.dtype))
    if axes:
        fill(f, targets, plans, edge_order, threads, reproduce)
    return returned_out(out, targets)


def _native_plans(
    f: np.ndarray,
    varargs: tuple[Any, ...],
    axes: tuple[int, ...],
    edge_order: Any,
    periodic: Any,
    period: Any,
    accuracy: Any,
) -> list[AxisPlan] | None:
    """Each axis's plan for the core, NumPy's argument errors in NumPy's order; None where
    NumPy's own code path must compute the call."""
    try:
        spacings = read_spacings(f, varargs, axes)
        check_edge_order(edge_order)
        data = data_dtype(f)
        plans = [
            axis_plan(f, ax, dx, data, edge_order) for ax, dx in zip(axes, spacings, strict=True)
        ]
        stencils = extended_stencils(f, axes, spacings, periodic, period, accuracy)
    except NotNative:
        return None
    if stencils is None:
        return plans
    return [plan.with_stencil(*stencil) for plan, stencil in zip(plans, stencils, strict=True)]


def _numpy_path(
    f: np.ndarray,
    varargs: tuple[Any, ...],
    axis: Any,
    axes: tuple[int, ...],
    edge_order: Any,
    out: Any,
) -> Any:
    """`numpy.gradient`'s result, copied into ``out=`` if given."""
    if out is None:
        return numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order)
    if isinstance(f, np.ma.MaskedArray):
        raise TypeError("out= cannot hold a masked result; call without out=")
    targets = checked_out(out, f, varargs, len(axes))
    result = numpy_gradient(f, *varargs, axis=axis, edge_order=edge_order)
    results = list(result) if isinstance(result, tuple) else [result]
    check_out_dtypes(targets, results[0].dtype if results else f.dtype)
    for target, value in zip(targets, results, strict=True):
        np.copyto(target, value, casting="safe")
    return returned_out(out, targets)
