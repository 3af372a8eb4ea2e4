"""The benchmark harness runs as a plain test at a tiny scale (timings are not asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ndgradient._bench import load_harness

# benches/compare.py is not part of the package (nor of the wheel).
_bench = load_harness(Path(__file__).resolve().parents[1] / "benches" / "compare.py")


def test_harness_checks_and_reports_every_workload() -> None:
    report = _bench.run(repeats=1, scale=0.0005, peers=False, progress=False)
    names = [r["name"] for r in report["results"]]
    assert len(names) == len(_bench.workloads()) == 19
    for result in report["results"]:
        assert result["numpy_s"] > 0 and result["ndgradient_s"] > 0
        assert result["speedup"] == pytest.approx(result["numpy_s"] / result["ndgradient_s"])
        assert result["bytes_moved"] > 0
    assert report["memory_bandwidth_gb_s"] > 0
    assert "| workload |" in _bench.format_table(report)


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
    assert "benches/compare.py" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert [r["name"] for r in report["results"]] == ["coordinates 1-D 1e7", "10-element call"]
    matrix = [w.name for w in _bench.workloads()]
    assert all(r["name"] in matrix and r["speedup"] > 0 for r in report["results"])
