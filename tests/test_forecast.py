"""`forecast`: backtests that mean something, intervals checked against formulas, scenarios."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from expedition.config import DisclosureConfig
from expedition.disclosure import apply
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps import _forecast_models as _models
from expedition.steps.forecast import Forecast

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))
FAST = ["seasonal_naive", "naive", "mean", "regression"]


def run(data: pl.DataFrame, **params):
    return Forecast().run(data.lazy(), Forecast.parse_params(params), CTX)


def monthly(values, start=date(2016, 1, 1), unit=None) -> pl.DataFrame:
    months = [date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1) for i in range(len(values))]
    frame = pl.DataFrame({"month": months, "n": [int(round(v)) for v in values]})
    return frame.with_columns(pl.lit(unit).alias("unit")) if unit else frame


def trended_seasonal(seed: int, months: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    return 200 + 2.0 * t + 45 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 8, months)


# --------------------------------------------------------------------------- model choice


@pytest.mark.parametrize("seed", [0, 1])
def test_backtest_beats_seasonal_naive_on_a_trended_seasonal_series(seed):
    finding = run(monthly(trended_seasonal(seed)), date="month", count="n")
    backtest = finding.tables["backtest"].frame
    chosen = backtest.filter(pl.col("chosen") == "yes").row(0, named=True)
    naive = backtest.filter(pl.col("model") == "seasonal_naive").row(0, named=True)
    assert chosen["model"] in {"ets", "regression"}
    assert chosen["mase"] < 0.8 * naive["mase"]
    assert finding.metrics["mase_ratio_to_seasonal_naive[All]"] < 0.8
    assert finding.headlines[1].startswith("The ") and "forecast best in 3 backtests" in finding.headlines[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nothing_beats_the_simple_benchmarks_on_pure_noise(seed):
    rng = np.random.default_rng(50 + seed)
    finding = run(monthly(100 + rng.normal(0, 10, 96)), date="month", count="n")
    backtest = finding.tables["backtest"].frame
    chosen = backtest.filter(pl.col("chosen") == "yes")["model"].item()
    assert chosen in _models.BENCHMARKS
    best_benchmark = backtest.filter(pl.col("model").is_in(list(_models.BENCHMARKS)))["mase"].min()
    best_fitted = backtest.filter(~pl.col("model").is_in(list(_models.BENCHMARKS)))["mase"].min()
    assert best_fitted > 0.95 * best_benchmark  # no real skill to find
    assert finding.headlines[1].startswith("No fitted model beat the simple benchmarks")


def test_demand_example_plants_what_the_step_finds():
    from expedition.examples.demand import generate

    finding = run(generate(), date="month", count="demand", unit="unit", models=FAST)
    chosen = dict(finding.tables["backtest"].frame.filter(pl.col("chosen") == "yes").select("unit", "model").iter_rows())
    assert chosen["Out of Hours"] in _models.BENCHMARKS
    for unit in ("North Essex", "Mid Essex", "South Essex"):
        assert chosen[unit] == "regression", unit
        assert finding.metrics[f"mase_ratio_to_seasonal_naive[{unit}]"] < 0.85


# --------------------------------------------------------------------------- formulas


def test_benchmark_intervals_follow_the_textbook_formulas():
    y = trended_seasonal(3, 40)
    pred = _models.predict("seasonal_naive", y, 30, 12, True, (0.95,))
    residual_sd = np.sqrt(np.mean((y[12:] - y[:-12]) ** 2))
    k = np.arange(30) // 12
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(pred.mean, y[28 + np.arange(30) % 12])
    np.testing.assert_allclose(pred.upper[0.95], pred.mean + z * residual_sd * np.sqrt(k + 1))
    naive = _models.predict("naive", y, 5, 12, True, (0.8,))
    sd = np.sqrt(np.mean(np.diff(y) ** 2))
    np.testing.assert_allclose(naive.upper[0.8], y[-1] + stats.norm.ppf(0.9) * sd * np.sqrt(np.arange(1, 6)))
    mean = _models.predict("mean", y, 3, 12, True, (0.95,))
    np.testing.assert_allclose(mean.lower[0.95], y.mean() - z * y.std(ddof=1) * np.sqrt(1 + 1 / len(y)))


def test_regression_forecast_is_statsmodels_ols_on_trend_and_month():
    import statsmodels.api as sm

    y = trended_seasonal(4, 48)
    pred = _models.predict("regression", y, 12, 12, True, (0.95,))
    t = np.arange(60)
    design = np.column_stack([np.ones(60), t] + [(t % 12 == s).astype(float) for s in range(1, 12)])
    fit = sm.OLS(y, design[:48]).fit()
    frame = fit.get_prediction(design[48:]).summary_frame(alpha=0.05)
    np.testing.assert_allclose(pred.mean, frame["mean"])
    np.testing.assert_allclose(pred.upper[0.95], frame["obs_ci_upper"])


def test_ets_intervals_come_from_statsmodels_and_widen():
    pred = _models.predict("ets", trended_seasonal(5, 60), 12, 12, True, (0.8, 0.95))
    width80 = pred.upper[0.8] - pred.lower[0.8]
    width95 = pred.upper[0.95] - pred.lower[0.95]
    assert np.all(width95 > width80) and width95[-1] > width95[0]


def test_mase_and_smape():
    train = np.array([10, 12, 14, 11, 13, 15], dtype=float)
    assert _models.mase_scale(train, 3) == pytest.approx(np.mean(np.abs(train[3:] - train[:-3])))
    assert _models.mase_scale(train, 12) == pytest.approx(np.mean(np.abs(np.diff(train))))
    np.testing.assert_allclose(_models.smape([100, 0, 50], [110, 0, 0]), [200 * 10 / 210, 0, 200])


# --------------------------------------------------------------------------- counting


def test_event_dates_are_counted_per_month_and_a_part_month_is_left_out():
    rng = np.random.default_rng(8)
    start = date(2021, 1, 1)
    days = rng.integers(0, (date(2024, 6, 15) - start).days + 1, 6_000)
    frame = pl.DataFrame({"referral_date": [start + timedelta(days=int(d)) for d in days]})
    finding = run(frame, date="referral_date", models=FAST)
    series = finding.tables["series"].frame.filter(pl.col("actual").is_not_null())
    expected = (
        frame.with_columns(pl.col("referral_date").dt.truncate("1mo").alias("month"))
        .filter(pl.col("month") < date(2024, 6, 1))
        .group_by("month").len().sort("month")
    )
    assert series["period"].to_list() == expected["month"].to_list()
    assert series["actual"].to_list() == expected["len"].to_list()
    assert any("part-way through 2024-06" in c for c in finding.caveats)


def test_months_with_no_rows_count_as_zero():
    values = trended_seasonal(6, 60)
    frame = monthly(values).filter(~pl.col("month").is_in([date(2018, 3, 1), date(2019, 7, 1)]))
    finding = run(frame, date="month", count="n", models=FAST)
    series = finding.tables["series"].frame
    assert series.filter(pl.col("period") == date(2018, 3, 1))["actual"].item() == 0
    assert any("2 months with no row were counted as zero" in c for c in finding.caveats)


def test_short_series_fall_back_to_simpler_models_with_a_caveat():
    finding = run(monthly(trended_seasonal(7, 18)), date="month", count="n")
    models = set(finding.tables["backtest"].frame["model"].to_list())
    assert "seasonal_naive" not in models and models
    assert any("fewer than two years" in c for c in finding.caveats)
    with pytest.raises(StepError, match="6 or more months"):
        run(monthly([5, 6, 7, 8]), date="month", count="n")


def test_future_dates_and_bad_values_are_caveats_or_errors():
    frame = monthly(trended_seasonal(9, 40)).with_columns(pl.col("month").cast(pl.String))
    future = pl.concat([frame, pl.DataFrame({"month": ["2999-01-01"], "n": [5]})])
    finding = run(future, date="month", count="n", models=FAST)
    assert any("dated after today" in c for c in finding.caveats)
    assert finding.tables["series"].frame["period"].max() < date(2999, 1, 1)
    with pytest.raises(StepError, match="negative counts"):
        run(frame.with_columns(pl.lit(-1).alias("n")), date="month", count="n")
    with pytest.raises(StepError, match="could be read as a date"):
        run(frame.with_columns(pl.lit("soon").alias("month")), date="month", count="n")
    with pytest.raises(StepError, match="no date column"):
        run(pl.DataFrame({"x": [1, 2]}))
    with pytest.raises(StepError, match="unknown model"):
        Forecast.parse_params({"models": ["prophet"]})


def test_smaller_units_are_grouped_beyond_max_units():
    parts = [monthly(trended_seasonal(s, 36) * (s + 1) / 3, unit=f"U{s}") for s in range(4)]
    finding = run(pl.concat(parts), date="month", count="n", unit="unit", max_units=3, models=FAST)
    units = finding.tables["series"].frame["unit"].unique(maintain_order=True).to_list()
    assert units == ["U3", "U2", "Other units"]
    other = finding.tables["series"].frame.filter((pl.col("unit") == "Other units") & pl.col("actual").is_not_null())
    assert other["actual"].to_list() == [a + b for a, b in zip(parts[0]["n"], parts[1]["n"])]


# --------------------------------------------------------------------------- scenarios


def test_scenarios_are_applied_and_tabled_beside_the_forecast():
    parts = [monthly(trended_seasonal(s, 48), unit=u) for s, u in ((1, "North"), (2, "South"))]
    finding = run(
        pl.concat(parts),
        date="month",
        count="n",
        unit="unit",
        models=FAST,
        scenarios=[
            {"name": "Threshold change", "change": -0.1, "from": "2020-04"},
            {"name": "New estate", "add": 40, "from": "2020-06-01", "until": "2020-08", "unit": "South"},
        ],
    )
    table = finding.tables["scenarios"].frame
    north = table.filter(pl.col("unit") == "North")
    before = north.filter(pl.col("period") < date(2020, 4, 1))
    after = north.filter(pl.col("period") >= date(2020, 4, 1))
    np.testing.assert_allclose(before["Threshold change"], before["baseline"])
    np.testing.assert_allclose(after["Threshold change"], after["baseline"] * 0.9)
    np.testing.assert_allclose(north["New estate"], north["baseline"])
    south = table.filter(pl.col("unit") == "South")
    added = (south["New estate"] - south["baseline"]).to_list()
    assert added == pytest.approx([0, 0, 0, 0, 0, 40, 40, 40, 0, 0, 0, 0])
    totals = finding.tables["scenario_totals"].frame
    row = totals.filter((pl.col("unit") == "South") & (pl.col("scenario") == "New estate")).row(0, named=True)
    assert row["difference"] == pytest.approx(120)
    assert any(h.startswith("Scenario 'New estate' (+40 a period from 2020-06-01 to 2020-08 in South)") for h in finding.headlines)
    assert "scenarios" in finding.figures


@pytest.mark.parametrize(
    "scenario, message",
    [
        ({"name": "x", "from": "2020-01"}, "needs change"),
        ({"name": "x", "change": 0.1, "from": "whenever"}, "is not a date"),
        ({"name": "x", "change": 0.1, "from": "2020-05", "until": "2020-01"}, "before it starts"),
        ({"name": "x", "add": 3, "from": "2020-05", "unit": "Nowhere"}, "not forecast"),
        ({"name": "x", "add": 3, "from": "2020-05", "colour": "red"}, "unknown parameter|Extra inputs"),
    ],
)
def test_bad_scenarios_are_clear_errors(scenario, message):
    with pytest.raises(StepError, match=message):
        run(monthly(trended_seasonal(1, 36)), date="month", count="n", models=FAST, scenarios=[scenario])


# --------------------------------------------------------------------------- publishing


def test_small_counts_are_suppressed_and_the_figure_survives():
    rng = np.random.default_rng(3)
    frame = monthly(rng.poisson(12, 40))
    finding = run(frame, date="month", count="n", models=FAST).with_(id="f")
    safe, _ = apply(finding, DisclosureConfig(min_count=10))
    actual = safe.tables["series"].frame["actual"].drop_nulls()
    assert actual.min() >= 10 or actual.filter(actual < 10).eq(0).all()
    assert "forecast" in safe.figures
    assert finding.tables["series"].kinds["actual"] == "count"


def test_same_input_gives_identical_tables():
    data = monthly(trended_seasonal(2, 60))
    a = run(data, date="month", count="n")
    b = run(data, date="month", count="n")
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)


def test_weekly_counts_from_the_referrals_example(referrals_csv):
    from expedition.datasets import scan_dataset

    finding = Forecast().run(
        scan_dataset(referrals_csv),
        Forecast.parse_params({"date": "referral_date", "frequency": "week", "models": ["naive", "mean", "regression"]}),
        CTX,
    )
    ahead = finding.tables["series"].frame.filter(pl.col("forecast").is_not_null())
    assert ahead.height == 13
    assert all(d.weekday() == 0 for d in ahead["period"].to_list())


def test_the_step_runs_on_real_fixmystreet_data(shared_data):
    path = shared_data / "fixmystreet-lad-monthly" / "fms_flytipping_lad_monthly.csv"
    frame = pl.read_csv(path)
    essex = [f"E070000{i}" for i in range(66, 78)]
    finding = run(frame, date="month", count="reports", unit="lad", units=essex[:4], models=FAST)
    assert finding.metrics["units"] == 4
    assert any("counted as zero" in c for c in finding.caveats)  # FixMyStreet omits empty months
    assert finding.tables["series"].frame.filter(pl.col("forecast").is_not_null()).height == 48
