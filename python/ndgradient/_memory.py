"""Memory: a call's peak (Linux only), what an output pool holds, and fresh pages for timing.

Each peak-memory case runs in a fresh Python process: it builds the input, touches it, resets
the kernel's peak-RSS counter (``/proc/self/clear_refs``), makes one call and reads the peak
back (``VmHWM``). The growth over the resident size before the call is the call's peak memory:
its outputs plus whatever temporaries it made. What an output pool keeps is reported
separately, after the call and after its outputs are dropped, from the pool's own figures where
ndgradient exposes them; the resident growth left once the outputs are dropped and the C heap
is trimmed is measured for both libraries: what a pool keeps, without needing its API.

The helpers that find the pool look it up by name, so they work with ndgradient builds that
have no pool (nothing is held, nothing to release) and with builds that have one.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "CASES",
    "POOL_BYTES_VARIABLE",
    "fresh_memory",
    "main",
    "measure",
    "pool_held_bytes",
    "release_pool",
    "trim_heap",
]

# The environment variable that caps the output pool (0 turns it off), in builds that have one.
POOL_BYTES_VARIABLE = "NDGRADIENT_POOL_BYTES"

# name -> (statement building ``f`` and the spacing ``args``, output bytes per input byte)
CASES: dict[str, tuple[str, float]] = {
    "float64 2-D": ("f = rng.standard_normal((3000, 3000)); args = ()", 2.0),
    "float32 2-D": ("f = rng.standard_normal((3000, 3000)).astype(np.float32); args = ()", 2.0),
    "int16 2-D": (
        "f = rng.integers(-999, 999, (3000, 3000)).astype(np.int16); args = ()",
        8.0,  # two float64 outputs per int16 input
    ),
    "coordinates 1-D": (
        "f = rng.standard_normal(9_000_000); args = (np.cumsum(rng.random(f.size)),)",
        1.0,
    ),
}

# Where a pool's figures may be read, most public first: a pool merged later may expose them
# under any of these names, and the harness must not depend on which.
_POOL_STATS_FUNCTIONS = ("memory_info", "pool_stats")
_POOL_HELD_KEYS = ("pooled_bytes", "pool_bytes", "held_bytes")


def _package() -> Any:
    import ndgradient  # the package, imported here: this module is part of it

    return ndgradient


def release_pool() -> int | None:
    """Empty ndgradient's output pool, if this build has one.

    Returns
    -------
    int or None
        The bytes the pool returned to the operating system, or None without a pool.
    """
    release = getattr(_package(), "release_memory", None)
    if release is None:
        return None
    returned = release()
    return int(returned) if isinstance(returned, int) else 0


def pool_held_bytes() -> int | None:
    """What ndgradient's output pool holds now.

    Returns
    -------
    int or None
        The pool's bytes as the pool reports them; 0 for a build without a pool; None when a
        pool exists (``release_memory`` is there) but reports no figure this code can read.
    """
    package = _package()
    for owner in (package, getattr(package, "_core", None)):
        for name in _POOL_STATS_FUNCTIONS:
            stats = getattr(owner, name, None)
            if stats is None:
                continue
            figures = stats()
            if isinstance(figures, int):
                return figures
            for key in _POOL_HELD_KEYS:
                if isinstance(figures, dict) and key in figures:
                    return int(figures[key])
    return None if hasattr(package, "release_memory") else 0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None elsewhere (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    return trim


def trim_heap() -> bool:
    """Hand the C heap's free pages back to the operating system (glibc's ``malloc_trim``).

    Returns
    -------
    bool
        False where there is no ``malloc_trim`` (nothing was done).
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def fresh_memory() -> str:
    """Make the next allocation take new pages: what a "cold" call is timed after.

    Collects garbage, empties ndgradient's output pool if there is one, and hands the free
    pages of the C heap back to the operating system (glibc's ``malloc_trim``): arrays under
    glibc's mmap threshold (32 MiB at most) are otherwise served from freed, already faulted
    heap memory, and would not be fresh.

    Returns
    -------
    str
        How fresh the memory is, for the report: ``"malloc_trim"`` when the heap was trimmed,
        ``"gc"`` when only garbage collection and the pool release were possible.
    """
    gc.collect()
    release_pool()
    return "malloc_trim" if trim_heap() else "gc"


_PROBE = """
import gc, json, sys, numpy as np, ndgradient
from ndgradient._memory import pool_held_bytes, trim_heap
rng = np.random.default_rng(0)
{build}
which = sys.argv[1]
call = ndgradient.gradient if which == "ndgradient" else np.gradient

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)

call(np.ones(16))  # imports and one-time set-up outside the measurement
trim_heap()  # the set-up's freed heap neither serves the call nor shows up as freed after it
before = rss("VmRSS:")
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # the peak restarts from the current resident size
result = call(f, *args)
peak = rss("VmHWM:")
pool_after_call = pool_held_bytes()
del result
gc.collect()
trim_heap()  # what glibc keeps of freed blocks is not the pool's: only a pool stays resident
print(json.dumps({{
    "input": f.nbytes,
    "growth": peak - before,
    "kept": rss("VmRSS:") - before,
    "pool_after_call": pool_after_call,
    "pool_after_del": pool_held_bytes(),
}}))
"""


def measure(case: str, which: str) -> dict[str, Any]:
    """Memory of one call in a fresh process, in bytes and as multiples of the input's size.

    Parameters
    ----------
    case : str
        A key of `CASES`.
    which : {"ndgradient", "numpy"}
        Whose gradient is called.

    Returns
    -------
    dict
        ``input`` (bytes), ``growth`` (peak resident growth during the call) and ``ratio``
        (growth over input); ``kept`` and ``kept_ratio``, the resident growth left once the
        outputs are dropped and the C heap is trimmed; ``pool_after_call`` and
        ``pool_after_del``, what ndgradient's pool reports holding (0 without a pool, None
        when unreadable).
    """
    build, _ = CASES[case]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(build=build), which],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    return {
        **figures,
        "ratio": figures["growth"] / figures["input"],
        "kept_ratio": figures["kept"] / figures["input"],
    }


def _ratio_text(held: int | None, size: int) -> str:
    return "n/a" if held is None else f"{held / size:.2f}x"


def main() -> int:
    """Print a Markdown table: peak memory per case, and what stays after the outputs go."""
    setting = os.environ.get(POOL_BYTES_VARIABLE)
    print(
        "| case | outputs | ndgradient peak | numpy.gradient peak | pool after the call "
        "| pool after del | kept after del: ndgradient | numpy.gradient |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case, (_, outputs) in CASES.items():
        ours, theirs = measure(case, "ndgradient"), measure(case, "numpy")
        size = ours["input"]
        cells = [
            case,
            f"{outputs:.1f}x",
            f"{ours['ratio']:.2f}x",
            f"{theirs['ratio']:.2f}x",
            _ratio_text(ours["pool_after_call"], size),
            _ratio_text(ours["pool_after_del"], size),
            f"{ours['kept_ratio']:.2f}x",
            f"{theirs['kept_ratio']:.2f}x",
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        "\nMultiples of the input's size, each case in a fresh process. Peak: resident memory "
        "growth during one call (its outputs and any temporaries). Pool: what ndgradient's "
        "output pool reports holding while the outputs are alive and after they are dropped "
        "(0.00x without a pool, n/a if the pool reports no figure). Kept after del: resident "
        "growth left once the outputs are dropped and the C heap trimmed (malloc_trim), what "
        f"a pool keeps, whatever it reports. {POOL_BYTES_VARIABLE}="
        f"{setting if setting is not None else '(unset)'}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
