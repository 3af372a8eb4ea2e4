"""Benchmark harness: ndgradient against numpy.gradient (and torch/jax, and a C reference).

    python benches/compare.py --repeats 9 --json benches/results.json --png benches/results.png

``--help`` lists the options; in a source checkout ``ndgradient bench`` runs this file too.

Every workload is timed in three settings (``ndgradient._bench.SETTINGS`` says exactly how):

- **cold**: the first call on fresh memory, its outputs new pages;
- **loop**: the steady state of a loop that drops its results (what an output pool serves);
- **out=**: ndgradient into outputs allocated once and reused. NumPy has no ``out=``: that
  setting's speed-up is against NumPy's loop figure.

Every setting of every contender is sampled in each repeat, interleaved (NumPy, ndgradient,
..., then the next repeat), in one process, and reported as medians and ratios to NumPy in the
same run. Every drop-in result is first checked bit for bit against NumPy, ``out=`` and the C
reference's included. The loop is the headline: the geometric mean per setting is over the
drop-in rows (no ndgradient-only options). The fraction of the machine's memory bandwidth is
the time a copy-bandwidth machine would need to read the input once and write each output
once, over the measured time; the bandwidth is a parallel copy between preallocated buffers,
measured in the same run.

When the fused C reference (``../shared/perf`` beside the source checkout, ``--c-reference``
or ``$NDGRADIENT_C_REFERENCE``; not part of ndgradient) is present, its compiled kernels are
timed as a further contender for the workloads they cover: fresh outputs cold and in the loop,
reused outputs in the ``out=`` setting. Its cells are empty where it has no kernel.

Peers are imported and timed in a second pass, after NumPy, ndgradient and the C: their thread
pools keep spinning between calls (jax's XLA pool, torch's OpenMP threads) and on a small
machine they would slow down everything timed after them. They have no ``out=`` and are timed
in the loop setting only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import importlib.util
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ndgradient
import numpy as np
from ndgradient import _core
from ndgradient._bench import (
    SETTINGS,
    add_options,
    check_identical,
    check_options,
    geometric_mean,
    interleaved_medians,
    load_module,
    loop_sample,
    outputs_like,
    report_header,
    seconds_text,
    setting_calls,
    settings_cells,
    settings_figures,
    settings_head,
    settings_medians,
)

gradient = ndgradient.gradient
# NumPy's own function, taken before anything could patch it.
numpy_gradient = np.gradient

# Where the C reference is looked for when neither --c-reference nor this variable is given.
C_REFERENCE_VARIABLE = "NDGRADIENT_C_REFERENCE"
DEFAULT_C_REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "perf"


@dataclass
class Workload:
    """One benchmark case: how to build its arguments and how many bytes it must move."""

    name: str
    build: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]
    calls_per_sample: int = 1
    # Keywords only ndgradient takes (periodic=, accuracy=): the values differ from NumPy's,
    # so the row is no drop-in call, has no bit check against NumPy and no C kernel.
    options: dict[str, Any] = field(default_factory=dict)
    # Rows that measure the cost of a call more than of its arithmetic. The C reference sits
    # them out: a ctypes call costs as much as its kernel there, so it would time ctypes.
    per_call_cost: bool = False

    @property
    def drop_in(self) -> bool:
        return not self.options


@dataclass
class Result:
    """One workload's medians in seconds per call, and the derived figures."""

    name: str
    drop_in: bool
    # The loop setting (the headline), as flat figures.
    numpy_s: float
    ndgradient_s: float
    speedup: float
    # setting -> numpy_s, ndgradient_s, speedup, c_reference_s, c_reference_speedup.
    settings: dict[str, dict[str, Any]]
    bytes_moved: int
    bandwidth_s: float
    bandwidth_fraction: float
    bandwidth_fraction_out: float
    # Why the C reference has no figures for a row it has a kernel for (a failed bit check).
    c_reference_note: str | None = None
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
        Workload("1-D 1e3 float64", plain((n(1e3),)), calls_per_sample=200, per_call_cost=True),
        Workload("1-D 1e5 float64", plain((n(1e5),)), calls_per_sample=20),
        # 8 MB outputs: under glibc's largest mmap threshold, over the pool's smallest block.
        Workload("1-D 1e6 float64", plain((n(1e6),)), calls_per_sample=5),
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
        Workload("10-element call", plain((10,)), calls_per_sample=2000, per_call_cost=True),
        # What the extended stencils cost, against NumPy's accuracy-2 gradient.
        *(
            Workload(f"2-D {s2}^2 both axes, {label}", plain((s2, s2)), options=options)
            for label, options in _EXTENDED_OPTIONS
        ),
    ]


