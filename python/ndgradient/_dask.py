"""Dask arrays: the gradient block by block with a one-cell halo, bit-identical to the whole.

Every decision NumPy takes over the whole array is taken here once, eagerly, on a zero-strided
stand-in of the array's shape and dtype (no data is read): the argument checks and their
errors, the compute dtype, and whether a coordinate array is uniform. Each task then gets its
block and the neighbours' faces one cell deep along every differentiated axis that is split
(no corners: the stencils never read them, which halves the small transfer tasks of dask's
``overlap``). It runs the fused core once for all axes on the block alone, then recomputes
the block's outermost layers next to a neighbour from slabs of three layers, face included;
blocks too short for that are put together with their faces first. Interior points see the
same three neighbours, and edge points the same first or last points, as in the whole
array, so every value has the bits of the in-memory result.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._halo import (
    Face,
    along,
    block_plans,
    decided_spacings,
    fill_with_faces,
    with_block_coordinates,
)
from ._native import fill
from ._rules import (
    AxisPlan,
    NotNative,
    check_edge_order,
    check_length,
    is_dask_array,
    normalized_axes,
    numpy_gradient,
    read_spacings,
    resolve_workers,
    result_dtype,
    whole_array_steps,
)

__all__ = ["gradient"]


@dataclass(frozen=True)
class _Layout:
    """What every task needs to know, decided once for the whole array."""

    axes: tuple[int, ...]
    # Per axis, the core's plan (uneven: coordinates NumPy found non-uniform), or None for
    # NumPy's own code path with ``numpy_spacings`` (None: this block's coordinates).
    plans: tuple[AxisPlan, ...] | None
    numpy_spacings: tuple[Any | None, ...]
    edge_order: int
    workers: int
    dtype: np.dtype[Any]
    numblocks: tuple[int, ...]
    halo: frozenset[int]  # the differentiated axes split into several blocks
    offsets: tuple[tuple[int, ...], ...]  # per array axis: where each block starts, and the end
    several: bool  # several axes: each task computes them all and gives a tuple of blocks


def gradient(
    f: Any,
    varargs: tuple[Any, ...],
    axis: Any,
    edge_order: Any,
    workers: Any,
) -> Any:
    """`ndgradient.gradient` for a Dask array: lazy Dask arrays, one per axis."""
    import dask.array as da
    from dask.base import tokenize
    from dask.core import flatten
    from dask.highlevelgraph import HighLevelGraph

    if any(math.isnan(size) for chunks in f.chunks for size in chunks):
        raise ValueError(
            "ndgradient needs the chunk sizes of a Dask array, and this one has unknown "
            f"(NaN) chunk sizes, shape {f.shape}; call x.compute_chunk_sizes() first"
        )
    if type(f._meta) is not np.ndarray:
        raise TypeError(
            "ndgradient computes Dask arrays of NumPy blocks; this one holds "
            f"{type(f._meta).__module__}.{type(f._meta).__name__} blocks"
        )
    # Coordinate arrays are one axis long: brought into memory, and into the graph once.
    varargs = tuple(np.asarray(v.compute()) if is_dask_array(v) else v for v in varargs)
    standin = np.broadcast_to(np.zeros((), dtype=f.dtype), f.shape)
    axes = normalized_axes(axis, f.ndim)
    try:
        spacings = read_spacings(standin, varargs, axes)
    except NotNative:
        raise TypeError(
            "ndgradient takes coordinate arrays of integer or float16/32/64 dtypes for Dask "
            "arrays; use dask.array.gradient for others"
        ) from None
    check_edge_order(edge_order)
    decided = decided_spacings(spacings)
    # The coordinates themselves are one key of the graph, not a copy in every task.
    coordinates = {ax: dx for ax, (dx, uneven) in zip(axes, decided, strict=True) if uneven}
    plans: tuple[AxisPlan, ...] | None
    try:
        plans = block_plans(standin, axes, decided, edge_order)
        dtype = result_dtype(f.dtype)
    except NotNative:
        # NumPy's own code path, block by block (complex data with a narrower NumPy scalar
        # spacing, datetime, object, longdouble data).
        plans = None
        dtype = _numpy_path_dtype(f, axes, [dx for dx, _ in decided], int(edge_order))
    threads = resolve_workers(workers, default=1)
    if not axes:
        return ()
    chunks = _mergeable_chunks(f.chunks, axes, int(edge_order))
    if plans is None:
        chunks = _blocks_kept_uneven(chunks, coordinates)
    f = f.rechunk(chunks)
    layout = _Layout(
        axes=axes,
        plans=plans,
        numpy_spacings=tuple(
            None if ax in coordinates else dx for ax, (dx, _) in zip(axes, decided, strict=True)
        ),
        edge_order=int(edge_order),
        workers=threads,
        dtype=dtype,
        numblocks=f.numblocks,
        halo=frozenset(ax for ax in axes if f.numblocks[ax] > 1),
        offsets=tuple(tuple(np.cumsum((0, *chunks)).tolist()) for chunks in f.chunks),
        several=len(axes) > 1,
    )
    meta = np.empty((0,) * f.ndim, dtype=layout.dtype)
    name = f"ndgradient-{tokenize(f, layout, coordinates)}"
    graph = HighLevelGraph.from_collections(
        name, _halo_graph(name, f, layout, coordinates), dependencies=[f]
    )
    computed = da.Array(graph, name, chunks=f.chunks, meta=meta)
    if not layout.several:
        return computed
    # Each task gave one block per axis, as a tuple: one array per axis picks its own
    # (dask's multi-output pattern, as in apply_gufunc; a tuple item is taken, not copied).
    keys = list(flatten(computed.__dask_keys__()))
    token = name.rsplit("-", 1)[-1]
    producer: Any = computed  # dask's own annotations reject its Array here
    gradients = []
    for k in range(len(axes)):
        leaf = f"ndgradient-axis{k}-{token}"
        picks: dict[Any, Any] = {(leaf, *key[1:]): (operator.getitem, key, k) for key in keys}
        leaf_graph = HighLevelGraph.from_collections(leaf, picks, dependencies=[producer])
        gradients.append(da.Array(leaf_graph, leaf, chunks=f.chunks, meta=meta))
    return tuple(gradients)


def _halo_graph(
    name: str, f: Any, layout: _Layout, coordinates: dict[int, np.ndarray]
) -> dict[Any, Any]:
    """The tasks: per block, its faces from the neighbouring blocks (one cell deep, along each
    split differentiated axis; no corners, which no stencil reads) and one task that puts the
    block together with its faces and computes every axis. Each coordinate array is one key."""
    tasks: dict[Any, Any] = {}
    coordinate_keys: list[str | None] = []
    for ax in layout.axes:
        coordinate_key = f"{name}-coordinates-{ax}" if ax in coordinates else None
        if coordinate_key is not None:
            tasks[coordinate_key] = coordinates[ax]
        coordinate_keys.append(coordinate_key)
    halo = sorted(layout.halo)
    for index in np.ndindex(*f.numblocks):
        faces = []
        for ax in halo:
            pair: list[tuple[Any, ...] | None] = []
            for side, step in enumerate((-1, 1)):
                neighbour = list(index)
                neighbour[ax] += step
                if not 0 <= neighbour[ax] < f.numblocks[ax]:
                    pair.append(None)
                    continue
                cut = along(f.ndim, ax, slice(-1, None) if step < 0 else slice(0, 1))
                key = (f"{name}-face", ax, side, *index)
                tasks[key] = (operator.getitem, (f.name, *neighbour), cut)
                pair.append(key)
            faces.append(pair)
        tasks[(name, *index)] = (
            _block_gradient,
            (f.name, *index),
            faces,
            coordinate_keys,
            layout,
            index,
        )
    return tasks


def _numpy_path_dtype(
    f: Any, axes: tuple[int, ...], spacings: list[Any], edge_order: int
) -> np.dtype[Any]:
    """What `numpy.gradient` returns for ``f``'s dtype (it does not depend on the spacings),
    found on a small array; NumPy's TypeError for boolean data, raised now."""
    spacings = [1.0 if np.ndim(dx) else dx for dx in spacings]
    for ax in axes:
        check_length(f.shape, ax, edge_order)
    probe = np.zeros([edge_order + 1 if ax in axes else 1 for ax in range(f.ndim)], f.dtype)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = numpy_gradient(probe, *spacings, axis=axes, edge_order=edge_order)
    first: np.ndarray = result[0] if isinstance(result, tuple | list) else result
    return first.dtype


