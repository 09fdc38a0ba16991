"""Statistical tests and effect sizes shared by the analysis steps.

Each function takes plain sequences (or NumPy arrays) and returns a `TestResult` or numbers; the
steps decide which test to run and how to word the result. The p-values come from SciPy and
statsmodels; what those libraries do not provide is written here, each with its source:

* Hedges' g and its confidence interval by inverting the noncentral t distribution (the method of
  R's ``effectsize::hedges_g``: Steiger 2004), with the exact small-sample correction factor J;
* the rank-biserial correlation with a confidence interval on Fisher's z scale, standard error
  sqrt((n1 + n2 + 1) / (3 n1 n2)) (as ``effectsize::rank_biserial``);
* eta-squared and Cramér's V with confidence intervals by inverting the noncentral F and
  chi-square distributions (Smithson 2003; Steiger 2004), as ``effectsize`` does;
* eta-squared for the Kruskal–Wallis H statistic, (H - k + 1) / (n - k) (Tomczak & Tomczak 2014),
  its interval from the noncentral chi-square distribution of H.

Every choice between tests is made by `choose_numeric_test` / `choose_table_test`, which return the
assumption checks that drove the choice so that a finding can show them.

SciPy and statsmodels are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

LEVEL = 0.95

#: names accepted by the `significance` step's per-variable override
TESTS = {
    "welch": "Welch t-test",
    "mann-whitney": "Mann–Whitney U test",
    "anova": "one-way ANOVA",
    "welch-anova": "Welch's ANOVA",
    "kruskal": "Kruskal–Wallis test",
    "chi-square": "chi-square test of independence",
    "fisher": "Fisher's exact test",
    "two-proportion": "two-proportion z-test",
}
NUMERIC_TESTS = ("welch", "mann-whitney", "anova", "welch-anova", "kruskal")
TABLE_TESTS = ("chi-square", "fisher", "two-proportion")


@dataclass(frozen=True)
class Effect:
    """An effect size with its confidence interval."""

    measure: str
    estimate: float
    low: float = math.nan
    high: float = math.nan


@dataclass(frozen=True)
class TestResult:
    """One hypothesis test: its statistic, degrees of freedom, p-value and effect sizes."""

    test: str
    statistic_name: str
    statistic: float
    p_value: float
    df: float = math.nan
    df2: float = math.nan
    effects: list[Effect] = field(default_factory=list)
    note: str = ""

    @property
    def effect(self) -> Effect | None:
        return self.effects[0] if self.effects else None


# --------------------------------------------------------------------------- helpers


def _array(values: Any):
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def _z(level: float = LEVEL) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - level) / 2))


def _solve_decreasing(f, target: float, start: float, *, floor: float | None = None) -> float:
    """The x where a decreasing function f(x) equals *target*, by bracketing then Brent's method."""
    from scipy.optimize import brentq

    step = max(1.0, abs(start))
    low, high = start - step, start + step
    if floor is not None:
        low = max(low, floor)
    for _ in range(200):
        if f(low) >= target:
            break
        if floor is not None and low <= floor:
            return floor
        step *= 2
        low = start - step if floor is None else max(start - step, floor)
    for _ in range(200):
        if f(high) <= target:
            break
        step *= 2
        high = start + step
    return float(brentq(lambda x: f(x) - target, low, high, xtol=1e-10, rtol=1e-12, maxiter=500))


def ncp_t_interval(t: float, df: float, level: float = LEVEL) -> tuple[float, float]:
    """Confidence interval for the noncentrality parameter of a t statistic."""
    from scipy.stats import nct

    if not math.isfinite(t) or df <= 0:
        return math.nan, math.nan
    alpha = 1 - level
    lower = _solve_decreasing(lambda n: nct.cdf(t, df, n), 1 - alpha / 2, t)
    upper = _solve_decreasing(lambda n: nct.cdf(t, df, n), alpha / 2, t)
    return lower, upper


def ncp_chi2_interval(x: float, df: float, level: float = LEVEL) -> tuple[float, float]:
    """Confidence interval for the noncentrality of a chi-square statistic (bounds >= 0)."""
    from scipy.stats import chi2, ncx2

    if not math.isfinite(x) or df <= 0:
        return math.nan, math.nan
    alpha = 1 - level
    central = chi2.cdf(x, df)

    def cdf(n: float) -> float:
        return chi2.cdf(x, df) if n <= 0 else ncx2.cdf(x, df, n)

    lower = 0.0 if central < 1 - alpha / 2 else _solve_decreasing(cdf, 1 - alpha / 2, x, floor=0.0)
    upper = 0.0 if central < alpha / 2 else _solve_decreasing(cdf, alpha / 2, x, floor=0.0)
    return lower, upper


