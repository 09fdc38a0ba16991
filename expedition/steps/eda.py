"""`eda`: what the data look like — distributions, missingness, outcome rates by category."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from expedition.disclosure import safe_table
from expedition.errors import StepError
from expedition.finding import Figure, Finding, Table
from expedition.steps import Step, StepContext, StepParams, require_columns
from expedition.steps._plot import SUPPRESSED_COLOUR, small_multiples, to_figure

POSITIVE = {"1", "true", "t", "yes", "y"}
NEGATIVE = {"0", "false", "f", "no", "n"}


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
    largest categories first. When an outcome is given, the share of records with the outcome is
    shown for each category (and each quantile band of numeric variables) with a Wilson 95%
    confidence interval. Date columns are counted by month. Every count below the disclosure
    threshold is suppressed before any figure is drawn.
    """

    name = "eda"
    summary = "Distributions, missing values and outcome rates by category (descriptive)."
    version = "1"
    Params = EDAParams

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
                    "Not described (identifiers or free text): " + ", ".join(skipped) + "."
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

        # numeric summaries and histograms ----------------------------------------------
        ctx.report(0.3, "numeric variables")
        if numeric:
            tables["numeric_summary"] = _numeric_summary(data, numeric)
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
            trend = safe_table(_monthly_counts(data, dates), rules)
            tables["monthly_counts"] = trend
            figures["monthly_counts"] = _draw_trend(trend, dates)

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
            if mean_len > 40 and distinct > 0.5 * rows:
                kinds[column] = "text"
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


def _numeric_summary(data: Any, numeric: list[str]) -> Table:
    import polars as pl

    rows = []
    for column in numeric:
        s = data[column].cast(pl.Float64).drop_nulls().drop_nans()
        rows.append(
            {
                "variable": column,
                "n": s.len(),
                "mean": s.mean(),
                "sd": s.std(),
                "p05": s.quantile(0.05, "linear"),
                "p25": s.quantile(0.25, "linear"),
                "median": s.median(),
                "p75": s.quantile(0.75, "linear"),
                "p95": s.quantile(0.95, "linear"),
            }
        )
    frame = pl.DataFrame(rows, schema_overrides={"n": pl.Int64})
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
    return f"{x:.3g}" if abs(x) < 1e5 else f"{x:,.0f}"


def _histograms(data: Any, numeric: list[str], bins: int) -> Table:
    import numpy as np
    import polars as pl

    out = []
    for column in numeric:
        s = data[column].cast(pl.Float64).drop_nulls().drop_nans()
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


def _wilson(successes: Any, totals: Any) -> tuple[Any, Any]:
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(successes, totals, alpha=0.05, method="wilson")


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
        valid = s.is_not_null() & s.is_not_nan()
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
    low, high = _wilson(frame["outcome_n"].to_numpy(), np.maximum(frame["n"].to_numpy(), 1))
    frame = frame.with_columns(
        (pl.col("outcome_n") / pl.col("n")).alias("rate"),
        pl.Series("ci_low", low, dtype=pl.Float64),
        pl.Series("ci_high", high, dtype=pl.Float64),
    )
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


# --------------------------------------------------------------------------- figures


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
