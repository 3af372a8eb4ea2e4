"""Arrays bigger than memory: memory-mapped files window by window, through the API and the
command line, bit-identical to ``numpy.gradient`` on the array in memory.

The fast tests force windows of a few layers (``NDGRADIENT_WINDOW_BYTES``) on small files.
The slow ones (``--runslow``) compute files several times larger than the memory the child
process may use, and measure its peak resident memory.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ndgradient
import numpy as np
import pytest
from _oracle import assert_identical, reference
from ndgradient import _bigfile, _windows
from ndgradient._cli import main

DTYPES = ["float64", "float32", "float16", "int16", "uint8", "complex128", "complex64", ">f8"]
LENGTH = 22  # along the window axis: 7 windows of 3 layers and one left over, merged
OTHER = (5, 3)  # the other axes


@pytest.fixture
def windows_used(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """The ``(start, stop)`` of each window computed, recorded."""
    seen: list[tuple[int, int]] = []
    fill = _windows.Windows.fill

    def recorded(self: Any, slab: Any, slab_start: int, start: int, stop: int, outs: Any) -> None:
        seen.append((start, stop))
        fill(self, slab, slab_start, start, stop, outs)

    monkeypatch.setattr(_windows.Windows, "fill", recorded)
    yield seen


def _layers(monkeypatch: pytest.MonkeyPatch, f: np.ndarray, layers: int) -> None:
    """Windows of ``layers`` layers of ``f`` along its window axis."""
    axis = _windows.window_axis(f.shape, f.strides)
    layer_bytes = f.nbytes // f.shape[axis]
    monkeypatch.setenv("NDGRADIENT_WINDOW_BYTES", str(layers * layer_bytes))


def _data(dtype: str, order: str, ndim: int = 3, seed: int = 0) -> np.ndarray:
    """An array of ``LENGTH`` layers along its outermost memory axis."""
    rng = np.random.default_rng(seed)
    shape = (LENGTH, *OTHER)[:ndim]
    values = rng.standard_normal(shape) * 40
    if np.dtype(dtype).kind == "c":
        values = values + 1j * rng.standard_normal(shape)
    elif np.dtype(dtype).kind == "u":
        values = np.abs(values)
    data = values.astype(dtype)
    return np.asfortranarray(data.T) if order == "F" else data


def _spacings(kind: str, shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[Any, ...]:
    if kind == "none":
        return ()
    if kind == "scalar":
        return (0.5,)
    spacings = []
    for i, ax in enumerate(axes):
        n = shape[ax]
        if kind == "uniform coordinates":
            spacings.append(np.arange(n) * 0.25 + 3)
        else:
            # Uneven over the whole axis, but uniform over runs longer than a window: each
            # window's slice must still get NumPy's non-uniform formulas.
            x = np.arange(n, dtype=np.float64) * (0.5 + i)
            x[n // 2 + 1 :] += 0.375
            spacings.append(x)
    return tuple(spacings)


SPACINGS = ["none", "scalar", "uniform coordinates", "uneven coordinates"]


def _calls(ndim: int) -> Iterator[tuple[tuple[int, ...] | None, str, int]]:
    """Axis subsets (all, the window axis alone, the others only, negative) x spacings x
    edge orders."""
    subsets: list[tuple[int, ...] | None] = [None, (0,), (-1,), (ndim - 1, 0)]
    for axis in subsets[: 2 if ndim == 1 else 4]:
        for spacing in SPACINGS:
            for edge_order in (1, 2):
                yield axis, spacing, edge_order


def _axes(axis: tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim)) if axis is None else tuple(a % ndim for a in axis)


# ------------------------------------------------------------------------------------------
# The API: memory-mapped inputs and outputs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_memmap_input_window_by_window_is_bit_identical(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    windows_used: list[tuple[int, int]],
    dtype: str,
    order: str,
) -> None:
    """A read-only memory-mapped input gives NumPy's result on the array in memory, bit for
    bit and as the same container and array type, for every spacing form, edge order and
    axis subset, in windows of three layers with a one-layer remainder merged."""
    for ndim in (1, 3):
        data = _data(dtype, order, ndim)
        np.save(tmp_path / "f.npy", data)
        mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
        _layers(monkeypatch, mapped, 3)
        for axis, spacing, edge_order in _calls(ndim):
            varargs = _spacings(spacing, data.shape, _axes(axis, ndim))
            windows_used.clear()
            ours = ndgradient.gradient(mapped, *varargs, axis=axis, edge_order=edge_order)
            # NumPy on the memmap gives np.memmap arrays, as ndgradient has always given.
            assert_identical(ours, reference(mapped, *varargs, axis=axis, edge_order=edge_order))
            plain = reference(data, *varargs, axis=axis, edge_order=edge_order)
            for got, want in zip(_listed(ours), _listed(plain), strict=True):
                assert_identical(got.view(np.ndarray), want, strict_nan=True)
            merged = (LENGTH // 3 - 1) * 3
            assert windows_used[-1] == (merged, LENGTH), (axis, spacing, edge_order)


def _listed(result: Any) -> list[np.ndarray]:
    return list(result) if isinstance(result, tuple) else [result]


@pytest.mark.parametrize("order", ["C", "F"])
def test_memmap_outputs_window_by_window(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    windows_used: list[tuple[int, int]],
    order: str,
) -> None:
    """``out=`` arrays made by ``open_memmap`` (stacked, or one per axis, of a wider dtype)
    get NumPy's values, window by window, for an input in memory or mapped, and are the
    arrays returned."""
    data = _data("float32", order)
    np.save(tmp_path / "f.npy", data)
    x = _spacings("uneven coordinates", data.shape, (0,))[0]
    expected = reference(data, x, 0.5, 2.0, edge_order=2)
    for f in (data, np.load(tmp_path / "f.npy", mmap_mode="r")):
        _layers(monkeypatch, f, 4)
        stacked = np.lib.format.open_memmap(
            tmp_path / "stacked.npy", mode="w+", dtype=np.float32, shape=(3, *data.shape)
        )
        windows_used.clear()
        assert ndgradient.gradient(f, x, 0.5, 2.0, edge_order=2, out=stacked) is stacked
        assert len(windows_used) == LENGTH // 4
        for k in range(3):
            assert_identical(stacked[k].view(np.ndarray), np.ascontiguousarray(expected[k]))
        wider = [
            np.lib.format.open_memmap(
                tmp_path / f"axis{k}.npy",
                mode="w+",
                dtype=np.float64,
                shape=data.shape,
                fortran_order=order == "F",
            )
            for k in range(3)
        ]
        returned = ndgradient.gradient(f, x, 0.5, 2.0, edge_order=2, out=tuple(wider))
        assert isinstance(returned, tuple)
        assert all(a is b for a, b in zip(returned, wider, strict=True))
        for k in range(3):
            assert_identical(wider[k].view(np.ndarray), expected[k].astype(np.float64))
        del stacked, wider, returned
    single = np.lib.format.open_memmap(
        tmp_path / "one.npy", mode="w+", dtype=np.float32, shape=data.shape
    )
    assert ndgradient.gradient(data, axis=-1, out=single) is single
    np.testing.assert_array_equal(single, reference(data, axis=-1))


def test_calls_that_fit_one_window_or_need_numpy_keep_their_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    windows_used: list[tuple[int, int]],
) -> None:
    """Windows only for memory-mapped arrays larger than one window, of data the core
    computes, with NumPy's stencil; everything else is computed as before."""
    data = _data("float64", "C")
    np.save(tmp_path / "f.npy", data)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    assert_identical(ndgradient.gradient(mapped), reference(mapped))  # default: one window
    _layers(monkeypatch, data, 3)
    assert_identical(ndgradient.gradient(data), reference(data))  # nothing mapped
    out = np.lib.format.open_memmap(tmp_path / "o.npy", mode="w+", dtype=float, shape=data.shape)
    # The extensions compute in memory, into mapped outputs too; on a mapped input they
    # stay unavailable (np.memmap is data NumPy's code path computes).
    periodic = ndgradient.gradient(data, axis=0, periodic=True)
    assert ndgradient.gradient(data, axis=0, periodic=True, out=out) is out
    np.testing.assert_array_equal(out, periodic)
    with pytest.raises(TypeError, match="computed natively only"):
        ndgradient.gradient(mapped, axis=0, periodic=True)
    np.save(tmp_path / "long.npy", data.astype(np.longdouble))
    long = np.load(tmp_path / "long.npy", mmap_mode="r")
    assert_identical(ndgradient.gradient(long), reference(long))
    narrow = np.load(_saved(tmp_path / "c.npy", (data + 1j).astype(np.complex64)), mmap_mode="r")
    # complex64 data with an int8 NumPy scalar spacing: NumPy's own code path.
    assert_identical(ndgradient.gradient(narrow, np.int8(2)), reference(narrow, np.int8(2)))
    assert windows_used == []


