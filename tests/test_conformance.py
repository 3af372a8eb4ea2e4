"""Hand-picked conformance cases: each one a rule of numpy.gradient that is easy to get wrong."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from typing import Any

import ndgradient
import numpy as np
import pytest
from _oracle import assert_identical, reference, silenced, warned

NATIVE_DTYPES = [
    np.float64, np.float32, np.float16, np.complex128, np.complex64,
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
]  # fmt: skip


def check(*args: Any, **kwargs: Any) -> Any:
    expected, numpy_warnings = warned(np.gradient, *args, **kwargs)
    result, warnings = warned(ndgradient.gradient, *args, **kwargs)
    assert_identical(result, expected)
    assert warnings == numpy_warnings
    return result


# The seed article's examples.


def test_seed_cube_unit_spacing() -> None:
    result = check(np.array([1, 8, 27]))
    assert result.tolist() == [7.0, 13.0, 19.0]


def test_seed_cube_with_x_values() -> None:
    result = check(np.array([1, 8, 27]), np.array([1, 2, 3]))
    assert result.tolist() == [7.0, 13.0, 19.0]


def test_seed_plane() -> None:
    gy, gx = check(np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))
    assert (gy == 3).all() and (gx == 1).all()


# Containers and shapes.


def test_zero_dimensional_input_gives_empty_tuple() -> None:
    assert check(np.float64(3.0)) == ()
    assert check(5, 2.0) == ()


def test_one_axis_gives_an_array_and_several_a_tuple() -> None:
    f = np.arange(24.0).reshape(2, 3, 4) ** 2
    assert isinstance(check(f, axis=1), np.ndarray)
    assert isinstance(check(f, axis=(0, 2)), tuple)
    assert len(check(f)) == 3
    check(f, axis=[-1])


def test_zero_size_on_an_undifferentiated_axis() -> None:
    check(np.zeros((0, 3)), axis=1)
    check(np.zeros((4, 0, 3)), axis=(0, 2))


def test_array_likes() -> None:
    check([[1, 2, 4], [2, 5, 9]])
    check([1.5, 2.5, 7.0], [0, 1, 3])

    class HasArray:
        def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
            return np.array([1.0, 4.0, 9.0, 16.0])

    check(HasArray(), 0.5)


# NumPy 2 promotion (NEP 50): the spacing's type decides the compute type.

SPACINGS = [
    1, 3, 0.1, 1e-300, True, 2**60 + 1,
    np.float64(0.1), np.float32(0.1), np.float16(0.1), np.float16(40000),
    np.int8(3), np.int16(300), np.int32(7), np.int64(2**60 + 1), np.uint8(5), np.bool_(True),
    np.array(0.1), np.array(0.1, dtype=np.float32), np.array(3, dtype=np.int8),
]  # fmt: skip


@pytest.mark.parametrize("dtype", NATIVE_DTYPES)
@pytest.mark.parametrize("spacing", SPACINGS, ids=repr)
@pytest.mark.parametrize("edge_order", [1, 2])
def test_scalar_spacing_promotion(dtype: Any, spacing: Any, edge_order: int) -> None:
    rng = np.random.default_rng(1)
    f = (rng.standard_normal((5, 7)) * 100).astype(dtype)
    check(f, spacing, edge_order=edge_order)


@pytest.mark.parametrize("dtype", NATIVE_DTYPES)
@pytest.mark.parametrize(
    "coordinate_dtype", [np.float64, np.float32, np.float16, np.int64, np.uint8]
)
@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("edge_order", [1, 2])
def test_coordinate_promotion(
    dtype: Any, coordinate_dtype: Any, uniform: bool, edge_order: int
) -> None:
    rng = np.random.default_rng(2)
    f = (rng.standard_normal((6, 5)) * 10).astype(dtype)
    x = np.arange(6) * 3 + 1 if uniform else np.array([0, 1, 3, 4, 9, 10])
    y = np.array([0.0, 0.1, 0.3, 0.35, 0.9])
    check(f, x.astype(coordinate_dtype), y.astype(coordinate_dtype), edge_order=edge_order)


def test_uniform_decision_is_taken_over_the_whole_coordinate_array() -> None:
    x = np.array([0.0, 0.1, 0.2, 0.3000001, 0.4])
    check(np.sin(x), x)
    check(np.sin(x).astype(np.float32), x)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # building the special values
def test_special_values() -> None:
    values = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, 1e308, -1e308, 1.0]
    f = np.array(values * 3)
    for dtype in [np.float64, np.float32, np.float16, np.complex128, np.complex64]:
        g = f.astype(dtype)
        if np.iscomplexobj(g):
            g = g + 1j * np.roll(f, 3).astype(g.real.dtype)
        for spacing in [1.0, 0.0, -0.0, np.nan, np.inf, np.float32(0.0), 1e-310]:
            with np.errstate(all="ignore"):
                for edge_order in (1, 2):
                    if edge_order == 2 and isinstance(spacing, float) and spacing == 0.0:
                        continue  # Python float division by zero: both raise, checked below
                    check(g, spacing, edge_order=edge_order)
        with np.errstate(all="ignore"):
            x = np.cumsum(np.abs(np.nan_to_num(f))) + np.arange(f.size)
        check(g, x)


def test_zero_python_float_spacing_with_second_order_edges_raises_like_numpy() -> None:
    with pytest.raises(ZeroDivisionError):
        reference(np.arange(4.0), 0.0, edge_order=2)
    with pytest.raises(ZeroDivisionError):
        ndgradient.gradient(np.arange(4.0), 0.0, edge_order=2)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint64])
def test_integer_extremes(dtype: Any) -> None:
    info = np.iinfo(dtype)
    f = np.array([info.min, info.max, info.min, 0, info.max, info.max - 1], dtype=dtype)
    check(f)
    check(f, edge_order=2)
    check(f, np.array([0.0, 0.5, 3.0, 3.5, 10.0, 11.0]))


# Memory layouts, byte order, subclasses.


@pytest.mark.parametrize("dtype", NATIVE_DTYPES)
def test_layouts(dtype: Any) -> None:
    base = (np.random.default_rng(3).standard_normal((9, 8, 7)) * 50).astype(dtype)
    for f in [
        base,
        np.asfortranarray(base),
        base[::2, 1::3, ::-1],
        base.transpose(2, 0, 1),
        base[:, ::-1, :].swapaxes(0, 2),
    ]:
        check(f)
        check(f, 0.5, 2.0, np.linspace(0, 1, f.shape[2]) ** 2, edge_order=2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex64, np.int32, np.uint16])
def test_non_native_byte_order(dtype: Any) -> None:
    f = np.arange(30, dtype=dtype).reshape(5, 6) ** 2
    swapped = f.astype(f.dtype.newbyteorder())
    result = check(swapped)
    if np.dtype(dtype).kind in "fc":
        assert not result[0].dtype.isnative
    check(swapped, np.arange(5.0).astype(">f8"), 2)


def test_read_only_input_is_fine_and_never_modified() -> None:
    f = np.linspace(0, 1, 50).reshape(5, 10) ** 3
    f.flags.writeable = False
    before = f.copy()
    check(f, 0.1, np.linspace(0, 2, 10) ** 2)
    assert np.array_equal(f, before)


def test_ndarray_subclass_is_preserved() -> None:
    class Sub(np.ndarray):
        pass

    f = (np.arange(12.0).reshape(3, 4) ** 2).view(Sub)
    result = check(f)
    assert all(type(r) is Sub for r in result)


def test_masked_array_follows_numpy() -> None:
    f = np.ma.masked_array([1.0, 2.0, 4.0, 8.0, 16.0], mask=[0, 1, 0, 0, 0])
    expected = reference(f)
    result = ndgradient.gradient(f)
    assert type(result) is type(expected)
    assert np.array_equal(np.ma.getmaskarray(result), np.ma.getmaskarray(expected))
    # NumPy leaves the data under the mask uninitialised; compare what is defined.
    assert result.filled(0).tobytes() == expected.filled(0).tobytes()


def test_matrix_arithmetic_subclass_follows_numpy() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        f = np.matrix([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0], [0.0, 1.0, 1.0]])
        assert_identical(ndgradient.gradient(f, edge_order=2), reference(f, edge_order=2))


def test_array_function_override_is_honoured() -> None:
    calls = []

    class Duck:
        def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
            calls.append(func)
            return "overridden"

    assert ndgradient.gradient(Duck(), axis=0) == "overridden"
    assert calls == [np.gradient]
    assert ndgradient.gradient(np.arange(3.0), Duck()) == "overridden"


# Dtypes that follow NumPy's own code path.


def test_datetime_gives_timedelta_of_the_same_unit() -> None:
    f = np.array(["2024-01-01", "2024-01-03", "2024-01-08"], dtype="datetime64[D]")
    result = check(f)
    assert result.dtype == np.dtype("timedelta64[D]")
    check(np.array([1, 5, 20], dtype="timedelta64[s]"))


def test_bool_raises_type_error_like_numpy() -> None:
    with pytest.raises(TypeError):
        np.gradient(np.array([True, False, True]))
    with pytest.raises(TypeError):
        ndgradient.gradient(np.array([True, False, True]))


def test_object_and_longdouble() -> None:
    check(np.array([1, 4, 9, 16], dtype=object))
    check(np.array([1, 4, 9, 16], dtype=np.longdouble), 0.5)
    check(np.array([1, 4, 9, 16], dtype=np.clongdouble))


# Errors.


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((np.zeros((3, 3)),), {"axis": 2}, np.exceptions.AxisError),
        ((np.zeros((3, 3)),), {"axis": (0, 0)}, ValueError),
        ((np.zeros((3, 3)), 1, 2, 3), {}, TypeError),
        ((np.zeros((3, 3)), np.ones((3, 3)), 1), {}, ValueError),
        ((np.zeros((3, 3)), np.ones(4), 1), {}, ValueError),
        ((np.zeros((1, 3)), np.ones(1), 1), {}, IndexError),
        ((np.zeros((2, 3)),), {"edge_order": 2}, ValueError),
        ((np.zeros(5),), {"edge_order": 3}, ValueError),
        ((np.zeros(5),), {"edge_order": None}, TypeError),
        ((np.zeros(0),), {}, ValueError),
    ],
)
def test_errors_match_numpy(args: tuple[Any, ...], kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        reference(*args, **kwargs)
    with pytest.raises(error):
        ndgradient.gradient(*args, **kwargs)


@pytest.mark.parametrize("edge_order", [0, -1, 0.5, 1.5])
def test_bad_edge_order_is_refused(edge_order: Any) -> None:
    with pytest.raises(ValueError, match="edge_order must be 1 or 2"):
        ndgradient.gradient(np.arange(5.0), edge_order=edge_order)


def test_integral_edge_order_values_are_accepted() -> None:
    check(np.arange(5.0) ** 2, edge_order=2.0)
    check(np.arange(5.0) ** 2, edge_order=np.int64(1))


# Sizes that run on the thread pool, threads, fork.


@pytest.mark.parametrize("dtype", NATIVE_DTYPES)
def test_large_arrays_match(dtype: Any) -> None:
    rng = np.random.default_rng(4)
    f = (rng.standard_normal((600, 513)) * 1000).astype(dtype)
    x = np.cumsum(rng.random(513)) + 1
    check(f, 0.3, x, edge_order=2)
    check(f.ravel(), np.float32(0.5))


def test_concurrent_calls_from_threads() -> None:
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((520, 600)) for _ in range(4)]
    expected = [reference(a, 0.5) for a in arrays]
    failures: list[str] = []

    def work(i: int) -> None:
        for _ in range(5):
            result = ndgradient.gradient(arrays[i % 4], 0.5)
            try:
                assert_identical(result, expected[i % 4])
            except AssertionError as exc:
                failures.append(str(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_after_fork_computes_without_hanging() -> None:
    code = (
        "import os, numpy as np, ndgradient\n"
        "f = np.random.default_rng(0).standard_normal((500, 500))\n"
        "ndgradient.gradient(f)\n"  # the parent uses its thread pool
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = all((a == b).all() for a, b in zip(ndgradient.gradient(f), np.gradient(f)))\n"
        "    os._exit(0 if ok else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        done = subprocess.run([sys.executable, "-c", code], timeout=120, check=False)
    assert done.returncode == 0


# The command line.


@pytest.mark.parametrize(
    "launcher",
    [["-m", "ndgradient"], ["-c", "import ndgradient._cli as c; raise SystemExit(c.main())"]],
)
def test_demo_runs_and_reports_identical_results(launcher: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, *launcher, "demo", "--size", "64", "--repeats", "1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[ 7., 13., 19.]" in done.stdout
    assert "All results identical to numpy.gradient." in done.stdout
    assert "speed-up" in done.stdout


def test_version_is_cargo_version() -> None:
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")

    cargo = Path(__file__).resolve().parents[1] / "Cargo.toml"
    if not cargo.exists():
        pytest.skip("source tree not available (testing an installed wheel)")
    version = tomllib.loads(cargo.read_text())["package"]["version"]
    assert ndgradient.__version__ == version


# workers= (an ndgradient extension).


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.complex64, np.int16])
def test_every_worker_count_gives_the_same_bits(dtype: Any) -> None:
    rng = np.random.default_rng(6)
    f = (rng.standard_normal((520, 600)) * 100).astype(dtype)
    x = np.cumsum(rng.random(600)) + 1
    expected = reference(f, 0.5, x, edge_order=2)
    # float16 overflows here: NumPy's warnings are silenced on both sides.
    for workers in [None, 1, 2, 3, 5, -1]:
        assert_identical(silenced(f, 0.5, x, edge_order=2, workers=workers), expected)
    line = (rng.standard_normal(300_007) * 100).astype(dtype)
    xs = np.cumsum(rng.random(line.size))
    expected = reference(line, xs)
    for workers in [1, 2, 4]:
        assert_identical(silenced(line, xs, workers=workers), expected)


@pytest.mark.parametrize(
    ("workers", "error"),
    [(0, ValueError), (-10_000, ValueError), (1.5, TypeError), ("2", TypeError)],
)
def test_bad_workers(workers: Any, error: type) -> None:
    with pytest.raises(error):
        ndgradient.gradient(np.arange(5.0), workers=workers)


def test_num_threads_environment_variable() -> None:
    code = "import ndgradient._core as c; print(c.default_workers())"
    env = {**os.environ, "NDGRADIENT_NUM_THREADS": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "3"


def test_signed_zero_and_equal_python_numbers_keep_their_own_results() -> None:
    f = np.array([1.0, 2.0, 4.0, 8.0], dtype=np.float32)
    for dx in [0.0, -0.0, 0.0, 1, 1.0, True, -0.0, 2**60 + 1, float(2**60 + 1), 3, 3.0]:
        check(f, dx)
        check(f.astype(np.float64), dx)
        check(f.astype(np.float16), dx)


def test_error_order_zero_spacing_before_a_later_short_axis() -> None:
    f = np.zeros((5, 2))
    with pytest.raises(ZeroDivisionError):
        reference(f, 0.0, edge_order=2)
    with pytest.raises(ZeroDivisionError):
        ndgradient.gradient(f, 0.0, edge_order=2)
    with pytest.raises(ValueError):
        ndgradient.gradient(f.T, 0.0, edge_order=2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.complex128])
@pytest.mark.parametrize("edge_order", [1, 2])
def test_isolated_nans_keep_sign_and_payload(dtype: Any, edge_order: int) -> None:
    # One NaN per stencil: NumPy's result is then determined, and must match to the bit.
    real = np.dtype(dtype).type(0).real.dtype
    unsigned = np.dtype(f"u{real.itemsize}")
    quiet = {8: 0x7FF8_0000_0000_0000, 4: 0x7FC0_0000, 2: 0x7E00}[real.itemsize]
    sign = {8: 1 << 63, 4: 1 << 31, 2: 1 << 15}[real.itemsize]
    rng = np.random.default_rng(8)
    f = (rng.standard_normal(64) * 10).astype(real)
    for k, i in enumerate(range(2, 62, 5)):  # NaNs 5 apart, alternating sign, varied payload
        bits = quiet | (k + 1) | (sign if k % 2 else 0)
        f[i] = np.array([bits], dtype=unsigned).view(real)[0]
    if np.dtype(dtype).kind == "c":
        f = f + 1j * np.roll(f, 1)
    x = np.cumsum(rng.random(64) + 0.1)
    for args in [(f,), (f, 0.3), (f, np.float32(0.3)), (f, x)]:
        assert_identical(
            ndgradient.gradient(*args, edge_order=edge_order),
            reference(*args, edge_order=edge_order),
            strict_nan=np.dtype(dtype).kind != "c",
        )


def test_integer_output_layout_follows_numpy_for_length_one_axes() -> None:
    # numpy.gradient allocates empty_like(f.astype(float64)); empty_like does not keep the
    # strides of length-1 axes, so one empty_like(f, float64) would differ here.
    order = (1, 3, 4, 0, 2)
    f = np.ascontiguousarray(np.zeros((1, 2, 2, 1, 2), np.int8).transpose(order))
    f = f.transpose(np.argsort(order))
    assert np.empty_like(f, dtype=np.float64).strides != reference(f, axis=1).strides
    check(f, axis=1)
    check(f, axis=(1, 2, 4))
