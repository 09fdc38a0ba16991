"""`combine: all` (every delivery a period, analysed together) and `where:` on steps (a subset,
named in the headlines and tied to the disclosure gate's keys)."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from expedition import disclosure
from _text import flat
from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import DataError, StepError
from expedition.runner import run
from expedition.contract import draft_contract
from expedition.subset import equalities, phrase
from expedition.testing import publish
from expedition.validation import validate_dataset


def months(tmp_path, sizes=(120, 90, 150), bad: int = 1) -> list:
    """Monthly files of incidents; the second month has *bad* rows with an impossible age."""
    rng = random.Random(3)
    files = []
    for i, n in enumerate(sizes, start=1):
        ages = [rng.randint(18, 80) for _ in range(n)]
        if i == 2:
            ages[:bad] = [-5] * bad
        frame = pl.DataFrame({
            "incident_id": [f"I{i}{k:05d}" for k in range(n)],
            "month": [f"2024-0{i}-01"] * n,
            "kind": [rng.choice(["Noise", "Litter", "Vehicle"]) for _ in range(n)],
            "age": ages,
        })
        path = tmp_path / f"2024-0{i}.csv"
        frame.write_csv(path)
        files.append(path)
    return files


def with_steps(project, steps):
    update_config(project.config_path, lambda doc: doc.__setitem__("steps", steps))
    return project.reload()


def tighten_age(project):
    """Ages below zero fail (the draft widened the range to take the bad rows in)."""
    import re

    path = project.root / "schemas" / "incidents.yaml"
    text, n = re.subn(r"min: -\d+", "min: 0", path.read_text())
    assert n == 1
    path.write_text(text)


@pytest.fixture
def combined(project, tmp_path):
    for path in months(tmp_path):
        add_dataset(project, path, "incidents", combine="all")
    project = project.reload()
    draft_contract(project, "incidents")
    return project.reload()


def test_every_delivery_is_validated_and_their_union_analysed(combined):
    result = validate_dataset(combined, "incidents", max_invalid=5)
    parts = result.to_dict()["deliveries"]
    assert [p["rows"]["read"] for p in parts] == [120, 90, 150]
    assert all(p["rows"]["read"] == p["rows"]["valid"] + p["rows"]["quarantined"] for p in parts)
    assert result.report.rows_read == 360 == result.report.rows_valid + result.report.rows_quarantined
    valid = pl.read_parquet(combined.root / "data" / "interim" / "incidents.parquet")
    assert valid.height == result.report.rows_valid
    assert valid.group_by("delivery").len().sort("delivery")["delivery"].to_list() == \
        ["2024-01.csv", "2024-02.csv", "2024-03.csv"]
    record = json.loads((combined.quality_dir("incidents") / "validation.json").read_text())
    assert record["combine"] == "all" and len(record["deliveries"]) == 3


def test_a_quarantined_row_is_accounted_to_its_delivery(combined):
    tighten_age(combined)
    result = validate_dataset(combined.reload(), "incidents", max_invalid=5)
    parts = {p.label: p.report for p in result.parts}
    assert parts["2024-02.csv"].rows_quarantined == 1
    assert parts["2024-01.csv"].rows_quarantined == parts["2024-03.csv"].rows_quarantined == 0
    quarantine = pl.read_parquet(combined.root / "data" / "quarantine" / "incidents.parquet")
    assert quarantine["delivery"].to_list() == ["2024-02.csv"]


def test_a_file_added_twice_is_refused_and_overlaps_reported(combined, tmp_path):
    first = months(tmp_path)[0]
    with pytest.raises(DataError, match="counted twice"):
        add_dataset(combined, first, "incidents")
    # the same month sent again with one age corrected: the periods overlap and the key repeats
    again = tmp_path / "2024-01-resent.csv"
    frame = pl.read_csv(first)
    frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(99).otherwise(pl.col("age")).alias("age")) \
        .write_csv(again)
    add_dataset(combined, again, "incidents")
    result = validate_dataset(combined.reload(), "incidents", max_invalid=5)
    text = " ".join(result.report.warnings)
    assert "2024-01.csv (2024-01-01 to 2024-01-01) and 2024-01-resent.csv" in text
    assert "values of the unique key incident_id occur in more than one delivery" in text


def test_steps_read_every_delivery_and_the_pack_accounts_for_each(combined, cli):
    validate_dataset(combined, "incidents", max_invalid=5)
    project = with_steps(combined, [{"id": "kinds", "step": "eda", "dataset": "incidents",
                                     "params": {"variables": ["kind", "delivery"]}}])
    [finding] = run(project)
    assert "360 records" in str(publish(finding, project.config.disclosure).headlines[0])
    assert [d["version"] for d in finding.provenance["deliveries"]] == [1, 2, 3]
    result = cli("pack", "--project", str(project.root))
    assert result.exit_code == 0, result.output
    pack = next((project.root / "findings").glob("*/"))
    html = (pack / "index.html").read_text()
    assert "Every delivery is a period of incidents" in html and "2024-02.csv" in html
    assert cli("pack", "verify", str(pack)).exit_code == 0


def test_a_new_delivery_without_combine_says_it_replaces_the_last(project, tmp_path):
    one, two, _ = months(tmp_path)
    add_dataset(project, one, "incidents")
    result = add_dataset(project.reload(), two, "incidents")
    assert any("combine: all" in w for w in result.warnings)


# --------------------------------------------------------------------------- where:


def cases(tmp_path, spec=None):
    """Cases by district and outcome; Alpha has few 'yes' (suppressed) so its row is protected."""
    spec = spec or {"Alpha": (4, 60), "Beta": (30, 40), "Gamma": (25, 45), "Delta": (35, 50)}
    rows = [(d, o) for d, (y, n) in spec.items() for o in ["yes"] * y + ["no"] * n]
    random.Random(1).shuffle(rows)
    path = tmp_path / "cases.csv"
    pl.DataFrame({"id": [f"C{i:05d}" for i in range(len(rows))], "district": [r[0] for r in rows],
                  "outcome": [r[1] for r in rows]}).write_csv(path)
    return path


@pytest.fixture
def cased(project, tmp_path, validated):
    add_dataset(project, cases(tmp_path), "cases")
    return validated(project.reload(), "cases")


def test_where_restricts_the_rows_and_names_the_subset(cased):
    project = with_steps(cased, [{"id": "beta", "step": "eda", "dataset": "cases",
                                  "where": "district = 'Beta'", "params": {"variables": ["outcome"]}}])
    [finding] = run(project)
    published = publish(finding, project.config.disclosure)
    assert str(published.headlines[0]).startswith("Among Beta cases, the data hold 70 records")
    assert finding.provenance["where"] == "district = 'Beta'"
    categories = published.tables["categories"].frame
    assert dict(zip(categories["category"], categories["n"])) == {"no": 40, "yes": 30}


def test_a_subset_count_is_suppressed_where_the_whole_table_suppresses_it(cased):
    """The attack: a cross-table over every district hides Alpha's cells (one small, the other
    to protect it); a step restricted to Alpha would publish Alpha's 'no' count, and Alpha's
    total then gives the small 'yes' away. Tied to the same keys, the subset's count is hidden."""
    project = with_steps(cased, [
        {"id": "all", "step": "significance", "dataset": "cases",
         "params": {"group": "outcome", "variables": ["district"]}},
        {"id": "alpha", "step": "eda", "dataset": "cases", "where": "district = 'Alpha'",
         "params": {"variables": ["outcome"]}},
    ])
    findings = run(project)
    gated = {g.finding.id: g.finding for g in disclosure.gate_findings(findings, project.config.disclosure)}
    crosstab = gated["all"].tables["crosstab"].frame.filter(pl.col("category") == "Alpha")
    assert crosstab["n"].null_count() == 2  # both of Alpha's cells are hidden in the whole table
    subset = gated["alpha"].tables["categories"].frame
    assert subset.filter(pl.col("category") == "no")["n"].to_list() == [None]
    from expedition.testing import attack

    assert attack(findings, project.config.disclosure) == []


