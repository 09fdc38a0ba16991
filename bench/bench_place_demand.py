"""The place and demand steps at scale, each against a same-run baseline, with peak memory.

    python bench/bench_place_demand.py [--points 1000000] [--units 50] [--funnel-units 10000] [--repeat 1]
                                       [--tasks hotspots forecast benchmark]

* `hotspots` on 1M incident points over Essex with a 250 m grid and 750 m neighbourhoods,
  12 months of persistence and 1,000 areas (the synthetic incidents example, scaled up);
* `forecast` on ten years of monthly counts for 50 units (every default model, 3 backtests);
* `benchmark` on 10,000 units (exact binomial funnel limits).

Each task runs in a fresh process that reads a Parquet file and runs the step in memory (no
pack is written); a second row also publishes the finding as `expedition run` does: through the
disclosure gate (suppression, linking, the auditor) with its charts drawn from the gated tables.
Its baseline is the same process doing everything but the step: starting Python, importing the
libraries and reading the same file. Absolute times vary on a shared
machine; compare the ratios printed by one run. Run it under the machine-wide lock:
``flock /work/bench.lock python bench/bench_place_demand.py``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import measure, report

#: what each step imports anyway: the baseline pays for it too
IMPORTS = {
    "hotspots": "import polars as pl, numpy, scipy.stats, scipy.sparse, scipy.optimize, pyproj, matplotlib.pyplot",
    "forecast": "import polars as pl, numpy, pandas, scipy.stats, statsmodels.api, "
    "statsmodels.tsa.exponential_smoothing.ets, matplotlib.pyplot",
    "benchmark": "import polars as pl, numpy, scipy.stats, matplotlib.pyplot",
}

TASKS = {
    "hotspots": {
        "lat": "latitude",
        "lon": "longitude",
        "date": "date",
        "area": "lsoa_code",
        "cell_size": 250,
        "distance": 750,
        "study_area": [-0.05, 51.40, 1.35, 52.15],
    },
    "forecast": {"date": "month", "count": "demand", "unit": "unit", "max_units": 50},
    "benchmark": {"unit": "unit", "events": "events", "denominator": "cases"},
}


INPUTS = {"hotspots": "incidents.parquet", "forecast": "demand.parquet", "benchmark": "units.parquet"}


def run_task(task: str, path: str, publish: bool = False) -> None:
    """Child process: read the file and run one step (what is timed), and with *publish* pass
    the finding through the disclosure gate and draw its charts, as the runner does."""
    import polars as pl

    from expedition.steps import StepContext, get_step

    step = get_step(task)
    ctx = StepContext()
    finding = step().run(pl.read_parquet(path).lazy(), step.parse_params(TASKS[task]), ctx)
    if publish:
        from expedition import disclosure
        from expedition.steps._plot import draw_finding

        finding = draw_finding(disclosure.apply_detailed(finding.with_(id=task, population="bench"),
                                                         ctx.disclosure), ctx.disclosure)
    print(finding.headlines[:2], file=sys.stderr)


def make_inputs(folder: Path, points: int, units: int, funnel_units: int) -> dict[str, Path]:
    import numpy as np
    import polars as pl

    from expedition.examples import demand, incidents

    paths = {}
    paths["hotspots"] = folder / INPUTS["hotspots"]
    incidents.generate(points, seed=1).write_parquet(paths["hotspots"])

    rng = np.random.default_rng(2)
    months = 120
    frames = []
    for i in range(units):
        base, growth, amplitude = rng.uniform(50, 800), rng.uniform(-0.02, 0.08), rng.uniform(0, 0.3)
        t = np.arange(months)
        mean = base * (1 + growth * t / 12) * (1 + amplitude * np.cos(2 * np.pi * (t % 12 - rng.integers(0, 12)) / 12))
        frames.append(
            pl.DataFrame(
                {
                    "month": pl.date_range(demand.START, pl.date(2028, 12, 1), "1mo", eager=True),
                    "unit": [f"Unit {i:02d}"] * months,
                    "demand": rng.poisson(mean),
                }
            )
        )
    paths["forecast"] = folder / INPUTS["forecast"]
    pl.concat(frames).write_parquet(paths["forecast"])

    cases = rng.integers(20, 5_000, funnel_units)
    p = np.clip(rng.normal(0.2, 0.01, funnel_units), 0.01, 0.99)
    paths["benchmark"] = folder / INPUTS["benchmark"]
    pl.DataFrame(
        {"unit": [f"U{i:05d}" for i in range(funnel_units)], "events": rng.binomial(cases, p), "cases": cases}
    ).write_parquet(paths["benchmark"])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--funnel-units", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--make-inputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        run_task(args.task, args.input, publish=args.publish)
        return
    if args.make_inputs:
        make_inputs(Path(args.make_inputs), args.points, args.units, args.funnel_units)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-place-demand-"))
    me = str(Path(__file__).resolve())
    try:
        # generate in a child: a large parent would be counted in every child's peak memory
        print("generating inputs …", file=sys.stderr)
        subprocess.run(
            [sys.executable, me, "--make-inputs", str(work), "--points", str(args.points),
             "--units", str(args.units), "--funnel-units", str(args.funnel_units)],
            check=True,
        )
        paths = {task: work / name for task, name in INPUTS.items()}
        labels = {
            "hotspots": f"hotspots: {args.points:,} points, 250 m grid",
            "forecast": f"forecast: {args.units} units x 120 months",
            "benchmark": f"benchmark: {args.funnel_units:,} units",
        }
        for task, path in paths.items():
            if task not in args.tasks:
                continue
            baseline = measure(
                "start, import libraries, read input (baseline)",
                [sys.executable, "-c", f"{IMPORTS[task]}; pl.read_parquet({str(path)!r})"],
                args.repeat,
            )
            timed = measure(labels[task], [sys.executable, me, "--task", task, "--input", str(path)], args.repeat)
            published = measure(labels[task] + ", gated and drawn",
                                [sys.executable, me, "--task", task, "--input", str(path), "--publish"], args.repeat)
            report(labels[task], [baseline, timed, published], baseline)
            print(f"  the step itself: {timed.median - baseline.median:.1f} s beyond the baseline; "
                  f"the gate and charts: {published.median - timed.median:.1f} s more")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
