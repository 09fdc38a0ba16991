"""`significance`: is a difference between groups larger than chance would explain?"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from expedition.disclosure import safe_table
from expedition.errors import StepError
from expedition.finding import Figure, Finding, Table
from expedition.steps import Step, StepContext, StepParams, require_columns
from expedition.steps import _stats as stats
from expedition.steps._columns import categorical_expr, choose_variables, no_rows, top_levels
from expedition.steps._plot import PALETTE, small_multiples, to_figure
from expedition.steps._text import fmt_num, fmt_p, fmt_pct, join_names, method_text

TestName = Literal["welch", "mann-whitney", "anova", "welch-anova", "kruskal", "chi-square", "fisher", "two-proportion"]


class SignificanceParams(StepParams):
    group: str = Field(
        description="the grouping or outcome column each variable is compared across "
        "(two or more values, e.g. an outcome yes/no or a district)"
    )
    group_value: str | None = Field(
        None,
        description="for a two-valued group, the value to describe (e.g. 'yes'); "
        "default: yes/true/1 when present",
    )
    variables: list[str] | None = Field(
        None,
        description="columns to test; default: every numeric and categorical column except "
        "identifiers, free text, dates and personal data",
    )
    tests: dict[str, TestName] = Field(
        default_factory=dict,
        description="override the automatic choice per variable, e.g. {age: mann-whitney}; "
        "tests: " + ", ".join(stats.TESTS),
    )
    correction: Literal["holm", "bh"] = Field(
        "holm",
        description="adjustment across the family of tests: holm (family-wise error) or bh "
        "(Benjamini–Hochberg false discovery rate)",
    )
    alpha: float = Field(0.05, gt=0, lt=0.5, description="significance level for adjusted p-values")
    max_groups: int = Field(20, ge=2, le=100, description="most values the group column may have")
    max_categories: int = Field(
        20, ge=2, le=200, description="categories kept per variable; the rest are grouped as 'Other'"
    )

    @field_validator("variables")
    @classmethod
    def _not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("give at least one variable, or leave it out to test every column")
        return value


class Significance(Step):
    """Tests whether each variable differs across the values of a group or outcome column.

    The test is chosen from the variable's type and the data, and the checks that chose it are
    reported. A number across two groups: Welch's t-test when both groups look normal enough,
    otherwise the Mann–Whitney U test; across several groups: one-way ANOVA (Welch's ANOVA when
    the Brown–Forsythe test finds unequal variances) or the Kruskal–Wallis test. Normality is
    judged by a Shapiro–Wilk test in groups of fewer than 50 and by skewness (|skew| <= 2) and
    excess kurtosis (<= 7) in larger groups. A category: the chi-square test of independence, the
    two-proportion z-test for a 2x2 table, or Fisher's exact test when expected counts are small
    (Cochran's rule). Any variable's test can be set by hand with the tests parameter.

    Each test reports its statistic, degrees of freedom, p-value and an effect size with a 95%
    confidence interval: Hedges' g and the difference in means (Welch), the rank-biserial
    correlation (Mann–Whitney), eta-squared (ANOVA, Kruskal–Wallis on H), Cramér's V
    (chi-square, Fisher on larger tables), the odds ratio (Fisher 2x2), and the risk difference
    and risk ratio (two proportions). The p-values are adjusted across the family of tests by
    Holm's method or by Benjamini–Hochberg, and only an adjusted p-value below alpha is reported
    as a difference. Statistics come from SciPy and statsmodels and agree with R's t.test,
    wilcox.test, aov, oneway.test, kruskal.test, chisq.test, fisher.test and prop.test.
    """

    name = "significance"
    summary = "Tests whether each variable differs across groups, with effect sizes and adjusted p-values."
    version = "1"
    Params = SignificanceParams
    outputs = {
        "tests": "one row per variable: test, statistic, df, p-value, adjusted p-value, effect size "
        "with 95% CI, and the checks that chose the test",
        "effect_sizes": "every effect size with its 95% CI (e.g. both risk difference and ratio)",
        "numeric_groups": "per group: n, mean with 95% CI, standard deviation, median",
        "crosstab": "per category and group: records and share of the group",
        "figure effects": "effect sizes with 95% CIs, significant ones highlighted",
        "figure group_means": "means with 95% CIs by group, one panel per numeric variable",
    }

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.referrals import generate

        frame = generate(300, seed=11).select(
            "district", "age", "prior_referrals", "sex", "disability", "rereferred_12m"
        )
        return frame.lazy(), {"group": "rereferred_12m", "group_value": "yes"}

    def run(self, frame: Any, params: SignificanceParams, ctx: StepContext) -> Finding:
        import polars as pl

        lazy = frame.lazy()  # a LazyFrame is its own lazy frame
        schema = lazy.collect_schema()
        require_columns(schema.names(), [params.group], param="group", step=self.name)
        require_columns(schema.names(), list(params.tests), param="tests", step=self.name)
        ctx.report(0.02, "choosing variables")
        chosen = choose_variables(
            lazy,
            step=self.name,
            ctx=ctx,
            variables=params.variables,
            exclude=[params.group],
            max_levels=params.max_categories,
        )
        if chosen.rows == 0:
            raise no_rows(self.name)
        for variable, test in params.tests.items():
            if variable not in chosen.all:
                raise StepError(
                    f"step '{self.name}': tests names {variable!r}, which is not among the "
                    "variables tested",
                    f"add it to variables, or remove it from tests (tested: {', '.join(chosen.all)})",
                )
            kind_ok = test in stats.NUMERIC_TESTS if variable in chosen.numeric else test in stats.TABLE_TESTS
            if not kind_ok:
                allowed = stats.NUMERIC_TESTS if variable in chosen.numeric else stats.TABLE_TESTS
                kind = "a number" if variable in chosen.numeric else "a category"
                raise StepError(
                    f"step '{self.name}': test {test!r} does not fit {variable!r}, which is {kind}",
                    f"for {kind} use one of: {', '.join(allowed)}",
                )
        if not chosen.all:
            raise StepError(
                f"step '{self.name}': no column can be tested against {params.group!r}",
                "name the columns to test with variables: [...]; " + " ".join(chosen.caveats),
            )

        levels_expr = [
            categorical_expr(c, top_levels(lazy, c, params.max_categories - 1)) for c in chosen.categorical
        ]
        data = lazy.select(
            pl.col(params.group).cast(pl.String).alias("__group__"),
            *[pl.col(c) for c in chosen.numeric],
            *levels_expr,
        ).collect()
        caveats = list(chosen.caveats)
        group_missing = data["__group__"].null_count()
        if group_missing:
            caveats.append(f"{group_missing:,} records with no value for {params.group} are left out.")
            data = data.filter(pl.col("__group__").is_not_null())
        counts = data.group_by("__group__").len().sort(["len", "__group__"], descending=[True, False])
        groups = counts["__group__"].to_list()
        if len(groups) < 2:
            raise StepError(
                f"step '{self.name}': the group column {params.group!r} has "
                f"{'no values' if not groups else 'only one value (' + str(groups[0]) + ')'}, so "
                "there is nothing to compare",
                "choose a column with two or more values",
            )
        if len(groups) > params.max_groups:
            raise StepError(
                f"step '{self.name}': the group column {params.group!r} has {len(groups):,} values "
                f"(at most {params.max_groups} are compared)",
                "choose a column with fewer values, group its values first, or raise max_groups",
            )
        focus = _focus_level(groups, params.group_value, params.group)
        if focus is not None:  # the described value first, then the others by size
            groups = [focus] + [g for g in groups if g != focus]
        else:
            groups = sorted(groups)
        codes = data.select(
            pl.col("__group__").replace_strict(groups, list(range(len(groups))), return_dtype=pl.Int32)
        ).to_series().to_numpy()

        rows: list[dict[str, Any]] = []
        effects: list[dict[str, Any]] = []
        numeric_groups: list[dict[str, Any]] = []
        crosstab: list[dict[str, Any]] = []
        details: dict[str, dict[str, Any]] = {}
        variables = chosen.all
        for i, variable in enumerate(variables):
            ctx.report(0.05 + 0.8 * i / len(variables), f"testing {variable}")
            if variable in chosen.numeric:
                row, extra = _test_numeric(
                    variable, data[variable], codes, groups, params.tests.get(variable), ctx
                )
                numeric_groups.extend(extra["groups"])
            else:
                row, extra = _test_categorical(
                    variable, data[variable], codes, groups, focus, params.tests.get(variable), ctx
                )
                crosstab.extend(extra["crosstab"])
            details[variable] = extra
            rows.append(row)
            for effect in extra.get("effects", []):
                effects.append({"variable": variable, **effect})
            for key in ("caveat", "caveat_extreme"):
                if extra.get(key):
                    caveats.append(extra[key])

        ctx.report(0.88, "adjusting for multiple tests")
        adjusted = stats.adjust_pvalues([r["p_value"] for r in rows], params.correction)
        tested = 0
        for row, p_adj in zip(rows, adjusted):
            row["p_adjusted"] = p_adj
            if math.isfinite(p_adj):
                tested += 1
                row["significant"] = "yes" if p_adj < params.alpha else "no"
            else:
                row["significant"] = "not tested"
        rules = ctx.disclosure
        tests_table = safe_table(_tests_table(rows), rules)
        effect_table = _effects_table(effects)
        groups_table = safe_table(_numeric_groups_table(numeric_groups), rules)
        cross_table = safe_table(_crosstab_table(crosstab), rules)

        correction = {"holm": "Holm's method", "bh": "the Benjamini–Hochberg procedure"}[params.correction]
        significant = [r for r in rows if r["significant"] == "yes"]
        headlines = [
            f"{len(variables)} variable{'s' if len(variables) != 1 else ''} compared across "
            f"{params.group} ({len(groups)} groups, {data.height:,} records); {len(significant)} "
            f"differ{'s' if len(significant) == 1 else ''} at the {params.alpha:g} level after "
            f"adjusting for {tested} test{'s' if tested != 1 else ''} with {correction}."
        ]
        ordered = sorted(significant, key=lambda r: (r["p_adjusted"], -abs(r["effect_size"] or 0), r["variable"]))
        for row in ordered[:8]:
            sentence = _headline(row, details[row["variable"]], params, groups, groups_table, cross_table, rules)
            if sentence:
                headlines.append(sentence)
        if len(ordered) > 8:
            headlines.append(f"{len(ordered) - 8} further differences are listed in the tests table.")
        not_significant = [r["variable"] for r in rows if r["significant"] == "no"]
        if not_significant:
            headlines.append(
                f"No difference across {params.group} was detected for {join_names(not_significant)} "
                f"(adjusted p ≥ {params.alpha:g}); this does not show that there is none, only "
                "that the data cannot tell it apart from chance."
            )
        untested = [r["variable"] for r in rows if r["significant"] == "not tested"]
        if untested:
            caveats.append(f"Not tested (see the reason in the tests table): {join_names(untested)}.")
        caveats.append(
            "A difference between groups is an association: it does not show that the group "
            "causes the difference, and other variables may explain it."
        )
        caveats.append(
            f"p-values are adjusted for the {tested} tests in this finding with {correction}; "
            "tests run elsewhere are not part of the adjustment."
        )

        figures: dict[str, Figure] = {}
        ctx.report(0.92, "drawing figures")
        drawable = tests_table.frame.filter(pl.col("effect_size").is_not_null() & pl.col("effect_size").is_finite())
        if drawable.height:
            figures["effects"] = _draw_effects(drawable, params.group)
        if groups_table.frame.height and groups_table.frame["mean"].drop_nulls().len():
            figures["group_means"] = _draw_group_means(groups_table.frame, params.group)

        metrics = {
            "tests": float(tested),
            "significant": float(len(significant)),
            "records": float(data.height),
            "groups": float(len(groups)),
        }
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title=f"Which variables differ across {params.group}",
            headlines=headlines,
            method=method_text(self),
            tables={
                "tests": tests_table,
                "effect_sizes": effect_table,
                "numeric_groups": groups_table,
                "crosstab": cross_table,
            },
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


# --------------------------------------------------------------------------- the tests


def _focus_level(groups: list[str], value: str | None, name: str) -> str | None:
    from expedition.steps._columns import NEGATIVE, POSITIVE

    if value is not None:
        if value not in groups:
            raise StepError(
                f"step 'significance': group_value {value!r} does not occur in column {name!r}",
                f"the values are: {', '.join(sorted(groups)[:20])}",
            )
        return value
    if len(groups) != 2:
        return None
    lowered = [g.lower() for g in groups]
    positives = [g for g, low in zip(groups, lowered) if low in POSITIVE]
    if len(positives) == 1 and all(low in POSITIVE | NEGATIVE for low in lowered):
        return positives[0]
    return None


def _empty_row(variable: str, kind: str, reason: str) -> dict[str, Any]:
    return {
        "variable": variable,
        "kind": kind,
        "test": "not tested",
        "statistic_name": "",
        "n": None,
        "statistic": math.nan,
        "df": math.nan,
        "df2": math.nan,
        "p_value": math.nan,
        "effect": "",
        "effect_size": math.nan,
        "effect_low": math.nan,
        "effect_high": math.nan,
        "reason": reason,
    }


def _result_row(variable: str, kind: str, n: int, result: stats.TestResult, reason: str) -> dict[str, Any]:
    effect = result.effect or stats.Effect("", math.nan)
    note = f" ({result.note})" if result.note else ""
    finite = math.isfinite(result.p_value)
    return {
        "variable": variable,
        "kind": kind,
        "test": result.test if finite else f"{result.test} (could not be computed)",
        "statistic_name": result.statistic_name,
        "n": n,
        "statistic": result.statistic,
        "df": result.df,
        "df2": result.df2,
        "p_value": result.p_value,
        "effect": effect.measure,
        "effect_size": effect.estimate,
        "effect_low": effect.low,
        "effect_high": effect.high,
        "reason": (reason + note) if finite else reason + "; the statistic is not finite "
        "(no variation within groups, or values too extreme)",
    }


def _effects(result: stats.TestResult) -> list[dict[str, Any]]:
    return [
        {"measure": e.measure, "estimate": e.estimate, "ci_low": e.low, "ci_high": e.high}
        for e in result.effects
    ]


def _test_numeric(variable, series, codes, groups, override, ctx):
    import numpy as np
    import polars as pl

    values = series.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    finite = np.isfinite(values)
    per_group = {}
    summaries = []
    for index, name in enumerate(groups):
        v = values[(codes == index) & finite]
        summaries.append(_summary(variable, name, v))
        per_group[name] = v
    small = [g for g, v in per_group.items() if len(v) < 2]
    usable = {g: v for g, v in per_group.items() if len(v) >= 2}
    extra: dict[str, Any] = {"groups": summaries, "per_group": {g: len(v) for g, v in per_group.items()}}
    if any(s["n"] > 0 and math.isnan(s["mean"]) for s in summaries):
        extra["caveat_extreme"] = (
            f"{variable}: the values are too extreme to average (the sums overflow), so no means "
            "are shown; a rank-based test is not affected."
        )
    if small:
        one = len(small) == 1
        extra["caveat"] = (
            f"{variable}: the group{'' if one else 's'} {join_names(small)} "
            f"{'has' if one else 'have'} fewer than two values and {'is' if one else 'are'} left "
            "out of its test."
        )
    if len(usable) < 2:
        return _empty_row(variable, "numeric", "fewer than two groups with two or more values"), extra
    if all(np.ptp(v) == 0 for v in usable.values()):
        return _empty_row(
            variable, "numeric",
            "no variation within any group (every group holds a single value), so there is no "
            "spread to judge a difference against",
        ), extra
    if override:
        if override in ("welch", "mann-whitney") and len(usable) != 2:
            raise StepError(
                f"step 'significance': test {override!r} for {variable!r} compares two groups, "
                f"but there are {len(usable)}",
                "use anova, welch-anova or kruskal for several groups",
            )
        choice = stats.Choice(override, "set by hand in the tests parameter")
    else:
        choice = stats.choose_numeric_test(usable)
    arrays = list(usable.values())
    if choice.test == "welch":
        result = stats.welch_t(*arrays)
    elif choice.test == "mann-whitney":
        result = stats.mann_whitney(*arrays)
    elif choice.test == "anova":
        result = stats.one_way_anova(arrays)
    elif choice.test == "welch-anova":
        result = stats.welch_anova(arrays)
    else:
        result = stats.kruskal_wallis(arrays)
    n = int(sum(len(a) for a in arrays))
    extra["effects"] = _effects(result)
    extra["result"] = result
    extra["used_groups"] = list(usable)
    return _result_row(variable, "numeric", n, result, choice.reason), extra


def _summary(variable: str, group: str, v) -> dict[str, Any]:
    import numpy as np
    from scipy.stats import t as t_dist

    n = len(v)
    with np.errstate(all="ignore"):
        mean = float(np.mean(v)) if n else math.nan
        sd = float(np.std(v, ddof=1)) if n > 1 else math.nan
        half = float(t_dist.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else math.nan
    if not (math.isfinite(mean) and (n < 2 or math.isfinite(sd))):
        mean = sd = half = math.nan  # overflow: values too extreme for a mean
    return {
        "variable": variable,
        "group": group,
        "n": n,
        "mean": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "sd": sd,
        "median": float(np.median(v)) if n else math.nan,
    }


def _test_categorical(variable, series, codes, groups, focus, override, ctx):
    import numpy as np
    import polars as pl

    frame = pl.DataFrame({"category": series.cast(pl.String), "code": codes})
    missing = frame["category"].null_count()
    tab = frame.drop_nulls("category").group_by("category", "code").len()
    categories = (
        tab.group_by("category").agg(pl.col("len").sum()).sort(["len", "category"], descending=[True, False])
    )["category"].to_list()
    # 'Other' last, the rest by size
    if "Other" in categories:
        categories = [c for c in categories if c != "Other"] + ["Other"]
    table = np.zeros((len(categories), len(groups)), dtype=np.int64)
    index = {c: i for i, c in enumerate(categories)}
    for category, code, n in tab.iter_rows():
        table[index[category], code] = n
    extra: dict[str, Any] = {"categories": categories, "table": table}
    group_totals = table.sum(axis=0)
    extra["crosstab"] = [
        {
            "variable": variable,
            "category": c,
            "group": g,
            "n": int(table[i, j]),
            "share": float(table[i, j] / group_totals[j]) if group_totals[j] else math.nan,
        }
        for i, c in enumerate(categories)
        for j, g in enumerate(groups)
    ]
    keep_rows = table.sum(axis=1) > 0
    keep_cols = table.sum(axis=0) > 0
    used = table[keep_rows][:, keep_cols]
    used_groups = [g for g, k in zip(groups, keep_cols) if k]
    used_categories = [c for c, k in zip(categories, keep_rows) if k]
    if missing:
        extra["caveat"] = f"{variable}: {missing:,} records with no value are left out of its test."
    if used.shape[0] < 2 or used.shape[1] < 2:
        return _empty_row(variable, "categorical", "only one category or group has values"), extra
    if override:
        if override == "two-proportion" and used.shape != (2, 2):
            raise StepError(
                f"step 'significance': test 'two-proportion' for {variable!r} needs two categories "
                f"and two groups; the table is {used.shape[0]}x{used.shape[1]}",
                "use chi-square or fisher for larger tables",
            )
        choice = stats.Choice(override, "set by hand in the tests parameter")
    else:
        choice = stats.choose_table_test(used)
    n = int(used.sum())
    if choice.test == "two-proportion":
        # the share in the described group (focus, else the first group), the smaller category
        # compared with the larger (reference) one
        col = used_groups.index(focus) if focus in used_groups else 0
        exposed, reference = 1, 0
        k1, n1 = int(used[exposed, col]), int(used[exposed].sum())
        k2, n2 = int(used[reference, col]), int(used[reference].sum())
        result = stats.two_proportions(k1, n1, k2, n2)
        extra["comparison"] = {
            "group": used_groups[col],
            "exposed": used_categories[exposed],
            "reference": used_categories[reference],
            "rates": (k1 / n1, k2 / n2),
            "cells": [int(x) for x in used.ravel()],
        }
    elif choice.test == "fisher":
        result = stats.fisher(used, seed=ctx.seed)
        if used.shape == (2, 2):
            col = used_groups.index(focus) if focus in used_groups else 0
            extra["comparison"] = {
                "group": used_groups[col],
                "exposed": used_categories[1],
                "reference": used_categories[0],
                "rates": (used[1, col] / used[1].sum(), used[0, col] / used[0].sum()),
                "cells": [int(x) for x in used.ravel()],
            }
    else:
        result = stats.chi_square(used)
    extra["effects"] = _effects(result)
    extra["result"] = result
    extra["used_groups"] = used_groups
    extra["used_categories"] = used_categories
    extra["used"] = used
    return _result_row(variable, "categorical", n, result, choice.reason), extra


# --------------------------------------------------------------------------- tables


def _tests_table(rows: list[dict[str, Any]]) -> Table:
    import polars as pl

    order = [
        "variable", "kind", "test", "statistic_name", "effect", "significant", "n", "statistic",
        "df", "df2", "p_value", "p_adjusted", "effect_size", "effect_low", "effect_high", "reason",
    ]
    schema = {c: pl.Float64 for c in order}
    schema.update({c: pl.String for c in ("variable", "kind", "test", "statistic_name", "effect", "significant", "reason")})
    schema["n"] = pl.Int64
    frame = pl.DataFrame([{c: r.get(c) for c in order} for r in rows], schema=schema, orient="row")
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    kinds = {c: "statistic" for c in order}
    kinds.update({c: "label" for c in ("variable", "kind", "test", "statistic_name", "effect", "significant")})
    kinds.update({"n": "count", "reason": "text"})
    return Table(
        frame,
        kinds,
        title="Tests",
        description="One test per variable: its statistic, degrees of freedom (df2 is the "
        "denominator df of an F test), p-value, p-value adjusted across the family, effect size "
        "with a 95% confidence interval, and the checks that chose the test.",
    )


def _effects_table(effects: list[dict[str, Any]]) -> Table:
    import polars as pl

    schema = {"variable": pl.String, "measure": pl.String, "estimate": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64}
    frame = pl.DataFrame(effects, schema=schema).with_columns(pl.col(pl.Float64).fill_nan(None))
    return Table(
        frame,
        {"variable": "label", "measure": "label", "estimate": "statistic", "ci_low": "statistic", "ci_high": "statistic"},
        title="Effect sizes",
        description="Every effect size computed for each test, with its 95% confidence interval.",
    )


def _numeric_groups_table(rows: list[dict[str, Any]]) -> Table:
    import polars as pl

    schema = {
        "variable": pl.String, "group": pl.String, "n": pl.Int64, "mean": pl.Float64,
        "ci_low": pl.Float64, "ci_high": pl.Float64, "sd": pl.Float64, "median": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema).with_columns(pl.col(pl.Float64).fill_nan(None))
    kinds = {c: "statistic" for c in schema}
    kinds.update({"variable": "label", "group": "label", "n": "count"})
    return Table(
        frame,
        kinds,
        title="Numeric variables by group",
        description="Records with a value, mean with a 95% t confidence interval, standard "
        "deviation and median, per group.",
        denominators={c: "n" for c in ("mean", "ci_low", "ci_high", "sd", "median")},
    )


def _crosstab_table(rows: list[dict[str, Any]]) -> Table:
    import polars as pl

    schema = {"variable": pl.String, "category": pl.String, "group": pl.String, "n": pl.Int64, "share": pl.Float64}
    frame = pl.DataFrame(rows, schema=schema).with_columns(pl.col(pl.Float64).fill_nan(None))
    return Table(
        frame,
        {"variable": "label", "category": "label", "group": "label", "n": "count", "share": "rate"},
        title="Categories by group",
        description="Records in each category and group, and the share of the group's records "
        "(with a value) in that category.",
        denominators={"share": "n"},
    )


# --------------------------------------------------------------------------- headlines


def _headline(row, extra, params, groups, groups_table, cross_table, rules) -> str | None:
    import polars as pl

    variable, group = row["variable"], params.group
    p = fmt_p(row["p_adjusted"])
    effect = (
        f"{row['effect']} = {fmt_num(row['effect_size'], 2)}, 95% CI "
        f"{fmt_num(row['effect_low'], 2)} to {fmt_num(row['effect_high'], 2)}"
    )
    tail = f"{effect}; {row['test']}, adjusted {p}"
    if row["kind"] == "numeric":
        used = extra.get("used_groups", [])
        published = groups_table.frame.filter(
            (pl.col("variable") == variable) & pl.col("mean").is_not_null() & pl.col("group").is_in(used)
        )
        by_group = {r["group"]: r for r in published.iter_rows(named=True)}
        if len(used) == 2 and all(g in by_group for g in used):
            a, b = used  # the described group first when there is one
            ra, rb = by_group[a], by_group[b]
            if row["effect"] == "rank-biserial r":
                word = "higher" if row["effect_size"] > 0 else "lower"
                if ra["median"] != rb["median"]:
                    centre = f"median {fmt_num(ra['median'])} vs {fmt_num(rb['median'])}"
                else:
                    centre = (
                        f"median {fmt_num(ra['median'])} in both; mean {fmt_num(ra['mean'])} vs "
                        f"{fmt_num(rb['mean'])}"
                    )
                return (
                    f"{variable} tends to be {word} where {group} is {a} than where it is {b} "
                    f"({centre}; {tail})."
                )
            word = "higher" if ra["mean"] >= rb["mean"] else "lower"
            return (
                f"{variable} is {word} on average where {group} is {a} than where it is {b} "
                f"(mean {fmt_num(ra['mean'])} vs {fmt_num(rb['mean'])}; {tail})."
            )
        if len(by_group) >= 2:
            key = "median" if row["test"].startswith("Kruskal") else "mean"
            ranked = sorted(by_group.values(), key=lambda r: (r[key], r["group"]))
            low, high = ranked[0], ranked[-1]
            return (
                f"{variable} differs across {group}: the {key} ranges from {fmt_num(low[key])} "
                f"({low['group']}) to {fmt_num(high[key])} ({high['group']}) ({tail})."
            )
        return f"{variable} differs across {group} ({tail})."
    comparison = extra.get("comparison")
    if comparison is not None:
        if any(0 < c < rules.min_count for c in comparison["cells"]):
            return f"{variable} is associated with {group} ({tail})."
        r1, r2 = comparison["rates"]
        word = "higher" if r1 > r2 else "lower"
        if row["effect"] == "risk difference":
            tail = (
                f"a difference of {fmt_num(100 * row['effect_size'], 2)} percentage points, 95% CI "
                f"{fmt_num(100 * row['effect_low'], 2)} to {fmt_num(100 * row['effect_high'], 2)}; "
                f"{row['test']}, adjusted {p}"
            )
        return (
            f"The share with {group} = {comparison['group']} is {word} where {variable} is "
            f"{comparison['exposed']} ({fmt_pct(r1)}) than where it is {comparison['reference']} "
            f"({fmt_pct(r2)}) ({tail})."
        )
    focus = groups[0] if params.group_value or len(groups) == 2 else None
    if focus is not None and focus in extra.get("used_groups", []):
        used = extra["used"]
        col = extra["used_groups"].index(focus)
        rates = []
        for i, category in enumerate(extra["used_categories"]):
            k, n = int(used[i, col]), int(used[i].sum())
            if category == "Other" or any(0 < c < rules.min_count for c in used[i]):
                continue
            rates.append((k / n, category))
        if len(rates) >= 2:
            rates.sort()
            (low, lcat), (high, hcat) = rates[0], rates[-1]
            return (
                f"The share with {group} = {focus} varies with {variable}, from {fmt_pct(low)} "
                f"({lcat}) to {fmt_pct(high)} ({hcat}) ({tail})."
            )
    return f"{variable} is associated with {group} ({tail})."


# --------------------------------------------------------------------------- figures


def _draw_effects(tests: Any, group: str) -> Figure:
    import polars as pl

    measures = tests["effect"].unique(maintain_order=True).to_list()
    tallest = max(tests.group_by("effect").len()["len"].to_list())
    panel = (4.2, max(1.6, 0.3 * tallest + 0.9))
    fig, axes = small_multiples(len(measures), columns=min(2, len(measures)), panel=panel)
    for ax, measure in zip(axes, measures):
        part = tests.filter(pl.col("effect") == measure)
        ys = list(range(part.height))[::-1]
        est = part["effect_size"].to_list()
        low = [v if v is not None else e for v, e in zip(part["effect_low"].to_list(), est)]
        high = [v if v is not None else e for v, e in zip(part["effect_high"].to_list(), est)]
        colours = [PALETTE[1] if s == "yes" else PALETTE[0] for s in part["significant"].to_list()]
        for y, e, lo, hi, colour in zip(ys, est, low, high, colours):
            ax.errorbar([e], [y], xerr=[[max(e - lo, 0)], [max(hi - e, 0)]], fmt="o", ms=4, capsize=2, color=colour)
        null = 1.0 if measure in ("odds ratio", "risk ratio") else 0.0
        ax.axvline(null, color="#8c8c8c", lw=0.8, ls="--")
        ax.set_yticks(ys, [str(v)[:22] for v in part["variable"].to_list()], fontsize=7)
        ax.set_title(measure)
        ax.set_ylim(-0.8, part.height - 0.2)
    return to_figure(
        fig,
        f"Effect sizes across {group}, with 95% confidence intervals",
        alt="Dot-and-whisker plots of each variable's effect size with its 95% confidence "
        "interval, one panel per kind of effect size; orange marks a difference that is "
        "significant after adjustment, the dashed line marks no difference.",
        data="tests",
    )


def _draw_group_means(groups: Any, group: str) -> Figure:
    import polars as pl

    variables = groups["variable"].unique(maintain_order=True).to_list()
    fig, axes = small_multiples(len(variables))
    for ax, variable in zip(axes, variables):
        part = groups.filter(pl.col("variable") == variable)
        ys = list(range(part.height))[::-1]
        mean = [m if m is not None else float("nan") for m in part["mean"].to_list()]
        low = [v if v is not None else float("nan") for v in part["ci_low"].to_list()]
        high = [v if v is not None else float("nan") for v in part["ci_high"].to_list()]
        err = [[max(m - lo, 0) if m == m and lo == lo else 0 for m, lo in zip(mean, low)],
               [max(hi - m, 0) if m == m and hi == hi else 0 for m, hi in zip(mean, high)]]
        ax.errorbar(mean, ys, xerr=err, fmt="o", ms=3, capsize=2)
        ax.set_yticks(ys, [str(g)[:18] for g in part["group"].to_list()], fontsize=7)
        ax.set_title(variable)
        ax.set_xlabel("mean")
    return to_figure(
        fig,
        f"Means by {group}, with 95% confidence intervals",
        alt=f"Dot plots of each numeric variable's mean in each {group} group with its 95% "
        "confidence interval; groups too small to publish are left empty.",
        data="numeric_groups",
    )
