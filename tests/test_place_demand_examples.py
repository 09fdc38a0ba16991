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
