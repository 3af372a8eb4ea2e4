"""Blocks of a larger array, computed with a one-cell halo: what Dask blocks and windows of a
memory-mapped file share.

NumPy takes two decisions over the whole array that a block cannot take from its own cells:
whether a coordinate array is uniform, and which points are the array's edges. The first is
taken once here (`block_plans`): coordinates NumPy finds uneven travel as a placeholder, each
block replaces it with its own slice (`with_block_coordinates`), and the core is told the
slice comes from an uneven whole, so a slice whose own steps happen to be equal still gets
the non-uniform formulas. The second is `fill_with_faces`: the block computed alone gives its
interior and the array's own one-sided edges, and each layer next to a neighbour is then
recomputed from the neighbour's face, so every point sees the cells it sees in the whole
array and gets the same bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ._native import fill
from ._rules import AxisPlan, axis_plan, data_dtype, whole_array_steps

__all__ = [
    "BLOCK_COORDINATES",
    "Face",
    "along",
    "block_plans",
    "decided_spacings",
    "fill_with_faces",
    "with_block_coordinates",
]

# The spacing of an uneven coordinate axis in a block plan: each block's own slice replaces
# it (see `with_block_coordinates`).
BLOCK_COORDINATES = np.empty(0)


class Face(NamedTuple):
    """A neighbour's cells one layer deep, next to a block along a differentiated axis."""

    axis: int  # the array axis
    before: bool  # the neighbour comes before the block along ``axis`` (else after it)
    cells: np.ndarray  # one layer thick along ``axis``, the block's extent along the others
    # For an uneven coordinate axis, the three coordinates of the face and the block's two
    # layers next to it, in array order; None for a uniform spacing.
    coordinates: np.ndarray | None


def along(ndim: int, ax: int, cut: slice) -> tuple[slice, ...]:
    """An index taking ``cut`` along axis ``ax`` and everything along the others."""
    return (slice(None),) * ax + (cut,) + (slice(None),) * (ndim - ax - 1)


def decided_spacings(spacings: Sequence[Any]) -> list[tuple[Any, bool]]:
    """Per axis, `whole_array_steps` of its spacing: ``(spacing, uneven)``, uniform coordinate
    arrays replaced by their step as NumPy replaces them."""
    return [whole_array_steps(dx) for dx in spacings]


def block_plans(
    f: np.ndarray, axes: Sequence[int], decided: Sequence[tuple[Any, bool]], edge_order: int
) -> tuple[AxisPlan, ...]:
    """The core's plan for each axis, as every block takes it; NotNative for data or spacings
    only NumPy's code path computes. ``f`` may be a stand-in of the whole array's shape and
    dtype: no data is read."""
    data = data_dtype(f)
    plans = []
    for ax, (dx, uneven) in zip(axes, decided, strict=True):
        plan = axis_plan(f, ax, dx, data, edge_order)
        if uneven:
            # A block's slice of coordinates NumPy found uneven, flagged as such.
            request = plan.request._replace(spacing=BLOCK_COORDINATES, uneven=True)
            plan = plan._replace(request=request)
        plans.append(plan)
    return tuple(plans)


def with_block_coordinates(
    plans: Sequence[AxisPlan], coordinates: Sequence[np.ndarray | None]
) -> list[AxisPlan]:
    """``plans`` for one block: each uneven axis with the block's slice of its coordinates
    (None for the axes without)."""
    return [
        plan if x is None else plan.with_spacing(x)
        for plan, x in zip(plans, coordinates, strict=True)
    ]


def fill_with_faces(
    block: np.ndarray,
    outs: Sequence[np.ndarray],
    plans: Sequence[AxisPlan],
    axes: Sequence[int],
    faces: Sequence[Face],
    edge_order: int,
    workers: int | None,
) -> None:
    """Writes the gradient of ``block`` along each of ``axes`` into ``outs`` (``block``'s
    shape) as the whole array has it, given the neighbours' faces.

    ``plans`` carry the block's own coordinates (`with_block_coordinates`). The block needs
    ``edge_order + 1`` layers along each differentiated axis, and two next to each face.
    """
    # The block on its own gives every point whose stencil stays inside it: the interior,
    # and the one-sided edges of the whole array. Only its outermost layers towards a
    # neighbour read a face: each is recomputed from a slab of three layers, face included,
    # whose middle layer gets the interior stencil. No copy of the block is made.
    fill(block, outs, plans, edge_order, workers)
    for face in faces:
        k = list(axes).index(face.axis)
        inner = slice(0, 2) if face.before else slice(-2, None)
        next_to_face = block[along(block.ndim, face.axis, inner)]
        layers = (face.cells, next_to_face) if face.before else (next_to_face, face.cells)
        slab = np.concatenate(layers, axis=face.axis)
        plan = plans[k] if face.coordinates is None else plans[k].with_spacing(face.coordinates)
        slab_out = np.empty(slab.shape, dtype=outs[k].dtype)
        fill(slab, [slab_out], [plan], edge_order, 1)
        boundary = slice(0, 1) if face.before else slice(-1, None)
        outs[k][along(block.ndim, face.axis, boundary)] = slab_out[
            along(block.ndim, face.axis, slice(1, 2))
        ]
