from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps.significance import Significance

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))


def run(data: pl.DataFrame, **params):
    return Significance().run(data.lazy(), Significance.parse_params(params), CTX)


def rows(finding) -> dict[str, dict]:
    return {r["variable"]: r for r in finding.tables["tests"].frame.iter_rows(named=True)}


@pytest.fixture(scope="module")
def referrals():
    from expedition.examples.referrals import generate

    return generate(4000, seed=5)


def test_finds_the_planted_differences_and_not_the_null_ones(referrals):
    finding = run(referrals, group="rereferred_12m", group_value="yes")
    tests = rows(finding)
    for planted in ("prior_referrals", "age", "closure_reason", "disability"):
        assert tests[planted]["significant"] == "yes", planted
    for null in ("sex", "ethnicity"):
        assert tests[null]["significant"] == "no", null
    text = " ".join(finding.headlines)
    assert "cause" not in text
    assert "No difference across rereferred_12m was detected for" in text
    assert "sex" in finding.headlines[-1] and "ethnicity" in finding.headlines[-1]
    assert any("association" in c and "cause" in c for c in finding.caveats)
    # the 2x2 table gets the two-proportion z-test with a risk difference and ratio
    assert tests["disability"]["test"] == "two-proportion z-test"
    effects = finding.tables["effect_sizes"].frame.filter(pl.col("variable") == "disability")
    assert effects["measure"].to_list() == ["risk difference", "risk ratio"]
    assert any("share with rereferred_12m = yes is higher where disability is Yes" in h for h in finding.headlines)


def test_numbers_agree_with_scipy_on_the_same_split(referrals):
    finding = run(referrals, group="rereferred_12m", variables=["age", "prior_referrals", "district"],
                  tests={"age": "welch", "prior_referrals": "mann-whitney"})
    tests = rows(finding)
    yes = referrals.filter(pl.col("rereferred_12m") == "yes")
    no = referrals.filter(pl.col("rereferred_12m") == "no")
    t = sps.ttest_ind(yes["age"].to_numpy(), no["age"].to_numpy(), equal_var=False)
    assert tests["age"]["statistic"] == pytest.approx(t.statistic)
    assert tests["age"]["p_value"] == pytest.approx(t.pvalue)
    assert tests["age"]["df"] == pytest.approx(t.df)
    u = sps.mannwhitneyu(yes["prior_referrals"].to_numpy(), no["prior_referrals"].to_numpy())
    assert tests["prior_referrals"]["statistic"] == pytest.approx(u.statistic)
    assert tests["prior_referrals"]["p_value"] == pytest.approx(u.pvalue)
    from scipy.stats.contingency import crosstab

    counts = crosstab(referrals["district"].to_list(), referrals["rereferred_12m"].to_list()).count
    chi = sps.chi2_contingency(counts, correction=False)
    assert tests["district"]["statistic"] == pytest.approx(chi.statistic)
    assert tests["district"]["df"] == chi.dof
    # Holm across the three tests, as statsmodels
    from statsmodels.stats.multitest import multipletests

    raw = [tests[v]["p_value"] for v in ("age", "prior_referrals", "district")]
    assert [tests[v]["p_adjusted"] for v in ("age", "prior_referrals", "district")] == pytest.approx(
        list(multipletests(raw, method="holm")[1])
    )
    bh = rows(run(referrals, group="rereferred_12m", variables=["age", "prior_referrals", "district"],
                  tests={"age": "welch", "prior_referrals": "mann-whitney"}, correction="bh"))
    assert [bh[v]["p_adjusted"] for v in ("age", "prior_referrals", "district")] == pytest.approx(
        list(multipletests(raw, method="fdr_bh")[1])
    )


def test_several_groups_use_anova_or_kruskal(referrals):
    finding = run(referrals, group="district", variables=["age", "prior_referrals"])
    tests = rows(finding)
    assert tests["age"]["test"] in {"one-way ANOVA", "Welch's ANOVA"}
    assert tests["prior_referrals"]["test"] == "Kruskal–Wallis test"  # skewed counts
    groups = [referrals.filter(pl.col("district") == d)["prior_referrals"].to_numpy()
              for d in sorted(referrals["district"].unique())]
    assert tests["prior_referrals"]["statistic"] == pytest.approx(sps.kruskal(*groups).statistic)
    means = finding.tables["numeric_groups"].frame
    assert set(means["group"].unique()) == set(referrals["district"].unique())


