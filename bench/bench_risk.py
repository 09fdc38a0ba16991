"""The `risk` step on 100k and 1M synthetic referrals with text, against a same-run baseline.

    python bench/bench_risk.py [--sizes 100000 1000000] [--repeat 1]

For each size the referrals are generated once (with `expedition.examples.referrals.generate`,
in a child process) and written to Parquet. Then, each in a fresh process:

* baseline: read the Parquet file and fit a plain logistic regression on two numeric columns —
  the floor any model on this data pays;
* risk: read the same file and run the full `risk` step as the example expedition configures it
  (temporal split with a 365-day gap, leakage check, redaction and TF-IDF text, logistic
  regression with its penalty chosen on a validation slice, gradient boosting, a simple rule and
  the prevalence baseline, 200 bootstrap resamples, calibration, tiers, fairness), then publish
  it as the runner does (the disclosure gate over every table, sentence and metric, the charts
  drawn from the gated tables and the model card written).

It prints the median time, the ratio to the baseline and the peak memory of each, the risk
step's own stage timings, and whether the 100k run is within the two-minute target.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import measure, report

GENERATE = """
import sys
from expedition.examples.referrals import generate
generate(int(sys.argv[1]), seed=2026).write_parquet(sys.argv[2])
"""

BASELINE = """
import sys, polars as pl
from sklearn.linear_model import LogisticRegression
data = pl.read_parquet(sys.argv[1])
x = data.select("age", "prior_referrals").to_numpy()
y = (data["rereferred_12m"] == "yes").to_numpy()
LogisticRegression(max_iter=1000).fit(x, y)
"""

RISK = """
import json, sys, time
import polars as pl
from expedition.steps import StepContext
from expedition.steps.risk import Risk
started = time.perf_counter()
stages = []
def progress(fraction, message):
    stages.append([round(time.perf_counter() - started, 2), message])
data = pl.scan_parquet(sys.argv[1])
params = Risk.parse_params({
    "outcome": "rereferred_12m", "outcome_value": "yes", "date": "closure_date",
    "outcome_window_days": 365, "id_column": "referral_id",
    "features": ["district", "referral_source", "age", "prior_referrals", "closure_reason",
                 "contacts_after_closure"],
    "text": ["referral_note"], "protected": ["sex", "ethnicity", "disability"],
    "rule": "prior_referrals > 0",
})
finding = Risk().run(data, params, StepContext(seed=42, dataset="referrals", progress=progress))
stages.append([round(time.perf_counter() - started, 2), "step finished"])
# what the runner does next: the disclosure gate, the charts drawn and the model card written
from expedition.testing import publish
shown = publish(finding.with_(id="risk", population="referrals"))
stages.append([round(time.perf_counter() - started, 2), "published (gated, drawn, model card)"])
with open(sys.argv[2], "w") as handle:
    json.dump({"stages": stages, "metrics": shown.metrics}, handle)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-risk-"))
    try:
        for rows in args.sizes:
            started = time.perf_counter()
            data = work / f"referrals-{rows}.parquet"
            # in a child process, so this process stays small: a forked child's peak memory
            # counts what it inherited before exec
            subprocess.run([sys.executable, "-c", GENERATE, str(rows), str(data)], check=True)
            print(f"\ngenerated {rows:,} referrals in {time.perf_counter() - started:.1f} s")
            out = work / f"risk-{rows}.json"
            baseline = measure(
                f"read + plain logistic regression ({rows:,})",
                [sys.executable, "-c", BASELINE, str(data)],
                args.repeat,
            )
            risk = measure(
                f"risk step, full ({rows:,})",
                [sys.executable, "-c", RISK, str(data), str(out)],
                args.repeat,
            )
            report(f"risk step on {rows:,} referrals with text", [baseline, risk], baseline)
            result = json.loads(out.read_text())
            print("stages of the last run (seconds from the start of the step):")
            for seconds, message in result["stages"]:
                print(f"  {seconds:>8.2f}  {message}")
            m = result["metrics"]
            print(
                f"held-out AUC {m['auc']:.3f} ({m['auc_low']:.3f}–{m['auc_high']:.3f}), rule "
                f"{m['rule_auc']:.3f}, calibration slope {m.get('calibration_slope', float('nan')):.2f}, "
                f"train {m['train_records']:,.0f} / test {m['test_records']:,.0f} records"
            )
            if rows == 100_000:
                limit = 120.0
                verdict = "within" if risk.median < limit else "OVER"
                print(f"Target: the full risk step on 100k rows under {limit:.0f} s — {verdict} ({risk.median:.1f} s).")
            data.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