def _saved(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {"axis": 3}),
        ((), {"axis": (0, 0)}),
        ((1.0, 2.0), {}),
        ((np.arange(5.0),), {"axis": 0}),
        ((), {"edge_order": 3}),
        ((), {"workers": 0}),
        ((), {"axis": 2, "edge_order": 2, "out": "stacked"}),
        ((), {"out": "short"}),
    ],
)
def test_errors_are_those_of_the_call_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[Any, ...], kwargs: Any
) -> None:
    """A windowed call raises what the same call on the array in memory raises."""
    data = np.random.default_rng(1).standard_normal((LENGTH, 5, 2))
    np.save(tmp_path / "f.npy", data)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    _layers(monkeypatch, mapped, 3)
    if kwargs.get("out") == "stacked":
        kwargs["out"] = np.lib.format.open_memmap(
            tmp_path / "o.npy", mode="w+", dtype=float, shape=(1, *data.shape)
        )
    elif kwargs.get("out") == "short":
        kwargs["out"] = [np.lib.format.open_memmap(
            tmp_path / "o.npy", mode="w+", dtype=np.float32, shape=data.shape
        )] * 3  # fmt: skip
    with pytest.raises(Exception) as in_memory:
        ndgradient.gradient(data, *args, **kwargs)
    with pytest.raises(type(in_memory.value)) as windowed:
        ndgradient.gradient(mapped, *args, **kwargs)
    assert str(windowed.value) == str(in_memory.value)


