"""Dask arrays: lazy, block by block, and bit-identical to the whole array in memory.

Each property draws an array, a chunking of every axis (chunks of 1 and 2 at the ends, uneven
and empty chunks), a spacing form and an edge order, and requires that ``compute()`` gives the
container, dtypes and bits of ``ndgradient.gradient`` (and ``numpy.gradient``) on the array
in memory, or that the call raises the same exception type before any work. The properties
run on the threaded scheduler and on a real two-process ``distributed.LocalCluster``.
"""

from __future__ import annotations

import logging
import pickle
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import dask
import dask.array as da
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import ndgradient
import numpy as np
from _oracle import assert_identical, reference
from distributed import Client, LocalCluster
from hypothesis import given, note, settings
from test_differential import NATIVE, coordinates, elements, scalar_spacings


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Two worker processes of one thread each, on loopback, HTTP on a free port."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # Even "no dashboard" serves the scheduler's HTTP routes, on 8787 by default: a
            # port of the system's choosing, on loopback, so that concurrent runs never clash.
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
            death_timeout="60s",
        ) as cluster,
        Client(cluster, timeout="60s") as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield client


@st.composite
def chunkings(draw: st.DrawFn, n: int) -> tuple[int, ...]:
    """Chunk sizes summing to ``n``: often 1 or 2 points (at the ends too), uneven, and now
    and then an empty chunk."""
    sizes: list[int] = []
    remaining = n
    while remaining:
        size = min(remaining, draw(st.sampled_from([1, 1, 2, 2, 3, 4, 7, remaining])))
        sizes.append(size)
        remaining -= size
    if draw(st.integers(0, 9)) == 0:
        sizes.insert(draw(st.integers(0, len(sizes))), 0)
    return tuple(sizes) or (0,)


@st.composite
def piecewise_coordinates(draw: st.DrawFn, n: int) -> np.ndarray:
    """Coordinates uniform over long runs but not overall: a block's slice may be uniform
    where the whole array is not, which must not change the formula (NumPy decides once)."""
    step = draw(st.sampled_from([3.0, 0.1, 7.0, 1 / 3]))
    x = np.arange(n) * step
    if n > 2:
        x[draw(st.integers(1, n - 1)) :] += draw(st.sampled_from([1.0, 0.5, step]))
    return x.astype(draw(st.sampled_from([np.float64, np.float32])))


@st.composite
def dask_calls(draw: st.DrawFn, dtypes: list[Any] = NATIVE) -> Any:
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=12).filter(
            lambda s: int(np.prod(s)) <= 600
        )
    )
    a = draw(hnp.arrays(dtype, shape, elements=elements(dtype)))
    if draw(st.integers(0, 7)) == 0:
        a = a.astype(a.dtype.newbyteorder())  # non-native byte order
    chunks = tuple(draw(chunkings(n)) for n in shape)
    axis: Any = None
    axes = tuple(range(a.ndim))
    form = draw(st.sampled_from(["all", "int", "tuple"]))
    if form == "int":
        axis = draw(st.integers(-a.ndim, a.ndim - 1))
        axes = (axis % a.ndim,)
    elif form == "tuple":
        axes = tuple(draw(st.lists(st.integers(0, a.ndim - 1), unique=True, max_size=a.ndim)))
        axis = axes
    spacing = draw(st.sampled_from(["none", "one", "per-axis", "per-axis"]))
    varargs: tuple[Any, ...] = ()
    if spacing == "one" and axes:
        varargs = (draw(scalar_spacings()),)
    elif spacing == "per-axis" and axes:
        varargs = tuple(
            draw(
                st.one_of(
                    scalar_spacings(),
                    coordinates(a.shape[ax]),
                    piecewise_coordinates(a.shape[ax]),
                )
            )
            for ax in axes
        )
    edge_order = draw(st.sampled_from([1, 2]))
    note(f"dtype={a.dtype} shape={shape} chunks={chunks} axis={axis} edge_order={edge_order}")
    note(f"varargs={varargs!r}")
    return a, chunks, varargs, {"axis": axis, "edge_order": edge_order}


