"""The gate across a whole pack: one count, one decision, wherever it is published.

Each test plays the attacker of issue 13 with the whole pack in hand: it combines tables,
sentences and metrics, and the auditor (`expedition.disclosure.system.audit`, a linear programme
over every published count) tries to pin each suppressed count. The gate must leave it uncertain
by at least the threshold, and never publish a small count, directly or by subtraction.
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.config import DisclosureConfig
from expedition.disclosure import gate_findings
from expedition.finding import RECORDED, Cell, Count, Derived, Finding, Keys, Table, Value, say
from expedition.testing import attack

RULES = DisclosureConfig(min_count=10)


def categories(counts: dict[str, int], variable: str = "team") -> Table:
    """An eda-style long table: one row per category of a variable."""
    frame = pl.DataFrame({"variable": [variable] * len(counts), "category": list(counts), "n": list(counts.values())})
    return Table(frame, {"variable": "label", "category": "label", "n": "count"}, dimensions=["category"],
                 keys=Keys(pairs=("variable", "category"), counts={"n": {}}))


def units(counts: dict[str, int], events: dict[str, int], variable: str = "team") -> Table:
    """A benchmark-style table: one row per unit, its events and cases."""
    frame = pl.DataFrame({"unit": list(counts), "events": [events[u] for u in counts], "cases": list(counts.values())})
    frame = frame.with_columns((pl.col("events") / pl.col("cases")).alias("rate"))
    return Table(
        frame, {"unit": "label", "events": "count", "cases": "count", "rate": "rate"},
        denominators={"rate": ["events", "cases"]}, dimensions=["unit"],
        keys=Keys(variables={"unit": variable}, counts={"events": {"flag": "yes"}, "cases": {}}),
    )


def finding(fid: str, tables: dict[str, Table], headlines=(), metrics=None) -> Finding:
    return Finding(step="x", title=fid, id=fid, headlines=list(headlines), tables=tables,
                   metrics=dict(metrics or {}), population="data@1")


def test_two_tables_hide_the_same_small_team_and_neither_gives_it_away():
    teams = {"A": 1000, "B": 992, "C": 8}
    eda = finding("eda", {"categories": categories(teams)})
    bench = finding("bench", {"units": units(teams, {"A": 300, "B": 200, "C": 8})})
    assert attack([eda, bench], RULES) == []
    gated = gate_findings([eda, bench], RULES)
    a = gated[0].finding.tables["categories"].frame["n"].to_list()
    b = gated[1].finding.tables["units"].frame["cases"].to_list()
    assert a[2] is None and b[2] is None
    # the same teams are hidden in both: nothing published in one is hidden in the other
    assert [v is None for v in a] == [v is None for v in b]


def test_a_headline_total_cannot_difference_out_a_suppressed_team():
    teams = {"A": 1000, "B": 992, "C": 8}
    total = say("The data hold {n} records.", n=Count(2000))
    eda = finding("eda", {"categories": categories(teams)}, [total])
    assert attack([eda], RULES) == []


def test_a_count_of_the_recorded_cannot_give_away_the_missing():
    """'503 of 1,997' beside a total of 2,000 reveals 3 missing values: the gate must not let it."""
    missing = Table(
        pl.DataFrame({"variable": ["outcome"], "missing": [3]}),
        {"variable": "label", "missing": "count"},
        keys=Keys(variables={"variable": None}, counts={"missing": {"outcome": None}}),
    )
    sentence = say("{yes} of {recorded} records have the outcome.",
                   yes=Count(503, {"outcome": "yes"}), recorded=Count(1997, {"outcome": RECORDED}),
                   fallback="Some records have the outcome.")
    overview = say("The data hold {n} records.", n=Count(2000))
    eda = finding("eda", {"missing": missing}, [overview, sentence])
    assert attack([eda], RULES) == []
    (gated,) = gate_findings([eda], RULES)
    text = " ".join(gated.finding.headlines)
    assert not ("1,997" in text and "2,000" in text)


def test_counts_in_sentences_are_suppressed_with_the_table_cell():
    teams = {"A": 1000, "B": 992, "C": 8}
    table = units(teams, {"A": 300, "B": 200, "C": 8})
    outlier = say("{team} is above the limits ({r} of {n}).", team="C",
                  r=Cell("units", "events", {"unit": "C"}), n=Cell("units", "cases", {"unit": "C"}),
                  fallback="A team too small to name is above the limits.")
    (gated,) = gate_findings([finding("bench", {"units": table}, [outlier])], RULES)
    assert gated.finding.headlines == ["A team too small to name is above the limits."]


def test_a_small_count_in_a_sentence_is_never_printed_and_its_table_cell_hides_too():
    table = categories({"A": 1000, "B": 992, "C": 8})
    sentence = say("Team C has {n} records.", n=Count(8, {"team": "C"}))
    (gated,) = gate_findings([finding("eda", {"categories": table}, [sentence])], RULES)
    assert "8" not in gated.finding.headlines[0]
    assert gated.finding.tables["categories"].frame["n"].to_list()[2] is None


def test_rounding_applies_to_sentences_and_metrics_as_to_tables():
    rules = DisclosureConfig(min_count=10, round_to=5)
    table = categories({"A": 1003, "B": 992})
    f = finding("eda", {"categories": table}, [say("{n} records.", n=Count(1995))], {"records": Count(1997)})
    (gated,) = gate_findings([f], rules)
    assert gated.finding.headlines == ["1,995 records."]
    assert gated.finding.metrics["records"] == 1995
    assert gated.finding.tables["categories"].frame["n"].to_list() == [1005, 990]
    assert gated.finding.metric_kinds["records"] == "count"


def test_values_derived_from_a_small_series_are_suppressed_with_it():
    """A seasonal-naive forecast repeats last year's counts: it goes when they go."""
    frame = pl.DataFrame({
        "unit": ["big"] * 4 + ["small"] * 4,
        "month": ["2020-01", "2020-02", "2021-01", "2021-02"] * 2,
        "actual": [1000, 1010, None, None, 3, 2, None, None],
        "forecast": [None, None, 1000.0, 1010.0, None, None, 3.0, 2.0],
    })
    table = Table(frame, {"unit": "label", "month": "date", "actual": "count", "forecast": "statistic"},
                  dimensions=["month"], derived={"forecast": Derived(("actual",), ("unit",))},
                  keys=Keys(counts={"actual": {}}))
    (gated,) = gate_findings([finding("forecast", {"series": table})], RULES)
    out = gated.finding.tables["series"].frame
    assert out["forecast"].to_list() == [None, None, 1000.0, 1010.0, None, None, None, None]
    # the big unit keeps every count: a small unit's series does not cost another unit its own
    assert out["actual"].to_list()[:2] == [1000, 1010]


