"""The shortcut at the top of `gradient` is the general path for the calls it takes.

`gradient` computes the common small call (a plain array of a native dtype, no spacing or one
Python number, NumPy's stencil) through a shortcut of `general_gradient`'s steps. Here both
are called with the same arguments, bad ones included (axes too short, out of range or
repeated, bad workers, bad edge orders, spacings whose coefficients raise): the same values,
dtype, layout and container, or the same exception type and message.
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import hypothesis.strategies as st
import ndgradient
import numpy as np
from _oracle import assert_identical
from hypothesis import given, note
from ndgradient import _gradient
from test_differential import NATIVE, elements, laid_out, shapes

_PYTHON_SPACINGS = [1, 2, 0, -1, 10**400, True, False, 0.5, -0.0, 0.0, 1e-310, 1e308]
_PYTHON_SPACINGS += [-2.5, math.inf, -math.inf, math.nan]
_WORKERS = [None, None, None, 1, 2, -1, 0, -(10**6), 1025, 2**64, 1.5, "2"]


class _LeftTheFastPath(Exception):
    """Raised when a call that should take the shortcut reached `general_gradient`."""


@st.composite
def calls(draw: st.DrawFn) -> tuple[np.ndarray, tuple[Any, ...], dict[str, Any]]:
    dtype = np.dtype(draw(st.sampled_from(NATIVE)))
    shape = draw(shapes(max_dims=3))
    values = draw(st.lists(elements(dtype), min_size=math.prod(shape), max_size=math.prod(shape)))
    f = draw(laid_out(np.array(values, dtype=dtype).reshape(shape)))
    spacing = draw(st.sampled_from([(), *((dx,) for dx in _PYTHON_SPACINGS)]))
    ndim = f.ndim
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-ndim - 1, ndim),
            st.lists(st.integers(-ndim - 1, ndim), max_size=3).map(tuple),
            st.sampled_from([1.5, "0"]),
        )
    )
    kwargs = {
        "axis": axis,
        "edge_order": draw(st.sampled_from([1, 2, 1, 2, 0, 3])),
        "workers": draw(st.sampled_from(_WORKERS)),
    }
    return f, spacing, kwargs


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except _LeftTheFastPath:
        raise
    except Exception as exc:  # the type and message are what is compared
        return "raise", (type(exc), str(exc))


def _general(f: np.ndarray, varargs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return _gradient.general_gradient(
        f, varargs, kwargs["axis"], kwargs["edge_order"], kwargs["workers"], None, False, None, 2
    )


@given(calls())
def test_fast_path_matches_the_general_path(
    call: tuple[np.ndarray, tuple[Any, ...], dict[str, Any]],
) -> None:
    f, varargs, kwargs = call
    note(f"f {f.dtype.str} {f.shape} {f.strides}, varargs {varargs}, {kwargs}")
    takes_shortcut = f.dtype.isnative and kwargs["edge_order"] in (1, 2)
    if takes_shortcut:
        with mock.patch.object(_gradient, "general_gradient", side_effect=_LeftTheFastPath):
            fast = _outcome(ndgradient.gradient, f, *varargs, **kwargs)
    else:
        fast = _outcome(ndgradient.gradient, f, *varargs, **kwargs)
    general = _outcome(_general, f, varargs, kwargs)
    assert fast[0] == general[0], (fast, general)
    if fast[0] == "raise":
        assert fast[1] == general[1]
    else:
        assert_identical(fast[1], general[1], strict_nan=True)


def test_a_too_short_axis_is_reported_before_bad_workers() -> None:
    # NumPy's errors come before ndgradient's own, on both paths (the shortcut once checked
    # workers first).
    for f in (np.ones(1), [1.0]):
        for workers in (0, 1.5):
            try:
                ndgradient.gradient(f, workers=workers)
            except ValueError as exc:
                assert "too small" in str(exc)
            else:
                raise AssertionError("no error")