def ncp_f_interval(f: float, df1: float, df2: float, level: float = LEVEL) -> tuple[float, float]:
    """Confidence interval for the noncentrality of an F statistic (bounds >= 0)."""
    from scipy.stats import f as f_dist
    from scipy.stats import ncf

    if not math.isfinite(f) or df1 <= 0 or df2 <= 0:
        return math.nan, math.nan
    alpha = 1 - level
    central = f_dist.cdf(f, df1, df2)

    def cdf(n: float) -> float:
        return f_dist.cdf(f, df1, df2) if n <= 0 else ncf.cdf(f, df1, df2, n)

    start = f * df1
    lower = 0.0 if central < 1 - alpha / 2 else _solve_decreasing(cdf, 1 - alpha / 2, start, floor=0.0)
    upper = 0.0 if central < alpha / 2 else _solve_decreasing(cdf, alpha / 2, start, floor=0.0)
    return lower, upper


def wilson_interval(successes: Any, totals: Any, level: float = LEVEL) -> tuple[Any, Any]:
    """Wilson score interval for proportions (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    # rounded so that level 0.95 is alpha 0.05 exactly, not 0.05000000000000004 (at k = 0 that
    # difference puts the lower bound a hair above the rate)
    return proportion_confint(successes, totals, alpha=round(1 - level, 12), method="wilson")


def adjust_pvalues(pvalues: Sequence[float], method: str) -> list[float]:
    """Holm ("holm") or Benjamini–Hochberg ("bh") adjusted p-values (statsmodels); NaN kept."""
    import numpy as np
    from statsmodels.stats.multitest import multipletests

    values = np.asarray(pvalues, dtype=float)
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    if ok.any():
        name = {"holm": "holm", "bh": "fdr_bh"}[method]
        out[ok] = multipletests(values[ok], method=name)[1]
    return [float(v) for v in out]


# --------------------------------------------------------------------------- effect sizes


def hedges_g(x: Any, y: Any, level: float = LEVEL) -> Effect:
    """Hedges' g (pooled standard deviation, exact bias correction) with a noncentral-t interval.

    Positive when *x* has the larger mean. As R's ``effectsize::hedges_g``.
    """
    import numpy as np
    from scipy.special import gammaln

    x, y = _array(x), _array(y)
    n1, n2 = len(x), len(y)
    df = n1 + n2 - 2
    if n1 < 2 or n2 < 2:
        return Effect("Hedges' g", math.nan)
    pooled = math.sqrt(((n1 - 1) * np.var(x, ddof=1) + (n2 - 1) * np.var(y, ddof=1)) / df)
    if not pooled > 0 or not math.isfinite(pooled):
        return Effect("Hedges' g", math.nan)
    d = (float(np.mean(x)) - float(np.mean(y))) / pooled
    scale = math.sqrt(1 / n1 + 1 / n2)
    low, high = ncp_t_interval(d / scale, df, level)
    j = math.exp(gammaln(df / 2) - math.log(math.sqrt(df / 2)) - gammaln((df - 1) / 2)) if df > 1 else 1.0
    return Effect("Hedges' g", d * j, low * scale * j, high * scale * j)


def rank_biserial(u: float, n1: int, n2: int, level: float = LEVEL) -> Effect:
    """Rank-biserial correlation from the Mann–Whitney U of the first sample, Fisher-z interval.

    Positive when the first sample tends to be larger. As ``effectsize::rank_biserial``.
    """
    r = 2 * u / (n1 * n2) - 1
    se = math.sqrt((n1 + n2 + 1) / (3 * n1 * n2))
    z = math.atanh(max(min(r, 1 - 1e-12), -1 + 1e-12))
    q = _z(level)
    return Effect("rank-biserial r", r, math.tanh(z - q * se), math.tanh(z + q * se))


def eta_squared_from_f(f: float, df1: float, df2: float, level: float = LEVEL) -> Effect:
    """Eta-squared of a one-way design, F df1 / (F df1 + df2), with a noncentral-F interval."""
    if not math.isfinite(f):
        return Effect("eta-squared", math.nan)
    estimate = f * df1 / (f * df1 + df2)
    low, high = ncp_f_interval(f, df1, df2, level)
    return Effect("eta-squared", estimate, low / (low + df2), high / (high + df2))


def cramers_v(chi2: float, n: int, rows: int, cols: int, level: float = LEVEL) -> Effect:
    """Cramér's V, sqrt(chi2 / (n (k - 1))), with a noncentral chi-square interval."""
    k = min(rows, cols)
    if n <= 0 or k < 2 or not math.isfinite(chi2):
        return Effect("Cramér's V", math.nan)
    df = (rows - 1) * (cols - 1)
    low, high = ncp_chi2_interval(chi2, df, level)
    denominator = n * (k - 1)
    return Effect(
        "Cramér's V",
        min(math.sqrt(chi2 / denominator), 1.0),
        min(math.sqrt(low / denominator), 1.0),
        min(math.sqrt(high / denominator), 1.0),
    )


