"""Make ``numpy.gradient`` resolve to ndgradient, for code you don't own.

The public ``ndgradient.gradient`` is made here, since it is the object `patch_numpy` puts in
NumPy's place: the core's entry ``_core.gradient``, which computes the common call itself and
hands any other to the implementation in `._gradient`, wrapped so that ``__array_function__``
handler tables keyed by either function serve both (see `_GradientFunction`).
"""

from __future__ import annotations

import functools
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _core, _gradient, _rules


class _GradientFunction(functools.partial[Any]):
    """
    `._gradient.gradient` as a function that stands for `numpy.gradient` as NumPy's own does.

    Calls go through `functools.partial`'s call, in C, to ``_core.gradient`` with the
    implementation as its first argument: the core computes the common call (a plain array,
    no spacing, a Python number or a NumPy scalar, NumPy's stencil) without running the shim
    (a NumPy scalar's plan comes from `._rules`, remembered), and calls the
    implementation with the same arguments for any other (Python 3.10 and 3.11 do not give
    subclasses partial's vectorcall, so keyword arguments cost some 0.1 us more there; the
    partial itself costs a few tens of nanoseconds). Arguments whose type overrides
    ``numpy.gradient`` through ``__array_function__`` are handed by the implementation to
    NumPy's dispatcher, so the override is chosen as NumPy chooses it and gets NumPy's
    `numpy.gradient` as ``func``, whatever ``numpy.gradient`` is at the time.

    Libraries look ``func`` up in tables (astropy's ``FUNCTION_HELPERS`` dict,
    ``SUBCLASS_SAFE_FUNCTIONS`` set; NumPy's own set behind
    `numpy.testing.overrides.allows_array_function_override`) keyed by whatever
    ``numpy.gradient`` was when they were built: NumPy's function, or this one if the patch
    came first. This object therefore hashes as NumPy's function and compares equal to it,
    so that either key finds the other, in every import order.
    """

    def __hash__(self) -> int:
        return hash(_rules.numpy_gradient)

    def __eq__(self, other: object) -> bool:
        if other is self or other is _rules.numpy_gradient:
            return True
        return NotImplemented

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        # A function stored on a class binds as a method; so did the plain function.
        return self if instance is None else types.MethodType(self, instance)

    def __reduce__(self) -> str:
        # Pickled by name (``__module__`` says where), as a function is: unpickling gives
        # this very object back.
        return "gradient"

    def __repr__(self) -> str:
        return f"<function gradient at {id(self):#x}>"


if TYPE_CHECKING:
    gradient = _gradient.gradient  # the implementation's signature, for type checkers
else:
    gradient = functools.update_wrapper(
        _GradientFunction(_core.gradient, _gradient.gradient), _gradient.gradient
    )
    # Where users find it, and where pickle looks it up by name.
    gradient.__module__ = "ndgradient"

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

    Types that override ``numpy.gradient`` through ``__array_function__`` still get the call,
    with NumPy's own function as ``func``, whether they registered their handler before the
    patch or during it: ndgradient's function hashes as NumPy's and compares equal to it, so
    a handler table keyed by either serves both, and NumPy lists it as overridable. While
    patched, ``func is np.gradient`` is false in a handler (``func`` is NumPy's function);
    ``func == np.gradient`` is true either way.

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
    >>> from numpy.testing.overrides import allows_array_function_override
    >>> allows_array_function_override(np.gradient)
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
