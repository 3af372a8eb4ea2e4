"""Which NaN a result holds when several meet: NumPy's rule, made explicit in the core.

When both operands of ``a + b`` or ``a * b`` are NaN, x86 returns the first source operand's
NaN, and which operand is first is up to the compiler. ``element.rs`` decides it in one place
(``propagate_nan``) with NumPy's orders: the left operand in its float32/float64 loops, the
right one in its scalar math (a 1-D array's edge points) and its float16 loops, and the right
one in the scalar remainder of a contiguous add (``tails.rs``, with the rule ``_rules``
measures from NumPy at import). These tests pin the rule on the core's own results, then
compare with NumPy in every layout.
"""

from __future__ import annotations

import warnings

import ndgradient
import numpy as np
import pytest
from _oracle import silenced

QUIET = {
    np.dtype(np.float64): 1 << 51,
    np.dtype(np.float32): 1 << 22,
    np.dtype(np.float16): 1 << 9,
}


def tagged_nan(dtype: np.dtype, tag: int, negative: bool = False) -> np.generic:
    """A quiet NaN of ``dtype`` whose payload's low bits are ``tag``."""
    dtype = np.dtype(dtype)
    bits = np.array([0], dtype=f"u{dtype.itemsize}")
    exponent = {8: 0x7FF << 52, 4: 0xFF << 23, 2: 0x1F << 10}[dtype.itemsize]
    bits[0] = exponent | QUIET[dtype] | tag | ((1 << (8 * dtype.itemsize - 1)) if negative else 0)
    return bits.view(dtype)[0]


def payload_tag(value: np.generic) -> tuple[int, bool]:
    """The low payload bits and sign of a NaN."""
    value = np.asarray(value)
    bits = int(value.view(f"u{value.dtype.itemsize}"))
    return bits & 0xF, bool(bits >> (8 * value.dtype.itemsize - 1))


def layouts(f: np.ndarray):
    """``f`` C-contiguous, Fortran-ordered, strided, and one element off its allocation."""
    yield np.ascontiguousarray(f)
    yield np.asfortranarray(f)
    spread = np.zeros(tuple(2 * s for s in f.shape), f.dtype)
    every_other = tuple(slice(None, None, 2) for _ in f.shape)
    spread[every_other] = f
    yield spread[every_other]
    shifted = np.zeros(f.size + 1, f.dtype)[1:].reshape(f.shape)
    shifted[...] = f
    yield shifted


def bits(a: np.ndarray) -> np.ndarray:
    """Every element's bit pattern (both parts of a complex one)."""
    a = np.asarray(a)
    if a.dtype.kind == "c":
        return np.stack([bits(a.real), bits(a.imag)])
    return a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("shape", [(5,), (5, 3), (3, 5)])
def test_a_sum_of_two_nans_takes_numpys_operand(dtype, shape):
    # Second-order edges on axis 0: -1.5 f[0] + 2 f[1] - 0.5 f[2]. The first two taps hold
    # differently tagged NaNs, so the edge's NaN says which term the sum kept.
    f = np.ones(shape, dtype)
    f[0], f[1] = tagged_nan(dtype, 1), tagged_nan(dtype, 2, negative=True)
    edge = ndgradient.gradient(f, axis=0, edge_order=2)[0]
    in_scalar_math = len(shape) == 1
    left_wins = np.dtype(dtype) != np.float16 and not in_scalar_math
    expected = (1, False) if left_wins else (2, True)
    assert {payload_tag(v) for v in np.atleast_1d(edge)} == {expected}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_no_loop_depends_on_how_it_was_compiled(dtype):
    # Long rows (vectorised loops, blocks and remainders) and every coordinate form: each
    # interior point of a NaN-tagged row holds the left term's NaN, at every position.
    n = 1003
    f = np.empty((3, n), dtype)
    f[:, 0::2] = tagged_nan(dtype, 1)
    f[:, 1::2] = tagged_nan(dtype, 2, negative=True)
    x = np.cumsum(np.linspace(1.0, 2.0, n)).astype(dtype)
    for spacing in ((), (x,)):
        for workers in (1, 2):
            g = ndgradient.gradient(f, *spacing, axis=1, edge_order=2, workers=workers)
            interior = g[:, 1:-1]
            first_tap = f[:, :-2]
            assert np.array_equal(bits(interior), bits(first_tap)) or not spacing
            if not spacing:
                # (f[i+1] - f[i-1]) / 2: a subtraction, whose left operand is f[i+1].
                assert np.array_equal(bits(interior), bits(f[:, 2:]))


def test_results_are_quieted_nans():
    signalling = np.array([0x7FF0_0000_0000_0001], dtype=np.uint64).view(np.float64)[0]
    f = np.array([1.0, signalling, 1.0, signalling, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.gradient(f, edge_order=2)
    got = silenced(f, edge_order=2)
    assert np.array_equal(bits(got), bits(expected))
    assert all(int(b) & (1 << 51) for b in bits(got[np.isnan(got)]))


def numpy_follows_the_documented_rule(dtype: np.dtype) -> bool:
    """Whether this NumPy's add of three-element arrays returns the left NaN (float16: the
    right one), the premise of the rule the core follows."""
    a = np.full(3, tagged_nan(dtype, 1), dtype)
    b = np.full(3, tagged_nan(dtype, 2, negative=True), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total = np.add(a, b)
    return payload_tag(total[0]) == ((2, True) if np.dtype(dtype) == np.float16 else (1, False))


CASES = 150


@pytest.mark.parametrize("dtype", ["f8", "f4", "f2", "c16", "c8"])
def test_equals_numpy_in_every_layout(dtype):
    # NaNs of both signs and infinities, axes from 3 to 40 points (within one SIMD block and
    # beyond, with every remainder), 1-D and 2-D, every kind of spacing and edge order: the
    # bits NumPy gives for each layout of the input.
    real = np.dtype(dtype).type(0).real.dtype
    assert numpy_follows_the_documented_rule(real), "NumPy's own NaN order differs here"
    rng = np.random.default_rng(20261201)
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf], dtype=real)
    for _ in range(CASES):
        n = int(rng.integers(3, 41))
        shape = [(n,), (int(rng.integers(3, 7)), n), (n, int(rng.integers(3, 7)))][rng.integers(3)]
        f = rng.standard_normal(shape).astype(dtype)
        if f.dtype.kind == "c":
            f = f + 1j * rng.standard_normal(shape).astype(real)
        density = rng.choice([0.05, 0.35])
        for part in (f.real, f.imag) if f.dtype.kind == "c" else (f,):
            mask = rng.random(shape) < density
            part[mask] = rng.choice(specials, mask.sum())
        edge_order = int(rng.integers(1, 3))
        kind = rng.integers(3)
        if kind == 0:
            spacing: tuple = ()
        elif kind == 1:
            spacing = (0.5,)
        else:
            spacing = tuple(np.cumsum(rng.random(s) + 0.1) for s in shape)
        for g in layouts(f):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = np.gradient(g, *spacing, edge_order=edge_order)
            got = silenced(g, *spacing, edge_order=edge_order)
            if f.ndim == 1:
                expected, got = (expected,), (got,)
            for k, (ours, theirs) in enumerate(zip(got, expected, strict=True)):
                assert np.array_equal(bits(ours), bits(theirs)), (g, spacing, k)
