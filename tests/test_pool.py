"""The output pool: NumPy's memory handler around ndgradient's own outputs (NEP 49).

Every path of the handler (malloc, calloc, realloc, free, frees of pooled blocks, frees after
a release, frees on other threads), that no other array ever uses it, and its safety with
threads, ``fork()``, ``unpatch_numpy`` and interpreter exit. Subprocess tests cover what one
process can only see once: the environment variable and resident memory.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import pickle
import queue
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import ndgradient
import numpy as np
import pytest
from ndgradient import _core
from numpy._core.multiarray import get_handler_name

OURS = _core.POOL_HANDLER_NAME
# 4 MiB of float64 is the smallest pooled output; these are comfortably above it.
SHAPE = (1024, 1024)  # 8 MiB per output
OTHER_SHAPE = (1536, 1024)  # 12 MiB per output


@pytest.fixture(autouse=True)
def empty_pool() -> Iterator[None]:
    """Each test starts and ends with nothing kept (earlier tests' outputs are gone)."""
    gc.collect()
    ndgradient.release_memory()
    yield
    gc.collect()
    ndgradient.release_memory()


def pooled_bytes() -> int:
    return int(_core.pool_stats()["pooled_bytes"])


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter with ``env`` added; fails on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return done


def test_outputs_are_ordinary_arrays_from_the_pool() -> None:
    f = np.random.default_rng(0).standard_normal(SHAPE)
    ours, theirs = ndgradient.gradient(f), np.gradient(f)
    for out, expected in zip(ours, theirs, strict=True):
        assert get_handler_name(out) == OURS
        assert get_handler_name(expected) == "default_allocator"
        assert out.base is None
        assert out.flags.owndata and out.flags.writeable and out.flags.aligned
        assert out.strides == expected.strides and out.dtype == expected.dtype
        assert out.ctypes.data % 64 == 0
        np.testing.assert_array_equal(out, expected, strict=True)
    assert get_handler_name() == "default_allocator"  # restored after the allocation
    assert get_handler_name(f) == "default_allocator"


def test_small_outputs_and_subclasses_are_numpys() -> None:
    small = ndgradient.gradient(np.ones(1000))
    assert get_handler_name(small) == "default_allocator"
    matrix = np.ones(SHAPE).view(np.recarray)
    assert get_handler_name(ndgradient.gradient(matrix, axis=0)) == "default_allocator"
    ints = ndgradient.gradient(np.ones(SHAPE, dtype=np.int16), axis=0)  # float64 outputs
    assert get_handler_name(ints) == OURS


def test_the_handler_is_current_only_inside_and_restored_on_error() -> None:
    assert _core.with_output_pool(get_handler_name) == OURS
    assert get_handler_name() == "default_allocator"

    def fail() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        _core.with_output_pool(fail)
    assert get_handler_name() == "default_allocator"
    with pytest.raises(TypeError):
        _core.with_output_pool(np.empty_like)  # missing argument
    assert get_handler_name() == "default_allocator"


def test_other_threads_never_see_the_handler() -> None:
    inside, done = threading.Event(), threading.Event()
    seen: list[str | None] = []

    def other() -> None:
        inside.wait(10)
        seen.append(get_handler_name(np.empty(SHAPE)))
        seen.append(get_handler_name())
        done.set()

    def allocate_while_the_other_thread_allocates() -> np.ndarray:
        inside.set()
        done.wait(10)
        return np.empty(SHAPE)

    thread = threading.Thread(target=other)
    thread.start()
    mine = _core.with_output_pool(allocate_while_the_other_thread_allocates)
    thread.join()
    assert seen == ["default_allocator", "default_allocator"]
    assert get_handler_name(mine) == OURS


def test_freed_outputs_are_reused_by_the_next_call() -> None:
    f = np.ones(SHAPE)
    first = ndgradient.gradient(f)
    addresses = {out.ctypes.data for out in first}
    assert pooled_bytes() == 0
    del first
    assert pooled_bytes() >= 2 * f.nbytes
    assert _core.pool_stats()["blocks"] == 2
    second = ndgradient.gradient(f)
    assert {out.ctypes.data for out in second} == addresses
    assert pooled_bytes() == 0


@pytest.mark.parametrize(
    ("elements", "data_bytes"),
    [
        (1_000_000, 4 * 2**21),  # 8 MB: a fourth huge page adds 4.9%, so it is whole
        (1_048_576, 4 * 2**21),  # exactly 8 MiB: the header's page is not a huge page
        (600_000, 4_800_512),  # 4.8 MB: rounding up would add 31%, so pages only
        (10_000_001, 39 * 2**21),  # 80 MB + 8: a whole 39th huge page adds 2.2%
    ],
)
def test_large_blocks_are_one_header_page_and_data_on_huge_pages(
    elements: int, data_bytes: int
) -> None:
    """A large block is one page for the header, then its data from a huge-page boundary,
    rounded up to whole huge pages where that adds at most 1/16 (no partial huge page of
    small pages to fault one by one), else to whole pages."""
    out = ndgradient.gradient(np.ones(elements))
    assert get_handler_name(out) == OURS
    assert out.ctypes.data % 2**21 == 0
    del out
    assert pooled_bytes() == os.sysconf("SC_PAGESIZE") + data_bytes


def test_arrays_numpy_allocates_never_enter_the_pool() -> None:
    ndgradient.gradient(np.ones(SHAPE))
    kept = pooled_bytes()
    foreign = np.ones(SHAPE)
    assert get_handler_name(foreign) == "default_allocator"
    del foreign
    assert pooled_bytes() == kept
    # An out= array is the caller's: the pool neither fills nor takes it.
    out = np.empty(SHAPE)
    ndgradient.gradient(np.ones(SHAPE), axis=0, out=out)
    assert get_handler_name(out) == "default_allocator" and pooled_bytes() == kept


def test_calloc_serves_pooled_blocks_zeroed() -> None:
    dirty = ndgradient.gradient(np.arange(float(np.prod(SHAPE))).reshape(SHAPE), axis=1)
    dirty[...] = 1.0
    address = dirty.ctypes.data
    del dirty
    zeros = _core.with_output_pool(np.zeros, SHAPE)
    assert zeros.ctypes.data == address  # the pooled, dirty block ...
    assert not zeros.any()  # ... zeroed
    fresh = _core.with_output_pool(np.zeros, SHAPE)  # nothing kept: fresh zero pages
    assert fresh.ctypes.data != address and not fresh.any()
    small = _core.with_output_pool(np.zeros, 100)  # the system allocator's calloc
    assert get_handler_name(small) == OURS and not small.any()


def test_realloc_keeps_the_data_across_sizes() -> None:
    out = ndgradient.gradient(np.ones(SHAPE), axis=0)
    out[...] = np.arange(out.size).reshape(SHAPE)
    expected = out.ravel().copy()
    for size in [out.size + 1, 2 * out.size, 1000, 10, 3 * out.size]:
        kept = min(size, expected.size, out.size)
        out.resize((size,), refcheck=False)
        assert get_handler_name(out) == OURS
        np.testing.assert_array_equal(out[:kept], expected[:kept])
        expected = out.copy()
    grown = _core.with_output_pool(np.empty, 1)
    grown.resize((SHAPE[0] * SHAPE[1],), refcheck=False)  # small to large
    grown[...] = 2.0
    assert grown.sum() == 2.0 * grown.size


def test_frees_after_a_release_and_on_other_threads() -> None:
    held = list(ndgradient.gradient(np.ones(SHAPE)))
    assert ndgradient.release_memory() == 0  # held outputs are not the pool's
    del held[0]
    assert pooled_bytes() > 0
    released = pooled_bytes()
    assert ndgradient.release_memory() == released and pooled_bytes() == 0
    del held  # freed after the release: kept again
    assert pooled_bytes() == released
    handover: queue.Queue[object] = queue.Queue()
    handover.put(ndgradient.gradient(np.ones(OTHER_SHAPE)))
    before = pooled_bytes()

    def free_it() -> None:
        handover.get()  # the last reference goes with this frame

    thread = threading.Thread(target=free_it)
    thread.start()
    thread.join()
    assert pooled_bytes() > before


def test_the_automatic_cap_follows_the_latest_call() -> None:
    ndgradient.gradient(np.ones(OTHER_SHAPE))
    large = pooled_bytes()
    assert _core.pool_stats()["cap_bytes"] == large
    small = ndgradient.gradient(np.ones(SHAPE), axis=0)  # a smaller call trims the rest
    assert pooled_bytes() <= int(_core.pool_stats()["cap_bytes"]) < large
    del small
    assert 0 < pooled_bytes() <= int(_core.pool_stats()["cap_bytes"])


def test_a_loop_of_a_new_size_is_served_whole() -> None:
    # The blocks of an earlier size go when a call of a new size is made, so that all of its
    # outputs are kept when they are freed, and the next call takes every one of them.
    for first, then in ((OTHER_SHAPE, SHAPE), (SHAPE, OTHER_SHAPE)):
        ndgradient.gradient(np.ones(first))
        assert pooled_bytes() > 0
        for _ in range(3):
            outs = ndgradient.gradient(np.ones(then))
            addresses = sorted(o.ctypes.data for o in outs)
            del outs
            stats = _core.pool_stats()
            assert stats["blocks"] == 2
            assert stats["pooled_bytes"] == stats["cap_bytes"] > 0
        again = ndgradient.gradient(np.ones(then))
        assert sorted(o.ctypes.data for o in again) == addresses
        assert pooled_bytes() == 0
        del again


def test_threads_hammering_the_pool() -> None:
    shapes = [SHAPE, OTHER_SHAPE, (600, 2048)]
    inputs = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)]
    expected = [np.gradient(f) for f in inputs]
    failures: list[str] = []
    start = threading.Barrier(8)

    def work(index: int) -> None:
        start.wait()
        for i in range(8):
            which = (index + i) % len(inputs)
            got = ndgradient.gradient(inputs[which], workers=1)
            if not all(np.array_equal(g, e) for g, e in zip(got, expected[which], strict=True)):
                failures.append(f"thread {index}, iteration {i}")
            if i % 7 == index % 7:
                ndgradient.release_memory()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert pooled_bytes() <= 16 * max(f.nbytes for f in inputs) + (1 << 22) * 16


