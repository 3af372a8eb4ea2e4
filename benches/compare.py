"""Benchmark ndgradient against numpy.gradient: ``python benches/compare.py [options]``.

The same as ``ndgradient bench``; ``--help`` lists the options. Example, the README's table:

    python benches/compare.py --json benches/results.json --png benches/results.png
"""

import sys

from ndgradient._cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
