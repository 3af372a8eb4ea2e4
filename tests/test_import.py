"""Importing ndgradient is light: no optional integration or plotting library comes with it."""

import subprocess
import sys

HEAVY = ("dask", "distributed", "xarray", "pandas", "matplotlib", "torch", "jax", "hypothesis")


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import sys, ndgradient; ndgradient.gradient([1.0, 2.0, 4.0]);"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