def test_pages_are_given_back_only_where_that_is_safe(tmp_path: Path) -> None:
    """Shared mappings contiguous along the window axis give their pages back (written back
    first where writeable); copy-on-write mappings, whose pages hold the only copy of what
    was written, and strided views never do."""
    data = _data("float64", "C")
    np.save(tmp_path / "f.npy", data)
    for mode in ("r", "r+"):
        mapped = np.load(tmp_path / "f.npy", mmap_mode=mode)
        pages = _windows._MappedPages.of(mapped, 0, LENGTH)
        assert pages is not None
        assert pages.offset == 128  # the .npy header
        assert pages.writeable == (mode == "r+")
        del pages, mapped
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    assert _windows._MappedPages.of(mapped[:, ::2], 0, LENGTH) is None
    assert _windows._MappedPages.of(mapped, 1, 5) is None
    assert _windows._MappedPages.of(np.load(tmp_path / "f.npy", mmap_mode="c"), 0, LENGTH) is None
    assert _windows._MappedPages.of(data, 0, LENGTH) is None


def test_a_copy_on_write_input_keeps_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values written to a ``mode="c"`` mapping exist only in its pages: the gradient is
    that of the values written, and they are still there after the call."""
    data = _data("float64", "C")
    np.save(tmp_path / "f.npy", data)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="c")
    mapped[::2] += 1000.0
    changed = np.array(mapped)
    _layers(monkeypatch, mapped, 3)
    assert_identical(ndgradient.gradient(mapped.view(np.ndarray)), reference(changed))
    out = np.lib.format.open_memmap(
        tmp_path / "o.npy", mode="w+", dtype=float, shape=(3, *data.shape)
    )
    ndgradient.gradient(mapped, out=out)
    np.testing.assert_array_equal(out, np.stack(reference(changed)))
    np.testing.assert_array_equal(mapped, changed)


def test_window_bounds() -> None:
    """Windows of the budget's layers, at least ``edge_order + 1`` each, a short last window
    merged into the one before; ``NDGRADIENT_WINDOW_BYTES`` must be a positive integer."""
    assert _windows._window_bounds(10, 8, 24, 1) == [0, 3, 6, 10]
    assert _windows._window_bounds(11, 8, 24, 1) == [0, 3, 6, 9, 11]
    assert _windows._window_bounds(10, 8, 8, 2) == [0, 3, 6, 10]
    assert _windows._window_bounds(2, 8, 8, 1) == [0, 2]
    assert _windows.window_axis((4, 1, 3), (24, 24, 8)) == 0
    assert _windows.window_axis((1, 4, 3), (96, 24, 8)) == 1
    assert _windows.window_axis((4, 3), (8, 32)) == 1


def test_window_bytes_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variable sets the window size; anything but a positive integer is an
    error that names it."""
    monkeypatch.setenv("NDGRADIENT_WINDOW_BYTES", "4096")
    assert _windows.window_bytes() == 4096
    for bad in ("0", "-3", "64M"):
        monkeypatch.setenv("NDGRADIENT_WINDOW_BYTES", bad)
        with pytest.raises(ValueError, match="NDGRADIENT_WINDOW_BYTES"):
            _windows.window_bytes()
    monkeypatch.delenv("NDGRADIENT_WINDOW_BYTES")
    assert _windows.window_bytes() == _windows.WINDOW_BYTES


