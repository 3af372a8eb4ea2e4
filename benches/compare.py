"""Benchmark harness: ndgradient against numpy.gradient (and torch/jax when installed).

    python benches/compare.py --repeats 9 --json benches/results.json --png benches/results.png

``--help`` lists the options; in a source checkout ``ndgradient bench`` runs this file too.

Every workload is timed with interleaved repeats (NumPy, ndgradient, NumPy, ...) in one
process, and reported as medians, the ratio to NumPy, and the fraction of the machine's
memory bandwidth it reaches: the time a copy-bandwidth machine would need to read the input
once and write each output once, over the measured time. The bandwidth is measured in the
same run with a parallel copy between preallocated buffers.

Peers are imported and timed in a second pass, after NumPy and ndgradient: their thread pools
keep spinning between calls (jax's XLA pool, torch's OpenMP threads) and on a small machine
they would slow down everything timed after them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import importlib.util
import itertools
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import ndgradient
import numpy as np
from ndgradient import _core
from ndgradient._bench import (
    add_options,
    check_identical,
    check_options,
    interleaved_medians,
    report_header,
    seconds_text,
)

gradient = ndgradient.gradient
# NumPy's own function, taken before anything could patch it.
numpy_gradient = np.gradient


@dataclass
class Workload:
    """One benchmark case: how to build its arguments and how many bytes it must move."""

    name: str
    build: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    calls_per_sample: int = 1
    # Keywords only ndgradient takes (an ``out=`` buffer, say), made once per workload.
    extensions: Callable[[tuple[Any, ...], Any], dict[str, Any]] | None = None
    # False for extensions that change the values (accuracy=, periodic=): no bit check.
    same_values: bool = True


@dataclass
class Result:
    """Medians in seconds per call, and the derived figures."""

    name: str
    numpy_s: float
    ndgradient_s: float
    speedup: float
    bytes_moved: int
    bandwidth_s: float
    bandwidth_fraction: float
    peers_s: dict[str, float] = field(default_factory=dict)


def _fields(shape: Sequence[int], dtype: Any = np.float64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-1000, 1000, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def workloads(scale: float = 1.0) -> list[Workload]:
    """The fixed workload matrix; ``scale`` < 1 shrinks every array (for smoke tests)."""

    def n(count: float) -> int:
        return max(16, int(count * scale))

    def side(length: float, dims: int) -> int:
        return max(8, int(length * scale ** (1 / dims)))

    s2, s3 = side(4096, 2), side(256, 3)

    def plain(shape: Sequence[int], **kwargs: Any) -> Callable[[], Any]:
        return lambda: ((_fields(shape),), kwargs)

    def coordinates() -> Any:
        count = n(1e7)
        x = np.cumsum(np.random.default_rng(1).random(count)) + 1.0
        return (_fields((count,)), x), {}

    return [
        Workload("1-D 1e3 float64", plain((n(1e3),)), calls_per_sample=200),
        Workload("1-D 1e5 float64", plain((n(1e5),)), calls_per_sample=20),
        Workload("1-D 1e7 float64", plain((n(1e7),))),
        Workload("1-D 1e8 float64", plain((n(1e8),))),
        Workload(f"2-D {s2}^2 both axes", plain((s2, s2))),
        Workload(f"2-D {s2}^2 axis 0", plain((s2, s2), axis=0)),
        Workload(f"2-D {s2}^2 axis 1", plain((s2, s2), axis=1)),
        Workload(f"3-D {s3}^3 all axes", plain((s3, s3, s3))),
        Workload("coordinates 1-D 1e7", coordinates),
        Workload(f"float32 {s2}^2 both axes", lambda: ((_fields((s2, s2), np.float32),), {})),
        Workload(f"edge_order=2 {s2}^2", plain((s2, s2), edge_order=2)),
        Workload(f"int64 {s2}^2 both axes", lambda: ((_fields((s2, s2), np.int64),), {})),
        Workload(
            f"Fortran order {s2}^2 both axes",
            lambda: ((np.asfortranarray(_fields((s2, s2))),), {}),
        ),
        Workload("10-element call", plain((10,)), calls_per_sample=2000),
        # The same two cases with reused outputs: what page faults on fresh memory cost.
        Workload("1-D 1e7 float64, out= reused", plain((n(1e7),)), extensions=_reused_out),
        Workload(f"2-D {s2}^2 both axes, out= reused", plain((s2, s2)), extensions=_reused_out),
        # What the extended stencils cost, against NumPy's accuracy-2 gradient.
        *(
            Workload(
                f"2-D {s2}^2 both axes, {label}",
                plain((s2, s2)),
                extensions=functools.partial(_fixed_options, options),
                same_values=False,
            )
            for label, options in _EXTENDED_OPTIONS
        ),
    ]


_EXTENDED_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("periodic", {"periodic": True}),
    ("accuracy=4", {"accuracy": 4}),
    ("accuracy=8", {"accuracy": 8}),
]


def _fixed_options(
    options: dict[str, Any], args: tuple[Any, ...], expected: Any
) -> dict[str, Any]:
    """The same keywords for every call (the workload's extension options)."""
    return options


def _reused_out(args: tuple[Any, ...], expected: Any) -> dict[str, Any]:
    """An ``out=`` argument shaped like NumPy's result, allocated and touched once."""
    if isinstance(expected, tuple):
        return {"out": tuple(np.empty_like(e) for e in expected)}
    return {"out": np.empty_like(expected)}


def _bytes_moved(args: tuple[Any, ...], result: Any) -> int:
    outputs = result if isinstance(result, tuple) else (result,)
    spacing = sum(a.nbytes for a in args[1:] if isinstance(a, np.ndarray))
    return int(args[0].nbytes + spacing + sum(o.nbytes for o in outputs))


def memory_bandwidth(megabytes: int = 512, repeats: int = 7) -> float:
    """Bytes per second of a copy between preallocated buffers, split over all CPUs."""
    count = megabytes * 2**20 // 8
    source = np.ones(count)
    target = np.zeros(count)
    threads = max(1, _core.available_cpus())
    bounds = np.linspace(0, count, threads + 1).astype(int)
    pieces = [(source[a:b], target[a:b]) for a, b in itertools.pairwise(bounds)]
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:

        def copy_all() -> None:
            list(pool.map(lambda p: np.copyto(p[1], p[0]), pieces))

        copy_all()
        best = min(_seconds(copy_all) for _ in range(repeats))
    return 2 * source.nbytes / best  # each byte read once and written once


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peers_installed() -> bool:
    return any(importlib.util.find_spec(name) is not None for name in ("torch", "jax"))


def _peers() -> dict[str, Callable[..., Any]]:
    """Other gradient implementations that are installed, wrapped to take NumPy arrays."""
    peers: dict[str, Callable[..., Any]] = {}
    try:
        import torch

        def torch_gradient(f: np.ndarray, *varargs: Any, **kwargs: Any) -> Any:
            t = torch.from_numpy(np.ascontiguousarray(f))
            if not t.is_floating_point():
                t = t.to(torch.float64)
            spacing = [torch.from_numpy(v) for v in varargs] if varargs else 1.0
            options: dict[str, Any] = {"edge_order": kwargs.get("edge_order", 1)}
            if "axis" in kwargs:
                options["dim"] = kwargs["axis"]
            return torch.gradient(t, spacing=spacing, **options)

        peers[f"torch {torch.__version__}"] = torch_gradient
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        def jax_gradient(f: np.ndarray, *varargs: Any, **kwargs: Any) -> Any:
            result = jnp.gradient(jnp.asarray(f), *varargs, **kwargs)
            ready: Callable[[Any], Any] = jax.block_until_ready  # untyped in some versions
            return ready(result)

        peers[f"jax {jax.__version__}"] = jax_gradient
    except ImportError:
        pass
    return peers


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled
        self.start = time.perf_counter()

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // self.total
        elapsed = time.perf_counter() - self.start
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {self.done}/{self.total} {elapsed:5.0f}s {label[:40]:<40}")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(
    repeats: int = 9,
    scale: float = 1.0,
    peers: bool = True,
    progress: bool = True,
    only: Sequence[str] = (),
) -> dict[str, Any]:
    """Runs the matrix and returns the report (what ``--json`` writes)."""
    chosen = [w for w in workloads(scale) if not only or any(o in w.name for o in only)]
    # Peers have no out=: they sit out the workloads that use ndgradient's extensions.
    for_peers = [w for w in chosen if w.extensions is None] if peers and _peers_installed() else []
    bar = _Progress((len(chosen) + len(for_peers)) * repeats + 1, progress)
    bandwidth = memory_bandwidth(megabytes=max(16, int(512 * min(1.0, scale))))
    bar.step("memory bandwidth")
    results = [_measure(w, repeats, bandwidth, bar) for w in chosen]
    if for_peers:
        others = _peers()
        for workload, result in zip(chosen, results, strict=True):
            if workload in for_peers:
                result.peers_s = _time_peers(workload, others, repeats, bar)
    # The geometric mean is over drop-in calls only: extension rows answer other questions.
    speedups = [r.speedup for w, r in zip(chosen, results, strict=True) if w.extensions is None]
    return {
        **report_header(repeats, scale),
        "memory_bandwidth_gb_s": bandwidth / 1e9,
        "geometric_mean_speedup": math.exp(statistics.fmean(math.log(s) for s in speedups))
        if speedups
        else float("nan"),
        "results": [asdict(r) for r in results],
    }


