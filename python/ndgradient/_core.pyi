"""Private native module: the Rust core behind ``ndgradient.gradient``."""

from collections.abc import Sequence

import numpy as np

__all__ = [
    "__version__",
    "available_cpus",
    "build_info",
    "default_workers",
    "gradient_into",
]

__version__: str

_UniformSpacing = tuple[float, float, tuple[float, float, float], tuple[float, float, float]]

def gradient_into(
    f: np.ndarray,
    outs: Sequence[np.ndarray],
    axes: Sequence[int],
    spacings: Sequence[np.ndarray | _UniformSpacing],
    compute: str,
    edge_order: int,
    workers: int | None = None,
    accuracy: int = 2,
    periodic: Sequence[bool] | None = None,
    periods: Sequence[float | None] | None = None,
    uneven: Sequence[bool] | None = None,
) -> None: ...
def default_workers() -> int: ...
def available_cpus() -> int: ...
def build_info() -> dict[str, str]: ...
