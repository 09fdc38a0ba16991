"""`eda`: statistics that agree with NumPy, SciPy and statsmodels, and disclosure control that
holds against a reader of everything the finding publishes (tables, sentences, metrics, figures)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from expedition.config import DisclosureConfig
from expedition.disclosure import apply
from expedition.errors import StepError
from expedition.finding import RECORDED
from expedition.steps import StepContext
from expedition.steps.eda import EDA, binary_outcome
from expedition.testing import attack, publish

RULES = DisclosureConfig(min_count=10)
CTX = StepContext(seed=1, disclosure=RULES)


def frame(n: int = 600, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    p = np.where(group == "a", 0.2, np.where(group == "b", 0.4, 0.6))
    return pl.DataFrame(
        {
            "group": group,
            "rare": np.where(np.arange(n) < 4, "tiny", "big"),
            "x": rng.normal(50, 10, n),
            "k": rng.integers(0, 5, n),
            "outcome": np.where(rng.random(n) < p, "yes", "no"),
        }
    )


def raw(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as the step returns it, before the disclosure gate."""
    return EDA().run(data.lazy(), EDA.parse_params(params), ctx)


def run(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as it is published: through the gate, its charts drawn."""
    return publish(raw(data, ctx, **params), ctx.disclosure)


def attacked(finding, rules: DisclosureConfig = RULES) -> list[str]:
    return attack([finding.with_(id="eda", population="data@1")], rules)


def published_text(finding) -> str:
    tables = " ".join(t.frame.write_csv() for t in finding.tables.values())
    return " ".join([*finding.headlines, *finding.caveats, str(finding.metrics), tables])


# --------------------------------------------------------------------------- statistics


def test_numeric_summary_matches_numpy():
    data = frame()
    row = raw(data).tables["numeric_summary"].frame.filter(pl.col("variable") == "x").row(0, named=True)
    x = data["x"].to_numpy()
    assert row["mean"] == pytest.approx(x.mean())
    assert row["sd"] == pytest.approx(x.std(ddof=1))
    assert row["median"] == pytest.approx(np.median(x))
    assert row["p05"] == pytest.approx(np.percentile(x, 5))
    assert row["p95"] == pytest.approx(np.percentile(x, 95))


def test_outcome_rates_with_wilson_intervals_match_statsmodels():
    data = frame()
    finding = raw(data, outcome="outcome")
    rates = finding.tables["outcome_rates"].frame.filter(pl.col("variable") == "group")
    assert rates["category"].to_list() == ["a", "b", "c"]  # alphabetical, not by size
    for row in rates.iter_rows(named=True):
        part = data.filter(pl.col("group") == row["category"])
        k = int((part["outcome"] == "yes").sum())
        lo, hi = proportion_confint(k, part.height, method="wilson")
        assert row["n"] == part.height and row["outcome_n"] == k
        assert row["rate"] == pytest.approx(k / part.height)
        assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    overall = finding.tables["outcome"].frame.row(0, named=True)
    assert overall["n"] == data.height and overall["rate"] == pytest.approx((data["outcome"] == "yes").mean())
    published = publish(finding, RULES)
    assert published.metrics["outcome_rate"] == pytest.approx((data["outcome"] == "yes").mean())
    assert any("varies most by group" in h for h in published.headlines)
    assert any("not evidence" in c for c in published.caveats)


def test_missingness_counts():
    data = frame().with_columns(pl.when(pl.col("k") == 0).then(None).otherwise(pl.col("x")).alias("x"))
    row = raw(data).tables["missingness"].frame.filter(pl.col("variable") == "x").row(0, named=True)
    assert row["missing"] == int((data["k"] == 0).sum())
    assert row["missing_share"] == pytest.approx(row["missing"] / data.height)


def test_correlations_match_scipy_spearman():
    from scipy.stats import spearmanr

    data = frame().with_columns(pl.when(pl.col("k") == 0).then(None).otherwise(pl.col("x")).alias("x"))
    finding = raw(data, outcome="outcome")
    corr = finding.tables["correlations"].frame
    row = corr.filter((pl.col("variable_1") == "x") & (pl.col("variable_2") == "k")).row(0, named=True)
    both = data.drop_nulls(["x", "k"])
    assert row["spearman"] == pytest.approx(spearmanr(both["x"], both["k"]).statistic)
    with_outcome = corr.filter(pl.col("variable_2") == "outcome = yes")
    assert set(with_outcome["variable_1"]) == {"x", "k"}
    assert "correlations" in finding.figures
    assert any("correlat" in str(h) for h in publish(finding, RULES).headlines)


def test_a_pair_with_too_few_records_is_not_correlated():
    rng = np.random.default_rng(3)
    data = pl.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200), "z": rng.normal(size=200)})
    data = data.with_columns(pl.when(pl.int_range(pl.len()) < 9).then(pl.col("z")).otherwise(None).alias("z"))
    corr = raw(data).tables["correlations"].frame
    pairs = {(a, b): rho for a, b, rho in corr.iter_rows()}
    assert pairs[("x", "y")] is not None
    assert pairs[("x", "z")] is None and pairs[("y", "z")] is None  # 9 records: below the threshold


def test_missingness_patterns_count_records_by_combination():
    data = frame().with_columns(
        pl.when(pl.col("k") == 0).then(None).otherwise(pl.col("x")).alias("x"),
        pl.when(pl.col("k") <= 1).then(None).otherwise(pl.col("group")).alias("group"),
    )
    finding = raw(data)
    patterns = {r["pattern"]: r for r in finding.tables["missing_patterns"].frame.iter_rows(named=True)}
    both = int((data["k"] == 0).sum())
    group_only = int((data["k"] == 1).sum())
    assert patterns["group + x"]["n"] == both and patterns["group + x"]["columns_missing"] == 2
    assert patterns["group"]["n"] == group_only
    assert patterns["x"]["n"] == 0  # every combination is listed
    assert patterns["(nothing missing)"]["n"] == data.height - both - group_only
    assert patterns["group"]["x"] == RECORDED and patterns["group"]["group"] is None
    assert sum(r["share"] for r in patterns.values()) == pytest.approx(1.0)
    assert "missing_patterns" in finding.figures


def test_patterns_are_counted_over_the_three_columns_with_most_missing_values():
    rng = np.random.default_rng(4)
    n = 500
    data = pl.DataFrame({f"c{i}": rng.normal(size=n) for i in range(5)}).with_columns(
        *[pl.when(pl.Series(rng.random(n) < share)).then(None).otherwise(pl.col(f"c{i}")).alias(f"c{i}")
          for i, share in enumerate([0.05, 0.3, 0.1, 0.2, 0.02])]
    )
    finding = run(data)
    table = finding.tables["missing_patterns"].frame
    assert [c for c in table.columns if c[:1] == "c" and c[1:].isdigit()] == ["c1", "c2", "c3"]
    assert table.height == 8
    assert any("3 columns with the most missing values: c1, c2, c3" in c for c in finding.caveats)


def test_trends_over_time_with_monthly_outcome_rates():
    rng = np.random.default_rng(5)
    n = 3000
    days = rng.integers(0, 3 * 365, n)
    dates = [date(2021, 1, 1) + timedelta(days=int(d)) for d in days]
    p = 0.1 + 0.2 * days / days.max()  # the outcome becomes more common over time
    data = pl.DataFrame({"when": dates, "outcome": np.where(rng.random(n) < p, "yes", "no"), "x": rng.normal(size=n)})
    finding = raw(data, outcome="outcome")
    monthly = finding.tables["monthly_outcome"].frame
    first = monthly.row(0, named=True)
    in_month = data.filter((pl.col("when") >= first["month"]) & (pl.col("when") < date(2021, 2, 1)))
    assert first["n"] == in_month.height
    assert first["outcome_n"] == int((in_month["outcome"] == "yes").sum())
    lo, hi = proportion_confint(first["outcome_n"], first["n"], method="wilson")
    assert (first["ci_low"], first["ci_high"]) == pytest.approx((lo, hi))
    assert monthly["rate"].tail(6).mean() > monthly["rate"].head(6).mean()
    assert {"monthly_counts", "monthly_outcome"} <= set(finding.figures)
    published = publish(finding, RULES)
    assert any(h.startswith("Records per month by when") and "a month in" in h for h in published.headlines)


def test_months_without_records_are_zeros_not_gaps():
    dates = [date(2022, 1, 5)] * 30 + [date(2022, 4, 9)] * 30
    counts = raw(pl.DataFrame({"when": dates})).tables["monthly_counts"].frame
    assert counts["month"].to_list() == [date(2022, m, 1) for m in (1, 2, 3, 4)]
    assert counts["n"].to_list() == [30, 0, 0, 30]


def test_histogram_bins_hold_every_record_and_never_show_an_extreme_value():
    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(40, 5, 400), [987.6543], [np.inf], [np.nan]])
    data = pl.DataFrame({"x": x, "k": np.concatenate([rng.integers(0, 4, 400), [97, 2, 2]])}).with_columns(
        pl.when(pl.int_range(pl.len()) < 5).then(None).otherwise(pl.col("x")).alias("x")
    )
    hist = raw(data).tables["histograms"].frame
    x_bins = hist.filter(pl.col("variable") == "x")
    assert x_bins["n"].sum() == data.height  # every record in a bin, the missing ones too
    labels = [b for b in x_bins["bin"].to_list() if b is not None]
    assert labels[0].startswith("< ") and labels[-2].startswith("≥ ") and labels[-1] == "not a number"
    assert not any("987" in label or "inf" in label for label in labels)
    k_bins = hist.filter(pl.col("variable") == "k")
    assert k_bins["bin"].to_list() == ["≤ 0", "1", "2", "≥ 3"]  # whole numbers: one bar each, 97 inside "≥ 3"
    assert k_bins["n"].sum() == data.height


# --------------------------------------------------------------------------- disclosure


def test_a_small_category_is_suppressed_in_every_table_and_marked_in_its_figure():
    rules = DisclosureConfig(min_count=10, symbol="§")
    finding = run(frame(), StepContext(seed=1, disclosure=rules), outcome="outcome")
    for name in ("categories", "outcome_rates"):
        rare = finding.tables[name].frame.filter(pl.col("variable") == "rare")
        assert rare.filter(pl.col("category") == "tiny")["n"].to_list() == [None], name
    published = finding.tables["categories"].frame["n"].drop_nulls().to_list()
    assert all(v >= 10 for v in published)
    hidden = finding.tables["categories"].frame["n"].null_count()
    svg = finding.figures["categories"].svg.decode()
    assert svg.count("§") == hidden + 1  # one mark per suppressed bar, and the note
    assert "categories" in finding.figures and "outcome_rates" in finding.figures


def test_a_handful_of_missing_outcomes_is_not_given_away_by_the_headline():
    """The issue's case: '503 of 1,997' beside a total of 2,000 reveals 3 missing values."""
    rng = np.random.default_rng(7)
    outcome = np.array(["yes"] * 503 + ["no"] * 1494 + [None] * 3, dtype=object)
    data = pl.DataFrame({"team": rng.choice(["north", "south"], 2000), "outcome": outcome})
    finding = raw(data, outcome="outcome")
    assert attacked(finding) == []
    published = publish(finding, RULES)
    text = published_text(published)
    assert "1,997" not in text and "1997" not in text
    assert "503 of 2,000" in " ".join(published.headlines)
    missing = published.tables["missingness"].frame.filter(pl.col("variable") == "outcome")
    assert missing["missing"].to_list() == [None]
    assert any("too few to publish" in c for c in published.caveats)


def test_enough_missing_outcomes_are_left_out_of_every_table_and_said_so():
    """Left out of the rates alone, their number by team would be the difference between the
    team's records and its records with the outcome known: so every table leaves them out."""
    rng = np.random.default_rng(8)
    outcome = ["yes"] * 500 + ["no"] * 1460 + [None] * 40
    data = pl.DataFrame({"team": rng.choice(["north", "south", "east"], 2000), "outcome": outcome})
    finding = run(data, outcome="outcome")
    text = " ".join(finding.headlines)
    assert "The data hold 2,000 records with 2 columns; 1 are described here, for the 1,960 records" in text
    assert "of the records with a value have outcome = yes (500 of 1,960)" in text
    assert any(c.startswith("40 records with no value for outcome are left out of every table") for c in finding.caveats)
    categories = finding.tables["categories"].frame
    assert categories["n"].sum() == 1960
    rates = finding.tables["outcome_rates"].frame
    assert rates["n"].to_list() == categories["n"].to_list()  # the same records, the same counts
    assert attacked(raw(data, outcome="outcome")) == []


def test_a_few_missing_values_are_suppressed_wherever_they_are_counted():
    data = frame().with_columns(pl.when(pl.int_range(pl.len()) < 4).then(None).otherwise(pl.col("x")).alias("x"))
    finding = run(data, outcome="outcome")
    assert finding.tables["missingness"].frame.filter(pl.col("variable") == "x")["missing"].to_list() == [None]
    no_value = finding.tables["histograms"].frame.filter((pl.col("variable") == "x") & pl.col("bin").is_null())
    assert no_value["n"].to_list() == [None]
    rates = finding.tables["outcome_rates"].frame.filter((pl.col("variable") == "x") & pl.col("category").is_null())
    assert rates["n"].to_list() == [None]
    assert attacked(raw(data, outcome="outcome")) == []


def test_a_small_month_is_suppressed_and_the_trend_sentence_does_not_quote_it():
    rng = np.random.default_rng(9)
    months = [date(2020, 1, 1) + timedelta(days=31 * i) for i in range(30)]
    dates = [m.replace(day=int(rng.integers(1, 28))) for m in months for _ in range(40)]
    dates = [d for d in dates if not (d.year == 2021 and d.month == 9)] + [date(2021, 9, 3)] * 4
    finding = run(pl.DataFrame({"when": dates}))
    counts = finding.tables["monthly_counts"].frame
    assert counts.filter(pl.col("month") == date(2021, 9, 1))["n"].to_list() == [None]
    assert all(n is None or n >= 10 for n in counts["n"].to_list())
    trend = [h for h in finding.headlines if h.startswith("Records per month by when")]
    assert trend == ["Records per month by when: see the table of monthly counts."]
    assert attacked(raw(pl.DataFrame({"when": dates}))) == []


def test_same_input_gives_identical_tables_and_figures():
    a = run(frame(), outcome="outcome")
    b = run(frame(), outcome="outcome")
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)
    assert set(a.figures) == {"histograms", "categories", "correlations", "outcome_rates"}
    for name in a.figures:
        assert a.figures[name].png == b.figures[name].png
        assert a.figures[name].svg == b.figures[name].svg


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    small=st.integers(1, 9),
    missing=st.integers(0, 9),
    month=st.integers(1, 9),
    unknown=st.integers(0, 30),
    min_count=st.integers(5, 12),
    seed=st.integers(0, 10_000),
)
def test_planted_small_groups_cannot_be_read_from_anything_published(small, missing, month, unknown, min_count, seed):
    """A category, a month, missing values and unknown outcomes too few to publish: no published
    table cell, sentence or metric shows one, and the auditor pins none from the rest."""
    small, month = 1 + (small - 1) % (min_count - 1), 1 + (month - 1) % (min_count - 1)  # below the threshold
    rng = np.random.default_rng(seed)
    n = 400
    team = np.array(["Team " + t for t in rng.choice(["A", "B", "C"], n)], dtype=object)
    team[:small] = "Planted"
    when = np.array([date(2022, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 300, n)], dtype=object)
    when[small:small + month] = date(2023, 6, 15)  # a month of its own, after the others
    x = rng.normal(30, 8, n)
    outcome = np.where(rng.random(n) < 0.3, "yes", "no").astype(object)
    outcome[n - unknown:] = None
    data = pl.DataFrame({"team": team.tolist(), "when": when.tolist(), "x": x, "outcome": outcome.tolist()}).with_columns(
        pl.when(pl.int_range(pl.len()).is_between(100, 100 + missing, closed="left")).then(None)
        .otherwise(pl.col("x")).alias("x")
    )
    rules = DisclosureConfig(min_count=min_count)
    ctx = StepContext(seed=1, disclosure=rules)
    finding = raw(data, ctx, outcome="outcome")
    assert attacked(finding, rules) == []
    published, _ = apply(finding, rules)  # the gate alone: the figures are drawn from these tables
    assert not any("Planted" in h for h in published.headlines)
    planted = published.tables["categories"].frame.filter(pl.col("category") == "Planted")
    assert planted["n"].to_list() == [None]


