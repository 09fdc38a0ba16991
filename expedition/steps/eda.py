"""`eda`: what the data look like — distributions, missingness, outcome rates by category."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field

from expedition.errors import StepError
from expedition.steps import (
    RECORDED,
    Cell,
    Chart,
    Count,
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
from expedition.steps._columns import (  # noqa: F401
    NEGATIVE,
    POSITIVE,
    binary_outcome,
    classify_columns,
)
from expedition.steps._plot import (
    MIN_PERIODS,
    PALETTE,
    Drawing,
    drawing,
    mark_incomplete,
    mark_suppressed,
    short_label,
    new_figure,
    small_multiples,
)
from expedition.steps._text import fmt_num

MAX_CORRELATED = 20
#: the missing-value patterns are counted over at most this many columns: with three, every
#: pattern count is tied to the per-column missing counts through totals the disclosure gate
#: sees (a grid of two columns within each value of the third)
MAX_PATTERN_COLUMNS = 3
#: the histogram bin (and outcome band) of values that are not a number
NOT_A_NUMBER = "not a number"
#: names of the patterns table's own columns (a data column of the same name gets a suffix)
PATTERN_COLUMNS = ("pattern", "columns_missing", "n", "share")


class EDAParams(StepParams):
    variables: list[str] | None = Field(
        None,
        description="columns to describe; default: every column except identifiers and free text",
    )
    outcome: str | None = Field(
        None, description="a binary outcome column; rates are shown by category of each variable"
    )
    outcome_value: str | None = Field(
        None,
        description="the value of the outcome that counts as 'yes' (default: 1/true/yes)",
    )
    max_categories: int = Field(
        15, ge=2, le=100, description="categories shown per variable; the rest become 'Other'"
    )
    bins: int = Field(20, ge=5, le=100, description="histogram bins for numeric variables")
    bands: int = Field(5, ge=2, le=10, description="quantile bands for outcome rates by number")


class EDA(Step):
    """Exploratory data analysis: per-variable distributions, missing values, outcome rates.

    Numeric variables are summarised by mean, standard deviation and percentiles (the 5th and
    95th instead of the minimum and maximum, which describe single records), for variables with
    at least as many values as the disclosure threshold, and drawn as histograms: equal bins
    between the 1st and 99th percentiles (one bar per whole number for small whole-number
    ranges), the first and last bins open-ended so that no extreme value is shown. Categorical
    variables are counted, their categories listed alphabetically (an order by size would let a
    reader bound a suppressed count by its neighbours); the rarest beyond the first
    max_categories become one 'Other' category. Every breakdown has a row for the records with
    no value, so its rows add up to all records. Missing values are counted per column, and the
    combinations of missing values (the missingness pattern) are counted over the three columns
    with the most missing values. Numeric variables (and the outcome, as 0/1) are correlated
    pairwise by Spearman's rank correlation on the records where both are present (a pair with
    fewer such records than the disclosure threshold is not correlated), drawn as a heat map.
    When an outcome is given, the share of records with the outcome is shown overall, for each
    category (and each quantile band of numeric variables) with a Wilson 95% confidence
    interval. Records with no value for the outcome are counted among those without it when
    there are fewer of them than the disclosure threshold, and otherwise left out of every table
    (so no two tables differ by them). Date columns are
    counted by month, and with an outcome its monthly rate is shown with Wilson intervals (the
    trend over time). Every count passes disclosure control before any table, sentence or
    figure is published.
    """

    name = "eda"
    summary = "Distributions, missing values and patterns, correlations, outcome rates and trends over time (descriptive)."
    version = "4"
    Params = EDAParams
    outputs: ClassVar[dict[str, str]] = {
        "missingness": "missing values per column",
        "missing_patterns": "records per combination of missing values (the three columns with the most)",
        "numeric_summary": "mean, standard deviation and percentiles of numeric variables",
        "histograms": "records per bin of each numeric variable",
        "categories": "records per category of each categorical variable",
        "correlations": "Spearman rank correlation of each pair of numeric variables",
        "monthly_counts": "records per month of each date column",
        "outcome": "records with the outcome, overall, with a Wilson 95% CI (with an outcome)",
        "monthly_outcome": "outcome rate per month with Wilson 95% CIs (with an outcome)",
        "outcome_rates": "outcome rate per category or quantile band, with Wilson 95% CIs",
        "figures": "histograms, categories, missing_patterns, correlations, monthly_counts, "
        "monthly_outcome, outcome_rates",
    }

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.referrals import generate

        frame = generate(300, seed=10).select(
            "referral_date", "district", "age", "prior_referrals", "sex", "rereferred_12m"
        )
        return frame.lazy(), {"outcome": "rereferred_12m", "outcome_value": "yes"}

    @classmethod
    def recode_columns(cls, params: EDAParams, columns: list[str]) -> list[str]:
        """The columns it may count as categories: the variables named, else every column but
        the outcome (the runner recodes only text and categorical columns)."""
        chosen = params.variables if params.variables else columns
        return [c for c in chosen if c != params.outcome]

    @classmethod
    def recode_keep(cls, params: EDAParams) -> list[Any]:
        return [params.outcome_value] if params.outcome_value is not None else []

    def run(self, frame: Any, params: EDAParams, ctx: StepContext) -> Finding:
        import polars as pl

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        columns = data.columns
        require_columns(columns, params.variables or [], param="variables", step=self.name)
        require_columns(columns, [params.outcome], param="outcome", step=self.name)
        if data.height == 0:
            raise StepError("step 'eda': the dataset has no rows", "check the delivery and validation")
        m = ctx.min_count
        total = data.height
        caveats: list[Any] = []
        # with an outcome, one population for every table: records without the outcome, when too
        # few to publish, are counted among those without it; otherwise they are left out of every
        # table (left out of the rates only, their number by category would be the difference
        # between two published counts)
        outcome = params.outcome
        y = label = None
        cond: dict[str, Any] = {}
        unknown = 0
        if outcome:
            y, label = binary_outcome(data[outcome], params.outcome_value, outcome)
            unknown = int(y.null_count())
            if 0 < unknown < m:
                y = y.fill_null(0)
                caveats.append(say(
                    "The records with no value for {outcome}, too few to publish, are counted among those "
                    "without {outcome} = {label}.", outcome=outcome, label=label,
                ))
            elif unknown:
                cond = {outcome: RECORDED}
                data = data.filter(y.is_not_null())
                y = y.drop_nulls()
                caveats.append(say(
                    "{n} records with no value for {outcome} are left out of every table.",
                    n=Count(unknown, {outcome: None}), outcome=outcome,
                    fallback=say("The records with no value for {outcome} are left out of every table.",
                                 outcome=outcome),
                ))
        kinds = classify_columns(data, exclude=[params.outcome] if params.outcome else [])
        if params.variables:
            chosen = [c for c in params.variables if c != params.outcome]
        else:
            rare = _recoded_away(data, kinds, m)
            chosen = [c for c, k in kinds.items() if k in {"numeric", "categorical", "date"} and c not in rare]
            skipped = [c for c, k in kinds.items() if k in {"identifier", "text"}]
            if skipped:
                caveats.append(
                    "Not described (identifiers, personal data or free text): " + ", ".join(skipped) + "."
                )
            if rare:
                caveats.append(
                    "Not described (every value is rarer than the disclosure threshold, as in "
                    "identifiers or free text): " + ", ".join(rare) + "."
                )
        numeric = [c for c in chosen if kinds.get(c) == "numeric"]
        categorical = [c for c in chosen if kinds.get(c) in {"categorical", "identifier", "text"}]
        dates = [c for c in chosen if kinds.get(c) == "date" and _is_dated(data.schema[c])]
        times = [c for c in chosen if kinds.get(c) == "date" and c not in dates]
        if times:
            caveats.append("Not described (times of day or durations): " + ", ".join(times) + ".")
        ctx.report(0.1, "missing values")

        tables: dict[str, Table] = {}
        figures: dict[str, Chart] = {}
        records = Count(total)
        described = {"w": f"{data.width:,}", "k": f"{len(chosen):,}"}
        plain = say("The data have {w} columns; {k} are described here.", **described)
        if cond:
            first = say(
                "The data hold {n} records with {w} columns; {k} are described here, for the {known} "
                "records with a value for {outcome}.",
                n=records, known=Count(data.height, cond), outcome=str(outcome), **described,
                fallback=say("The data hold {n} records with {w} columns; {k} are described here, for the "
                             "records with a value for {outcome}.", n=records, outcome=str(outcome),
                             **described, fallback=plain),
            )
        else:
            first = say("The data hold {n} records with {w} columns; {k} are described here.", n=records,
                        **described, fallback=plain)
        headlines: list[Any] = [first]

        # missingness ------------------------------------------------------------------
        missing = [int(v) for v in data.null_count().row(0)]
        tables["missingness"] = _missingness(columns, missing, data.height, cond)
        with_missing = [(c, v) for c, v in zip(columns, missing) if v > 0]
        if not with_missing:
            headlines.append("No column has missing values.")
        else:
            most = max(range(len(columns)), key=lambda i: (missing[i], -i))
            counted = f"{len(with_missing):,}"
            headlines.append(say(
                "{k} of {w} columns have missing values; the most is {variable} ({share} missing).",
                k=counted, w=f"{data.width:,}", variable=columns[most],
                share=Cell("missingness", "missing_share", most),
                fallback=say("{k} of {w} columns have missing values.", k=counted, w=f"{data.width:,}"),
            ))
            by_most = sorted(with_missing, key=lambda cv: (-cv[1], columns.index(cv[0])))
            pattern_columns = [c for c in columns if c in {c for c, _ in by_most[:MAX_PATTERN_COLUMNS]}]
            tables["missing_patterns"], flags = _missing_patterns(data, pattern_columns, cond)
            figures["missing_patterns"] = Chart(
                "Missing-value patterns",
                "eda.missing_patterns",
                "missing_patterns",
                alt="A grid of the columns missing together in each pattern (red squares), beside bars "
                "of the records with each pattern; patterns too small to publish are marked.",
                options={"flags": flags, "columns": pattern_columns},
            )
            if len(with_missing) > MAX_PATTERN_COLUMNS:
                caveats.append(
                    f"Missing-value patterns are counted over the {MAX_PATTERN_COLUMNS} columns with the "
                    "most missing values: " + ", ".join(pattern_columns) + "."
                )

        # numeric summaries and histograms ----------------------------------------------
        ctx.report(0.3, "numeric variables")
        if numeric:
            tables["numeric_summary"] = _numeric_summary(data, numeric, caveats, m)
            tables["histograms"] = _histograms(data, numeric, params.bins, cond)
            figures["histograms"] = Chart(
                "Distributions of numeric variables",
                "eda.histograms",
                "histograms",
                alt="Histograms, one per numeric variable; the first and last bins hold everything below "
                "and above them; bins too small to publish are marked.",
                options={"variables": numeric},
            )

        # categorical counts ---------------------------------------------------------------
        ctx.report(0.5, "categorical variables")
        levels = {c: _levels(data, c, params.max_categories) for c in categorical}
        if categorical:
            tables["categories"] = _category_counts(data, categorical, levels, cond)
            figures["categories"] = Chart(
                "Records by category",
                "eda.categories",
                "categories",
                alt="Bar charts of records per category, one per categorical variable; categories too "
                "small to publish are marked.",
                options={"variables": categorical},
            )

        # dates -----------------------------------------------------------------------------
        timed: list[str] = []
        incomplete: list[str] = []
        if dates:
            ctx.report(0.6, "trends over time")
            tables["monthly_counts"] = _monthly_counts(data, dates, cond)
            timed, incomplete = _periods(data, dates)
            if timed:
                figures["monthly_counts"] = Chart(
                    "Records per month",
                    "eda.monthly_counts",
                    "monthly_counts",
                    alt="Line charts of records per month, one per date column; months too small to "
                    "publish are marked and break the line; a last month the data end part-way "
                    "through is shaded and marked incomplete.",
                    options={"variables": timed, "incomplete": incomplete},
                )
            for column in dates:
                sentence = _trend_headline(tables["monthly_counts"], column)
                if sentence is not None:
                    headlines.append(sentence)

        # outcome rates ---------------------------------------------------------------------
        metrics: dict[str, Any] = {"rows": records, "columns": float(data.width)}
        if outcome and y is not None:
            ctx.report(0.7, "outcome rates")
            yes = {outcome: label}
            among = " of the records with a value" if cond else " of records"
            work = data.with_columns(y.alias("__outcome__"))
            tables["outcome"] = _overall_outcome(work, cond, yes)
            metrics.update({"outcome_rate": Cell("outcome", "rate", 0), "outcome_n": Cell("outcome", "outcome_n", 0)})
            headlines.append(say(
                "Overall, {rate}" + among + " have {outcome} = {label} ({k} of {n}).",
                rate=Cell("outcome", "rate", 0), outcome=outcome, label=label,
                k=Cell("outcome", "outcome_n", 0), n=Cell("outcome", "n", 0),
                fallback=say(
                    "{k} records have {outcome} = {label}.",
                    k=Cell("outcome", "outcome_n", 0), outcome=outcome, label=label,
                    fallback=say("The overall share with {outcome} = {label} rests on counts too small to publish.",
                                 outcome=outcome, label=label),
                ),
            ))
            options = {"outcome": outcome, "label": label}
            if dates:
                tables["monthly_outcome"] = _monthly_outcome(work, dates, cond, yes)
            if timed:
                figures["monthly_outcome"] = Chart(
                    f"Share with {outcome} = {label} by month",
                    "eda.monthly_outcome",
                    "monthly_outcome",
                    alt="Line charts of the monthly outcome rate with a shaded 95% confidence band; the "
                    "dashed line is the overall rate; months too small to publish are marked and break "
                    "the line.",
                    options={**options, "variables": timed, "incomplete": incomplete},
                    also=("outcome",),
                )
            rates = _outcome_rates(work, categorical, numeric, levels, params.bands, cond, yes)
            tables["outcome_rates"] = rates
            if rates.frame.height:
                figures["outcome_rates"] = Chart(
                    f"Share with {outcome} = {label}, by category",
                    "eda.outcome_rates",
                    "outcome_rates",
                    alt="Dot plots of the outcome rate per category with 95% confidence intervals; the "
                    "dashed line is the overall rate; categories too small to publish are marked.",
                    options={**options, "variables": rates.frame["variable"].unique(maintain_order=True).to_list()},
                    also=("outcome",),
                )
            spread = _widest_spread(rates, m)
            if spread is not None:
                variable, low, high = spread
                frame_ = rates.frame

                def cell(column: str, row: int) -> Cell:
                    return Cell("outcome_rates", column, row)

                headlines.append(say(
                    "The outcome rate varies most by {variable}: from {low} ({low_category}, 95% CI "
                    "{low_from}–{low_to}) to {high} ({high_category}, 95% CI {high_from}–{high_to}).",
                    variable=variable,
                    low=cell("rate", low), low_category=str(frame_["category"][low]),
                    low_from=cell("ci_low", low), low_to=cell("ci_high", low),
                    high=cell("rate", high), high_category=str(frame_["category"][high]),
                    high_from=cell("ci_low", high), high_to=cell("ci_high", high),
                    fallback=say("The outcome rate varies by {variable} (see the table of outcome rates).",
                                 variable=variable),
                ))
            caveats.append(
                "Rates by category are descriptive: a difference here is not evidence that the "
                "category causes the outcome, and it has not been tested for chance (see the "
                "significance step)."
            )

        # correlations ------------------------------------------------------------------------
        ctx.report(0.85, "correlations")
        corr_columns = list(numeric)
        data_corr = data
        if outcome and y is not None:
            name = f"{outcome} = {label}"
            data_corr = data.with_columns(y.alias(name))
            corr_columns.append(name)
        if len(corr_columns) > MAX_CORRELATED:
            caveats.append(
                f"Correlations are shown for the first {MAX_CORRELATED} numeric variables only."
            )
            corr_columns = corr_columns[:MAX_CORRELATED]
        if len(corr_columns) >= 2:
            corr = _correlations(data_corr, corr_columns, max(m, 3))
            tables["correlations"] = corr
            figures["correlations"] = Chart(
                "Correlations between numeric variables",
                "eda.correlations",
                "correlations",
                alt="Heat map of Spearman rank correlations between each pair of numeric variables, red "
                "for positive and blue for negative; grey where too few records have both values.",
                options={"columns": corr_columns},
            )
            strongest = _strongest_correlation(corr)
            if strongest is not None:
                headlines.append(strongest)
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title="What the data look like",
            headlines=headlines,
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


# --------------------------------------------------------------------------- choosing columns


def _is_dated(dtype: Any) -> bool:
    import polars as pl

    return dtype == pl.Date or isinstance(dtype, pl.Datetime)


def _recoded_away(data: Any, kinds: dict[str, str], min_count: int) -> list[str]:
    """Text columns left holding only the runner's rare-category label: every value was rarer
    than the threshold (an identifier or free text), so there is nothing to describe."""
    import polars as pl

    from expedition.disclosure.recode import other_label

    other = other_label(min_count)
    out = []
    for column, kind in kinds.items():
        if kind != "categorical" or data.schema[column] != pl.String:
            continue
        values = data[column].drop_nulls().unique().to_list()
        if values == [other]:
            out.append(column)
    return out


# --------------------------------------------------------------------------- tables


def _missingness(columns: list[str], missing: list[int], total: int, cond: dict[str, Any]) -> Table:
    import polars as pl

    frame = pl.DataFrame(
        {"variable": columns, "missing": missing, "missing_share": [v / total for v in missing]},
        schema={"variable": pl.String, "missing": pl.Int64, "missing_share": pl.Float64},
    )
    return Table(
        frame,
        {"variable": "label", "missing": "count", "missing_share": "rate"},
        title="Missing values by column",
        description="Records with no value in each column, and their share of all records.",
        denominators={"missing_share": "missing"},
        dimensions=[],  # the rows are different columns: they add up to nothing
        keys=Keys(subject="variable", variables={"variable": None}, counts={"missing": {"@": None, **cond}}),
    )


def _missing_patterns(data: Any, columns: list[str], cond: dict[str, Any]) -> tuple[Table, list[str]]:
    """Records per combination of missing values over *columns* (at most three): one row per
    combination, every combination listed (zeros too), so the rows are a complete grid.

    Each column has a label column of its own holding, per pattern, nothing (missing) or
    "*recorded*" (`expedition.finding.RECORDED`): the gate keys each count by exactly those
    conditions, so a pattern count is the same number as the per-column counts it adds up to.
    """
    import itertools

    import polars as pl

    flags = [f"{c} (column)" if c in PATTERN_COLUMNS else c for c in columns]
    grouped = data.select(pl.col(c).is_null().alias(f) for c, f in zip(columns, flags)).group_by(flags).len()
    counts = {tuple(row[:-1]): int(row[-1]) for row in grouped.iter_rows()}
    combos = sorted(itertools.product([False, True], repeat=len(columns)), key=lambda c: (sum(c), c))
    rows = []
    for combo in combos:
        missing = [c for c, flag in zip(columns, combo) if flag]
        rows.append(
            [None if flag else RECORDED for flag in combo]
            + [" + ".join(missing) if missing else "(nothing missing)", len(missing), counts.get(combo, 0)]
        )
    schema = {**{f: pl.String for f in flags}, "pattern": pl.String, "columns_missing": pl.Int64, "n": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    frame = frame.with_columns((pl.col("n") / data.height).alias("share"))
    kinds = {f: "label" for f in flags}
    kinds.update({"pattern": "text", "columns_missing": "statistic", "n": "count", "share": "rate"})
    dims = flags if len(flags) <= 2 else flags[-2:]
    table = Table(
        frame,
        kinds,
        title="Missing-value patterns",
        description="Records by the combination of columns that are missing together (among the "
        f"{len(columns)} column(s) with the most missing values): in each column's own column, empty "
        "where it is missing and *recorded* where it has a value.",
        denominators={"share": "n"},
        dimensions=dims,
        keys=Keys(variables=dict(zip(flags, columns)), counts={"n": dict(cond)}),
    )
    return table, flags


def _numeric_summary(data: Any, numeric: list[str], caveats: list[Any], min_count: int) -> Table:
    """Mean, standard deviation and percentiles of each numeric variable's finite values; empty
    for a variable with fewer finite values than *min_count* (a handful of records)."""
    import polars as pl

    rows = []
    few = []
    for column in numeric:
        raw = data[column].cast(pl.Float64).drop_nulls()
        s = raw.filter(raw.is_finite())
        if raw.len() > s.len():
            caveats.append(
                f"{column}: infinite or not-a-number values are left out of its mean, standard "
                "deviation and percentiles."
            )
        row: dict[str, Any] = {"variable": column}
        if s.len() < max(min_count, 1):
            few.append(column)
            rows.append(row)
            continue
        mean, sd = s.mean(), s.std()
        if (mean is not None and not math.isfinite(mean)) or (sd is not None and not math.isfinite(sd)):
            caveats.append(
                f"{column}: the values are too extreme to average (the sums overflow), so its mean "
                "and standard deviation are not shown; the percentiles are."
            )
            mean = sd = None
        row.update({
            "mean": mean,
            "sd": sd,
            "p05": s.quantile(0.05, "linear"),
            "p25": s.quantile(0.25, "linear"),
            "median": s.median(),
            "p75": s.quantile(0.75, "linear"),
            "p95": s.quantile(0.95, "linear"),
        })
        rows.append(row)
    stats = ["mean", "sd", "p05", "p25", "median", "p75", "p95"]
    frame = pl.DataFrame(rows, schema={"variable": pl.String, **{c: pl.Float64 for c in stats}})
    kinds = {c: "statistic" for c in stats}
    kinds["variable"] = "label"
    if few:
        caveats.append(
            "Not summarised (too few values to describe without describing single records): "
            + ", ".join(few) + "."
        )
    return Table(
        frame,
        kinds,
        title="Numeric variables",
        description="Mean, standard deviation and percentiles of the finite values (how many values "
        "each variable has is the number of records less its missing values).",
        dimensions=[],
    )


def _edge_texts(values: list[float]) -> list[str]:
    """Numbers written with as few significant figures (three or more) as keep them distinct."""
    for digits in range(3, 16):
        texts = [fmt_num(float(v), digits) for v in values]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(float(v)) for v in values]


def _bins(values: Any, bins: int) -> list[tuple[str, float | None, float | None, int]]:
    """(label, start, end, count) of each bin of *values* (finite or infinite, no NaN).

    Equal bins between the 1st and 99th percentiles of the finite values, the first and last
    open-ended ("< a", "≥ b") so that the most extreme values are never shown as values; for
    whole numbers spanning no more than *bins* values, one bar per whole number ("≤ a" and "≥ b"
    at the ends). Written by hand because the open ends and exact labels matter here (NumPy's
    histogram closes both ends at the data's extremes).
    """
    import numpy as np

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        below = int((values < 0).sum())
        return [("< 0", None, 0.0, below), ("≥ 0", 0.0, None, int(values.size - below))]
    lo, hi = (float(q) for q in np.quantile(finite, [0.01, 0.99]))
    if bool(np.all(np.mod(finite, 1) == 0)):
        a, b = math.ceil(lo), math.floor(hi)
        if b < a:
            a, b = math.floor(lo), math.ceil(hi)
        if b - a + 1 <= bins:
            if a == b:
                return [
                    (f"< {a}", None, float(a), int((values < a).sum())),
                    (f"{a}", float(a), float(a), int((values == a).sum())),
                    (f"> {a}", float(a), None, int((values > a).sum())),
                ]
            out = [(f"≤ {a}", None, float(a), int((values <= a).sum()))]
            out += [(f"{v}", float(v), float(v), int((values == v).sum())) for v in range(a + 1, b)]
            out.append((f"≥ {b}", float(b), None, int((values >= b).sum())))
            return out
    if hi <= lo:
        (text,) = _edge_texts([lo])
        return [
            (f"< {text}", None, lo, int((values < lo).sum())),
            (text, lo, lo, int((values == lo).sum())),
            (f"> {text}", lo, None, int((values > lo).sum())),
        ]
    edges = np.linspace(lo, hi, bins + 1)
    inner = edges[1:-1]
    texts = _edge_texts(list(inner))
    tally = np.bincount(np.searchsorted(inner, values, side="right"), minlength=bins)
    out = [(f"< {texts[0]}", None, float(inner[0]), int(tally[0]))]
    for i in range(1, bins - 1):
        out.append((f"[{texts[i - 1]}, {texts[i]})", float(inner[i - 1]), float(inner[i]), int(tally[i])))
    out.append((f"≥ {texts[-1]}", float(inner[-1]), None, int(tally[bins - 1])))
    return out


def _histograms(data: Any, numeric: list[str], bins: int, cond: dict[str, Any]) -> Table:
    import numpy as np
    import polars as pl

    out = []
    for column in numeric:
        s = data[column].cast(pl.Float64)
        missing = s.null_count()
        present = s.drop_nulls().to_numpy()
        nan = np.isnan(present)
        for label, start, end, n in _bins(present[~nan], bins):
            out.append((column, label, start, end, n))
        if nan.any():
            out.append((column, NOT_A_NUMBER, None, None, int(nan.sum())))
        if missing:
            out.append((column, None, None, None, int(missing)))
    frame = pl.DataFrame(
        out,
        schema={"variable": pl.String, "bin": pl.String, "bin_start": pl.Float64, "bin_end": pl.Float64, "n": pl.Int64},
        orient="row",
    )
    return Table(
        frame,
        {"variable": "label", "bin": "label", "bin_start": "statistic", "bin_end": "statistic", "n": "count"},
        title="Histograms of numeric variables",
        description="Records per bin; the first bin holds every value below it and the last every value "
        "above it; an empty bin is the records with no value.",
        dimensions=["bin"],
        keys=Keys(pairs=("variable", "bin"), counts={"n": dict(cond)}),
    )


def _levels(data: Any, column: str, max_categories: int) -> tuple[list[str], str | None]:
    """The *max_categories* most common values (ties by value) and the label of the rest."""
    import polars as pl

    counts = (
        data.select(pl.col(column).cast(pl.String).alias("v"))
        .drop_nulls()
        .group_by("v")
        .len()
        .sort(["len", "v"], descending=[True, False])
    )
    values = counts["v"].to_list()
    top = values[:max_categories]
    rest = len(values) - len(top)
    if not rest:
        return top, None
    other = f"Other ({rest} {'category' if rest == 1 else 'categories'})"
    while other in top:  # a real category of that name
        other += " "
    return top, other


def _category_expr(column: str, top: list[str], other: str | None) -> Any:
    import polars as pl

    text = pl.col(column).cast(pl.String)
    if other is None:
        return text.alias("category")
    return pl.when(text.is_null()).then(None).when(text.is_in(top)).then(text).otherwise(pl.lit(other)).alias("category")


def _order(categories: list[Any], top: list[str], other: str | None) -> list[Any]:
    """Categories alphabetically, then 'Other', then the records with no value."""
    present = set(categories)
    ordered: list[Any] = sorted(c for c in top if c in present)
    if other is not None and other in present:
        ordered.append(other)
    if None in present:
        ordered.append(None)
    return ordered


def _category_counts(
    data: Any, categorical: list[str], levels: dict[str, tuple[list[str], str | None]], cond: dict[str, Any]
) -> Table:
    import polars as pl

    out = []
    for column in categorical:
        top, other = levels[column]
        grouped = data.select(_category_expr(column, top, other)).group_by("category").len()
        counts = dict(zip(grouped["category"].to_list(), grouped["len"].to_list()))
        for category in _order(list(counts), top, other):
            out.append((column, category, int(counts[category])))
    frame = pl.DataFrame(out, schema={"variable": pl.String, "category": pl.String, "n": pl.Int64}, orient="row")
    frame = frame.with_columns((pl.col("n") / data.height).alias("share"))
    return Table(
        frame,
        {"variable": "label", "category": "label", "n": "count", "share": "rate"},
        title="Categories",
        description="Records per category (alphabetically; the rarest beyond the first ones as 'Other', "
        "an empty category for the records with no value) and their share of all records.",
        denominators={"share": "n"},
        dimensions=["category"],
        keys=Keys(pairs=("variable", "category"), counts={"n": dict(cond)}),
    )


def _months(frame: Any, column: str) -> tuple[list[Any], dict[Any, int], int]:
    """Every month from the first to the last of a date column, records per month (zeros
    included) and the records with no date."""
    import polars as pl

    month = pl.col(column).cast(pl.Date).dt.truncate("1mo")
    grouped = frame.select(month.alias("month")).group_by("month").len()
    counts = dict(zip(grouped["month"].to_list(), grouped["len"].to_list()))
    missing = int(counts.pop(None, 0))
    if not counts:
        return [], {}, missing
    months = pl.date_range(min(counts), max(counts), "1mo", eager=True).to_list()
    return months, counts, missing


def _periods(data: Any, dates: list[str]) -> tuple[list[str], list[str]]:
    """The date columns spanning at least `MIN_PERIODS` months (worth a chart over time), and
    those whose last month is incomplete: the data end before its last day although the
    column holds days (not a month's first day standing for the month)."""
    import calendar

    import polars as pl

    timed, incomplete = [], []
    for column in dates:
        values = data.select(pl.col(column).cast(pl.Date).alias("d")).drop_nulls()
        if values.height == 0:
            continue
        first, last = values["d"].min(), values["d"].max()
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        if months < MIN_PERIODS:
            continue
        timed.append(column)
        days = values["d"].dt.day()
        if days.max() > 1 and last.day < calendar.monthrange(last.year, last.month)[1] - 1:
            incomplete.append(column)
    return timed, incomplete


def _monthly_counts(data: Any, dates: list[str], cond: dict[str, Any]) -> Table:
    import polars as pl

    out = []
    for column in dates:
        months, counts, missing = _months(data, column)
        out += [(column, month, int(counts.get(month, 0))) for month in months]
        if missing:
            out.append((column, None, missing))
    frame = pl.DataFrame(out, schema={"variable": pl.String, "month": pl.Date, "n": pl.Int64}, orient="row")
    return Table(
        frame,
        {"variable": "label", "month": "date", "n": "count"},
        title="Records per month",
        description="Records per month of each date column, from its first month to its last (months "
        "with none shown as 0); an empty month is the records with no date.",
        dimensions=["month"],
        keys=Keys(pairs=("variable", "month"), counts={"n": dict(cond)}),
    )


def _trend_headline(trend: Table, column: str) -> Any:
    """Average records per month in the latest 12 months against the 12 before (if known)."""
    frame = trend.frame
    part = [
        (i, month, n)
        for i, (variable, month, n) in enumerate(frame.select("variable", "month", "n").iter_rows())
        if variable == column and month is not None
    ]
    if len(part) < 26:
        return None
    # leave out the last month, which may be incomplete
    latest, before = part[-13:-1], part[-25:-13]
    a, b = sum(n for _, _, n in latest) / 12, sum(n for _, _, n in before) / 12
    if b == 0:
        return None
    change = a / b - 1
    word = "rose" if change > 0.05 else "fell" if change < -0.05 else "stayed level"
    cells = tuple(Cell("monthly_counts", "n", i) for i, _, _ in latest + before)
    period = f"{latest[0][1]:%b %Y}–{latest[-1][1]:%b %Y}"
    return say(
        "Records per month by {column} {word}: {latest} a month in {period} against {before} in the "
        "12 months before ({change}).",
        column=column, word=Value(word, sources=cells), latest=Value(fmt_num(a), sources=cells),
        period=period, before=Value(fmt_num(b), sources=cells), change=Value(f"{change:+.0%}", sources=cells),
        fallback=say("Records per month by {column}: see the table of monthly counts.", column=column),
    )


def _with_rates(frame: Any) -> Any:
    """Add the outcome rate (outcome_n / n) and its Wilson 95% interval to a frame of counts
    (empty where n is 0)."""
    import numpy as np
    import polars as pl

    from expedition.steps._stats import wilson_interval

    n = frame["n"].to_numpy()
    low, high = wilson_interval(frame["outcome_n"].to_numpy(), np.maximum(n, 1))
    empty = n == 0
    return frame.with_columns(
        pl.when(pl.col("n") > 0).then(pl.col("outcome_n") / pl.col("n")).otherwise(None).alias("rate"),
        pl.Series("ci_low", np.where(empty, np.nan, low), dtype=pl.Float64).fill_nan(None),
        pl.Series("ci_high", np.where(empty, np.nan, high), dtype=pl.Float64).fill_nan(None),
    )


_RATE_KINDS = {"n": "count", "outcome_n": "count", "rate": "rate", "ci_low": "rate", "ci_high": "rate"}
_RATE_SOURCES = {c: ["n", "outcome_n"] for c in ("rate", "ci_low", "ci_high")}


def _outcome_keys(cond: dict[str, Any], yes: dict[str, Any], **keys: Any) -> Keys:
    return Keys(counts={"n": dict(cond), "outcome_n": dict(yes)}, **keys)


def _overall_outcome(work: Any, cond: dict[str, Any], yes: dict[str, Any]) -> Table:
    import polars as pl

    frame = pl.DataFrame({"n": [work.height], "outcome_n": [int(work["__outcome__"].sum())]},
                         schema={"n": pl.Int64, "outcome_n": pl.Int64})
    return Table(
        _with_rates(frame),
        dict(_RATE_KINDS),
        title="Outcome overall",
        description="Records with a value for the outcome, those with the outcome, and their share "
        "with a Wilson 95% confidence interval.",
        denominators=_RATE_SOURCES,
        dimensions=[],
        keys=_outcome_keys(cond, yes),
    )


def _monthly_outcome(work: Any, dates: list[str], cond: dict[str, Any], yes: dict[str, Any]) -> Table:
    import polars as pl

    out = []
    for column in dates:
        months, counts, missing = _months(work, column)
        month = pl.col(column).cast(pl.Date).dt.truncate("1mo")
        grouped = work.select(month.alias("month"), "__outcome__").group_by("month").agg(pl.col("__outcome__").sum())
        positives = dict(zip(grouped["month"].to_list(), grouped["__outcome__"].to_list()))
        out += [(column, m, int(counts.get(m, 0)), int(positives.get(m) or 0)) for m in months]
        if missing:
            out.append((column, None, missing, int(positives.get(None) or 0)))
    frame = pl.DataFrame(
        out, schema={"variable": pl.String, "month": pl.Date, "n": pl.Int64, "outcome_n": pl.Int64}, orient="row"
    )
    return Table(
        _with_rates(frame),
        {"variable": "label", "month": "date", **_RATE_KINDS},
        title="Outcome rate by month",
        description="Share of records with the outcome in each month of each date column, with a "
        "Wilson 95% confidence interval; an empty month is the records with no date.",
        denominators=_RATE_SOURCES,
        dimensions=["month"],
        keys=_outcome_keys(cond, yes, pairs=("variable", "month")),
    )


def _outcome_rates(
    work: Any,
    categorical: list[str],
    numeric: list[str],
    levels: dict[str, tuple[list[str], str | None]],
    bands: int,
    cond: dict[str, Any],
    yes: dict[str, Any],
) -> Table:
    import numpy as np
    import polars as pl

    out: list[tuple[str, Any, int, int]] = []
    for column in categorical:
        top, other = levels[column]
        grouped = (
            work.select(_category_expr(column, top, other), "__outcome__")
            .group_by("category")
            .agg(pl.len().alias("n"), pl.col("__outcome__").sum().alias("outcome_n"))
        )
        counts = {c: (int(n), int(k)) for c, n, k in grouped.iter_rows()}
        for category in _order(list(counts), top, other):
            out.append((column, category, *counts[category]))
    for column in numeric:
        s = work[column].cast(pl.Float64)
        present = s.drop_nulls()
        finite = present.filter(present.is_finite()).to_numpy()
        if finite.size == 0:
            continue
        qs = np.unique(np.quantile(finite, np.linspace(0, 1, bands + 1)))
        if len(qs) < 3:
            continue
        inner = qs[1:-1]
        labels = _band_labels(qs, integer=bool(np.all(np.mod(finite, 1) == 0)))
        values = s.fill_null(np.nan).to_numpy()
        index = np.searchsorted(inner, values, side="right")  # NaN sorts last: relabelled below
        index = np.where(np.isnan(values), len(labels), index)
        index = np.where(s.is_null().to_numpy(), len(labels) + 1, index)
        grouped = (
            pl.DataFrame({"band": index, "y": work["__outcome__"]})
            .group_by("band")
            .agg(pl.len().alias("n"), pl.col("y").sum().alias("k"))
        )
        tally = {int(b): (int(n), int(k)) for b, n, k in grouped.iter_rows()}
        for b, name in enumerate([*labels, NOT_A_NUMBER, None]):
            if b in tally:
                out.append((column, name, *tally[b]))
    frame = pl.DataFrame(
        out, schema={"variable": pl.String, "category": pl.String, "n": pl.Int64, "outcome_n": pl.Int64}, orient="row"
    )
    return Table(
        _with_rates(frame),
        {"variable": "label", "category": "label", **_RATE_KINDS},
        title="Outcome rate by category",
        description="Share of records with the outcome in each category, with a Wilson 95% "
        "confidence interval. Numeric variables are cut into quantile bands (the first and last "
        "open-ended); an empty category is the records with no value.",
        denominators=_RATE_SOURCES,
        dimensions=["category"],
        keys=_outcome_keys(cond, yes, pairs=("variable", "category")),
    )


def _band_labels(edges: Any, *, integer: bool) -> list[str]:
    """Labels for bands [e0, e1), [e1, e2), ..., [e(k-1), ek], the first and last open-ended
    (they also hold values beyond the data's finite range) — whole numbers shown inclusively."""
    last = len(edges) - 2
    if integer:
        labels = []
        for i in range(len(edges) - 1):
            lo, hi = edges[i], edges[i + 1]
            start = math.ceil(lo)
            end = int(hi) if i == last else math.ceil(hi) - 1
            if i == 0:
                labels.append(f"up to {end}")
            elif i == last:
                labels.append(f"{start} or more")
            else:
                labels.append(str(start) if start >= end else f"{start}–{end}")
        return labels
    texts = _edge_texts(list(edges[1:-1]))
    labels = [f"under {texts[0]}"]
    labels += [f"{texts[i - 1]} to <{texts[i]}" for i in range(1, last)]
    labels.append(f"{texts[-1]} or more")
    return labels


def _widest_spread(rates: Table, min_count: int) -> tuple[str, int, int] | None:
    """The variable whose categories' rates differ most, among categories large enough to
    publish (records, with and without the outcome): (variable, lowest row, highest row)."""
    best = None
    by_variable: dict[str, list[tuple[float, str, int]]] = {}
    frame = rates.frame
    for i, (variable, category, n, k, rate) in enumerate(
        frame.select("variable", "category", "n", "outcome_n", "rate").iter_rows()
    ):
        if category is None or category.startswith("Other (") or category == NOT_A_NUMBER or rate is None:
            continue
        if n < min_count or k < min_count or n - k < min_count:
            continue
        by_variable.setdefault(variable, []).append((rate, category, i))
    for variable, rows in by_variable.items():
        if len(rows) < 2:
            continue
        rows.sort()
        gap = rows[-1][0] - rows[0][0]
        if best is None or gap > best[0]:
            best = (gap, variable, rows[0][2], rows[-1][2])
    return None if best is None else best[1:]


def _correlations(data: Any, columns: list[str], min_records: int) -> Table:
    """Spearman rank correlation of every pair, on the records where both are finite; none for
    a pair with fewer such records than *min_records*."""
    import polars as pl

    rows = []
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            pair = data.select(pl.col(a).cast(pl.Float64).alias("a"), pl.col(b).cast(pl.Float64).alias("b"))
            pair = pair.filter(pl.col("a").is_finite() & pl.col("b").is_finite())
            rho = None
            if pair.height >= min_records and pair["a"].n_unique() > 1 and pair["b"].n_unique() > 1:
                rho = pair.select(pl.corr("a", "b", method="spearman")).item()
            rows.append({"variable_1": a, "variable_2": b, "spearman": rho})
    frame = pl.DataFrame(
        rows, schema={"variable_1": pl.String, "variable_2": pl.String, "spearman": pl.Float64}
    ).with_columns(pl.col("spearman").fill_nan(None))
    return Table(
        frame,
        {"variable_1": "label", "variable_2": "label", "spearman": "statistic"},
        title="Correlations between numeric variables",
        description="Spearman's rank correlation of each pair (from -1 to 1), on the records "
        "where both values are present; empty where too few records have both, or one is constant.",
        dimensions=[],
    )


def _strongest_correlation(corr: Table) -> Any:
    import polars as pl

    frame = corr.frame.filter(pl.col("spearman").is_not_null())
    if frame.height == 0:
        return None
    row = frame.with_columns(pl.col("spearman").abs().alias("__abs__")).sort(
        ["__abs__", "variable_1", "variable_2"], descending=[True, False, False]
    ).row(0, named=True)
    rho = row["spearman"]
    size = abs(rho)
    names = {"a": str(row["variable_1"]), "b": str(row["variable_2"]), "rho": f"{rho:.2f}"}
    if size < 0.1:
        return say("No pair of numeric variables is correlated beyond |rho| = 0.1 (the largest is "
                   "{a} with {b}, rho = {rho}).", **names)
    strength = "strongly" if size >= 0.5 else "moderately" if size >= 0.3 else "weakly"
    direction = "positively" if rho > 0 else "negatively"
    return say("The strongest correlation is between {a} and {b}: {how} correlated (Spearman's rho = {rho}).",
               how=f"{strength} {direction}", **names)


# --------------------------------------------------------------------------- figures


def _rows(frame: Any, column: str, value: Any, *, skip: str | None = None) -> list[int]:
    """Rows of *frame* where *column* is *value* (and *skip*, if given, is not empty)."""
    values = frame[column].to_list()
    other = frame[skip].to_list() if skip else [True] * len(values)
    return [i for i, (v, o) in enumerate(zip(values, other)) if v == value and o is not None]


def _text(value: Any, width: int = 22) -> str:
    return short_label(value, width)


@drawing("eda.histograms")
def draw_histograms(d: Drawing) -> Any:
    """Bars per bin (the records with no value are left out of the picture); a suppressed bin is
    a marked stub, never an empty or zero bar."""
    frame = d.frame
    present = set(frame["variable"].to_list())
    variables = [v for v in d.options["variables"] if v in present]
    fig, axes = small_multiples(max(len(variables), 1))
    counts, hidden, bins = d.values("n"), d.hidden("n"), frame["bin"].to_list()
    for ax, column in zip(axes, variables):
        rows = _rows(frame, "variable", column, skip="bin")
        shown = [(x, counts[i]) for x, i in enumerate(rows) if counts[i] == counts[i]]
        ax.bar([x for x, _ in shown], [y for _, y in shown], width=0.9, color=PALETTE[0])
        ax.set_ylim(bottom=0)
        ax.set_xlim(-0.7, len(rows) - 0.3)
        mark_suppressed(ax, [x for x, i in enumerate(rows) if hidden[i]], symbol=d.rules.symbol)
        ticks = list(range(0, len(rows), max(1, len(rows) // 5)))
        ax.set_xticks(ticks, [_text(bins[rows[t]], 14).replace("\n", " ") for t in ticks], rotation=30, ha="right",
                      fontsize=7)
        ax.set_title(column)
        ax.set_ylabel("Records")
    return fig


@drawing("eda.categories")
def draw_categories(d: Drawing) -> Any:
    """Horizontal bars per category, largest published first; suppressed categories after
    them as marked stubs, the records with no value last."""
    frame = d.frame
    present = set(frame["variable"].to_list())
    variables = [v for v in d.options["variables"] if v in present]
    fig, axes = small_multiples(max(len(variables), 1))
    counts, hidden, categories = d.values("n"), d.hidden("n"), frame["category"].to_list()
    for ax, column in zip(axes, variables):
        rows = _rows(frame, "variable", column)
        rows.sort(key=lambda i: (categories[i] is None, hidden[i], -(counts[i] if counts[i] == counts[i] else 0)))
        ys = list(range(len(rows)))[::-1]
        shown = [(y, counts[i]) for y, i in zip(ys, rows) if counts[i] == counts[i]]
        ax.barh([y for y, _ in shown], [n for _, n in shown], color=PALETTE[0])
        ax.set_xlim(left=0)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        mark_suppressed(ax, [y for y, i in zip(ys, rows) if hidden[i]], horizontal=True, symbol=d.rules.symbol)
        ax.set_yticks(ys, [_text(categories[i]) for i in rows], fontsize=7)
        ax.set_title(column)
        ax.set_xlabel("Records")
    return fig


@drawing("eda.missing_patterns")
def draw_missing_patterns(d: Drawing) -> Any:
    """A grid of the columns missing in each pattern beside a bar of its records."""
    frame = d.frame
    flags, columns = d.options["flags"], d.options["columns"]
    counts, hidden = d.values("n"), d.hidden("n")
    n_rows = frame.height
    fig, (grid, bars) = new_figure(
        max(6.0, 0.6 * len(columns) + 4.5), max(2.4, 0.32 * n_rows + 1.4), ncols=2,
        gridspec_kw={"width_ratios": [max(len(columns), 2), 4]}, sharey=True,
    )
    for i in range(n_rows):
        y = n_rows - 1 - i
        for j, flag in enumerate(flags):
            missing = frame[flag][i] is None
            grid.scatter([j], [y], s=60, marker="s", color="#b83b5e" if missing else "#e6e6e6")
    ys = [n_rows - 1 - i for i in range(n_rows)]
    shown = [(y, counts[i]) for y, i in zip(ys, range(n_rows)) if counts[i] == counts[i]]
    bars.barh([y for y, _ in shown], [n for _, n in shown], color=PALETTE[0])
    bars.set_xlim(left=0)
    bars.set_ylim(-0.7, n_rows - 0.3)
    mark_suppressed(bars, [y for y, i in zip(ys, range(n_rows)) if hidden[i]], horizontal=True, symbol=d.rules.symbol)
    grid.set_xticks(range(len(columns)), [str(c)[:20] for c in columns], rotation=40, ha="right", fontsize=7)
    grid.set_xlim(-0.6, len(columns) - 0.4)
    grid.set_yticks(ys, [str(p)[:28] for p in frame["pattern"].to_list()], fontsize=7)
    grid.set_title("Columns missing (red)")
    bars.set_xlabel("Records")
    bars.set_title("Records with the pattern")
    return fig


@drawing("eda.correlations")
def draw_correlations(d: Drawing) -> Any:
    import matplotlib
    import numpy as np

    columns = d.options["columns"]
    index = {c: i for i, c in enumerate(columns)}
    grid = np.eye(len(columns))
    rho = d.values("spearman")
    for k, (a, b) in enumerate(d.frame.select("variable_1", "variable_2").iter_rows()):
        if a in index and b in index:
            grid[index[a], index[b]] = grid[index[b], index[a]] = rho[k]
    size = max(3.8, 0.55 * len(columns) + 2.2)
    fig, ax = new_figure(size + 1.0, size)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-1, vmax=1)
    labels = [str(c)[:20] for c in columns]
    ax.set_xticks(range(len(columns)), labels, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(columns)), labels, fontsize=7)
    if len(columns) <= 12:
        for i in range(len(columns)):
            for j in range(len(columns)):
                if i != j and np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="Spearman's rho")
    ax.set_title("Rank correlations")
    return fig


def _month_ticks(ax: Any, months: list[Any]) -> None:
    step = max(1, len(months) // 8)
    ticks = list(range(0, len(months), step))
    ax.set_xticks(ticks, [f"{months[t]:%b %Y}" for t in ticks], rotation=30, ha="right", fontsize=7)
    ax.set_xlim(-0.7, max(len(months), 1) - 0.3)


@drawing("eda.monthly_counts")
def draw_monthly_counts(d: Drawing) -> Any:
    """Records per month as a line that breaks where a month is suppressed (marked there)."""
    frame = d.frame
    present = set(frame["variable"].to_list())
    variables = [v for v in d.options["variables"] if v in present]
    fig, axes = small_multiples(max(len(variables), 1), columns=1, panel=(7.0, 2.4))
    counts, hidden, months = d.values("n"), d.hidden("n"), frame["month"].to_list()
    for ax, column in zip(axes, variables):
        rows = _rows(frame, "variable", column, skip="month")
        ax.plot(range(len(rows)), [counts[i] for i in rows], marker="o", ms=2, color=PALETTE[0])
        ax.set_ylim(bottom=0)
        mark_suppressed(ax, [x for x, i in enumerate(rows) if hidden[i]], symbol=d.rules.symbol)
        _month_ticks(ax, [months[i] for i in rows])
        if column in d.options.get("incomplete", ()) and rows:
            mark_incomplete(ax, len(rows) - 1, counts[rows[-1]])
        ax.set_title(f"Records per month by {column}")
        ax.set_ylabel("Records")
    return fig


def _overall_rate(d: Drawing) -> float:
    rate = d.values("rate", table="outcome")
    return rate[0] if rate else float("nan")


@drawing("eda.monthly_outcome")
def draw_monthly_outcome(d: Drawing) -> Any:
    frame = d.frame
    present = set(frame["variable"].to_list())
    variables = [v for v in d.options["variables"] if v in present]
    fig, axes = small_multiples(max(len(variables), 1), columns=1, panel=(7.0, 2.4))
    rate, low, high = d.values("rate"), d.values("ci_low"), d.values("ci_high")
    hidden, months = d.hidden("rate"), frame["month"].to_list()
    overall = _overall_rate(d)
    for ax, column in zip(axes, variables):
        rows = _rows(frame, "variable", column, skip="month")
        xs = list(range(len(rows)))
        ax.fill_between(xs, [low[i] for i in rows], [high[i] for i in rows], color=PALETTE[0], alpha=0.2, lw=0)
        ax.plot(xs, [rate[i] for i in rows], marker="o", ms=2, color=PALETTE[0])
        if not math.isnan(overall):
            ax.axhline(overall, color="#8c8c8c", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
        mark_suppressed(ax, [x for x, i in zip(xs, rows) if hidden[i]], symbol=d.rules.symbol)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        _month_ticks(ax, [months[i] for i in rows])
        if column in d.options.get("incomplete", ()) and rows:
            mark_incomplete(ax, len(rows) - 1, rate[rows[-1]])
        ax.set_title(f"Share with {d.options['outcome']} = {d.options['label']} by month of {column}")
    return fig


@drawing("eda.outcome_rates")
def draw_outcome_rates(d: Drawing) -> Any:
    frame = d.frame
    present = set(frame["variable"].to_list())
    variables = [v for v in d.options["variables"] if v in present]
    fig, axes = small_multiples(max(len(variables), 1))
    rate, low, high = d.values("rate"), d.values("ci_low"), d.values("ci_high")
    hidden, categories = d.hidden("rate"), frame["category"].to_list()
    overall = _overall_rate(d)
    for ax, column in zip(axes, variables):
        rows = _rows(frame, "variable", column)
        ys = list(range(len(rows)))[::-1]
        for y, i in zip(ys, rows):
            if rate[i] == rate[i]:
                err = [[max(rate[i] - low[i], 0) if low[i] == low[i] else 0],
                       [max(high[i] - rate[i], 0) if high[i] == high[i] else 0]]
                ax.errorbar([rate[i]], [y], xerr=err, fmt="o", ms=3, capsize=2, color=PALETTE[0])
        if not math.isnan(overall):
            ax.axvline(overall, color="#8c8c8c", lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        mark_suppressed(ax, [y for y, i in zip(ys, rows) if hidden[i]], horizontal=True, symbol=d.rules.symbol)
        ax.set_yticks(ys, [_text(categories[i]) for i in rows], fontsize=7)
        ax.set_title(column)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    return fig