def _block_coordinates(
    layout: _Layout, coordinates: np.ndarray, ax: int, index: int, halo: bool
) -> np.ndarray:
    """The coordinates of block ``index`` along axis ``ax``, with its halo cells if asked."""
    before = int(halo and ax in layout.halo and index > 0)
    after = int(halo and ax in layout.halo and index < layout.numblocks[ax] - 1)
    return coordinates[layout.offsets[ax][index] - before : layout.offsets[ax][index + 1] + after]


def _blocks_kept_uneven(
    chunks: tuple[tuple[int, ...], ...], coordinates: dict[int, np.ndarray]
) -> tuple[tuple[int, ...], ...]:
    """For NumPy's code path, which decides uniformity again in each block from the block's
    own coordinates (halo included): blocks whose coordinates are uniform, where the whole
    array's are not, join a neighbour until they are not (at worst, one block)."""
    merged = list(chunks)
    for ax, x in coordinates.items():
        sizes = list(chunks[ax])
        i = 0
        while len(sizes) > 1 and i < len(sizes):
            start = sum(sizes[:i]) - int(i > 0)
            stop = sum(sizes[: i + 1]) + int(i < len(sizes) - 1)
            if whole_array_steps(x[start:stop])[1]:
                i += 1
                continue
            neighbour = i + 1 if i + 1 < len(sizes) else i - 1
            low = min(i, neighbour)
            sizes[low : low + 2] = [sizes[i] + sizes[neighbour]]
            i = low
        merged[ax] = tuple(sizes)
    return tuple(merged)


