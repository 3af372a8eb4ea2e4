"""``ndgradient bench``: the benchmark harness of a source checkout, or a short comparison.

The harness (``benches/compare.py``: the full workload matrix, peers, memory bandwidth, chart)
is not part of the wheel. In a source checkout (an editable install) ``ndgradient bench`` runs
it; elsewhere it times a few workloads against `numpy.gradient` with the same timing rules and
says where the harness is. The timing rules live here, once, for both.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from . import _core
from ._core import __version__
from ._patch import gradient
from ._rules import numpy_gradient

__all__ = [
    "add_options",
    "check_identical",
    "check_options",
    "find_harness",
    "interleaved_medians",
    "load_harness",
    "main",
    "quick_comparison",
    "report_header",
    "seconds_text",
]


def add_options(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, for ``ndgradient bench`` and ``benches/compare.py`` alike."""
    parser.add_argument("--repeats", type=int, default=9, help="repeats (default 9)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="shrink every array by this factor (0-1]"
    )
    parser.add_argument("--only", nargs="*", help="run workloads whose name contains")
    parser.add_argument("--json", help="write the full report to this JSON file")
    parser.add_argument("--png", help="write a bar chart (needs matplotlib)")
    parser.add_argument("--no-peers", action="store_true", help="skip torch and jax")
    parser.add_argument(
        "--progress", action="store_true", help="show the progress bar even when not a tty"
    )


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.repeats < 1 or not 0 < args.scale <= 1:
        parser.error("--repeats must be at least 1 and --scale in (0, 1]")


def find_harness() -> Path | None:
    """``benches/compare.py`` of the source tree this package is imported from, if any."""
    package = Path(__file__).resolve().parent
    root = package.parent.parent
    # Only the source layout (root/python/ndgradient), never whatever lies next to a wheel.
    if package != root / "python" / "ndgradient":
        return None
    harness = root / "benches" / "compare.py"
    return harness if harness.is_file() else None


def load_harness(path: Path) -> ModuleType:
    """The harness file as a module (registered, as its dataclasses need)."""
    spec = importlib.util.spec_from_file_location("ndgradient_benchmark_harness", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the benchmark harness {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(args: argparse.Namespace) -> int:
    """``ndgradient bench``: the harness if this is a source checkout, else a short run."""
    harness = find_harness()
    if harness is not None:
        code: int = load_harness(harness).main(args)
        return code
    print(
        "The full benchmark is benches/compare.py in a source checkout of ndgradient (an "
        "editable install runs it as ndgradient bench); here, a few of its workloads.\n"
    )
    report = quick_comparison(args.repeats, args.scale, args.only or ())
    print(_quick_table(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
        print(f"JSON written to {args.json}")
    return 0


# ------------------------------------------------------------------------------------------
# Timing rules, shared with benches/compare.py
# ------------------------------------------------------------------------------------------


def _seconds(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def interleaved_medians(
    contenders: dict[str, Callable[[], Any]],
    repeats: int,
    calls: int = 1,
    step: Callable[[], None] = lambda: None,
) -> dict[str, float]:
    """Median seconds per call of each contender, timed in turn (one of each per repeat, so
    that a slow moment of a shared machine hits them all), after a garbage collection."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, call in contenders.items():
            gc.collect()
            times[name].append(_seconds(call, calls))
        step()
    return {name: statistics.median(ts) for name, ts in times.items()}


def check_identical(name: str, ours: Any, expected: Any) -> None:
    """Raises unless ndgradient's result has NumPy's dtypes, shapes and bits."""
    pairs = zip(ours, expected, strict=True) if isinstance(expected, tuple) else [(ours, expected)]
    for a, b in pairs:
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            raise AssertionError(f"{name}: ndgradient's result differs from numpy.gradient")


def report_header(repeats: int, scale: float) -> dict[str, Any]:
    """What a report says about the run: versions, machine, threads, repeats, scale."""
    return {
        "ndgradient": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {_core.available_cpus()} CPUs",
        "workers": _core.default_workers(),
        "repeats": repeats,
        "scale": scale,
    }


def seconds_text(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e3:.2f} ms"


# ------------------------------------------------------------------------------------------
# The short comparison, for an installed wheel
# ------------------------------------------------------------------------------------------


def _quick_workloads(scale: float) -> dict[str, tuple[Callable[[], tuple[Any, ...]], int]]:
    """name -> (the arguments' builder, calls per sample): rows of the harness's matrix."""
    rng = np.random.default_rng(0)

    def n(count: float) -> int:
        return max(16, int(count * scale))

    def coordinates() -> tuple[Any, ...]:
        x = np.cumsum(np.random.default_rng(1).random(n(1e7))) + 1.0
        return rng.standard_normal(x.size), x

    return {
        "1-D 1e5 float64": (lambda: (rng.standard_normal(n(1e5)),), 20),
        "1-D 1e7 float64": (lambda: (rng.standard_normal(n(1e7)),), 1),
        "coordinates 1-D 1e7": (coordinates, 1),
        "10-element call": (lambda: (rng.standard_normal(10),), 2000),
    }


def quick_comparison(repeats: int, scale: float, only: Sequence[str] = ()) -> dict[str, Any]:
    """A few workloads against `numpy.gradient`: results checked, then medians and ratios."""
    results = []
    for name, (build, calls) in _quick_workloads(scale).items():
        if only and not any(o in name for o in only):
            continue
        args = build()
        check_identical(name, gradient(*args), numpy_gradient(*args))
        median = interleaved_medians(
            {
                "numpy": functools.partial(numpy_gradient, *args),
                "ndgradient": functools.partial(gradient, *args),
            },
            repeats,
            calls,
        )
        results.append(
            {
                "name": name,
                "numpy_s": median["numpy"],
                "ndgradient_s": median["ndgradient"],
                "speedup": median["numpy"] / median["ndgradient"],
            }
        )
    return {**report_header(repeats, scale), "results": results}


def _quick_table(report: dict[str, Any]) -> str:
    lines = ["| workload | numpy | ndgradient | speed-up |", "|---|---|---|---|"]
    for r in report["results"]:
        numpy_s, ours_s = seconds_text(r["numpy_s"]), seconds_text(r["ndgradient_s"])
        lines.append(f"| {r['name']} | {numpy_s} | {ours_s} | {r['speedup']:.2f}x |")
    lines.append(
        f"\nNumPy {report['numpy']}, {report['machine']}, {report['workers']} workers, "
        f"medians of {report['repeats']} interleaved repeats."
    )
    return "\n".join(lines)
