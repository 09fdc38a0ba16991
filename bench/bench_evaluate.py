"""The `evaluate` step (difference-in-differences) on a 10,000-unit × 60-period panel, against the
same models fitted directly with statsmodels in the same run, with peak memory.

    python bench/bench_evaluate.py                        # 10,000 units × 60 months, 3 rounds
    python bench/bench_evaluate.py --units 2000 --repeat 1

The panel is seeded and synthetic: one row per unit and month (600,000 rows for the default),
half the units treated, a planted fall of 5 in the outcome from month 31, unit levels, a common
seasonal swing and noise; written once to Parquet. Each line runs in a fresh process, in rounds
(every command once per round, so a slow spell of the shared machine falls on all of them alike):

* ``statsmodels formula: did`` — the Parquet file read into pandas and
  ``smf.ols("y ~ treated + C(month) + treated:post")`` with errors clustered by unit: the
  difference-in-differences model as a user would write it;
* ``statsmodels: did + event study`` — the same, and the event-study model (treated × each
  month but the last before the change, month and group effects) with ``sm.OLS`` on a NumPy
  design and clustered errors, and the joint Wald test of the leads: the two models the step
  fits, with nothing else — the baseline of the ratios;
* ``evaluate step (did, dates, cluster) + publish`` — the step end to end as the runner calls
  it: the Parquet file scanned, columns checked, rows sorted (so results do not depend on row
  order), both models fitted, the groups table (rows and means per group and month), the
  checks, headlines, and the finding published through the disclosure gate with its figure
  drawn.

Target: the step within 2x of fitting the same two models directly.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _measure import measure_rounds, report  # noqa: E402

GENERATE = """
import sys
from datetime import date
import numpy as np, polars as pl
units, periods = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(2026)
unit = np.repeat(np.arange(units), periods)
t = np.tile(np.arange(periods), units)
treated = (unit % 2 == 0)
start = periods // 2
y = (rng.normal(100, 15, units)[unit] + 8 * np.sin(2 * np.pi * t / 12)
     - 5.0 * (treated & (t >= start)) + rng.normal(0, 4, len(unit)))
months = [date(2020 + m // 12, m % 12 + 1, 1) for m in range(periods)]
frame = pl.DataFrame({
    "unit": pl.Series(unit).cast(pl.String),
    "month": pl.Series([months[i] for i in range(periods)] * units),
    "treated": pl.Series(treated).cast(pl.Int8),
    "y": y,
})
frame.write_parquet(sys.argv[3])
print(months[start].isoformat()[:7])
"""

FORMULA = """
import sys
import pandas as pd
import polars as pl
import statsmodels.formula.api as smf
read = pl.read_parquet(sys.argv[1])
data = pd.DataFrame({c: read[c].to_numpy() for c in read.columns})  # (no pyarrow needed)
data["post"] = (data["month"] >= pd.Timestamp(sys.argv[2] + "-01")).astype(float)
fit = smf.ols("y ~ treated + C(month) + treated:post", data).fit(
    cov_type="cluster", cov_kwds={"groups": pd.factorize(data["unit"])[0]})
print(fit.params["treated:post"], fit.bse["treated:post"])
"""

DIRECT = FORMULA + """
import numpy as np
import statsmodels.api as sm
month = data["month"].to_numpy()
months = np.unique(month)
start = np.datetime64(sys.argv[2] + "-01")
reference = months[months < start][-1]
treated = data["treated"].to_numpy().astype(bool)
terms = [m for m in months if m != reference]
n = len(data)
X = np.column_stack([np.ones(n), *[(treated & (month == m)).astype(float) for m in terms],
                     treated.astype(float), *[(month == m).astype(float) for m in months[1:]]])
event = sm.OLS(data["y"].to_numpy(), X).fit(cov_type="cluster",
                                            cov_kwds={"groups": pd.factorize(data["unit"])[0]})
leads = [j for j, m in enumerate(terms) if m < start]
R = np.zeros((len(leads), X.shape[1]))
R[np.arange(len(leads)), [1 + j for j in leads]] = 1.0
print(event.wald_test(R, scalar=True, use_f=True).pvalue)
"""

STEP = """
import sys
import polars as pl
from expedition.steps import StepContext
from expedition.steps.evaluate import Evaluate
from expedition.testing import publish
params = Evaluate.parse_params({"method": "did", "outcome": "y", "treated": "treated", "date": "month",
                                "start": sys.argv[2], "cluster": "unit"})
finding = Evaluate().run(pl.scan_parquet(sys.argv[1]), params, StepContext(seed=42, dataset="panel"))
shown = publish(finding.with_(id="evaluate", population="panel"))
print(shown.metrics["estimate"], shown.metrics["std_error"])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--periods", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-evaluate-"))
    try:
        data = work / "panel.parquet"
        started = time.perf_counter()
        start = subprocess.run(
            [sys.executable, "-c", GENERATE, str(args.units), str(args.periods), str(data)],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        rows = args.units * args.periods
        print(f"generated {args.units:,} units × {args.periods} months ({rows:,} rows) in "
              f"{time.perf_counter() - started:.1f} s; change from {start}")
        for label, code in (("statsmodels", DIRECT), ("step", STEP)):
            out = subprocess.run([sys.executable, "-c", code, str(data), start], check=True,
                                 capture_output=True, text=True).stdout.split()
            print(f"{label:>12}: {' '.join(out)}")
        measured = measure_rounds(
            [
                ("statsmodels formula: did", [sys.executable, "-c", FORMULA, str(data), start]),
                ("statsmodels: did + event study", [sys.executable, "-c", DIRECT, str(data), start]),
                ("evaluate step (did, dates, cluster) + publish", [sys.executable, "-c", STEP, str(data), start]),
            ],
            args.repeat,
        )
        report(f"evaluate on {args.units:,} units × {args.periods} periods", measured, measured[1])
        ratio = measured[2].median / measured[1].median
        verdict = "within" if ratio <= 2.0 else "OVER"
        print(f"Target: the step within 2x of fitting the same two models with statsmodels — {verdict} ({ratio:.2f}x).")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
