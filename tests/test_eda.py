from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps.eda import EDA, binary_outcome

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))


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


def run(data: pl.DataFrame, **params):
    return EDA().run(data.lazy(), EDA.parse_params(params), CTX)


def test_numeric_summary_matches_numpy():
    data = frame()
    finding = run(data)
    row = finding.tables["numeric_summary"].frame.filter(pl.col("variable") == "x").row(0, named=True)
    x = data["x"].to_numpy()
    assert row["n"] == len(x)
    assert row["mean"] == pytest.approx(x.mean())
    assert row["sd"] == pytest.approx(x.std(ddof=1))
    assert row["median"] == pytest.approx(np.median(x))
    assert row["p05"] == pytest.approx(np.percentile(x, 5))


def test_outcome_rates_with_wilson_intervals_match_statsmodels():
    data = frame()
    finding = run(data, outcome="outcome")
    rates = finding.tables["outcome_rates"].frame.filter(pl.col("variable") == "group")
    for row in rates.iter_rows(named=True):
        part = data.filter(pl.col("group") == row["category"])
        k = int((part["outcome"] == "yes").sum())
        lo, hi = proportion_confint(k, part.height, method="wilson")
        assert row["n"] == part.height and row["outcome_n"] == k
        assert row["rate"] == pytest.approx(k / part.height)
        assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
    overall = (data["outcome"] == "yes").mean()
    assert finding.metrics["outcome_rate"] == pytest.approx(overall)
    assert any("varies most by group" in h for h in finding.headlines)
    assert any("not evidence" in c for c in finding.caveats)


def test_small_categories_are_suppressed_before_figures_are_drawn():
    finding = run(frame(), outcome="outcome")
    cats = finding.tables["categories"].frame.filter(pl.col("variable") == "rare")
    assert cats.filter(pl.col("category") == "tiny")["n"].to_list() == [None]
    published = finding.tables["categories"].frame["n"].drop_nulls().to_list()
    assert all(v >= 10 for v in published)
    assert "categories" in finding.figures  # drawn from the safe table, so it survives the gate


def test_missingness_counts():
    data = frame().with_columns(pl.when(pl.col("k") == 0).then(None).otherwise(pl.col("x")).alias("x"))
    finding = run(data)
    row = finding.tables["missingness"].frame.filter(pl.col("variable") == "x").row(0, named=True)
    assert row["missing"] == int((data["k"] == 0).sum())
    assert row["missing_share"] == pytest.approx(row["missing"] / data.height)


def test_same_input_gives_identical_tables_and_figures():
    a = run(frame(), outcome="outcome")
    b = run(frame(), outcome="outcome")
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)
    for name in a.figures:
        assert a.figures[name].png == b.figures[name].png
        assert a.figures[name].svg == b.figures[name].svg


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
    with pytest.raises(StepError, match="two values"):
        run(pl.DataFrame({"o": ["a", "b", "c"]}), outcome="o")
    with pytest.raises(StepError, match="outcome_value"):
        run(pl.DataFrame({"o": ["red", "blue"]}), outcome="o")
    with pytest.raises(StepError, match="no rows"):
        run(pl.DataFrame({"o": pl.Series([], dtype=pl.String)}))
    with pytest.raises(StepError, match="did you mean 'outcome'"):
        run(data, outcome="outcom")


@pytest.mark.parametrize(
    "values, expected",
    [(["yes", "no", None], [1, 0, None]), ([True, False], [1, 0]), ([1, 0, 1], [1, 0, 1])],
)
def test_binary_outcome(values, expected):
    series, _ = binary_outcome(pl.Series("o", values), None, "o")
    assert series.to_list() == expected


