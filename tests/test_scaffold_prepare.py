"""Recipe cards and the example expedition that prepare real deliveries: `combine: all`,
`derived:` and `where:` carried from a card into a new project, and the public-data example's
expedition.yaml (issue 15)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from expedition.config import load_config
from expedition.prepare import inputs_of
from expedition.project import Project
from expedition.recipes import Recipe, load_recipe
from expedition.steps import get_step

ROOT = Path(__file__).resolve().parents[1]
CARDS = ["monthly-police-data", "derived-outcome", "rates-with-denominators"]


@pytest.mark.parametrize("card", CARDS)
def test_preparing_cards_scaffold_into_valid_expeditions(cli, tmp_path, card):
    made = cli("new", "x", "--recipe", card, "--no-input", "--output-dir", str(tmp_path))
    assert made.exit_code == 0, made.output
    root = tmp_path / "x"
    config = load_config(root)
    recipe = load_recipe(card)

    for name, spec in recipe.datasets.items():
        assert config.datasets[name].combine == (spec.combine or "latest")
        assert config.datasets[name].schema_ == f"schemas/{name}.yaml"
    assert {n: d.sql.strip() for n, d in config.derived.items()} == \
        {n: d.sql.strip() for n, d in recipe.derived.items()}
    assert [(s.id, s.dataset, s.where, s.params) for s in config.steps] == \
        [(s.id, s.dataset, s.where, s.params) for s in recipe.steps]

    project = Project.load(root)
    for name in config.derived:  # the SQL reads only the card's datasets
        assert set(inputs_of(project, name)) <= set(config.datasets) | set(config.derived)
    for step in config.steps:
        get_step(step.step).parse_params(step.params)
    assert (root / "RECIPE.md").read_text(encoding="utf-8").startswith(f"# Recipe: {recipe.title}")


def test_each_preparing_card_shows_its_feature():
    monthly, outcome, rates = (load_recipe(c) for c in CARDS)
    assert monthly.datasets["crimes"].combine == "all"
    assert any(s.where for s in monthly.steps)
    assert "CASE WHEN" in outcome.derived["stops_arrests"].sql
    assert outcome.steps[0].dataset == "stops_arrests"
    share = rates.derived["flytipping_share"].sql
    assert "LEFT JOIN" in share and "GROUP BY" in share
    (bench,) = rates.steps
    assert bench.step == "benchmark" and bench.params["denominator"] == "all_reports"


def test_a_multi_line_query_stays_a_readable_block(cli, tmp_path):
    assert cli("new", "x", "--recipe", "rates-with-denominators", "--no-input",
               "--output-dir", str(tmp_path)).exit_code == 0
    text = (tmp_path / "x" / "expedition.yaml").read_text(encoding="utf-8")
    assert "    sql: |\n      SELECT a.lad," in text


def test_a_card_step_on_an_undeclared_dataset_is_refused():
    with pytest.raises(ValidationError, match="'nowhere'"):
        Recipe.model_validate({
            "name": "bad", "title": "Bad", "summary": "A step reads a dataset the card lacks.",
            "datasets": {"main": {}}, "derived": {"flagged": {"sql": "SELECT * FROM main"}},
            "steps": [{"id": "s", "step": "eda", "dataset": "nowhere"}],
        })
    with pytest.raises(ValidationError):
        Recipe.model_validate({"name": "bad", "title": "Bad", "summary": "x",
                               "datasets": {"main": {"combine": "sometimes"}}})


def test_the_public_data_example_is_a_valid_expedition(tmp_path):
    example = ROOT / "examples" / "public-data"
    assert not [p for p in example.rglob("*") if p.suffix in {".csv", ".parquet", ".xlsx"}]
    config = load_config(example / "expedition.yaml")
    assert config.datasets["crimes"].combine == "all"
    assert set(config.derived) == {"stops_arrests", "flytipping_share"}
    assert [s.where for s in config.steps if s.where] == ["crime_type = 'Anti-social behaviour'"]
    for step in config.steps:
        get_step(step.step).parse_params(step.params)
    project_dir = tmp_path / "public-data"
    project_dir.mkdir()
    shutil.copy(example / "expedition.yaml", project_dir / "expedition.yaml")
    project = Project.load(project_dir)
    assert inputs_of(project, "stops_arrests") == ["stops"]
    assert inputs_of(project, "flytipping_share") == ["all_reports", "flytipping"]
    readme = (example / "README.md").read_text(encoding="utf-8")
    for name in ("data.police.uk", "Open Government Licence", "ODC-By", "setup.py", "--combine all"):
        assert name in readme
    assert "`public-data/`" in (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
