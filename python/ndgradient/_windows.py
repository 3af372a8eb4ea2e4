"""Arrays bigger than memory: the gradient window by window along the outermost memory axis.

A window is a run of layers (rows of a C-ordered array, columns of a Fortran-ordered one) of
a bounded number of bytes. Each is computed by the core with the layer just before and just
after it as its faces (`_halo.fill_with_faces`, as Dask blocks are), and only its own layers
are written, so the result has the bits of the whole array computed in memory. The decisions
NumPy takes over the whole array (its argument checks, whether coordinates are uniform) are
taken once, before the first window (`plan_windows`).

`gradient` serves ``ndgradient.gradient`` for memory-mapped inputs or outputs (``np.memmap``,
``np.load(..., mmap_mode="r")``, ``np.lib.format.open_memmap``): after each window the pages
done with are written back and given back to the system (``madvise(MADV_DONTNEED)``), so the
resident memory stays about one window whatever the file size. The command line maps each
window itself (``_bigfile``) and calls `Windows.fill` the same way.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
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
from ._rules import (
    AxisPlan,
    NotNative,
    allocate_outputs,
    asks_extended_stencils,
    check_edge_order,
    check_out_dtypes,
    checked_out,
    is_native_data,
    read_spacings,
    resolve_workers,
    result_dtype,
    returned_out,
)

__all__ = [
    "DECLINED",
    "WINDOW_BYTES",
    "Windows",
    "gradient",
    "plan_windows",
    "takes",
    "window_axis",
    "window_bytes",
]

#: Input bytes per window unless ``NDGRADIENT_WINDOW_BYTES`` says otherwise: large enough
#: that the per-window overhead (the faces, a few system calls) is negligible and the core's
#: threads have work, small enough to be a small part of any machine's memory.
WINDOW_BYTES = 64 << 20

#: What `gradient` returns for a call it leaves to the in-memory path.
DECLINED: Any = object()


def window_bytes() -> int:
    """The input bytes per window: ``NDGRADIENT_WINDOW_BYTES`` if set, else `WINDOW_BYTES`."""
    setting = os.environ.get("NDGRADIENT_WINDOW_BYTES")
    if not setting:
        return WINDOW_BYTES
    try:
        value = int(setting)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"NDGRADIENT_WINDOW_BYTES must be a positive integer, got {setting!r}")
    return value


def window_axis(shape: tuple[int, ...], strides: tuple[int, ...]) -> int:
    """The axis windows follow: the one of largest stride among the axes longer than one
    (axis 0 of a C-ordered array, the last of a Fortran-ordered one), so that a window is one
    contiguous run of bytes of a contiguous array."""
    longer = [ax for ax, n in enumerate(shape) if n > 1]
    if not longer:
        return 0
    return max(longer, key=lambda ax: (abs(strides[ax]), -ax))


def _window_bounds(length: int, layer_bytes: int, budget: int, edge_order: int) -> list[int]:
    """Where windows start along the window axis, and its length last: windows of ``budget``
    bytes, each of at least ``edge_order + 1`` layers (the edges' one-sided stencil needs them
    beside its face), a short last one merged into the one before."""
    layers = max(edge_order + 1, budget // max(layer_bytes, 1))
    starts = list(range(0, length, layers))
    if len(starts) > 1 and length - starts[-1] < edge_order + 1:
        starts.pop()
    return [*starts, length]


@dataclass(frozen=True)
class Windows:
    """A gradient call decided for the whole array, computed one window at a time."""

    axis: int  # the window axis
    length: int  # the array's length along it
    edges: tuple[int, ...]  # where each window starts, then ``length``
    axes: tuple[int, ...]  # the differentiated axes
    plans: tuple[AxisPlan, ...]  # per differentiated axis, as every window takes it
    coordinates: tuple[np.ndarray | None, ...]  # per differentiated axis: uneven coordinates
    edge_order: int
    workers: int | None

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """Each window's own layers along the window axis, ``(start, stop)``."""
        return list(zip(self.edges[:-1], self.edges[1:], strict=True))

    def reads(self, start: int, stop: int) -> tuple[int, int]:
        """The layers of the input the window ``[start, stop)`` reads: its own, and a face
        on each side where the window axis is differentiated and a neighbour exists."""
        if self.axis not in self.axes:
            return start, stop
        return max(start - 1, 0), min(stop + 1, self.length)

    def fill(
        self, slab: np.ndarray, slab_start: int, start: int, stop: int, outs: Sequence[np.ndarray]
    ) -> None:
        """Writes the window ``[start, stop)`` of each derivative into ``outs`` (the window's
        shape), from ``slab``: the input's layers `reads` names, ``slab_start`` the first."""
        ax, ndim = self.axis, slab.ndim
        center = slab[along(ndim, ax, slice(start - slab_start, stop - slab_start))]
        faces = []
        own: list[np.ndarray | None] = list(self.coordinates)
        if ax in self.axes:
            k = self.axes.index(ax)
            x = self.coordinates[k]
            if x is not None:
                own[k] = x[start:stop]
            if start > 0:
                cells = slab[along(ndim, ax, slice(start - 1 - slab_start, start - slab_start))]
                faces.append(
                    Face(ax, True, cells, None if x is None else x[start - 1 : start + 2])
                )
            if stop < self.length:
                cells = slab[along(ndim, ax, slice(stop - slab_start, stop + 1 - slab_start))]
                faces.append(Face(ax, False, cells, None if x is None else x[stop - 2 : stop + 1]))
        plans = with_block_coordinates(self.plans, own)
        fill_with_faces(center, outs, plans, self.axes, faces, self.edge_order, self.workers)


