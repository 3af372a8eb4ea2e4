"""The shim's one call into the Rust core: planned axes in, outputs filled in place."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _core
from ._fperrors import report
from ._rules import AxisPlan, core_dtype, register_numpy_tails

__all__ = ["fill"]

register_numpy_tails()


def fill(
    f: np.ndarray,
    outs: Sequence[np.ndarray],
    plans: Sequence[AxisPlan],
    edge_order: int,
    workers: int | None,
    reproduce: Callable[[], Any] | None = None,
) -> None:
    """Writes the derivative along ``plans[i]``'s axis into ``outs[i]``: one fused pass of the
    core per compute dtype. The outputs may have any dtype the result casts to safely.

    Floating-point errors the arithmetic raised are then reported as NumPy would
    (`_fperrors.report`): by ``reproduce``, NumPy's own computation of the call, if given."""
    if f.size == 0:
        return  # nothing to write (and zero-size outputs may share one address)
    source = f.view(np.ndarray)
    if not source.dtype.isnative:
        source = source.astype(source.dtype.newbyteorder("="))
    targets = [out.view(np.ndarray) for out in outs]
    # The core writes `core_dtype`; outputs of another dtype or byte order get a copy.
    written = core_dtype(f.dtype)
    natives = [t if t.dtype == written else np.empty_like(t, dtype=written) for t in targets]
    raised = 0
    for code in dict.fromkeys(plan.compute for plan in plans):
        chosen = [i for i, plan in enumerate(plans) if plan.compute == code]
        raised |= _core.gradient_into(
            source,
            [natives[i] for i in chosen],
            [plans[i].request for i in chosen],
            code,
            int(edge_order),
            workers,
        )
    for target, native in zip(targets, natives, strict=True):
        if native is not target:
            np.copyto(target, native, casting="safe")
    report(raised, reproduce)
