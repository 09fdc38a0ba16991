"""Each analysis step on 100k and 1M rows of the synthetic referrals, with peak memory.

    python bench/bench_steps.py [--rows 100000 1000000] [--repeat 1] [--steps eda drivers]
                                [--threads]

Every measurement is a fresh Python process that scans the data from Parquet and runs one step
with the example expedition's parameters (as `expedition run` would), so the times include
reading the columns the step needs and importing the libraries it uses. The baseline, measured
in the same run, is a process that imports Polars and reads the whole Parquet file into memory;
importing the libraries the steps use is shown beside it for reference.
Ratios against it are what to compare across machines; the 1M/100k ratio of each step shows how
it scales with rows (10 is linear). `segment` and `drivers` must stay under a minute at 1M rows.

--threads also times `segment` and `drivers` at the smallest size with EXPEDITION_THREADS=2,
against the default of one OpenMP thread.

--publish also times each step followed by what `expedition run` does with its finding: the
disclosure gate (with its auditor) and drawing the declared charts from the gated tables.

Run heavy benchmarks under the machine-wide lock on a shared machine:
``flock /work/bench.lock python bench/bench_steps.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import Measurement, measure, report

#: the parameters the example expedition (examples/referrals/expedition.yaml) gives each step
STEPS = {
    "eda": {"outcome": "rereferred_12m", "outcome_value": "yes"},
    "significance": {"group": "rereferred_12m", "group_value": "yes"},
    "segment": {"variables": ["age", "prior_referrals", "referral_source", "closure_reason", "disability"], "k_max": 6},
    "drivers": {"outcome": "rereferred_12m", "outcome_value": "yes"},
}
LIMIT = {"segment": 60.0, "drivers": 60.0}

RUN_STEP = """
import json, sys
import polars as pl
from expedition.steps import StepContext, get_step
step = get_step(sys.argv[1])
params = step.parse_params(json.loads(sys.argv[3]))
finding = step().run(pl.scan_parquet(sys.argv[2]), params, StepContext(seed=42))
assert finding.tables
if sys.argv[4:] == ["publish"]:
    from expedition.testing import publish
    assert publish(finding).gated
"""

READ = "import sys, polars as pl; pl.read_parquet(sys.argv[1])"
GENERATE = (
    "import sys; from expedition.examples.referrals import generate; "
    "generate(int(sys.argv[1]), seed=2026).write_parquet(sys.argv[2])"
)
IMPORTS = "import polars, scipy.stats, statsmodels.api, sklearn.ensemble, sklearn.cluster, matplotlib.pyplot"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument("--threads", action="store_true", help="also time 2 OpenMP threads")
    parser.add_argument("--publish", action="store_true", help="also time the gate and the charts after each step")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-steps-"))
    results: dict[int, dict[str, Measurement]] = {}
    try:
        for rows in args.rows:
            started = time.perf_counter()
            path = work / f"referrals-{rows}.parquet"
            # generated in a child process, so this process stays small: a child's peak memory
            # counts the memory of the process that started it
            subprocess.run([sys.executable, "-c", GENERATE, str(rows), str(path)], check=True)
            size = path.stat().st_size / 2**20
            print(f"\n{rows:,} rows generated in {time.perf_counter() - started:.0f} s ({size:.0f} MiB Parquet)", flush=True)
            baseline = measure(f"read the data ({rows:,} rows, baseline)", [sys.executable, "-c", READ, str(path)], args.repeat)
            imports = measure("import the libraries (for reference)", [sys.executable, "-c", IMPORTS], args.repeat)
            measured = {}
            for name in args.steps:
                cmd = [sys.executable, "-c", RUN_STEP, name, str(path), json.dumps(STEPS[name])]
                measured[name] = measure(f"{name} ({rows:,} rows)", cmd, args.repeat)
                print(f"  {name}: {measured[name].median:.1f} s, peak {measured[name].peak_mib:.0f} MiB", flush=True)
            rows_out = [baseline, imports, *measured.values()]
            if args.publish:
                for name in args.steps:
                    cmd = [sys.executable, "-c", RUN_STEP, name, str(path), json.dumps(STEPS[name]), "publish"]
                    rows_out.append(measure(f"{name} + gate and charts ({rows:,} rows)", cmd, args.repeat))
                    print(f"  {name} + gate and charts: {rows_out[-1].median:.1f} s", flush=True)
            if args.threads and rows == min(args.rows):
                env = dict(os.environ, EXPEDITION_THREADS="2")
                for name in [s for s in ("segment", "drivers") if s in args.steps]:
                    cmd = [sys.executable, "-c", RUN_STEP, name, str(path), json.dumps(STEPS[name])]
                    rows_out.append(measure(f"{name} ({rows:,} rows, 2 OpenMP threads)", cmd, args.repeat, env=env))
            report(f"Steps on {rows:,} rows", rows_out, baseline)
            results[rows] = {"__baseline__": baseline, **measured}
            path.unlink()

        if len(results) > 1:
            small, large = min(results), max(results)
            factor = large / small
            print(f"\nScaling from {small:,} to {large:,} rows ({factor:.0f}x the rows; {factor:.0f} is linear):")
            for name in ["__baseline__", *args.steps]:
                a, b = results[small][name], results[large][name]
                label = "read the data (baseline)" if name == "__baseline__" else name
                print(f"  {label:<28} {b.median / a.median:>6.1f}x time, {b.peak_mib / max(a.peak_mib, 1):>5.1f}x peak memory")
        largest = max(results)
        for name, limit in LIMIT.items():
            if name in results[largest]:
                seconds = results[largest][name].median
                verdict = "within" if seconds < limit else "OVER"
                print(f"Target: {name} under {limit:.0f} s at {largest:,} rows — {verdict} ({seconds:.1f} s).")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
