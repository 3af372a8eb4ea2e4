"""The benchmark harness runs as a plain test at a tiny scale (timings are not asserted)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import ndgradient
import numpy as np
import pytest
from ndgradient import _memory
from ndgradient._bench import SETTINGS, load_harness

# benches/compare.py is not part of the package (nor of the wheel).
_bench = load_harness(Path(__file__).resolve().parents[1] / "benches" / "compare.py")


def _settings_are_complete(result: dict[str, Any]) -> None:
    settings = result["settings"]
    assert list(settings) == list(SETTINGS) == ["cold", "loop", "out"]
    for figures in settings.values():
        assert figures["numpy_s"] > 0 and figures["ndgradient_s"] > 0
        assert figures["speedup"] == pytest.approx(figures["numpy_s"] / figures["ndgradient_s"])
    # NumPy has no out=: that setting is compared with NumPy's loop.
    assert settings["out"]["numpy_s"] == settings["loop"]["numpy_s"]
    # The flat figures are the loop's, the headline.
    assert result["ndgradient_s"] == settings["loop"]["ndgradient_s"]


def test_harness_checks_and_reports_every_workload() -> None:
    report = _bench.run(repeats=1, scale=0.0005, peers=False, progress=False)
    names = [r["name"] for r in report["results"]]
    # 15 drop-in rows and 3 with ndgradient's stencil options (out= is a setting of each).
    assert len(names) == len(_bench.workloads()) == 18
    for result in report["results"]:
        assert result["numpy_s"] > 0 and result["ndgradient_s"] > 0
        assert result["speedup"] == pytest.approx(result["numpy_s"] / result["ndgradient_s"])
        assert result["bytes_moved"] > 0
        _settings_are_complete(result)
        assert all(f["c_reference_s"] is None for f in result["settings"].values())
    assert report["memory_bandwidth_gb_s"] > 0
    assert report["c_reference"] is None
    assert report["geometric_mean_speedup"] == report["geometric_mean_speedups"]["loop"]
    table = _bench.format_table(report)
    assert "| workload |" in table and "ndgradient out=" in table and "C cold" not in table


_C_REFERENCE = _bench.CReference.find(None)


@pytest.mark.skipif(
    _C_REFERENCE.unavailable is not None, reason=f"no C reference: {_C_REFERENCE.unavailable}"
)
def test_c_reference_column_where_it_has_kernels() -> None:
    only = ["1-D 1e3", "1-D 1e7", "axis 1", "3-D", "coordinates", "edge_order=2", "int64"]
    report = _bench.run(
        repeats=1, scale=0.0005, peers=False, progress=False, only=only,
        c_reference=_C_REFERENCE,
    )  # fmt: skip
    covered = {r["name"]: r["settings"]["loop"]["c_reference_s"] is not None
               for r in report["results"]}  # fmt: skip
    assert list(covered.values()) == [False, True, True, True, True, False, False], covered
    for result in report["results"]:
        assert result["c_reference_note"] is None
        timed = [f["c_reference_s"] for f in result["settings"].values()]
        assert all(t is None for t in timed) or all(t > 0 for t in timed)
    described = report["c_reference"]
    assert described["available"] and described["threads"] > 0
    assert set(described["ndgradient_over_c_reference"]) == set(SETTINGS)
    table = _bench.format_table(report)
    assert "| C cold | C loop | C out= |" in table and "fused C reference" in table


def test_c_reference_kernels_are_bit_exact_or_absent() -> None:
    if _C_REFERENCE.unavailable is not None:
        pytest.skip(f"no C reference: {_C_REFERENCE.unavailable}")
    f = np.random.default_rng(3).standard_normal((9, 11))
    fill = _C_REFERENCE.kernel((f,), {"axis": 0})
    assert fill is not None
    assert fill().tobytes() == np.gradient(f, axis=0).tobytes()
    with pytest.raises(ValueError, match="C-contiguous"):
        fill(np.empty((11, 9)).T)  # a buffer it would write past or across
    assert _C_REFERENCE.kernel((f,), {"edge_order": 2}) is None
    assert _C_REFERENCE.kernel((np.asfortranarray(f),), {}) is None
    assert _C_REFERENCE.kernel((f.astype(np.int64),), {}) is None


def test_a_missing_c_reference_leaves_its_column_empty(tmp_path: Path) -> None:
    missing = _bench.CReference.find(str(tmp_path / "nowhere"))
    assert missing.unavailable is not None and missing.kernel((np.ones(5),), {}) is None
    report = _bench.run(
        repeats=1, scale=0.0005, peers=False, progress=False, only=["1-D 1e7"],
        c_reference=missing,
    )  # fmt: skip
    assert report["results"][0]["settings"]["cold"]["c_reference_s"] is None
    assert "C reference not available" in _bench.format_table(report)


def test_bench_command_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "ndgradient", "bench", "--scale", "0.0005", "--repeats", "1",
         "--no-peers", "--only", "10-element", "coordinates", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["results"]] == ["coordinates 1-D 1e7", "10-element call"]


def test_bench_outside_a_source_checkout_times_a_few_workloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed wheel has no benches/: ndgradient bench then times some of the matrix.
    from ndgradient import _bench as entry
    from ndgradient._cli import main

    monkeypatch.setattr(entry, "find_harness", lambda: None)
    out = tmp_path / "quick.json"
    argv = ["bench", "--scale", "0.0005", "--repeats", "1", "--only", "10-element",
            "coordinates", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "benches/compare.py" in printed and "ndgradient out=" in printed
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["results"]] == ["coordinates 1-D 1e7", "10-element call"]
    matrix = [w.name for w in _bench.workloads()]
    assert all(r["name"] in matrix and r["speedup"] > 0 for r in report["results"])
    for result in report["results"]:
        _settings_are_complete(result)


class _FakePool:
    """A stand-in for an output pool's public face, to test the lookups without one."""

    def __init__(self, stats: bool) -> None:
        self.held, self.released = 3 << 20, 0
        if stats:
            self.memory_info = lambda: {"pooled_bytes": self.held, "cap_bytes": 1 << 30}

    def release_memory(self) -> int:
        returned, self.held = self.held, 0
        self.released += returned
        return returned


@pytest.mark.parametrize("stats", [True, False])
def test_pool_lookups_with_and_without_a_pool(
    monkeypatch: pytest.MonkeyPatch, stats: bool
) -> None:
    if not hasattr(ndgradient, "release_memory"):
        assert _memory.pool_held_bytes() == 0 and _memory.release_pool() is None
    pool = _FakePool(stats)
    monkeypatch.setattr(ndgradient, "release_memory", pool.release_memory, raising=False)
    if stats:
        monkeypatch.setattr(ndgradient, "memory_info", pool.memory_info, raising=False)
        assert _memory.pool_held_bytes() == 3 << 20
    elif not hasattr(ndgradient._core, "pool_stats"):
        assert _memory.pool_held_bytes() is None  # a pool that reports nothing: "n/a"
    assert _memory.fresh_memory() in ("malloc_trim", "gc")
    assert pool.released == 3 << 20 and pool.held == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_memory_probe_reports_the_pool_and_what_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_memory.CASES, "tiny", ("f = rng.standard_normal((300, 300)); args = ()",
                                                2.0))  # fmt: skip
    ours = _memory.measure("tiny", "ndgradient")
    assert ours["input"] == 300 * 300 * 8 and ours["ratio"] == ours["growth"] / ours["input"]
    assert ours["kept_ratio"] == ours["kept"] / ours["input"]
    for held in (ours["pool_after_call"], ours["pool_after_del"]):
        assert held is None or held >= 0