_EXTENDED_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("periodic", {"periodic": True}),
    ("accuracy=4", {"accuracy": 4}),
    ("accuracy=8", {"accuracy": 8}),
]


class CReference:
    """The fused C kernels of ``reference.py`` in a directory: a yardstick, not ndgradient.

    Importing ``reference.py`` builds its kernels with gcc on first use (into
    ``$GRADK_DIR``, by default ``~/.cache/ndgradient-c-reference``) and loads them with
    ctypes. Only the kernels it declares are used, with its thread count, and its OpenMP
    threads sleep between calls (``OMP_WAIT_POLICY=PASSIVE`` unless set). Anything that goes
    wrong (no directory, no gcc, a failed build) leaves the reference unavailable, with the
    reason, and the harness runs without it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.kernels: Any = None
        self.threads = 0
        self.unavailable: str | None = None
        self.omp_wait_policy: str | None = None
        script = directory / "reference.py"
        if not script.is_file():
            self.unavailable = f"no {script}"
            return
        # OpenMP threads that spin after each call would take the two cores from whatever
        # is timed next (as torch's and jax's pools would, which is why peers run last);
        # passive threads sleep at once and cost a wake-up per call instead. libgomp reads
        # the variable when it loads; a value already set is kept, and the environment is
        # restored afterwards so that torch's own OpenMP, loaded later, sees it unchanged.
        previous = os.environ.get("OMP_WAIT_POLICY")
        self.omp_wait_policy = os.environ["OMP_WAIT_POLICY"] = previous or "PASSIVE"
        try:
            module = load_module(script, "ndgradient_c_reference")
            self.kernels, self.threads = module.lib, int(module.T)
        except Exception as err:  # foreign code and a compiler: any failure means no column
            self.unavailable = f"{type(err).__name__}: {err}"
        finally:
            if previous is None:
                del os.environ["OMP_WAIT_POLICY"]

    @classmethod
    def find(cls, directory: str | None) -> CReference:
        """The reference in ``directory``, else ``$NDGRADIENT_C_REFERENCE``, else the
        default ``../shared/perf`` beside the source checkout."""
        chosen = directory or os.environ.get(C_REFERENCE_VARIABLE)
        return cls(Path(chosen) if chosen else DEFAULT_C_REFERENCE)

    def describe(self) -> dict[str, Any]:
        """What the report says about the reference."""
        return {
            "directory": str(self.directory),
            "available": self.unavailable is None,
            "unavailable": self.unavailable,
            "threads": self.threads,
            "omp_wait_policy": self.omp_wait_policy,
        }

    def kernel(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Callable[..., Any] | None:
        """A C call computing ``numpy.gradient(*args, **kwargs)``, or None without a kernel.

        The call takes ``out``, NumPy's result's shape (an array or a tuple), or None for new
        outputs (``numpy.empty_like`` of the input, as the reference does), and returns it.
        The kernels cover C-contiguous float64 1-D (uniform, edge order 1 or 2; coordinates,
        edge order 1), float64 and float32 2-D (both axes or one, edge order 1) and float64
        3-D (all axes, edge order 1), with unit spacing.
        """
        if self.kernels is None:
            return None
        lib, threads = self.kernels, self.threads
        f, spacing = args[0], args[1:]
        edge_order, axis = kwargs.get("edge_order", 1), kwargs.get("axis")
        if set(kwargs) - {"edge_order", "axis"} or not f.flags.c_contiguous:
            return None
        if f.ndim == 1 and f.dtype == np.float64 and axis in (None, 0):
            if not spacing:
                return _filler(
                    f,
                    1,
                    lambda o: lib.grad1d_f64(_at(f), _at(o[0]), f.size, 1.0, edge_order, threads),
                )
            x = spacing[0]
            if len(spacing) == 1 and _is_coordinates(x, f) and edge_order == 1:
                return _filler(
                    f,
                    1,
                    lambda o: lib.grad1d_nonuni_f64(_at(f), _at(x), _at(o[0]), f.size, threads),
                )
            return None
        if spacing or edge_order != 1:
            return None
        if f.ndim == 2 and f.dtype in (np.float64, np.float32) and axis in (None, 0, 1):
            two_d = lib.grad2d_f64 if f.dtype == np.float64 else lib.grad2d_f32
            axes = (0, 1) if axis is None else (axis,)

            def two_axes(o: list[np.ndarray]) -> None:
                by_axis = [_at(o[axes.index(a)]) if a in axes else None for a in (0, 1)]
                two_d(_at(f), *by_axis, *f.shape, 1.0, 1.0, threads)

            return _filler(f, len(axes), two_axes)
        if f.ndim == 3 and f.dtype == np.float64 and axis is None:
            return _filler(
                f,
                3,
                lambda o: lib.grad3d_f64(_at(f), *map(_at, o), *f.shape, 1.0, 1.0, 1.0, threads),
            )
        return None


def _at(array: np.ndarray) -> int:
    """The address of an array's first element, for ctypes."""
    return int(array.ctypes.data)


