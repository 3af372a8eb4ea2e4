"""``ndgradient bench``: the benchmark harness of a source checkout, or a short comparison.

The harness (``benches/compare.py``: the full workload matrix, peers, memory bandwidth, the C
reference column, chart) is not part of the wheel. In a source checkout (an editable install)
``ndgradient bench`` runs it; elsewhere it times a few workloads against `numpy.gradient` with
the same timing rules and says where the harness is. The timing rules live here, once, for
both: the three settings every workload is timed in (`SETTINGS`), interleaved repeats,
medians, and the bit check that comes first.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from . import _core
from ._core import __version__
from ._memory import POOL_BYTES_VARIABLE, fresh_memory
from ._patch import gradient
from ._rules import numpy_gradient

__all__ = [
    "SETTINGS",
    "add_options",
    "check_identical",
    "check_options",
    "cold_sample",
    "find_harness",
    "geometric_mean",
    "interleaved_medians",
    "load_harness",
    "load_module",
    "loop_sample",
    "main",
    "outputs_like",
    "quick_comparison",
    "report_header",
    "seconds_text",
    "setting_calls",
    "settings_cells",
    "settings_figures",
    "settings_head",
    "settings_medians",
]

# The settings every workload is timed in, and what each means (the report carries this text).
SETTINGS: dict[str, str] = {
    "cold": "the first call on fresh memory: garbage collected, ndgradient's output pool "
    "released if it has one, free heap pages returned to the OS (glibc malloc_trim), so the "
    "outputs are new pages; one call timed, its result dropped after the clock stops",
    "loop": "the steady state of a loop that drops its results (what an output pool serves): "
    "one untimed call, then calls whose results are dropped at once, freeing included",
    "out": "ndgradient with out= into outputs allocated and faulted once, and reused; NumPy "
    "has no out=, so its speed-up is against NumPy's loop figure of the same run",
}


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
    parser.add_argument(
        "--c-reference",
        metavar="DIR",
        help="the fused C reference's directory (reference.py, gradk.c) for a C column; "
        "default $NDGRADIENT_C_REFERENCE, else ../shared/perf beside the source checkout "
        "(harness only; not part of ndgradient)",
    )
    parser.add_argument(
        "--no-c-reference", action="store_true", help="no C reference column even if present"
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
    """The harness file as a module."""
    return load_module(path, "ndgradient_benchmark_harness")


def load_module(path: Path, name: str) -> ModuleType:
    """A Python file outside the package as a module named ``name`` (registered in
    `sys.modules`, as dataclasses defined in it need)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
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
    if getattr(args, "c_reference", None):
        print("The C reference column needs the harness: --c-reference is ignored here.\n")
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

# One timed sample: it runs the call in its setting and returns seconds per call.
Sample = Callable[[], float]
Key = TypeVar("Key", bound=Hashable)


def cold_sample(call: Callable[[], Any]) -> Sample:
    """One call on fresh memory (see `SETTINGS`), its result dropped after the clock stops."""

    def sample() -> float:
        fresh_memory()
        start = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - start
        del result  # freeing belongs to the caller's next step, not to the first call
        return elapsed

    return sample


def loop_sample(call: Callable[[], Any], calls: int) -> Sample:
    """``calls`` calls in a row, each result dropped at once, after one untimed call.

    The untimed call makes each sample a steady state whatever ran before it: a cold sample
    of another contender may just have emptied an output pool, and with one call per sample
    (the large workloads) the timed call would otherwise be a cold one.
    """

    def sample() -> float:
        call()
        start = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - start) / calls

    return sample


def interleaved_medians(
    samples: Mapping[Key, Sample], repeats: int, step: Callable[[], None] = lambda: None
) -> dict[Key, float]:
    """Median seconds per call of each sample, taken in turn (one of each per repeat, so
    that a slow moment of a shared machine hits them all), each after a garbage collection."""
    times: dict[Key, list[float]] = {key: [] for key in samples}
    for _ in range(repeats):
        for key, sample in samples.items():
            gc.collect()
            times[key].append(sample())
        step()
    return {key: statistics.median(ts) for key, ts in times.items()}


def setting_calls(
    numpy_call: Callable[[], Any],
    ndgradient_call: Callable[[], Any],
    ndgradient_out_call: Callable[[], Any],
    c_fresh: Callable[[], Any] | None = None,
    c_reused: Callable[[], Any] | None = None,
) -> dict[str, dict[str, Callable[[], Any]]]:
    """Who is timed in which setting: setting -> contender -> call.

    NumPy and the C reference's fresh outputs run cold and in the loop; ndgradient's ``out=``
    call and the C reference into reused outputs run in the ``out`` setting.
    """
    fresh = {"numpy": numpy_call, "ndgradient": ndgradient_call}
    if c_fresh is not None:
        fresh["c_reference"] = c_fresh
    reused = {"ndgradient": ndgradient_out_call}
    if c_reused is not None:
        reused["c_reference"] = c_reused
    return {"cold": dict(fresh), "loop": dict(fresh), "out": reused}


def settings_medians(
    calls: Mapping[str, Mapping[str, Callable[[], Any]]],
    repeats: int,
    calls_per_sample: int,
    step: Callable[[], None] = lambda: None,
) -> dict[str, dict[str, float]]:
    """Medians per setting and contender, every setting's samples interleaved in each repeat.

    Parameters
    ----------
    calls : mapping
        setting -> contender -> call, as `setting_calls` makes it.
    repeats : int
        Samples of each (setting, contender).
    calls_per_sample : int
        Calls timed in a row in the loop and ``out`` settings; a cold sample is one call.
    step : callable, optional
        Called after each repeat (a progress bar).

    Returns
    -------
    dict
        setting -> contender -> median seconds per call.
    """
    samples: dict[tuple[str, str], Sample] = {
        (setting, contender): cold_sample(call)
        if setting == "cold"
        else loop_sample(call, calls_per_sample)
        for setting, contenders in calls.items()
        for contender, call in contenders.items()
    }
    medians = interleaved_medians(samples, repeats, step)
    nested: dict[str, dict[str, float]] = {setting: {} for setting in calls}
    for (setting, contender), seconds in medians.items():
        nested[setting][contender] = seconds
    return nested


