from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from expedition.config import DisclosureConfig
from expedition.disclosure import apply, safe_table
from expedition.finding import Figure, Finding, Table

RULES = DisclosureConfig(min_count=10)


def one_way(counts: list[int]) -> Table:
    frame = pl.DataFrame(
        {"variable": ["v"] * len(counts), "category": [f"c{i}" for i in range(len(counts))], "n": counts}
    )
    total = sum(counts) or 1
    frame = frame.with_columns((pl.col("n") / total).alias("share"))
    return Table(
        frame,
        {"variable": "label", "category": "label", "n": "count", "share": "rate"},
        denominators={"share": "n"},
    )


def test_small_counts_and_their_rates_are_suppressed():
    safe = safe_table(one_way([100, 5, 50, 0]), RULES)
    assert safe.frame["n"].to_list() == [100, None, None, 0]
    assert safe.frame["share"].to_list()[1] is None and safe.frame["share"].to_list()[2] is None
    assert safe.frame["share"].to_list()[0] is not None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=8), min_size=1, max_size=4),
       st.integers(2, 15))
def test_no_published_small_count_and_no_lone_hidden_cell(groups, threshold):
    rows = [(f"g{g}", f"c{i}", n) for g, counts in enumerate(groups) for i, n in enumerate(counts)]
    frame = pl.DataFrame(rows, schema=["variable", "category", "n"], orient="row")
    # a stack of one-way tables, one per variable (categories c0, c1, ... recur across variables,
    # which without `dimensions` the gate would protect as a two-way table)
    table = Table(frame, {"variable": "label", "category": "label", "n": "count"}, dimensions=["category"])
    rules = DisclosureConfig(min_count=threshold)
    safe = safe_table(table, rules).frame
    published = safe["n"].drop_nulls().to_list()
    assert all(v == 0 or v >= threshold for v in published)
    for name in frame["variable"].unique():
        original = frame.filter(pl.col("variable") == name)["n"].to_list()
        shown = safe.filter(pl.col("variable") == name)["n"].to_list()
        hidden = [i for i, v in enumerate(shown) if v is None]
        # a lone hidden cell could be worked out from the group total: only allowed when every
        # other cell is zero (nothing else could be suppressed, and the total is itself small)
        if len(hidden) == 1:
            assert all(v == 0 for i, v in enumerate(original) if i != hidden[0])


def test_identifier_columns_never_leave_and_text_is_redacted():
    frame = pl.DataFrame({"id": ["R1", "R2"], "note": ["called Jamie at CM1 1AA", "fine"], "n": [20, 30]})
    table = Table(frame, {"id": "identifier", "note": "text", "n": "count"})
    finding = Finding(
        step="x",
        title="t",
        id="f",
        headlines=["Ms Taylor said so."],
        caveats=["Reach 07700 900123."],
        tables={"t": table},
    )
    safe, log = apply(finding, RULES)
    assert "id" not in safe.tables["t"].frame.columns
    assert safe.tables["t"].frame["note"].to_list() == ["called [NAME] at [POSTCODE]", "fine"]
    assert safe.headlines == ["Ms [NAME] said so."]
    assert safe.caveats == ["Reach [PHONE]."]
    reasons = " ".join(e.reason for e in log)
    assert "identifier column removed" in reasons and "personal data redacted" in reasons


def test_a_figure_whose_data_lost_cells_is_withheld():
    table = one_way([100, 3, 40])
    figure = Figure(title="bars", png=b"png", data="counts")
    finding = Finding(step="x", title="t", id="f", headlines=[], tables={"counts": table},
                      figures={"bars": figure})
    safe, log = apply(finding, RULES)
    assert safe.figures == {}
    assert any("withheld" in e.reason for e in log)
    # a figure drawn from already-safe data passes untouched
    pre = safe_table(table, RULES)
    finding = finding.with_(tables={"counts": pre})
    safe, log = apply(finding, RULES)
    assert "bars" in safe.figures and log == []


def test_rounding_to_base():
    table = one_way([101, 47, 12])
    safe = safe_table(table, DisclosureConfig(min_count=10, round_to=5))
    assert safe.frame["n"].to_list() == [100, 45, 10]


def outcome_table(rows: list[tuple[int, int]]) -> Table:
    frame = pl.DataFrame(
        {"category": [f"c{i}" for i in range(len(rows))], "n": [n for n, _ in rows], "outcome_n": [k for _, k in rows]}
    ).with_columns((pl.col("outcome_n") / pl.col("n")).alias("rate"))
    return Table(
        frame,
        {"category": "label", "n": "count", "outcome_n": "count", "rate": "rate"},
        denominators={"rate": ["n", "outcome_n"]},
    )


def test_a_small_complement_is_suppressed_like_a_small_count():
    # 98 of 100 had the outcome: publishing both counts would say that 2 did not
    table = outcome_table([(100, 98), (200, 100), (150, 60)])
    finding, log = apply(Finding(step="x", id="f", title="t", headlines=[], tables={"by": table}), RULES)
    safe = finding.tables["by"].frame
    assert safe["n"].to_list() == [100, 200, 150]
    assert safe["outcome_n"][0] is None and safe["rate"][0] is None
    assert any("complement" in entry.reason for entry in log)
    # and the outcome total cannot give it back: a second outcome count is hidden too
    assert safe["outcome_n"].null_count() >= 2
    assert safe_table(finding.tables["by"], RULES).frame.equals(safe)  # idempotent


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 80), st.integers(0, 80)), min_size=1, max_size=8), st.integers(2, 15))
def test_no_published_part_leaves_a_small_rest(pairs, threshold):
    rows = [(max(a, b), min(a, b)) for a, b in pairs]
    safe = safe_table(outcome_table(rows), DisclosureConfig(min_count=threshold)).frame
    for n, k in zip(safe["n"].to_list(), safe["outcome_n"].to_list()):
        for value in (n, k):
            assert value is None or value == 0 or value >= threshold
        if n is not None and k is not None:
            assert n - k == 0 or n - k >= threshold
