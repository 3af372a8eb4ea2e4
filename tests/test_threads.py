"""Where the core runs: ``workers=1`` never starts a thread, whatever the input, and ``workers=n``
starts ``n - 1`` helpers."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="counts threads through /proc (Linux)"
)

# Each case runs in a fresh interpreter, so that no pool made earlier hides a new one.
_PROBE = """
import os, sys
import numpy as np
import ndgradient

def threads():
    return len(os.listdir("/proc/self/task"))

rng = np.random.default_rng(0)
n = 200_000  # coordinates of 2**16 points or more were once checked on rayon's global pool
f = rng.standard_normal(n)
x = np.cumsum(rng.random(n) + 0.5)
plane = rng.standard_normal((600, 600))
workers = int(sys.argv[1])
ndgradient.gradient(np.ones(4))  # imports and one-time set-up
before = threads()
ndgradient.gradient(f, x, workers=workers)
ndgradient.gradient(f, x[1] - x[0], workers=workers, edge_order=2)
ndgradient.gradient(plane, 0.5, x[:600], workers=workers)
ndgradient.gradient(plane, workers=workers, accuracy=4, periodic=[True, False])
ndgradient.gradient(f, x, workers=workers, periodic=True, period=x[-1] - x[0] + 1.0)
print(before, threads())
"""


def _threads_before_and_after(workers: int) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(workers)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after = map(int, done.stdout.split())
    return before, after


def test_one_worker_starts_no_thread() -> None:
    before, after = _threads_before_and_after(1)
    assert after == before


@pytest.mark.parametrize("workers", [2, 3])
def test_more_workers_start_a_pool_of_helpers(workers: int) -> None:
    # The probe above can see a pool: with more workers the same calls start one, of one
    # thread fewer than the workers (the calling thread computes a share of each call).
    before, after = _threads_before_and_after(workers)
    assert after == before + workers - 1
