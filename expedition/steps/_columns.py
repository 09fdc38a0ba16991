"""Choosing and preparing the columns a step analyses, without reading more data than needed.

``choose_variables`` sorts the candidate columns into numeric and categorical variables with one
lazy query over the data (types, missing values, distinct values, text length), and explains every
column it leaves out in a caveat: identifiers, free text, dates, personal data, all-missing and
constant columns, and categoricals with too many levels to analyse. Columns the user names
explicitly are kept where that is meaningful; the defaults are conservative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expedition.errors import StepError
from expedition.steps import StepContext, require_columns
from expedition.vocabulary import COORDINATE_NAMES, FALSE_WORDS, TRUE_WORDS

if TYPE_CHECKING:
    import polars as pl

#: values read as "yes" and "no" in a two-valued outcome column
POSITIVE = set(TRUE_WORDS)
NEGATIVE = set(FALSE_WORDS)

#: roles from a data contract whose columns are never analysed by default
SKIP_ROLES = {"identifier": "identifiers", "text": "free text", "geo": "coordinates", "date": "dates"}
#: column names taken to be map coordinates when the data have no contract: COORDINATE_NAMES


@dataclass
class Variables:
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)
    rows: int = 0

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def column_facts(frame: pl.LazyFrame, columns: list[str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """Rows, and per column: dtype, missing, distinct values and (text) mean length — one query."""
    import polars as pl

    schema = frame.collect_schema()
    exprs = [pl.len().alias("__rows__")]
    for c in columns:
        exprs.append(pl.col(c).null_count().alias(f"{c}\x00missing"))
        exprs.append(pl.col(c).drop_nulls().n_unique().alias(f"{c}\x00distinct"))
        if schema[c] == pl.String:
            exprs.append(pl.col(c).str.len_chars().mean().alias(f"{c}\x00length"))
        if schema[c].is_float():
            exprs.append((~pl.col(c).is_finite()).sum().alias(f"{c}\x00nonfinite"))
    row = frame.select(exprs).collect().row(0, named=True)
    facts = {}
    for c in columns:
        facts[c] = {
            "dtype": schema[c],
            "missing": int(row[f"{c}\x00missing"]),
            "distinct": int(row[f"{c}\x00distinct"]),
            "length": float(row.get(f"{c}\x00length") or 0.0),
            "nonfinite": int(row.get(f"{c}\x00nonfinite") or 0),
        }
    return int(row["__rows__"]), facts


def choose_variables(
    frame: pl.LazyFrame,
    *,
    step: str,
    ctx: StepContext,
    variables: list[str] | None,
    exclude: list[str],
    max_levels: int,
    param: str = "variables",
) -> Variables:
    """Numeric and categorical variables to analyse, with a caveat for each column left out."""
    import polars as pl

    schema = frame.collect_schema()
    available = list(schema.names())
    require_columns(available, variables or [], param=param, step=step)
    explicit = variables is not None
    candidates = [c for c in (variables if explicit else available) if c not in exclude]
    out = Variables()
    skipped: dict[str, list[str]] = {}
    if not explicit:
        kept = []
        for c in candidates:
            role = ctx.roles.get(c)
            if role in SKIP_ROLES:
                skipped.setdefault(SKIP_ROLES[role], []).append(c)
            elif c in ctx.personal:
                skipped.setdefault("personal data", []).append(c)
            elif schema[c].is_temporal():
                skipped.setdefault("dates", []).append(c)
            elif c.lower() in COORDINATE_NAMES:
                skipped.setdefault("coordinates", []).append(c)
            else:
                kept.append(c)
        candidates = kept
    rows, facts = column_facts(frame, candidates)
    out.rows = rows
    for c in candidates:
        f = facts[c]
        dtype = f["dtype"]
        present = rows - f["missing"]
        if present == 0:
            skipped.setdefault("all values missing", []).append(c)
            continue
        if f["distinct"] < 2:
            skipped.setdefault("only one value", []).append(c)
            continue
        if dtype.is_temporal():
            skipped.setdefault("dates (analyse them with eda)", []).append(c)
            continue
        if dtype == pl.Boolean or (dtype.is_numeric() and f["distinct"] <= 2):
            out.categorical.append(c)
            out.levels[c] = f["distinct"]
            continue
        if dtype.is_numeric():
            looks_like_id = (
                not explicit
                and dtype.is_integer()
                and f["distinct"] == present
                and rows > 50
                and ("id" in c.lower().replace("_", " ").split() or c.lower().endswith("_id"))
            )
            if looks_like_id:
                skipped.setdefault("identifiers", []).append(c)
                continue
            if f["nonfinite"]:
                out.caveats.append(
                    f"{c}: {f['nonfinite']:,} infinite or not-a-number values are treated as missing."
                )
            out.numeric.append(c)
            continue
        # strings, categoricals and anything else are treated as categories
        if not explicit and looks_like_text(f["length"], f["distinct"], present):
            skipped.setdefault("free text", []).append(c)
            continue
        if not explicit and rows > 50 and f["distinct"] > 0.9 * present:
            skipped.setdefault("identifiers (almost every value distinct)", []).append(c)
            continue
        kind = None if explicit else personal_kind(frame, c)
        if kind:
            skipped.setdefault(f"personal data: {kind}", []).append(c)
            continue
        if f["distinct"] > max_levels:
            out.caveats.append(
                f"{c} has {f['distinct']:,} distinct values; the {max_levels - 1} most common are "
                "kept and the rest are grouped as 'Other'."
            )
        out.categorical.append(c)
        out.levels[c] = f["distinct"]
    for reason, columns in skipped.items():
        out.caveats.append(f"Not analysed ({reason}): {', '.join(columns)}.")
    return out


def personal_kind(frame: Any, column: str, sample: int = 200) -> str | None:
    """The kind of personal data (e.g. 'UK postcode') most values of a text column look like, by
    the patterns in `expedition.pii`, judged on up to *sample* distinct values; else None."""
    import polars as pl

    from expedition.pii import KINDS, scan

    lazy = frame.lazy()  # a LazyFrame is its own lazy frame
    values = (
        lazy.select(pl.col(column).cast(pl.String).drop_nulls().unique(maintain_order=True).head(sample))
        .collect()
        .to_series()
        .to_list()
    )
    if not values:
        return None
    kinds: dict[str, int] = {}
    for value in values:
        found = {m.kind for m in scan(value)}
        for kind in found:
            kinds[kind] = kinds.get(kind, 0) + 1
    if not kinds:
        return None
    kind, count = max(kinds.items(), key=lambda item: (item[1], item[0]))
    return KINDS[kind] + "s" if count >= 0.5 * len(values) else None


def looks_like_text(mean_length: float, distinct: int, present: int) -> bool:
    """Free text rather than categories: long values (50+ characters on average), or values of
    25+ characters that are mostly distinct. (Categories are short and repeat; notes are long,
    and in large data even templated notes repeat, so length alone decides past 50.)"""
    return mean_length >= 50 or (mean_length > 25 and distinct > 0.5 * max(present, 1))


def categorical_expr(column: str, levels: list[str]) -> pl.Expr:
    """The column as text, values outside *levels* as 'Other', missing kept as null."""
    import polars as pl

    text = pl.col(column).cast(pl.String)
    return (
        pl.when(text.is_null())
        .then(None)
        .when(text.is_in(levels))
        .then(text)
        .otherwise(pl.lit("Other"))
        .alias(column)
    )


def top_levels(
    frame: pl.LazyFrame | pl.DataFrame, column: str, keep: int, *, min_count: int = 1
) -> list[str]:
    """The *keep* most common values of a column that have at least *min_count* records (ties
    broken by value, so the result is stable); the caller groups the rest as 'Other'."""
    import polars as pl

    lazy = frame.lazy()  # a LazyFrame is its own lazy frame
    counts = (
        lazy.select(pl.col(column).cast(pl.String).alias("v"))
        .drop_nulls()
        .group_by("v")
        .len()
        .sort(["len", "v"], descending=[True, False])
        .collect()
    )
    values = counts["v"].to_list()
    sizes = counts["len"].to_list()
    if len(values) <= keep + 1 and min(sizes, default=min_count) >= min_count:
        return values
    return [v for v, n in zip(values[:keep], sizes[:keep]) if n >= min_count]


def numeric_values(series: Any):
    """Finite values of a numeric series as a float NumPy array."""
    import numpy as np

    import polars as pl

    arr = series.cast(pl.Float64).to_numpy()
    return arr[np.isfinite(arr)]


def no_rows(step: str) -> StepError:
    return StepError(
        f"step '{step}': the dataset has no rows to analyse",
        "check the delivery (and its validation): every row may have been quarantined",
    )


# --------------------------------------------------------------------------- shared by steps


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
        if not values:
            raise StepError(f"the outcome {name!r} has no values", "choose a column with two or more values")
        if len(values) > 2:
            shown = ", ".join(values[:8]) + (", ..." if len(values) > 8 else "")
            raise StepError(
                f"the outcome {name!r} has {len(values)} values ({shown}), and the step needs a yes or no",
                f"set outcome_value to the value that counts as the outcome, e.g. outcome_value: "
                f"{values[0]!r} (it is compared with all the others together), or choose a two-valued column",
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


def resolve_text_columns(data: Any, wanted: list[str] | None, ctx: StepContext, *, step: str) -> list[str]:
    """The text columns named, else the contract's, else those that look like free text."""
    if wanted is not None:
        require_columns(data.columns, wanted, param="text", step=step)
        columns = list(wanted)
    else:
        columns = [c for c in ctx.columns_with_role("text") if c in data.columns]
        if not columns:
            columns = [c for c, k in classify_columns(data).items() if k == "text"]
    if not columns:
        raise StepError(
            f"step '{step}': no free-text column found",
            "name the column(s) with the parameter 'text', e.g. text: [referral_note]",
        )
    return columns
