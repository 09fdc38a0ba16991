"""`benchmark`: exact funnel limits, over-dispersion, planted outliers, disclosure."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from expedition.config import DisclosureConfig
from expedition.disclosure import apply
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.testing import attack, publish
from expedition.steps.benchmark import (
    Benchmark,
    Limits,
    additive_tau2,
    binomial_limits,
    overdispersion,
    poisson_limits,
)

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))


def run(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as published: tables, sentences and figures through the gate."""
    return publish(raw(data, ctx, **params), ctx.disclosure)


def raw(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as the step returns it, before the gate."""
    return Benchmark().run(data.lazy(), Benchmark.parse_params(params), ctx)


def units_frame(p: list[float], n: list[int], seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    events = [int(rng.binomial(size, prob)) for prob, size in zip(p, n)]
    return pl.DataFrame({"unit": [f"Unit {i:02d}" for i in range(len(p))], "events": events, "cases": n})


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("n", [7, 20, 57, 300, 4_999])
@pytest.mark.parametrize("p", [0.03, 0.25, 0.6])
@pytest.mark.parametrize("level", [0.95, 0.998])
def test_binomial_limits_are_the_exact_quantiles(n, p, level):
    lower, upper = binomial_limits(np.array([n]), p, level)
    assert lower[0] * n == pytest.approx(stats.binom.ppf((1 - level) / 2, n, p), abs=1e-9)
    assert upper[0] * n == pytest.approx(stats.binom.ppf((1 + level) / 2, n, p), abs=1e-9)
    # a count beyond a limit is exactly what a one-sided exact test at that level rejects
    tail = (1 - level) / 2
    for r in range(n + 1):
        assert (r / n > upper[0]) == (stats.binom.sf(r - 1, n, p) < tail) or np.isclose(stats.binom.sf(r - 1, n, p), tail)
        assert (r / n < lower[0]) == (stats.binom.cdf(r, n, p) < tail) or np.isclose(stats.binom.cdf(r, n, p), tail)


@pytest.mark.parametrize("exposure", [50.0, 1_234.5, 80_000.0])
def test_poisson_limits_are_the_exact_quantiles(exposure):
    rate = 0.004
    lower, upper = poisson_limits(np.array([exposure]), rate, 0.998)
    assert lower[0] * exposure == pytest.approx(stats.poisson.ppf(0.001, exposure * rate))
    assert upper[0] * exposure == pytest.approx(stats.poisson.ppf(0.999, exposure * rate))


def test_a_single_case_is_never_outside_the_limits():
    frame = pl.DataFrame({"u": ["a", "b", "c"], "o": ["yes", "no", "yes"]})
    finding = run(frame, unit="u", outcome="o")
    assert finding.metrics["outside_998"] == 0 and finding.metrics["outside_95_only"] == 0


def test_large_units_approach_the_normal_limits():
    lower, upper = binomial_limits(np.array([1_000_000]), 0.2, 0.998)
    half = stats.norm.ppf(0.999) * np.sqrt(0.2 * 0.8 / 1_000_000)
    assert upper[0] == pytest.approx(0.2 + half, rel=1e-3)
    assert lower[0] == pytest.approx(0.2 - half, rel=1e-3)


def test_additive_tau2_is_dersimonian_laird_without_winsorising():
    from statsmodels.stats.meta_analysis import combine_effects

    rng = np.random.default_rng(4)
    n = rng.integers(100, 2_000, 40)
    p = np.clip(rng.normal(0.2, 0.04, 40), 0.01, 0.99)
    r = rng.binomial(n, p)
    y = r / n
    target = r.sum() / n.sum()
    s = np.sqrt(target * (1 - target) / n)
    z = (y - target) / s
    phi = overdispersion(z, trim=0.0)
    assert phi == pytest.approx(np.mean(z**2))
    reference = combine_effects(y, s**2, method_re="dl")
    assert additive_tau2(z, s, phi) == pytest.approx(reference.tau2, rel=1e-6)


def test_multiplicative_and_additive_limits():
    n = np.array([100.0, 400.0])
    z = stats.norm.ppf(0.999)
    multiplicative = Limits(0.3, "proportion", "multiplicative", phi=2.0)
    low, high = multiplicative.at(n, 0.998)
    np.testing.assert_allclose(high, 0.3 + z * np.sqrt(2.0 * 0.3 * 0.7 / n))
    additive = Limits(0.3, "proportion", "additive", tau2=0.001)
    low, high = additive.at(n, 0.998)
    np.testing.assert_allclose(low, 0.3 - z * np.sqrt(0.3 * 0.7 / n + 0.001))


# --------------------------------------------------------------------------- planted data


def test_a_planted_outlier_unit_is_flagged():
    p = [0.2] * 30 + [0.35]
    n = [int(x) for x in np.random.default_rng(1).integers(150, 900, 30)] + [500]
    finding = run(units_frame(p, n, seed=2), unit="unit", events="events", denominator="cases")
    units = finding.tables["units"].frame
    assert units.filter(pl.col("unit") == "Unit 30")["position"].item() == "above 99.8% limit"
    assert units.filter(pl.col("position").str.contains("99.8"))["unit"].to_list() == ["Unit 30"]
    assert "Outside the 99.8% limits: Unit 30 (above)" in finding.headlines[1]
    assert finding.metrics["outside_998"] == 1


def test_units_are_listed_alphabetically_not_ranked():
    finding = run(units_frame([0.1, 0.5, 0.3, 0.2], [200, 200, 200, 200]), unit="unit", events="events", denominator="cases")
    assert finding.tables["units"].frame["unit"].to_list() == sorted(finding.tables["units"].frame["unit"].to_list())


def test_overdispersed_units_get_widened_limits():
    rng = np.random.default_rng(9)
    k = 60
    p = rng.beta(40, 160, k)  # units really differ: between-unit spread beyond chance
    n = rng.integers(300, 3_000, k)
    frame = units_frame(list(p), [int(v) for v in n], seed=9)
    exact = run(frame, unit="unit", events="events", denominator="cases", overdispersion="none")
    auto = run(frame, unit="unit", events="events", denominator="cases")
    assert auto.metrics["phi"] > 1.5 and auto.metrics["overdispersion_p"] < 0.05
    assert auto.metrics["tau2"] > 0
    assert auto.metrics["outside_998"] < exact.metrics["outside_998"]
    assert any("additive random effects" in h for h in auto.headlines)
    assert any("Units vary more than chance" in h for h in exact.headlines)


def test_the_referrals_example_flags_a_planted_district(referrals_csv):
    from expedition.datasets import scan_dataset
    from expedition.examples.referrals import generate

    finding = Benchmark().run(
        generate(5_000, 2026).lazy(),
        Benchmark.parse_params({"unit": "district", "outcome": "rereferred_12m", "outcome_value": "yes"}),
        CTX,
    )
    units = finding.tables["units"].frame
    assert units.filter(pl.col("unit") == "Tendring")["position"].item() == "above 99.8% limit"
    small = Benchmark().run(
        scan_dataset(referrals_csv),
        Benchmark.parse_params({"unit": "district", "outcome": "rereferred_12m", "outcome_value": "yes"}),
        CTX,
    )
    assert small.metrics["units"] == 12


def test_rates_per_population_use_poisson_limits():
    rng = np.random.default_rng(5)
    population = rng.integers(20_000, 200_000, 25)
    events = rng.poisson(population * 0.004)
    events[3] = int(population[3] * 0.008)
    frame = pl.DataFrame({"area": [f"A{i}" for i in range(25)], "crimes": events, "residents": population})
    finding = run(frame, unit="area", events="crimes", denominator="residents", measure="rate", per=1000)
    units = finding.tables["units"].frame
    assert "rate_per_1000" in units.columns
    row = units.filter(pl.col("unit") == "A3").row(0, named=True)
    assert row["position"] == "above 99.8% limit"
    assert row["rate_per_1000"] == pytest.approx(1000 * events[3] / population[3])


# --------------------------------------------------------------------------- bad input, disclosure


def test_bad_input_gives_clear_errors_or_caveats():
    frame = units_frame([0.2] * 6, [100, 120, 0, 90, 200, 150])
    finding = run(frame, unit="unit", events="events", denominator="cases")
    assert any("zero denominator" in c and "Unit 02" in c for c in finding.caveats)
    assert finding.metrics["units"] == 5
    with pytest.raises(StepError, match="exceeds cases for Unit 01"):
        over = frame.with_columns(pl.when(pl.col("unit") == "Unit 01").then(500).otherwise(pl.col("events")).alias("events"))
        run(over, unit="unit", events="events", denominator="cases")
    with pytest.raises(StepError, match="negative values"):
        run(frame.with_columns(pl.lit(-1).alias("events")), unit="unit", events="events", denominator="cases")
    with pytest.raises(StepError, match="needs an outcome column, or events and denominator"):
        run(frame, unit="unit")
    with pytest.raises(StepError, match="did you mean 'unit'"):
        run(frame, unit="units", events="events", denominator="cases")
    with pytest.raises(StepError, match="no unit can differ"):
        run(frame.with_columns(pl.lit(0).alias("events")), unit="unit", events="events", denominator="cases")
    with pytest.raises(StepError, match="two or more"):
        run(frame.head(1), unit="unit", events="events", denominator="cases")


def test_small_units_are_suppressed_before_the_funnel_is_drawn():
    frame = units_frame([0.3] * 8, [400, 350, 300, 6, 500, 450, 420, 380], seed=1)
    finding = run(frame, unit="unit", events="events", denominator="cases").with_(id="b")
    row = finding.tables["units"].frame.filter(pl.col("unit") == "Unit 03").row(0, named=True)
    assert row["denominator"] is None and row["rate"] is None and row["upper998"] is None
    safe, _ = apply(finding, DisclosureConfig(min_count=10))
    assert "funnel" in safe.figures


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(1, 60)).map(lambda t: (min(t), max(t))),
        min_size=3,
        max_size=15,
    ),
    st.integers(2, 15),
)
def test_published_unit_tables_never_show_a_small_count_or_what_it_implies(pairs, min_count):
    from expedition.disclosure import safe_table
    from expedition.steps.benchmark import compare, units_table_of

    units = [f"U{i:02d}" for i in range(len(pairs))]
    r = np.array([a for a, _ in pairs], dtype=float)
    n = np.array([b for _, b in pairs], dtype=float)
    assume(0 < r.sum() < n.sum())  # otherwise there is nothing to compare: a clear error, tested above
    params = Benchmark.parse_params({"unit": "unit", "events": "e", "denominator": "d"})
    table = units_table_of(compare(units, r, n, params), params, "e out of d")
    assert table.kinds["events"] == table.kinds["denominator"] == "count"
    published = safe_table(table, DisclosureConfig(min_count=min_count)).frame
    for row in published.iter_rows(named=True):
        for column in ("events", "denominator"):
            assert row[column] is None or row[column] == 0 or row[column] >= min_count
        if row["events"] is None or row["denominator"] is None:
            assert row["rate"] is None and row["z"] is None
        if row["denominator"] is None:
            assert all(row[c] is None for c in ("lower95", "upper95", "lower998", "upper998"))


# --------------------------------------------------------------------------- the attacker


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.integers(0, 9), st.integers(3, 12), st.integers(0, 10_000))
def test_a_planted_small_unit_cannot_be_read_from_anything_published(small_n, small_r, units, seed):
    """A unit of fewer than ten cases among large ones: no table cell, sentence or metric
    publishes its count, and the auditor cannot pin it from the totals the headline gives."""
    assume(small_r <= small_n)
    rng = np.random.default_rng(seed)
    n = [int(x) for x in rng.integers(60, 400, units)] + [small_n]
    r = [int(rng.binomial(x, 0.3)) for x in n[:-1]] + [small_r]
    rows = [(f"Team {i:02d}", 1 if j < r[i] else 0) for i in range(len(n)) for j in range(n[i])]
    data = pl.DataFrame(rows, schema=["team", "flag"], orient="row")
    finding = raw(data, unit="team", outcome="flag", outcome_value="1").with_(id="bench", population="p")
    assert attack([finding], CTX.disclosure) == []


def test_a_unit_too_small_to_publish_is_not_named_as_an_outlier():
    data = pl.DataFrame(
        [("Team A", j < 60) for j in range(300)] + [("Team B", j < 75) for j in range(300)]
        + [("Team C", True) for _ in range(8)],
        schema=["team", "flag"], orient="row",
    )
    finding = run(data, unit="team", outcome="flag")
    text = " ".join(finding.headlines)
    assert "Team C" not in text
    assert "8 of 8" not in text
    units = finding.tables["units"].frame.filter(pl.col("unit") == "Team C")
    assert units["events"].item() is None and units["position"].item() is None