def _is_coordinates(x: Any, f: np.ndarray) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.float64 and x.shape == f.shape


def _fits(output: np.ndarray, f: np.ndarray) -> bool:
    return bool(
        output.shape == f.shape
        and output.dtype == f.dtype
        and output.flags.c_contiguous
        and output.flags.writeable
    )


def _filler(
    f: np.ndarray, count: int, compute: Callable[[list[np.ndarray]], None]
) -> Callable[..., Any]:
    """A C call's Python face: ``fill(out=None)`` shaped like NumPy's result (one array for
    one output, else a tuple)."""

    def fill(out: Any = None) -> Any:
        if out is None:
            outputs = [np.empty_like(f) for _ in range(count)]
        else:
            outputs = list(out) if isinstance(out, tuple) else [out]
            # ctypes writes blindly: a wrong buffer would corrupt memory, not raise.
            if len(outputs) != count or not all(_fits(o, f) for o in outputs):
                raise ValueError("the C reference needs C-contiguous outputs like its input")
        compute(outputs)
        return outputs[0] if count == 1 else tuple(outputs)

    return fill


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
    c_reference: CReference | None = None,
) -> dict[str, Any]:
    """Runs the matrix and returns the report (what ``--json`` writes).

    ``c_reference`` adds the C column where it has kernels; None leaves it out.
    """
    header = report_header(repeats, scale)
    chosen = [w for w in workloads(scale) if not only or any(o in w.name for o in only)]
    # Peers have no ndgradient options: they sit out the rows that use them.
    for_peers = [w for w in chosen if w.drop_in] if peers and _peers_installed() else []
    bar = _Progress((len(chosen) + len(for_peers)) * repeats + 1, progress)
    bandwidth = memory_bandwidth(megabytes=max(16, int(512 * min(1.0, scale))))
    bar.step("memory bandwidth")
    results = [_measure(w, repeats, bandwidth, bar, c_reference) for w in chosen]
    if for_peers:
        others = _peers()
        for workload, result in zip(chosen, results, strict=True):
            if workload in for_peers:
                result.peers_s = _time_peers(workload, others, repeats, bar)
    drop_in = [r for r in results if r.drop_in]
    report = {
        **header,
        "memory_bandwidth_gb_s": bandwidth / 1e9,
        # The loop is the headline; every setting's mean is over the drop-in rows only.
        "geometric_mean_speedup": geometric_mean(r.speedup for r in drop_in),
        "geometric_mean_speedups": {
            setting: geometric_mean(r.settings[setting]["speedup"] for r in drop_in)
            for setting in SETTINGS
        },
        "c_reference": None,
        "results": [asdict(r) for r in results],
    }
    if c_reference is not None:
        report["c_reference"] = {
            **c_reference.describe(),
            # ndgradient's speed-up over the C, per setting, over the rows the C covers.
            "ndgradient_over_c_reference": {
                setting: geometric_mean(
                    r.settings[setting]["c_reference_s"] / r.settings[setting]["ndgradient_s"]
                    for r in drop_in
                    if r.settings[setting]["c_reference_s"] is not None
                )
                for setting in SETTINGS
            },
        }
    return report