# --------------------------------------------------------------------------- tests: numbers


def welch_t(x: Any, y: Any, level: float = LEVEL) -> TestResult:
    """Welch's two-sample t-test (SciPy), as R's ``t.test(x, y)``; difference x - y."""
    import numpy as np
    from scipy.stats import ttest_ind

    x, y = _array(x), _array(y)
    res = ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(confidence_level=level)
    diff = float(np.mean(x) - np.mean(y))
    return TestResult(
        test=TESTS["welch"],
        statistic_name="t",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(res.df),
        effects=[hedges_g(x, y, level), Effect("difference in means", diff, float(ci.low), float(ci.high))],
    )


def mann_whitney(x: Any, y: Any, level: float = LEVEL) -> TestResult:
    """Mann–Whitney U test as R's ``wilcox.test(x, y)``: exact when both samples have fewer than
    50 values and there are no ties, otherwise the normal approximation with tie and continuity
    corrections. U is that of *x* (R's W)."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    x, y = _array(x), _array(y)
    both = np.concatenate([x, y])
    ties = len(np.unique(both)) < len(both)
    method = "exact" if (len(x) < 50 and len(y) < 50 and not ties) else "asymptotic"
    res = mannwhitneyu(x, y, alternative="two-sided", method=method, use_continuity=True)
    u = float(res.statistic)
    return TestResult(
        test=TESTS["mann-whitney"],
        statistic_name="U",
        statistic=u,
        p_value=float(res.pvalue),
        effects=[
            rank_biserial(u, len(x), len(y), level),
            Effect("difference in medians", float(np.median(x) - np.median(y))),
        ],
        note="exact p-value" if method == "exact" else "normal approximation",
    )


def one_way_anova(groups: Sequence[Any], level: float = LEVEL) -> TestResult:
    """Classic one-way ANOVA (SciPy ``f_oneway``), as R's ``summary(aov(y ~ g))``."""
    from scipy.stats import f_oneway

    arrays = [_array(g) for g in groups]
    res = f_oneway(*arrays)
    n = sum(len(a) for a in arrays)
    df1, df2 = len(arrays) - 1, n - len(arrays)
    return TestResult(
        test=TESTS["anova"],
        statistic_name="F",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(df1),
        df2=float(df2),
        effects=[eta_squared_from_f(float(res.statistic), df1, df2, level)],
    )


def welch_anova(groups: Sequence[Any], level: float = LEVEL) -> TestResult:
    """Welch's heteroscedastic one-way ANOVA (statsmodels), as R's ``oneway.test(y ~ g)``.

    The effect size is eta-squared from the group sums of squares, with the interval of the
    classic F statistic (the same data under equal variances).
    """
    from scipy.stats import f_oneway
    from statsmodels.stats.oneway import anova_oneway

    arrays = [_array(g) for g in groups]
    res = anova_oneway(arrays, use_var="unequal", welch_correction=True)
    classic = f_oneway(*arrays)
    n = sum(len(a) for a in arrays)
    df1, df2 = len(arrays) - 1, n - len(arrays)
    return TestResult(
        test=TESTS["welch-anova"],
        statistic_name="F",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(res.df_num),
        df2=float(res.df_denom),
        effects=[eta_squared_from_f(float(classic.statistic), df1, df2, level)],
    )