def test_overrides_are_checked():
    data = pl.DataFrame({"g": ["a", "b"] * 50, "x": np.arange(100.0), "c": ["u", "v", "w", "z"] * 25})
    with pytest.raises(StepError, match="does not fit 'x'"):
        run(data, group="g", tests={"x": "chi-square"})
    with pytest.raises(StepError, match="did you mean 'x'"):
        run(data, group="g", tests={"xx": "welch"})
    with pytest.raises(StepError, match="needs two categories"):
        run(data, group="g", tests={"c": "two-proportion"})
    with pytest.raises(StepError, match="unknown parameter 'test'"):
        Significance.parse_params({"group": "g", "test": {}})
    with pytest.raises(StepError, match="parameter 'group' is required"):
        Significance.parse_params({})
    with pytest.raises(StepError, match="did you mean 'g'"):
        run(data, group="gg")


def test_nothing_to_find_is_said_plainly():
    rng = np.random.default_rng(0)
    data = pl.DataFrame({"g": rng.choice(["a", "b"], 400), "x": rng.normal(size=400), "c": rng.choice(["u", "v"], 400)})
    finding = run(data, group="g")
    assert finding.metrics["significant"] == 0
    assert "0 differ at the 0.05 level" in finding.headlines[0]
    assert "does not show that there is none" in finding.headlines[-1]
    assert len(finding.headlines) == 2


def test_awkward_data_gets_caveats_not_crashes():
    rng = np.random.default_rng(1)
    n = 300
    group = np.where(np.arange(n) == 0, "lonely", rng.choice(["a", "b"], n))
    data = pl.DataFrame(
        {
            "g": group,
            "constant": np.ones(n),
            "empty": pl.Series([None] * n, dtype=pl.Float64),
            "extreme": np.where(np.arange(n) < 3, 1e300, rng.normal(size=n)),
            "infinite": np.where(np.arange(n) < 5, np.inf, rng.normal(size=n)),
            "many": [f"level {i}" for i in rng.integers(0, 10_000, n)],
            "x": rng.normal(size=n),
        }
    )
    finding = run(data, group="g", variables=["constant", "empty", "extreme", "infinite", "many", "x"])
    text = " ".join(finding.caveats)
    assert "only one value): constant" in text
    assert "all values missing): empty" in text
    assert "infinite or not-a-number" in text
    assert "'Other'" in text  # 10,000 possible levels: the most common kept, the rest grouped
    assert "lonely" in text and "fewer than two values" in text
    tests = rows(finding)
    assert tests["extreme"]["test"] == "Mann–Whitney U test"  # extreme values: a rank test
    for row in tests.values():
        assert row["p_value"] is None or 0 <= row["p_value"] <= 1


def test_unusable_groups_are_clear_errors():
    with pytest.raises(StepError, match="only one value"):
        run(pl.DataFrame({"g": ["a"] * 20, "x": np.arange(20.0)}), group="g")
    with pytest.raises(StepError, match="at most 20"):
        run(pl.DataFrame({"g": [str(i) for i in range(100)], "x": np.arange(100.0)}), group="g")
    with pytest.raises(StepError, match="group_value 'maybe'"):
        run(pl.DataFrame({"g": ["a", "b"] * 10, "x": np.arange(20.0)}), group="g", group_value="maybe")
    with pytest.raises(StepError, match="no rows"):
        run(pl.DataFrame({"g": pl.Series([], dtype=pl.String), "x": pl.Series([], dtype=pl.Float64)}), group="g")


def test_small_groups_are_suppressed_and_not_quoted():
    rng = np.random.default_rng(2)
    group = np.array(["big"] * 200 + ["tiny"] * 6)
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(5, 1, 6)])
    finding = run(pl.DataFrame({"g": group, "x": x}), group="g")
    means = finding.tables["numeric_groups"].frame.filter(pl.col("group") == "tiny").row(0, named=True)
    assert means["n"] is None and means["mean"] is None  # suppressed before publishing
    assert rows(finding)["x"]["significant"] == "yes"
    assert all("tiny" not in h for h in finding.headlines)  # no mean of a suppressed group quoted