def test_a_value_resting_on_a_suppressed_count_is_withheld():
    table = units({"A": 1000, "C": 8}, {"A": 300, "C": 8})
    rate = Value(1.0, ".0%", (Cell("units", "events", {"unit": "C"}),))
    (gated,) = gate_findings([finding("b", {"units": table}, [say("C: {rate}.", rate=rate)])], RULES)
    assert gated.finding.headlines == ["C: [suppressed]."]


def test_the_log_accounts_for_every_suppressed_cell():
    teams = {"A": 1000, "B": 992, "C": 8}
    eda = finding("eda", {"categories": categories(teams)})
    bench = finding("bench", {"units": units(teams, {"A": 300, "B": 200, "C": 8})})
    for g in gate_findings([eda, bench], RULES):
        logged = {(e.where, e.column, e.row) for e in g.log if e.row is not None}
        for name, masks in g.suppressed.items():
            for column, mask in masks.items():
                for row, flag in enumerate(mask):
                    if flag:
                        assert (f"table {name}", column, row) in logged, (g.finding.id, name, column, row)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(list("ABCDEFG")), st.one_of(st.integers(1, 9), st.integers(10, 400)),
                    min_size=2, max_size=7),
    st.data(),
)
def test_linked_tables_never_let_a_reader_pin_a_suppressed_count(teams, data):
    """Random teams, some small, published in two differently shaped tables and a headline."""
    events = {t: data.draw(st.integers(0, n)) for t, n in teams.items()}
    total = sum(teams.values())
    eda = finding("eda", {"categories": categories(teams)}, [say("{n} records.", n=Count(total))])
    bench = finding("bench", {"units": units(teams, events)},
                    [say("{r} of {n} had the flag.", r=Count(sum(events.values()), {"team": RECORDED, "flag": "yes"}),
                         n=Count(total, {"team": RECORDED}))])
    assert attack([eda, bench], RULES) == []