# --------------------------------------------------------------------------- input


def test_awkward_data_gives_caveats_or_clear_errors():
    n = 100
    data = pl.DataFrame(
        {
            "constant": [1] * n,
            "empty": pl.Series([None] * n, dtype=pl.Float64),
            "note": [f"a long free text note number {i} about the family situation" for i in range(n)],
            "record_id": list(range(n)),
            "outcome": ["yes"] * n,
        }
    )
    finding = run(data, outcome="outcome")
    assert any("identifiers, personal data or free text" in c for c in finding.caveats)
    assert finding.metrics["outcome_rate"] == 1.0
    with pytest.raises(StepError, match="3 values"):
        run(pl.DataFrame({"o": ["a", "b", "c"]}), outcome="o")
    with pytest.raises(StepError, match="outcome_value"):
        run(pl.DataFrame({"o": ["red", "blue"]}), outcome="o")
    with pytest.raises(StepError, match="no rows"):
        run(pl.DataFrame({"o": pl.Series([], dtype=pl.String)}))
    with pytest.raises(StepError, match="did you mean 'outcome'"):
        run(data, outcome="outcom")


def test_a_column_recoded_away_is_not_described():
    """After the runner's recoding an identifier holds one label only: nothing to count."""
    from expedition.disclosure.recode import recode_labels

    data = frame().with_columns(pl.format("ID-{}", pl.int_range(pl.len())).alias("case"))
    recoded, _ = recode_labels(data, EDA.recode_columns(EDA.parse_params({}), data.columns), 10)
    finding = run(recoded)
    assert "case" not in finding.tables["categories"].frame["variable"].to_list()
    assert any("rarer than the disclosure threshold" in c and "case" in c for c in finding.caveats)


