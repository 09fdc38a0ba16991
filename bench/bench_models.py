"""Storing and reading a fitted risk model with skops, against the pickle (joblib) it replaced.

    python bench/bench_models.py [--rows 20000] [--repeat 5]

A `risk` step is fitted once (logistic regression and gradient boosting, with text) on synthetic
referrals, in a child process that writes each model both ways. Then, each in a fresh process and
in rounds (so a slow spell of the shared machine falls on every command alike):

* baseline: start Python and import what reading either file needs (scikit-learn, skops);
* joblib.load of the model, as expedition read models before;
* `expedition._artifacts.load`: skops' type audit, the load with the trusted list, and the check
  of a boosting model's trees — what `expedition score` and `load_finding` now do;
* joblib.dump and skops dump of the loaded model.

It prints the median time, the ratio to the baseline and the peak memory of each, the median
time of the read alone in one warm process (where a busy machine's noise in starting Python and
importing does not drown it), and the size of each file. Reading a model happens once per `expedition score`; compare its cost with the scoring
itself (bench_risk.py) rather than in isolation.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import measure_rounds, report

FIT = """
import sys
from pathlib import Path
import joblib, polars as pl
from expedition import _artifacts
from expedition.examples.referrals import generate
from expedition.steps import StepContext
from expedition.steps.risk import Risk
rows, out = int(sys.argv[1]), Path(sys.argv[2])
frame = generate(rows, seed=2026).lazy()
for kind in ("logistic", "boosting"):
    params = Risk.parse_params({
        "outcome": "rereferred_12m", "outcome_value": "yes", "date": "closure_date",
        "id_column": "referral_id", "text": ["referral_note"], "protected": ["sex"],
        "features": ["district", "referral_source", "age", "prior_referrals", "closure_reason"],
        "models": [kind], "bootstrap": 20,
    })
    model = Risk().run(frame, params, StepContext(seed=42, dataset="referrals")).artifacts["model"]
    joblib.dump(model, out / f"{kind}.joblib")
    _artifacts.dump(model, out / f"{kind}.skops")
"""

INPROCESS = """
import statistics, sys, time
import joblib
from expedition import _artifacts
pickled, skops, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
joblib.load(pickled), _artifacts.load(skops)  # warm: imports and file cache
for label, read in (("joblib.load", lambda: joblib.load(pickled)), ("_artifacts.load", lambda: _artifacts.load(skops))):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    print(f"  {label:<16} median {statistics.median(times) * 1000:8.1f} ms over {repeat} reads")
"""

IMPORTS = "import sklearn.pipeline, sklearn.linear_model, sklearn.ensemble, skops.io, joblib, expedition.steps._models"
JOBLIB_LOAD = IMPORTS + "\nimport sys; joblib.load(sys.argv[1])"
SKOPS_LOAD = IMPORTS + "\nimport sys; from expedition import _artifacts; _artifacts.load(sys.argv[1])"
JOBLIB_DUMP = IMPORTS + "\nimport sys; joblib.dump(joblib.load(sys.argv[1]), sys.argv[2])"
SKOPS_DUMP = IMPORTS + (
    "\nimport sys; from expedition import _artifacts; _artifacts.dump(joblib.load(sys.argv[1]), sys.argv[2])"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-models-"))
    try:
        subprocess.run([sys.executable, "-c", FIT, str(args.rows), str(work)], check=True)
        for kind in ("logistic", "boosting"):
            pickled, skops = work / f"{kind}.joblib", work / f"{kind}.skops"
            py = sys.executable
            results = measure_rounds(
                [
                    ("start Python + imports (baseline)", [py, "-c", IMPORTS]),
                    ("joblib.load (before)", [py, "-c", JOBLIB_LOAD, str(pickled)]),
                    ("_artifacts.load: skops + checks (now)", [py, "-c", SKOPS_LOAD, str(skops)]),
                    ("joblib.dump (before; includes a joblib.load)", [py, "-c", JOBLIB_DUMP, str(pickled), str(work / "x.joblib")]),
                    ("skops dump (now; includes a joblib.load)", [py, "-c", SKOPS_DUMP, str(pickled), str(work / "x.skops")]),
                ],
                repeat=args.repeat,
            )
            report(f"{kind} risk model fitted on {args.rows:,} referrals with text", results, results[0])
            print("reading alone, in one warm process (imports and file cache excluded):")
            subprocess.run([sys.executable, "-c", INPROCESS, str(pickled), str(skops), "20"], check=True)
            print(f"file size: joblib {pickled.stat().st_size / 2**20:.2f} MiB, "
                  f"skops {skops.stat().st_size / 2**20:.2f} MiB "
                  f"({skops.stat().st_size / pickled.stat().st_size:.2f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
