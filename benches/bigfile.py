"""A file of several GiB: ``ndgradient compute`` against a plain ``cp`` of the same file.

Both read the whole input and write a file of its size (the gradient along axis 0 of a
float32 array is float32), so ``cp`` is the floor for any command that streams the file.
Each is timed until its output is on disk: ``cp`` followed by an ``fsync`` of the copy, and
``ndgradient compute``, which writes its windows back as it goes and syncs before renaming.
The two alternate, ``--repeat`` times each, and the medians are reported in GB/s of input
(10**9 bytes per second) with their ratio.

Page cache: "cold" drops it before every run (``sync; echo 3 > /proc/sys/vm/drop_caches``,
root only), so the input comes from the disk; "warm" reads it once first, so it comes from
memory and only the writing reaches the disk. ``--cache both`` (the default) measures both
where the cache can be dropped, and warm only where it cannot.

    python benches/bigfile.py [--gib 4] [--repeat 3] [--dir /tmp] [--cache both]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COLUMNS = 1024  # float32: 4 KiB rows


def write_input(path: Path, gib: float) -> int:
    """A float32 ``(rows, 1024)`` ``.npy`` of about ``gib`` GiB, written in slabs; its size."""
    rows = int(gib * 2**30) // (COLUMNS * 4)
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, COLUMNS)}
    base = np.sin(np.arange(COLUMNS, dtype=np.float32) * 0.1)
    with open(path, "wb") as fp:
        np.lib.format.write_array_header_1_0(fp, header)
        for start in range(0, rows, 1 << 14):
            r = np.arange(start, min(start + (1 << 14), rows), dtype=np.float32)[:, None]
            fp.write((base * r + (r * r) % 97).astype("<f4").tobytes())
    return path.stat().st_size


def drop_page_cache() -> bool:
    """Writes back and drops the page cache; False where that is not allowed."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def warm(path: Path) -> None:
    """Reads the file once, so that it is in the page cache."""
    with open(path, "rb") as fp:
        while fp.read(1 << 24):
            pass


def timed_cp(source: Path, target: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def timed_compute(source: Path, target: Path) -> float:
    command = [sys.executable, "-m", "ndgradient", "compute", str(source), "--axis", "0"]
    start = time.perf_counter()
    subprocess.run([*command, "-o", f"{target}/", "-q"], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0, help="input size (default 4 GiB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    parser.add_argument("--cache", choices=("cold", "warm", "both"), default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="ndgradient-bigfile-") as scratch:
        work = Path(scratch)
        source, copy, grads = work / "big.npy", work / "copy.npy", work / "grads"
        size = write_input(source, args.gib)
        conditions = ["cold", "warm"] if args.cache == "both" else [args.cache]
        if "cold" in conditions and not drop_page_cache():
            print("cannot drop the page cache here (not root?): warm only", file=sys.stderr)
            conditions = ["warm"]
        print(f"input: {source.name}, {size / 2**30:.2f} GiB float32, in {work}")
        print(f"{shutil.disk_usage(work).free / 2**30:.0f} GiB free there, {os.cpu_count()} CPUs")
        print()
        print("| page cache | cp + fsync | ndgradient compute --axis 0 | ndgradient / cp |")
        print("|---|---|---|---|")
        for condition in conditions:
            times: dict[str, list[float]] = {"cp": [], "ndgradient": []}
            for _ in range(args.repeat):
                for name, run, target in (
                    ("cp", timed_cp, copy),
                    ("ndgradient", timed_compute, grads),
                ):
                    if condition == "cold":
                        drop_page_cache()
                    else:
                        warm(source)
                    times[name].append(run(source, target))
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
                    os.sync()
            cp_rate = size / statistics.median(times["cp"]) / 1e9
            ours_rate = size / statistics.median(times["ndgradient"]) / 1e9
            print(
                f"| {condition} | {cp_rate:.2f} GB/s | {ours_rate:.2f} GB/s | "
                f"{ours_rate / cp_rate:.2f} |"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
