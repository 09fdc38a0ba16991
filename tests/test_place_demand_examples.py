"""The incidents and demand examples, the demo's wiring for them, recipe cards and date parsing."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expedition.steps import get_step


def test_generators_are_seeded_and_shaped():
    from expedition.examples import demand, incidents

    a, b = incidents.generate(3_000, seed=5), incidents.generate(3_000, seed=5)
    assert a.equals(b) and a.height == 3_000
    assert a.columns == ["incident_id", "date", "month", "crime_type", "latitude", "longitude", "lsoa_code"]
    assert not a.equals(incidents.generate(3_000, seed=6))
    assert a["lsoa_code"].str.starts_with("X01").all()  # never a real LSOA code
    assert a["date"].min() >= date(2024, 1, 1) and a["date"].max() <= date(2024, 12, 31)
    d = demand.generate(72, seed=5)
    assert d.equals(demand.generate(72, seed=5))
    assert d.height == 72 * len(demand.UNITS) and d["demand"].min() > 0
    means = demand.expected("South Essex", 72)
    assert means[-1] > means[0]  # planted growth
    assert demand.expected("Out of Hours", 24) == [150.0] * 24  # planted noise only


def test_example_generate_scripts_write_files(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples"
    for name, args in (("incidents", ["--rows", "500"]), ("demand", ["--months", "30"])):
        out = tmp_path / f"{name}.csv"
        done = subprocess.run(
            [sys.executable, str(root / name / "generate.py"), *args, "--out", str(out)],
            capture_output=True, text=True,
        )
        assert done.returncode == 0, done.stderr
        assert pl.read_csv(out).height == (500 if name == "incidents" else 30 * 5)


def test_the_demo_runs_every_example_dataset_and_step():
    from expedition.demo import MORE_EXAMPLES, example_config

    config = example_config()
    assert {"referrals", *MORE_EXAMPLES} <= set(config["datasets"])
    steps = {s["step"]: s for s in config["steps"]}
    assert {"eda", "benchmark", "hotspots", "forecast"} <= set(steps)
    for step in config["steps"]:
        get_step(step["step"]).parse_params(step["params"])  # valid parameters
    assert steps["benchmark"]["dataset"] == "referrals"


@pytest.mark.parametrize("card", ["hotspots", "demand-forecast", "benchmarking"])
def test_recipe_cards_use_the_steps_with_valid_parameters(card):
    from expedition.recipes import load_recipe

    recipe = load_recipe(card)
    assert recipe.steps
    for step in recipe.steps:
        get_step(step.step).parse_params(step.params)
        assert step.dataset in recipe.datasets


@pytest.mark.parametrize("step", ["hotspots", "forecast", "benchmark"])
def test_steps_show_documents_the_method_and_parameters(cli, step):
    result = cli("steps", "show", step)
    assert result.exit_code == 0, result.output
    described = get_step(step).describe()
    assert all(p["description"] for p in described["params"])
    for param in described["params"]:
        assert param["name"] in result.output


@settings(max_examples=80, deadline=None)
@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31)), st.sampled_from(["iso", "uk", "slash", "month", "datetime"]))
def test_dates_are_read_in_the_formats_deliveries_use(day, style):
    from expedition.steps._time import to_dates

    text = {
        "iso": f"{day:%Y-%m-%d}",
        "uk": f"{day:%d/%m/%Y}",
        "slash": f"{day:%Y/%m/%d}",
        "month": f"{day:%Y-%m}",
        "datetime": f"{day:%Y-%m-%d}T13:45:00",
    }[style]
    parsed = to_dates(pl.Series("d", [text, "not a date", None])).to_list()
    expected = day.replace(day=1) if style == "month" else day
    assert parsed == [expected, None, None]


def test_a_pack_of_forecast_hotspots_and_segment_withholds_the_planted_small_groups(cli, project_dir):
    """End to end, as a user works: data added, validated and run through the CLI, then packed
    and verified. A tiny team beside the demand example's units, a lone incident far from the
    hot spots and a segment of a few records: the pack publishes none of their counts or the
    lone incident's place, the auditor pins none of them from all three findings together, and
    the large units keep theirs. (Areas are tested in test_hotspots.py.)"""
    import csv
    import json
    from pathlib import Path

    import numpy as np

    from expedition.config import DisclosureConfig
    from expedition.examples import demand, incidents
    from expedition.project import Project
    from expedition.runner import stored_findings
    from expedition.testing import attack

    p = str(project_dir)
    months = demand.generate(48, seed=3)
    tiny = months.filter(pl.col("unit") == months["unit"][0]).with_columns(
        pl.lit("Tiny Team").alias("unit"), pl.Series("demand", [3, 5, 2, 7] * 12),
    )
    months = pl.concat([months, tiny.select(months.columns)])
    points = incidents.generate(1_500, seed=4)
    lone = points.head(1).with_columns(pl.lit(51.95).alias("latitude"), pl.lit(0.95).alias("longitude"),
                                       pl.lit("LONE-1").alias("incident_id"))
    points = pl.concat([points, lone])
    rng = np.random.default_rng(2)
    people = pl.concat([
        pl.DataFrame({"age": rng.normal(age, 1.5, size), "visits": rng.normal(visits, 0.5, size)})
        for age, visits, size in ((20, 5, 300), (80, 5, 250), (20, 25, 200), (50, 15, 4))
    ])
    for name, frame in (("demand", months), ("incidents", points), ("people", people)):
        path = Path(project_dir) / f"{name}.csv"
        frame.write_csv(path)
        assert cli("data", "add", str(path), "--name", name, "-q", "-p", p).exit_code == 0
    config = Path(project_dir) / "expedition.yaml"
    config.write_text(config.read_text().replace("steps: []", """steps:
  - id: demand
    step: forecast
    dataset: demand
    params: {date: month, count: demand, unit: unit, horizon: 6, folds: 1, models: [seasonal_naive, naive, regression]}
  - id: places
    step: hotspots
    dataset: incidents
    params: {date: date, study_area: [-0.05, 51.4, 1.35, 52.15]}
  - id: groups
    step: segment
    dataset: people
    params: {k: 4, bootstrap: 0}"""))
    for dataset in ("demand", "incidents", "people"):
        assert cli("schema", "infer", dataset, "-q", "-p", p).exit_code == 0
    assert cli("validate", "-q", "-p", p).exit_code == 0
    result = cli("run", "--json", "-p", p)
    assert result.exit_code == 0, result.output
    printed = {f["id"]: f for f in json.loads(result.stdout)}
    assert any("Tiny Team: its forecast is withheld" in h for h in printed["demand"]["headlines"])
    assert any("its size is suppressed" in h for h in printed["groups"]["headlines"])

    packed = cli("pack", "--json", "-p", p)
    assert packed.exit_code == 0, packed.output
    pack = Path(json.loads(packed.stdout)["path"])
    verified = cli("pack", "verify", str(pack), "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True, verified.output

    def rows(name):
        with (pack / "tables" / f"{name}.csv").open(encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    series = rows("demand__series")
    assert {r["actual"] for r in series if r["unit"] == "Tiny Team"} <= {"c", ""}
    assert {r["forecast"] for r in series if r["unit"] == "Tiny Team"} <= {"c", ""}
    big = [r for r in series if r["unit"] == "North Essex" and r["actual"] not in {"", "c"}]
    assert len(big) == 48  # the large unit keeps every count
    for name in ("places__hot_cells", "places__hot_spots"):
        for row in rows(name):
            assert not (row["latitude"].startswith("51.95") and row["longitude"].startswith("0.95")), name
    assert "51.95" not in (pack / "index.html").read_text(encoding="utf-8")
    segments = rows("groups__segments")
    assert sum(r["n"] == "c" for r in segments) == 2 and any(r["n"] == "300" for r in segments)
    text = (pack / "index.html").read_text(encoding="utf-8")
    assert "Tiny Team: its forecast is withheld" in text

    project = Project.load(project_dir)
    stored = stored_findings(project)
    assert attack(stored, DisclosureConfig(min_count=project.config.disclosure.min_count)) == []
