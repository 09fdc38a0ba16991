"""`eda`: what the data look like — distributions, missingness, outcome rates by category."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from expedition.disclosure import safe_table
from expedition.errors import StepError
from expedition.finding import Figure, Finding, Table
from expedition.steps import Step, StepContext, StepParams, require_columns
from expedition.steps._columns import looks_like_text, personal_kind
from expedition.steps._plot import SUPPRESSED_COLOUR, small_multiples, to_figure
from expedition.vocabulary import FALSE_WORDS, TRUE_WORDS

MAX_CORRELATED = 20
MAX_PATTERN_COLUMNS = 15
POSITIVE = set(TRUE_WORDS)
NEGATIVE = set(FALSE_WORDS)


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

    Numeric variables are summarised by count, mean, standard deviation and percentiles (the 5th
    and 95th instead of the minimum and maximum, which describe single records) and drawn as
    histograms between their 1st and 99th percentiles. Categorical variables are counted, the
    largest categories first. Missing values are counted per column, and the combinations of
    columns that are missing together (the missingness pattern) are counted per record. Numeric
    variables (and the outcome, as 0/1) are correlated pairwise by Spearman's rank correlation,
    drawn as a heat map. When an outcome is given, the share of records with the outcome is
    shown for each category (and each quantile band of numeric variables) with a Wilson 95%
    confidence interval. Date columns are counted by month, and with an outcome its monthly rate
    is shown with Wilson intervals (the trend over time). Every count below the disclosure
    threshold is suppressed before any figure is drawn.
    """

    name = "eda"
    summary = "Distributions, missing values and patterns, correlations, outcome rates and trends over time (descriptive)."
    version = "2"
    Params = EDAParams
    outputs = {
        "missingness": "missing values per column",
        "missing_patterns": "records per combination of columns missing together",
        "numeric_summary": "count, mean, standard deviation and percentiles of numeric variables",
        "histograms": "records per bin of each numeric variable",
        "categories": "records per category of each categorical variable",
        "correlations": "Spearman rank correlation of each pair of numeric variables",
        "monthly_counts": "records per month of each date column",
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

    def run(self, frame: Any, params: EDAParams, ctx: StepContext) -> Finding:
        import polars as pl

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        columns = data.columns
        require_columns(columns, params.variables or [], param="variables", step=self.name)
        require_columns(columns, [params.outcome], param="outcome", step=self.name)
        if data.height == 0:
            raise StepError("step 'eda': the dataset has no rows", "check the delivery and validation")

        caveats: list[str] = []
        kinds = classify_columns(data, exclude=[params.outcome] if params.outcome else [])
        if params.variables:
            chosen = [c for c in params.variables if c != params.outcome]
        else:
            chosen = [c for c, k in kinds.items() if k in {"numeric", "categorical", "date"}]
            skipped = [c for c, k in kinds.items() if k in {"identifier", "text"}]
            if skipped:
                caveats.append(
                    "Not described (identifiers, personal data or free text): " + ", ".join(skipped) + "."
                )
        numeric = [c for c in chosen if kinds.get(c) == "numeric"]
        categorical = [c for c in chosen if kinds.get(c) in {"categorical", "identifier", "text"}]
        dates = [c for c in chosen if kinds.get(c) == "date"]
        rules = ctx.disclosure
        ctx.report(0.1, "missing values")

        tables: dict[str, Table] = {}
        figures: dict[str, Figure] = {}
        headlines = [
            f"The data hold {data.height:,} records with {data.width} columns; "
            f"{len(chosen)} are described here."
        ]

        # missingness ------------------------------------------------------------------
        missing = data.select(pl.col(c).null_count() for c in columns).row(0)
        miss = pl.DataFrame(
            {
                "variable": columns,
                "missing": [int(m) for m in missing],
                "missing_share": [m / data.height for m in missing],
            }
        ).sort(["missing", "variable"], descending=[True, False])
        tables["missingness"] = Table(
            miss,
            {"variable": "label", "missing": "count", "missing_share": "rate"},
            title="Missing values by column",
            denominators={"missing_share": "missing"},
        )
        with_missing = miss.filter(pl.col("missing") > 0)
        if with_missing.height == 0:
            headlines.append("No column has missing values.")
        else:
            top = with_missing.row(0, named=True)
            headlines.append(
                f"{with_missing.height} of {data.width} columns have missing values; the most "
                f"is {top['variable']} ({top['missing_share']:.1%} missing)."
            )

        if with_missing.height:
            patterns = safe_table(_missing_patterns(data, with_missing["variable"].to_list()), rules)
            tables["missing_patterns"] = patterns
            if patterns.frame.height:
                figures["missing_patterns"] = _draw_patterns(patterns, with_missing["variable"].to_list())

        # numeric summaries and histograms ----------------------------------------------
        ctx.report(0.3, "numeric variables")
        if numeric:
            tables["numeric_summary"] = _numeric_summary(data, numeric, caveats)
            hist = safe_table(_histograms(data, numeric, params.bins), rules)
            tables["histograms"] = hist
            figures["histograms"] = _draw_histograms(hist, numeric)

        # categorical counts ---------------------------------------------------------------
        ctx.report(0.5, "categorical variables")
        if categorical:
            cats = safe_table(_category_counts(data, categorical, params.max_categories), rules)
            tables["categories"] = cats
            figures["categories"] = _draw_bars(cats, categorical, "n", "Records")

        # dates -----------------------------------------------------------------------------
        if dates:
            ctx.report(0.6, "trends over time")
            trend = safe_table(_monthly_counts(data, dates), rules)
            tables["monthly_counts"] = trend
            figures["monthly_counts"] = _draw_trend(trend, dates)
            for column in dates:
                sentence = _trend_headline(trend, column, rules.min_count)
                if sentence:
                    headlines.append(sentence)

        # outcome rates ---------------------------------------------------------------------
        metrics: dict[str, float] = {"rows": float(data.height), "columns": float(data.width)}
        if params.outcome:
            ctx.report(0.7, "outcome rates")
            y, label = binary_outcome(data[params.outcome], params.outcome_value, params.outcome)
            known = y.is_not_null()
            unknown = data.height - int(known.sum())
            if unknown:
                caveats.append(
                    f"{unknown:,} records with no value for {params.outcome} are left out of the "
                    "outcome rates."
                )
            work = data.with_columns(y.alias("__outcome__")).filter(known)
            total = work.height
            positives = int(work["__outcome__"].sum())
            overall = positives / total if total else float("nan")
            metrics.update({"outcome_rate": overall, "outcome_n": float(positives)})
            headlines.append(
                f"Overall, {overall:.1%} of records have {params.outcome} = {label} "
                f"({positives:,} of {total:,})."
            )
            if dates:
                monthly = safe_table(_monthly_outcome(work, dates), rules)
                tables["monthly_outcome"] = monthly
                if monthly.frame["rate"].drop_nulls().len():
                    figures["monthly_outcome"] = _draw_monthly_rates(monthly, dates, overall, params.outcome, label)
            rates = _outcome_rates(work, categorical, numeric, params)
            rates = safe_table(rates, rules)
            tables["outcome_rates"] = rates
            figures["outcome_rates"] = _draw_rates(rates, overall, params.outcome, label)
            spread = _widest_spread(rates)
            if spread is not None:
                variable, low, high = spread
                headlines.append(
                    f"The outcome rate varies most by {variable}: from {low['rate']:.1%} "
                    f"({low['category']}, 95% CI {low['ci_low']:.1%}–{low['ci_high']:.1%}) to "
                    f"{high['rate']:.1%} ({high['category']}, 95% CI "
                    f"{high['ci_low']:.1%}–{high['ci_high']:.1%})."
                )
            caveats.append(
                "Rates by category are descriptive: a difference here is not evidence that the "
                "category causes the outcome, and it has not been tested for chance (see the "
                "significance step)."
            )
        # correlations ------------------------------------------------------------------------
        ctx.report(0.85, "correlations")
        corr_columns = list(numeric)
        if params.outcome:
            data_corr = data.with_columns(y.alias(f"{params.outcome} = {label}"))
            corr_columns.append(f"{params.outcome} = {label}")
        else:
            data_corr = data
        if len(corr_columns) > MAX_CORRELATED:
            caveats.append(
                f"Correlations are shown for the first {MAX_CORRELATED} numeric variables only."
            )
            corr_columns = corr_columns[:MAX_CORRELATED]
        if len(corr_columns) >= 2:
            corr = safe_table(_correlations(data_corr, corr_columns), rules)
            tables["correlations"] = corr
            figures["correlations"] = _draw_correlations(corr, corr_columns)
            strongest = _strongest_correlation(corr)
            if strongest is not None:
                headlines.append(strongest)
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title="What the data look like",
            headlines=headlines,
            method=(self.__doc__ or "").split("\n\n", 1)[1].strip().replace("\n    ", " "),
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


# --------------------------------------------------------------------------- helpers


def classify_columns(data: Any, exclude: list[str] | None = None) -> dict[str, str]:
    """Sort columns into numeric, categorical, date, identifier and text (a simple heuristic)."""
    import polars as pl

    exclude = set(exclude or [])
    kinds: dict[str, str] = {}
    rows = max(data.height, 1)
    for column, dtype in data.schema.items():
        if column in exclude:
            continue
        series = data[column]
        if dtype == pl.Boolean:
            kinds[column] = "categorical"
        elif dtype.is_numeric():
            distinct = series.n_unique()
            looks_like_id = dtype.is_integer() and distinct == series.len() and rows > 50 and (
                "id" in column.lower().replace("_", " ").split() or column.lower().endswith("_id")
            )
            if looks_like_id:
                kinds[column] = "identifier"
            elif distinct <= 2:
                kinds[column] = "categorical"
            else:
                kinds[column] = "numeric"
        elif dtype.is_temporal():
            kinds[column] = "date"
        else:
            text = series.cast(pl.String)
            distinct = text.n_unique()
            mean_len = text.str.len_chars().mean() or 0
            if looks_like_text(mean_len, distinct, rows):
                kinds[column] = "text"
            elif personal_kind(data, column):
                kinds[column] = "identifier"
            elif distinct > 0.9 * rows and rows > 50:
                kinds[column] = "identifier"
            else:
                kinds[column] = "categorical"
    return kinds


def binary_outcome(series: Any, value: str | None, name: str) -> tuple[Any, str]:
    """A 0/1 (nullable) Int8 series from a binary column, and the label of the 'yes' value."""
    import polars as pl

    text = series.cast(pl.String)
    values = [v for v in text.drop_nulls().unique().sort().to_list()]
    if value is not None:
        if value not in values:
            raise StepError(
                f"outcome_value {value!r} does not occur in column {name!r}",
                f"the values are: {', '.join(values[:20])}",
            )
        positive = value
    else:
        lowered = {v.lower(): v for v in values}
        positives = [lowered[v] for v in lowered if v in POSITIVE]
        if len(values) > 2 or not values:
            raise StepError(
                f"the outcome {name!r} must have two values; it has {len(values)}",
                "choose a binary column, or derive one before running the step",
            )
        if len(positives) == 1:
            positive = positives[0]
        elif len(values) == 2 and all(v.lower() in POSITIVE | NEGATIVE for v in values):
            positive = positives[0]
        else:
            raise StepError(
                f"cannot tell which value of {name!r} means 'yes' (values: {', '.join(values)})",
                "set the parameter outcome_value to the value that counts as the outcome",
            )
    out = pl.when(text.is_null()).then(None).otherwise((text == positive).cast(pl.Int8))
    return pl.select(out.alias(name)).to_series(), positive


def _numeric_summary(data: Any, numeric: list[str], caveats: list[str]) -> Table:
    import math

    import polars as pl

    rows = []
    for column in numeric:
        raw = data[column].cast(pl.Float64).drop_nulls()
        s = raw.filter(raw.is_finite())
        if raw.len() > s.len():
            caveats.append(
                f"{column}: {raw.len() - s.len():,} infinite or not-a-number values are left out."
            )
        mean, sd = s.mean(), s.std()
        if (mean is not None and not math.isfinite(mean)) or (sd is not None and not math.isfinite(sd)):
            caveats.append(
                f"{column}: the values are too extreme to average (the sums overflow), so its mean "
                "and standard deviation are not shown; the percentiles are."
            )
            mean = sd = None
        rows.append(
            {
                "variable": column,
                "n": s.len(),
                "mean": mean,
                "sd": sd,
                "p05": s.quantile(0.05, "linear"),
                "p25": s.quantile(0.25, "linear"),
                "median": s.median(),
                "p75": s.quantile(0.75, "linear"),
                "p95": s.quantile(0.95, "linear"),
            }
        )
    frame = pl.DataFrame(rows, schema_overrides={"n": pl.Int64, "mean": pl.Float64, "sd": pl.Float64})
    kinds = {c: "statistic" for c in frame.columns}
    kinds.update({"variable": "label", "n": "count"})
    return Table(
        frame,
        kinds,
        title="Numeric variables",
        description="Count of non-missing values, mean, standard deviation and percentiles.",
        denominators={c: "n" for c in frame.columns if c not in {"variable", "n"}},
    )


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if 1e5 <= abs(x) < 1e9 else f"{x:.3g}"


def _histograms(data: Any, numeric: list[str], bins: int) -> Table:
    import numpy as np
    import polars as pl

    out = []
    for column in numeric:
        s = data[column].cast(pl.Float64).drop_nulls()
        s = s.filter(s.is_finite())
        if s.len() == 0:
            continue
        low, high = s.quantile(0.01, "linear"), s.quantile(0.99, "linear")
        values = s.to_numpy()
        distinct = np.unique(values)
        if len(distinct) <= bins:  # small integer ranges: one bar per value
            counts = [(float(v), float(v), int((values == v).sum())) for v in distinct]
        else:
            if high <= low:
                low, high = float(values.min()), float(values.max())
            edges = np.linspace(low, high, bins + 1)
            idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
            tally = np.bincount(idx, minlength=bins)
            counts = [(edges[i], edges[i + 1], int(tally[i])) for i in range(bins)]
        for i, (start, end, n) in enumerate(counts):
            if start == end:
                label = _fmt(start)
            else:
                prefix = "≤ " if i == 0 else ""
                suffix = "+" if i == len(counts) - 1 else ""
                label = f"{prefix}{_fmt(start)}–{_fmt(end)}{suffix}" if not prefix else f"≤ {_fmt(end)}"
            out.append({"variable": column, "bin": label, "bin_start": start, "bin_end": end, "n": n})
    frame = pl.DataFrame(
        out,
        schema={
            "variable": pl.String,
            "bin": pl.String,
            "bin_start": pl.Float64,
            "bin_end": pl.Float64,
            "n": pl.Int64,
        },
    )
    return Table(
        frame,
        {"variable": "label", "bin": "label", "bin_start": "statistic", "bin_end": "statistic", "n": "count"},
        title="Histograms of numeric variables",
        description="Records per bin; the first and last bins also hold values beyond the "
        "1st and 99th percentiles.",
    )


def _category_counts(data: Any, categorical: list[str], max_categories: int) -> Table:
    import polars as pl

    out = []
    for column in categorical:
        counts = (
            data.select(pl.col(column).cast(pl.String).fill_null("(missing)").alias("category"))
            .group_by("category")
            .len()
            .sort(["len", "category"], descending=[True, False])
        )
        top = counts.head(max_categories)
        rest = counts.slice(max_categories)
        for category, n in top.iter_rows():
            out.append({"variable": column, "category": category, "n": n})
        if rest.height:
            out.append(
                {
                    "variable": column,
                    "category": f"Other ({rest.height} categories)",
                    "n": int(rest["len"].sum()),
                }
            )
    frame = pl.DataFrame(out, schema={"variable": pl.String, "category": pl.String, "n": pl.Int64})
    totals = frame.group_by("variable").agg(pl.col("n").sum().alias("total"))
    frame = (
        frame.join(totals, on="variable", maintain_order="left")
        .with_columns((pl.col("n") / pl.col("total")).alias("share"))
        .drop("total")
    )
    return Table(
        frame,
        {"variable": "label", "category": "label", "n": "count", "share": "rate"},
        title="Categories",
        description="Records per category (largest first) and their share of all records.",
        denominators={"share": "n"},
    )


def _monthly_counts(data: Any, dates: list[str]) -> Table:
    import polars as pl

    parts = []
    for column in dates:
        part = (
            data.select(pl.col(column).cast(pl.Date).dt.truncate("1mo").alias("month"))
            .drop_nulls()
            .group_by("month")
            .len()
            .sort("month")
            .select(pl.lit(column).alias("variable"), "month", pl.col("len").cast(pl.Int64).alias("n"))
        )
        parts.append(part)
    frame = pl.concat(parts)
    return Table(
        frame,
        {"variable": "label", "month": "date", "n": "count"},
        title="Records per month",
    )


def _with_rates(frame: Any) -> Any:
    """Add the outcome rate (outcome_n / n) and its Wilson 95% interval to a frame of counts."""
    import numpy as np
    import polars as pl

    from expedition.steps._stats import wilson_interval

    low, high = wilson_interval(frame["outcome_n"].to_numpy(), np.maximum(frame["n"].to_numpy(), 1))
    return frame.with_columns(
        (pl.col("outcome_n") / pl.col("n")).alias("rate"),
        pl.Series("ci_low", low, dtype=pl.Float64),
        pl.Series("ci_high", high, dtype=pl.Float64),
    )


def _outcome_rates(work: Any, categorical: list[str], numeric: list[str], params: EDAParams) -> Table:
    import numpy as np
    import polars as pl

    parts = []
    for column in categorical:
        grouped = (
            work.select(pl.col(column).cast(pl.String).fill_null("(missing)").alias("category"), "__outcome__")
            .group_by("category")
            .agg(pl.len().alias("n"), pl.col("__outcome__").sum().alias("outcome_n"))
            .sort(["n", "category"], descending=[True, False])
        )
        if grouped.height > params.max_categories:
            top = grouped.head(params.max_categories)
            rest = grouped.slice(params.max_categories)
            other = pl.DataFrame(
                {
                    "category": [f"Other ({rest.height} categories)"],
                    "n": [rest["n"].sum()],
                    "outcome_n": [rest["outcome_n"].sum()],
                },
                schema=grouped.schema,
            )
            grouped = pl.concat([top, other])
        parts.append(grouped.with_columns(pl.lit(column).alias("variable")))
    for column in numeric:
        s = work[column].cast(pl.Float64)
        valid = s.is_not_null() & s.is_finite()
        if int(valid.sum()) == 0:
            continue
        qs = np.unique(np.quantile(s.filter(valid).to_numpy(), np.linspace(0, 1, params.bands + 1)))
        if len(qs) < 3:
            continue
        inner = qs[1:-1]
        idx = np.searchsorted(inner, s.fill_null(np.nan).to_numpy(), side="right")
        labels = _band_labels(qs, integer=work.schema[column].is_integer())
        band = pl.Series("category", [labels[i] if ok else "(missing)" for i, ok in zip(idx, valid.to_list())])
        grouped = (
            pl.DataFrame({"category": band, "__outcome__": work["__outcome__"], "__order__": idx})
            .group_by("category")
            .agg(pl.len().alias("n"), pl.col("__outcome__").sum().alias("outcome_n"), pl.col("__order__").min())
            .sort("__order__")
            .drop("__order__")
        )
        parts.append(grouped.with_columns(pl.lit(column).alias("variable")))
    if not parts:
        frame = pl.DataFrame(schema={"variable": pl.String, "category": pl.String, "n": pl.Int64, "outcome_n": pl.Int64})
    else:
        frame = pl.concat(
            [p.select("variable", "category", pl.col("n").cast(pl.Int64), pl.col("outcome_n").cast(pl.Int64)) for p in parts]
        )
    frame = _with_rates(frame)
    return Table(
        frame,
        {
            "variable": "label",
            "category": "label",
            "n": "count",
            "outcome_n": "count",
            "rate": "rate",
            "ci_low": "rate",
            "ci_high": "rate",
        },
        title="Outcome rate by category",
        description="Share of records with the outcome in each category, with a Wilson 95% "
        "confidence interval. Numeric variables are cut into quantile bands.",
        denominators={c: ["n", "outcome_n"] for c in ("rate", "ci_low", "ci_high")},
    )


def _band_labels(edges: Any, *, integer: bool) -> list[str]:
    """Labels for bands [e0, e1), [e1, e2), ..., [e(k-1), ek] — whole numbers shown inclusively."""
    import math

    labels = []
    last = len(edges) - 2
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        if integer:
            start = math.ceil(lo)
            end = int(hi) if i == last else math.ceil(hi) - 1
            labels.append(str(start) if start >= end else f"{start}–{end}")
        else:
            labels.append(f"{_fmt(lo)} to {_fmt(hi)}" if i == last else f"{_fmt(lo)} to <{_fmt(hi)}")
    return labels


def _widest_spread(rates: Table) -> tuple[str, dict, dict] | None:
    import polars as pl

    frame = rates.frame.filter(
        pl.col("rate").is_not_null() & (pl.col("category") != "(missing)")
    ).filter(~pl.col("category").str.starts_with("Other ("))
    best = None
    for (variable,), part in frame.group_by(["variable"], maintain_order=True):
        if part.height < 2:
            continue
        low = part.sort(["rate", "category"]).row(0, named=True)
        high = part.sort(["rate", "category"], descending=[True, False]).row(0, named=True)
        gap = high["rate"] - low["rate"]
        if best is None or gap > best[0]:
            best = (gap, variable, low, high)
    return None if best is None else best[1:]


def _missing_patterns(data: Any, columns: list[str], top: int = 10) -> Table:
    """Records per combination of columns missing together (the most common *top*, then the rest)."""
    import polars as pl

    columns = columns[:MAX_PATTERN_COLUMNS]
    flags = data.select(pl.col(c).is_null().alias(c) for c in columns)
    grouped = (
        flags.group_by(columns)
        .len()
        .with_columns(pl.sum_horizontal(pl.col(c).cast(pl.Int32) for c in columns).alias("columns_missing"))
    )
    rows = []
    for row in grouped.iter_rows(named=True):
        missing = [c for c in columns if row[c]]
        rows.append(
            {
                "pattern": " + ".join(missing) if missing else "(nothing missing)",
                "columns_missing": len(missing),
                "n": int(row["len"]),
            }
        )
    rows.sort(key=lambda r: (-r["n"], r["pattern"]))
    if len(rows) > top:
        rest = rows[top:]
        rows = rows[:top] + [
            {"pattern": f"Other ({len(rest)} patterns)", "columns_missing": None, "n": sum(r["n"] for r in rest)}
        ]
    frame = pl.DataFrame(rows, schema={"pattern": pl.String, "columns_missing": pl.Int64, "n": pl.Int64})
    frame = frame.with_columns((pl.col("n") / data.height).alias("share"))
    return Table(
        frame,
        {"pattern": "label", "columns_missing": "statistic", "n": "count", "share": "rate"},
        title="Missing-value patterns",
        description="Records by the combination of columns that are missing together (among the "
        "columns with missing values), most common first.",
        denominators={"share": "n"},
    )


def _correlations(data: Any, columns: list[str]) -> Table:
    """Spearman rank correlation of every pair, on the records where both are present."""
    import polars as pl

    rows = []
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            pair = data.select(pl.col(a).cast(pl.Float64).alias("a"), pl.col(b).cast(pl.Float64).alias("b"))
            pair = pair.filter(pl.col("a").is_finite() & pl.col("b").is_finite())
            n = pair.height
            rho = None
            if n >= 3 and pair["a"].n_unique() > 1 and pair["b"].n_unique() > 1:
                rho = pair.select(pl.corr("a", "b", method="spearman")).item()
            rows.append({"variable_1": a, "variable_2": b, "n": n, "spearman": rho})
    frame = pl.DataFrame(
        rows, schema={"variable_1": pl.String, "variable_2": pl.String, "n": pl.Int64, "spearman": pl.Float64}
    ).with_columns(pl.col("spearman").fill_nan(None))
    return Table(
        frame,
        {"variable_1": "label", "variable_2": "label", "n": "count", "spearman": "statistic"},
        title="Correlations between numeric variables",
        description="Spearman's rank correlation of each pair (from -1 to 1), on the records "
        "where both values are present.",
        denominators={"spearman": "n"},
    )


def _strongest_correlation(corr: Table) -> str | None:
    import polars as pl

    frame = corr.frame.filter(pl.col("spearman").is_not_null())
    if frame.height == 0:
        return None
    row = frame.with_columns(pl.col("spearman").abs().alias("__abs__")).sort(
        ["__abs__", "variable_1", "variable_2"], descending=[True, False, False]
    ).row(0, named=True)
    rho = row["spearman"]
    size = abs(rho)
    strength = "strongly" if size >= 0.5 else "moderately" if size >= 0.3 else "weakly"
    direction = "positively" if rho > 0 else "negatively"
    if size < 0.1:
        return (
            f"No pair of numeric variables is correlated beyond |rho| = 0.1 (the largest is "
            f"{row['variable_1']} with {row['variable_2']}, rho = {rho:.2f})."
        )
    return (
        f"The strongest correlation is between {row['variable_1']} and {row['variable_2']}: "
        f"{strength} {direction} correlated (Spearman's rho = {rho:.2f})."
    )


def _trend_headline(trend: Table, column: str, min_count: int) -> str | None:
    """Average records per month in the latest 12 months against the 12 before (if known)."""
    import polars as pl

    part = trend.frame.filter(pl.col("variable") == column).sort("month")
    counts = part["n"].to_list()
    if len(counts) < 26 or any(c is None for c in counts[-25:-1]):
        return None
    # leave out the last month, which may be incomplete
    latest, before = counts[-13:-1], counts[-25:-13]
    a, b = sum(latest) / 12, sum(before) / 12
    if b == 0:
        return None
    change = a / b - 1
    word = "rose" if change > 0.05 else "fell" if change < -0.05 else "stayed level"
    months = part["month"].to_list()
    period = f"{months[-13]:%b %Y}–{months[-2]:%b %Y}"
    return (
        f"Records per month by {column} {word}: {a:,.0f} a month in {period} against "
        f"{b:,.0f} in the 12 months before ({change:+.0%})."
    )


def _monthly_outcome(work: Any, dates: list[str]) -> Table:
    import polars as pl

    parts = []
    for column in dates:
        part = (
            work.select(pl.col(column).cast(pl.Date).dt.truncate("1mo").alias("month"), "__outcome__")
            .drop_nulls("month")
            .group_by("month")
            .agg(pl.len().cast(pl.Int64).alias("n"), pl.col("__outcome__").sum().cast(pl.Int64).alias("outcome_n"))
            .sort("month")
            .select(pl.lit(column).alias("variable"), "month", "n", "outcome_n")
        )
        parts.append(part)
    frame = pl.concat(parts)
    frame = _with_rates(frame)
    return Table(
        frame,
        {"variable": "label", "month": "date", "n": "count", "outcome_n": "count", "rate": "rate",
         "ci_low": "rate", "ci_high": "rate"},
        title="Outcome rate by month",
        description="Share of records with the outcome in each month of each date column, with a "
        "Wilson 95% confidence interval.",
        denominators={c: ["n", "outcome_n"] for c in ("rate", "ci_low", "ci_high")},
    )


# --------------------------------------------------------------------------- figures


def _draw_patterns(patterns: Table, columns: list[str]) -> Figure:
    from expedition.steps._plot import new_figure

    columns = columns[:MAX_PATTERN_COLUMNS]
    rows = list(patterns.frame.iter_rows(named=True))
    fig, (grid, bars) = new_figure(
        max(6.0, 0.45 * len(columns) + 3.5), max(2.4, 0.32 * len(rows) + 1.4), ncols=2,
        gridspec_kw={"width_ratios": [max(len(columns), 2), 3]}, sharey=True,
    )
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        missing = set(row["pattern"].split(" + ")) if not row["pattern"].startswith(("(", "Other (")) else set()
        for j, column in enumerate(columns):
            filled = column in missing
            grid.scatter([j], [y], s=40, marker="s", color="#b83b5e" if filled else "#e6e6e6")
        n = row["n"]
        bars.barh([y], [n if n is not None else 0], color="#1f5f8b" if n is not None else SUPPRESSED_COLOUR)
    grid.set_xticks(range(len(columns)), columns, rotation=40, ha="right", fontsize=7)
    grid.set_yticks(range(len(rows))[::-1], [str(r["pattern"])[:28] for r in rows], fontsize=7)
    grid.set_title("Columns missing (red)")
    bars.set_xlabel("Records")
    bars.set_title("Records with the pattern")
    return to_figure(
        fig,
        "Missing-value patterns",
        alt="A grid of the columns missing together in each pattern (red squares), beside bars of "
        "the records with each pattern; patterns with too few records to publish are grey.",
        data="missing_patterns",
    )


def _draw_correlations(corr: Table, columns: list[str]) -> Figure:
    import numpy as np

    from expedition.steps._plot import new_figure

    index = {c: i for i, c in enumerate(columns)}
    grid = np.eye(len(columns))
    for row in corr.frame.iter_rows(named=True):
        value = row["spearman"] if row["spearman"] is not None else np.nan
        i, j = index[row["variable_1"]], index[row["variable_2"]]
        grid[i, j] = grid[j, i] = value
    size = max(3.8, 0.55 * len(columns) + 2.2)
    fig, ax = new_figure(size + 1.0, size)
    import matplotlib

    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=SUPPRESSED_COLOUR)
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
    return to_figure(
        fig,
        "Correlations between numeric variables",
        alt="Heat map of Spearman rank correlations between each pair of numeric variables, red "
        "for positive and blue for negative.",
        data="correlations",
    )


