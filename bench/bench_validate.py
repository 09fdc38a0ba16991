"""Validation speed: `expedition validate` against plain Polars, pandera's pandas backend and
Great Expectations, on the same 20-column contract, with peak memory.

    python bench/bench_validate.py                      # 1M and 5M rows, everything
    python bench/bench_validate.py --sizes 200000 --no-ge --repeat 1   # a quick look

The contract has ranges (whole numbers, decimals, dates), allowed values, regular expressions
(UK postcodes, identifiers, team codes), a string length, nullability and a unique key. The data
is a seeded synthetic CSV with 0.1% of rows corrupted (a letter in a number, an impossible
date, an unknown category, a malformed postcode, a missing required value, a repeated key).

What each line measures (each a fresh process, so start-up and imports count for every one):

* ``polars read`` — reading the CSV with the right types: the floor of merely loading it.
* ``plain Polars: checks`` — the floor of the same checks: read every column as text, convert
  each to its type (a bad value becomes a failure, not a crash), evaluate every check as a
  Polars expression written the plain way (``col.is_duplicated()`` for the key, where
  expedition uses the faster ``pl.struct(col).is_duplicated()``), count the failing rows per
  check.
* ``plain Polars: checks + split`` — the same, also writing the valid rows and the failing rows
  to Parquet (one query, three outputs, as ours): the same work product as ours, minus the
  reasons and the report.
* ``expedition validate`` — the command end to end: contract loaded, every row checked, valid
  rows to data/interim, failing rows with every reason to data/quarantine, validation.json and
  validation.html written.
* ``pandera (pandas backend)`` — ``pandas.read_csv``, types converted vectorised by pandas (a bad
  value becomes missing, which the nullable checks catch), then
  ``DataFrameSchema.validate(lazy=True)`` with the same checks, collecting the failing row
  indexes. The kindest set-up for pandera: it writes nothing and finds no bad type itself.
* ``pandera (pandas backend, coerce=True)`` (up to ``--coerce-rows``, 1M by default) — the same
  job as ours: pandera converts the types and reports the rows whose values do not convert. Once
  a column holds one bad value it converts value by value, which is far slower.
* ``Great Expectations`` (1M rows only; installed into bench/.work/ge-venv on first use) —
  ``pandas.read_csv``, types converted, then a suite of the same expectations run with
  ``result_format="SUMMARY"`` (counts and a sample, not every failing row: kinder to it than
  our full quarantine).

Targets: expedition within 1.5x of the plain-Polars floor, at least 5x faster than pandera's
pandas backend at 5M rows and at least 10x faster than Great Expectations at 1M rows.

Then scale (``--scale-sizes``, 5M and 20M rows by default; the 20M file is the 5M file four
times over with distinct case ids): ``expedition validate`` of each, taking turns, with the
20M run's time and peak memory as ratios to the 5M run's (targets: at most 5.5x the time, at
most 1.5x the peak memory and under 3 GiB). Finally bounded memory: the 40M-row file
(``--big-rows``) validated by a child whose heap is capped with ``prlimit --data`` at 2 GiB
(``--memory-limit-mib``), as the profile benchmark does (RLIMIT_DATA caps heap and anonymous
memory; ``ulimit -v`` cannot be used because Polars maps the input file into memory).

    python bench/bench_validate.py --scale-only            # only the scale and bounded runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

from _measure import Measurement, expedition_cmd, run_once, show_cap_bites  # noqa: E402


def report(title: str, rows: list[Measurement], baseline: Measurement) -> None:
    """Median and fastest run of each, as ratios to the baseline's median and fastest run.

    The machine is shared: the fastest of several runs is the least disturbed by other work."""
    print(f"\n{title}")
    print(f"{'what':<40} {'median s':>9} {'min s':>7} {'x base (median)':>16} "
          f"{'x base (min)':>13} {'runs':>5} {'peak MiB':>9}")
    for m in rows:
        print(f"{m.label:<40} {m.median:>9.3f} {min(m.seconds):>7.3f} "
              f"{m.median / baseline.median:>16.2f} {min(m.seconds) / min(baseline.seconds):>13.2f} "
              f"{len(m.seconds):>5} {m.peak_mib:>9.0f}")


def interleaved(commands: dict[str, list[str]], repeat: int,
                limit: dict[str, int] | None = None) -> dict[str, Measurement]:
    """Measure several commands taking turns, so a busy spell on the shared machine falls on
    all of them alike rather than on whichever happened to run then. *limit* caps the runs of
    slow commands (they take their turns in the first rounds)."""
    limit = limit or {}
    times: dict[str, list[float]] = {label: [] for label in commands}
    peaks = dict.fromkeys(commands, 0.0)
    for round_ in range(repeat):
        for label, cmd in commands.items():
            if round_ >= limit.get(label, repeat):
                continue
            seconds, mib = run_once(cmd)
            times[label].append(seconds)
            peaks[label] = max(peaks[label], mib)
    return {label: Measurement(label, times[label], peaks[label]) for label in commands}

DISTRICTS = ["Basildon", "Braintree", "Brentwood", "Castle Point", "Chelmsford", "Colchester",
             "Epping Forest", "Harlow", "Maldon", "Rochford", "Tendring", "Uttlesford"]
SOURCES = ["Police", "School", "Health", "Local authority", "Individual", "Other agency",
           "Anonymous"]
SEXES = ["Female", "Male", "Not recorded"]
ETHNICITY = ["White British", "White other", "Mixed", "Asian", "Black", "Other", "Not recorded"]
OUTCOMES = ["no", "yes"]
POSTCODE = r"^([A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2}|GIR ?0AA)$"
CASE_ID = r"^C\d{8}$"
TEAM = r"^[A-Z]{2}\d{3}$"
OFFICER = r"^OF\d{5}$"

# name: (dtype, nullable, checks)  — the one description every implementation is built from
COLUMNS: dict[str, tuple[str, bool, dict]] = {
    "case_id": ("string", False, {"str_matches": CASE_ID}),
    "opened": ("date", False, {"in_range": (date(2015, 1, 1), date(2025, 12, 31))}),
    "closed": ("date", True, {"in_range": (date(2015, 1, 1), date(2026, 12, 31))}),
    "age": ("int64", False, {"in_range": (0, 120)}),
    "prior": ("int64", False, {"in_range": (0, 50)}),
    "household": ("int64", True, {"in_range": (1, 20)}),
    "score": ("int64", False, {"in_range": (0, 100)}),
    "visits": ("int64", False, {"in_range": (0, 365)}),
    "latitude": ("float64", False, {"in_range": (49.8, 60.9)}),
    "longitude": ("float64", False, {"in_range": (-8.7, 1.8)}),
    "amount": ("float64", True, {"in_range": (0.0, 100000.0)}),
    "district": ("string", False, {"isin": DISTRICTS}),
    "source": ("string", False, {"isin": SOURCES}),
    "sex": ("string", False, {"isin": SEXES}),
    "ethnicity": ("string", False, {"isin": ETHNICITY}),
    "outcome": ("string", False, {"isin": OUTCOMES}),
    "postcode": ("string", False, {"str_matches": POSTCODE}),
    "team": ("string", False, {"str_matches": TEAM}),
    "note": ("string", True, {"str_length": (1, 200)}),
    "officer": ("string", True, {"str_matches": OFFICER}),
}
UNIQUE = "case_id"


# --------------------------------------------------------------------------- data


def generate(rows: int, path: Path, seed: int = 7) -> None:
    """A seeded CSV of *rows* rows, 0.1% of them corrupted in one column each."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    n = rows
    letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
    outward = np.array(["CM1", "CM2", "CO4", "SS14", "CB10", "IG10", "EN9", "CM77", "SS7", "CO15"])
    postcodes = np.char.add(
        np.char.add(outward[rng.integers(0, len(outward), n)], " "),
        np.char.add(np.char.add(rng.integers(1, 10, n).astype(str), letters[rng.integers(0, 20, n)]),
                    letters[rng.integers(0, 20, n)]),
    )
    opened = np.datetime64("2015-01-01") + rng.integers(0, 3650, n).astype("timedelta64[D]")
    closed = opened + rng.integers(0, 400, n).astype("timedelta64[D]")
    frame = pl.DataFrame({
        "case_id": [f"C{i:08d}" for i in rng.permutation(n) + 10_000_000],
        "opened": opened,
        "closed": closed,
        "age": rng.integers(0, 100, n),
        "prior": rng.integers(0, 12, n),
        "household": rng.integers(1, 9, n),
        "score": rng.integers(0, 101, n),
        "visits": rng.integers(0, 60, n),
        "latitude": np.round(rng.uniform(50.5, 55.0, n), 5),
        "longitude": np.round(rng.uniform(-4.0, 1.5, n), 5),
        "amount": np.round(rng.gamma(2.0, 800.0, n), 2),
        "district": np.array(DISTRICTS)[rng.integers(0, len(DISTRICTS), n)],
        "source": np.array(SOURCES)[rng.integers(0, len(SOURCES), n)],
        "sex": np.array(SEXES)[rng.integers(0, 3, n)],
        "ethnicity": np.array(ETHNICITY)[rng.integers(0, len(ETHNICITY), n)],
        "outcome": np.array(OUTCOMES)[rng.integers(0, 2, n)],
        "postcode": postcodes,
        "team": np.char.add(letters[rng.integers(0, 20, n)], letters[rng.integers(0, 20, n)]),
        "note": np.array(["home visit arranged", "telephone call with parent", "letter sent",
                          "seen at school", "information shared"])[rng.integers(0, 5, n)],
        "officer": np.char.add("OF", rng.integers(10000, 99999, n).astype(str)),
    }).with_columns(
        pl.col("team") + pl.Series(rng.integers(100, 999, n)).cast(pl.String),
        pl.when(pl.Series(rng.random(n) < 0.2)).then(None).otherwise(pl.col("closed")).alias("closed"),
        pl.when(pl.Series(rng.random(n) < 0.1)).then(None).otherwise(pl.col("household"))
        .alias("household"),
        pl.when(pl.Series(rng.random(n) < 0.3)).then(None).otherwise(pl.col("note")).alias("note"),
    ).with_columns(pl.all().cast(pl.String))
    # corrupt 0.1% of rows, one column each
    bad = rng.choice(n, size=max(n // 1000, 8), replace=False)
    kinds = rng.integers(0, 8, bad.size)
    corrupt = {
        0: ("age", "12a"), 1: ("district", "Colchster"), 2: ("postcode", "XX1"),
        3: ("opened", "2023-02-31"), 4: ("latitude", "fifty"), 5: ("sex", None),
        6: ("score", "101"), 7: ("case_id", None),
    }
    columns = {c: frame.get_column(c).to_list() for c in {v[0] for v in corrupt.values()}}
    case_ids = columns["case_id"]
    for row, kind in zip(bad.tolist(), kinds.tolist()):
        column, value = corrupt[kind]
        if kind == 7:  # a repeated key: copy another row's case_id
            columns["case_id"][row] = case_ids[(row + 1) % n]
        else:
            columns[column][row] = value
    frame = frame.with_columns([pl.Series(c, v, dtype=pl.String) for c, v in columns.items()])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.write_csv(tmp)
    os.replace(tmp, path)


def contract_yaml() -> str:
    """The benchmark's contract, in expedition's format."""
    lines = ["version: 1", "dataset: bench", "strict: true", "null_values: ['']",
             "unique: []", "rules: []", "columns:"]
    for name, (dtype, nullable, checks) in COLUMNS.items():
        lines += [f"  {name}:", f"    dtype: {dtype}", f"    nullable: {str(nullable).lower()}",
                  f"    unique: {str(name == UNIQUE).lower()}", "    checks:"]
        for kind, arg in checks.items():
            if kind == "in_range":
                lo, hi = arg
                lines.append(f"      in_range: {{min: {lo}, max: {hi}}}")
            elif kind == "isin":
                lines.append(f"      isin: {json.dumps(arg)}")
            elif kind == "str_length":
                lines.append(f"      str_length: {{min: {arg[0]}, max: {arg[1]}}}")
            else:
                lines.append(f"      {kind}: '{arg}'")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- workers


def _polars_expressions():
    """The typed columns and the checks as plain Polars expressions (the floor)."""
    import polars as pl

    types = {"string": pl.String, "int64": pl.Int64, "float64": pl.Float64, "date": pl.Date}
    typed, checks = [], []
    for name, (dtype, nullable, spec) in COLUMNS.items():
        raw = pl.col(name)
        if dtype == "string":
            value = raw
        elif dtype == "date":
            value = raw.str.to_date("%Y-%m-%d", strict=False)
        else:
            value = raw.cast(types[dtype], strict=False)
        typed.append(value.alias(f"t_{name}"))
        v = pl.col(f"t_{name}")
        if dtype != "string":
            checks.append((raw.is_null() | v.is_not_null()).alias(f"{name}_type"))
        if not nullable:
            checks.append(raw.is_not_null().alias(f"{name}_null"))
        if name == UNIQUE:
            checks.append((v.is_duplicated() & v.is_not_null()).not_().alias(f"{name}_unique"))
        for kind, arg in spec.items():
            if kind == "in_range":
                expr = v.is_between(arg[0], arg[1])
            elif kind == "isin":
                expr = v.is_in(arg)
            elif kind == "str_matches":
                expr = v.str.contains(arg)
            else:
                expr = v.str.len_chars().is_between(arg[0], arg[1])
            checks.append(expr.fill_null(True).alias(f"{name}_{kind}"))
    return typed, checks


def worker_read(path: str) -> None:
    import polars as pl

    types = {"string": pl.String, "int64": pl.Int64, "float64": pl.Float64, "date": pl.String}
    frame = pl.read_csv(path, schema_overrides={n: types[d] for n, (d, _, _) in COLUMNS.items()},
                        ignore_errors=True)
    assert frame.height > 0


def worker_floor(path: str, out: str | None) -> None:
    import polars as pl

    typed, checks = _polars_expressions()
    names = [c.meta.output_name() for c in checks]
    plan = (
        pl.scan_csv(path, infer_schema=False)
        .with_columns(typed)
        .with_columns(checks)
        .with_columns(pl.all_horizontal(names).alias("ok"))
    )
    counts = plan.select([pl.col(n).not_().sum() for n in names])
    if not out:
        assert counts.collect().width == len(names)
        return
    valid, invalid, counts = pl.collect_all([
        plan.filter(pl.col("ok")).select(pl.col("^t_.*$")),
        plan.filter(pl.col("ok").not_()).select(list(COLUMNS)),
        counts,
    ])
    valid.write_parquet(f"{out}/valid.parquet", compression="lz4")
    invalid.write_parquet(f"{out}/invalid.parquet", compression="lz4")


def worker_pandera_pandas(path: str, coerce: bool = False) -> None:
    import pandas as pd
    import pandera.pandas as pa

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if not coerce:
        # Types converted vectorised first (a bad value becomes missing, which the nullable
        # checks catch): pandera's own coercion converts value by value once a column holds
        # a bad value, to report which rows failed, and is far slower.
        frame = _pandas_types(frame)
    types = {"string": str, "int64": "Int64", "float64": float, "date": "datetime64[ns]"}
    columns = {}
    for name, (dtype, nullable, spec) in COLUMNS.items():
        checks = []
        for kind, arg in spec.items():
            if kind == "in_range":
                lo, hi = arg
                if dtype == "date":
                    lo, hi = pd.Timestamp(lo), pd.Timestamp(hi)
                checks.append(pa.Check.in_range(lo, hi))
            elif kind == "isin":
                checks.append(pa.Check.isin(arg))
            elif kind == "str_matches":
                checks.append(pa.Check.str_matches(arg))
            else:
                checks.append(pa.Check.str_length(arg[0], arg[1]))
        columns[name] = pa.Column(types[dtype], checks=checks, nullable=nullable,
                                  unique=name == UNIQUE, coerce=coerce)
    schema = pa.DataFrameSchema(columns, strict=True)
    try:
        schema.validate(frame, lazy=True)
        failing = set()
    except pa.errors.SchemaErrors as exc:
        failing = set(exc.failure_cases["index"].dropna().astype(int).tolist())
    print(len(failing))


def _pandas_types(frame):
    import pandas as pd

    for name, (dtype, _, _) in COLUMNS.items():
        if dtype == "int64":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
        elif dtype == "float64":
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        elif dtype == "date":
            frame[name] = pd.to_datetime(frame[name], format="%Y-%m-%d", errors="coerce")
    return frame


def worker_ge(path: str) -> None:
    import great_expectations as gx
    import pandas as pd

    frame = _pandas_types(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("bench").add_dataframe_asset("frame")
             .add_batch_definition_whole_dataframe("all"))
    suite = context.suites.add(gx.ExpectationSuite(name="bench"))
    e = gx.expectations
    for name, (dtype, nullable, spec) in COLUMNS.items():
        if not nullable:
            suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=name))
        if name == UNIQUE:
            suite.add_expectation(e.ExpectColumnValuesToBeUnique(column=name))
        for kind, arg in spec.items():
            if kind == "in_range":
                lo, hi = arg
                if dtype == "date":
                    lo, hi = pd.Timestamp(lo), pd.Timestamp(hi)
                suite.add_expectation(e.ExpectColumnValuesToBeBetween(column=name, min_value=lo,
                                                                      max_value=hi))
            elif kind == "isin":
                suite.add_expectation(e.ExpectColumnValuesToBeInSet(column=name, value_set=arg))
            elif kind == "str_matches":
                suite.add_expectation(e.ExpectColumnValuesToMatchRegex(column=name, regex=arg))
            else:
                suite.add_expectation(e.ExpectColumnValueLengthsToBeBetween(
                    column=name, min_value=arg[0], max_value=arg[1]))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(data=batch, suite=suite, name="bench"))
    result = definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    print(sum(1 for r in result.results if not r.success))


