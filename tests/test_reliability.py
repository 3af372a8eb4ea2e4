"""Threads, fork and memory: many concurrent callers get serial results, children of a
process that used the pool compute correctly, and a call's peak memory is its outputs."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from typing import Any

import ndgradient
import numpy as np
import pytest
from _oracle import assert_identical, reference, silenced
from ndgradient import _memory


def _in_threads(count: int, work: Any) -> None:
    """Runs ``work(index)`` in ``count`` threads started together; fails on a deadlock."""
    start = threading.Barrier(count)

    def started(index: int) -> None:
        start.wait(timeout=60)
        work(index)

    threads = [threading.Thread(target=started, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread did not finish: deadlock?"


def test_sixteen_threads_with_shared_and_private_inputs() -> None:
    rng = np.random.default_rng(20)
    shared = rng.standard_normal((700, 600))
    x = np.cumsum(rng.random(600))
    shared_expected = reference(shared, 0.5, x, edge_order=2)
    failures: list[str] = []

    def work(index: int) -> None:
        own = (
            np.random.default_rng(index)
            .standard_normal((300 + index, 900))
            .astype(np.float32 if index % 2 else np.float64)
        )
        own_expected = reference(own)
        workers = [None, 1, 2, -1][index % 4]
        for _ in range(6):
            try:
                assert_identical(
                    ndgradient.gradient(shared, 0.5, x, edge_order=2, workers=workers),
                    shared_expected,
                )
                assert_identical(ndgradient.gradient(own, workers=workers), own_expected)
                assert_identical(
                    ndgradient.gradient(own, accuracy=4, periodic=True, workers=workers),
                    ndgradient.gradient(own, accuracy=4, periodic=True, workers=1),
                )
            except AssertionError as err:  # pragma: no cover - reported below
                failures.append(f"thread {index}: {err}")

    _in_threads(16, work)
    assert failures == []


def test_small_native_calls_from_many_threads() -> None:
    # The native path of the common call: small inputs are computed without releasing the
    # GIL, larger ones with it released (the threads above take the larger path).
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal(n) for n in (10, 1000, 5000)] + [rng.standard_normal((70, 90))]
    inputs.append(np.asfortranarray(inputs[-1]).astype(np.int32))
    expected = [reference(f, 0.25, edge_order=2) for f in inputs]
    failures: list[str] = []

    def work(index: int) -> None:
        for _ in range(100):
            for f, want in zip(inputs, expected, strict=True):
                try:
                    assert_identical(ndgradient.gradient(f, 0.25, edge_order=2), want)
                except AssertionError as err:  # pragma: no cover - reported below
                    failures.append(f"thread {index}: {err}")

    _in_threads(8, work)
    assert failures == []


def _child_gradient(seed: int) -> bool:
    f = np.random.default_rng(seed).standard_normal((600, 500))
    ours = ndgradient.gradient(f)
    return all(a.tobytes() == b.tobytes() for a, b in zip(ours, np.gradient(f), strict=True))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method"
)
def test_multiprocessing_fork_children_after_the_pool_was_used() -> None:
    ndgradient.gradient(np.random.default_rng(0).standard_normal((800, 800)))  # pool in use
    context = multiprocessing.get_context("fork")
    with context.Pool(3) as pool:
        results = pool.map_async(_child_gradient, range(6)).get(timeout=120)
    assert results == [True] * 6


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("case", list(_memory.CASES))
def test_peak_memory_is_the_outputs(case: str) -> None:
    ours = _memory.measure(case, "ndgradient")
    outputs = _memory.CASES[case][1]
    # Outputs (each block at most 1/16 larger: whole huge pages, src/memory.rs), plus O(axis
    # length) and allocator slack: never a temporary the input's size.
    assert ours["ratio"] < outputs * (1 + 1 / 16) + 0.1, ours


OPTIONS: list[dict[str, Any]] = [
    {},
    {"edge_order": 2},
    {"accuracy": 6},
    {"periodic": [True, False]},
]


def test_the_input_is_never_modified() -> None:
    rng = np.random.default_rng(21)
    for dtype in (np.float64, np.float32, np.float16, np.complex128, np.int32, np.uint8):
        f = (rng.standard_normal((40, 50)) * 50).astype(dtype)
        if f.dtype.kind == "c":
            f = f + 1j
        before = f.copy()
        for options in OPTIONS:
            silenced(f, 0.5, np.cumsum(rng.random(50)) + 1, **options)
        assert f.tobytes() == before.tobytes()


def _sampled_positions(n: int) -> list[int]:
    rng = np.random.default_rng(22)
    return sorted({0, 1, 2, n - 3, n - 2, n - 1, *rng.integers(3, n - 3, 200).tolist()})


@pytest.mark.slow
def test_one_dimensional_array_beyond_two_to_the_31_elements() -> None:
    n = 2**31 + 5
    f = np.empty(n, dtype=np.float16)
    f[:] = 1.0
    f[:: 2**20 + 7] = 3.0  # a pattern with differences all along the array
    ours = ndgradient.gradient(f, edge_order=2)
    for p in _sampled_positions(n):
        lo, hi = max(0, p - 2), min(n, p + 3)
        window = np.gradient(f[lo:hi], edge_order=2)  # NumPy's own value at p
        assert ours[p].tobytes() == window[p - lo].tobytes(), p


@pytest.mark.slow
def test_two_dimensional_array_with_byte_offsets_beyond_two_to_the_32() -> None:
    rows, cols = 2**17 + 3, 2**12 + 1  # 4.3 GiB of float64
    f = np.empty((rows, cols))
    f[:] = np.arange(cols, dtype=np.float64) ** 1.5
    f[::4099] += 2.0
    d0, d1 = ndgradient.gradient(f, 0.5)
    for r in _sampled_positions(rows)[::4]:
        for c in (0, 1, cols // 2, cols - 1):
            lo, hi = max(0, r - 1), min(rows, r + 2)
            assert d0[r, c] == np.gradient(f[lo:hi, c], 0.5)[r - lo], (r, c)
        assert d1[r].tobytes() == np.gradient(f[r], 0.5).tobytes(), r


_INTERRUPT = """
import os, signal, threading, time
import numpy as np, ndgradient
f = np.empty(10**9, dtype=np.float16)
f[:] = 1.0
f[::7] = 2.0
ndgradient.gradient(f[:10**6])  # the pool exists before the timed call
fired = {}
def fire():
    time.sleep(1.0)
    fired["at"] = time.perf_counter()
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=fire, daemon=True).start()
try:
    ndgradient.gradient(f)
    print("finished")
except KeyboardInterrupt:
    latency = time.perf_counter() - fired["at"]
    busy = time.process_time()
    time.sleep(0.5)
    print(f"interrupted {latency:.4f} {time.process_time() - busy:.4f}")
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to itself")
def test_ctrl_c_interrupts_a_long_call_within_a_second() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[0] == "interrupted", done.stdout
    latency, cpu_after = float(words[1]), float(words[2])
    assert latency < 1.0  # the call answered Ctrl-C
    assert cpu_after < 0.1  # and left no thread computing