def _draw_monthly_rates(monthly: Table, dates: list[str], overall: float, outcome: str, label: str) -> Figure:
    import polars as pl

    fig, axes = small_multiples(len(dates), columns=1, panel=(7.0, 2.4))
    for ax, column in zip(axes, dates):
        part = monthly.frame.filter(pl.col("variable") == column)
        months = part["month"].to_list()
        nan = float("nan")
        rate = [v if v is not None else nan for v in part["rate"].to_list()]
        low = [v if v is not None else nan for v in part["ci_low"].to_list()]
        high = [v if v is not None else nan for v in part["ci_high"].to_list()]
        ax.fill_between(months, low, high, color="#1f5f8b", alpha=0.2, lw=0)
        ax.plot(months, rate, marker="o", ms=2, color="#1f5f8b")
        ax.axhline(overall, color="#8c8c8c", lw=0.8, ls="--")
        ax.yaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
        ax.set_title(f"Share with {outcome} = {label} by month of {column}")
    return to_figure(
        fig,
        f"Share with {outcome} = {label} by month",
        alt="Line charts of the monthly outcome rate with a shaded 95% confidence band; the dashed "
        "line is the overall rate; months with too few records to publish are gaps.",
        data="monthly_outcome",
    )




def _draw_histograms(hist: Table, numeric: list[str]) -> Figure:
    import polars as pl

    present = [c for c in numeric if hist.frame.filter(pl.col("variable") == c).height]
    fig, axes = small_multiples(len(present))
    for ax, column in zip(axes, present):
        part = hist.frame.filter(pl.col("variable") == column)
        counts = part["n"].to_list()
        heights = [c if c is not None else 0 for c in counts]
        colours = ["#1f5f8b" if c is not None else SUPPRESSED_COLOUR for c in counts]
        ax.bar(range(len(heights)), heights, width=0.9, color=colours)
        ticks = list(range(0, len(heights), max(1, len(heights) // 4)))
        ax.set_xticks(ticks, [part["bin"][i] for i in ticks], rotation=30, ha="right", fontsize=7)
        ax.set_title(column)
        ax.set_ylabel("Records")
    return to_figure(
        fig,
        "Distributions of numeric variables",
        alt="Histograms, one per numeric variable; bins with too few records to publish are empty.",
        data="histograms",
    )


def _draw_bars(table: Table, variables: list[str], value: str, ylabel: str) -> Figure:
    import polars as pl

    present = [c for c in variables if table.frame.filter(pl.col("variable") == c).height]
    fig, axes = small_multiples(len(present))
    for ax, column in zip(axes, present):
        part = table.frame.filter(pl.col("variable") == column)
        counts = part[value].to_list()
        labels = [str(c)[:18] for c in part["category"].to_list()]
        heights = [c if c is not None else 0 for c in counts]
        colours = ["#1f5f8b" if c is not None else SUPPRESSED_COLOUR for c in counts]
        ax.barh(range(len(heights))[::-1], heights, color=colours)
        ax.set_yticks(range(len(heights))[::-1], labels, fontsize=7)
        ax.set_title(column)
        ax.set_xlabel(ylabel)
    return to_figure(
        fig,
        "Records by category",
        alt="Bar charts of records per category, one per categorical variable.",
        data="categories",
    )


def _draw_trend(trend: Table, dates: list[str]) -> Figure:
    import polars as pl

    fig, axes = small_multiples(len(dates), columns=1, panel=(7.0, 2.4))
    for ax, column in zip(axes, dates):
        part = trend.frame.filter(pl.col("variable") == column)
        ax.plot(part["month"].to_list(), [v if v is not None else float("nan") for v in part["n"].to_list()], marker="o", ms=2)
        ax.set_title(f"Records per month by {column}")
        ax.set_ylabel("Records")
    return to_figure(fig, "Records per month", alt="Line charts of records per month.", data="monthly_counts")


def _draw_rates(rates: Table, overall: float, outcome: str, label: str) -> Figure:
    import polars as pl

    variables = rates.frame["variable"].unique(maintain_order=True).to_list()
    fig, axes = small_multiples(len(variables))
    for ax, column in zip(axes, variables):
        part = rates.frame.filter(pl.col("variable") == column)
        ys = list(range(part.height))[::-1]
        rate = [r if r is not None else float("nan") for r in part["rate"].to_list()]
        low = [r if r is not None else float("nan") for r in part["ci_low"].to_list()]
        high = [r if r is not None else float("nan") for r in part["ci_high"].to_list()]
        err = [[max(r - lo, 0) for r, lo in zip(rate, low)], [max(hi - r, 0) for r, hi in zip(rate, high)]]
        ax.errorbar(rate, ys, xerr=err, fmt="o", ms=3, capsize=2)
        ax.axvline(overall, color="#8c8c8c", lw=0.8, ls="--")
        ax.set_yticks(ys, [str(c)[:18] for c in part["category"].to_list()], fontsize=7)
        ax.set_title(column)
        ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    return to_figure(
        fig,
        f"Share with {outcome} = {label}, by category",
        alt="Dot plots of the outcome rate per category with 95% confidence intervals; "
        "the dashed line is the overall rate.",
        data="outcome_rates",
    )