# --------------------------------------------------------------------------- orchestration


#: Larger files are this one repeated, with distinct case ids (as the issue measured them).
BASE_ROWS = 5_000_000


def repeat_data(base: Path, times: int, path: Path) -> None:
    """*base* *times* over, each copy's case ids moved up by the base's row count so they stay
    distinct (and 8 digits, up to 80M rows), streamed (never held in memory)."""
    import polars as pl

    frames = []
    for k in range(times):
        shifted = ("C" + (pl.col("case_id").str.slice(1).cast(pl.Int64) + k * BASE_ROWS)
                   .cast(pl.String))
        frames.append(pl.scan_csv(base, infer_schema=False).with_columns(shifted.alias("case_id")))
    tmp = path.with_suffix(".tmp")
    pl.concat(frames).sink_csv(tmp)
    os.replace(tmp, path)


def ensure_data(rows: int) -> Path:
    path = WORK / f"bench-{rows}.csv"
    if not path.exists() and rows > BASE_ROWS and rows % BASE_ROWS == 0:
        base = ensure_data(BASE_ROWS)
        print(f"writing {rows:,} rows ({rows // BASE_ROWS} copies of {base.name}) → {path} …",
              flush=True)
        subprocess.run([sys.executable, __file__, "--worker", "repeat", "--rows", str(rows),
                        "--path", str(path)], check=True)
    if not path.exists():
        print(f"generating {rows:,} rows → {path} …", flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--worker", "generate", "--rows", str(rows),
                        "--path", str(path)], check=True)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def ensure_project(rows: int, data: Path) -> Path:
    """An expedition with the benchmark file as dataset 'bench' and the contract beside it."""
    root = WORK / f"project-{rows}"
    if not (root / "expedition.yaml").exists():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([*expedition_cmd(), "new", root.name, "--no-input", "--output-dir",
                        str(WORK)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*expedition_cmd(), "data", "add", str(data), "--name", "bench", "-q",
                        "--project", str(root)], check=True)
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "bench.yaml").write_text(contract_yaml(), encoding="utf-8")
    return root