def test_where_that_leaves_out_a_few_rows_is_refused(cased):
    project = with_steps(cased, [{"id": "x", "step": "eda", "dataset": "cases",
                                  "where": "id <> 'C00000'", "params": {"variables": ["outcome"]}}])
    with pytest.raises(StepError, match="leaves out 1 of 289 rows"):
        run(project)


@pytest.mark.parametrize("where, words", [
    ("distrct = 'Beta'", "does not have: 'distrct' (did you mean 'district'?)"),
    ("district = = 'Beta'", "is not a SQL condition"),
    ("district = 'Nowhere'", "no row of 'cases' meets"),
])
def test_bad_where_gets_a_message_not_a_traceback(cased, cli, where, words):
    project = with_steps(cased, [{"id": "x", "step": "eda", "dataset": "cases", "where": where,
                                  "params": {"variables": ["outcome"]}}])
    result = cli("run", "--project", str(project.root))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert words in flat(result.output), result.output


def test_a_condition_that_is_not_equalities_is_a_population_of_its_own(cased):
    project = with_steps(cased, [
        {"id": "all", "step": "eda", "dataset": "cases", "params": {"variables": ["outcome"]}},
        {"id": "notalpha", "step": "eda", "dataset": "cases", "where": "district <> 'Alpha'",
         "params": {"variables": ["outcome"]}},
    ])
    whole, subset = run(project)
    assert subset.population != whole.population and subset.population.startswith(whole.population)
    assert str(publish(subset, project.config.disclosure).headlines[0]).startswith(
        "Among cases where district <> 'Alpha', the data hold 225 records")


@given(column=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
       value=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20))
def test_equalities_read_back_what_was_written(column, value):
    where = f"{column} = '{value.replace(chr(39), chr(39) * 2)}'"
    if column.upper() == "AND" or " AND " in f" {value.upper()} ":
        return
    assert equalities(where) == {column: value}
    assert equalities(where + " AND other = 3") == {column: value, "other": 3}
    assert equalities(f"{column} > 3") is None and equalities(f"{column} = 'a' OR x = 'b'") is None


def test_the_subset_phrase_reads_as_english():
    assert phrase("crime_type = 'Anti-social behaviour'", "crimes", {"crime_type": "Anti-social behaviour"}) \
        == "among anti-social behaviour crimes"
    assert phrase("d = 'Epping Forest'", "cases", {"d": "Epping Forest"}) == "among Epping Forest cases"
    assert phrase("age > 3", "cases", None) == "among cases where age > 3"
