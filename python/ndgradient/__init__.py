"""ndgradient: a bit-exact, parallel, Rust-accelerated drop-in replacement for numpy.gradient."""

from ._core import __version__
from ._patch import gradient, patch_numpy, patched, unpatch_numpy
from ._pool import release_memory

__all__ = [
    "__version__",
    "gradient",
    "patch_numpy",
    "patched",
    "release_memory",
    "unpatch_numpy",
]