# ------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------


def _cli_args(axis: tuple[int, ...] | None, varargs: tuple[Any, ...], tmp_path: Path) -> list[str]:
    args = [] if axis is None else ["--axis", *map(str, axis)]
    if len(varargs) == 1 and not isinstance(varargs[0], np.ndarray):
        return [*args, "--spacing", str(varargs[0])]
    if varargs:
        files = [str(_saved(tmp_path / f"x{i}.npy", x)) for i, x in enumerate(varargs)]
        args += ["--coords", *files]
    return args


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_compute_to_a_directory_is_bit_identical(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    windows_used: list[tuple[int, int]],
    dtype: str,
    order: str,
) -> None:
    """``ndgradient compute big.npy -o grads/`` maps one window at a time and writes
    ``axisN.npy`` files holding NumPy's results on the array in memory (layout included)."""
    data = _data(dtype, order)
    path = _saved(tmp_path / "f.npy", data)
    _layers(monkeypatch, data, 3)
    for axis, spacing, edge_order in _calls(data.ndim):
        axes = _axes(axis, data.ndim)
        varargs = _spacings(spacing, data.shape, axes)
        out = tmp_path / f"grads-{spacing}-{edge_order}-{axis}"
        args = [*_cli_args(axis, varargs, tmp_path), "--edge-order", str(edge_order)]
        windows_used.clear()
        assert main(["compute", str(path), *args, "-o", f"{out}/", "-q"]) == 0
        expected = _listed(reference(data, *varargs, axis=axis, edge_order=edge_order))
        assert sorted(p.name for p in out.iterdir()) == sorted(f"axis{a}.npy" for a in axes)
        for a, want in zip(axes, expected, strict=True):
            assert_identical(np.load(out / f"axis{a}.npy"), want, strict_nan=True)
        assert len(windows_used) == LENGTH // 3


def test_compute_to_one_npy_and_a_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, windows_used: list[tuple[int, int]]
) -> None:
    """``-o d.npy`` for one axis, ``-o grads.npy --stack`` for several, and ``.npz`` for
    small arrays, all NumPy's values."""
    data = _data("int16", "C")
    path = _saved(tmp_path / "f.npy", data)
    _layers(monkeypatch, data, 4)
    assert main(["compute", str(path), "--axis", "1", "-o", str(tmp_path / "d.npy"), "-q"]) == 0
    assert_identical(np.load(tmp_path / "d.npy"), reference(data, axis=1))
    assert main(["compute", str(path), "--edge-order", "2", "--stack", "-o",
                 str(tmp_path / "s.npy"), "-q"]) == 0  # fmt: skip
    assert_identical(np.load(tmp_path / "s.npy"), np.stack(reference(data, edge_order=2)))
    assert len(windows_used) == 6 + 5  # the second-order edges need 3 layers: 20-22 merged
    assert main(["compute", str(path), "-o", str(tmp_path / "g.npz"), "-q"]) == 0
    with np.load(tmp_path / "g.npz") as saved:
        for a, want in enumerate(reference(data)):
            assert_identical(saved[f"axis{a}"], want)
    fortran = _saved(tmp_path / "F.npy", np.asfortranarray(data))
    refusals = {
        "Fortran-ordered": ["compute", str(fortran), "--stack", "-o", str(tmp_path / "t.npy")],
        "--stack writes one .npy": ["compute", str(path), "--stack", "-o", f"{tmp_path}/d/"],
        "need an .npz output, a directory": ["compute", str(path), "-o", str(tmp_path / "u.npy")],
    }
    for message, args in refusals.items():
        done = _run(args)
        assert done.returncode == 2
        assert message in done.stderr, done.stderr
    assert not {"t.npy", "d", "u.npy"} & set(_files(tmp_path))


