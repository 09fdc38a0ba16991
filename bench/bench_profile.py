"""`expedition profile` against the Polars read floor, DuckDB SUMMARIZE and ydata-profiling.

    flock /work/bench.lock python bench/bench_profile.py                 # 1M and 5M rows, CSV and Parquet
    python bench/bench_profile.py --rows 1000000 --repeat 3 --formats csv
    python bench/bench_profile.py --bounded-only                         # only the larger-than-memory run

Generates seeded synthetic data (20 columns: identifiers, categories, counts, amounts, dates,
date-times, a flag, postcodes, coordinates, free text) as CSV and Parquet under ``bench/.work/``
(kept between runs), then measures in this one run, each command in a fresh process, in rounds
(every command once per round, so a slow spell of a shared machine falls on all of them alike):

* the floor: Polars reading the whole file (``pl.read_csv`` and ``pl.scan_csv(...).collect()``,
  the faster of the two is the floor; Parquet: ``pl.read_parquet``), and the same read typed as
  expedition reads it (``scan_dataset``: dates parsed);
* ``expedition profile FILE --json`` (the whole command: start-up, one pass, the JSON);
* DuckDB ``SUMMARIZE`` (approximate distinct counts and quantiles);
* ydata-profiling with ``minimal=True`` (``ProfileReport(df, minimal=True).to_json()``, pandas
  reading the CSV), at 1M rows only by default: at 5M it needs about 18 GiB.

DuckDB and ydata-profiling are installed into their own environment, ``bench/.work/venv-tools``,
the first time (``--no-install`` skips them when absent). Medians of ``--repeat`` runs; every
ratio is to the floor measured in the same run, because absolute times on a shared machine vary
up to 2x. Peak memory is each process's own maximum resident set.

Finally, bounded memory: a CSV several times larger than a memory limit is profiled by a child
whose heap is capped with ``prlimit --data`` (RLIMIT_DATA, which caps heap and anonymous memory;
``ulimit -v`` cannot be used because Polars maps the input file into memory and a cap on address
space would refuse the file itself). ``pl.read_csv`` of the same file under the same cap fails,
showing the cap is real.
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

from _measure import Measurement, expedition_cmd, measure, measure_rounds, report, run_once, show_cap_bites

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
TOOLS = WORK / "venv-tools"
DATA_VERSION = 1


# --------------------------------------------------------------------------- data


def make_frame(rows: int, seed: int):
    """A seeded synthetic delivery with 20 columns of the kinds councils and police send."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    districts = np.array(["Basildon", "Braintree", "Brentwood", "Castle Point", "Chelmsford", "Colchester",
                          "Epping Forest", "Harlow", "Maldon", "Rochford", "Tendring", "Uttlesford"])
    categories = np.array([f"Category {i:02d}" for i in range(30)])
    outward = np.array(["CM1", "CM2", "CO1", "CO15", "SS14", "SS7", "CB10", "IG10"])
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
    words = np.array("visit weekend telephone letter school concern family support home worker "
                     "referral closed assessment plan review".split())
    age = rng.integers(0, 18, rows).astype(float)
    age[rng.random(rows) < 0.03] = np.nan
    start = np.datetime64("2019-01-01")
    frame = pl.DataFrame({
        "record_id": np.arange(1, rows + 1) + seed * 100_000_000,
        "case_ref": rng.permutation(rows) + seed * 100_000_000,
        "district": districts[rng.integers(0, 12, rows)],
        "category": categories[np.minimum(rng.geometric(0.15, rows) - 1, 29)],
        "team": np.array(["North", "South", "East", "West", "Central"])[rng.integers(0, 5, rows)],
        "age": age,
        "amount": np.round(rng.lognormal(5, 1.2, rows), 2),
        "score": np.round(rng.normal(50, 12, rows), 3),
        "prior": rng.poisson(1.3, rows),
        "referral_date": start + rng.integers(0, 2000, rows).astype("timedelta64[D]"),
        "closed_at": (start.astype("datetime64[s]") + rng.integers(0, 2000 * 86400, rows).astype("timedelta64[s]")).astype("datetime64[ms]"),
        "flag": rng.random(rows) < 0.3,
        "pc_out": outward[rng.integers(0, len(outward), rows)],
        "pc_in": rng.integers(0, 10, rows),
        "pc_l1": letters[rng.integers(0, 20, rows)],
        "pc_l2": letters[rng.integers(0, 20, rows)],
        "lat": np.round(rng.uniform(51.5, 52.0, rows), 5),
        "lon": np.round(rng.uniform(0.0, 1.3, rows), 5),
        "w1": words[rng.integers(0, len(words), rows)],
        "w2": words[rng.integers(0, len(words), rows)],
        "status": np.array(["Open", "Closed", "Pending"])[rng.integers(0, 3, rows)],
        "rating": rng.integers(1, 6, rows),
        "ratio": np.round(rng.random(rows), 4),
        "source": np.where(rng.random(rows) < 0.98, "MASH", "Other"),
    })
    return frame.with_columns(
        pl.col("closed_at").cast(pl.Datetime("ms")),
        pl.format("{} {}{}{}", "pc_out", "pc_in", "pc_l1", "pc_l2").alias("postcode"),
        pl.format("Family {} after the {} by {}", "w1", "w2", "team").alias("notes"),
        pl.when(pl.col("status") == "Pending").then(None).otherwise(pl.col("status")).alias("status"),
    ).drop("pc_out", "pc_in", "pc_l1", "pc_l2", "w1", "w2")