def _child_gradient(queue_: multiprocessing.Queue[bool]) -> None:
    f = np.ones(SHAPE)
    outs = ndgradient.gradient(f)
    ok = get_handler_name(outs[0]) == OURS and all(not o.any() for o in outs)
    del outs
    queue_.put(ok and ndgradient.release_memory() > 0)


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method"
)
def test_multiprocessing_fork_children_with_pooled_and_live_outputs() -> None:
    live = ndgradient.gradient(np.ones(SHAPE))  # inherited, freed at the child's exit
    ndgradient.gradient(np.ones(SHAPE), axis=0)  # a kept block, inherited
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[bool] = context.Queue()
    children = [context.Process(target=_child_gradient, args=(results,)) for _ in range(3)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(60)
    assert outcomes == [True] * 3
    assert [child.exitcode for child in children] == [0] * 3
    assert get_handler_name(live[0]) == OURS


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
def test_os_fork_while_another_thread_allocates() -> None:
    done = run_python(
        """
        import os, signal, threading, warnings
        import numpy as np, ndgradient
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        f = np.ones((1024, 1024))
        ndgradient.gradient(f)  # one-time initialisations before any thread starts
        stop = threading.Event()
        def hammer():
            while not stop.is_set():
                ndgradient.gradient(f, workers=1)
                ndgradient.release_memory()
        thread = threading.Thread(target=hammer)
        thread.start()
        codes = []
        for _ in range(10):
            pid = os.fork()
            if pid == 0:
                signal.alarm(30)  # a hang in the child fails instead of blocking
                outs = ndgradient.gradient(f)
                ok = all(not o.any() for o in outs)
                del outs
                ndgradient.gradient(f)
                ndgradient.release_memory()
                os._exit(0 if ok else 1)
            codes.append(os.waitpid(pid, 0)[1])
        stop.set()
        thread.join()
        print(codes)
        """
    )
    assert done.stdout.strip() == str([0] * 10)


def test_arrays_outlive_unpatch_numpy() -> None:
    ndgradient.patch_numpy()
    try:
        outs = np.gradient(np.ones(SHAPE))
    finally:
        ndgradient.unpatch_numpy()
    assert np.gradient is not ndgradient.gradient
    assert get_handler_name(outs[0]) == OURS
    del outs
    assert pooled_bytes() > 0


def test_interpreter_exit_with_live_and_pooled_outputs() -> None:
    done = run_python(
        """
        import atexit, numpy as np, ndgradient
        f = np.ones((1024, 1024))
        kept = ndgradient.gradient(f)  # a global, freed during finalization
        cycle = [ndgradient.gradient(f, axis=0)]
        cycle.append(cycle)  # freed by the last collections, if at all
        ndgradient.gradient(f, axis=1)  # a kept block at exit
        atexit.register(ndgradient.release_memory)  # runs before the globals go
        import ndgradient._core as core
        class Late:
            def __del__(self):
                self.out = None  # an output freed after atexit
        late = Late()
        late.out = ndgradient.gradient(f, axis=0)
        print("ok")
        """
    )
    assert done.stdout.strip() == "ok" and done.stderr == ""


def test_pickling_pooled_outputs() -> None:
    out = ndgradient.gradient(np.random.default_rng(1).standard_normal(SHAPE), axis=0)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(out, protocol=protocol))
        np.testing.assert_array_equal(back, out, strict=True)
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(out, protocol=5, buffer_callback=buffers.append)
    back = pickle.loads(data, buffers=buffers)
    np.testing.assert_array_equal(back, out, strict=True)