def test_data_only_numpy_computes_is_computed_in_memory(
    tmp_path: Path, windows_used: list[tuple[int, int]]
) -> None:
    """longdouble data (NumPy's code path) is computed in memory and written the same way;
    boolean data is NumPy's TypeError."""
    data = np.arange(30, dtype=np.longdouble).reshape(6, 5) ** 2
    path = _saved(tmp_path / "f.npy", data)
    assert main(["compute", str(path), "-o", f"{tmp_path}/g/", "-q"]) == 0
    for a, want in enumerate(reference(data)):
        assert_identical(np.load(tmp_path / "g" / f"axis{a}.npy"), want)
    assert windows_used == []
    done = _run(["compute", str(_saved(tmp_path / "b.npy", np.ones(4, bool))), "-o",
                 f"{tmp_path}/b/"])  # fmt: skip
    assert done.returncode == 2
    assert "boolean" in done.stderr
    assert not (tmp_path / "b").exists()


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ndgradient", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt, OSError, SystemExit])
def test_a_failure_mid_way_leaves_no_file_under_a_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: type[BaseException]
) -> None:
    """Whatever stops the command after some windows (a bug, Ctrl-C, an I/O error, SIGTERM's
    exit), the temporaries are removed, a file already under a final name is untouched, and
    nothing new is under one."""
    data = _data("float32", "C")
    path = _saved(tmp_path / "f.npy", data)
    out = tmp_path / "grads"
    out.mkdir()
    (out / "axis1.npy").write_bytes(b"an earlier result")
    _layers(monkeypatch, data, 3)
    fill = _windows.Windows.fill
    calls = []

    def failing(self: Any, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise failure(errno.EIO, "Input/output error") if failure is OSError else failure()
        fill(self, *args)

    monkeypatch.setattr(_windows.Windows, "fill", failing)
    args = ["compute", str(path), "-o", f"{out}/", "-q"]
    if failure is KeyboardInterrupt:
        assert main(args) == 130
    elif failure is OSError:
        assert main(args) == 2
    else:
        with pytest.raises(failure):
            main(args)
    assert _files(out) == ["axis1.npy"]
    assert (out / "axis1.npy").read_bytes() == b"an earlier result"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_mid_way_removes_the_temporaries(tmp_path: Path) -> None:
    """A command stopped by SIGTERM while it writes exits with status 143 and leaves no
    file in the target directory."""
    rows = np.zeros((20_000, 64), dtype=np.float32)  # windows of two rows: 10,000 of them
    path = _saved(tmp_path / "f.npy", rows)
    out = tmp_path / "grads"
    out.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "ndgradient", "compute", str(path), "-o", f"{out}/", "-q"],
        env={**os.environ, "NDGRADIENT_WINDOW_BYTES": "1"},
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.iterdir()) and child.poll() is None:
            assert time.monotonic() < deadline, "no temporary file appeared"
            time.sleep(0.005)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        child.kill()
        child.wait()
        assert child.stderr is not None
        child.stderr.close()
        path.unlink()
    assert _files(out) == []


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_as_a_temporary_is_made_waits_until_it_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGTERM sent to the process just after a temporary file is made, which a thread
    other than the main one may take, waits until the file is recorded for removal: the
    command exits with status 143, leaves no file, and puts SIGTERM's handler back."""
    path = _saved(tmp_path / "f.npy", _data("float32", "C"))
    out = tmp_path / "grads"
    out.mkdir()
    new_file = _bigfile._new_file

    def signalled(directory: Path, prefix: str, suffix: str) -> Path:
        made = new_file(directory, prefix, suffix)
        os.kill(os.getpid(), signal.SIGTERM)  # to the process, as `kill` sends it
        time.sleep(0.05)  # time for whichever thread takes it to flag it
        return made

    monkeypatch.setattr(_bigfile, "_new_file", signalled)
    idle = threading.Event()
    other = threading.Thread(target=idle.wait)  # a thread that does not block signals
    other.start()
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stopped:
            main(["compute", str(path), "-o", f"{out}/", "-q"])
    finally:
        idle.set()
        other.join()
    assert stopped.value.code == 128 + signal.SIGTERM
    assert _files(out) == []
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_a_second_signal_does_not_cut_the_removal_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGTERM while the temporaries are removed after Ctrl-C stopped the command does not
    stop the removal: no file is left, and the status is Ctrl-C's."""
    data = _data("float32", "C")
    path = _saved(tmp_path / "f.npy", data)
    out = tmp_path / "grads"
    out.mkdir()
    _layers(monkeypatch, data, 3)

    def interrupted(self: Any, *args: Any) -> None:
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(_windows.Windows, "fill", interrupted)
    unlink = Path.unlink

    def terminated(self: Path, missing_ok: bool = False) -> None:
        signal.raise_signal(signal.SIGTERM)
        unlink(self, missing_ok=missing_ok)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "unlink", terminated)
        assert main(["compute", str(path), "-o", f"{out}/", "-q"]) == 130
    assert _files(out) == []