def test_planted_signal_in_the_example_data_shows(referrals_csv):
    from expedition.datasets import scan_dataset

    finding = EDA().run(
        scan_dataset(referrals_csv),
        EDA.parse_params({"outcome": "rereferred_12m", "outcome_value": "yes"}),
        CTX,
    )
    rates = finding.tables["outcome_rates"].frame
    prior = rates.filter(pl.col("variable") == "prior_referrals").drop_nulls("rate")["rate"].to_list()
    assert prior[-1] > prior[0]  # more prior referrals, more re-referral
    assert "referral_id" not in rates["variable"].to_list()
    assert "referral_note" not in rates["variable"].to_list()


def test_correlations_match_scipy_spearman():
    from scipy.stats import spearmanr

    data = frame().with_columns(pl.when(pl.col("k") == 0).then(None).otherwise(pl.col("x")).alias("x"))
    finding = run(data, outcome="outcome")
    corr = finding.tables["correlations"].frame
    row = corr.filter((pl.col("variable_1") == "x") & (pl.col("variable_2") == "k")).row(0, named=True)
    both = data.drop_nulls(["x", "k"])
    assert row["n"] == both.height
    assert row["spearman"] == pytest.approx(spearmanr(both["x"], both["k"]).statistic)
    with_outcome = corr.filter(pl.col("variable_2") == "outcome = yes")
    assert set(with_outcome["variable_1"]) == {"x", "k"}
    assert "correlations" in finding.figures
    assert any("correlat" in h for h in finding.headlines)


def test_missingness_patterns_count_records_by_combination():
    data = frame().with_columns(
        pl.when(pl.col("k") == 0).then(None).otherwise(pl.col("x")).alias("x"),
        pl.when(pl.col("k") <= 1).then(None).otherwise(pl.col("group")).alias("group"),
    )
    finding = run(data)
    patterns = {r["pattern"]: r for r in finding.tables["missing_patterns"].frame.iter_rows(named=True)}
    both = int((data["k"] == 0).sum())
    group_only = int((data["k"] == 1).sum())
    assert patterns["group + x"]["n"] == both and patterns["group + x"]["columns_missing"] == 2
    assert patterns["group"]["n"] == group_only
    assert patterns["(nothing missing)"]["n"] == data.height - both - group_only
    assert sum(r["share"] for r in patterns.values()) == pytest.approx(1.0)
    assert "missing_patterns" in finding.figures


def test_trends_over_time_with_monthly_outcome_rates():
    from datetime import date, timedelta

    rng = np.random.default_rng(5)
    n = 3000
    days = rng.integers(0, 3 * 365, n)
    dates = [date(2021, 1, 1) + timedelta(days=int(d)) for d in days]
    p = 0.1 + 0.2 * days / days.max()  # the outcome becomes more common over time
    data = pl.DataFrame({"when": dates, "outcome": np.where(rng.random(n) < p, "yes", "no"), "x": rng.normal(size=n)})
    finding = run(data, outcome="outcome")
    monthly = finding.tables["monthly_outcome"].frame
    first = monthly.row(0, named=True)
    in_month = data.filter((pl.col("when") >= first["month"]) & (pl.col("when") < date(2021, 2, 1)))
    assert first["n"] == in_month.height
    assert first["outcome_n"] == int((in_month["outcome"] == "yes").sum())
    lo, hi = proportion_confint(first["outcome_n"], first["n"], method="wilson")
    assert (first["ci_low"], first["ci_high"]) == pytest.approx((lo, hi))
    assert monthly["rate"].tail(6).mean() > monthly["rate"].head(6).mean()
    assert {"monthly_counts", "monthly_outcome"} <= set(finding.figures)
    assert any(h.startswith("Records per month by when") for h in finding.headlines)


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
    assert summary["inf"]["n"] == n - 3 and np.isfinite(summary["inf"]["mean"])
    text = " ".join(finding.caveats)
    assert "too extreme to average" in text and "3 infinite" in text
    many = finding.tables["categories"].frame.filter(pl.col("variable") == "many")
    assert many.height == 16 and many["category"][-1].startswith("Other (")