def test_a_crosstab_of_the_recorded_beside_a_headline_total_cannot_give_away_a_small_team():
    """The Met case in miniature: the crosstab by sex counts only records whose sex is recorded, so
    each team's own total is a number nobody publishes; the gate must look through it to find
    what to hide, and hiding the headline's total is no fix while other tables give it back."""
    def by_sex(cells):
        frame = pl.DataFrame({"variable": ["team"] * len(cells), "category": [c[0] for c in cells],
                              "group": [c[1] for c in cells], "n": [c[2] for c in cells]})
        return Table(frame, {"variable": "label", "category": "label", "group": "label", "n": "count"},
                     dimensions=["category", "group"],
                     keys=Keys(pairs=("variable", "category"), variables={"group": "sex"}, counts={"n": {}}))

    total = say("The data hold {n} records.", n=Count(2000), fallback="The data hold some records.")
    eda = finding("eda", {"teams": categories({"A": 1000, "B": 992, "C": 8}),
                          "months": categories({"Jan": 700, "Feb": 650, "Mar": 650}, "month")}, [total])
    sig = finding("sig", {"crosstab": by_sex([("A", "F", 300), ("A", "M", 700), ("B", "F", 400), ("B", "M", 592)])})
    assert attack([eda, sig], RULES) == []
    gated = gate_findings([eda, sig], RULES)
    assert not [e for g in gated for e in g.log if e.rule == "warning"]
    assert gated[0].finding.tables["teams"].frame["n"].to_list()[2] is None
    assert gated[1].finding.tables["crosstab"].frame["n"].to_list() == [300, 700, 400, 592]


def test_rates_beside_rounded_counts_are_as_coarse_as_the_counts():
    """An exact rate times a published denominator gives a rounded count back exactly: with
    rounding on, a ratio of two counts is computed from their rounded values, a share of a total
    is snapped to whole steps of the rounding base, and a share in a sentence follows its counts."""
    from expedition.finding import share

    rules = DisclosureConfig(min_count=10, round_to=5)
    teams = {"A": 1003, "B": 992, "C": 27}
    cats = categories(teams)
    cats = Table(cats.frame.with_columns((pl.col("n") / sum(teams.values())).alias("share")),
                 {**cats.kinds, "share": "rate"}, dimensions=["category"], denominators={"share": "n"}, keys=cats.keys)
    bench = units({"A": 1003, "B": 992, "C": 27}, {"A": 143, "B": 211, "C": 12})
    sentence = say("{k} of {n} referrals ({p}) were in team A.", k=Count(143, {"flag": "yes", "team": "A"}),
                   n=Count(1003, {"team": "A"}), p=share(Count(143, {"flag": "yes", "team": "A"}), Count(1003, {"team": "A"})))
    (eda, bm) = gate_findings([finding("eda", {"categories": cats}), finding("bench", {"units": bench}, [sentence])], rules)
    shares = eda.finding.tables["categories"].frame["share"].to_list()
    for s in shares:
        records = s * sum(teams.values())
        assert abs(records / 5 - round(records / 5)) < 1e-6, s
    units_frame = bm.finding.tables["units"].frame
    for events, cases, rate in units_frame.select("events", "cases", "rate").iter_rows():
        assert events % 5 == 0 and cases % 5 == 0 and rate == events / cases
    assert bm.finding.headlines == [f"145 of 1,005 referrals ({145 / 1005:.1%}) were in team A."]
    assert any(e.rule == "rounded" and e.column == "rate" for e in bm.log)
