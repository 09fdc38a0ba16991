"""`pathways`: planted shares recovered, censored durations, variants kept from small counts."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps.pathways import OTHER, Pathways
from expedition.testing import attack, publish
from _text import flat

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))
T0 = datetime(2024, 1, 1)


def raw(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    return Pathways().run(data.lazy(), Pathways.parse_params(params), ctx)


def run(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    return publish(raw(data, ctx, **params), ctx.disclosure)


def log(cases: dict[str, list[tuple[str, float]]]) -> pl.DataFrame:
    rows = [(case, a, T0 + timedelta(days=d)) for case, events in cases.items() for a, d in events]
    return pl.DataFrame(rows, schema=["case_id", "activity", "timestamp"], orient="row")


@pytest.fixture(scope="module")
def example():
    from expedition.examples.pathways import generate

    return generate()


def test_planted_shares_are_recovered_within_their_intervals(example):
    from expedition.examples.pathways import ROUTES

    finding = run(example, start=["referral"], end=["close"])
    moves = finding.tables["transitions"].frame
    checked = 0
    for source, routes in ROUTES.items():
        if source == "close":  # re-entries after the log ends are unseen: undercounted, see the caveat
            continue
        for target, share in routes:
            row = moves.filter((pl.col("from") == source) & (pl.col("to") == target)).row(0, named=True)
            assert row["share_low"] <= share <= row["share_high"], (source, target, row)
            checked += 1
    assert checked == 8
    starts = moves.filter(pl.col("from") == "(start)")
    assert starts["to"].to_list() == ["referral"] and starts["share"].item() == 1.0


def test_durations_count_open_cases_as_censored():
    rng = np.random.default_rng(4)
    stays = rng.exponential(10.0, 600)
    entries = rng.uniform(0, 20.0, 600)
    cases = {}
    for i, (entry, stay) in enumerate(zip(entries, stays)):
        seen = entry + stay < 20.0  # the log ends on day 20: later cases are still waiting
        cases[f"c{i}"] = [("waiting", float(entry))] + ([("seen", float(entry + stay))] if seen else [])
    cases["last"] = [("waiting", 0.0), ("seen", 20.0)]
    finding = raw(log(cases), end=["seen"])
    row = finding.tables["durations"].frame.row(0, named=True)
    assert row["activity"] == "waiting"
    assert row["open"] > 100
    truth = 10.0 * np.log(2)
    assert row["median_low"] <= truth <= row["median_high"]
    completed = stays[entries + stays < 20.0]
    assert float(np.median(completed)) < row["median_low"]  # leaving out the open cases understates it


def test_a_rare_pathway_is_pooled_not_published():
    cases = {f"a{i}": [("in", 0.0), ("out", 1.0)] for i in range(30)}
    cases |= {f"b{i}": [("in", 0.0), ("review", 1.0), ("out", 2.0)] for i in range(12)}
    cases |= {f"c{i}": [("in", 0.0), ("appeal", 1.0), ("out", 3.0)] for i in range(2)}
    finding = run(log(cases), end=["out"])
    variants = finding.tables["variants"].frame
    assert "in → appeal → out" not in variants["variant"].to_list()
    assert 2 not in variants["cases"].to_list()
    assert OTHER in variants["variant"].to_list()
    moves = finding.tables["transitions"].frame
    appeal = moves.filter(pl.col("to") == "appeal").row(0, named=True)
    assert appeal["cases"] is None and appeal["share"] is None  # suppressed, with what derives from it
    assert not attack([raw(log(cases), end=["out"]).with_(id="p", population="events")])
    for text in finding.headlines:
        assert "a1" not in text and "c0" not in text  # case ids never published


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=6), min_size=1, max_size=30))
def test_moves_add_up_and_shares_out_of_each_activity_sum_to_one(paths):
    paths = [*paths, ["D"]]  # so that the end activity occurs
    cases = {f"c{i}": [(a, float(j)) for j, a in enumerate(path)] for i, path in enumerate(paths)}
    finding = raw(log(cases), end=["D"])
    moves = finding.tables["transitions"].frame
    open_cases = sum(1 for p in paths if p[-1] != "D")
    assert moves["cases"].sum() == sum(len(p) for p in paths) + len(paths) - open_cases
    sums = moves.group_by("from").agg(pl.col("share").sum())
    assert np.allclose(sums["share"].to_numpy(), 1.0)
    assert (moves["share_low"] <= moves["share"] + 1e-12).all() and (moves["share"] <= moves["share_high"] + 1e-12).all()


def test_same_seed_same_tables(example):
    a, b = raw(example.head(3000)), raw(example.head(3000))
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)


def test_outcomes_by_pathway_and_headlines(example):
    finding = run(example, start=["referral"], end=["close"], outcome="outcome", outcome_value="improved")
    outcomes = finding.tables["outcomes"].frame
    plan = outcomes.filter(pl.col("variant") == "referral → assessment → plan → review → close").row(0, named=True)
    short = outcomes.filter(pl.col("variant") == "referral → close").row(0, named=True)
    assert plan["rate_low"] > short["rate_high"]  # planted: 65% after a plan, 40% without
    text = " ".join(finding.headlines)
    assert "The commonest pathway, referral → assessment → close, was taken by" in text
    assert "figure" not in text and finding.figures["map"].svg.startswith(b"<?xml")
    assert finding.figures["map"].alt


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"case": "cas_id"}, "did you mean 'case_id'"),
        ({"end": ["closed"]}, "'closed', which is not an activity"),
        ({"activity": "case_id", "case": "case_id"}, "three different columns"),
    ],
)
def test_bad_params_say_what_to_fix(params, message):
    data = log({"x": [("a", 0.0), ("b", 1.0)]})
    with pytest.raises(StepError, match=message):
        raw(data, **params)


def test_steps_show_documents_the_params_with_an_example(cli):
    shown = flat(cli("steps", "show", "pathways").stdout)
    for name in ("case", "activity", "time", "start", "end", "transitions", "durations", "variants"):
        assert name in shown
    assert "step: pathways" in shown and "end: [close]" in shown


def test_the_example_generator_is_seeded_and_its_script_writes_a_file(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from expedition.examples.pathways import generate

    a, b = generate(days=60, seed=4), generate(days=60, seed=4)
    assert a.equals(b) and not a.equals(generate(days=60, seed=5))
    assert a.columns == ["case_id", "activity", "timestamp", "team", "outcome"]
    script = Path(__file__).resolve().parents[1] / "examples" / "events" / "generate.py"
    out = tmp_path / "events.csv"
    done = subprocess.run([sys.executable, str(script), "--days", "30", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert pl.read_csv(out)["activity"].n_unique() >= 3
