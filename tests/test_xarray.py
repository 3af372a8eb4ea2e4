"""ndgradient.xarray.differentiate against xarray's own differentiate, bit for bit.

NumPy-backed objects must give exactly what ``obj.differentiate`` gives: values, dtypes,
dims, coordinates, names and attributes. Dask-backed objects must stay lazy and give, once
computed, what xarray gives for the same object in memory (xarray's Dask path goes through
``dask.array.gradient``, which is not bit-identical to NumPy: see test_dask).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("xarray")
pytest.importorskip("dask.array")

import dask.array as da
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import ndgradient.xarray
import numpy as np
import xarray as xr
from hypothesis import given, note

differentiate = ndgradient.xarray.differentiate


def assert_bits_identical(ours: Any, expected: Any) -> None:
    """xarray's identical (names, dims, coords, attrs) and the same bits in every variable."""
    xr.testing.assert_identical(ours, expected)
    ours_ds = ours if isinstance(ours, xr.Dataset) else ours.to_dataset(name="_")
    expected_ds = expected if isinstance(expected, xr.Dataset) else expected.to_dataset(name="_")
    for name, variable in ours_ds.variables.items():
        mine, theirs = np.asarray(variable.values), np.asarray(expected_ds[name].values)
        assert mine.dtype == theirs.dtype, name
        if mine.dtype.kind in "fc":
            same = mine.tobytes() == theirs.tobytes()
            both_nan = np.isnan(mine) & np.isnan(theirs)
            assert same or (np.array_equal(mine, theirs, equal_nan=True) and both_nan.any()), name
        else:
            np.testing.assert_array_equal(mine, theirs)


def _field(shape: tuple[int, ...], dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 100).astype(dtype)


def _uneven(n: int) -> np.ndarray:
    x = np.arange(n) * 3.0
    x[n // 2 :] += 0.5  # uniform runs, uneven overall
    return x


COORDS = {
    "uniform": lambda n: np.arange(n) * 0.25,
    "uneven": _uneven,
    "sorted": lambda n: np.sort(np.random.default_rng(1).random(n)) * 10,
    "ints": lambda n: np.arange(n) ** 2,
    "datetime_ns": lambda n: (
        np.datetime64("2020-01-01")
        + np.cumsum(np.arange(1, n + 1)) * 3600 * np.timedelta64(1, "s").astype("m8[ns]")
    ),
    "datetime_D": lambda n: np.datetime64("2000-01-01") + np.arange(n) * np.timedelta64(2, "D"),
    "timedelta": lambda n: np.cumsum(np.arange(1, n + 1)).astype("m8[s]"),
}


@pytest.mark.parametrize("coord_kind", list(COORDS))
@pytest.mark.parametrize("edge_order", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32, np.complex64])
def test_dataarray_matches_xarray(coord_kind: str, edge_order: int, dtype: Any) -> None:
    time = COORDS[coord_kind](9)
    arr = xr.DataArray(
        _field((9, 4), dtype),
        dims=("time", "x"),
        coords={"time": time, "x": [1.0, 2.0, 4.0, 8.0], "label": ("x", list("abcd"))},
        name="field",
        attrs={"units": "K"},
    )
    for coord in ("time", "x"):
        expected = arr.differentiate(coord, edge_order=edge_order)
        assert_bits_identical(differentiate(arr, coord, edge_order=edge_order), expected)


@pytest.mark.parametrize("unit", ["h", "s", "D", "ms"])
def test_datetime_units(unit: str) -> None:
    arr = xr.DataArray(_field((10,)), dims="t", coords={"t": COORDS["datetime_ns"](10)}, name=None)
    expected = arr.differentiate("t", datetime_unit=unit)
    assert_bits_identical(differentiate(arr, "t", datetime_unit=unit), expected)


