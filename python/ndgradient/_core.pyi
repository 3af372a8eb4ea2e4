"""Private native module: the Rust core behind ``ndgradient.gradient``."""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "POOL_HANDLER_NAME",
    "POOL_MIN_BYTES",
    "__version__",
    "available_cpus",
    "build_info",
    "default_workers",
    "gradient",
    "gradient_into",
    "pool_stats",
    "python_number_spacing",
    "register_numpy_tails",
    "release_memory",
    "with_output_pool",
]

__version__: str
POOL_MIN_BYTES: int
POOL_HANDLER_NAME: str

_Edges = tuple[tuple[float, float, float], tuple[float, float, float]]
# (2 * dx, dx, second-order edge weights or None), each already in the compute type.
_UniformSpacing = tuple[float, float, _Edges | None, int]
# (axis, spacing, accuracy, periodic, period, uneven)
_Request = tuple[int, np.ndarray | _UniformSpacing, int, bool, float | None, bool]

def gradient_into(
    f: np.ndarray,
    outs: Sequence[np.ndarray],
    requests: Sequence[_Request],
    compute: str,
    edge_order: int,
    workers: int | None = None,
) -> int: ...
def gradient(implementation: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any: ...
def python_number_spacing(dx: float, code: str, edge_order: int) -> _UniformSpacing: ...
def register_numpy_tails(code: str, counts: list[int], period: int) -> bool: ...
def default_workers() -> int: ...
def available_cpus() -> int: ...
def build_info() -> dict[str, str]: ...

_T = TypeVar("_T")

def with_output_pool(allocate: Callable[..., _T], *args: object) -> _T: ...
def release_memory() -> int: ...
def pool_stats() -> dict[str, int | bool]: ...
