"""The ``ndgradient`` command line."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import __version__, _bench, _bigfile, _core
from ._bigfile import UsageError as _UsageError
from ._patch import gradient
from ._rules import numpy_gradient


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
    ours, reference = call(gradient), call(numpy_gradient)
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
    same = _identical(gradient(big), numpy_gradient(big))
    checks.append(same)
    numpy_s = _median_seconds(lambda: numpy_gradient(big), repeats)
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


def _load_array(path: str, key: str | None, what: str) -> np.ndarray:
    """One array from a ``.npy`` file, or from a ``.npz`` file (``key`` picks one of several)."""
    if not os.path.exists(path):
        raise _UsageError(f"{what} {path!r}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise _UsageError(f"{what} {path!r} is not a NumPy .npy/.npz array file ({err})") from err
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None and len(names) == 1:
            key = names[0]
        if key is None or key not in names:
            listed = ", ".join(names) or "none"
            raise _UsageError(f"{what} {path!r} holds arrays {listed}: choose one with --key")
        try:
            array: np.ndarray = loaded[key]
            return array
        except ValueError as err:  # object arrays need pickle, which is never allowed here
            raise _UsageError(f"{what} {path!r}[{key!r}] cannot be read ({err})") from err


def _spacing_arguments(args: argparse.Namespace) -> list[Any]:
    """``--spacing`` numbers, or ``--coords`` items (a file, or a number for uniform spacing)."""
    if args.spacing is not None and args.coords is not None:
        raise _UsageError("give --spacing or --coords, not both")
    if args.spacing is not None:
        return list(args.spacing)
    spacings: list[Any] = []
    for item in args.coords or ():
        try:
            spacings.append(float(item))
        except ValueError:
            coords = _load_array(item, None, "coordinate file")
            if coords.ndim != 1:
                raise _UsageError(
                    f"coordinate file {item!r} holds a {coords.ndim}-D array; "
                    "coordinates must be 1-D"
                ) from None
            spacings.append(coords)
    return spacings


def compute(args: argparse.Namespace) -> int:
    """``ndgradient compute``: gradient of an array file, written to array files.

    An ``.npy`` input with ``.npy`` or directory output is computed window by window from
    the file, whatever its size (``_bigfile``); ``.npz`` files, and data only NumPy's code
    path computes, are computed in memory.
    """
    header = _bigfile.npy_header(args.input)
    if header is None:
        f = _load_array(args.input, args.key, "input")
    spacings = _spacing_arguments(args)
    kind = _bigfile.output_kind(args.output)
    if args.stack and kind != "npy":
        raise _UsageError(f"--stack writes one .npy file, not {args.output!r}: give -o NAME.npy")
    if header is not None:
        if kind != "npz" and _bigfile.compute(args, header, spacings):
            return 0
        f = _load_array(args.input, args.key, "input")
    axis = None if args.axis is None else tuple(args.axis)
    try:
        result = gradient(
            f, *spacings, axis=axis, edge_order=args.edge_order, workers=args.workers
        )
    except (ValueError, TypeError, IndexError) as err:  # AxisError is a ValueError
        raise _UsageError(f"cannot compute the gradient of {args.input!r}: {err}") from err
    grads = list(result) if isinstance(result, tuple) else [result]
    axes = list(range(f.ndim)) if axis is None else [a % f.ndim for a in axis]
    if kind != "npz":
        finals = _bigfile.final_paths(args.output, kind, axes, args.stack)
        _bigfile.save_arrays(grads, finals, args.stack, args.quiet)
    else:
        save = np.savez_compressed if args.compress else np.savez
        save(args.output, **{f"axis{a}": g for a, g in zip(axes, grads, strict=True)})
    if not args.quiet:
        for a, g in zip(axes, grads, strict=True):
            print(f"axis {a}: shape {g.shape}, dtype {g.dtype}")
        print(f"written to {args.output}")
    return 0


def info() -> int:
    """``ndgradient info``: what is installed and what it can use."""
    build = _core.build_info()
    rows = [
        ("ndgradient", __version__),
        ("native module", _core.__file__ or "?"),
        ("build profile", build["profile"]),
        ("target", build["target"]),
        ("CPUs available", str(_core.available_cpus())),
        ("default workers", str(_core.default_workers())),
        ("NDGRADIENT_NUM_THREADS", os.environ.get("NDGRADIENT_NUM_THREADS", "(not set)")),
        ("NumPy", np.__version__),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("platform", platform.platform()),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _parser() -> argparse.ArgumentParser:
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
    compute_parser = commands.add_parser(
        "compute",
        help="gradient of an array file (.npy/.npz), written to .npy or .npz files",
        description="Compute the gradient of the array in INPUT (.npy, or .npz with --key) and "
        "write one array per differentiated axis: to a directory OUTPUT/ as axis0.npy, "
        "axis1.npy, ..., to OUTPUT.npz named axis0, axis1, ..., or to one OUTPUT.npy (a single "
        "axis, or all of them with --stack). An .npy INPUT with .npy or directory output is "
        "computed window by window from the file, so it may be larger than memory; a progress "
        "bar shows on a terminal. Outputs are written under temporary names and renamed when "
        "complete.",
        epilog="examples: ndgradient compute big.npy -o grads/; "
        "ndgradient compute field.npy -o grad.npz; "
        "ndgradient compute field.npy --coords lat.npy lon.npy -o grad.npz; "
        "ndgradient compute series.npy --spacing 0.1 --edge-order 2 -o d.npy",
    )
    compute_parser.add_argument("input", metavar="INPUT", help="a .npy or .npz file")
    compute_parser.add_argument("--key", help="the array to read from an .npz INPUT")
    compute_parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTPUT",
        help="a directory (ending in /, or existing), an .npz, or an .npy to write",
    )
    compute_parser.add_argument(
        "--spacing",
        type=float,
        nargs="+",
        metavar="DX",
        help="uniform sample distance: one for every axis, or one per differentiated axis",
    )
    compute_parser.add_argument(
        "--coords",
        nargs="+",
        metavar="FILE",
        help="one per differentiated axis: a .npy file of 1-D coordinates, or a number "
        "(uniform spacing on that axis)",
    )
    compute_parser.add_argument(
        "--axis", type=int, nargs="+", help="differentiate along these axes only (default: all)"
    )
    compute_parser.add_argument(
        "--edge-order", type=int, default=1, choices=(1, 2), help="1 (default) or 2"
    )
    compute_parser.add_argument("--workers", type=int, help="threads to use (default: all)")
    compute_parser.add_argument("--compress", action="store_true", help="write a compressed .npz")
    compute_parser.add_argument(
        "--stack",
        action="store_true",
        help="write every axis to one .npy, stacked along a new first axis",
    )
    compute_parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing, and show no progress bar"
    )
    commands.add_parser(
        "info",
        help="version, build, threads and NumPy in use",
        description="Print ndgradient's version and build, the threads it may use, and the "
        "NumPy and Python it runs with.",
    )
    bench_parser = commands.add_parser(
        "bench",
        help="time ndgradient against numpy.gradient on the benchmark matrix",
        description="Time ndgradient against numpy.gradient (and torch/jax if installed) on "
        "a fixed workload matrix: interleaved repeats in one process, medians, speed-ups, "
        "and each result as a fraction of the memory bandwidth measured in the same run. "
        "The matrix is benches/compare.py of a source checkout; without one, a few of its "
        "workloads are timed.",
    )
    _bench.add_options(bench_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ndgradient`` console script and ``python -m ndgradient``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        _bench.check_options(parser, args)
        return _bench.main(args)
    if args.command == "info":
        return info()
    if args.command == "compute":
        try:
            return compute(args)
        except _UsageError as err:
            print(f"ndgradient compute: error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("ndgradient compute: interrupted; no output written", file=sys.stderr)
            return 130
    if args.size < 3 or args.repeats < 1:
        parser.error("--size must be at least 3 and --repeats at least 1")
    return demo(size=args.size, repeats=args.repeats)