def ge_python() -> str | None:
    venv = WORK / "ge-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print("installing Great Expectations into bench/.work/ge-venv …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "great_expectations",
                               "pandas", "polars"])
        if done.returncode != 0:
            print("  could not install Great Expectations; skipping it")
            return None
    return str(python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-ge", action="store_true", help="skip Great Expectations")
    parser.add_argument("--no-pandas", action="store_true", help="skip pandera's pandas backend")
    parser.add_argument("--ge-rows", type=int, default=1_000_000)
    parser.add_argument("--coerce-rows", type=int, default=1_000_000,
                        help="largest size at which pandera also coerces types itself (slow)")
    parser.add_argument("--scale-sizes", default="5000000,20000000",
                        help="two sizes whose validation time and memory are compared")
    parser.add_argument("--scale-repeat", type=int, default=3)
    parser.add_argument("--big-rows", type=int, default=40_000_000)
    parser.add_argument("--memory-limit-mib", type=int, default=2_048)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--scale-only", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        {
            "generate": lambda: generate(args.rows, Path(args.path)),
            "repeat": lambda: repeat_data(WORK / f"bench-{BASE_ROWS}.csv", args.rows // BASE_ROWS,
                                          Path(args.path)),
            "read": lambda: worker_read(args.path),
            "floor": lambda: worker_floor(args.path, args.out),
            "pandas": lambda: worker_pandera_pandas(args.path),
            "pandas-coerce": lambda: worker_pandera_pandas(args.path, coerce=True),
            "ge": lambda: worker_ge(args.path),
        }[args.worker]()
        return

    WORK.mkdir(exist_ok=True)
    if not args.scale_only:
        compare(args)
    if not args.skip_scale:
        scale(args)


