"""Peak memory of one gradient call, measured as resident memory (Linux only).

Each case runs in a fresh Python process: it builds the input, touches it, resets the kernel's
peak-RSS counter (``/proc/self/clear_refs``), makes one call and reads the peak back
(``VmHWM``). The growth over the resident size before the call is the call's peak memory: its
outputs plus whatever temporaries it made.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

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

_PROBE = """
import json, sys, numpy as np, ndgradient
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
before = rss("VmRSS:")
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # the peak restarts from the current resident size
result = call(f, *args)
peak = rss("VmHWM:")
print(json.dumps({{"input": f.nbytes, "growth": peak - before}}))
"""


def measure(case: str, which: str) -> dict[str, float]:
    """Peak memory growth of one call, in bytes and as a multiple of the input's size."""
    build, _ = CASES[case]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(build=build), which],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(done.stdout)
    return {**figures, "ratio": figures["growth"] / figures["input"]}


def main() -> int:
    """Prints a Markdown table: ndgradient's and NumPy's peak memory per case."""
    rows: list[dict[str, Any]] = []
    print("| case | outputs | ndgradient peak | numpy.gradient peak |")
    print("|---|---|---|---|")
    for case, (_, outputs) in CASES.items():
        ours, theirs = measure(case, "ndgradient"), measure(case, "numpy")
        rows.append({"case": case, "ndgradient": ours, "numpy": theirs})
        print(f"| {case} | {outputs:.1f}x | {ours['ratio']:.2f}x | {theirs['ratio']:.2f}x |")
    print("\nPeak resident memory growth of one call, as a multiple of the input's size.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
