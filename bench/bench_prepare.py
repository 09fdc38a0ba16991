"""Derived datasets: `expedition prepare` against the same query written directly in Polars,
with peak memory.

    python bench/bench_prepare.py                      # 5M rows, 5 rounds
    python bench/bench_prepare.py --rows 1000000 --repeat 3

The data are a seeded synthetic table of *rows* incidents (id, district code, month, category,
amount, priority) and a lookup table of 400 districts (code, region, population), each added
to an expedition, given a contract and validated once (kept in ``bench/.work/`` between runs).
The derived dataset joins the incidents to the lookup and filters on both sides:

    SELECT i.*, d.region, d.population
    FROM incidents i JOIN districts d ON i.district = d.code
    WHERE i.amount > 250 AND d.region <> 'North'

Each line runs in a fresh process, in rounds (every command once per round, so a slow spell of
the shared machine falls on all of them alike); ratios are to the plain Polars line:

* ``plain Polars: scan, join, filter, sink`` — ``pl.scan_parquet`` of the two validated files,
  ``join``, ``filter``, ``sink_parquet`` (LZ4, as ``prepare`` writes): the floor of the job;
* ``plain Polars via SQLContext`` — the same query through ``polars.SQLContext`` and
  ``sink_parquet``: what the SQL front end costs by itself;
* ``expedition prepare --force`` — the command end to end: the project and its contracts
  loaded, the SQL checked (one SELECT, known datasets and columns), the query run and
  streamed to ``data/processed/``, its rows counted, roles and personal flags carried, a
  preview, the output's SHA-256 and the lineage record written;
* ``python: import polars`` and ``expedition prepare (current: reused)`` — the fixed costs of
  each side: a Python start that imports Polars, and the command when the derived dataset is
  current (start-up, the project and contracts read, inputs checked as current, the output's
  SHA-256 compared with the record). The difference of each pair is the work that grows with
  the data, printed last.

Target: ``expedition prepare`` within 1.2x of the plain Polars line, peak memory likewise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

from _measure import Measurement, expedition_cmd, measure_rounds  # noqa: E402

SQL = (
    "SELECT i.*, d.region, d.population\n"
    "FROM incidents i JOIN districts d ON i.district = d.code\n"
    "WHERE i.amount > 250 AND d.region <> 'North'\n"
)
REGIONS = ["North", "South", "East", "West", "Central"]
CATEGORIES = ["Anti-social behaviour", "Burglary", "Criminal damage", "Fly-tipping",
              "Public order", "Shoplifting", "Vehicle crime", "Violence"]
DISTRICTS = 400


# --------------------------------------------------------------------------- data


def generate(rows: int, folder: Path, seed: int = 11) -> None:
    """incidents.parquet (*rows* rows) and districts.parquet (400 rows), seeded."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    codes = np.array([f"E07{i:06d}" for i in range(DISTRICTS)])
    months = np.array([f"20{y:02d}-{m:02d}-01" for y in range(18, 24) for m in range(1, 13)],
                      dtype="datetime64[D]")
    incidents = pl.DataFrame({
        "id": np.arange(1, rows + 1, dtype=np.int64),
        "district": codes[rng.integers(0, DISTRICTS, rows)],
        "month": months[rng.integers(0, len(months), rows)],
        "category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), rows)],
        "amount": np.round(rng.gamma(2.0, 150.0, rows), 2),
        "priority": rng.integers(1, 6, rows),
    })
    districts = pl.DataFrame({
        "code": codes,
        "region": np.array(REGIONS)[rng.integers(0, len(REGIONS), DISTRICTS)],
        "population": rng.integers(20_000, 400_000, DISTRICTS),
    })
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("incidents", incidents), ("districts", districts)):
        tmp = folder / f"{name}.tmp"
        frame.write_parquet(tmp)
        os.replace(tmp, folder / f"{name}.parquet")


def ensure_project(rows: int) -> Path:
    """An expedition with both tables validated and the derived dataset declared."""
    root = WORK / f"prepare-{rows}"
    data = WORK / f"prepare-data-{rows}"
    if not (data / "incidents.parquet").exists():
        print(f"generating {rows:,} rows → {data} …", flush=True)
        subprocess.run([sys.executable, __file__, "--worker", "generate", "--rows", str(rows),
                        "--path", str(data)], check=True)
    if (root / ".expedition" / "quality" / "incidents" / "validation.json").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    print(f"making the expedition {root} (data add, schema infer, validate) …", flush=True)
    ex = expedition_cmd()
    subprocess.run([*ex, "new", root.name, "--no-input", "--output-dir", str(WORK)], check=True,
                   stdout=subprocess.DEVNULL)
    for name in ("incidents", "districts"):
        subprocess.run([*ex, "data", "add", str(data / f"{name}.parquet"), "--name", name, "-q",
                        "-p", str(root)], check=True)
        subprocess.run([*ex, "schema", "infer", name, "-q", "-p", str(root)], check=True)
        subprocess.run([*ex, "validate", name, "-q", "-p", str(root)], check=True)
    config = root / "expedition.yaml"
    block = "derived:\n  incidents_south:\n    sql: |\n" + "".join(f"      {line}\n" for line in SQL.splitlines())
    config.write_text(config.read_text(encoding="utf-8").rstrip("\n") + "\n" + block, encoding="utf-8")
    print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return root


