"""Outputs large enough to be written with streaming stores (32 MiB and up) hold NumPy's
values bit for bit, in fresh arrays and in ``out=`` arrays at every alignment."""

from __future__ import annotations

import ndgradient
import numpy as np
import pytest
from _oracle import assert_identical, assert_same_behaviour

STREAMED = 32 << 20  # the core's threshold for streaming an output, in bytes


def _field(shape: tuple[int, ...], dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        f = f + 1j * rng.standard_normal(shape)
    f = f.astype(dtype)
    # NaNs and infinities at places the streamed lines and their edges cover.
    flat = f.reshape(-1)
    flat[[3, 1000, flat.size // 2, flat.size - 2]] = [np.nan, np.inf, -np.inf, np.nan]
    return f


@pytest.mark.parametrize(
    ("shape", "dtype", "kwargs"),
    [
        ((4_200_001,), "float64", {}),
        ((2050, 2051), "float64", {}),
        ((2050, 2051), "float64", {"axis": 1, "edge_order": 2}),
        ((2900, 2901), "float32", {}),
        ((1450, 1451), "complex128", {"axis": 0}),
        ((2050, 2051), "complex64", {}),
        ((4100, 4101), "float16", {"axis": -1}),
    ],
)
def test_streamed_outputs_are_numpys(shape, dtype, kwargs) -> None:
    f = _field(shape, dtype, seed=len(shape) + len(kwargs))
    assert f.nbytes >= STREAMED
    assert_same_behaviour(f, **kwargs)
    assert_same_behaviour(np.asfortranarray(f), 0.5, **kwargs)


@pytest.mark.parametrize("offset", [0, 1, 3, 7])
def test_out_arrays_at_any_alignment(offset: int) -> None:
    # A float64 out= view starting `offset` elements into a buffer: the first elements
    # before a cache line are stored as usual, the rest streamed, the bytes around untouched.
    n = (STREAMED >> 3) + 77
    f = _field((n,), "float64", seed=offset)
    buffer = np.full(n + 16, 7.0)
    out = buffer[offset : offset + n]
    got = ndgradient.gradient(f, out=out)
    assert got is out
    assert_identical(out, np.gradient(f))
    assert (buffer[:offset] == 7.0).all() and (buffer[offset + n :] == 7.0).all()


def test_reused_outputs_in_a_loop_stay_numpys() -> None:
    # The pool's reused (already faulted) pages are where streaming stores pay.
    f = _field((2050, 2051), "float64", seed=5)
    expected = np.gradient(f)
    for _ in range(3):
        assert_identical(ndgradient.gradient(f), expected)