def test_the_environment_variable_turns_the_pool_off_or_caps_it() -> None:
    probe = """
        import json, numpy as np, ndgradient
        from ndgradient import _core
        from numpy._core.multiarray import get_handler_name
        outs = ndgradient.gradient(np.ones((1024, 1024)))
        names = [get_handler_name(o) for o in outs]
        del outs
        print(json.dumps({"names": names, **_core.pool_stats()}))
    """
    off = json.loads(run_python(probe, NDGRADIENT_POOL_BYTES="0").stdout)
    assert off["names"] == ["default_allocator"] * 2
    assert (off["enabled"], off["pooled_bytes"], off["blocks"]) == (False, 0, 0)
    one_block = 8 * 2**20 + 4096  # one 8 MiB output's block (its header's page too), not two
    capped = json.loads(run_python(probe, NDGRADIENT_POOL_BYTES=str(one_block)).stdout)
    assert capped["names"] == [OURS] * 2
    assert (capped["cap_bytes"], capped["pooled_bytes"], capped["blocks"]) == (
        one_block,
        one_block,
        1,
    )
    auto = json.loads(run_python(probe, NDGRADIENT_POOL_BYTES="lots").stdout)
    assert (auto["enabled"], auto["blocks"]) == (True, 2)


_RSS_LOOP = """
import json, numpy as np, ndgradient
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError
small, large = np.ones((1024, 2048)), np.ones((2048, 2048))
ndgradient.gradient(np.ones(16))
before = rss()
peaks = []
for i in range(40):
    f = large if i % 3 == 0 else small  # alternating sizes: the cap follows the latest call
    outs = ndgradient.gradient(f)
    outs[0][...] = 1.0; outs[1][...] = 1.0  # every page resident
    del outs
    peaks.append(rss() - before)
print(json.dumps({"peak": max(peaks), "large": large.nbytes}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_resident_memory_stays_bounded_in_a_loop_that_drops_its_results() -> None:
    figures = json.loads(run_python(_RSS_LOOP).stdout)
    # Between calls only what the pool keeps stays: at most the latest call's two outputs
    # (and their headers' pages), never a growing pile of both sizes.
    assert figures["peak"] <= 2 * figures["large"] + 16 * 2**20, figures