# SIGTERM sent to the command's process as the core loads NumPy's C API, on its first call:
# rust-numpy then runs NumPy's version check, in Python.
_SIGTERM_AS_THE_CORE_LOADS = """
import os, signal, sys
import numpy.lib._version as version
from ndgradient._cli import main
check = version.NumpyVersion.__init__
def signalled(self, vstring):
    print("sent", file=sys.stderr)
    os.kill(os.getpid(), signal.SIGTERM)
    check(self, vstring)
version.NumpyVersion.__init__ = signalled
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_as_the_core_loads_is_not_a_panic(tmp_path: Path) -> None:
    """A SIGTERM while the core loads NumPy's C API (Python code it runs, where an exception
    is a panic) waits until it is loaded: the command exits with status 143, no file made."""
    path = _saved(tmp_path / "f.npy", np.zeros((20_000, 64), dtype=np.float32))
    out = tmp_path / "grads"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_AS_THE_CORE_LOADS, "compute", str(path), "-o",
         f"{out}/", "-q"],
        env={**os.environ, "NDGRADIENT_WINDOW_BYTES": "1"},
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    if "sent" not in done.stderr:
        pytest.skip("the core loads NumPy's C API without NumPy's version check")
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert "panicked" not in done.stderr
    assert _files(out) == []


def test_unwritable_targets_are_clear_errors(tmp_path: Path, capsys: Any) -> None:
    """An output directory that cannot be made or written to is a one-line error, and
    nothing is left behind."""
    path = _saved(tmp_path / "f.npy", _data("float64", "C"))
    blocker = tmp_path / "plain-file"
    blocker.write_text("")
    assert main(["compute", str(path), "-o", f"{blocker}/grads/"]) == 2
    assert "cannot write to" in capsys.readouterr().err
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        if os.access(read_only, os.W_OK):  # root writes anywhere: make the error instead
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(_bigfile, "_new_file", _refuse)
                assert main(["compute", str(path), "-o", f"{read_only}/"]) == 2
        else:  # pragma: no cover - runs as a normal user
            assert main(["compute", str(path), "-o", f"{read_only}/"]) == 2
    finally:
        read_only.chmod(0o700)
    err = capsys.readouterr().err
    assert f"cannot write to '{read_only}': Permission denied" in err
    assert _files(read_only) == []
    assert _files(tmp_path) == ["f.npy", "plain-file", "read-only"]


def _refuse(directory: Path, prefix: str, suffix: str) -> Path:
    raise PermissionError(errno.EACCES, "Permission denied", str(directory))


def test_disk_space_is_said_and_checked_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The command says how much the outputs need and where; too little free space, or a
    disk that fills while space is reserved, is a clear error before any window."""
    data = _data("float64", "C")
    path = _saved(tmp_path / "f.npy", data)
    assert main(["compute", str(path), "-o", f"{tmp_path}/g/"]) == 0
    need = f"writing 3 files, {_bigfile.size_text(3 * data.nbytes)}, to {tmp_path}/g ("
    assert need in capsys.readouterr().out
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=1000))
    assert main(["compute", str(path), "-o", f"{tmp_path}/h/"]) == 2
    err = capsys.readouterr().err
    assert f"the output needs 7.9 kB ({3 * data.nbytes} bytes)" in err
    assert "which has 1.0 kB free" in err
    assert not (tmp_path / "h").exists()
    monkeypatch.undo()

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    (tmp_path / "i").mkdir()
    assert main(["compute", str(path), "-o", f"{tmp_path}/i/", "-q"]) == 2
    assert "no space left for" in capsys.readouterr().err
    assert _files(tmp_path / "i") == []


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_rendering() -> None:
    """Windows done of all, throughput and time left, redrawn over itself at most ten times
    a second and always for the last window, then the line ended."""
    now = [100.0]
    screen = _Terminal()
    bar = _bigfile.Progress(screen, 4, 4_000_000_000, clock=lambda: now[0])
    now[0] = 101.0
    bar.update(1, 1_000_000_000)
    now[0] = 101.05
    bar.update(2, 2_000_000_000)  # too soon: not drawn
    now[0] = 102.0
    bar.update(3, 3_000_000_000)
    now[0] = 102.01
    bar.update(4, 4_000_000_000)  # the last: always drawn
    bar.close()
    assert screen.getvalue() == (
        "\r[######------------------] 1/4 windows  1,000 MB/s  00:03 left"
        "\r[##################------] 3/4 windows  1,500 MB/s  00:01 left"
        "\r[########################] 4/4 windows  1,990 MB/s  00:00 left"
        "\n"
    )
    silent = _bigfile.Progress(None, 2, 10)
    silent.update(2, 10)
    silent.close()


