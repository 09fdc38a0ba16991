"""Preparing real public deliveries, end to end (issue 15): monthly police files combined with
`combine: all`, an outcome derived from a multi-valued column with `derived:`, a subset with
`where:`, and counts joined to their denominators feeding `benchmark`.

The data are the openly licensed files in ``../shared/data`` (see each folder's SOURCE.md);
every test skips when they are absent. Nothing from there is copied into the repository.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ESSEX = [f"police-essex-street-2018/2018-0{m}-essex-street.csv" for m in (1, 2, 3)]
ESSEX_ROWS = [14_786, 13_752, 16_014]
MET = "police-met-stop-and-search-2018-12/2018-12-metropolitan-stop-and-search.csv"
FMS_ALL = "fixmystreet-lad-monthly/fms_all_reports_lad_monthly.csv"
FMS_FLY = "fixmystreet-lad-monthly/fms_flytipping_lad_monthly.csv"

ARRESTS_SQL = (
    "SELECT *, CASE WHEN \"Outcome\" = 'Arrest' THEN 'yes' ELSE 'no' END AS arrested FROM stops"
)
# the real files' headers: month, lad, reports, unique_users
SHARE_SQL = (
    "SELECT a.lad, SUM(a.reports) AS all_reports, SUM(COALESCE(f.reports, 0)) AS flytipping\n"
    "FROM all_reports a LEFT JOIN flytipping f ON a.lad = f.lad AND a.month = f.month\n"
    "GROUP BY a.lad\n"
    "ORDER BY a.lad\n"
)


def need(shared_data: Path, *names: str) -> list[Path]:
    paths = [shared_data / n for n in names]
    missing = [n for n, p in zip(names, paths) if not p.exists()]
    if missing:
        pytest.skip(f"not in the shared data: {', '.join(missing)}")
    return paths


def new(cli, tmp_path: Path, name: str) -> Path:
    made = cli("new", name, "--no-input", "--output-dir", str(tmp_path))
    assert made.exit_code == 0, made.output
    return tmp_path / name


def ok(result, codes=(0,)):
    assert result.exit_code in codes, result.output
    return result


def add_and_validate(cli, root: Path, name: str, files: list[Path], *, combine: bool = False) -> None:
    p = str(root)
    for f in files:
        ok(cli("data", "add", str(f), "--name", name, *(["--combine", "all"] if combine else []), "-q", "-p", p))
    ok(cli("schema", "infer", name, "-q", "-p", p))
    ok(cli("validate", name, "-q", "-p", p))


def configure(root: Path, *, derived: dict | None = None, steps: list | None = None) -> None:
    from expedition.config import update_config

    def change(document) -> None:
        if derived:
            document["derived"] = {**(document.get("derived") or {}), **derived}
        if steps:
            document["steps"] = [*(document.get("steps") or []), *steps]

    update_config(root, change)


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def stored_table(root: Path, finding: str, table: str):
    import polars as pl

    return pl.read_parquet(root / ".expedition" / "findings" / finding / "tables" / f"{table}.parquet")


# --------------------------------------------------------------------------- combine: all


def test_essex_months_combined_account_for_every_row(cli, tmp_path, shared_data):
    from expedition.project import Project
    from expedition.validation import quality_files

    files = need(shared_data, *ESSEX)
    root = new(cli, tmp_path, "essex-crime")
    p = str(root)
    for f in files:
        ok(cli("data", "add", str(f), "--name", "crimes", "--combine", "all", "-q", "-p", p))
    project = Project.load(root)
    assert project.config.datasets["crimes"].combine == "all"
    assert [d.rows for d in project.config.datasets["crimes"].deliveries] == ESSEX_ROWS
    ok(cli("schema", "infer", "crimes", "-q", "-p", p))
    shown = ok(cli("validate", "crimes", "--json", "-p", p), codes=(0, 1))

    on_disk = json.loads(quality_files(project, "crimes")["json"].read_text(encoding="utf-8"))
    (printed,) = json.loads(shown.stdout)
    for record in (printed, on_disk):
        assert record["combine"] == "all"
        total = record["report"]["rows"]
        assert total["read"] == sum(ESSEX_ROWS) == 44_552
        assert total["read"] == total["valid"] + total["quarantined"]
        parts = record["deliveries"]
        assert [d["label"] for d in parts] == [f.name for f in files]
        assert [d["rows"]["read"] for d in parts] == ESSEX_ROWS
        for d in parts:
            assert d["rows"]["read"] == d["rows"]["valid"] + d["rows"]["quarantined"]
        assert sum(d["rows"]["valid"] for d in parts) == total["valid"]
        assert sum(d["rows"]["quarantined"] for d in parts) == total["quarantined"]
    assert printed["report"]["rows"] == on_disk["report"]["rows"]
    assert printed["deliveries"] == on_disk["deliveries"]

    # the union carries the file each row came from, and is what steps read
    import polars as pl

    valid = pl.read_parquet(root / on_disk["outputs"]["valid"]["file"])
    assert valid.height == on_disk["report"]["rows"]["valid"]
    assert "delivery" in valid.columns
    assert valid["delivery"].n_unique() == 3


def test_where_restricts_eda_to_antisocial_behaviour(cli, tmp_path, shared_data):
    files = need(shared_data, *ESSEX)
    root = new(cli, tmp_path, "essex-asb")
    add_and_validate(cli, root, "crimes", files, combine=True)
    configure(root, steps=[{
        "id": "asb-outcomes", "step": "eda", "dataset": "crimes",
        "where": "crime_type = 'Anti-social behaviour'",
        "params": {"variables": ["last_outcome_category"]},
    }])
    ran = ok(cli("run", "--json", "-p", str(root)))
    (finding,) = json.loads(ran.stdout)
    assert finding["metrics"]["rows"] == 10_536
    assert finding["headlines"][0].startswith("Among anti-social behaviour crimes")
    assert "10,536 records" in finding["headlines"][0]
    assert finding["provenance"]["where"] == "crime_type = 'Anti-social behaviour'"
    # every ASB record lacks an outcome (as published): one category, all 10,536 of them
    categories = stored_table(root, "asb-outcomes", "categories")
    assert categories["n"].sum() == 10_536
    truth = sum(1 for f in files for r in rows_of(f) if r["crime_type"] == "Anti-social behaviour")
    assert truth == 10_536


# --------------------------------------------------------------------------- derived: an outcome


def test_arrest_outcome_derived_reproduces_the_chi_square(cli, tmp_path, shared_data):
    from scipy.stats import chi2_contingency

    (source,) = need(shared_data, MET)
    root = new(cli, tmp_path, "met-arrests")
    add_and_validate(cli, root, "stops", [source])
    configure(root, derived={"stops_arrests": {"sql": ARRESTS_SQL}}, steps=[{
        "id": "arrests-by-ethnicity", "step": "significance", "dataset": "stops_arrests",
        "params": {"group": "arrested", "group_value": "yes", "variables": ["Officer-defined ethnicity"]},
    }])
    prepared = ok(cli("prepare", "--json", "-p", str(root)))
    record = json.loads(prepared.stdout)
    record = record[0] if isinstance(record, list) else record
    assert record["name"] == "stops_arrests" and record["rows"] == 15_521
    assert record["columns"]["arrested"] == "string"
    assert [i["name"] for i in record["inputs"]] == ["stops"]

    ran = ok(cli("run", "--json", "-p", str(root)))
    (finding,) = json.loads(ran.stdout)
    assert finding["provenance"]["derived"]["sql"] == ARRESTS_SQL
    tests = stored_table(root, "arrests-by-ethnicity", "tests").row(0, named=True)
    assert tests["variable"] == "Officer-defined ethnicity"
    assert tests["statistic_name"] == "chi-square"
    assert tests["statistic"] == pytest.approx(32.4194, abs=5e-5)
    assert tests["df"] == 3

    # the same test straight from the raw CSV
    counts = Counter((r["Officer-defined ethnicity"], r["Outcome"] == "Arrest")
                     for r in rows_of(source) if r["Officer-defined ethnicity"])
    groups = sorted({g for g, _ in counts})
    expected = chi2_contingency([[counts[(g, True)], counts[(g, False)]] for g in groups], correction=False)
    assert expected.dof == 3
    assert tests["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert tests["n"] == sum(counts.values())


# --------------------------------------------------------------------------- derived: a join


def test_flytipping_joined_to_all_reports_benchmarks_and_packs(cli, tmp_path, shared_data):
    from expedition.prepare import prepare
    from expedition.project import Project

    everything, flytipping = need(shared_data, FMS_ALL, FMS_FLY)
    root = new(cli, tmp_path, "fms-flytipping")
    p = str(root)
    add_and_validate(cli, root, "all_reports", [everything])
    add_and_validate(cli, root, "flytipping", [flytipping])
    configure(root, derived={"flytipping_share": {"sql": SHARE_SQL}}, steps=[{
        "id": "flytipping-share", "step": "benchmark", "dataset": "flytipping_share",
        "params": {"unit": "lad", "events": "flytipping", "denominator": "all_reports"},
    }])

    (made,) = prepare(Project.load(root))
    assert not made.cached
    assert list(made.columns) == ["lad", "all_reports", "flytipping"]
    assert [i["name"] for i in made.inputs] == ["all_reports", "flytipping"]
    truth_all: Counter[str] = Counter()
    truth_fly: Counter[str] = Counter()
    for r in rows_of(everything):
        truth_all[r["lad"]] += int(r["reports"])
    for r in rows_of(flytipping):
        truth_fly[r["lad"]] += int(r["reports"])
    assert made.rows == len(truth_all)
    (again,) = prepare(Project.load(root))
    assert again.cached and again.sha256 == made.sha256

    ran = ok(cli("run", "--json", "-p", p))
    (finding,) = json.loads(ran.stdout)
    assert finding["metrics"]["units"] == len(truth_all)
    units = stored_table(root, "flytipping-share", "units")
    assert int(units["denominator"].sum()) == sum(truth_all.values())
    # a fly-tipping report is one of all reports in its LAD and month, so the join loses none
    assert int(units["events"].sum()) == sum(truth_fly.values())

    built = ok(cli("pack", "--json", "-p", p))
    pack = Path(json.loads(built.stdout)["path"])
    ok(cli("pack", "verify", str(pack)))
    page = (pack / "index.html").read_text(encoding="utf-8")
    assert "Lineage" in page
    lineage = page[page.index("Lineage"):]
    assert "derived dataset flytipping_share" in lineage
    assert "LEFT JOIN flytipping f ON a.lad = f.lad AND a.month = f.month" in lineage
    for raw in (everything, flytipping):
        assert raw.name in lineage
    from expedition._io import sha256_file

    assert sha256_file(everything)[:12] in lineage and sha256_file(flytipping)[:12] in lineage


# --------------------------------------------------------------------------- the example


def test_public_data_example_builds_and_verifies(tmp_path, shared_data):
    import subprocess
    import sys

    need(shared_data, *ESSEX, MET, FMS_ALL, FMS_FLY)
    script = Path(__file__).resolve().parents[1] / "examples" / "public-data" / "setup.py"
    done = subprocess.run([sys.executable, str(script), str(shared_data), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "$ expedition data add" in done.stdout and "--combine all" in done.stdout
    root = tmp_path / "public-data"
    from expedition.project import Project

    config = Project.load(root).config
    assert [d.rows for d in config.datasets["crimes"].deliveries] == ESSEX_ROWS
    (pack,) = [p for p in (root / "findings").iterdir() if p.is_dir()]
    findings = {f["id"]: f for f in json.loads((pack / "findings.json").read_text())["findings"]}
    assert set(findings) == {"crimes-overview", "asb-outcomes", "arrests-by-ethnicity", "flytipping-share"}
    assert findings["asb-outcomes"]["headlines"][0].startswith("Among anti-social behaviour crimes")
    assert "Lineage" in (pack / "index.html").read_text(encoding="utf-8")
