"""The output pool in a loop that drops its results: ndgradient with the pool and without it
(``NDGRADIENT_POOL_BYTES=0``), and numpy.gradient, in one run.

Each (workload, setting) runs in its own process, since the pool's setting is read once per
process; the processes alternate, round after round, so that both settings see the same
machine. Each process times ``repeat`` calls after two warm-up calls and prints their times;
the table gives the medians over every round and the ratio "off / pool".

    python benches/pool_loop.py [--rounds 3] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKLOADS = {
    "4096x4096 float64, both axes": "np.random.default_rng(0).standard_normal((4096, 4096))",
    "1-D 1e7 float64": "np.random.default_rng(0).standard_normal(10_000_000)",
    "256^3 float64, all axes": "np.random.default_rng(0).standard_normal((256, 256, 256))",
}

_PROBE = """
import json, sys, time, numpy as np, ndgradient
f = {build}
call = np.gradient if sys.argv[1] == "numpy" else ndgradient.gradient
for _ in range(2):
    call(f)
times = []
for _ in range({repeat}):
    start = time.perf_counter()
    call(f)  # the result is dropped at once, as in a loop that keeps only a reduction
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""

SETTINGS = {"pool": ("ndgradient", None), "no pool": ("ndgradient", "0"), "numpy": ("numpy", None)}


def run(build: str, setting: str, repeat: int) -> list[float]:
    """The times of ``repeat`` calls in a fresh process with ``setting``."""
    which, pool_bytes = SETTINGS[setting]
    env = dict(os.environ)
    env.pop("NDGRADIENT_POOL_BYTES", None)
    if pool_bytes is not None:
        env["NDGRADIENT_POOL_BYTES"] = pool_bytes
    code = _PROBE.format(build=build, repeat=repeat)
    done = subprocess.run(
        [sys.executable, "-c", code, which], capture_output=True, text=True, env=env, check=True
    )
    return list(json.loads(done.stdout))


def main() -> int:
    """Prints a Markdown table of medians (ms) and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("| workload | pool (ms) | no pool (ms) | numpy (ms) | no pool / pool | numpy / pool |")
    print("|---|---|---|---|---|---|")
    for name, build in WORKLOADS.items():
        times: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
        for _ in range(args.rounds):
            for setting in SETTINGS:
                times[setting] += run(build, setting, args.repeat)
        pool, off, numpy = (1e3 * statistics.median(times[s]) for s in SETTINGS)
        print(
            f"| {name} | {pool:.1f} | {off:.1f} | {numpy:.1f} | {off / pool:.2f}x "
            f"| {numpy / pool:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