def kruskal_wallis(groups: Sequence[Any], level: float = LEVEL) -> TestResult:
    """Kruskal–Wallis H test (SciPy), as R's ``kruskal.test``; effect eta-squared(H)."""
    from scipy.stats import kruskal

    arrays = [_array(g) for g in groups]
    res = kruskal(*arrays)
    n = sum(len(a) for a in arrays)
    k = len(arrays)
    h = float(res.statistic)
    effects = []
    if n > k and math.isfinite(h):
        low, high = ncp_chi2_interval(h, k - 1, level)
        effects.append(
            Effect("eta-squared (H)", max((h - k + 1) / (n - k), 0.0), low / (n - k), high / (n - k))
        )
    return TestResult(
        test=TESTS["kruskal"],
        statistic_name="H",
        statistic=h,
        p_value=float(res.pvalue),
        df=float(k - 1),
        effects=effects,
    )


# --------------------------------------------------------------------------- tests: tables


def chi_square(table: Any, level: float = LEVEL) -> TestResult:
    """Pearson's chi-square test of independence without continuity correction (SciPy)."""
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.asarray(table, dtype=float)
    res = chi2_contingency(table, correction=False)
    return TestResult(
        test=TESTS["chi-square"],
        statistic_name="chi-square",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(res.dof),
        effects=[cramers_v(float(res.statistic), int(table.sum()), *table.shape, level=level)],
    )


def fisher(table: Any, *, seed: int = 0, resamples: int = 20_000, level: float = LEVEL) -> TestResult:
    """Fisher's exact test (SciPy), as R's ``fisher.test``.

    A 2x2 table gets the exact two-sided p-value and the conditional maximum-likelihood odds
    ratio with its exact interval. A larger table (the Fisher–Freeman–Halton test) gets a Monte
    Carlo p-value from *resamples* random tables with the observed margins, seeded so that it is
    reproducible; its effect size is Cramér's V.
    """
    import numpy as np
    from scipy.stats import MonteCarloMethod, chi2_contingency, fisher_exact
    from scipy.stats.contingency import odds_ratio

    table = np.asarray(table, dtype=np.int64)
    if table.shape == (2, 2):
        res = fisher_exact(table)
        ratio = odds_ratio(table, kind="conditional")
        ci = ratio.confidence_interval(confidence_level=level)
        return TestResult(
            test=TESTS["fisher"],
            statistic_name="odds ratio",
            statistic=float(ratio.statistic),
            p_value=float(res.pvalue),
            effects=[Effect("odds ratio", float(ratio.statistic), float(ci.low), float(ci.high))],
            note="exact p-value",
        )
    method = MonteCarloMethod(n_resamples=resamples, rng=np.random.default_rng(seed))
    res = fisher_exact(table, method=method)
    chi2 = float(chi2_contingency(table, correction=False).statistic)
    return TestResult(
        test=TESTS["fisher"],
        statistic_name="table probability",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float((table.shape[0] - 1) * (table.shape[1] - 1)),
        effects=[cramers_v(chi2, int(table.sum()), *table.shape, level=level)],
        note=f"Monte Carlo p-value from {resamples:,} tables",
    )


def two_proportions(k1: int, n1: int, k2: int, n2: int, level: float = LEVEL) -> TestResult:
    """Two-proportion z-test with pooled variance (statsmodels), as R's
    ``prop.test(c(k1, k2), c(n1, n2), correct = FALSE)`` (whose X-squared is z squared).

    Effects: the risk difference p1 - p2 (Newcombe's hybrid score interval) and the risk ratio
    p1 / p2 (log interval with the 0.5 adjustment), both from statsmodels.
    """
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    z, p = proportions_ztest([k1, k2], [n1, n2])
    alpha = 1 - level
    p1, p2 = k1 / n1, k2 / n2
    d_low, d_high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff", alpha=alpha)
    effects = [Effect("risk difference", p1 - p2, float(d_low), float(d_high))]
    if p2 > 0:
        r_low, r_high = confint_proportions_2indep(
            k1, n1, k2, n2, method="log-adjusted", compare="ratio", alpha=alpha
        )
        effects.append(Effect("risk ratio", p1 / p2, float(r_low), float(r_high)))
    return TestResult(
        test=TESTS["two-proportion"],
        statistic_name="z",
        statistic=float(z),
        p_value=float(p),
        effects=effects,
    )


# --------------------------------------------------------------------------- choosing a test


@dataclass(frozen=True)
class Choice:
    """Which test to run, and the checks (in words) that chose it."""

    test: str
    reason: str


