"""`forecast`: backtests that mean something, intervals checked against formulas, scenarios."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps import _forecast_models as _models
from expedition.steps.forecast import Forecast
from expedition.testing import attack, publish

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))
FAST = ["seasonal_naive", "naive", "mean", "regression"]


def run(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as published: tables, sentences and figures through the gate."""
    return publish(raw(data, ctx, **params), ctx.disclosure)


def raw(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as the step returns it, before the gate."""
    return Forecast().run(data.lazy(), Forecast.parse_params(params), ctx)


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


def test_more_units_than_max_units_with_a_small_start_are_trimmed_and_grouped():
    """FixMyStreet's councils, many more than max_units, each starting with a few reports."""
    parts = []
    for s in range(5):
        values = trended_seasonal(s, 48) * (s + 1) / 3
        values[:3] = [1, 2, 3]  # a council's first months on the site
        parts.append(monthly(values, unit=f"U{s}"))
    finding = run(pl.concat(parts), date="month", count="n", unit="unit", max_units=3, models=FAST)
    units = finding.tables["series"].frame["unit"].unique(maintain_order=True).to_list()
    assert units == ["U4", "U3", "Other units"]
    assert any("are left out of the history" in c for c in finding.caveats)


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


def test_same_input_gives_identical_tables():
    data = monthly(trended_seasonal(2, 60))
    a = raw(data, date="month", count="n")
    b = raw(data, date="month", count="n")
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


def two_units(big, small, start=date(2016, 1, 1)) -> pl.DataFrame:
    return pl.concat([monthly(big, start, unit="Big"), monthly(small, start, unit="Small")])


def published_numbers(finding) -> str:
    """Every sentence and metric the reader gets, as one text."""
    return " ".join([*finding.headlines, *finding.caveats, *(str(v) for v in finding.metrics.values())])


def test_a_seasonal_naive_forecast_of_a_small_unit_is_suppressed_with_its_counts():
    """The issue's case: last year's suppressed counts (3, 2, 7, 9) would come back as the
    forecast (3.0, 2.0, 7.0, 9.0), and as the backtests of the year before."""
    small = [3, 2, 7, 9] * 12
    big = list(trended_seasonal(1, 48))
    before = raw(two_units(big, small), date="month", count="n", unit="unit", models=["seasonal_naive"],
                 horizon=4, folds=1)
    series = before.tables["series"].frame.filter(pl.col("unit") == "Small")
    assert series.filter(pl.col("forecast").is_not_null())["forecast"].to_list() == [3.0, 2.0, 7.0, 9.0]
    finding = publish(before, CTX.disclosure)
    out = finding.tables["series"].frame
    small_rows = out.filter(pl.col("unit") == "Small")
    for column in ("actual", "backtest", "forecast", "lower80", "upper80", "lower95", "upper95"):
        assert small_rows[column].null_count() == small_rows.height, column
    assert finding.tables["backtest"].frame.filter(pl.col("unit") == "Small")["mase"].to_list() == [None]
    # the large unit keeps every count and its forecast
    big_rows = out.filter(pl.col("unit") == "Big")
    assert big_rows["actual"].drop_nulls().to_list() == [int(round(v)) for v in big]
    assert big_rows["forecast"].drop_nulls().len() == 4
    assert "Small: its forecast is withheld" in " ".join(finding.headlines)
    assert finding.metrics["mase_ratio_to_seasonal_naive[Small]"] is None
    assert attack([before.with_(id="fc", population="p")], CTX.disclosure) == []


def test_a_small_unit_never_costs_a_large_one_its_counts():
    """About 1,000 events a month beside fewer than ten: the large unit keeps every count."""
    rng = np.random.default_rng(4)
    big = rng.poisson(1_000, 60)
    small = rng.integers(1, 10, 60)
    before = raw(two_units(big, small), date="month", count="n", unit="unit", models=FAST)
    finding = publish(before, CTX.disclosure)
    out = finding.tables["series"].frame
    history = out.filter(pl.col("period") <= date(2020, 12, 1))
    assert history.filter(pl.col("unit") == "Big")["actual"].to_list() == big.tolist()
    assert history.filter(pl.col("unit") == "Small")["actual"].null_count() == 60
    assert out.filter(pl.col("unit") == "Big")["forecast"].drop_nulls().len() == 12
    assert attack([before.with_(id="fc", population="p")], CTX.disclosure) == []


def test_a_small_start_is_left_out_so_the_forecast_can_be_published():
    values = list(trended_seasonal(3, 60) * 5)
    values[:6] = [2, 0, 5, 8, 12, 4]  # a service starting up
    data = monthly(values)
    finding = run(data, date="month", count="n", models=FAST)
    series = finding.tables["series"].frame
    assert series["period"].min() == date(2016, 7, 1)
    assert series["actual"].drop_nulls().len() == 54 and series["forecast"].drop_nulls().len() == 12
    assert any("first 6 months (to 2016-06) are left out" in c for c in finding.caveats)
    kept = run(data, date="month", count="n", models=FAST, trim_small_start=False)
    series = kept.tables["series"].frame
    assert series["period"].min() == date(2016, 1, 1)
    assert series["forecast"].drop_nulls().len() == 0  # it rests on counts too small to publish
    assert "Its forecast is withheld" in kept.headlines[1]
    assert series.filter(pl.col("period") >= date(2016, 7, 1))["actual"].drop_nulls().len() >= 50


def test_a_recent_small_count_is_not_trimmed_and_withholds_that_unit_only():
    big = list(trended_seasonal(5, 48) * 4)
    other = list(trended_seasonal(6, 48) * 4)
    big[-3] = 4  # too recent to start after it
    data = pl.concat([monthly(big, unit="A"), monthly(other, unit="B")])
    finding = run(data, date="month", count="n", unit="unit", models=FAST)
    series = finding.tables["series"].frame
    assert series.filter(pl.col("unit") == "A")["forecast"].drop_nulls().len() == 0
    assert series.filter(pl.col("unit") == "A")["actual"].drop_nulls().len() >= 46
    assert series.filter(pl.col("unit") == "B")["forecast"].drop_nulls().len() == 12
    assert series.filter(pl.col("unit") == "B")["actual"].drop_nulls().len() == 48


def test_scenarios_of_a_withheld_unit_are_withheld_and_the_rest_are_named():
    data = two_units(list(trended_seasonal(1, 48) * 3), [4, 6, 3, 8] * 12)
    scenario = {"name": "Cut", "change": -0.2, "from": "2020-01"}
    finding = run(data, date="month", count="n", unit="unit", models=FAST, scenarios=[scenario])
    table = finding.tables["scenarios"].frame
    assert table.filter(pl.col("unit") == "Small")["Cut"].null_count() == 12
    assert table.filter(pl.col("unit") == "Big")["Cut"].null_count() == 0
    totals = finding.tables["scenario_totals"].frame
    assert totals.filter(pl.col("unit") == "Small")["scenario_total"].to_list() == [None]
    line = next(h for h in finding.headlines if h.startswith("Scenario 'Cut'"))
    assert "in Big" in line and "withheld for 1 more" in line


def test_suppressed_stretches_are_drawn_hatched_not_as_gaps_or_zeros():
    from expedition.disclosure import apply_detailed
    from expedition.steps._plot import Drawing
    from expedition.steps.forecast import draw_series

    data = two_units(list(trended_seasonal(1, 48) * 3), [4, 6, 3, 8] * 12)
    before = raw(data, date="month", count="n", unit="unit", models=FAST)
    gated = apply_detailed(before, CTX.disclosure)
    chart = before.figures["forecast"]
    fig = draw_series(Drawing(chart, gated.finding.tables, gated.suppressed, CTX.disclosure))
    big, small = fig.axes[:2]
    hatched = [p for p in small.patches if p.get_hatch()]
    assert hatched, "the small unit's suppressed history and withheld forecast are hatched"
    assert small.get_title() == "Small (forecast withheld)"
    assert not [p for p in big.patches if p.get_hatch()]
    assert any("suppressed" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert "forecast" in publish(before, CTX.disclosure).figures


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 9), min_size=24, max_size=40),
    st.integers(1, 3),
    st.sampled_from([["seasonal_naive", "mean"], ["naive", "regression"]]),
    st.booleans(),
    st.integers(0, 1_000),
)
def test_a_planted_small_unit_cannot_be_read_from_anything_published(small, big_units, models, scenario, seed):
    """Generated units, one of them small (0-9 a month): no table, sentence or metric publishes
    one of its counts, the auditor pins none of them, and every large unit keeps its counts."""
    assume(any(small))  # a unit with no events at all has nothing to hide
    rng = np.random.default_rng(seed)
    n = len(small)
    parts = [monthly(small, unit="Small")]
    for i in range(big_units):
        parts.append(monthly(rng.poisson(rng.uniform(50, 2_000), n), unit=f"Big {i}"))
    params = {"date": "month", "count": "n", "unit": "unit", "models": models, "horizon": 6, "folds": 1}
    if scenario:
        params["scenarios"] = [{"name": "Extra", "add": 15, "from": "2017-06"}]
    before = raw(pl.concat(parts), **params)
    before_future = before.tables["series"].frame.filter(pl.col("forecast").is_not_null())["period"].min()
    assert attack([before.with_(id="fc", population="p")], CTX.disclosure) == []
    finding = publish(before, CTX.disclosure)
    series = finding.tables["series"].frame
    small_rows = series.filter(pl.col("unit") == "Small")
    assert small_rows["actual"].drop_nulls().filter(small_rows["actual"].drop_nulls() > 0).len() == 0
    assert small_rows["forecast"].null_count() == small_rows.height
    for name in ("backtest", "scenarios", "scenario_totals"):
        if name in finding.tables:
            frame = finding.tables[name].frame.filter(pl.col("unit") == "Small")
            stats = [c for c, k in finding.tables[name].kinds.items() if k in {"statistic", "rate", "count"}
                     and c not in {"folds"}]
            assert all(frame[c].null_count() == frame.height for c in stats), name
    for i in range(big_units):
        part = parts[i + 1]
        kept = series.filter((pl.col("unit") == f"Big {i}") & (pl.col("period") < before_future))
        assert kept["actual"].to_list() == part["n"].to_list()
    text = published_numbers(finding)
    assert "Small: its forecast is withheld" in text