def _mergeable_chunks(
    chunks: tuple[tuple[int, ...], ...], axes: Sequence[int], edge_order: int
) -> tuple[tuple[int, ...], ...]:
    """Chunks along the differentiated axes that each give the stencil enough points: no
    empty chunks, and first and last chunks of at least ``edge_order`` points (with the halo
    cell, the ``edge_order + 1`` the one-sided edge needs). Short chunks join a neighbour."""
    merged = list(chunks)
    for ax in axes:
        sizes = [size for size in chunks[ax] if size > 0] or [0]
        while len(sizes) > 1 and sizes[0] < edge_order:
            sizes[:2] = [sizes[0] + sizes[1]]
        while len(sizes) > 1 and sizes[-1] < edge_order:
            sizes[-2:] = [sizes[-2] + sizes[-1]]
        merged[ax] = tuple(sizes)
    return tuple(merged)


def _block_gradient(
    center: np.ndarray,
    faces: list[list[np.ndarray | None]],
    coordinates: list[np.ndarray | None],
    layout: _Layout,
    index: tuple[int, ...],
) -> np.ndarray | tuple[np.ndarray, ...]:
    """One block's gradient along each axis (a tuple for several axes), from the block and
    its faces, the neighbours' cells just before and after it along each axis in
    ``layout.halo``."""
    if layout.plans is None or any(center.shape[ax] < layout.edge_order + 1 for ax in layout.axes):
        return _assembled_block_gradient(center, faces, coordinates, layout, index)
    block_faces = []
    for ax, pair in zip(sorted(layout.halo), faces, strict=True):
        x = coordinates[layout.axes.index(ax)]
        for face, low in zip(pair, (True, False), strict=True):
            if face is None:
                continue
            three = None
            if x is not None:
                edge = layout.offsets[ax][index[ax] + (0 if low else 1)]
                three = x[edge - 1 : edge + 2] if low else x[edge - 2 : edge + 1]
            block_faces.append(Face(ax, low, face, three))
    plans = _own_plans(coordinates, layout, index, halo=False)
    outs = [np.empty(center.shape, dtype=layout.dtype) for _ in layout.axes]
    fill_with_faces(
        center, outs, plans, layout.axes, block_faces, layout.edge_order, layout.workers
    )
    return tuple(outs) if layout.several else outs[0]


