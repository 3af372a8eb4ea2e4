"""Peak memory of one call, ndgradient against numpy.gradient: ``python benches/memory.py``.

Linux only (it reads /proc). Each case runs in its own process; see ndgradient._memory.
"""

from ndgradient._memory import main

if __name__ == "__main__":
    raise SystemExit(main())
