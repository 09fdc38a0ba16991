"""`significance`: is a difference between groups larger than chance would explain?"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from expedition.errors import StepError
from expedition.steps import (
    RECORDED,
    Cell,
    Chart,
    Count,
    Derived,
    Finding,
    Keys,
    Step,
    StepContext,
    StepParams,
    Table,
    Value,
    require_columns,
    say,
)
from expedition.steps import _stats as stats
from expedition.steps._columns import choose_variables, no_rows, top_levels
from expedition.steps._plot import (
    PALETTE,
    Drawing,
    drawing,
    mark_suppressed,
    small_multiples,
)
from expedition.steps._text import fmt_num, fmt_p, fmt_pct, join_names

TestName = Literal["welch", "mann-whitney", "anova", "welch-anova", "kruskal", "chi-square", "fisher", "two-proportion"]

#: columns of the tests and effect-size tables computed from the test's data: suppressed with the
#: smallest group (or cell) the test rests on, as a small group's mean follows from a difference
STATISTICS = ("statistic", "df", "df2", "p_value", "p_adjusted", "effect_size", "effect_low", "effect_high")


class SignificanceParams(StepParams):
    group: str = Field(
        description="the grouping or outcome column each variable is compared across "
        "(two or more values, e.g. an outcome yes/no or a district)"
    )
    group_value: str | None = Field(
        None,
        description="the value to describe (e.g. 'yes'); when the group has more than two values, "
        "this value is compared with all the others together; default: yes/true/1 when present",
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
    max_groups: int = Field(
        20, ge=2, le=100,
        description="most values the group column may have (not limited when group_value is given: "
        "that value is compared with the rest together)",
    )
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

    With group_value set on a group column of more than two values, that value is compared with
    all the other values together (a two-level group: the value, and "other than" it), and the
    headline says so; records with no value for the group are left out of both.

    Each test's statistics are published with the smallest group (or table cell) it rests on:
    when that count is too small to publish, so are they, since a difference or a test
    statistic together with the larger groups' figures would give the small group's away. The
    groups are listed with the described value first, then alphabetically, and categories
    alphabetically (an order by size would let a reader bound a suppressed count by its
    neighbours).
    """

    name = "significance"
    summary = "Tests whether each variable differs across groups, with effect sizes and adjusted p-values."
    version = "3"
    Params = SignificanceParams
    outputs: ClassVar[dict[str, str]] = {
        "tests": "one row per variable: test, records, the smallest group or cell it rests on, statistic, "
        "df, p-value, adjusted p-value, effect size with 95% CI, and the checks that chose the test",
        "effect_sizes": "every effect size with its 95% CI (e.g. both risk difference and ratio)",
        "numeric_groups": "per group: values, mean with 95% CI, standard deviation, median",
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

    @classmethod
    def recode_columns(cls, params: SignificanceParams, columns: list[str]) -> list[str]:
        """The grouping column and the variables it may tabulate (every other column by
        default; the runner recodes only text and categorical columns). With group_value the
        group is tabulated as that value against all the others together, so its rare values
        are not recoded: they belong with the others, not with the records missing a value."""
        tested = params.variables if params.variables is not None else columns
        group = [] if params.group_value is not None else [params.group]
        return [*group, *[c for c in tested if c != params.group]]

    @classmethod
    def recode_keep(cls, params: SignificanceParams) -> list[Any]:
        """The described group is never combined with others."""
        return [params.group_value] if params.group_value is not None else []

    def run(self, frame: Any, params: SignificanceParams, ctx: StepContext) -> Finding:
        import polars as pl

        lazy = frame.lazy()  # a LazyFrame is its own lazy frame
        schema = lazy.collect_schema()
        require_columns(schema.names(), [params.group], param="group", step=self.name)
        require_columns(schema.names(), list(params.tests), param="tests", step=self.name)
        m = ctx.min_count
        group = params.group
        ctx.report(0.02, "choosing variables")
        rare = [] if params.variables is not None else _recoded_away(lazy, schema, m, group)
        chosen = choose_variables(
            lazy,
            step=self.name,
            ctx=ctx,
            variables=params.variables,
            exclude=[group, *rare],
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
                f"step '{self.name}': no column can be tested against {group!r}",
                "name the columns to test with variables: [...]; " + " ".join(chosen.caveats),
            )

        levels = {}
        for c in chosen.categorical:
            top = top_levels(lazy, c, params.max_categories - 1)
            rest = chosen.levels.get(c, len(top)) - len(top)
            levels[c] = (top, _other_label(rest, top) if rest > 0 else None)
        data = lazy.select(
            pl.col(group).cast(pl.String).alias("__group__"),
            *[pl.col(c) for c in chosen.numeric],
            *[_category_expr(c, *levels[c]) for c in chosen.categorical],
        ).collect()
        caveats: list[Any] = list(chosen.caveats)
        if rare:
            caveats.append(
                "Not analysed (every value is rarer than the disclosure threshold, as in identifiers or "
                "free text): " + ", ".join(rare) + "."
            )
        # every count of this finding is of the records with a group: say so, so the gate can
        # link them to counts of all records
        with_group = {group: RECORDED}
        group_missing = data["__group__"].null_count()
        without_group = Count(group_missing, {group: None})
        if group_missing:
            caveats.append(say(
                "{n} records with no value for {group} are left out.", n=without_group, group=group,
                fallback=say("Records with no value for {group} are left out.", group=group),
            ))
            data = data.filter(pl.col("__group__").is_not_null())
        groups = data["__group__"].unique().drop_nulls().to_list()
        if len(groups) < 2:
            raise StepError(
                f"step '{self.name}': the group column {group!r} has "
                f"{'no values' if not groups else 'only one value (' + str(groups[0]) + ')'}, so "
                "there is nothing to compare",
                "choose a column with two or more values",
            )
        focus = _focus_level(groups, params.group_value, group)
        if len(groups) > params.max_groups and params.group_value is None:
            raise StepError(
                f"step '{self.name}': the group column {group!r} has {len(groups):,} values "
                f"(at most {params.max_groups} are compared)",
                "choose a column with fewer values, group its values first, raise max_groups, or "
                "set group_value to compare one value with all the others",
            )
        # one value against all the others together: the group recoded to two levels
        others: list[str] = []
        if params.group_value is not None and len(groups) > 2:
            others = sorted(g for g in groups if g != focus)
            rest = other_than(focus)
            data = data.with_columns(
                pl.when(pl.col("__group__") == focus).then(pl.lit(focus)).otherwise(pl.lit(rest)).alias("__group__")
            )
            groups = [focus, rest]
            caveats.append(say(
                "{group} has {k} values: {value} is compared with the other {others} together "
                "(shown as '{rest}': {names}).",
                group=group, k=str(len(others) + 1), value=focus, others=str(len(others)), rest=rest,
                names=join_names(others),
            ))
        # the described value first, then the others alphabetically (an order by size would let
        # a reader bound a suppressed group's count by its neighbours)
        groups = sorted(groups) if focus is None else [focus] + sorted(g for g in groups if g != focus)
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
                row, extra = _test_numeric(variable, data[variable], codes, groups, params.tests.get(variable))
                extra["first_row"] = len(numeric_groups)
                numeric_groups.extend(extra["groups"])
            else:
                top, other = levels[variable]
                row, extra = _test_categorical(
                    variable, data[variable], codes, groups, focus, params.tests.get(variable), ctx, top, other
                )
                extra["rows"] = {key: len(crosstab) + j for j, key in enumerate(extra["keys"])}
                crosstab.extend(extra["crosstab"])
            details[variable] = extra
            rows.append(row)
            for effect in extra.get("effects", []):
                effects.append({"variable": variable, **effect, **{k: row[k] for k in _BASIS}})
            if extra.get("caveat_extreme"):
                caveats.append(extra["caveat_extreme"])
            if extra.get("few"):
                n_few = len(extra["few"])
                caveats.append(
                    f"{variable}: {n_few} group{'s' if n_few != 1 else ''} with fewer than two values "
                    f"{'are' if n_few != 1 else 'is'} left out of its test."
                )
            if extra.get("missing"):
                caveats.append(say(
                    "{variable}: {n} records with no value are left out of its test.", variable=variable,
                    n=Count(extra["missing"], {variable: None, **with_group}),
                    fallback=say("{variable}: the records with no value are left out of its test.",
                                 variable=variable),
                ))

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
        tables = {
            "tests": _tests_table(rows, group),
            "effect_sizes": _effects_table(effects, group),
            "numeric_groups": _numeric_groups_table(numeric_groups, group),
            "crosstab": _crosstab_table(crosstab, group),
        }

        correction = {"holm": "Holm's method", "bh": "the Benjamini–Hochberg procedure"}[params.correction]
        significant = [r for r in rows if r["significant"] == "yes"]
        compared = Count(data.height, with_group)
        alpha = f"{params.alpha:g}"
        counts_words = (
            f"{len(variables)} variable{'s' if len(variables) != 1 else ''}",
            f"{len(significant)} differ{'s' if len(significant) == 1 else ''}",
            f"{tested} test{'s' if tested != 1 else ''}",
        )
        tail = "{significant} at the {alpha} level after adjusting for {tests} with {correction}."
        words = dict(variables=counts_words[0], group=group, significant=counts_words[1], alpha=alpha,
                     tests=counts_words[2], correction=correction)
        if others:
            # the comparison named first: one value against all the others together
            what = ("{value} compared with all {others} other values of {group} together: "
                    "{variables} compared")
            words.update(value=str(focus), others=str(len(others)))
        else:
            what = "{variables} compared across {group}"
            words.update(groups=str(len(groups)))
        sizes = " ({n} records); " if others else " ({groups} groups, {n} records); "
        headlines: list[Any] = [say(
            what + sizes + tail, n=compared, **words,
            fallback=say(what + ("; " if others else " ({groups} groups); ") + tail, **words),
        )]
        index = {r["variable"]: i for i, r in enumerate(rows)}
        ordered = sorted(significant, key=lambda r: (r["p_adjusted"], -abs(r["effect_size"] or 0), r["variable"]))
        for row in ordered[:8]:
            headlines.append(_headline(row, index[row["variable"]], details[row["variable"]], params, groups, focus, m))
        if len(ordered) > 8:
            headlines.append(f"{len(ordered) - 8} further differences are listed in the tests table.")
        not_significant = [r["variable"] for r in rows if r["significant"] == "no"]
        if not_significant:
            headlines.append(say(
                "No difference {across} was detected for {names} (adjusted p ≥ {alpha}); this does "
                "not show that there is none, only that the data cannot tell it apart from chance.",
                across=_across(group, groups, focus), names=join_names(not_significant), alpha=alpha,
            ))
        untested = [r["variable"] for r in rows if r["significant"] == "not tested"]
        if untested:
            caveats.append(say("Not tested (see the reason in the tests table): {names}.", names=join_names(untested)))
        caveats.append(
            "A difference between groups is an association: it does not show that the group "
            "causes the difference, and other variables may explain it."
        )
        caveats.append(
            f"p-values are adjusted for the {tested} tests in this finding with {correction}; "
            "tests run elsewhere are not part of the adjustment."
        )

        ctx.report(0.92, "declaring figures")
        figures: dict[str, Chart] = {}
        if any(math.isfinite(r["effect_size"]) for r in rows if r["effect_size"] is not None):
            figures["effects"] = Chart(
                f"Effect sizes across {group}, with 95% confidence intervals",
                "significance.effects",
                "tests",
                alt="Dot-and-whisker plots of each variable's effect size with its 95% confidence "
                "interval, one panel per kind of effect size; orange marks a difference that is "
                "significant after adjustment, the dashed line marks no difference; an effect resting "
                "on a group too small to publish is marked.",
            )
        if numeric_groups:
            figures["group_means"] = Chart(
                f"Means by {group}, with 95% confidence intervals",
                "significance.group_means",
                "numeric_groups",
                alt=f"Dot plots of each numeric variable's mean in each {group} group with its 95% "
                "confidence interval; groups too small to publish are marked.",
                options={"variables": chosen.numeric},
            )

        metrics = {
            "tests": float(tested),
            "significant": float(len(significant)),
            "records": compared,
            "records_without_group": without_group,
            "groups": float(len(groups)),
        }
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title=f"Which variables differ between {group} = {focus} and the rest" if others
            else f"Which variables differ across {group}",
            headlines=headlines,
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


# --------------------------------------------------------------------------- choosing and labelling


def _recoded_away(lazy: Any, schema: Any, min_count: int, group: str) -> list[str]:
    """Text columns left holding only the runner's rare-category label (every value was rarer
    than the threshold, as in an identifier or free text): nothing to test."""
    import polars as pl

    from expedition.disclosure.recode import other_label

    text = [c for c, t in schema.items() if t == pl.String and c != group]
    if not text:
        return []
    other = other_label(min_count)
    row = lazy.select(
        *[(pl.col(c).drop_nulls().n_unique() == 1).alias(f"{c}\x00one") for c in text],
        *[pl.col(c).drop_nulls().first().alias(f"{c}\x00value") for c in text],
    ).collect().row(0, named=True)
    return [c for c in text if row[f"{c}\x00one"] and row[f"{c}\x00value"] == other]


def _other_label(rest: int, top: list[str]) -> str:
    label = f"Other ({rest} {'category' if rest == 1 else 'categories'})"
    while label in top:  # a real category of that name
        label += " "
    return label


def _category_expr(column: str, top: list[str], other: str | None) -> Any:
    """The column as text; values outside *top* as *other*; missing kept as null."""
    import polars as pl

    text = pl.col(column).cast(pl.String)
    if other is None:
        return text.alias(column)
    return pl.when(text.is_null()).then(None).when(text.is_in(top)).then(text).otherwise(pl.lit(other)).alias(column)


def other_than(value: str) -> str:
    """The label of all the group's values but *value*, taken together."""
    return f"other than {value}"


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


def _public_reason(choice: stats.Choice, kind: str, groups: int) -> str:
    """Why the test was chosen, in words without any group's size or statistics (the checks of
    a small group would describe its few records)."""
    if choice.reason.startswith("set by hand"):
        return choice.reason
    normality = "(normality judged by Shapiro–Wilk in groups under 50, by skewness and kurtosis above)"
    if kind == "numeric":
        words = {
            "welch": "two groups, both close enough to normal",
            "mann-whitney": "two groups, not both close to normal",
            "kruskal": f"{groups} groups, not all close to normal",
            "welch-anova": f"{groups} groups close to normal but with unequal variances (Brown–Forsythe test)",
            "anova": f"{groups} groups close to normal with similar variances (Brown–Forsythe test)",
        }
        return f"{words[choice.test]} {normality}"
    if choice.test == "two-proportion":
        return "2x2 table with every expected count 5 or more (Cochran's rule)"
    if choice.test == "chi-square":
        return "no expected count below 1 and at most 20% below 5 (Cochran's rule)"
    return "expected counts too small for the chi-square approximation (Cochran's rule)"


# --------------------------------------------------------------------------- the tests

#: the columns naming the smallest group or cell a test rests on (copied to the effect sizes)
_BASIS = ("smallest_group", "smallest_category", "smallest_n")


def _empty_row(variable: str, kind: str, reason: str) -> dict[str, Any]:
    return {
        "variable": variable,
        "kind": kind,
        "test": "not tested",
        "statistic_name": "",
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


def _result_row(variable: str, kind: str, result: stats.TestResult, reason: str) -> dict[str, Any]:
    effect = result.effect or stats.Effect("", math.nan)
    note = f" ({result.note})" if result.note else ""
    finite = math.isfinite(result.p_value)
    return {
        "variable": variable,
        "kind": kind,
        "test": result.test if finite else f"{result.test} (could not be computed)",
        "statistic_name": result.statistic_name,
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


def _test_numeric(variable, series, codes, groups, override):
    import numpy as np
    import polars as pl

    recorded = series.is_not_null().to_numpy()
    values = series.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    finite = np.isfinite(values)
    per_group = {}
    summaries = []
    for index, name in enumerate(groups):
        in_group = codes == index
        v = values[in_group & finite]
        summaries.append(_summary(variable, name, int((in_group & recorded).sum()), v))
        per_group[name] = v
    small = [g for g, v in per_group.items() if len(v) < 2]
    usable = {g: v for g, v in per_group.items() if len(v) >= 2}
    n = int(recorded.sum())
    extra: dict[str, Any] = {"groups": summaries, "few": small, "missing": len(values) - n}
    if any(s["n"] > 0 and len(per_group[s["group"]]) and math.isnan(s["mean"]) for s in summaries):
        extra["caveat_extreme"] = (
            f"{variable}: the values are too extreme to average (the sums overflow), so no means "
            "are shown; a rank-based test is not affected."
        )
    # the smallest group the test rests on (the smallest with values when there is no test)
    basis = [s for s in summaries if s["group"] in usable] or [s for s in summaries if s["n"] > 0] or summaries[:1]
    smallest = min(basis, key=lambda s: s["n"])
    base = {"n": n, "smallest_group": smallest["group"], "smallest_category": RECORDED, "smallest_n": smallest["n"]}
    if len(usable) < 2:
        return {**_empty_row(variable, "numeric", "fewer than two groups with two or more values"), **base}, extra
    if all(np.ptp(v) == 0 for v in usable.values()):
        return {**_empty_row(
            variable, "numeric",
            "no variation within any group (every group holds a single value), so there is no "
            "spread to judge a difference against",
        ), **base}, extra
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
    extra["effects"] = _effects(result)
    extra["result"] = result
    extra["used_groups"] = list(usable)
    return {**_result_row(variable, "numeric", result, _public_reason(choice, "numeric", len(usable))), **base}, extra


def _summary(variable: str, group: str, n: int, v) -> dict[str, Any]:
    """A group's recorded values (*n*) and the mean, 95% t interval, standard deviation and
    median of its finite values *v*."""
    import numpy as np
    from scipy.stats import t as t_dist

    k = len(v)
    with np.errstate(all="ignore"):
        mean = float(np.mean(v)) if k else math.nan
        sd = float(np.std(v, ddof=1)) if k > 1 else math.nan
        half = float(t_dist.ppf(0.975, k - 1) * sd / math.sqrt(k)) if k > 1 else math.nan
    if not (math.isfinite(mean) and (k < 2 or math.isfinite(sd))):
        mean = sd = half = math.nan  # overflow: values too extreme for a mean
    return {
        "variable": variable,
        "group": group,
        "n": n,
        "mean": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "sd": sd,
        "median": float(np.median(v)) if k else math.nan,
    }


def _test_categorical(variable, series, codes, groups, focus, override, ctx, top, other):
    import numpy as np
    import polars as pl

    frame = pl.DataFrame({"category": series.cast(pl.String), "code": codes})
    missing = frame["category"].null_count()
    tab = frame.group_by("category", "code").len()
    counts = {(c, int(g)): int(n) for c, g, n in tab.iter_rows()}
    by_size = (
        tab.drop_nulls("category").group_by("category").agg(pl.col("len").sum())
        .sort(["len", "category"], descending=[True, False])
    )["category"].to_list()
    # for the test: 'Other' last, the rest by size (the largest is the reference category)
    categories = [c for c in by_size if c != other] + ([other] if other in by_size else [])
    table = np.zeros((len(categories), len(groups)), dtype=np.int64)
    for i, c in enumerate(categories):
        for j in range(len(groups)):
            table[i, j] = counts.get((c, j), 0)
    # published: alphabetically, then 'Other' (the records with no value are counted in the tests
    # table's caveats: a row of them, often with small cells, would cost the other rows their counts)
    shown = sorted(c for c in categories if c != other) + ([other] if other in categories else [])
    group_totals = [sum(counts.get((c, j), 0) for c in shown) for j in range(len(groups))]
    extra: dict[str, Any] = {"categories": categories, "table": table, "missing": int(missing)}
    extra["keys"] = [(c, g) for c in shown for g in groups]
    extra["crosstab"] = [
        {
            "variable": variable,
            "category": c,
            "group": g,
            "n": counts.get((c, j), 0),
            "share": counts.get((c, j), 0) / group_totals[j] if group_totals[j] else math.nan,
        }
        for c in shown
        for j, g in enumerate(groups)
    ]
    keep_rows = table.sum(axis=1) > 0
    keep_cols = table.sum(axis=0) > 0
    used = table[keep_rows][:, keep_cols]
    used_groups = [g for g, k in zip(groups, keep_cols) if k]
    used_categories = [c for c, k in zip(categories, keep_rows) if k]
    # the smallest cell the test rests on (a zero too, when zeros are disclosive)
    cells = [(int(used[i, j]), c, g) for i, c in enumerate(used_categories) for j, g in enumerate(used_groups)]
    zeros = ctx.disclosure.zeros_disclosive
    candidates = [x for x in cells if x[0] > 0 or zeros] or cells or [(0, categories[0] if categories else "", groups[0])]
    n_min, c_min, g_min = min(candidates, key=lambda x: x[0])
    base = {"n": int(table.sum()), "smallest_group": g_min, "smallest_category": c_min, "smallest_n": n_min}
    if used.shape[0] < 2 or used.shape[1] < 2:
        return {**_empty_row(variable, "categorical", "only one category or group has values"), **base}, extra
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
            }
    else:
        result = stats.chi_square(used)
    extra["effects"] = _effects(result)
    extra["result"] = result
    extra["used_groups"] = used_groups
    extra["used_categories"] = used_categories
    extra["used"] = used
    reason = _public_reason(choice, "categorical", len(used_groups))
    return {**_result_row(variable, "categorical", result, reason), **base}, extra


# --------------------------------------------------------------------------- tables


def _basis_keys(group: str, labels: tuple[str, ...], **counts: dict[str, Any]) -> Keys:
    """Keys of a table with the smallest group or cell of each test: the smallest count is the
    crosstab cell {variable: category, group: g} or the numeric group {variable: recorded, group: g};
    the other *labels* are no conditions."""
    return Keys(
        subject="variable",
        pairs=("variable", "smallest_category"),
        variables={"smallest_group": group, **{label: None for label in labels}},
        counts={"smallest_n": {}, **counts},
    )


def _tests_table(rows: list[dict[str, Any]], group: str) -> Table:
    import polars as pl

    order = [
        "variable", "kind", "test", "statistic_name", "effect", "significant", "n", "smallest_group",
        "smallest_category", "smallest_n", "statistic", "df", "df2", "p_value", "p_adjusted",
        "effect_size", "effect_low", "effect_high", "reason",
    ]
    schema = {c: pl.Float64 for c in order}
    schema.update({c: pl.String for c in ("variable", "kind", "test", "statistic_name", "effect", "significant",
                                          "smallest_group", "smallest_category", "reason")})
    schema.update({"n": pl.Int64, "smallest_n": pl.Int64})
    frame = pl.DataFrame([{c: r.get(c) for c in order} for r in rows], schema=schema, orient="row")
    frame = frame.with_columns(pl.col(pl.Float64).fill_nan(None))
    kinds = {c: "statistic" for c in order}
    kinds.update({c: "label" for c in ("variable", "kind", "test", "statistic_name", "effect", "significant",
                                       "smallest_group", "smallest_category")})
    kinds.update({"n": "count", "smallest_n": "count", "reason": "text"})
    return Table(
        frame,
        kinds,
        title="Tests",
        description="One test per variable: the records with a value for both it and the group (n), the "
        "smallest group (or category and group) the test rests on and its records (a number's "
        "smallest category reads *recorded*: any value), its statistic, degrees of freedom (df2 is "
        "the denominator df of an F test), p-value, p-value adjusted across the family, effect size "
        "with a 95% confidence interval, and the checks that chose the test.",
        dimensions=[],
        keys=_basis_keys(group, ("kind", "test", "statistic_name", "effect", "significant"),
                         n={"@": RECORDED, group: RECORDED}),
        derived={c: Derived(("smallest_n",), ("variable",)) for c in STATISTICS},
    )


def _effects_table(effects: list[dict[str, Any]], group: str) -> Table:
    import polars as pl

    schema = {"variable": pl.String, "measure": pl.String, "estimate": pl.Float64, "ci_low": pl.Float64,
              "ci_high": pl.Float64, "smallest_group": pl.String, "smallest_category": pl.String,
              "smallest_n": pl.Int64}
    frame = pl.DataFrame(effects, schema=schema).with_columns(pl.col(pl.Float64).fill_nan(None))
    kinds = {c: "label" for c in ("variable", "measure", "smallest_group", "smallest_category")}
    kinds.update({"estimate": "statistic", "ci_low": "statistic", "ci_high": "statistic", "smallest_n": "count"})
    return Table(
        frame,
        kinds,
        title="Effect sizes",
        description="Every effect size computed for each test, with its 95% confidence interval, and the "
        "smallest group (or category and group) it rests on.",
        dimensions=[],
        keys=_basis_keys(group, ("measure",)),
        derived={c: Derived(("smallest_n",), ("variable",)) for c in ("estimate", "ci_low", "ci_high")},
    )


def _numeric_groups_table(rows: list[dict[str, Any]], group: str) -> Table:
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
        "deviation and median, per group (of the finite values).",
        denominators={c: "n" for c in ("mean", "ci_low", "ci_high", "sd", "median")},
        dimensions=["group"],
        keys=Keys(subject="variable", variables={"variable": None, "group": group},
                  counts={"n": {"@": RECORDED}}),
    )


def _crosstab_table(rows: list[dict[str, Any]], group: str) -> Table:
    import polars as pl

    schema = {"variable": pl.String, "category": pl.String, "group": pl.String, "n": pl.Int64, "share": pl.Float64}
    frame = pl.DataFrame(rows, schema=schema).with_columns(pl.col(pl.Float64).fill_nan(None))
    return Table(
        frame,
        {"variable": "label", "category": "label", "group": "label", "n": "count", "share": "rate"},
        title="Categories by group",
        description="Records in each category and group, and the share of the group's records (with a "
        "value) in that category.",
        denominators={"share": "n"},
        dimensions=["category", "group"],
        keys=Keys(pairs=("variable", "category"), variables={"group": group}, counts={"n": {}}),
    )


# --------------------------------------------------------------------------- headlines


def _across(group: str, groups: list[str], focus: str | None) -> str:
    """'across Outcome', or 'between Outcome = Arrest and its other values' when the group was
    recoded to one value against the rest."""
    if focus is not None and groups == [focus, other_than(focus)]:
        return f"between {group} = {focus} and its other values together"
    return f"across {group}"


def _shown(text: str, *cells: Cell) -> Value:
    """*text* (a number written by the step) when every cell it comes from is published."""
    return Value(text, sources=cells)


def _headline(row: dict[str, Any], i: int, extra: dict[str, Any], params: SignificanceParams,
              groups: list[str], focus: str | None, min_count: int) -> Any:
    """One sentence about a significant difference; every number in it withheld with the
    counts it rests on, falling back to fewer numbers, then to none."""
    variable, group = row["variable"], params.group
    alpha = f"{params.alpha:g}"

    def test(column: str) -> Cell:
        return Cell("tests", column, i)

    across = _across(group, groups, focus)
    plain = say("{variable} differs {across} ({test}; adjusted p below {alpha}).",
                variable=variable, across=across, test=row["test"], alpha=alpha)
    p = _shown(fmt_p(row["p_adjusted"]), test("p_adjusted"))
    slots = {
        "effect": row["effect"], "test": row["test"], "p": p,
        "estimate": _shown(fmt_num(row["effect_size"], 2), test("effect_size")),
        "ci_low": _shown(fmt_num(row["effect_low"], 2), test("effect_low")),
        "ci_high": _shown(fmt_num(row["effect_high"], 2), test("effect_high")),
    }
    tail = "{effect} = {estimate}, 95% CI {ci_low} to {ci_high}; {test}, adjusted {p}"
    generic = say("{variable} differs {across} (" + tail + ").", variable=variable, across=across,
                  **slots, fallback=plain)
    if row["kind"] == "numeric":
        return _numeric_headline(row, i, extra, params, tail, slots, generic, min_count)
    comparison = extra.get("comparison")
    rows = extra["rows"]
    if comparison is not None:
        (r1, r2), g = comparison["rates"], comparison["group"]
        used = extra["used_groups"]

        def rate(category: str, value: float) -> Value:
            return _shown(fmt_pct(value), *(Cell("crosstab", "n", rows[(category, u)]) for u in used))

        if row["effect"] == "risk difference":
            tail = ("a difference of {estimate} percentage points, 95% CI {ci_low} to {ci_high}; {test}, "
                    "adjusted {p}")
            slots.update({
                "estimate": _shown(fmt_num(100 * row["effect_size"], 2), test("effect_size")),
                "ci_low": _shown(fmt_num(100 * row["effect_low"], 2), test("effect_low")),
                "ci_high": _shown(fmt_num(100 * row["effect_high"], 2), test("effect_high")),
            })
        return say(
            "The share with {group} = {g} is {word} where {variable} is {exposed} ({r1}) than where it is "
            "{reference} ({r2}) (" + tail + ").",
            group=group, g=str(g), word=_shown("higher" if r1 > r2 else "lower", *_row_cells(rows, comparison, used)),
            variable=variable, exposed=str(comparison["exposed"]), reference=str(comparison["reference"]),
            r1=rate(comparison["exposed"], r1), r2=rate(comparison["reference"], r2), **slots,
            fallback=say("{variable} is associated with {group} (" + tail + ").", variable=variable, group=group,
                         **slots, fallback=plain),
        )
    described = groups[0] if params.group_value or len(groups) == 2 else None
    if described is not None and described in extra.get("used_groups", []):
        used, table = extra["used_groups"], extra["used"]
        col = used.index(described)
        rates = []
        for k, category in enumerate(extra["used_categories"]):
            if category.startswith("Other (") or any(c < min_count for c in table[k]):
                continue  # only categories large enough to publish are compared in words
            rates.append((table[k, col] / table[k].sum(), category))
        if len(rates) >= 2:
            rates.sort()
            (low, low_cat), (high, high_cat) = rates[0], rates[-1]

            def rate_of(category: str, value: float) -> Value:
                return _shown(fmt_pct(value), *(Cell("crosstab", "n", rows[(category, u)]) for u in used))

            return say(
                "The share with {group} = {g} varies with {variable}, from {low} ({low_category}) to {high} "
                "({high_category}) (" + tail + ").",
                group=group, g=str(described), variable=variable, low=rate_of(low_cat, low), low_category=low_cat,
                high=rate_of(high_cat, high), high_category=high_cat, **slots, fallback=generic,
            )
    return say("{variable} is associated with {group} (" + tail + ").", variable=variable, group=group,
               **slots, fallback=plain)


def _row_cells(rows: dict[tuple[Any, Any], int], comparison: dict[str, Any], used: list[str]) -> list[Cell]:
    return [Cell("crosstab", "n", rows[(c, u)]) for c in (comparison["exposed"], comparison["reference"]) for u in used]


def _numeric_headline(row, i, extra, params, tail, slots, generic, min_count) -> Any:
    variable, group = row["variable"], params.group
    first = extra["first_row"]
    summaries = {s["group"]: (first + k, s) for k, s in enumerate(extra["groups"])}
    used = extra.get("used_groups", [])

    def stat(name: str, key: str) -> Value:
        index, s = summaries[name]
        return _shown(fmt_num(s[key]), Cell("numeric_groups", key, index))

    def both(name_a: str, name_b: str, key: str, text: str) -> Value:
        return _shown(text, Cell("numeric_groups", key, summaries[name_a][0]),
                      Cell("numeric_groups", key, summaries[name_b][0]))

    if len(used) == 2:
        a, b = used  # the described group first when there is one
        sa, sb = summaries[a][1], summaries[b][1]
        if row["effect"] == "rank-biserial r":
            word = "higher" if row["effect_size"] > 0 else "lower"
            if sa["median"] != sb["median"]:
                return say(
                    "{variable} tends to be {word} where {group} is {a} than where it is {b} (median {ma} vs "
                    "{mb}; " + tail + ").",
                    variable=variable, word=_shown(word, Cell("tests", "effect_size", i)), group=group,
                    a=a, b=b, ma=stat(a, "median"), mb=stat(b, "median"), **slots, fallback=generic,
                )
            return say(
                "{variable} tends to be {word} where {group} is {a} than where it is {b} (median {ma} in both; "
                "mean {meana} vs {meanb}; " + tail + ").",
                variable=variable, word=_shown(word, Cell("tests", "effect_size", i)), group=group,
                a=a, b=b, ma=stat(a, "median"), meana=stat(a, "mean"), meanb=stat(b, "mean"), **slots,
                fallback=generic,
            )
        word = "higher" if sa["mean"] >= sb["mean"] else "lower"
        return say(
            "{variable} is {word} on average where {group} is {a} than where it is {b} (mean {ma} vs {mb}; "
            + tail + ").",
            variable=variable, word=both(a, b, "mean", word), group=group, a=a, b=b,
            ma=stat(a, "mean"), mb=stat(b, "mean"), **slots, fallback=generic,
        )
    key = "median" if row["test"].startswith("Kruskal") else "mean"
    # only groups large enough to publish are compared in words
    candidates = [(s[key], name) for name, (_, s) in summaries.items()
                  if name in used and s["n"] >= min_count and s[key] is not None and math.isfinite(s[key])]
    if len(candidates) >= 2:
        candidates.sort()
        (_, low), (_, high) = candidates[0], candidates[-1]
        return say(
            "{variable} differs across {group}: the {key} ranges from {low} ({low_group}) to {high} "
            "({high_group}) (" + tail + ").",
            variable=variable, group=group, key=key, low=stat(low, key), low_group=low,
            high=stat(high, key), high_group=high, **slots, fallback=generic,
        )
    return generic


# --------------------------------------------------------------------------- figures


@drawing("significance.effects")
def draw_effects(d: Drawing) -> Any:
    """Each variable's effect with its interval, one panel per kind of effect; an effect whose
    statistics are suppressed is a marked stub where its dot would be."""
    frame = d.frame
    effects = frame["effect"].to_list()
    estimate, low, high = d.values("effect_size"), d.values("effect_low"), d.values("effect_high")
    hidden, significant, names = d.hidden("effect_size"), frame["significant"].to_list(), frame["variable"].to_list()
    measures = [e for e in dict.fromkeys(effects) if e]
    rows_of = {measure: [i for i, e in enumerate(effects) if e == measure] for measure in measures}
    tallest = max((len(r) for r in rows_of.values()), default=1)
    panel = (4.2, max(1.6, 0.3 * tallest + 0.9))
    fig, axes = small_multiples(max(len(measures), 1), columns=min(2, max(len(measures), 1)), panel=panel)
    for ax, measure in zip(axes, measures):
        rows = rows_of[measure]
        ys = list(range(len(rows)))[::-1]
        for y, i in zip(ys, rows):
            e = estimate[i]
            if math.isnan(e):
                continue
            lo = low[i] if low[i] == low[i] else e
            hi = high[i] if high[i] == high[i] else e
            colour = PALETTE[1] if significant[i] == "yes" else PALETTE[0]
            ax.errorbar([e], [y], xerr=[[max(e - lo, 0)], [max(hi - e, 0)]], fmt="o", ms=4, capsize=2, color=colour)
        null = 1.0 if measure in ("odds ratio", "risk ratio") else 0.0
        ax.axvline(null, color="#8c8c8c", lw=0.8, ls="--")
        ax.set_ylim(-0.8, len(rows) - 0.2)
        mark_suppressed(ax, [y for y, i in zip(ys, rows) if hidden[i]], horizontal=True, symbol=d.rules.symbol)
        ax.set_yticks(ys, [str(names[i])[:22] for i in rows], fontsize=7)
        ax.set_title(measure)
    return fig


@drawing("significance.group_means")
def draw_group_means(d: Drawing) -> Any:
    """Each group's mean with its interval, one panel per variable; a suppressed group is a
    marked stub, never an empty row."""
    frame = d.frame
    present = set(frame["variable"].to_list())
    variables = [v for v in d.options["variables"] if v in present]
    fig, axes = small_multiples(max(len(variables), 1))
    mean, low, high = d.values("mean"), d.values("ci_low"), d.values("ci_high")
    hidden, names, var = d.hidden("mean"), frame["group"].to_list(), frame["variable"].to_list()
    for ax, variable in zip(axes, variables):
        rows = [i for i, v in enumerate(var) if v == variable]
        ys = list(range(len(rows)))[::-1]
        for y, i in zip(ys, rows):
            if mean[i] != mean[i]:
                continue
            err = [[max(mean[i] - low[i], 0) if low[i] == low[i] else 0],
                   [max(high[i] - mean[i], 0) if high[i] == high[i] else 0]]
            ax.errorbar([mean[i]], [y], xerr=err, fmt="o", ms=3, capsize=2, color=PALETTE[0])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.margins(x=0.1)
        mark_suppressed(ax, [y for y, i in zip(ys, rows) if hidden[i]], horizontal=True, symbol=d.rules.symbol)
        ax.set_yticks(ys, [str(g)[:18] for g in (names[i] for i in rows)], fontsize=7)
        ax.set_title(variable)
        ax.set_xlabel("mean")
    return fig