def _assembled_block_gradient(
    center: np.ndarray,
    faces: list[list[np.ndarray | None]],
    coordinates: list[np.ndarray | None],
    layout: _Layout,
    index: tuple[int, ...],
) -> np.ndarray | tuple[np.ndarray, ...]:
    """`_block_gradient` for blocks too short to compute on their own, and for NumPy's code
    path: the block and its faces put together in one array, computed, and cut back."""
    block = center
    before = [0] * center.ndim
    after = [0] * center.ndim
    if faces:
        for ax, (low, high) in zip(sorted(layout.halo), faces, strict=True):
            before[ax], after[ax] = int(low is not None), int(high is not None)
        shape = [b + n + a for b, n, a in zip(before, center.shape, after, strict=True)]
        # The corners stay zero: no kept point's stencil reads them.
        block = np.zeros(shape, dtype=center.dtype)
        inside = [slice(b, b + n) for b, n in zip(before, center.shape, strict=True)]
        block[tuple(inside)] = center
        for ax, (low, high) in zip(sorted(layout.halo), faces, strict=True):
            for face, cell in ((low, slice(0, 1)), (high, slice(-1, None))):
                if face is not None:
                    block[(*inside[:ax], cell, *inside[ax + 1 :])] = face
    inside_block = tuple(
        slice(b, size - a) for b, a, size in zip(before, after, block.shape, strict=True)
    )
    if layout.plans is None:
        spacings = [
            dx if x is None else _block_coordinates(layout, x, ax, index[ax], True)
            for ax, dx, x in zip(layout.axes, layout.numpy_spacings, coordinates, strict=True)
        ]
        result = numpy_gradient(block, *spacings, axis=layout.axes, edge_order=layout.edge_order)
        # A cluster may deliver the block in the other byte order (NumPy unpickles a
        # non-contiguous non-native array as a native one), and NumPy's result follows the
        # block: each result block gets the dtype the Dask array declares.
        parts: list[np.ndarray] = [
            part[inside_block].astype(layout.dtype, copy=False)
            for part in (result if isinstance(result, tuple) else [result])
        ]
        return tuple(parts) if layout.several else parts[0]
    # Each axis into a buffer of its own, so that a result block keeps only its own memory
    # alive.
    outs = [np.empty(block.shape, dtype=layout.dtype) for _ in layout.axes]
    plans = _own_plans(coordinates, layout, index, halo=True)
    fill(block, outs, plans, layout.edge_order, layout.workers)
    kept = [out[inside_block] for out in outs]
    return tuple(kept) if layout.several else kept[0]


def _own_plans(
    coordinates: list[np.ndarray | None],
    layout: _Layout,
    index: tuple[int, ...],
    halo: bool,
) -> list[AxisPlan]:
    """The core's plans for block ``index``, with the block's own coordinates (with its halo
    cells if ``halo``)."""
    assert layout.plans is not None, "the core's path"
    own = [
        None if x is None else _block_coordinates(layout, x, ax, index[ax], halo)
        for ax, x in zip(layout.axes, coordinates, strict=True)
    ]
    return with_block_coordinates(layout.plans, own)
