"""The command line: compute (array files in, array files out), info, and their errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _oracle import assert_identical, reference
from ndgradient._cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ndgradient", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def field(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(0).standard_normal((6, 7, 5)).astype(np.float32)
    path = tmp_path / "field.npy"
    np.save(path, data)
    return path, data


def test_compute_all_axes_writes_one_array_per_axis(
    field: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, data = field
    out = tmp_path / "grad.npz"
    assert main(["compute", str(path), "-o", str(out), "-q"]) == 0
    with np.load(out) as saved:
        assert saved.files == ["axis0", "axis1", "axis2"]
        for got, expected in zip(
            (saved["axis0"], saved["axis1"], saved["axis2"]), reference(data), strict=True
        ):
            assert_identical(got, expected)


def test_compute_with_spacing_axis_and_edge_order(
    field: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, data = field
    out = tmp_path / "grad.npz"
    args = ["compute", str(path), "--axis", "-1", "0", "--spacing", "0.5", "2"]
    assert main([*args, "--edge-order", "2", "-o", str(out), "--compress", "-q"]) == 0
    expected = reference(data, 0.5, 2.0, axis=(-1, 0), edge_order=2)
    with np.load(out) as saved:
        assert saved.files == ["axis2", "axis0"]
        assert_identical(saved["axis2"], expected[0])
        assert_identical(saved["axis0"], expected[1])


def test_compute_with_coordinate_files_and_numbers(
    field: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, data = field
    x = np.cumsum(np.random.default_rng(1).random(7))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "g.npy"
    coords = ["--coords", str(tmp_path / "x.npy")]
    assert main(["compute", str(path), "--axis", "1", *coords, "-o", str(out), "-q"]) == 0
    assert_identical(np.load(out), reference(data, x, axis=1))
    out2 = tmp_path / "g2.npz"
    assert main(["compute", str(path), "--coords", "0.25", str(tmp_path / "x.npy"), "3",
                 "-o", str(out2), "-q"]) == 0  # fmt: skip
    with np.load(out2) as saved:
        for got, expected in zip(saved.values(), reference(data, 0.25, x, 3.0), strict=True):
            assert_identical(got, expected)


def test_compute_reads_npz_inputs_by_key(tmp_path: Path) -> None:
    a, b = np.arange(10.0) ** 2, np.arange(5, dtype=np.int16)
    np.savez(tmp_path / "in.npz", a=a, b=b)
    np.savez(tmp_path / "one.npz", only=b)
    assert main(["compute", str(tmp_path / "in.npz"), "--key", "a", "-o",
                 str(tmp_path / "o.npy"), "-q"]) == 0  # fmt: skip
    assert_identical(np.load(tmp_path / "o.npy"), reference(a))
    assert main(["compute", str(tmp_path / "one.npz"), "-o", str(tmp_path / "p.npy"), "-q"]) == 0
    assert_identical(np.load(tmp_path / "p.npy"), reference(b))


def test_compute_prints_what_it_wrote(field: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = field
    done = run_cli("compute", str(path), "--axis", "1", "-o", str(tmp_path / "g.npz"))
    assert done.returncode == 0, done.stderr
    assert "axis 1: shape (6, 7, 5), dtype float32" in done.stdout
    assert "written to" in done.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--axis", "3"], "axis 3 is out of bounds"),
        (["--spacing", "1", "2"], "invalid number of arguments"),
        (["--coords", "1", "2", "3", "4"], "invalid number of arguments"),
        (["--spacing", "1", "--coords", "1"], "not both"),
        (["--axis", "0", "0"], "repeated axis"),
    ],
)
def test_compute_errors_that_do_not_fit_the_shape(
    field: tuple[Path, np.ndarray], tmp_path: Path, extra: list[str], message: str
) -> None:
    path, _ = field
    out = tmp_path / "never.npz"
    done = run_cli("compute", str(path), *extra, "-o", str(out))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_compute_errors_for_files(tmp_path: Path, field: tuple[Path, np.ndarray]) -> None:
    path, _ = field
    out = str(tmp_path / "never.npz")
    cases = {
        "no such file": ["compute", str(tmp_path / "missing.npy"), "-o", out],
        "is not a NumPy": ["compute", str(_write(tmp_path / "bad.npy", b"not an array")), "-o",
                           out],
        "choose one with --key": ["compute", str(_npz(tmp_path)), "-o", out],
        "cannot be read": ["compute", str(_object_npz(tmp_path)), "-o", out],
        "coordinates must be 1-D": ["compute", str(path), "--axis", "0", "--coords",
                                    str(_npy(tmp_path / "c2.npy", np.ones((6, 2)))), "-o", out],
        "distances must match the length": ["compute", str(path), "--axis", "0", "--coords",
                                      str(_npy(tmp_path / "c3.npy", np.arange(4.0))), "-o", out],
        "need an .npz output": ["compute", str(path), "-o", str(tmp_path / "x.npy")],
        "must end in .npz": ["compute", str(path), "-o", str(tmp_path / "x.txt")],
        "too small to calculate": ["compute", str(_npy(tmp_path / "short.npy", np.ones(2))),
                       "--edge-order", "2", "-o", out],
    }  # fmt: skip
    for message, args in cases.items():
        done = run_cli(*args)
        assert done.returncode == 2, (message, done.stdout, done.stderr)
        assert message in done.stderr, (message, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "never.npz").exists()


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def _npz(tmp_path: Path) -> Path:
    np.savez(tmp_path / "two.npz", a=np.ones(3), b=np.ones(4))
    return tmp_path / "two.npz"


def _object_npz(tmp_path: Path) -> Path:
    np.savez(tmp_path / "obj.npz", a=np.array([1, "x"], dtype=object))
    return tmp_path / "obj.npz"


def test_bool_input_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli("compute", str(_npy(tmp_path / "b.npy", np.ones(4, bool))), "-o",
                   str(tmp_path / "o.npz"))  # fmt: skip
    assert done.returncode == 2
    assert "boolean" in done.stderr


def test_info_reports_build_threads_and_numpy() -> None:
    done = run_cli("info")
    assert done.returncode == 0, done.stderr
    import ndgradient

    for expected in (ndgradient.__version__, "build profile", "release", "CPUs available",
                     np.__version__):  # fmt: skip
        assert expected in done.stdout


@pytest.mark.parametrize("command", [[], ["demo"], ["compute"], ["info"], ["bench"]])
def test_help_for_every_command(command: list[str]) -> None:
    done = run_cli(*command, "--help")
    assert done.returncode == 0
    assert "usage: ndgradient" in done.stdout