def _measure(workload: Workload, repeats: int, bandwidth: float, bar: _Progress) -> Result:
    """Checks one workload against NumPy, then times both, interleaved."""
    args, kwargs = workload.build()
    expected = numpy_gradient(*args, **kwargs)
    ours = dict(kwargs)
    if workload.extensions is not None:
        ours.update(workload.extensions(args, expected))
    if workload.same_values:
        check_identical(workload.name, gradient(*args, **ours), expected)
    moved = _bytes_moved(args, expected)
    del expected
    median = interleaved_medians(
        {
            "numpy": lambda: numpy_gradient(*args, **kwargs),
            "ndgradient": lambda: gradient(*args, **ours),
        },
        repeats,
        workload.calls_per_sample,
        lambda: bar.step(workload.name),
    )
    return Result(
        name=workload.name,
        numpy_s=median["numpy"],
        ndgradient_s=median["ndgradient"],
        speedup=median["numpy"] / median["ndgradient"],
        bytes_moved=moved,
        bandwidth_s=moved / bandwidth,
        bandwidth_fraction=(moved / bandwidth) / median["ndgradient"],
    )


def _time_peers(
    workload: Workload, others: dict[str, Callable[..., Any]], repeats: int, bar: _Progress
) -> dict[str, float]:
    """Median seconds per call of every peer that supports the workload."""
    args, kwargs = workload.build()
    contenders: dict[str, Callable[[], Any]] = {}
    for name, peer in others.items():
        call = functools.partial(peer, *args, **kwargs)
        try:
            call()  # also warms up JIT compilers before timing
        except Exception:  # a peer without this feature (jax has no edge_order) sits it out
            continue
        contenders[name] = call
    return interleaved_medians(
        contenders, repeats, workload.calls_per_sample, lambda: bar.step(workload.name)
    )


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    peers = sorted({p for r in report["results"] for p in r["peers_s"]})
    head = ["workload", "numpy", "ndgradient", "speed-up", "of bandwidth", *peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["results"]:
        cells = [
            r["name"],
            seconds_text(r["numpy_s"]),
            seconds_text(r["ndgradient_s"]),
            f"{r['speedup']:.2f}x",
            f"{100 * r['bandwidth_fraction']:.0f}%",
            *(seconds_text(r["peers_s"][p]) if p in r["peers_s"] else "-" for p in peers),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"\nGeometric mean speed-up (drop-in rows, without out=/periodic/accuracy): "
        f"{report['geometric_mean_speedup']:.2f}x. "
        f"Memory bandwidth (parallel copy): {report['memory_bandwidth_gb_s']:.1f} GB/s. "
        f"NumPy {report['numpy']}, {report['machine']}, {report['workers']} workers, "
        f"medians of {report['repeats']} interleaved repeats."
    )
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str) -> None:
    """A bar chart of the speed-ups (needs matplotlib: ``pip install ndgradient[bench]``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in report["results"]]
    speedups = [r["speedup"] for r in report["results"]]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.5))
    ax.barh(names[::-1], speedups[::-1], color="#3b75af")
    ax.axvline(1.0, color="black", linewidth=0.8)
    for y, value in enumerate(speedups[::-1]):
        ax.text(value, y, f" {value:.1f}x", va="center")
    ax.set_xlabel("speed-up over numpy.gradient (median, same process)")
    ax.set_title(
        f"ndgradient {report['ndgradient']} vs NumPy {report['numpy']} "
        f"({report['machine']}), geometric mean {report['geometric_mean_speedup']:.1f}x"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    """Runs the matrix, prints the table, writes JSON and PNG if asked."""
    report = run(
        repeats=args.repeats,
        scale=args.scale,
        peers=not args.no_peers,
        progress=sys.stderr.isatty() or args.progress,
        only=args.only or (),
    )
    print(format_table(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
        print(f"JSON written to {args.json}")
    if args.png:
        try:
            plot(report, args.png)
            print(f"chart written to {args.png}")
        except ImportError:
            print("matplotlib is not installed: no chart (pip install matplotlib)")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python benches/compare.py",
        description="Time ndgradient against numpy.gradient (and torch/jax if installed).",
    )
    add_options(parser)
    options = parser.parse_args()
    check_options(parser, options)
    raise SystemExit(main(options))