def shape_of(values: Any) -> dict[str, float]:
    """n, skewness, excess kurtosis and (for 3 <= n < 50) the Shapiro–Wilk p-value."""
    import numpy as np
    from scipy.stats import kurtosis, shapiro, skew

    x = _array(values)
    out: dict[str, float] = {"n": float(len(x)), "skew": math.nan, "kurtosis": math.nan, "shapiro_p": math.nan}
    if len(x) >= 3 and np.ptp(x) > 0:
        with np.errstate(all="ignore"):
            out["skew"] = float(skew(x))
            out["kurtosis"] = float(kurtosis(x))
        if len(x) < 50:
            out["shapiro_p"] = float(shapiro(x).pvalue)
    return out


def _looks_normal(shape: dict[str, float]) -> tuple[bool, str]:
    n = int(shape["n"])
    if n < 50:
        p = shape["shapiro_p"]
        if math.isnan(p):
            return False, f"n = {n}: too few distinct values to check normality"
        if p < 0.05:
            return False, f"n = {n}, Shapiro–Wilk p = {p:.3g}"
        return True, f"n = {n}, Shapiro–Wilk p = {p:.3g}"
    skewness, kurt = shape["skew"], shape["kurtosis"]
    if not (math.isfinite(skewness) and math.isfinite(kurt)):
        return False, f"n = {n}: skewness not finite (extreme values)"
    if abs(skewness) > 2 or kurt > 7:
        return False, f"n = {n}, skewness {skewness:.2f}, excess kurtosis {kurt:.1f}"
    return True, f"n = {n}, skewness {skewness:.2f}, excess kurtosis {kurt:.1f}"


def choose_numeric_test(groups: dict[str, Any]) -> Choice:
    """A test for a number across groups.

    Each group is checked for normality: with fewer than 50 values, by a Shapiro–Wilk test at
    the 5% level; with 50 or more, by |skewness| <= 2 and excess kurtosis <= 7 (West, Finch and
    Curran 1995), since the t and F tests are robust to mild non-normality in large samples.
    Two groups: Welch's t-test when every group passes, otherwise the Mann–Whitney U test. More
    groups: when every group passes, one-way ANOVA if the Brown–Forsythe (median-centred Levene)
    test does not reject equal variances at 5%, otherwise Welch's ANOVA; when a group fails,
    the Kruskal–Wallis test.
    """
    from scipy.stats import levene

    checks = []
    normal = True
    for name, values in groups.items():
        ok, text = _looks_normal(shape_of(values))
        normal = normal and ok
        checks.append(f"{name}: {text}{'' if ok else ' (not normal)'}")
    summary = "; ".join(checks)
    if len(groups) == 2:
        if normal:
            return Choice("welch", f"two groups, both close enough to normal ({summary})")
        return Choice("mann-whitney", f"two groups, not both close to normal ({summary})")
    if not normal:
        return Choice("kruskal", f"{len(groups)} groups, not all close to normal ({summary})")
    arrays = [_array(v) for v in groups.values()]
    p = float(levene(*arrays, center="median").pvalue)
    if p < 0.05:
        return Choice(
            "welch-anova",
            f"{len(groups)} groups close to normal but with unequal variances "
            f"(Brown–Forsythe p = {p:.3g}; {summary})",
        )
    return Choice(
        "anova",
        f"{len(groups)} groups close to normal with similar variances "
        f"(Brown–Forsythe p = {p:.3g}; {summary})",
    )


def expected_counts(table: Any):
    import numpy as np

    table = np.asarray(table, dtype=float)
    total = table.sum()
    return np.outer(table.sum(axis=1), table.sum(axis=0)) / total if total else table * 0


def choose_table_test(table: Any) -> Choice:
    """A test for a contingency table.

    Cochran's rule: the chi-square approximation is trusted when no expected count is below 1
    and at most 20% are below 5 (for a 2x2 table: none below 5). A 2x2 table that passes gets the
    two-proportion z-test (the same p-value as the uncorrected chi-square, with a risk difference
    and ratio to report); a larger one the chi-square test. A table that fails gets Fisher's exact
    test.
    """
    import numpy as np

    table = np.asarray(table, dtype=float)
    expected = expected_counts(table)
    small = int((expected < 5).sum())
    share = small / expected.size
    minimum = float(expected.min())
    text = f"{table.shape[0]}x{table.shape[1]} table, smallest expected count {minimum:.1f}, {small} of {expected.size} cells below 5"
    if table.shape == (2, 2):
        if small == 0:
            return Choice("two-proportion", text)
        return Choice("fisher", text + " (too small for the normal approximation)")
    if minimum >= 1 and share <= 0.2:
        return Choice("chi-square", text)
    return Choice("fisher", text + " (too small for the chi-square approximation)")
