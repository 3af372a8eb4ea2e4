"""Dask workload: ndgradient against dask.array.gradient on the same Dask arrays.

    python benches/dask_bench.py [--size 8192] [--chunk 2048] [--repeats 5]
                                 [--json benches/dask_results.json]

The gradient along both axes of a ``size x size`` float64 array in ``chunk x chunk`` chunks,
with ``ndgradient.gradient`` and with ``dask.array.gradient``, on the threaded scheduler (the
machine's cores) and on a ``distributed.LocalCluster`` of two single-threaded worker
processes. The inputs are generated and persisted first (not timed), one per run, so that
no run can reuse results an earlier one still holds. Each timed run persists both gradients,
keeping the results in memory where they were computed (on the workers for the cluster),
waits for them, and releases them. The two engines alternate run by run, and the medians
are reported with their ratio. Before timing, each engine's result is compared with the
other's and with ``numpy.gradient`` on a block.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import ndgradient
import numpy as np
from distributed import Client, LocalCluster, wait


def _engines() -> dict[str, Callable[[da.Array], list[da.Array]]]:
    return {
        "ndgradient": lambda x: list(ndgradient.gradient(x)),
        "dask.array.gradient": lambda x: list(da.gradient(x)),
    }


def _time_runs(
    inputs: list[da.Array],
    persist: Callable[[list[da.Array]], list[da.Array]],
    settle: Callable[[list[da.Array]], None],
) -> dict[str, list[float]]:
    """One run per input and engine. Each run has its own input, so that no run can find
    results of an earlier one still held (a persisted key is reused while it exists)."""
    times: dict[str, list[float]] = {name: [] for name in _engines()}
    for x in inputs:
        for name, engine in _engines().items():
            start = time.perf_counter()
            results = persist(engine(x))
            settle(results)
            times[name].append(time.perf_counter() - start)
            del results
    return times


def _check(x: da.Array, compute: Callable[..., Any]) -> None:
    """Both engines agree with each other, and with NumPy on the first block's rows."""
    ours = ndgradient.gradient(x)
    theirs = da.gradient(x)
    corner = x[:64, :64]
    for a, b, c in zip(ours, theirs, np.gradient(compute(corner)[0]), strict=True):
        left, right = compute(a[:64, :64], b[:64, :64])
        assert left.tobytes() == right.tobytes(), "ndgradient and dask.array.gradient differ"
        # The first 63 rows and columns are interior or edge points of the whole array too.
        assert left[:63, :63].tobytes() == c[:63, :63].tobytes(), "differs from NumPy"
    # A row across a chunk boundary.
    chunk = x.chunks[0][0]
    rows = slice(chunk - 2, chunk + 2)
    left, right = compute(ours[0][rows], theirs[0][rows])
    assert left.tobytes() == right.tobytes()


def _summary(times: dict[str, list[float]]) -> dict[str, Any]:
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "median_s": medians,
        "runs_s": times,
        "speedup": medians["dask.array.gradient"] / medians["ndgradient"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)

    shape, chunks = (args.size, args.size), (args.chunk, args.chunk)
    report: dict[str, Any] = {
        "workload": f"{args.size}x{args.size} float64, {args.chunk}x{args.chunk} chunks, "
        "both axes, results persisted",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {
            "ndgradient": ndgradient.__version__,
            "numpy": np.__version__,
            "dask": dask.__version__,
        },
        "repeats": args.repeats,
    }
    print(report["workload"], f"({args.repeats} runs each, alternating)")

    def generate(seed: int) -> da.Array:
        return da.random.default_rng(seed).standard_normal(shape, chunks=chunks)

    with dask.config.set(scheduler="threads"):
        inputs = list(dask.persist(*(generate(seed) for seed in range(args.repeats))))
        _check(inputs[0], lambda *arrays: dask.compute(*arrays))
        times = _time_runs(inputs, lambda arrays: list(dask.persist(*arrays)), lambda _: None)
        report["threaded"] = _summary(times)
        del inputs

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        inputs = client.persist([generate(seed) for seed in range(args.repeats)])
        wait(inputs)
        _check(inputs[0], lambda *arrays: client.compute(list(arrays), sync=True))
        times = _time_runs(inputs, client.persist, lambda arrays: wait(arrays))
        report["local_cluster"] = _summary(times)
        report["local_cluster"]["workers"] = "2 processes x 1 thread"

    print("| scheduler | ndgradient | dask.array.gradient | speedup |")
    print("|---|---|---|---|")
    for key, label in [("threaded", "threaded"), ("local_cluster", "LocalCluster, 2 workers")]:
        med = report[key]["median_s"]
        print(
            f"| {label} | {med['ndgradient'] * 1e3:.0f} ms | "
            f"{med['dask.array.gradient'] * 1e3:.0f} ms | {report[key]['speedup']:.2f}x |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
