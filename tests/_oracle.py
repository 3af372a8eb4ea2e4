"""Comparison with numpy.gradient, the oracle: same container, type, dtype, layout and bits.

One allowance, documented in the README's parity policy: where both results hold a NaN, its
sign and payload may differ when NumPy's own choice depends on its loop (a NaN computed from
two NaN operands). Pass ``strict_nan=True`` where no such collision can occur, to require
identical NaN bits as well.
"""

from __future__ import annotations

import warnings
from typing import Any

import ndgradient
import numpy as np

__all__ = [
    "assert_identical",
    "assert_same_behaviour",
    "call_both",
    "reference",
    "silenced",
    "warned",
]


def reference(*args: Any, **kwargs: Any) -> Any:
    """numpy.gradient with its floating-point warnings silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.gradient(*args, **kwargs)


def silenced(*args: Any, **kwargs: Any) -> Any:
    """ndgradient.gradient with its floating-point warnings silenced, as `reference`."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return ndgradient.gradient(*args, **kwargs)


def warned(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[tuple[type, str]]]:
    """``fn(*args, **kwargs)`` and the warnings it gave (category and message, in order)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [(w.category, str(w.message)) for w in caught]


def _parts(a: np.ndarray) -> list[np.ndarray]:
    """The array as a flat array of real elements (complex split into its two parts)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "c":
        a = a.view(a.real.dtype)  # interleaved real and imaginary parts
    return [a.reshape(-1)]


def _differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per element: whether the bits differ."""
    if a.dtype.kind == "O":
        return np.array([x is not y and x != y for x, y in zip(a, b, strict=True)], dtype=bool)
    width = a.dtype.itemsize
    # x87 extended precision fills 10 of its 12 or 16 bytes; the rest is padding garbage.
    significant = 10 if a.dtype.kind == "f" and np.finfo(a.dtype).nmant == 63 else width
    ours = a.view(np.uint8).reshape(-1, width)[:, :significant]
    expected = b.view(np.uint8).reshape(-1, width)[:, :significant]
    return (ours != expected).any(axis=1)


def _describe(ours: np.ndarray, expected: np.ndarray, where: np.ndarray) -> str:
    lines = []
    for i in np.flatnonzero(where)[:5]:
        a, b = ours[i : i + 1], expected[i : i + 1]
        bits = (
            ("", "")
            if a.dtype.kind == "O"
            else (f" (0x{a.tobytes()[::-1].hex()})", f" (0x{b.tobytes()[::-1].hex()})")
        )
        lines.append(f"  element {i}: ours {a[0]!r}{bits[0]}, numpy {b[0]!r}{bits[1]}")
    return f"{int(where.sum())} element(s) differ:\n" + "\n".join(lines)


def _assert_array_identical(ours: Any, expected: Any, strict_nan: bool) -> None:
    assert type(ours) is type(expected), f"type {type(ours)} != {type(expected)}"
    assert ours.dtype.str == expected.dtype.str, f"dtype {ours.dtype.str} != {expected.dtype.str}"
    assert ours.shape == expected.shape, f"shape {ours.shape} != {expected.shape}"
    assert ours.strides == expected.strides, f"strides {ours.strides} != {expected.strides}"
    for a, b in zip(_parts(ours), _parts(expected), strict=True):
        differ = _differ(a, b)
        if a.dtype.kind == "f" and not strict_nan:
            differ &= ~(np.isnan(a) & np.isnan(b))
        if differ.any():
            raise AssertionError(_describe(a, b, differ))


def assert_identical(ours: Any, expected: Any, *, strict_nan: bool = False) -> None:
    """Same container (array, tuple or empty tuple), then per array: type, dtype (byte order
    included), shape, strides and bits, -0.0 and NaN positions included."""
    if isinstance(expected, tuple):
        assert isinstance(ours, tuple), f"expected a tuple, got {type(ours)}"
        assert len(ours) == len(expected), f"{len(ours)} arrays, expected {len(expected)}"
        for a, b in zip(ours, expected, strict=True):
            _assert_array_identical(a, b, strict_nan)
        return
    _assert_array_identical(ours, expected, strict_nan)


def call_both(
    *args: Any, **kwargs: Any
) -> tuple[tuple[str, Any, list[tuple[type, str]]], tuple[str, Any, list[tuple[type, str]]]]:
    """Calls both implementations; each gives ("ok", result, warnings) or ("raise", exception
    type, warnings), the warnings (category, message) in the order given."""

    def attempt(fn: Any) -> tuple[str, Any, list[tuple[type, str]]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
            except Exception as exc:  # the exception type is what is compared
                outcome = ("raise", type(exc))
        return (*outcome, [(w.category, str(w.message)) for w in caught])

    return attempt(np.gradient), attempt(ndgradient.gradient)


def assert_same_behaviour(*args: Any, strict_nan: bool = False, **kwargs: Any) -> Any:
    """Both raise the same exception type, or both return identical results with the same
    warnings (NumPy's floating-point warnings among them). Where both raise, NumPy may have
    warned first about the axes it computed before the one it refused; ndgradient checks
    every axis before computing any."""
    expected, ours = call_both(*args, **kwargs)
    if expected[0] == "ok":
        assert ours[2] == expected[2], f"warnings: ndgradient {ours[2]}, numpy {expected[2]}"
    if expected[0] == "raise":
        assert ours[:2] == expected[:2], f"numpy raised {expected[1]}, ndgradient gave {ours}"
        return None
    assert ours[0] == "ok", f"ndgradient raised {ours[1]} where numpy returned"
    assert_identical(ours[1], expected[1], strict_nan=strict_nan)
    return ours[1]
