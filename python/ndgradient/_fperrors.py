"""NumPy's floating-point error reporting, for the errors the core's arithmetic raised.

NumPy checks the processor's exception flags after each ufunc loop and acts on those
``np.geterr()`` does not ignore: a ``RuntimeWarning`` ("divide by zero encountered in
divide"), a ``FloatingPointError``, a call of the ``np.seterrcall`` handler, or a log entry.
The core reads the same flags around its own arithmetic, at no cost per element, and returns
them with NumPy's bit values. Only when one of them is set and not ignored does anything more
happen here: NumPy's own ``gradient`` runs on the same arguments, so that the same operations
signal in the same order, with the same categories, messages and handling. ndgradient's
extensions (``periodic=``, ``accuracy=``), which NumPy does not compute, signal each raised
category once instead, through a one-element NumPy operation that raises just that flag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["acted_on", "report"]

# NumPy's NPY_FPE_* bits and np.geterr()'s names, in the order NumPy handles them, each with
# a one-element operation that raises that flag alone (with `inexact`, which NumPy ignores).
_CATEGORIES: tuple[tuple[int, str, Callable[[], Any]], ...] = (
    (1, "divide", lambda: np.divide(np.ones(1), 0.0)),
    (2, "over", lambda: np.multiply(np.full(1, 1e308), 10.0)),
    (4, "under", lambda: np.multiply(np.full(1, 1e-308), 1e-10)),
    (8, "invalid", lambda: np.subtract(np.full(1, np.inf), np.inf)),
)


def acted_on(raised: int) -> bool:
    """Whether ``np.geterr()`` acts on (does not ignore) any of the errors ``raised``."""
    settings: dict[str, Any] = {**np.geterr()}
    return any(raised & bit and settings[name] != "ignore" for bit, name, _ in _CATEGORIES)


def report(raised: int, reproduce: Callable[[], Any] | None) -> None:
    """Acts on the floating-point errors ``raised`` (NumPy's bits) as NumPy would have for
    the same call: by running ``reproduce`` (NumPy's own computation of it) if given, else by
    signalling each raised category once. Nothing is done if ``np.geterr()`` ignores them."""
    if not raised or not acted_on(raised):
        return
    if reproduce is not None:
        reproduce()
        return
    for bit, _, signal in _CATEGORIES:
        if raised & bit:
            signal()