def data_file(rows: int, fmt: str) -> Path:
    path = WORK / f"profile-v{DATA_VERSION}-{rows}.{fmt}"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.name} ...", flush=True)
    tmp = path.with_suffix(f".tmp.{fmt}")
    frame = make_frame(rows, seed=1)
    if fmt == "csv":
        frame.write_csv(tmp)
    else:
        frame.write_parquet(tmp)
    os.replace(tmp, path)
    return path


def big_csv(rows: int) -> Path:
    """A large CSV written 5M rows at a time (never all in memory)."""
    path = WORK / f"profile-v{DATA_VERSION}-big-{rows}.csv"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.name} (this takes a few minutes) ...", flush=True)
    tmp = path.with_suffix(".tmp.csv")
    chunk = 5_000_000
    with open(tmp, "wb") as out:
        for i, start in enumerate(range(0, rows, chunk)):
            make_frame(min(chunk, rows - start), seed=1 + i).write_csv(out, include_header=i == 0)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- tools


def tools_python(install: bool) -> Path | None:
    """Python of the benchmark's own environment with duckdb and ydata-profiling."""
    python = TOOLS / "bin" / "python"
    probe = "import duckdb, ydata_profiling"
    if python.exists() and subprocess.run([python, "-c", probe], capture_output=True).returncode == 0:
        return python
    if not install:
        return None
    print("installing duckdb and ydata-profiling into bench/.work/venv-tools ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
    result = subprocess.run(
        [python, "-m", "pip", "install", "-q", "duckdb", "ydata-profiling", "setuptools"],
        capture_output=True, text=True,
    )
    if result.returncode != 0 or subprocess.run([python, "-c", probe], capture_output=True).returncode != 0:
        print("could not install them:\n" + result.stderr[-2000:])
        return None
    return python


# --------------------------------------------------------------------------- commands


def floor_cmds(path: Path) -> list[tuple[str, list[str]]]:
    py = sys.executable
    if path.suffix == ".parquet":
        return [("Polars read_parquet", [py, "-c", f"import polars as pl; pl.read_parquet({str(path)!r})"])]
    return [
        ("Polars read_csv", [py, "-c", f"import polars as pl; pl.read_csv({str(path)!r})"]),
        ("Polars scan_csv().collect()", [py, "-c", f"import polars as pl; pl.scan_csv({str(path)!r}).collect()"]),
    ]


def typed_cmd(path: Path) -> list[str]:
    return [sys.executable, "-c",
            f"from expedition.datasets import scan_dataset; scan_dataset({str(path)!r}).collect()"]


def duckdb_cmd(python: Path, path: Path) -> list[str]:
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    return [str(python), "-c",
            f"import duckdb; duckdb.sql(\"SUMMARIZE SELECT * FROM {reader}('{path}')\").fetchall()"]


def ydata_cmd(python: Path, path: Path) -> list[str]:
    code = (
        "import warnings; warnings.filterwarnings('ignore')\n"
        "import pandas as pd\nfrom ydata_profiling import ProfileReport\n"
        f"df = pd.read_csv({str(path)!r})\n"
        "ProfileReport(df, minimal=True, progress_bar=False).to_json()\n"
    )
    return [str(python), "-c", code]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def bench_one(path: Path, args: argparse.Namespace, tools: Path | None, rows: int) -> dict:
    fmt = path.suffix.lstrip(".")
    commands = list(floor_cmds(path))
    if fmt == "csv":
        commands.append(("Polars read, typed as expedition reads it", typed_cmd(path)))
    commands.append(("expedition profile --json", [*expedition_cmd(), "profile", str(path), "--json"]))
    if tools is not None:
        commands.append(("DuckDB SUMMARIZE", duckdb_cmd(tools, path)))
    rows_out: list[Measurement] = measure_rounds(commands, args.repeat)
    by_label = {m.label: m for m in rows_out}
    floor = min((by_label[label] for label, _ in floor_cmds(path)), key=lambda m: m.median)
    ours = by_label["expedition profile --json"]
    duck = by_label.get("DuckDB SUMMARIZE")
    ydata = None
    if tools is not None and fmt == "csv" and rows in args.ydata_rows:
        ydata = measure("ydata-profiling minimal", ydata_cmd(tools, path), max(1, min(args.repeat, args.ydata_repeat)))
        rows_out.append(ydata)
    size = path.stat().st_size / 2**20
    report(f"{rows:,} rows × 20 columns, {fmt.upper()} ({size:,.0f} MiB); floor = {floor.label}", rows_out, floor)
    return {"rows": rows, "format": fmt, "floor": floor, "ours": ours, "duckdb": duck, "ydata": ydata}


def bounded_memory(args: argparse.Namespace) -> None:
    if shutil.which("prlimit") is None:
        print("\nprlimit is not available: skipping the bounded-memory run")
        return
    path = big_csv(args.big_rows)
    limit = args.memory_limit_mib
    size = path.stat().st_size / 2**20
    print(f"\nBounded memory: {path.name}, {size:,.0f} MiB, profiled with its heap capped at {limit:,} MiB "
          f"(prlimit --data; the file is {size / limit:.1f}x the cap)")
    cap = ["prlimit", f"--data={limit * 2**20}"]
    started = time.perf_counter()
    try:
        seconds, peak = run_once([*cap, *expedition_cmd(), "profile", str(path), "--json"])
        print(f"  expedition profile: completed in {seconds:,.1f} s, peak RSS {peak:,.0f} MiB")
    except RuntimeError as exc:
        print(f"  expedition profile FAILED after {time.perf_counter() - started:,.1f} s:\n{str(exc)[-600:]}")
    show_cap_bites(cap, path)


def exactness(path: Path) -> None:
    out = subprocess.run([*expedition_cmd(), "profile", str(path), "--json"], capture_output=True, text=True, check=True)
    legend = json.loads(out.stdout)["statistics"]
    print("\nWhich statistics are exact and which approximate (from the profile's own 'statistics'):")
    print("  exact: " + "; ".join(legend["exact"]))
    for key, how in legend["approximate"].items():
        print(f"  approximate — {key}: {how}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ydata-rows", type=int, nargs="*", default=[1_000_000],
                        help="row counts at which to run ydata-profiling (it needs ~18 GiB at 5M)")
    parser.add_argument("--ydata-repeat", type=int, default=3)
    parser.add_argument("--no-install", action="store_true", help="do not install DuckDB/ydata if absent")
    parser.add_argument("--big-rows", type=int, default=40_000_000)
    parser.add_argument("--memory-limit-mib", type=int, default=2_048)
    parser.add_argument("--skip-bounded", action="store_true")
    parser.add_argument("--bounded-only", action="store_true")
    args = parser.parse_args()

    if not args.bounded_only:
        tools = tools_python(install=not args.no_install)
        if tools is None:
            print("DuckDB and ydata-profiling are not available: measuring Polars and expedition only")
        results = []
        for rows in args.rows:
            for fmt in args.formats:
                results.append(bench_one(data_file(rows, fmt), args, tools, rows))
        exactness(data_file(args.rows[0], "csv"))
        print("\nTargets")
        for r in results:
            ours, floor = r["ours"], r["floor"]
            label = f"{r['rows']:,} rows {r['format'].upper()}"
            if r["rows"] >= 5_000_000:
                print(f"  {label}: within 2x the read floor — {verdict(ours.median <= 2 * floor.median)} "
                      f"({ours.median / floor.median:.2f}x)")
                if r["duckdb"] is not None:
                    print(f"  {label}: no slower than DuckDB SUMMARIZE — {verdict(ours.median <= r['duckdb'].median)} "
                          f"({ours.median:.2f} s against {r['duckdb'].median:.2f} s)")
                print(f"  {label}: peak memory under 1.5 GiB — {verdict(ours.peak_mib < 1536)} ({ours.peak_mib:,.0f} MiB)")
            if r["ydata"] is not None:
                speedup = r["ydata"].median / ours.median
                print(f"  {label}: at least 50x faster than ydata-profiling minimal — {verdict(speedup >= 50)} "
                      f"({speedup:.0f}x; ydata {r['ydata'].median:.1f} s, {r['ydata'].peak_mib:,.0f} MiB)")
    if not args.skip_bounded:
        bounded_memory(args)


if __name__ == "__main__":
    main()