def validated_files(root: Path) -> dict[str, Path]:
    out = {}
    for name in ("incidents", "districts"):
        record = json.loads((root / ".expedition" / "quality" / name / "validation.json").read_text())
        out[name] = root / record["outputs"]["valid"]["file"]
    return out


# --------------------------------------------------------------------------- workers


def worker_polars(incidents: str, districts: str, out: str) -> None:
    import polars as pl

    i = pl.scan_parquet(incidents)
    d = pl.scan_parquet(districts)
    (i.join(d, left_on="district", right_on="code")
     .filter((pl.col("amount") > 250) & (pl.col("region") != "North"))
     .sink_parquet(out, compression="lz4", statistics=False))


def worker_sql(incidents: str, districts: str, out: str) -> None:
    import polars as pl

    context = pl.SQLContext({"incidents": pl.scan_parquet(incidents),
                             "districts": pl.scan_parquet(districts)}, eager=False)
    context.execute(SQL).sink_parquet(out, compression="lz4", statistics=False)


# --------------------------------------------------------------------------- orchestration


def report(title: str, rows: list[Measurement], baseline: Measurement) -> None:
    """Median and fastest run of each, as ratios to the baseline's (the fastest run of several
    is the least disturbed by other work on a shared machine)."""
    print(f"\n{title}")
    print(f"{'what':<40} {'median s':>9} {'min s':>7} {'x base (median)':>16} "
          f"{'x base (min)':>13} {'CPU s':>7} {'x base (CPU)':>13} {'peak MiB':>9}")
    for m in rows:
        print(f"{m.label:<40} {m.median:>9.3f} {min(m.seconds):>7.3f} "
              f"{m.median / baseline.median:>16.2f} {min(m.seconds) / min(baseline.seconds):>13.2f} "
              f"{m.cpu_median:>7.3f} {m.cpu_median / baseline.cpu_median:>13.2f} {m.peak_mib:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--incidents", help=argparse.SUPPRESS)
    parser.add_argument("--districts", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        {
            "generate": lambda: generate(args.rows, Path(args.path)),
            "polars": lambda: worker_polars(args.incidents, args.districts, args.path),
            "sql": lambda: worker_sql(args.incidents, args.districts, args.path),
        }[args.worker]()
        return

    WORK.mkdir(exist_ok=True)
    root = ensure_project(args.rows)
    files = validated_files(root)
    me = str(Path(__file__).resolve())
    inputs = ["--incidents", str(files["incidents"]), "--districts", str(files["districts"])]
    out = WORK / f"prepare-floor-{args.rows}.parquet"
    commands = [
        ("plain Polars: scan, join, filter, sink",
         [sys.executable, me, "--worker", "polars", *inputs, "--path", str(out)]),
        ("plain Polars via SQLContext",
         [sys.executable, me, "--worker", "sql", *inputs, "--path", str(out)]),
        ("expedition prepare --force",
         [*expedition_cmd(), "prepare", "incidents_south", "--force", "-q", "-p", str(root)]),
        ("python: import polars", [sys.executable, "-c", "import polars"]),
        ("expedition prepare (current: reused)",
         [*expedition_cmd(), "prepare", "incidents_south", "-q", "-p", str(root)]),
    ]
    timed = measure_rounds(commands, repeat=args.repeat)
    floor, sql, ours, start, cached = timed
    report(f"Derived dataset: {args.rows:,} rows joined to {DISTRICTS} and filtered "
           "(baseline: plain Polars)", timed, floor)
    record = json.loads((root / ".expedition" / "derived" / "incidents_south.json").read_text())
    import polars as pl

    direct = pl.scan_parquet(out).select(pl.len()).collect().item()
    print(f"  rows out: expedition {record['rows']:,}, plain Polars {direct:,}")
    print(f"\nTarget: expedition prepare / plain Polars = {ours.median / floor.median:.2f}x "
          f"(fastest runs {min(ours.seconds) / min(floor.seconds):.2f}x), target ≤ 1.2x; "
          f"peak memory {ours.peak_mib:.0f} MiB against {floor.peak_mib:.0f} MiB "
          f"({ours.peak_mib / floor.peak_mib:.2f}x); the SQL front end alone "
          f"{sql.median / floor.median:.2f}x")
    work_ours, work_floor = ours.median - cached.median, floor.median - start.median
    print(f"Beyond fixed costs (medians): expedition {work_ours:.3f} s "
          f"(prepare --force − reused), plain Polars {work_floor:.3f} s (query − import polars): "
          f"{work_ours / work_floor:.2f}x")
    cpu_ours, cpu_floor = ours.cpu_median - cached.cpu_median, floor.cpu_median - start.cpu_median
    print(f"Beyond fixed costs in CPU seconds (steadier on a busy machine): expedition {cpu_ours:.3f}, "
          f"plain Polars {cpu_floor:.3f}: {cpu_ours / cpu_floor:.2f}x")


if __name__ == "__main__":
    main()
