"""`expedition demo` end to end (scaffold, add data, run every step, pack), with peak memory.

    python bench/bench_demo.py [--repeat 3] [--rows 5000]

The baseline is the floor any run pays: starting Python and importing the libraries the demo
uses (Polars, scikit-learn, SciPy, statsmodels, matplotlib). Each repeat builds a new demo
expedition in a fresh temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _measure import expedition_cmd, measure, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=5_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    target = work / "expedition-demo"

    def fresh() -> None:
        shutil.rmtree(target, ignore_errors=True)

    try:
        baseline = measure(
            "import libraries (baseline)",
            [sys.executable, "-c",
             "import polars, sklearn.linear_model, scipy.stats, statsmodels.api, matplotlib.pyplot"],
            args.repeat,
        )
        demo = measure(
            f"expedition demo ({args.rows:,} rows)",
            [*expedition_cmd(), "demo", str(target), "--rows", str(args.rows), "-q"],
            args.repeat,
            setup=fresh,
        )
        rerun = measure(
            "expedition demo again (reuses the project)",
            [*expedition_cmd(), "demo", str(target), "--rows", str(args.rows), "-q"],
            args.repeat,
        )
        report("expedition demo", [baseline, demo, rerun], baseline)
        limit = 60.0
        verdict = "within" if demo.median < limit else "OVER"
        print(f"\nTarget: under {limit:.0f} s on this machine — {verdict} ({demo.median:.1f} s).")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