def validate_cmd(project: Path) -> list[str]:
    return [*expedition_cmd(), "validate", "bench", "--max-invalid", "100", "-q",
            "--project", str(project)]


def accounting(project: Path) -> str:
    rows = json.loads((project / ".expedition" / "quality" / "bench" / "validation.json")
                      .read_text())["report"]["rows"]
    return (f"{rows['read']:,} read = {rows['valid']:,} valid + {rows['quarantined']:,} "
            f"quarantined (data add counted {rows['expected']:,})")


def scale(args: argparse.Namespace) -> None:
    """5M against 20M rows in one run, then the 40M-row file under a 2 GiB heap cap."""
    small, large = (int(s) for s in args.scale_sizes.split(","))
    projects = {rows: ensure_project(rows, ensure_data(rows)) for rows in (small, large)}
    commands = {f"expedition validate, {rows:,} rows": validate_cmd(project)
                for rows, project in projects.items()}
    timed = interleaved(commands, args.scale_repeat)
    a, b = (timed[label] for label in commands)
    report(f"Scale: validation of {small:,} and {large:,} rows (baseline: {small:,})", [a, b], a)
    for rows, project in projects.items():
        print(f"  {rows:,} rows: {accounting(project)}")
    rows_ratio = large / small
    time_ratio, memory_ratio = b.median / a.median, b.peak_mib / a.peak_mib
    print(f"\nTargets ({rows_ratio:g}x the rows)")
    print(f"  time: {time_ratio:.2f}x (fastest runs {min(b.seconds) / min(a.seconds):.2f}x), "
          f"target ≤ 5.5x — {'met' if time_ratio <= 5.5 else 'NOT met'}")
    print(f"  peak memory: {b.peak_mib:,.0f} MiB against {a.peak_mib:,.0f} MiB = {memory_ratio:.2f}x, "
          f"target ≤ 1.5x and under 3 GiB — "
          f"{'met' if memory_ratio <= 1.5 and b.peak_mib < 3072 else 'NOT met'}")
    if shutil.which("prlimit") is None:
        print("\nprlimit is not available: skipping the bounded-memory run")
        return
    path = ensure_data(args.big_rows)
    project = ensure_project(args.big_rows, path)
    limit = args.memory_limit_mib
    size = path.stat().st_size / 2**20
    print(f"\nBounded memory: {path.name}, {args.big_rows:,} rows, {size:,.0f} MiB, validated with "
          f"its heap capped at {limit:,} MiB (prlimit --data; the file is {size / limit:.1f}x the cap)")
    cap = ["prlimit", f"--data={limit * 2**20}"]
    try:
        seconds, peak = run_once([*cap, *validate_cmd(project)])
        print(f"  expedition validate: completed in {seconds:,.1f} s, peak RSS {peak:,.0f} MiB; "
              f"{accounting(project)}")
    except RuntimeError as exc:
        print(f"  expedition validate FAILED under the cap:\n{str(exc)[-600:]}")
    show_cap_bites(cap, path)