def test_dataset_every_kind_of_variable() -> None:
    n = 12
    ds = xr.Dataset(
        {
            "a": (("y", "x"), _field((n, 5))),
            "b": (("x",), _field((5,), np.float32, 2)),  # no y: unchanged
            "c": (("x", "y"), _field((5, n), np.int16, 3)),
            "stamp": (("y",), COORDS["datetime_D"](n)),  # datetime data: converted
            "d": (("y",), _field((n,), np.complex128, 4)),
        },
        coords={
            "y": _uneven(n),
            "x": np.arange(5),
            "lat": (("y",), np.linspace(-1, 1, n)),  # a coordinate along y: unchanged
        },
        attrs={"title": "test"},
    )
    ds["a"].attrs["units"] = "m"
    for coord, order in [("y", 1), ("y", 2), ("x", 1), ("lat", 2)]:
        expected = ds.differentiate(coord, edge_order=order)
        assert_bits_identical(differentiate(ds, coord, edge_order=order), expected)


def test_dimension_without_coordinate() -> None:
    arr = xr.DataArray(_field((6, 7)), dims=("y", "x"))
    assert_bits_identical(differentiate(arr, "x"), arr.differentiate("x"))


@pytest.mark.parametrize("edge_order", [1, 2])
def test_dask_backed_stays_lazy_and_matches_xarray_in_memory(edge_order: int) -> None:
    n = 40
    ds = xr.Dataset(
        {
            "a": (("y", "x"), _field((n, 6))),
            "h": (("y", "x"), _field((n, 6), np.float16, 5)),
            "i": (("y",), np.arange(n, dtype=np.int64) ** 3),
        },
        coords={"y": _uneven(n), "x": np.arange(6) * 0.5},
    ).chunk({"y": 7, "x": 4})
    ours = differentiate(ds, "y", edge_order=edge_order)
    assert all(isinstance(ours[name].data, da.Array) for name in ("a", "h", "i"))
    expected = ds.load().differentiate("y", edge_order=edge_order)
    assert_bits_identical(ours.compute(), expected)
    # float16 stays float16 (dask.array.gradient would give float32).
    assert ours["h"].dtype == np.float16


@st.composite
def chunked_arrays(draw: st.DrawFn) -> tuple[xr.DataArray, str, int]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=3, max_side=10))
    dims = ("t", "y", "x")[: len(shape)]
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
    values = draw(hnp.arrays(dtype, shape, elements=st.integers(-1000, 1000)))
    coords = {}
    for dim, n in zip(dims, shape, strict=True):
        kind = draw(st.sampled_from(["uniform", "uneven", "sorted", "ints", "none"]))
        if kind != "none":
            coords[dim] = COORDS[kind](n)
    arr = xr.DataArray(values, dims=dims, coords=coords, name="v")
    if draw(st.booleans()):
        arr = arr.chunk({dim: draw(st.integers(1, n)) for dim, n in zip(dims, shape, strict=True)})
    coord = draw(st.sampled_from(dims))
    edge_order = draw(st.sampled_from([1, 2]))
    note(f"{arr!r}\ncoord={coord} edge_order={edge_order}")
    return arr, coord, edge_order


@given(chunked_arrays())
def test_property_matches_xarray_in_memory(case: tuple[xr.DataArray, str, int]) -> None:
    arr, coord, edge_order = case
    ours = differentiate(arr, coord, edge_order=edge_order)
    assert isinstance(ours.data, da.Array) == isinstance(arr.data, da.Array)
    expected = arr.load().differentiate(coord, edge_order=edge_order)
    assert_bits_identical(ours.compute(), expected)


def test_errors_like_xarray() -> None:
    arr = xr.DataArray(
        np.ones((4, 3)), dims=("y", "x"), coords={"c": (("y", "x"), np.ones((4, 3)))}
    )
    for coord in ("nope", "c"):
        with pytest.raises(ValueError) as theirs:
            arr.differentiate(coord)
        with pytest.raises(ValueError) as ours:
            differentiate(arr, coord)
        assert str(ours.value).split(" ")[:3] == str(theirs.value).split(" ")[:3]
    short = xr.DataArray(np.ones(1), dims="x")
    with pytest.raises(IndexError):  # NumPy's, for a coordinate of one point
        short.differentiate("x")
    with pytest.raises(IndexError):
        differentiate(short, "x")
    with pytest.raises(TypeError):
        differentiate(np.ones(3), "x")  # type: ignore[type-var]