def _measure(
    workload: Workload,
    repeats: int,
    bandwidth: float,
    bar: _Progress,
    c_reference: CReference | None,
) -> Result:
    """Checks one workload against NumPy, then times every setting, interleaved."""
    args, kwargs = workload.build()
    ours = {**kwargs, **workload.options}
    expected = numpy_gradient(*args, **kwargs)
    fresh = gradient(*args, **ours)
    if workload.drop_in:
        check_identical(workload.name, fresh, expected)
    out = outputs_like(fresh)
    # Into out=, the values must be the fresh call's: NumPy's for a drop-in row.
    check_identical(f"{workload.name}, out=", gradient(*args, **ours, out=out), fresh)
    # The C reference writes into the same reused outputs: same pages, same placement.
    c_fresh, c_reused, note = _checked_c_kernel(workload, args, kwargs, expected, out, c_reference)
    moved = _bytes_moved(args, expected)
    del expected, fresh
    medians = settings_medians(
        setting_calls(
            functools.partial(numpy_gradient, *args, **kwargs),
            functools.partial(gradient, *args, **ours),
            functools.partial(gradient, *args, **ours, out=out),
            c_fresh,
            c_reused,
        ),
        repeats,
        workload.calls_per_sample,
        lambda: bar.step(workload.name),
    )
    figures = settings_figures(medians)
    loop = figures["loop"]
    return Result(
        name=workload.name,
        drop_in=workload.drop_in,
        numpy_s=loop["numpy_s"],
        ndgradient_s=loop["ndgradient_s"],
        speedup=loop["speedup"],
        settings=figures,
        bytes_moved=moved,
        bandwidth_s=moved / bandwidth,
        bandwidth_fraction=(moved / bandwidth) / loop["ndgradient_s"],
        bandwidth_fraction_out=(moved / bandwidth) / figures["out"]["ndgradient_s"],
        c_reference_note=note,
    )


def _checked_c_kernel(
    workload: Workload,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    expected: Any,
    reused: Any,
    c_reference: CReference | None,
) -> tuple[Callable[[], Any] | None, Callable[[], Any] | None, str | None]:
    """The C reference's calls for a workload, into new outputs and into ``reused``, each
    checked bit for bit against NumPy; (None, None, why) when it fails the check, all None
    without a kernel."""
    if c_reference is None or workload.per_call_cost or not workload.drop_in:
        return None, None, None
    fill = c_reference.kernel(args, kwargs)
    if fill is None:
        return None, None, None
    try:
        check_identical(f"{workload.name}, C reference", fill(), expected)
        check_identical(
            f"{workload.name}, C reference into reused outputs", fill(reused), expected
        )
    except AssertionError as err:  # the yardstick is wrong here: no figure rather than a false one
        print(f"\n{err}: its column is left empty", file=sys.stderr)
        return None, None, str(err)
    return fill, functools.partial(fill, reused), None