def test_the_step_runs_on_real_fixmystreet_data(shared_data):
    path = shared_data / "fixmystreet-lad-monthly" / "fms_flytipping_lad_monthly.csv"
    frame = pl.read_csv(path)
    essex = [f"E070000{i}" for i in range(66, 78)]
    before = raw(frame, date="month", count="reports", unit="lad", units=essex[:4], models=FAST)
    assert before.metrics["units"] == 4
    assert any("counted as zero" in c for c in before.caveats)  # FixMyStreet omits empty months
    assert before.tables["series"].frame.filter(pl.col("forecast").is_not_null()).height == 48
    finding = publish(before, CTX.disclosure)
    series = finding.tables["series"].frame
    for unit in essex[:4]:
        rows = series.filter(pl.col("unit") == unit)
        history = rows.filter(pl.col("period") <= date(2020, 12, 1))
        # a unit's forecast is published exactly when every count it rests on is
        assert (rows["forecast"].drop_nulls().len() == 12) == (history["actual"].null_count() == 0), unit
    assert attack([before.with_(id="fc", population="p")], CTX.disclosure) == []


def test_a_big_and_a_tiny_council_in_real_fixmystreet_data(shared_data):
    """Bromley (about 1,000 reports a month) beside a council with fewer than ten: Bromley keeps
    every count of its history and its forecast; the tiny council's are all suppressed."""
    path = shared_data / "fixmystreet-lad-monthly" / "fms_all_reports_lad_monthly.csv"
    frame = pl.read_csv(path)
    big, tiny = "E09000006", "N09000002"
    assert frame.filter(pl.col("lad") == tiny)["reports"].max() < 10
    before = raw(frame, date="month", count="reports", unit="lad", units=[big, tiny], models=FAST)
    finding = publish(before, CTX.disclosure)
    series = finding.tables["series"].frame
    mine = series.filter((pl.col("unit") == big) & (pl.col("period") <= date(2020, 12, 1)))
    expected = frame.filter(pl.col("lad") == big).with_columns(pl.col("month").str.to_date("%Y-%m"))
    lookup = dict(zip(expected["month"].to_list(), expected["reports"].to_list()))
    assert mine.height > 100 and mine["actual"].to_list() == [lookup.get(p, 0) for p in mine["period"].to_list()]
    assert series.filter(pl.col("unit") == big)["forecast"].drop_nulls().len() == 12
    small = series.filter(pl.col("unit") == tiny)
    assert small["actual"].drop_nulls().filter(small["actual"].drop_nulls() > 0).len() == 0
    assert small["forecast"].null_count() == small.height
    assert any(h.startswith(f"{big}: ") and "expected over the next 12 months" in h for h in finding.headlines)
    assert any(c.startswith(f"{big}: the first 40 months (to 2010-06) are left out") for c in finding.caveats)
    assert attack([before.with_(id="fc", population="p")], CTX.disclosure) == []
