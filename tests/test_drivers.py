"""The `drivers` step: planted drivers found, coefficients and Wald tests as statsmodels, clear
errors; through the one gate, no estimate for a category too small to publish and no count of
one in any sentence or metric."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.finding import Chart, Count, Sentence
from expedition.steps import StepContext
from expedition.steps.drivers import Drivers
from expedition.testing import attack, publish

CTX = StepContext(seed=4, disclosure=DisclosureConfig(min_count=10))


def raw(data: pl.DataFrame, **params):
    """The finding as the step returns it, before the gate."""
    params.setdefault("bootstrap", 50)
    params.setdefault("repeats", 2)
    return Drivers().run(data.lazy(), Drivers.parse_params(params), CTX)


def run(data: pl.DataFrame, **params):
    """The finding as published: tables, sentences and figures through the gate."""
    return publish(raw(data, **params).with_(id="drivers", population="p"), CTX.disclosure)


def importance(finding) -> dict[str, dict]:
    return {r["variable"]: r for r in finding.tables["importance"].frame.iter_rows(named=True)}


def synthetic(n: int = 2000, seed: int = 0) -> pl.DataFrame:
    """y depends on x1 (strongly), x2 (weakly) and group 'c'; noise is pure noise."""
    rng = np.random.default_rng(seed)
    x1, x2, noise = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    logit = -0.5 + 1.2 * x1 + 0.3 * x2 + 0.8 * (group == "c")
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame({"x1": x1, "x2": x2, "noise": noise, "group": group,
                         "y": np.where(y, "yes", "no"), "amount": 3 * x1 - 2 * (group == "b") + rng.normal(size=n)})


def test_finds_the_planted_drivers_in_the_referrals():
    from expedition.examples.referrals import generate

    finding = run(generate(3000, seed=8), outcome="rereferred_12m", outcome_value="yes",
                  exclude=["contacts_after_closure"])  # the planted leak, recorded after closure
    table = importance(finding)
    assert finding.tables["importance"].frame["variable"][0] == "prior_referrals"
    for planted in ("prior_referrals", "age", "closure_reason", "disability"):
        assert table[planted]["associated"] == "yes", planted
    for null in ("sex", "ethnicity"):
        assert table[null]["associated"] == "no", null
    text = " ".join(finding.headlines)
    assert "associated with" in text and "cause" not in text
    assert "No clear association with rereferred_12m was found for" in text
    assert any("not shown to cause" in c for c in finding.caveats)
    assert 0.6 < finding.metrics["auc"] < 0.8


def test_coefficients_match_statsmodels_logit_on_the_standardised_design():
    import statsmodels.api as sm

    data = synthetic()
    finding = run(data, outcome="y", variables=["x1", "x2", "noise", "group"])
    coefs = {(r["variable"], r["term"].split(" (")[0]): r for r in finding.tables["coefficients"].frame.iter_rows(named=True)}
    z = lambda c: (data[c].to_numpy() - data[c].mean()) / data[c].std()  # noqa: E731
    g = data["group"].to_numpy()
    x = np.column_stack([z("x1"), z("x2"), z("noise"), g == "b", g == "c"]).astype(float)
    fit = sm.Logit((data["y"] == "yes").to_numpy().astype(float), sm.add_constant(x)).fit(disp=0)
    ci = fit.conf_int()
    for i, key in enumerate([("x1", "per SD"), ("x2", "per SD"), ("noise", "per SD"), ("group", "b vs a"), ("group", "c vs a")]):
        row = coefs[key]
        assert row["estimate"] == pytest.approx(fit.params[i + 1], rel=1e-6)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci[i + 1, 0], ci[i + 1, 1]), rel=1e-6)
        assert row["odds_ratio"] == pytest.approx(np.exp(fit.params[i + 1]))
    table = importance(finding)
    assert table["x1"]["rank"] == 1 and table["x1"]["associated"] == "yes"
    assert table["group"]["associated"] == "yes"
    assert table["noise"]["associated"] == "no"
    # the Wald test of both group terms, as statsmodels
    wald = fit.wald_test(np.eye(6)[[4, 5]], scalar=True)
    assert table["group"]["test_statistic"] == pytest.approx(float(wald.statistic))
    assert table["group"]["test_df"] == 2


def test_numeric_outcome_uses_linear_regression_and_r_squared():
    import statsmodels.api as sm

    data = synthetic(seed=1)
    finding = run(data, outcome="amount", variables=["x1", "noise", "group"])
    assert "r2" in finding.metrics and finding.metrics["r2"] > 0.8
    coefs = {r["term"].split(" (")[0]: r for r in finding.tables["coefficients"].frame.iter_rows(named=True)
             if r["variable"] == "x1"}
    z = (data["x1"].to_numpy() - data["x1"].mean()) / data["x1"].std()
    g = data["group"].to_numpy()
    noise = (data["noise"].to_numpy() - data["noise"].mean()) / data["noise"].std()
    fit = sm.OLS(data["amount"].to_numpy(), sm.add_constant(np.column_stack([z, noise, g == "b", g == "c"]).astype(float))).fit()
    assert coefs["per SD"]["estimate"] == pytest.approx(fit.params[1])
    assert "odds_ratio" not in finding.tables["coefficients"].frame.columns
    assert any("explain" in h and "variation in amount" in h for h in finding.headlines)


def test_awkward_data_gets_caveats_or_clear_errors():
    data = synthetic(1500).with_columns(
        pl.lit(2.0).alias("constant"),
        pl.lit(None, dtype=pl.String).alias("empty"),
        pl.col("x1").alias("x1_copy"),
        pl.Series("many", [f"k{i}" for i in np.random.default_rng(0).integers(0, 10_000, 1500)]),
    )
    finding = run(data, outcome="y", variables=["x1", "x1_copy", "x2", "constant", "empty", "many"])
    text = " ".join(finding.caveats)
    assert "only one value): constant" in text and "all values missing): empty" in text
    assert "'Other'" in text
    assert "determine them exactly: x1_copy" in text
    with pytest.raises(StepError, match="same value"):
        run(data.with_columns(pl.lit("yes").alias("y")), outcome="y")
    with pytest.raises(StepError, match="has 3 values"):
        run(data.with_columns(pl.col("group").alias("y")), outcome="y")
    with pytest.raises(StepError, match="too few"):
        run(data.head(60), outcome="y")
    with pytest.raises(StepError, match="smaller outcome class"):
        run(data.with_columns(pl.when(pl.int_range(pl.len()) < 5).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("y")), outcome="y")
    with pytest.raises(StepError, match="did you mean 'y'"):
        run(data, outcome="yy")


def test_a_copy_of_the_outcome_is_left_out_by_the_leakage_check():
    """The issue's case: a copy of the outcome among the inputs gave an importance of millions
    of per cent and an AUC of 1. The leakage check (risk's) flags it and leaves it out."""
    data = synthetic(1500).with_columns(pl.col("y").alias("y_copy"))
    finding = run(data, outcome="y")
    assert "y_copy" not in importance(finding)
    assert max(r["importance"] for r in importance(finding).values()) < 100  # no absurd values
    assert finding.tables["model"].frame["estimate"][0] < 0.9
    leakage = {r["variable"]: r for r in finding.tables["leakage"].frame.iter_rows(named=True)}
    assert leakage["y_copy"]["single_variable_score"] == 1.0
    assert (leakage["y_copy"]["flagged"], leakage["y_copy"]["used"]) == ("yes", "no")
    assert all(r["flagged"] == "no" for v, r in leakage.items() if v != "y_copy")
    # each score is the AUC of the variable alone (either direction for a number), as scikit-learn's
    from sklearn.metrics import roc_auc_score

    yes = (data["y"] == "yes").to_numpy()
    auc = roc_auc_score(yes, data["x1"].to_numpy())
    assert leakage["x1"]["single_variable_score"] == pytest.approx(max(auc, 1 - auc))
    assert any(c.startswith("Leakage check: y_copy predicts the outcome almost perfectly") and "left out" in c
               for c in finding.caveats)
    assert finding.headlines[-1] == ("The leakage check flagged y_copy: it would have made the prediction "
                                     "model look far better than it can be, and was left out.")
    # a lower threshold flags a real driver too; a copy alone is refused with what to do
    with pytest.raises(StepError, match="every candidate driver .* was flagged by the leakage check"):
        run(data, outcome="y", variables=["y_copy"])


def test_a_kept_leak_is_loudly_caveated():
    data = synthetic(1500).with_columns(pl.col("y").alias("y_copy"))
    finding = run(data, outcome="y", keep_leaky=True)
    assert importance(finding)["y_copy"]["rank"] == 1
    assert finding.tables["leakage"].frame.filter(pl.col("variable") == "y_copy")["used"][0] == "yes"
    assert finding.headlines[0].startswith("The leakage check flagged y_copy")
    assert "kept on request, so the results are not to be trusted" in finding.headlines[0]
    assert any("kept, as keep_leaky is set — the results below are not to be trusted" in c for c in finding.caveats)


def test_a_numeric_copy_of_a_numeric_outcome_is_flagged_by_its_concordance():
    from scipy.stats import kendalltau

    from expedition.steps._models import single_feature_concordance

    data = synthetic(1500).with_columns((pl.col("amount") * 2 + 1).alias("amount_again"))
    finding = run(data, outcome="amount", variables=["x1", "noise", "group", "amount_again"])
    leakage = {r["variable"]: r for r in finding.tables["leakage"].frame.iter_rows(named=True)}
    assert leakage["amount_again"]["flagged"] == "yes" and "amount_again" not in importance(finding)
    # the concordance index of a number (no ties) is (1 + Kendall's tau) / 2, either direction
    tau = kendalltau(data["x1"].to_numpy(), data["amount"].to_numpy()).statistic
    assert leakage["x1"]["single_variable_score"] == pytest.approx((1 + abs(tau)) / 2)
    negative = single_feature_concordance(-data["noise"], data["amount"].to_numpy(), "numeric")
    tau = kendalltau(data["noise"].to_numpy(), data["amount"].to_numpy()).statistic
    assert negative == pytest.approx((1 + abs(tau)) / 2)


def test_a_regression_that_cannot_be_fitted_is_said_and_publishes_no_empty_table():
    # x1 and x2 together separate the outcome perfectly, neither alone does (no leak is flagged)
    rng = np.random.default_rng(8)
    n = 1200
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    data = pl.DataFrame({"x1": x1, "x2": x2, "noise": rng.normal(size=n),
                         "y": np.where(x1 + x2 > 0, "yes", "no")})
    finding = run(data, outcome="y")
    assert finding.tables["leakage"].frame["flagged"].to_list() == ["no", "no", "no"]
    assert "coefficients" not in finding.tables and "coefficients" not in finding.figures
    # statsmodels' Logit stops at its iteration limit: the issue's silent empty table
    assert finding.headlines[1].startswith("The regression of y on the variables did not converge, as a "
                                           "variable or a combination of them predicts the outcome")
    assert "no coefficients are reported" in finding.headlines[1]
    assert all(r["p_adjusted"] is None for r in finding.tables["importance"].frame.iter_rows(named=True))
    # a kept leak separates it too
    kept = run(synthetic(800).with_columns(pl.col("y").alias("leak")), outcome="y", variables=["x1", "leak"],
               keep_leaky=True)
    assert "coefficients" not in kept.tables
    assert any(h.startswith("The regression of y on the variables could not be fitted, as the variables "
                            "together predict the outcome perfectly") for h in kept.headlines)


# --------------------------------------------------------------------------- the one gate


def test_counts_are_in_slots_and_figures_are_declared():
    data = synthetic(1500).with_columns(
        pl.when(pl.int_range(pl.len()) < 40).then(None).otherwise(pl.col("y")).alias("y")
    )
    found = raw(data, outcome="y", variables=["x1", "x2", "group"])
    assert isinstance(found.metrics["records"], Count) and found.metrics["records"].value == 1460
    assert all(isinstance(h, Sentence) for h in found.headlines)
    assert {type(f) for f in found.figures.values()} == {Chart}
    published = publish(found.with_(id="d", population="p"), CTX.disclosure)
    assert published.metrics["records"] == 1460 and published.metric_kinds["records"] == "count"
    assert any(c.startswith("40 records with no value for y are left out") for c in published.caveats)
    assert all(f.png.startswith(b"\x89PNG") for f in published.figures.values())


def test_a_few_records_left_out_are_not_counted_in_words():
    data = synthetic(1500).with_columns(
        pl.when(pl.int_range(pl.len()) < 4).then(None).otherwise(pl.col("y")).alias("y")
    )
    published = run(data, outcome="y", variables=["x1", "group"])
    assert "Some records with no value for y are left out." in published.caveats
    assert not any(" 4 records" in c or c.startswith("4 ") for c in published.caveats)


def test_a_sample_is_its_own_population_and_quoted_with_its_size():
    published = run(synthetic(1200), outcome="y", variables=["x1", "group"], max_rows=600)
    assert any("random sample of 600 of the 1,200 records" in c for c in published.caveats)
    assert published.metrics["fitted_on"] == 600 and published.metrics["records"] == 1200


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 9), st.integers(0, 10_000))
def test_a_planted_small_category_gets_no_estimate_and_no_count(small, seed):
    """A category of fewer than ten records: the regression counts it with the most common one
    (so it cannot stop the fit), no coefficient, sentence or metric describes it, and nothing
    published pins a small count."""
    rng = np.random.default_rng(seed)
    data = synthetic(900, seed=seed % 50)
    levels = data["group"].to_list()
    for i in rng.choice(len(levels), small, replace=False):
        levels[i] = "rare"
    data = data.with_columns(pl.Series("group", levels))
    found = raw(data, outcome="y", variables=["x1", "x2", "group"], bootstrap=20)
    terms = found.tables["coefficients"].frame["term"].to_list()
    assert not any("rare" in t for t in terms)
    assert any("counted with their variable's most common category" in c and c.endswith(": group.")
               for c in found.caveats if isinstance(c, str))
    assert found.tables["coefficients"].frame.height > 0  # the lone records do not stop the fit
    published = publish(found.with_(id="d", population="p"), CTX.disclosure)
    assert not any("rare" in h for h in published.headlines)
    assert attack([found.with_(id="d", population="p")], CTX.disclosure) == []


@pytest.mark.parametrize("preset", ["acro", "dfe"])
def test_presets_with_rounding_and_zeros_publish_nothing_the_auditor_can_pin(preset):
    rules = DisclosureConfig(preset=preset)
    data = synthetic(1200).with_columns(
        pl.when(pl.int_range(pl.len()) < 23).then(None).otherwise(pl.col("y")).alias("y")
    )
    found = Drivers().run(data.lazy(), Drivers.parse_params({"outcome": "y", "variables": ["x1", "group"],
                                                             "bootstrap": 20, "repeats": 1}),
                          StepContext(seed=4, disclosure=rules)).with_(id="d", population="p")
    assert attack([found], rules) == []
    shown = publish(found, rules)
    if rules.round_to:
        assert shown.metrics["records"] % rules.round_to == 0
        assert any(c.startswith(f"{25 if rules.round_to == 5 else 23} records with no value for y") for c in shown.caveats)
