"""Hypothesis differential tests: ndgradient.gradient against numpy.gradient, bit for bit.

Each property draws one part of the input space widely (shapes 0-D to 5-D with short and
zero-length axes, every dtype, every memory layout, every spacing form, every axis form, both
edge orders, special values) and requires the same behaviour: the same exception type, or the
same container, types, dtypes, layouts and bits (see ``_oracle``).
"""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import ndgradient
import numpy as np
import pytest
from _oracle import assert_identical, assert_same_behaviour, call_both, reference, silenced
from hypothesis import given, note

FLOATS = [np.float64, np.float32, np.float16]
COMPLEX = [np.complex128, np.complex64]
INTEGERS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
NATIVE = FLOATS + COMPLEX + INTEGERS

SPECIAL = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 2.2e-308, 1e-300, 1e300, -1e308]


def _float_elements(dtype: Any) -> st.SearchStrategy[float]:
    width = np.dtype(dtype).itemsize * 8
    info = np.finfo(dtype)
    top = float(info.max)
    specials = [np.dtype(dtype).type(v) for v in SPECIAL if abs(v) <= top or not np.isfinite(v)]
    specials += [info.max, -info.max, info.tiny, info.smallest_subnormal]
    return st.one_of(
        st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.sampled_from([float(v) for v in specials]),
        st.floats(-100, 100, width=width),
    )


def elements(dtype: Any) -> st.SearchStrategy[Any]:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return _float_elements(dtype)
    if dtype.kind == "c":
        part = _float_elements(np.dtype(f"f{dtype.itemsize // 2}"))
        return st.builds(complex, part, part)
    info = np.iinfo(dtype)
    return st.one_of(
        st.integers(int(info.min), int(info.max)),
        st.sampled_from([int(info.min), int(info.max), 0, -1 if info.min < 0 else 1]),
    )


@st.composite
def shapes(draw: st.DrawFn, min_dims: int = 0, max_dims: int = 5) -> tuple[int, ...]:
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=7))
    # Mostly axes long enough to differentiate; sometimes 0, 1, 2 or 3 points.
    return tuple(draw(st.sampled_from([n, n, n, 0, 1, 2, 3])) for n in shape)


@st.composite
def laid_out(draw: st.DrawFn, array: np.ndarray) -> np.ndarray:
    """The same values in another memory layout."""
    layout = draw(
        st.sampled_from(
            ["C", "F", "strided", "reversed", "transposed", "swapped", "readonly", "mixed"]
        )
    )
    note(f"layout {layout}")
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided" and array.ndim:
        steps = draw(
            st.lists(st.sampled_from([1, 2, 3]), min_size=array.ndim, max_size=array.ndim)
        )
        big = np.zeros(
            tuple(max(1, s * n) for s, n in zip(steps, array.shape, strict=True)), array.dtype
        )
        view = big[
            tuple(
                slice(None, n * s if n else 0, s) for s, n in zip(steps, array.shape, strict=True)
            )
        ]
        view[...] = array
        return view
    if layout == "reversed" and array.ndim:
        flips = draw(st.lists(st.booleans(), min_size=array.ndim, max_size=array.ndim))
        reversed_copy = array[
            tuple(slice(None, None, -1) if f else slice(None) for f in flips)
        ].copy()
        return reversed_copy[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    if layout == "transposed" and array.ndim > 1:
        order = draw(st.permutations(range(array.ndim)))
        inverse = np.argsort(order)
        return np.ascontiguousarray(array.transpose(order)).transpose(inverse)
    if layout == "swapped":
        return array.astype(array.dtype.newbyteorder())
    if layout == "readonly":
        array = array.copy()
        array.flags.writeable = False
        return array
    if layout == "mixed" and array.ndim:
        return draw(laid_out(np.asfortranarray(array)[..., ::-1].copy()[..., ::-1]))
    return array


@st.composite
def coordinates(draw: st.DrawFn, n: int) -> np.ndarray:
    kind = draw(st.sampled_from(["sorted", "uniform", "unsorted", "repeats", "special", "ints"]))
    dtype = draw(
        st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8])
    )
    note(f"coordinates {kind} {np.dtype(dtype).name}")
    if kind == "uniform":
        start = draw(st.sampled_from([0, 1, -3, 0.5, 1e5]))
        step = draw(st.sampled_from([1, 2, 0.5, 0.1, 0.3, -1, 1e-3, 7]))
        values = start + np.arange(n) * step
    elif kind == "ints":
        values = np.array(draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n)))
    else:
        values = np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n)))
        if kind == "sorted":
            values = np.sort(values)
        elif kind == "repeats" and n > 1:
            values = np.sort(values)
            values[draw(st.integers(1, n - 1))] = values[0]
        elif kind == "special" and n:
            values[draw(st.integers(0, n - 1))] = draw(st.sampled_from(SPECIAL))
    with np.errstate(all="ignore"):
        if np.dtype(dtype).kind == "u":
            values = np.abs(values) % 256
        return np.asarray(values).astype(dtype)


