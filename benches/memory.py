"""Peak memory of one call, ndgradient against numpy.gradient, and what stays after it:
``python benches/memory.py``.

Linux only (it reads /proc). Each case runs in its own process; the table gives each call's
peak (its outputs), what ndgradient's output pool reports holding after the call and after
its outputs are dropped, and the resident memory either library keeps once they are dropped.
``NDGRADIENT_POOL_BYTES=0 python benches/memory.py`` gives the same table without the pool.
See ndgradient._memory.
"""

from ndgradient._memory import main

if __name__ == "__main__":
    raise SystemExit(main())