def _time_peers(
    workload: Workload, others: dict[str, Callable[..., Any]], repeats: int, bar: _Progress
) -> dict[str, float]:
    """Median seconds per call of every peer that supports the workload, in the loop."""
    args, kwargs = workload.build()
    samples = {}
    for name, peer in others.items():
        call = functools.partial(peer, *args, **kwargs)
        try:
            call()  # also warms up JIT compilers before timing
        except Exception:  # a peer without this feature (jax has no edge_order) sits it out
            continue
        samples[name] = loop_sample(call, workload.calls_per_sample)
    return interleaved_medians(samples, repeats, lambda: bar.step(workload.name))


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table: the three settings (and the C reference when it was
    asked for), speed-ups against NumPy in the same run."""
    with_c = report.get("c_reference") is not None
    peers = sorted({p for r in report["results"] for p in r["peers_s"]})
    head = ["workload", *settings_head(with_c), "of bandwidth (out=)", *peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["results"]:
        cells = [
            r["name"],
            *settings_cells(r["settings"], with_c),
            f"{100 * r['bandwidth_fraction_out']:.0f}%",
            *(seconds_text(r["peers_s"][p]) if p in r["peers_s"] else "-" for p in peers),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    means = report["geometric_mean_speedups"]
    drop_in = sum(r["drop_in"] for r in report["results"])
    lines.append(
        f"\nGeometric mean speed-up over NumPy, {drop_in} drop-in rows (without "
        f"periodic/accuracy): loop {means['loop']:.2f}x, cold {means['cold']:.2f}x, "
        f"out= {means['out']:.2f}x (against NumPy's loop: NumPy has no out=). "
        f"Memory bandwidth (parallel copy): {report['memory_bandwidth_gb_s']:.1f} GB/s. "
        f"NumPy {report['numpy']}, {report['machine']}, {report['workers']} workers, "
        f"medians of {report['repeats']} interleaved repeats; cold calls start from "
        f"{_cold_text(report['cold_memory'])}."
        + (f" Peers ({', '.join(peers)}) in the loop setting." if peers else "")
    )
    if with_c:
        lines.append(_c_reference_note(report["c_reference"]))
    return "\n".join(lines)


def _cold_text(method: str) -> str:
    if method == "malloc_trim":
        return "a released pool and a trimmed heap (new pages)"
    return "a released pool only (no malloc_trim here: small outputs may reuse freed pages)"


def _c_reference_note(described: dict[str, Any]) -> str:
    if not described["available"]:
        return f"\nC reference not available ({described['unavailable']}): its columns are empty."
    ratios = described["ndgradient_over_c_reference"]
    return (
        f"\nC: the fused C reference in {described['directory']} (not part of ndgradient), "
        f"{described['threads']} OpenMP threads (OMP_WAIT_POLICY="
        f"{described['omp_wait_policy']}), called through ctypes: new outputs "
        f"(numpy.empty_like) cold and in the loop, reused outputs for out=; '-' where it has "
        f"no kernel, and for the per-call rows (1e3, 10 elements), where ctypes costs as much "
        f"as the kernel. ndgradient over the C on the rows it covers (geometric mean): cold "
        f"{ratios['cold']:.2f}x, loop {ratios['loop']:.2f}x, out= {ratios['out']:.2f}x."
    )


def plot(report: dict[str, Any], path: str) -> None:
    """A bar chart of the speed-ups per setting (needs matplotlib:
    ``pip install ndgradient[bench]``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in report["results"]][::-1]
    labels = {"cold": "cold", "loop": "loop", "out": "out= (vs NumPy's loop)"}
    height = 0.8 / len(SETTINGS)
    fig, ax = plt.subplots(figsize=(9, 0.75 * len(names) + 1.5))
    for index, setting in enumerate(SETTINGS):
        speedups = [r["settings"][setting]["speedup"] for r in report["results"]][::-1]
        # cold on top of each group, as in the table's order
        offsets = [y + (1 - index) * height for y in range(len(names))]
        ax.barh(offsets, speedups, height=height, label=labels[setting])
        for y, value in zip(offsets, speedups, strict=True):
            ax.text(value, y, f" {value:.1f}x", va="center", fontsize=7)
    ax.set_yticks(range(len(names)), names)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.legend(loc="lower right")
    ax.set_xlabel("speed-up over numpy.gradient (median, same process)")
    ax.set_title(
        f"ndgradient {report['ndgradient']} vs NumPy {report['numpy']} "
        f"({report['machine']}), geometric mean (loop) {report['geometric_mean_speedup']:.1f}x"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    """Runs the matrix, prints the table, writes JSON and PNG if asked."""
    c_reference = None
    if not getattr(args, "no_c_reference", False):
        c_reference = CReference.find(getattr(args, "c_reference", None))
        # Asked for by path and missing is worth saying; absent by default is the usual case.
        if c_reference.unavailable is not None:
            print(f"C reference not used: {c_reference.unavailable}", file=sys.stderr)
            explicit = getattr(args, "c_reference", None) or os.environ.get(C_REFERENCE_VARIABLE)
            c_reference = c_reference if explicit else None
    report = run(
        repeats=args.repeats,
        scale=args.scale,
        peers=not args.no_peers,
        progress=sys.stderr.isatty() or args.progress,
        only=args.only or (),
        c_reference=c_reference,
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
        description="Time ndgradient against numpy.gradient (and torch/jax if installed, and "
        "the C reference if present) cold, in a loop, and into reused outputs.",
    )
    add_options(parser)
    options = parser.parse_args()
    check_options(parser, options)
    raise SystemExit(main(options))