def test_progress_bar_only_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The command draws the bar when standard error is a terminal and ``--quiet`` is not
    given, and never otherwise."""
    data = _data("float64", "C")
    path = _saved(tmp_path / "f.npy", data)
    _layers(monkeypatch, data, 3)
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert main(["compute", str(path), "-o", f"{tmp_path}/a/"]) == 0
    assert f"{LENGTH // 3}/{LENGTH // 3} windows" in screen.getvalue()
    assert "MB/s" in screen.getvalue()
    assert screen.getvalue().endswith(" left\n")
    screen.seek(0)
    screen.truncate()
    assert main(["compute", str(path), "-o", f"{tmp_path}/b/", "-q"]) == 0
    assert screen.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert main(["compute", str(path), "-o", f"{tmp_path}/c/"]) == 0
    assert "windows" not in sys.stderr.getvalue()
    assert "windows" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# Larger than the memory allowed (--runslow)
# ------------------------------------------------------------------------------------------

# The command's address-space limit. The smallest at which it ran here was 288 MiB (Python,
# NumPy, the core's threads and their heaps, one 64 MiB window of input and one of output
# mapped; ``import numpy, ndgradient`` and a small gradient alone need 224 MiB); 640 MiB
# leaves a margin of more than 2x, and the input is about four times that.
ADDRESS_SPACE = 640 << 20
ROWS, COLUMNS = 640 << 10, 1 << 10  # float32: 2.5 GiB
GiB = 1 << 30


def _write_big_input(path: Path, rows: int, columns: int) -> np.ndarray:
    """A float32 ``.npy`` of ``rows x columns``, written in slabs, with values that differ
    all along the rows; returns uneven coordinates along axis 0, uneven in every slice (so
    that NumPy on a slice takes the formula it takes on the whole)."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, columns)}
    slab = 1 << 14
    base = np.sin(np.arange(columns, dtype=np.float32) * 0.1)
    with open(path, "wb") as fp:
        np.lib.format.write_array_header_1_0(fp, header)
        for start in range(0, rows, slab):
            r = np.arange(start, min(start + slab, rows), dtype=np.float32)[:, None]
            fp.write((base * r + (r * r) % 97).astype("<f4").tobytes())
    return np.cumsum(np.random.default_rng(7).uniform(0.5, 1.5, rows))


_MEASURED = """
import resource, subprocess, sys
limit = int(sys.argv[1])
def limited():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
done = subprocess.run(sys.argv[2:], preexec_fn=limited if limit else None,
                      stdout=subprocess.PIPE, stderr=sys.stderr)
sys.stdout.write(done.stdout.decode())
print("maxrss", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
sys.exit(done.returncode)
"""


