"""The binding maps each of the core's refusals to NumPy's exception type (one map)."""

from typing import Any

import numpy as np
import pytest
from ndgradient import _core

_UNIT = (2.0, 1.0, None, 0)
_EDGES = (2.0, 1.0, ((1.0, 1.0, 1.0),) * 2, 0)


def _call(
    f: np.ndarray, requests: list[Any], outs: list[np.ndarray] | None = None, **kw: Any
) -> None:
    outs = [np.empty(f.shape) for _ in requests] if outs is None else outs
    _core.gradient_into(f, outs, requests, kw.pop("compute", "d"), kw.pop("edge_order", 1), **kw)


def test_axis_out_of_range_is_numpys_axis_error() -> None:
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
        _call(np.ones((3, 3)), [(2, _UNIT, 2, False, None, False)])


@pytest.mark.parametrize(
    ("f", "requests", "edge_order", "match"),
    [
        (
            np.ones(2),
            [(0, (2.0, 1.0, ((1.0, 1.0, 1.0),) * 2, 0), 2, False, None, False)],
            2,
            "small",
        ),
        (np.ones(4), [(0, np.arange(3.0), 2, False, None, False)], 1, "match the length"),
        (np.ones(4), [(0, _UNIT, 5, False, None, False)], 1, "accuracy must be"),
        (np.ones(4), [(0, _UNIT, 4, False, None, False)], 1, "too short for accuracy"),
        (np.ones(4), [(0, np.array([0.0, 1, 3, 4]), 2, True, None, False)], 1, "period"),
        (np.ones(4), [(0, np.array([0.0, 1, 3, 4]), 2, True, 2.0, False)], 1, "must exceed"),
        (np.ones(4), [(0, _UNIT, 2, False, None, False)], 2, "second-order edge weights"),
        (np.ones(4), [(0, _UNIT, 2, False, None, False)], 3, "edge_order must be 1 or 2"),
    ],
)
def test_argument_refusals_are_value_errors(
    f: np.ndarray, requests: list[Any], edge_order: int, match: str
) -> None:
    outs = [np.full(f.shape, 7.0) for _ in requests]
    with pytest.raises(ValueError, match=match):
        _call(f, requests, outs, edge_order=edge_order)
    assert all((out == 7.0).all() for out in outs), "nothing is written"


def test_mismatched_counts_and_shapes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="one output per requested derivative"):
        _call(np.ones(4), [(0, _UNIT, 2, False, None, False)], outs=[])
    with pytest.raises(ValueError, match="output shape"):
        _call(np.ones(4), [(0, _UNIT, 2, False, None, False)], outs=[np.empty(5)])


def test_one_coordinate_is_numpys_index_error() -> None:
    with pytest.raises(IndexError):
        _call(np.ones(1), [(0, np.zeros(1), 2, False, None, False)])


def test_kernels_that_do_not_exist_are_type_errors() -> None:
    with pytest.raises(TypeError, match="no native kernel"):
        _call(np.ones(4, dtype=bool), [(0, _UNIT, 2, False, None, False)])
    with pytest.raises(TypeError, match="no native kernel"):
        _call(np.ones(4), [(0, _UNIT, 2, False, None, False)], compute="f")
    with pytest.raises(TypeError, match="coordinates of dtype complex"):
        _call(np.ones(4), [(0, np.arange(4) + 0j, 2, False, None, False)])
    with pytest.raises(TypeError, match="wider than the compute type"):
        f = np.ones(4, dtype=np.float32)
        _call(
            f, [(0, np.arange(4.0), 2, False, None, False)], [np.empty(4, np.float32)], compute="f"
        )
