"""Make ``numpy.gradient`` resolve to ndgradient, for code you don't own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ._gradient import gradient

_lock = threading.Lock()
# What ``numpy.gradient`` was before the outermost patch, restored by the matching unpatch.
_replaced: Any = None


def _patch_locked() -> bool:
    """Patches if not patched already; whether this call patched."""
    global _replaced
    if np.gradient is gradient:
        return False
    _replaced = np.gradient
    np.gradient = gradient
    return True


def _unpatch_locked() -> None:
    global _replaced
    if np.gradient is gradient and _replaced is not None:
        np.gradient = _replaced
        _replaced = None


def patch_numpy() -> None:
    """
    Make ``numpy.gradient`` resolve to `ndgradient.gradient`.

    Code that looks the function up when it runs (``np.gradient(...)``, as xarray, scikit-image
    and most scripts do) then gets ndgradient's results, which are bit-identical to NumPy's.
    Code that bound the name earlier (``from numpy import gradient`` before the patch) keeps
    NumPy's function. Calling it again while patched does nothing.

    See Also
    --------
    unpatch_numpy : restore the original.
    patched : the same as a context manager.

    Examples
    --------
    >>> import numpy as np
    >>> import ndgradient
    >>> ndgradient.patch_numpy()
    >>> np.gradient is ndgradient.gradient
    True
    >>> ndgradient.unpatch_numpy()
    >>> np.gradient is ndgradient.gradient
    False
    """
    with _lock:
        _patch_locked()


def unpatch_numpy() -> None:
    """
    Restore the ``numpy.gradient`` that `patch_numpy` replaced (the very same object).

    Does nothing when ``numpy.gradient`` is not ndgradient's.
    """
    with _lock:
        _unpatch_locked()


_depth = 0  # open `patched` blocks, over all threads
_owned = False  # whether the outermost open block made the patch (and so must undo it)


@contextmanager
def patched() -> Iterator[None]:
    """
    A context manager: ``numpy.gradient`` is ndgradient's inside the block, as before after it.

    Blocks may nest and may be open in several threads at once: the patch is undone when the
    last open block ends, and only if a block made it (a patch made by `patch_numpy` before
    the first block stays).

    Examples
    --------
    >>> import numpy as np
    >>> import ndgradient
    >>> original = np.gradient
    >>> with ndgradient.patched():
    ...     np.gradient is ndgradient.gradient
    True
    >>> np.gradient is original
    True
    """
    global _depth, _owned
    with _lock:
        if _depth == 0:
            _owned = _patch_locked()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _owned:
                _unpatch_locked()
                _owned = False