def _measured(limit: int, command: list[str], stderr: Any = None) -> tuple[int, str]:
    """Runs ``command`` in a child under an ``RLIMIT_AS`` of ``limit`` (0: none), through an
    intermediate process whose only child it is, so that ``RUSAGE_CHILDREN`` is the peak
    resident memory of that command alone. Returns it and the command's output."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(limit), *command],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    return int(lines[-1].split()[1]), "\n".join(lines[:-1])


def _sampled_rows(rows: int, window_rows: int) -> list[int]:
    rng = np.random.default_rng(16)
    edges = [e + d for e in range(0, rows, window_rows) for d in (-2, -1, 0, 1)]
    return sorted(
        {r for r in [0, 1, 2, rows - 3, rows - 2, rows - 1, rows // 3, *edges,
                     *rng.integers(0, rows, 300).tolist()] if 0 <= r < rows}
    )  # fmt: skip


def _check_rows(f: np.ndarray, g: np.ndarray, x: np.ndarray, rows: list[int]) -> None:
    """Each sampled row of the gradient ``g`` along axis 0 is NumPy's value from a slice of
    ``f`` with the rows its stencil reads (and, at the edges, as many as the whole has)."""
    n = f.shape[0]
    for r in rows:
        # Row r and its neighbours, and at the edges the three rows the one-sided stencil
        # reads: r's value in the slice is its value in the whole.
        lo, hi = max(0, r - 3), min(n, r + 4)
        expected = reference(np.asarray(f[lo:hi]), x[lo:hi], axis=0, edge_order=2)
        assert g[r].tobytes() == expected[r - lo].tobytes(), r


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS (Linux)")
def test_command_line_on_a_file_four_times_the_memory_it_may_use(tmp_path: Path) -> None:
    """``ndgradient compute`` under a 640 MiB address-space limit computes the gradient along
    axis 0 (uneven coordinates, second-order edges) of a 2.5 GiB float32 file, with its
    progress bar on a pseudo-terminal; sampled rows (the edges, around every window
    boundary, random) are NumPy's bits; the command's peak RSS is a small part of the file.
    The files are deleted at the end."""
    path = tmp_path / "big.npy"
    out = tmp_path / "grads"
    try:
        _command_under_a_limit(tmp_path, path, out)
    finally:
        path.unlink(missing_ok=True)
        (out / "axis0.npy").unlink(missing_ok=True)


def _command_under_a_limit(tmp_path: Path, path: Path, out: Path) -> None:
    import pty

    x = _write_big_input(path, ROWS, COLUMNS)
    np.save(tmp_path / "x.npy", x)
    coordinates = ["--coords", str(tmp_path / "x.npy"), "--edge-order", "2"]
    command = [sys.executable, "-m", "ndgradient", "compute", str(path), "--axis", "0"]
    command += [*coordinates, "-o", f"{out}/"]
    # The progress bar draws on a terminal only: standard error is a pseudo-terminal, read
    # in a thread so that the command never waits on it.
    controller, terminal = pty.openpty()
    screen: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(controller, screen), daemon=True)
    reader.start()
    try:
        peak, said = _measured(ADDRESS_SPACE, command, stderr=terminal)
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    assert path.stat().st_size > 3.9 * ADDRESS_SPACE
    assert f"writing 1 file, {_bigfile.size_text(ROWS * COLUMNS * 4)}" in said
    shown = b"".join(screen).decode()
    window_rows = _windows.WINDOW_BYTES // (COLUMNS * 4)
    assert f"{ROWS // window_rows}/{ROWS // window_rows} windows" in shown, shown[-300:]
    assert peak < ADDRESS_SPACE // 2, peak  # measured: about 160 MiB
    assert peak < path.stat().st_size // 8
    f = np.load(path, mmap_mode="r")
    g = np.load(out / "axis0.npy", mmap_mode="r")
    assert g.shape == f.shape and g.dtype == np.float32
    _check_rows(f, g, x, _sampled_rows(ROWS, window_rows))
    size = path.stat().st_size / GiB
    print(f"\npeak RSS of the command: {peak / 2**20:.0f} MiB, file {size:.1f} GiB")


def _read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal side closed
            return
        if not chunk:
            return
        into.append(chunk)


_API = """
import sys
import numpy as np, ndgradient
f = np.load(sys.argv[1], mmap_mode="r")
x = np.load(sys.argv[2])
out = np.lib.format.open_memmap(sys.argv[3], mode="w+", dtype=f.dtype, shape=f.shape)
assert ndgradient.gradient(f, x, axis=0, edge_order=2, out=out) is out
out.flush()
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise, RUSAGE (Linux)")
def test_api_on_memory_mapped_files_keeps_resident_memory_bounded(tmp_path: Path) -> None:
    """``ndgradient.gradient(np.load(path, mmap_mode="r"), out=open_memmap(...))`` on a
    1.5 GiB file: the child's peak RSS is a small part of the file, and sampled rows are
    NumPy's bits. The files are deleted at the end."""
    path, target = tmp_path / "big.npy", tmp_path / "g.npy"
    try:
        _api_on_files(tmp_path, path, target)
    finally:
        path.unlink(missing_ok=True)
        target.unlink(missing_ok=True)


def _api_on_files(tmp_path: Path, path: Path, target: Path) -> None:
    rows = 384 << 10  # float32: 1.5 GiB
    x = _write_big_input(path, rows, COLUMNS)
    np.save(tmp_path / "x.npy", x)
    peak, _ = _measured(0, [sys.executable, "-c", _API, str(path), str(tmp_path / "x.npy"),
                            str(target)])  # fmt: skip
    size = path.stat().st_size
    assert peak < size // 6, peak  # measured: about 160 MiB
    f = np.load(path, mmap_mode="r")
    g = np.load(target, mmap_mode="r")
    _check_rows(f, g, x, _sampled_rows(rows, _windows.WINDOW_BYTES // (COLUMNS * 4)))
    print(f"\npeak RSS of the call: {peak / 2**20:.0f} MiB, file {size / GiB:.1f} GiB")