def scalar_spacings() -> st.SearchStrategy[Any]:
    numbers = st.sampled_from([1, 2, 3, -1, 0.5, 0.1, -2.5, 1e-7, 1e7, 3e38, 2**60 + 1, True])
    return st.one_of(
        numbers,
        st.floats(-1e6, 1e6).filter(lambda v: v != 0),
        st.builds(
            lambda t, v: t(v),
            st.sampled_from([np.float64, np.float32, np.float16]),
            st.sampled_from([0.1, 0.5, 2.0, -3.0, 1e-3]),
        ),
        st.builds(
            lambda t, v: t(v),
            st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64]),
            st.integers(1, 100),
        ),
        st.builds(
            lambda v, t: np.array(v, dtype=t),
            st.sampled_from([0.25, 3.0, 7]),
            st.sampled_from([np.float64, np.float32, np.int8]),
        ),
        st.just(np.bool_(True)),
    )


@st.composite
def spacing_for_axes(draw: st.DrawFn, f: np.ndarray, axes: tuple[int, ...]) -> tuple[Any, ...]:
    form = draw(st.sampled_from(["none", "one", "per-axis", "per-axis"]))
    if form == "none" or not axes:
        return ()
    if form == "one":
        return (draw(scalar_spacings()),)
    return tuple(draw(st.one_of(scalar_spacings(), coordinates(f.shape[ax]))) for ax in axes)


@st.composite
def axis_forms(draw: st.DrawFn, ndim: int) -> tuple[Any, tuple[int, ...]]:
    """An ``axis`` argument and the axes it selects."""
    form = draw(st.sampled_from(["none", "int", "tuple", "list"]) if ndim else st.just("none"))
    if form == "none":
        return None, tuple(range(ndim))
    if form == "int":
        ax = draw(st.integers(-ndim, ndim - 1))
        return ax, (ax % ndim,)
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    written = [ax - ndim if draw(st.booleans()) else ax for ax in chosen]
    return (tuple(written) if form == "tuple" else written), tuple(chosen)


@st.composite
def calls(draw: st.DrawFn, dtypes: list[Any] = NATIVE, max_dims: int = 5) -> Any:
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes(max_dims=max_dims).filter(lambda s: int(np.prod(s)) <= 2000))
    array = draw(hnp.arrays(dtype, shape, elements=elements(dtype)))
    f = draw(laid_out(array))
    axis, axes = draw(axis_forms(f.ndim))
    varargs = draw(spacing_for_axes(f, axes))
    edge_order = draw(st.sampled_from([1, 2]))
    note(f"dtype={np.dtype(dtype)} shape={shape} axis={axis} edge_order={edge_order}")
    note(f"varargs={varargs!r}")
    return f, varargs, {"axis": axis, "edge_order": edge_order}


def _behaves_the_same(f: np.ndarray, varargs: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    before = f.copy()
    assert_same_behaviour(f, *varargs, **kwargs)
    assert np.array_equal(f, before, equal_nan=f.dtype.kind in "fc")


@given(calls())
def test_native_dtypes_every_form(call: Any) -> None:
    _behaves_the_same(*call)


@given(calls(dtypes=FLOATS + COMPLEX, max_dims=2))
def test_floating_one_and_two_dimensional(call: Any) -> None:
    _behaves_the_same(*call)


@given(calls(dtypes=INTEGERS, max_dims=3))
def test_integer_dtypes(call: Any) -> None:
    _behaves_the_same(*call)


@given(st.data())
def test_coordinate_arrays_on_every_axis(data: st.DataObject) -> None:
    dtype = data.draw(st.sampled_from(NATIVE))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=9))
    f = data.draw(laid_out(data.draw(hnp.arrays(dtype, shape, elements=elements(dtype)))))
    xs = [data.draw(coordinates(n)) for n in shape]
    edge_order = data.draw(st.sampled_from([1, 2]))
    _behaves_the_same(f, tuple(xs), {"edge_order": edge_order})


