"""How fast `expedition --help` starts, against a bare Python start and the heavy imports.

    python bench/bench_startup.py [--repeat 20]

The baseline is `python -c pass`; the heavy-import line shows what `--help` avoids by importing
Polars, scikit-learn, SciPy and matplotlib only inside the commands that need them.
"""

from __future__ import annotations

import argparse
import sys

from _measure import expedition_cmd, measure, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    python = sys.executable
    baseline = measure("python -c pass (baseline)", [python, "-c", "pass"], args.repeat)
    rows = [
        baseline,
        measure("expedition --help", [*expedition_cmd(), "--help"], args.repeat),
        measure("expedition --version", [*expedition_cmd(), "--version"], args.repeat),
        measure("expedition steps (lists, loads steps)", [*expedition_cmd(), "steps"], max(3, args.repeat // 4)),
        measure(
            "import polars, sklearn, scipy, matplotlib",
            [python, "-c", "import polars, sklearn.linear_model, scipy.stats, matplotlib.pyplot"],
            max(3, args.repeat // 4),
        ),
    ]
    report("Start-up time", rows, baseline)


if __name__ == "__main__":
    main()