def compare(args: argparse.Namespace) -> None:
    """expedition against plain Polars, pandera and Great Expectations at each of --sizes."""
    python = sys.executable
    me = str(Path(__file__).resolve())
    summary = []
    coerced: list[tuple[int, Measurement, Measurement]] = []
    for rows in [int(s) for s in args.sizes.split(",")]:
        data = ensure_data(rows)
        project = ensure_project(rows, data)
        out = WORK / f"floor-out-{rows}"
        out.mkdir(exist_ok=True)
        commands = {
            "polars read (typed)": [python, me, "--worker", "read", "--path", str(data)],
            "plain Polars: checks": [python, me, "--worker", "floor", "--path", str(data)],
            "plain Polars: checks + split": [python, me, "--worker", "floor", "--path", str(data),
                                             "--out", str(out)],
            "expedition validate": validate_cmd(project),
        }
        slow = {}
        if not args.no_pandas:
            commands["pandera (pandas backend)"] = [python, me, "--worker", "pandas", "--path",
                                                    str(data)]
            slow["pandera (pandas backend)"] = 2
            if rows <= args.coerce_rows:
                commands["pandera (pandas backend, coerce=True)"] = [
                    python, me, "--worker", "pandas-coerce", "--path", str(data)]
                slow["pandera (pandas backend, coerce=True)"] = 1
        if not args.no_ge and rows <= args.ge_rows:
            ge_py = ge_python()
            if ge_py:
                commands["Great Expectations"] = [ge_py, me, "--worker", "ge", "--path", str(data)]
                slow["Great Expectations"] = 2
        timed = interleaved(commands, args.repeat, slow)
        read, floor, split, ours = (timed[label] for label in list(commands)[:4])
        rows_out = list(timed.values())
        pandas = timed.get("pandera (pandas backend)")
        ge = timed.get("Great Expectations")
        if "pandera (pandas backend, coerce=True)" in timed:
            coerced.append((rows, timed["pandera (pandas backend, coerce=True)"], ours))
        report(f"Validation, {rows:,} rows × 20 columns (baseline: plain Polars checks)",
               rows_out, floor)
        print(f"  accounting: {accounting(project)}")
        summary.append((rows, floor, split, ours, pandas, ge))

    def ratio(a: Measurement, b: Measurement) -> str:
        return f"{a.median / b.median:.2f}x (fastest runs {min(a.seconds) / min(b.seconds):.2f}x)"

    print("\nTargets (medians; the fastest runs in brackets)")
    for rows, floor, split, ours, pandas, ge in summary:
        print(f"  {rows:,} rows: expedition / plain-Polars checks = {ratio(ours, floor)}, "
              f"target ≤ 1.5x; / checks + split = {ratio(ours, split)}")
        if pandas:
            print(f"  {rows:,} rows: pandera pandas / expedition = {ratio(pandas, ours)}, "
                  "target ≥ 5x at 5M")
        for size, coerce, mine in coerced:
            if size == rows:
                print(f"  {rows:,} rows: pandera pandas coercing types itself / expedition = "
                      f"{ratio(coerce, mine)}")
        if ge:
            print(f"  {rows:,} rows: Great Expectations / expedition = {ratio(ge, ours)}, "
                  "target ≥ 10x at 1M")


if __name__ == "__main__":
    main()
