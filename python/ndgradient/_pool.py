"""The output pool's public face: `release_memory`."""

from __future__ import annotations

from . import _core

__all__ = ["release_memory"]


def release_memory() -> int:
    """Return the memory ndgradient keeps for reuse to the operating system.

    Outputs of 4 MiB or more come from a pool: when NumPy frees one, its memory, already
    faulted and backed by huge pages where the system allows, is kept for the next call that
    needs the same size, which then pays no page faults. The pool keeps at most the large
    outputs of the latest call, or ``NDGRADIENT_POOL_BYTES`` bytes if that environment
    variable is set when ndgradient is first imported (``0`` turns the pool off); memory
    beyond that goes back to the system at once. Arrays you hold are never touched.

    Returns
    -------
    int
        The number of bytes returned.

    See Also
    --------
    gradient : whose outputs the pool serves.

    Notes
    -----
    Outputs are ordinary NumPy arrays: they own their data, can be pickled and resized, and
    NumPy frees them through the allocator that made them (``numpy.lib.array_utils`` does not
    list it, but ``numpy._core.multiarray.get_handler_name(out)`` names it
    ``"ndgradient_output_pool"``). Only ndgradient's own outputs use it; the allocator of every
    other array is left alone.

    Examples
    --------
    >>> import numpy as np
    >>> import ndgradient
    >>> g = ndgradient.gradient(np.ones(1_000_000))  # 8 MB: a pooled output
    >>> del g  # its memory is kept for the next call of this size
    >>> ndgradient.release_memory() >= 0
    True
    """
    return _core.release_memory()
