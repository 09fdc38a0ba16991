"""The statistics agree with R's published outputs on classic datasets, and with SciPy/statsmodels.

The datasets are typed in from R's `datasets` package (public domain) and R's help pages; the
expected values are R's printed output, to the digits R prints (at least 4 significant figures).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expedition.steps import _stats as S

# R: datasets::sleep (Student 1908) — extra hours of sleep, drug 1 and drug 2
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
# R: datasets::PlantGrowth (Dobson 1983) — dried weight of plants, control and two treatments
CTRL = [4.17, 5.58, 5.18, 6.11, 4.50, 4.61, 5.17, 4.53, 5.33, 5.14]
TRT1 = [4.81, 4.17, 4.41, 3.59, 5.87, 3.83, 6.03, 4.89, 4.32, 4.69]
TRT2 = [6.31, 5.12, 5.54, 5.50, 5.37, 5.29, 4.92, 6.15, 5.80, 5.26]
# R: ?chisq.test — Agresti (2007) p. 39, party identification by gender
PARTY = [[762, 327, 468], [484, 239, 477]]
# R: ?fisher.test — Fisher's tea tasting, and Agresti's job satisfaction (4 x 4)
TEA = [[3, 1], [1, 3]]
JOB = np.array([1, 2, 1, 0, 3, 3, 6, 1, 10, 10, 14, 9, 6, 7, 12, 11]).reshape(4, 4).T
# R: ?prop.test — smokers among patients in four groups
SMOKERS, PATIENTS = [83, 90, 129, 70], [86, 93, 136, 82]
# R: ?kruskal.test — Hollander & Wolfe (1973) p. 116, mucociliary efficiency
HW_NORMAL = [2.9, 3.0, 2.5, 2.6, 3.2]
HW_AIRWAY = [3.8, 2.7, 4.0, 2.4]
HW_ASBESTOSIS = [2.8, 3.4, 3.7, 2.2, 2.0]
# R: ?wilcox.test — two-sample example (Hollander & Wolfe p. 69)
WX = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
WY = [1.15, 0.88, 0.90, 0.74, 1.21]


def sig4(x: float) -> float:
    return float(f"{x:.4g}")


def test_welch_t_matches_r_t_test_on_sleep():
    # R: t.test(extra ~ group, data = sleep)
    # t = -1.8608, df = 17.776, p-value = 0.07939; 95 percent CI: -3.3654832 0.2054832
    res = S.welch_t(SLEEP_1, SLEEP_2)
    assert sig4(res.statistic) == -1.861
    assert round(res.statistic, 4) == -1.8608
    assert round(res.df, 3) == 17.776
    assert round(res.p_value, 5) == 0.07939
    diff = res.effects[1]
    assert diff.measure == "difference in means"
    assert diff.estimate == pytest.approx(0.75 - 2.33)
    assert diff.low == pytest.approx(-3.3654832, abs=5e-7)
    assert diff.high == pytest.approx(0.2054832, abs=5e-7)


def test_mann_whitney_matches_r_wilcox_test():
    # R: wilcox.test(extra ~ group, data = sleep)  ->  W = 25.5, p-value = 0.06933 (ties: normal approx.)
    res = S.mann_whitney(SLEEP_1, SLEEP_2)
    assert res.statistic == 25.5 and round(res.p_value, 5) == 0.06933
    assert res.note == "normal approximation"
    # R: wilcox.test(x, y, alternative = "g")  ->  W = 35, p-value = 0.1272 (exact); two-sided 0.2544
    res = S.mann_whitney(WX, WY)
    assert res.statistic == 35 and round(res.p_value, 4) == 0.2544
    assert res.note == "exact p-value"
    # rank-biserial r = 2U/(n1 n2) - 1, negative when the first sample tends to be smaller
    assert res.effects[0].estimate == pytest.approx(2 * 35 / 50 - 1)


def test_anova_matches_r_aov_on_plant_growth():
    # R: summary(aov(weight ~ group, data = PlantGrowth))
    #   group 2 3.766 1.8832 4.846 0.01591; Residuals 27 10.492 0.3886
    res = S.one_way_anova([CTRL, TRT1, TRT2])
    assert (res.df, res.df2) == (2, 27)
    assert round(res.statistic, 3) == 4.846 and round(res.p_value, 5) == 0.01591
    eta = res.effects[0]
    assert eta.estimate == pytest.approx(3.76634 / (3.76634 + 10.49209), rel=1e-4)
    assert 0 < eta.low < eta.estimate < eta.high < 1


def test_welch_anova_matches_r_oneway_test():
    # R: oneway.test(weight ~ group, data = PlantGrowth)
    #   F = 5.181, num df = 2.000, denom df = 17.128, p-value = 0.01739
    res = S.welch_anova([CTRL, TRT1, TRT2])
    assert round(res.statistic, 3) == 5.181 and res.df == 2
    assert round(res.df2, 3) == 17.128 and round(res.p_value, 5) == 0.01739


def test_kruskal_matches_r_kruskal_test():
    # R: kruskal.test(weight ~ group, data = PlantGrowth)  ->  chi-squared = 7.9882, df = 2, p = 0.01842
    res = S.kruskal_wallis([CTRL, TRT1, TRT2])
    assert round(res.statistic, 4) == 7.9882 and res.df == 2 and round(res.p_value, 5) == 0.01842
    # R: kruskal.test(list(x, y, z))  ->  chi-squared = 0.77143, df = 2, p-value = 0.68
    res = S.kruskal_wallis([HW_NORMAL, HW_AIRWAY, HW_ASBESTOSIS])
    assert round(res.statistic, 5) == 0.77143 and round(res.p_value, 2) == 0.68
    eta = res.effects[0]
    assert eta.estimate == 0.0 and eta.low == 0.0  # H below its df: no effect, interval at 0


def test_chi_square_matches_r_chisq_test():
    # R: chisq.test(M)  ->  X-squared = 30.07, df = 2, p-value = 2.954e-07
    res = S.chi_square(PARTY)
    assert round(res.statistic, 2) == 30.07 and res.df == 2
    assert sig4(res.p_value) == 2.954e-07
    # R: prop.test(smokers, patients)  ->  X-squared = 12.6, df = 3, p-value = 0.005585
    table = np.array([SMOKERS, [p - s for s, p in zip(SMOKERS, PATIENTS)]]).T
    res = S.chi_square(table)
    assert round(res.statistic, 1) == 12.6 and res.df == 3 and sig4(res.p_value) == 0.005585


def test_fisher_matches_r_fisher_test():
    # R: fisher.test(TeaTasting)  ->  p-value = 0.4857, odds ratio 6.408309
    res = S.fisher(TEA)
    assert round(res.p_value, 4) == 0.4857
    assert sig4(res.effects[0].estimate) == 6.408
    assert res.effects[0].low == pytest.approx(0.2117, abs=1e-4)  # R: 0.2117329
    # R: fisher.test(Job)  ->  p-value = 0.7827 (exact); here a seeded Monte Carlo estimate
    res = S.fisher(JOB, seed=1)
    assert abs(res.p_value - 0.7827) < 0.015
    assert res.p_value == S.fisher(JOB, seed=1).p_value  # reproducible
    assert "Monte Carlo" in res.note


def test_two_proportions_match_statsmodels_and_r_prop_test():
    from scipy.stats import chi2_contingency
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    k1, n1, k2, n2 = 83, 86, 90, 93
    res = S.two_proportions(k1, n1, k2, n2)
    z, p = proportions_ztest([k1, k2], [n1, n2])
    assert res.statistic == pytest.approx(z) and res.p_value == pytest.approx(p)
    # R: prop.test(c(k1, k2), c(n1, n2), correct = FALSE) reports X-squared = z^2
    chi2 = chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)
    assert res.statistic**2 == pytest.approx(chi2.statistic) and res.p_value == pytest.approx(chi2.pvalue)
    rd, rr = res.effects
    assert rd.estimate == pytest.approx(k1 / n1 - k2 / n2)
    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert (rd.low, rd.high) == pytest.approx((low, high))
    assert rr.estimate == pytest.approx((k1 / n1) / (k2 / n2))


def test_hedges_g_agrees_with_statsmodels_and_its_definition():
    from scipy.special import gammaln
    from statsmodels.stats.meta_analysis import effectsize_smd

    g = S.hedges_g(SLEEP_1, SLEEP_2)
    sd1, sd2 = np.std(SLEEP_1, ddof=1), np.std(SLEEP_2, ddof=1)
    smd, _ = effectsize_smd(np.mean(SLEEP_1), sd1, 10, np.mean(SLEEP_2), sd2, 10)
    # statsmodels uses the approximate correction 1 - 3 / (4 df - 1); the exact one differs by < 0.02%
    assert g.estimate == pytest.approx(smd, rel=2e-4)
    d = (np.mean(SLEEP_1) - np.mean(SLEEP_2)) / math.sqrt((sd1**2 + sd2**2) / 2)
    j = math.exp(gammaln(9) - math.log(3) - gammaln(8.5))
    assert g.estimate == pytest.approx(d * j)
    assert g.low < g.estimate < g.high < 0.2  # the interval includes 0, as the t-test's p does not reject


def test_noncentral_intervals_approach_the_normal_ones_in_large_samples():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.3, 1, 4000), rng.normal(0.0, 1, 4000)
    g = S.hedges_g(x, y)
    se = math.sqrt(2 / 4000 + g.estimate**2 / 16000)
    assert g.low == pytest.approx(g.estimate - 1.96 * se, abs=2e-3)
    assert g.high == pytest.approx(g.estimate + 1.96 * se, abs=2e-3)


def test_cramers_v_matches_scipy():
    from scipy.stats.contingency import association

    v = S.chi_square(PARTY).effects[0]
    assert v.estimate == pytest.approx(association(PARTY, method="cramer"))
    assert 0 < v.low < v.estimate < v.high < 1


def test_choice_of_test_follows_the_data():
    rng = np.random.default_rng(3)
    normal = {"a": rng.normal(0, 1, 200), "b": rng.normal(0.2, 1, 200)}
    assert S.choose_numeric_test(normal).test == "welch"
    skewed = {"a": rng.lognormal(0, 1.5, 200), "b": rng.lognormal(0, 1.5, 200)}
    choice = S.choose_numeric_test(skewed)
    assert choice.test == "mann-whitney" and "skewness" in choice.reason
    three = {"a": rng.normal(0, 1, 100), "b": rng.normal(0, 1, 100), "c": rng.normal(0, 5, 100)}
    assert S.choose_numeric_test(three).test == "welch-anova"
    assert S.choose_numeric_test({k: v[:30] for k, v in normal.items()}).reason.count("Shapiro") == 2
    assert S.choose_table_test([[30, 40], [50, 60]]).test == "two-proportion"
    assert S.choose_table_test(TEA).test == "fisher"
    assert S.choose_table_test(PARTY).test == "chi-square"
    assert S.choose_table_test(JOB).test == "fisher"


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=30),
    st.sampled_from(["holm", "bh"]),
)
def test_adjustment_matches_statsmodels_multipletests(pvalues, method):
    from statsmodels.stats.multitest import multipletests

    adjusted = S.adjust_pvalues(pvalues, method)
    finite = [p for p in pvalues if not math.isnan(p)]
    assert [math.isnan(a) for a in adjusted] == [math.isnan(p) for p in pvalues]
    if finite:
        expected = multipletests(finite, method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
        assert [a for a in adjusted if not math.isnan(a)] == pytest.approx(list(expected))
        assert all(a >= p - 1e-12 for a, p in zip(adjusted, pvalues) if not math.isnan(p))


@pytest.mark.filterwarnings("ignore:Precision loss occurred")
def test_degenerate_samples_give_nan_not_errors():
    assert math.isnan(S.hedges_g([1.0], [2.0, 3.0]).estimate)
    assert math.isnan(S.hedges_g([1.0, 1.0], [1.0, 1.0]).estimate)
    res = S.welch_t([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])  # no variation in either group
    assert not math.isfinite(res.p_value) or res.p_value < 1e-6