@given(st.data())
def test_wrong_spacing_counts_and_shapes_raise_like_numpy(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    f = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) ** 2
    count = data.draw(st.integers(0, f.ndim + 2))
    varargs = tuple(
        data.draw(
            st.one_of(
                st.just(1.0),
                st.builds(np.ones, st.integers(0, 6)),
                st.builds(np.ones, st.tuples(st.integers(1, 3), st.integers(1, 3))),
            )
        )
        for _ in range(count)
    )
    axis = data.draw(
        st.one_of(
            st.none(),
            st.integers(-f.ndim - 2, f.ndim + 1),
            st.tuples(st.integers(0, f.ndim - 1), st.integers(0, f.ndim - 1)),
        )
    )
    _behaves_the_same(f, varargs, {"axis": axis, "edge_order": data.draw(st.sampled_from([1, 2]))})


@given(st.data())
def test_array_likes(data: st.DataObject) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    values = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e3, 1e3)))
    as_int = data.draw(st.booleans())
    nested = (values.astype(np.int64) if as_int else values).tolist()
    _behaves_the_same(np.asarray(nested), (), {})
    assert_same_behaviour(nested)
    assert_same_behaviour(nested, 0.5)


@given(st.data())
def test_numpy_code_path_dtypes(data: st.DataObject) -> None:
    dtype = data.draw(
        st.sampled_from(
            ["datetime64[s]", "timedelta64[ms]", object, np.longdouble, np.clongdouble, bool]
        )
    )
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=5))
    ints = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-1000, 1000)))
    f = ints.astype(dtype)
    varargs = data.draw(st.sampled_from([(), (2,), (0.5,)]))
    edge_order = data.draw(st.sampled_from([1, 2]))
    assert_same_behaviour(f, *varargs, edge_order=edge_order)


def reference_or_error(*args: Any, **kwargs: Any) -> Any:
    try:
        return reference(*args, **kwargs)
    except Exception as exc:
        return type(exc)


@given(
    st.sampled_from(NATIVE),
    st.sampled_from([(300_007,), (600, 501), (70, 80, 55)]),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["unit", "scalar", "coordinates"]),
    st.sampled_from([1, 2]),
    st.sampled_from([None, 1, 2, 3]),
)
def test_large_arrays_on_the_thread_pool(
    dtype: Any, shape: tuple[int, ...], seed: int, spacing: str, edge_order: int, workers: Any
) -> None:
    # Large enough to be split between threads; values from a seeded generator (with special
    # values sprinkled in) because drawing 300000 elements one by one would be slow.
    rng = np.random.default_rng(seed)
    f = rng.standard_normal(shape) * 1000
    flat = f.reshape(-1)
    flat[rng.integers(0, flat.size, 20)] = rng.choice([np.inf, -np.inf, 0.0, -0.0, np.nan], 20)
    with np.errstate(all="ignore"):
        f = f.astype(dtype)
    if rng.random() < 0.5:
        f = np.asfortranarray(f)
    varargs: tuple[Any, ...] = ()
    if spacing == "scalar":
        varargs = (np.float32(0.3),)
    elif spacing == "coordinates":
        varargs = tuple(np.cumsum(rng.random(n) + 0.01) for n in shape)
    expected = reference(f, *varargs, edge_order=edge_order)
    assert_identical(silenced(f, *varargs, edge_order=edge_order, workers=workers), expected)


class Sub(np.ndarray):
    pass


@given(calls(dtypes=[np.float64, np.int32, np.complex64], max_dims=3))
def test_subclasses_and_masked_arrays(call: Any) -> None:
    f, varargs, kwargs = call
    _behaves_the_same(np.asarray(f).view(Sub), varargs, kwargs)
    mask = np.zeros(f.shape, dtype=bool)
    if f.size:
        mask.reshape(-1)[::3] = True
    masked = np.ma.masked_array(np.asarray(f), mask=mask)
    # Masked arithmetic depends on the warning state: both run under the same one.
    expected, ours = call_both(masked, *varargs, **kwargs)
    if expected[0] == "raise":
        assert ours == expected
        return
    assert ours[0] == "ok", ours
    pairs = (
        zip(ours[1], expected[1], strict=True)
        if isinstance(expected[1], tuple)
        else [(ours[1], expected[1])]
    )
    for a, b in pairs:
        assert type(a) is type(b)
        assert np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
        assert_identical(np.ma.filled(a, 0), np.ma.filled(b, 0))


@given(st.sampled_from([0, -1, -2, 0.5, 1.5, 2.5, 3]), st.sampled_from(NATIVE))
def test_invalid_edge_orders(edge_order: Any, dtype: Any) -> None:
    f = np.arange(10).astype(dtype)
    with pytest.raises(ValueError):
        ndgradient.gradient(f, edge_order=edge_order)
