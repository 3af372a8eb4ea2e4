"""Every class of bad input and what it gets: one row each, NumPy's exception where NumPy
raises one, nothing written, the input untouched. README.md's "Bad input" table lists these
rows (``python tests/test_bad_input.py`` prints it)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ndgradient
import numpy as np
import pytest

F = np.arange(20.0).reshape(4, 5) ** 2
READ_ONLY = np.zeros((2, 4, 5))
READ_ONLY.flags.writeable = False


@dataclass
class Case:
    what: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    error: type[Exception]
    message: str
    numpy_raises: bool = True  # NumPy raises the same type for the NumPy-compatible part


CASES = [
    Case("axis out of range", (F,), {"axis": 2}, np.exceptions.AxisError,
         "axis 2 is out of bounds for array of dimension 2"),
    Case("repeated axis", (F,), {"axis": (0, -2)}, ValueError, "repeated axis"),
    Case("non-integer axis", (F,), {"axis": 1.5}, TypeError, "'float' object is not iterable"),
    Case("wrong number of spacings", (F, 1.0, 2.0, 3.0), {}, TypeError,
         "invalid number of arguments"),
    Case("coordinates of the wrong length", (F, np.arange(3.0), 1.0), {}, ValueError,
         "distances must match the length"),
    Case("2-D coordinates", (F, np.ones((4, 1)), 1.0), {}, ValueError,
         "distances must be either scalars or 1d"),
    Case("one-point coordinates", (np.ones(1), np.ones(1)), {}, IndexError, "out of bounds"),
    Case("axis shorter than edge_order + 1", (np.ones(2),), {"edge_order": 2}, ValueError,
         "Shape of array too small"),
    Case("edge_order above 2", (F,), {"edge_order": 3}, ValueError,
         "'edge_order' greater than 2 not supported"),
    Case("edge_order 0, negative or fractional (NumPy accepts these)", (F,), {"edge_order": 0},
         ValueError, "edge_order must be 1 or 2", numpy_raises=False),
    Case("boolean data", (np.array([True, False, True]),), {}, TypeError, "boolean subtract"),
    Case("string data", (np.array(["a", "b", "c"]),), {}, TypeError,
         "ufunc 'subtract' did not contain a loop"),
    Case("ragged nested lists", ([[1.0, 2.0], [3.0]],), {}, ValueError,
         "inhomogeneous shape"),
    Case("structured dtype", (np.zeros(3, dtype=[("a", "f8"), ("b", "i4")]),), {}, TypeError,
         "ufunc 'subtract' did not contain a loop"),
    Case("workers=0 or beyond -CPUs", (F,), {"workers": 0}, ValueError,
         "workers value out of range", numpy_raises=False),
    Case("non-integer workers", (F,), {"workers": "2"}, TypeError, "integer",
         numpy_raises=False),
    Case("more than 1024 workers (2**64 included)", (F,), {"workers": 2**64}, ValueError,
         "workers value out of range", numpy_raises=False),
    Case("one-point coordinates of a NumPy-path dtype, odd edge_order",
         (np.ones(1), np.array([1j])), {"edge_order": None}, IndexError, "out of bounds"),
    Case("out= of the wrong shape", (F,), {"out": np.zeros((3, 4, 5))}, ValueError,
         "stacked out must have shape", numpy_raises=False),
    Case("out= of an unsafe dtype", (F,), {"out": np.zeros((2, 4, 5), np.float32)}, TypeError,
         "casting rule 'safe'", numpy_raises=False),
    Case("read-only out=", (F,), {"out": READ_ONLY}, ValueError, "read-only",
         numpy_raises=False),
    Case("out= sharing memory with the input", (F,), {"out": (F, np.zeros((4, 5)))},
         ValueError, "shares memory with the input", numpy_raises=False),
    Case("accuracy not 2, 4, 6 or 8", (F,), {"accuracy": 5}, ValueError,
         "accuracy must be 2, 4, 6 or 8", numpy_raises=False),
    Case("axis shorter than the accuracy's stencil", (F,), {"accuracy": 6}, ValueError,
         "too short for accuracy=6", numpy_raises=False),
    Case("periodic coordinates without period=", (F, 1.0, np.arange(5.0)),
         {"periodic": True}, ValueError, "give its period=", numpy_raises=False),
    Case("period= not past the coordinates", (F, 1.0, np.arange(5.0)),
         {"periodic": True, "period": 2.0}, ValueError, "must exceed the coordinates' extent",
         numpy_raises=False),
    Case("extensions on NumPy-path data", (np.arange(5).astype("M8[s]"),), {"accuracy": 4},
         TypeError, "computed natively only", numpy_raises=False),
]  # fmt: skip

_EXTENSIONS = ("workers", "out", "periodic", "period", "accuracy")


def _arrays(case: Case) -> list[np.ndarray]:
    found = [a for a in (*case.args, *case.kwargs.values()) if isinstance(a, np.ndarray)]
    for value in case.kwargs.values():
        if isinstance(value, tuple):
            found += [a for a in value if isinstance(a, np.ndarray)]
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.what)
def test_bad_input_raises_the_documented_error(case: Case) -> None:
    before = [(a, a.copy()) for a in _arrays(case)]
    with pytest.raises(case.error, match=re.escape(case.message)):
        ndgradient.gradient(*case.args, **case.kwargs)
    for array, copy in before:  # the input untouched, nothing written to out=
        assert array.tobytes() == copy.tobytes()
    numpy_kwargs = {k: v for k, v in case.kwargs.items() if k not in _EXTENSIONS}
    call: Callable[[], Any] = lambda: np.gradient(*case.args, **numpy_kwargs)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case.numpy_raises:
            with pytest.raises(case.error):
                call()
        elif case.kwargs.keys() - _EXTENSIONS == case.kwargs.keys():
            call()  # NumPy accepts what ndgradient refuses (the documented difference)


def test_no_axes_means_no_spacing_arithmetic() -> None:
    # Found by tests/fuzz_api.py: NumPy computes nothing, so -1.5 / 0.0 never raises.
    assert ndgradient.gradient(np.array(1.0), 0.0, edge_order=2) == ()
    assert np.gradient(np.array(1.0), 0.0, edge_order=2) == ()
    assert ndgradient.gradient(np.zeros((2, 3)), 0.0, axis=(), edge_order=2) == ()


def table() -> str:
    """The README's table."""
    rows = ["| bad input | exception | message (start) |", "|---|---|---|"]
    for case in CASES:
        name = case.error.__name__
        if case.error is np.exceptions.AxisError:
            name = "numpy.exceptions.AxisError"
        message = f"`{case.message}`"
        rows.append(f"| {case.what} | {name} | {message} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