@pytest.mark.parametrize(
    "values, expected",
    [(["yes", "no", None], [1, 0, None]), ([True, False], [1, 0]), ([1, 0, 1], [1, 0, 1])],
)
def test_binary_outcome(values, expected):
    series, _ = binary_outcome(pl.Series("o", values), None, "o")
    assert series.to_list() == expected


def test_a_many_valued_outcome_names_outcome_value_and_it_compares_one_with_the_rest():
    """The Met's Outcome has six values: the message says how to pick one, and picking one
    compares it with all the others together."""
    outcomes = ["Arrest", "Caution", "Community resolution", "No further action"]
    data = pl.DataFrame({"Outcome": outcomes * 30, "age": list(range(120))})
    with pytest.raises(StepError) as raised:
        raw(data, outcome="Outcome")
    assert "4 values" in raised.value.what and "outcome_value: 'Arrest'" in raised.value.fix
    series, label = binary_outcome(data["Outcome"], "Arrest", "Outcome")
    assert label == "Arrest" and series.sum() == 30 and series.len() == 120


def test_planted_signal_in_the_example_data_shows(referrals_csv):
    from expedition.datasets import scan_dataset

    finding = raw(pl.DataFrame(scan_dataset(referrals_csv).collect()), outcome="rereferred_12m", outcome_value="yes")
    rates = finding.tables["outcome_rates"].frame
    prior = rates.filter(pl.col("variable") == "prior_referrals").drop_nulls("category")["rate"].to_list()
    assert prior[-1] > prior[0]  # more prior referrals, more re-referral
    assert "referral_id" not in rates["variable"].to_list()
    assert "referral_note" not in rates["variable"].to_list()
    assert attacked(finding) == []


def test_extreme_and_many_valued_columns_get_caveats():
    rng = np.random.default_rng(8)
    n = 400
    data = pl.DataFrame(
        {
            "huge": np.where(np.arange(n) < 5, 1e308, rng.normal(size=n)),
            "inf": np.where(np.arange(n) < 3, np.inf, rng.normal(size=n)),
            "many": [f"level {i}" for i in rng.integers(0, 10_000, n)],
            "outcome": rng.choice(["yes", "no"], n),
        }
    )
    finding = run(data, outcome="outcome", variables=["huge", "inf", "many"])
    summary = {r["variable"]: r for r in finding.tables["numeric_summary"].frame.iter_rows(named=True)}
    assert summary["huge"]["mean"] is None and summary["huge"]["median"] == pytest.approx(
        float(np.median(data["huge"].to_numpy()))
    )
    finite = data["inf"].to_numpy()[3:]
    assert summary["inf"]["mean"] == pytest.approx(finite.mean())
    text = " ".join(finding.caveats)
    assert "too extreme to average" in text and "inf: infinite or not-a-number values are left out" in text
    many = finding.tables["categories"].frame.filter(pl.col("variable") == "many")
    assert many.height == 16 and many["category"][-1].startswith("Other (")