def settings_figures(medians: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """Seconds and speed-ups against NumPy in the same run, per setting.

    Each setting's NumPy figure is NumPy's own in that setting; for ``out``, which NumPy does
    not have, it is NumPy's loop figure. Contenders not timed in a setting (the C reference
    without a kernel for the workload) have None for their seconds and speed-up.
    """
    figures: dict[str, dict[str, Any]] = {}
    for setting, by_contender in medians.items():
        numpy_s = by_contender.get("numpy", medians["loop"]["numpy"])
        ours = by_contender["ndgradient"]
        c_reference = by_contender.get("c_reference")
        figures[setting] = {
            "numpy_s": numpy_s,
            "ndgradient_s": ours,
            "speedup": numpy_s / ours,
            "c_reference_s": c_reference,
            "c_reference_speedup": None if c_reference is None else numpy_s / c_reference,
        }
    return figures


def geometric_mean(values: Iterable[float]) -> float:
    """The geometric mean, NaN for no values."""
    logs = [math.log(v) for v in values]
    return math.exp(statistics.fmean(logs)) if logs else float("nan")


def settings_head(with_c_reference: bool) -> list[str]:
    """Table headers of `settings_cells`."""
    head = ["numpy cold", "ndgradient cold", "numpy loop", "ndgradient loop", "ndgradient out="]
    return [*head, "C cold", "C loop", "C out="] if with_c_reference else head


def settings_cells(figures: Mapping[str, Mapping[str, Any]], with_c_reference: bool) -> list[str]:
    """Table cells of one row's `settings_figures`: times, with speed-ups over NumPy."""

    def timed(seconds: float | None, speedup: float | None) -> str:
        if seconds is None or speedup is None:
            return "-"
        return f"{seconds_text(seconds)} ({speedup:.2f}x)"

    cold, loop, out = figures["cold"], figures["loop"], figures["out"]
    cells = [
        seconds_text(cold["numpy_s"]),
        timed(cold["ndgradient_s"], cold["speedup"]),
        seconds_text(loop["numpy_s"]),
        timed(loop["ndgradient_s"], loop["speedup"]),
        timed(out["ndgradient_s"], out["speedup"]),
    ]
    if with_c_reference:
        cells += [
            timed(figures[setting]["c_reference_s"], figures[setting]["c_reference_speedup"])
            for setting in SETTINGS
        ]
    return cells


def check_identical(name: str, ours: Any, expected: Any) -> None:
    """Raises unless a result has NumPy's dtypes, shapes and bits."""
    pairs = zip(ours, expected, strict=True) if isinstance(expected, tuple) else [(ours, expected)]
    for a, b in pairs:
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            raise AssertionError(f"{name}: dtypes, shapes or bits differ from the expected result")


def outputs_like(result: Any) -> Any:
    """New arrays shaped, typed and laid out like ``result`` (an array or a tuple), for
    ``out=``; the first call into them faults them, before anything is timed."""
    if isinstance(result, tuple):
        return tuple(np.empty_like(r) for r in result)
    return np.empty_like(result)


def report_header(repeats: int, scale: float) -> dict[str, Any]:
    """What a report says about the run: versions, machine, threads, repeats, scale, the
    settings, and the memory state a cold call starts from."""
    import ndgradient

    return {
        "ndgradient": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {_core.available_cpus()} CPUs",
        "workers": _core.default_workers(),
        "repeats": repeats,
        "scale": scale,
        "settings": SETTINGS,
        "cold_memory": fresh_memory(),
        "output_pool": {
            "release_memory": hasattr(ndgradient, "release_memory"),
            POOL_BYTES_VARIABLE: os.environ.get(POOL_BYTES_VARIABLE),
        },
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
    """A few workloads against `numpy.gradient` in the three settings: results checked
    first, then medians and ratios."""
    header = report_header(repeats, scale)
    results = []
    for name, (build, calls) in _quick_workloads(scale).items():
        if only and not any(o in name for o in only):
            continue
        args = build()
        expected = numpy_gradient(*args)
        ours = gradient(*args)
        check_identical(name, ours, expected)
        out = outputs_like(ours)
        check_identical(f"{name}, out=", gradient(*args, out=out), expected)
        del expected, ours
        medians = settings_medians(
            setting_calls(
                functools.partial(numpy_gradient, *args),
                functools.partial(gradient, *args),
                functools.partial(gradient, *args, out=out),
            ),
            repeats,
            calls,
        )
        figures = settings_figures(medians)
        loop = figures["loop"]
        results.append(
            {
                "name": name,
                "numpy_s": loop["numpy_s"],
                "ndgradient_s": loop["ndgradient_s"],
                "speedup": loop["speedup"],
                "settings": figures,
            }
        )
    return {**header, "results": results}


def _quick_table(report: dict[str, Any]) -> str:
    head = ["workload", *settings_head(with_c_reference=False)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["results"]:
        cells = [r["name"], *settings_cells(r["settings"], with_c_reference=False)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"\nSpeed-ups over NumPy in the same run; out= against NumPy's loop (NumPy has no "
        f"out=). NumPy {report['numpy']}, {report['machine']}, {report['workers']} workers, "
        f"medians of {report['repeats']} interleaved repeats."
    )
    return "\n".join(lines)
