"""The ``ndgradient`` command line."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import __version__
from ._gradient import _numpy_gradient, gradient


def _identical(ours: Any, reference: Any) -> bool:
    """Same container, dtype, shape and bits (NaN payloads and signed zeros included)."""
    if isinstance(reference, tuple):
        return (
            isinstance(ours, tuple)
            and len(ours) == len(reference)
            and all(_identical(a, b) for a, b in zip(ours, reference, strict=True))
        )
    return (
        type(ours) is type(reference)
        and ours.dtype == reference.dtype
        and ours.shape == reference.shape
        and ours.tobytes() == reference.tobytes()
    )


def _show(title: str, code: str, call: Callable[[Callable[..., Any]], Any]) -> bool:
    ours, reference = call(gradient), call(_numpy_gradient)
    same = _identical(ours, reference)
    print(f"\n{title}\n  >>> {code}")
    print(f"  numpy.gradient      -> {reference!r}")
    print(f"  ndgradient.gradient -> {ours!r}")
    print("  identical, bit for bit" if same else "  DIFFERENT")
    return same


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def demo(size: int = 4096, repeats: int = 5) -> int:
    """Walk through the seed article's examples, then time one large array."""
    print(f"ndgradient {__version__}, NumPy {np.__version__}")
    print("Examples from 'Calculating numerical gradients using numpy.gradient()':")
    x = np.array([1, 2, 3])
    y = x**3
    checks = [
        _show(
            "f(x) = x**3 sampled at x = 1, 2, 3 (unit spacing assumed):",
            "gradient(np.array([1, 8, 27]))",
            lambda g: g(y),
        ),
        _show(
            "The same with the x values given explicitly:",
            "gradient(np.array([1, 8, 27]), np.array([1, 2, 3]))",
            lambda g: g(y, x),
        ),
    ]
    field = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    checks.append(
        _show(
            "A 2-D field: its gradient is 3 along axis 0 and 1 along axis 1:",
            "gradient(np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))",
            lambda g: g(field),
        )
    )

    rng = np.random.default_rng(0)
    big = rng.standard_normal((size, size))
    same = _identical(gradient(big), _numpy_gradient(big))
    checks.append(same)
    numpy_s = _median_seconds(lambda: _numpy_gradient(big), repeats)
    ours_s = _median_seconds(lambda: gradient(big), repeats)
    print(f"\nOne large array: {size}x{size} float64, both axes, median of {repeats} runs")
    print(f"  numpy.gradient      {numpy_s * 1e3:8.1f} ms")
    print(f"  ndgradient.gradient {ours_s * 1e3:8.1f} ms")
    print(f"  speed-up            {numpy_s / ours_s:8.2f}x  (results identical: {same})")
    if all(checks):
        print("\nAll results identical to numpy.gradient.")
        return 0
    print("\nSome results differ from numpy.gradient.")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ndgradient`` console script and ``python -m ndgradient``."""
    parser = argparse.ArgumentParser(
        prog="ndgradient",
        description="A bit-exact, parallel drop-in replacement for numpy.gradient.",
    )
    parser.add_argument("--version", action="version", version=f"ndgradient {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo",
        help="reproduce the seed article's examples and time a large array against NumPy",
        description="Reproduce the seed article's examples side by side with numpy.gradient, "
        "then time one large float64 array against it.",
    )
    demo_parser.add_argument(
        "--size", type=int, default=4096, help="side of the square timing array (default 4096)"
    )
    demo_parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per function (default 5)"
    )
    bench_parser = commands.add_parser(
        "bench",
        help="time ndgradient against numpy.gradient on the benchmark matrix",
        description="Time ndgradient against numpy.gradient (and torch/jax if installed) on "
        "a fixed workload matrix: interleaved repeats in one process, medians, speed-ups, "
        "and each result as a fraction of the memory bandwidth measured in the same run.",
    )
    bench_parser.add_argument("--repeats", type=int, default=9, help="repeats (default 9)")
    bench_parser.add_argument(
        "--scale", type=float, default=1.0, help="shrink every array by this factor (0-1]"
    )
    bench_parser.add_argument("--only", nargs="*", help="run workloads whose name contains")
    bench_parser.add_argument("--json", help="write the full report to this JSON file")
    bench_parser.add_argument("--png", help="write a bar chart (needs matplotlib)")
    bench_parser.add_argument("--no-peers", action="store_true", help="skip torch and jax")
    bench_parser.add_argument(
        "--progress", action="store_true", help="show the progress bar even when not a tty"
    )
    args = parser.parse_args(argv)
    if args.command == "bench":
        if args.repeats < 1 or not 0 < args.scale <= 1:
            parser.error("--repeats must be at least 1 and --scale in (0, 1]")
        from . import _bench

        return _bench.main(args)
    if args.size < 3 or args.repeats < 1:
        parser.error("--size must be at least 3 and --repeats at least 1")
    return demo(size=args.size, repeats=args.repeats)