def _in_memory(a: np.ndarray, varargs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return ndgradient.gradient(a, *varargs, **kwargs)
    except Exception as error:  # the same type must come from the Dask call
        return error


def _check(call: Any, compute: Any) -> None:
    # NumPy's code path (complex data with a narrower NumPy scalar spacing) warns as NumPy
    # does, in memory and in the tasks alike.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        _check_quietly(call, compute)


def _check_quietly(call: Any, compute: Any) -> None:
    a, chunks, varargs, kwargs = call
    expected = _in_memory(a, varargs, kwargs)
    x = da.from_array(a, chunks=chunks)
    if isinstance(expected, Exception):
        with pytest.raises(type(expected)):
            ndgradient.gradient(x, *varargs, **kwargs)
        return
    lazy = ndgradient.gradient(x, *varargs, **kwargs)
    # One array, or a tuple (empty for no axes), as in memory.
    assert isinstance(lazy, tuple) == isinstance(expected, tuple)
    lazies = lazy if isinstance(lazy, tuple) else (lazy,)
    assert all(isinstance(g, da.Array) for g in lazies)
    results = compute(*lazies)
    expecteds = expected if isinstance(expected, tuple) else (expected,)
    for lazy_part, got, want in zip(lazies, results, expecteds, strict=True):
        assert lazy_part.dtype == want.dtype and lazy_part.shape == want.shape
        assert type(got) is np.ndarray
        # NaN sign and payload aside, as everywhere (see _oracle): the core's choice for a NaN
        # made from NaN or inf operands may depend on where a point falls in its loop.
        assert_identical(np.ascontiguousarray(got), np.ascontiguousarray(want))
    # And so NumPy's values (NaN sign and payload aside: see _oracle).
    numpy_result = reference(a, *varargs, **kwargs)
    numpy_parts = numpy_result if isinstance(numpy_result, tuple) else (numpy_result,)
    for got, want in zip(results, numpy_parts, strict=True):
        assert_identical(np.ascontiguousarray(got), np.ascontiguousarray(want))


def _threaded(*arrays: da.Array) -> tuple[Any, ...]:
    return tuple(dask.compute(*arrays, scheduler="threads"))


@given(dask_calls())
def test_threaded_scheduler_matches_the_whole_array(call: Any) -> None:
    _check(call, _threaded)


@given(dask_calls(dtypes=[np.float64, np.float32]))
def test_synchronous_scheduler_floats(call: Any) -> None:
    _check(call, lambda *arrays: dask.compute(*arrays, scheduler="synchronous"))


@settings(max_examples=60)
@given(call=dask_calls())
def test_local_cluster_matches_the_whole_array(client: Client, call: Any) -> None:
    _check(call, lambda *arrays: tuple(client.gather(client.compute(list(arrays)))))


def test_per_block_uniformity_would_change_bits() -> None:
    """Uniform inside each chunk, not overall: dask.array.gradient re-decides per block and
    changes the last bits; ndgradient decides once, as NumPy does."""
    x = np.arange(40) * 3.0
    x[-1] += 1
    a = np.random.default_rng(1).standard_normal(40)
    expected = np.gradient(a, x)
    ours = ndgradient.gradient(da.from_array(a, chunks=10), x).compute()
    assert ours.tobytes() == expected.tobytes()
    theirs = da.gradient(da.from_array(a, chunks=10), x)[0].compute()
    assert (theirs != expected).any()  # the defect this design avoids, still in dask


def test_returns_like_numpy() -> None:
    x = da.ones((6, 5, 4), chunks=3)
    assert isinstance(ndgradient.gradient(x, axis=1), da.Array)
    both = ndgradient.gradient(x, axis=(0, -1))
    assert type(both) is tuple and len(both) == 2
    assert [g.shape for g in both] == [(6, 5, 4)] * 2
    assert ndgradient.gradient(x, axis=()) == ()
    assert ndgradient.gradient(da.arange(6, chunks=2, dtype=np.int8)).dtype == np.float64
    assert ndgradient.gradient(da.ones(6, chunks=2, dtype=np.float16)).dtype == np.float16


def test_lazy_until_computed() -> None:
    def refuse(block: np.ndarray) -> np.ndarray:
        raise AssertionError("computed too early")

    x = da.ones((8, 8), chunks=4).map_blocks(refuse, dtype=float)
    gy, gx = ndgradient.gradient(x, 2.0, np.linspace(0, 1, 8) ** 2)
    assert gy.chunks == gx.chunks == x.chunks


@pytest.mark.parametrize("edge_order", [1, 2])
def test_short_chunks_merge_with_a_neighbour(edge_order: int) -> None:
    a = np.arange(10.0) ** 3
    x = da.from_array(a, chunks=((1, 1, 0, 3, 1, 1, 2, 1),))
    g = ndgradient.gradient(x, edge_order=edge_order)
    assert all(size >= edge_order for size in (g.chunks[0][0], g.chunks[0][-1]))
    assert 0 not in g.chunks[0]
    assert g.compute().tobytes() == np.gradient(a, edge_order=edge_order).tobytes()


def test_unknown_chunk_sizes_raise_before_any_work() -> None:
    x = da.arange(10.0, chunks=3)
    unknown = x[x > 4]
    with pytest.raises(ValueError, match=r"unknown \(NaN\) chunk sizes"):
        ndgradient.gradient(unknown)
    g = ndgradient.gradient(unknown.compute_chunk_sizes())
    assert g.compute().tobytes() == np.gradient(np.arange(5.0, 10.0)).tobytes()


@pytest.mark.parametrize(
    ("make", "kwargs", "error"),
    [
        (lambda: da.ones(5, chunks=2, dtype=bool), {}, TypeError),
        (lambda: da.ma.masked_array(da.ones(5, chunks=2)), {}, TypeError),
        (lambda: da.ones(1, chunks=1), {}, ValueError),
        (lambda: da.ones(2, chunks=1), {"edge_order": 2}, ValueError),
        (lambda: da.ones(5, chunks=2), {"edge_order": 3}, ValueError),
        (lambda: da.ones(5, chunks=2), {"axis": 1}, np.exceptions.AxisError),
        (lambda: da.ones((5, 5), chunks=2), {"axis": (0, 0)}, ValueError),
        (lambda: da.ones(5, chunks=2), {"out": np.empty(5)}, TypeError),
        (lambda: da.ones(5, chunks=2), {"accuracy": 4}, TypeError),
        (lambda: da.ones(5, chunks=2), {"periodic": True}, TypeError),
        (lambda: da.ones(5, chunks=2), {"workers": 0}, ValueError),
    ],
)
def test_bad_input_raises_at_the_call(make: Any, kwargs: dict[str, Any], error: Any) -> None:
    with pytest.raises(error):
        ndgradient.gradient(make(), **kwargs)


def test_bad_spacings_raise_numpys_errors_at_the_call() -> None:
    x = da.ones((5, 4), chunks=2)
    with pytest.raises(TypeError):
        ndgradient.gradient(x, 1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="match the length"):
        ndgradient.gradient(x, np.arange(4.0), np.arange(4.0))
    with pytest.raises(ValueError, match="scalars or 1d"):
        ndgradient.gradient(x, np.ones((5, 1)), 1.0)
    with pytest.raises(TypeError):
        ndgradient.gradient(x, np.ones(5, dtype=bool), 1.0)  # NumPy's TypeError too
    # A complex spacing: NumPy's code path, block by block.
    data = np.arange(20.0).reshape(5, 4) ** 2 * (1.5 + 0.5j)
    got = dask.compute(*ndgradient.gradient(da.from_array(data, chunks=2), 1j, 1.0))
    for g, w in zip(got, np.gradient(data, 1j, 1.0), strict=True):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()


@pytest.mark.parametrize(
    "dtype", ["M8[s]", "m8[ms]", object, np.longdouble, np.clongdouble, np.complex64]
)
@pytest.mark.parametrize("edge_order", [1, 2])
def test_numpys_code_path_block_by_block(dtype: Any, edge_order: int) -> None:
    """Data only NumPy's code path computes (and complex64 with an int8 spacing, which it
    also takes) goes through numpy.gradient block by block, with the same halo; blocks whose
    coordinates would look uniform to NumPy, where the whole array's do not, are merged."""
    rng = np.random.default_rng(6)
    a = (rng.integers(-1000, 1000, (9, 13)) * 7).astype(dtype)
    uneven = np.arange(13) * 3.0
    uneven[-2:] += 1  # uniform runs inside the first chunks, not overall
    for varargs in [(), (np.int8(2),), (np.int8(2), uneven), (2.0, np.arange(13) * 0.5)]:
        expected = np.gradient(a, *varargs, edge_order=edge_order)
        x = da.from_array(a, chunks=((1, 2, 2, 4), (3, 3, 3, 2, 2)))
        got = ndgradient.gradient(x, *varargs, edge_order=edge_order)
        assert type(got) is tuple and len(got) == 2
        for lazy, (g, w) in zip(got, zip(dask.compute(*got), expected, strict=True), strict=True):
            assert lazy.dtype == w.dtype
            assert_identical(np.ascontiguousarray(g), np.ascontiguousarray(w))


def test_dask_coordinate_arrays_are_accepted() -> None:
    a = np.random.default_rng(2).standard_normal((7, 6))
    x = np.sort(np.random.default_rng(3).random(7))
    got = ndgradient.gradient(da.from_array(a, chunks=3), da.from_array(x, chunks=2), 0.5)
    for g, w in zip(dask.compute(*got), np.gradient(a, x, 0.5), strict=True):
        assert g.tobytes() == w.tobytes()


def test_coordinates_are_placed_in_the_graph_once() -> None:
    n = 100_000
    x = np.cumsum(np.random.default_rng(4).random(n))
    g = ndgradient.gradient(da.zeros((n, 3), chunks=(n // 25, 3)), x, axis=0)
    assert g.numblocks == (25, 1)
    graph = dict(g.__dask_graph__())
    size = len(pickle.dumps(graph))
    assert x.nbytes < size < 1.5 * x.nbytes, size


def test_tasks_run_the_core_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from ndgradient import _core

    seen: list[Any] = []
    native = _core.gradient_into

    def spy(*args: Any, **kwargs: Any) -> int:
        seen.append((args[0].shape, args[5]))
        return native(*args, **kwargs)

    def threads_per_call() -> tuple[list[Any], set[Any]]:
        # One call per block of 20x20, and single-threaded ones for the three-layer slabs
        # that recompute the layers next to a neighbour (two per block here).
        blocks = [threads for shape, threads in seen if shape == (20, 20)]
        slabs = {threads for shape, threads in seen if shape != (20, 20)}
        assert len(seen) == 4 + 8
        seen.clear()
        return blocks, slabs

    monkeypatch.setattr(_core, "gradient_into", spy)
    x = da.ones((40, 40), chunks=20)
    dask.compute(*ndgradient.gradient(x), scheduler="threads")
    assert threads_per_call() == ([1] * 4, {1})
    dask.compute(*ndgradient.gradient(x, workers=2), scheduler="threads")
    assert threads_per_call() == ([2] * 4, {1})


def test_persisted_on_the_cluster(client: Client) -> None:
    a = np.random.default_rng(5).standard_normal((64, 48)).astype(np.float32)
    x = da.from_array(a, chunks=(16, 20))
    gy, gx = client.persist(list(ndgradient.gradient(x, 0.5, np.linspace(0, 1, 48) ** 3)))
    assert len(client.who_has(gy)) == gy.npartitions  # held by the workers
    wy, wx = np.gradient(a, 0.5, np.linspace(0, 1, 48) ** 3)
    assert gy.compute().tobytes() == wy.tobytes()
    assert gx.compute().tobytes() == wx.tobytes()