def plan_windows(
    f: np.ndarray,
    varargs: tuple[Any, ...],
    axes: tuple[int, ...],
    edge_order: Any,
    workers: int | None,
    axis: int,
    budget: int,
) -> Windows:
    """Every decision for the whole array, NumPy's argument errors in ``gradient``'s order,
    and windows of about ``budget`` bytes along ``axis``; NotNative for calls only NumPy's
    code path computes. ``f`` may be a stand-in of the array's shape and dtype: no data is
    read."""
    spacings = read_spacings(f, varargs, axes)
    check_edge_order(edge_order)
    decided = decided_spacings(spacings)
    plans = block_plans(f, axes, decided, int(edge_order))
    length = f.shape[axis] if f.ndim else 1
    layer_bytes = f.dtype.itemsize * (f.size // length if length else 0)
    return Windows(
        axis=axis,
        length=length,
        edges=tuple(_window_bounds(length, layer_bytes, budget, int(edge_order))),
        axes=axes,
        plans=plans,
        coordinates=tuple(dx if uneven else None for dx, uneven in decided),
        edge_order=int(edge_order),
        workers=workers,
    )


# ------------------------------------------------------------------------------------------
# ndgradient.gradient on memory-mapped arrays
# ------------------------------------------------------------------------------------------


def _is_mapped(a: Any) -> bool:
    return isinstance(a, np.memmap) and getattr(a, "_mmap", None) is not None


def _out_arrays(out: Any) -> list[Any]:
    if isinstance(out, np.ndarray):
        return [out]
    if isinstance(out, Sequence) and not isinstance(out, str | bytes):
        return list(out)
    return []


def takes(f: np.ndarray, out: Any, periodic: Any, period: Any, accuracy: Any) -> bool:
    """Whether a call may go window by window (`gradient` has the last word): native data
    larger than one window, NumPy's stencil, and ``f`` or an ``out`` array memory-mapped."""
    return (
        type(f) in (np.ndarray, np.memmap)
        and f.ndim > 0
        and is_native_data(f.dtype)
        and not asks_extended_stencils(periodic, period, accuracy)
        and (_is_mapped(f) or any(_is_mapped(a) for a in _out_arrays(out)))
        and f.nbytes > window_bytes()
    )


def gradient(
    f: np.ndarray,
    varargs: tuple[Any, ...],
    axes: tuple[int, ...],
    edge_order: Any,
    workers: Any,
    out: Any,
) -> Any:
    """`ndgradient.gradient`'s result for a call `takes` accepted, computed window by window
    (the same container, arrays and bits); `DECLINED` for a call that fits one window or that
    only NumPy's code path computes, which the caller then computes as before.

    A memory-mapped ``f`` is read as a plain array (``np.memmap`` changes no arithmetic), and
    without ``out`` the outputs are allocated as for the in-memory call.
    """
    plain = f.view(np.ndarray)
    axis = window_axis(plain.shape, plain.strides)
    try:
        windows = plan_windows(plain, varargs, axes, edge_order, None, axis, window_bytes())
    except NotNative:
        return DECLINED
    if len(windows.bounds) < 2:
        return DECLINED
    # Checked after the plans, as the in-memory call checks it.
    windows = dataclasses.replace(windows, workers=resolve_workers(workers))
    if out is None:
        if not axes:
            return ()
        outs = allocate_outputs(f, len(axes))
        _fill_mapped(windows, f, plain, outs)
        return outs[0] if len(outs) == 1 else tuple(outs)
    targets = checked_out(out, f, varargs, len(axes))
    check_out_dtypes(targets, result_dtype(f.dtype))
    if axes:
        _fill_mapped(windows, f, plain, targets)
    return returned_out(out, targets)


def _fill_mapped(
    windows: Windows, f: np.ndarray, plain: np.ndarray, outs: Sequence[np.ndarray]
) -> None:
    """Every window of ``plain`` (``f`` as a plain array) into ``outs``, giving back the
    mapped pages of ``f`` and ``outs`` each window is done with."""
    ax = windows.axis
    source = _MappedPages.of(f, ax, windows.length)
    targets = [_MappedPages.of(out, ax, windows.length) for out in outs]
    for start, stop in windows.bounds:
        lo, hi = windows.reads(start, stop)
        window = along(plain.ndim, ax, slice(start, stop))
        own = [out[window] for out in outs]
        windows.fill(plain[along(plain.ndim, ax, slice(lo, hi))], lo, start, stop, own)
        for pages in targets:
            if pages is not None:
                pages.done_before(stop)
        if source is not None:
            # The next window reads this one's last layer as its face.
            source.done_before(stop - 1 if hi > stop else stop)


class _MappedPages:
    """The pages of a memory-mapped array whose layers along one axis are consecutive runs
    of bytes, given back to the system as the windows go: written back first where the
    mapping is shared and writeable, never where it is private (``mode="c"``), whose pages
    hold the only copy of what was written."""

    def __init__(self, mapping: mmap.mmap, offset: int, layer_bytes: int, writeable: bool):
        self.mapping = mapping
        self.offset = offset  # of the array's first byte in the mapping
        self.layer_bytes = layer_bytes
        self.writeable = writeable
        self.released = offset - offset % mmap.PAGESIZE

    @classmethod
    def of(cls, a: np.ndarray, axis: int, length: int) -> _MappedPages | None:
        """The pages of ``a``, or None where ``a`` is not memory-mapped, not contiguous along
        ``axis`` or privately mapped, or the system cannot give pages back."""
        mapping = getattr(a, "_mmap", None)
        if (
            not isinstance(a, np.memmap)
            or not isinstance(mapping, mmap.mmap)
            or not hasattr(mapping, "madvise")
            or getattr(a, "mode", None) not in ("r", "r+", "w+")
            or not (a.flags.c_contiguous or a.flags.f_contiguous)
            or length == 0
            or a.strides[axis] * length != a.nbytes
        ):
            return None
        # Where the array starts in its mapping: np.memmap maps from an aligned offset
        # before the data, and a view of it starts further in.
        start = np.frombuffer(mapping, dtype=np.uint8)[:0].__array_interface__["data"][0]
        offset = a.__array_interface__["data"][0] - start
        return cls(mapping, offset, a.strides[axis], a.mode != "r")

    def done_before(self, layer: int) -> None:
        """Gives back the whole pages holding only layers before ``layer``."""
        end = self.offset + layer * self.layer_bytes
        end -= end % mmap.PAGESIZE
        if end <= self.released:
            return
        size = end - self.released
        if self.writeable:
            self.mapping.flush(self.released, size)  # before the pages are dropped
        self.mapping.madvise(mmap.MADV_DONTNEED, self.released, size)
        self.released = end
