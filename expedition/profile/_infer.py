"""From the pass's numbers to a profile: semantic types, personal-data hints, alerts, correlations.

Everything here works on what `_engine.run_pass` returned (exact merged statistics, exact value
tables for low-cardinality columns, and the uniform sample); nothing reads the data again.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from expedition import pii
from expedition.profile._engine import ColumnState, PassResult, _key_dtype, number_expr
from expedition.vocabulary import (
    BOOLEAN_WORDS,
    IDENTIFIER_WORDS,
    LATITUDE_NAMES,
    LONGITUDE_NAMES,
    name_words,
)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

SCHEMA_VERSION = 1

SEMANTIC_TYPES = {
    "identifier": "a unique (or nearly unique) code for a record",
    "categorical": "a small set of repeated values",
    "numeric": "a number (a count, amount or measurement)",
    "date": "a calendar date",
    "datetime": "a date with a time of day",
    "boolean": "two values: true/false, yes/no, 1/0",
    "text": "free text",
    "uk_postcode": "a full UK postcode",
    "latitude": "a latitude in degrees",
    "longitude": "a longitude in degrees",
    "email": "an e-mail address",
    "phone": "a UK phone number",
    "nhs_number": "an NHS number (valid check digit)",
    "ni_number": "a National Insurance number",
    "empty": "no values at all",
    "other": "nested or binary values",
}
PERSONAL_TYPES = {"uk_postcode": "postcode", "email": "email", "phone": "phone",
                  "nhs_number": "nhs_number", "ni_number": "ni_number"}
_PII_SEMANTIC = {v: k for k, v in PERSONAL_TYPES.items()}

#: Thresholds for alerts; documented in docs/profile.md.
THRESHOLDS = {
    "high_missingness": 0.20,  # share of values missing
    "high_cardinality": 100,  # distinct values of a categorical column
    "skewed": 2.0,  # |skewness|
    "imbalanced": 0.90,  # share of the most frequent value
    "pattern_column": 0.90,  # share of checked values that must be e.g. postcodes
    "pattern_text": 0.01,  # share of free-text values holding personal data
    "high_correlation": 0.90,  # |Pearson r|
    "stored_as_text": 0.95,  # share of text values that must parse as numbers or dates
}
QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
TOP_VALUES = 10
HISTOGRAM_BINS = 20
MAX_CORRELATED = 30
MAX_ASSOCIATED = 20
MAX_CATEGORIES = 50
MASK = "‹masked›"
_BOOL_WORDS = BOOLEAN_WORDS
_ID_WORDS = IDENTIFIER_WORDS
_LAT_WORDS = frozenset(LATITUDE_NAMES)
_LON_WORDS = frozenset(LONGITUDE_NAMES)
_DISPLAY_CHARS = 120


_words = name_words


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _clean(value: Any) -> Any:
    """A JSON-safe scalar: dates as ISO text, NaN and infinity as null, numpy scalars unwrapped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # Decimal
        return number if math.isfinite(number) else None
    except (TypeError, ValueError):
        return str(value)


def display(value: Any) -> str:
    """How a value is shown: text as it is (cut at 120 characters), others in ISO/plain form."""
    if value is None:
        return "(missing)"
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= _DISPLAY_CHARS else text[: _DISPLAY_CHARS - 1] + "…"


class _Column:
    """One column being interpreted: the pass's state plus its slice of the sample."""

    def __init__(self, state: ColumnState, sample: pl.Series, result: PassResult, checked: int) -> None:
        import polars as pl

        self.s = state
        self.rows = result.rows
        self.sample_exact = result.sample_exact
        self.sample = sample
        self.name = state.name
        distinct, exact = state.distinct()
        self.distinct = distinct
        self.distinct_exact = exact
        self.blank, self.blank_exact = self._blank()
        self.nonblank = state.count - self.blank
        self.values: pl.Series | None = None  # distinct text values checked for patterns
        ten_digits = (
            state.kind == "numeric"
            and state.dtype.is_integer()
            and state.minimum is not None
            and 10**8 <= state.minimum
            and state.maximum < 10**10
        )  # whole numbers are checked only when they could be NHS numbers
        if state.kind == "string" or ten_digits:
            values = sample.drop_nulls().cast(pl.String).str.strip_chars()
            values = values.filter(values != "").unique(maintain_order=True)
            self.values = values.head(checked)

    def _blank(self) -> tuple[int, bool]:
        """Values that are empty or only spaces: exact from the value table, else from the sample."""
        import polars as pl

        s = self.s
        if s.kind != "string" or s.count == 0:
            return 0, True
        if s.exact and s.table is not None:
            table = s.table.filter(pl.col("value").is_not_null())
            blank = table.filter(pl.col("value").cast(pl.String).str.strip_chars() == "").get_column("n").sum()
            return int(blank or 0), True
        values = self.sample.drop_nulls().cast(pl.String)
        if values.len() == 0:
            return 0, True
        blank = int((values.str.strip_chars() == "").sum())
        return min(int(round(blank * s.count / values.len())), s.count), self.sample_exact

    # -- parsed views of the sample -------------------------------------------------------------
    def numbers(self) -> pl.Series | None:
        """The sample as finite floats (parsed when numbers are stored as text)."""
        import polars as pl

        if self.s.kind == "numeric":
            if self.s.dtype.is_integer() and self.sample.null_count() == 0:
                return self.sample.cast(pl.Float64)
            x = self.sample.cast(pl.Float64)
        elif self.s.number_text:
            x = self.sample.to_frame("v").select(number_expr(pl.col("v"))).to_series()
        else:
            return None
        return x.filter(x.is_finite())

    def temporal(self) -> pl.Series | None:
        import polars as pl

        if self.s.kind == "temporal":
            return self.sample.drop_nulls()
        if self.s.date_kind is not None:
            from expedition.profile._engine import date_exprs

            parsed = self.sample.to_frame("v").select(
                pl.coalesce(date_exprs(pl.col("v"), self.s.date_kind, self.s.date_formats))
            )
            return parsed.to_series().drop_nulls()
        return None

    @property
    def number_share(self) -> float | None:
        return _share(self.s.number_parsed, self.nonblank) if self.s.number_text else None

    @property
    def date_share(self) -> float | None:
        return _share(self.s.date_parsed, self.nonblank) if self.s.date_kind else None

    # -- semantic type --------------------------------------------------------------------------
    def pattern_shares(self) -> dict[str, float]:
        if self.values is None or self.values.len() == 0:
            return {}
        counts: dict[str, int] = {}
        for value in self.values.to_list():
            kind = pii.value_kind(value)
            if kind:
                counts[kind] = counts.get(kind, 0) + 1
        return {k: n / self.values.len() for k, n in counts.items()}

    def text_matches(self) -> dict[str, float]:
        """Share of checked text values holding each kind of personal data somewhere inside."""
        if self.values is None or self.values.len() == 0:
            return {}
        counts: dict[str, int] = {}
        for value in self.values.to_list():
            for kind in {m.kind for m in pii.scan(value[:2000])}:
                counts[kind] = counts.get(kind, 0) + 1
        return {k: n / self.values.len() for k, n in counts.items()}

    def semantic(self) -> tuple[str, str]:
        s = self.s
        words = set(_words(s.name))
        if s.count == 0:
            return "empty", "every value is missing"
        if s.kind == "boolean":
            return "boolean", "stored as true/false"
        if s.kind == "temporal":
            kind = "date" if str(s.dtype) == "Date" else "datetime"
            return kind, f"stored as {kind}s"
        if s.kind == "other":
            return "other", f"stored as {s.dtype}"
        shares = self.pattern_shares()
        if shares:
            kind, share = max(shares.items(), key=lambda kv: (kv[1], kv[0]))
            if share >= THRESHOLDS["pattern_column"]:
                label = PATTERN_LABELS[kind][1]
                return _PII_SEMANTIC[kind], f"{share:.0%} of checked values are {_plural(label)}"
        distinct_share = _share(self.distinct or 0, s.count) or 0.0
        if s.kind == "numeric":
            low, high = _clean(s.num_min), _clean(s.num_max)
            if words & _LAT_WORDS and low is not None and -90 <= low and high <= 90:
                return "latitude", "named like a latitude, values within ±90"
            if words & _LON_WORDS and low is not None and -180 <= low and high <= 180:
                return "longitude", "named like a longitude, values within ±180"
            if self.distinct is not None and self.distinct <= 2 and low in (0, 1) and high in (0, 1):
                return "boolean", "only the values 0 and 1"
            if s.dtype.is_integer() and s.count >= 20 and distinct_share >= 0.99 and (
                words & _ID_WORDS or (s.count >= 1000 and distinct_share == 1.0 and self.distinct_exact)
            ):
                return "identifier", f"whole numbers, {distinct_share:.0%} distinct"
            return "numeric", f"stored as {s.dtype}"
        # text
        if s.number_text and (self.number_share or 0) >= THRESHOLDS["stored_as_text"]:
            return "numeric", f"{self.number_share:.0%} of values are numbers written as text"
        if s.date_kind and (self.date_share or 0) >= THRESHOLDS["stored_as_text"]:
            return s.date_kind, f"{self.date_share:.0%} of values are {s.date_kind}s written as text"
        if (
            s.exact
            and s.table is not None
            and self.distinct is not None
            and 1 <= self.distinct <= 2
            and {str(v).strip().lower() for v in s.table.get_column("value").drop_nulls().to_list()}
            <= _BOOL_WORDS
        ):
            return "boolean", "only yes/no-like values"
        spaced = 0.0
        if self.values is not None and self.values.len():
            spaced = float(self.values.str.contains(r"\s").mean() or 0.0)
        mean_length = s.len_sum / s.count if s.count else 0.0
        if s.count >= 20 and distinct_share >= 0.95 and spaced < 0.1 and mean_length <= 40:
            return "identifier", f"{distinct_share:.0%} distinct, short values without spaces"
        if words & _ID_WORDS and distinct_share >= 0.9 and spaced < 0.1:
            return "identifier", f"named like an identifier, {distinct_share:.0%} distinct"
        if (self.distinct or 0) <= 50 and mean_length < 50:
            return "categorical", f"{self.distinct:,} distinct values"
        if spaced >= 0.5 and (mean_length >= 20 or distinct_share >= 0.5) or mean_length >= 50:
            return "text", f"mostly words with spaces, {mean_length:.0f} characters on average"
        if (self.distinct or 0) <= THRESHOLDS["high_cardinality"] or distinct_share <= 0.05:
            return "categorical", f"{self.distinct:,} distinct values"
        if distinct_share > 0.5:
            if spaced >= 0.1:
                return "text", f"{distinct_share:.0%} distinct, with spaces"
            return "identifier", f"{distinct_share:.0%} distinct"
        return "categorical", f"{self.distinct:,} distinct values"

    # -- personal data --------------------------------------------------------------------------
    def personal(self, semantic: str) -> dict[str, Any] | None:
        patterns = []
        if semantic in PERSONAL_TYPES:
            kind = PERSONAL_TYPES[semantic]
            patterns.append(
                {"pattern": kind, "label": PATTERN_LABELS[kind][1], "share": round(self.pattern_shares().get(kind, 0.0), 4),
                 "match": "whole value"}
            )
        elif semantic in {"text", "categorical", "identifier"} and self.s.kind == "string":
            for kind, share in sorted(self.text_matches().items()):
                checked = self.values.len() if self.values is not None else 0
                if share >= THRESHOLDS["pattern_text"] or share * checked >= 3:
                    patterns.append(
                        {"pattern": kind, "label": PATTERN_LABELS[kind][1], "share": round(share, 4), "match": "inside text"}
                    )
        hint = pii.column_hint(self.name)
        if not patterns and hint is None:
            return None
        return {
            "patterns": patterns,
            "name_hint": hint,
            "name_hint_label": _HINT_LABELS.get(hint) if hint else None,
            "checked_values": self.values.len() if self.values is not None else 0,
        }


#: What each personal-data pattern finds, with its article, for messages.
PATTERN_LABELS = {
    "email": ("an", "e-mail address"),
    "nhs_number": ("an", "NHS number"),
    "ni_number": ("a", "National Insurance number"),
    "date_of_birth": ("a", "date of birth"),
    "phone": ("a", "UK phone number"),
    "postcode": ("a", "UK postcode"),
    "name": ("a", "person's name"),
}

_HINT_LABELS = {
    "name": "a person's name",
    "date_of_birth": "a date of birth",
    "address": "an address",
    "email": "an e-mail address",
    "phone": "a phone number",
    "nhs_number": "an NHS number",
    "ni_number": "a National Insurance number",
}


def _plural(label: str) -> str:
    return label + ("es" if label.endswith("ss") else "s")


# --------------------------------------------------------------------------- sections


def _top_values(c: _Column, masked: str | None, semantic: str) -> tuple[list[dict[str, Any]], bool]:
    """The most frequent values with their counts: exact from the value table, else estimated
    from the sample (only values seen more than once there, counts scaled to all rows)."""
    import polars as pl

    s = c.s
    if s.kind == "other" or s.count == 0:
        return [], True
    if s.exact and s.table is not None:
        table = s.table.filter(pl.col("value").is_not_null())
        exact = True
        scale = 1.0
    else:
        values = c.sample.drop_nulls().rename("value")  # a column may itself be called "n"
        table = values.value_counts(name="n")
        exact = c.sample_exact
        if not exact:
            table = table.filter(pl.col("n") > 1)
        scale = s.count / values.len() if values.len() else 1.0
    if table.height == 0:
        return [], exact
    if table.height > 2_000:
        cut = table.get_column("n").top_k(TOP_VALUES).min()
        table = table.filter(pl.col("n") >= cut)
    if table.height > 2_000:  # many ties: let Polars sort
        top = table.sort(["n", "value"], descending=[True, False], nulls_last=True).head(TOP_VALUES)
        pairs = list(zip(top.get_column("value").to_list(), top.get_column("n").to_list()))
    else:
        pairs = sorted(
            zip(table.get_column("value").to_list(), table.get_column("n").to_list()),
            key=lambda vn: (-vn[1], vn[0]),
        )[:TOP_VALUES]
    out = []
    for value, n in pairs:
        count = int(round(n * scale))
        if masked:
            shown = MASK
        elif semantic == "text":
            shown = display(pii.redact(str(value))[0])
        else:
            shown = display(value)
        out.append({"value": shown, "count": count, "share": _clean(_share(count, s.count))})
    return out, exact


def _numeric(c: _Column) -> dict[str, Any] | None:
    import numpy as np

    s = c.s
    m = s.moments
    if m is None or m.n == 0:
        return None
    x = c.numbers()
    quantiles: dict[str, Any] = dict.fromkeys(QUANTILES)
    outliers = None
    histogram = None
    if x is not None and x.len():
        arr = x.to_numpy()
        values = np.quantile(arr, list(QUANTILES.values()))  # linear interpolation
        qs = dict(zip(QUANTILES, (float(v) for v in values)))
        quantiles = {k: _clean(v) for k, v in qs.items()}
        q1, q3 = qs["p25"], qs["p75"]
        iqr = q3 - q1
        low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
        n_out = int(((arr < low_fence) | (arr > high_fence)).sum())
        scale = m.n / len(arr)
        count = int(round(n_out * scale))
        outliers = {
            "low_fence": _clean(low_fence),
            "high_fence": _clean(high_fence),
            "count": count,
            "share": _clean(_share(count, m.n)),
            "exact": c.sample_exact,
        }
        histogram = _histogram(c, arr, scale)
    return {
        "min": _clean(s.num_min),
        "max": _clean(s.num_max),
        "mean": _clean(m.mean),
        "std": _clean(m.std),
        "skewness": _round(_clean(m.skewness), 6),
        "sum": _clean(m.mean * m.n),
        "zeros": s.zeros,
        "negatives": s.negatives,
        "nan": s.nan,
        "infinite": s.infinite,
        "quantiles": quantiles,
        "quantiles_exact": c.sample_exact,
        "iqr_outliers": outliers,
        "histogram": histogram,
    }


def _histogram(c: _Column, x: np.ndarray, scale: float) -> dict[str, Any]:
    import numpy as np
    import polars as pl

    s = c.s
    if s.exact and s.table is not None and s.kind == "numeric" and s.dtype.is_integer():
        table = s.table.filter(pl.col("value").is_not_null()).sort("value")
        if 0 < table.height <= 30:
            return {
                "kind": "values",
                "values": [_clean(v) for v in table.get_column("value").to_list()],
                "counts": [int(n) for n in table.get_column("n").to_list()],
                "exact": True,
            }
    low, high = _clean(s.num_min), _clean(s.num_max)
    if low is None or high is None:
        return {"kind": "bins", "edges": [], "counts": [], "exact": True}
    low, high = float(low), float(high)
    if high == low:
        high = low + 1.0
    counts, edges = np.histogram(x, bins=HISTOGRAM_BINS, range=(low, high))
    return {
        "kind": "bins",
        "edges": [_clean(float(e)) for e in edges],
        "counts": [int(round(n * scale)) for n in counts],
        "exact": c.sample_exact,
    }


def _text(c: _Column) -> dict[str, Any] | None:
    s = c.s
    if s.kind != "string" or s.count == 0:
        return None
    lengths = c.sample.drop_nulls().str.len_chars()
    median = lengths.median() if lengths.len() else None
    return {
        "min_length": s.len_min,
        "mean_length": _clean(s.len_sum / s.count),
        "max_length": s.len_max,
        "median_length": _clean(median),
        "median_length_exact": c.sample_exact,
        "blank": c.blank,
        "blank_exact": c.blank_exact,
    }


def _temporal(c: _Column) -> dict[str, Any] | None:
    import polars as pl

    s = c.s
    if not c.s.temporal_like or s.days is None or s.minimum is None:
        return None
    days = s.days.filter(pl.col("value").is_not_null()).sort("value")
    dates = days.get_column("value").to_list()
    gaps = []
    granularity = None
    if len(dates) > 1:
        steps = [(b - a).days for a, b in zip(dates, dates[1:])]
        ordered = sorted(steps)
        granularity = ordered[len(ordered) // 2]
        longest = sorted(zip(steps, dates, dates[1:]), key=lambda t: (-t[0], t[1]))[:3]
        gaps = [
            {"after": a.isoformat(), "before": b.isoformat(), "days_without_records": step - 1}
            for step, a, b in longest
            if step > 1
        ]
    monthly = (
        days.with_columns(pl.col("value").dt.truncate("1mo").alias("month"))
        .group_by("month")
        .agg(pl.col("n").sum())
        .sort("month")
    )
    first, last = dates[0], dates[-1]
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    by = "month"
    series = monthly
    if months > 240:
        series = days.group_by(pl.col("value").dt.year().alias("month")).agg(pl.col("n").sum()).sort("month")
        by = "year"
    return {
        "min": _clean(s.minimum),
        "max": _clean(s.maximum),
        "distinct_days": len(dates),
        "typical_step_days": granularity,
        "longest_gaps": gaps,
        "months_in_range": months,
        "months_without_records": months - monthly.height,
        "records_by": by,
        "records": [
            {"period": _clean(p) if by == "month" else int(p), "count": int(n)}
            for p, n in zip(series.get_column("month").to_list(), series.get_column("n").to_list())
        ],
    }


def _stored_as_text(c: _Column, masked: bool) -> dict[str, Any] | None:
    import polars as pl

    s = c.s
    if not (s.number_text or s.date_kind):
        return None
    if s.number_text:
        parsed, kind = s.number_parsed, "number"
        unparsed_sample = c.sample.drop_nulls().to_frame("v").filter(
            number_expr(pl.col("v")).is_null() & (pl.col("v").str.strip_chars() != "")
        )
    else:
        parsed, kind = s.date_parsed, s.date_kind
        from expedition.profile._engine import date_exprs

        unparsed_sample = c.sample.drop_nulls().to_frame("v").filter(
            pl.coalesce(date_exprs(pl.col("v"), s.date_kind, s.date_formats)).is_null()  # type: ignore[arg-type]
            & (pl.col("v").str.strip_chars() != "")
        )
    examples = []
    if not masked and unparsed_sample.height:
        counts = unparsed_sample.get_column("v").value_counts(name="n").sort(["n", "v"], descending=[True, False])
        examples = [display(v) for v in counts.get_column("v").head(3).to_list()]
    out: dict[str, Any] = {
        "kind": kind,
        "parsed": parsed,
        "share": _clean(_share(parsed, c.nonblank)),
        "not_parsed": max(c.nonblank - parsed, 0),
        "examples_not_parsed": examples,
    }
    if s.number_text:
        out["thousands_separators"] = s.number_separators
    else:
        out["formats"] = {f: n for f, n in s.date_counts.items()}
    return out


# --------------------------------------------------------------------------- dataset level


def _correlations(columns: list[tuple[_Column, str]], result: PassResult) -> dict[str, Any] | None:
    """Pearson and Spearman correlation of every pair of numeric columns, on the sample, each
    pair on the rows where both are present (the same as scipy.stats.pearsonr/spearmanr there)."""
    import numpy as np
    import polars as pl

    chosen = [c for c, sem in columns if sem in {"numeric", "latitude", "longitude"} and c.numbers() is not None]
    if len(chosen) < 2:
        return None
    limited = len(chosen) > MAX_CORRELATED
    chosen = chosen[:MAX_CORRELATED]
    k = len(chosen)
    frame = pl.DataFrame({f"c{i}": _finite_or_null(c) for i, c in enumerate(chosen)})
    complete = [i for i in range(k) if frame.get_column(f"c{i}").null_count() == 0]
    pearson = np.full((k, k), np.nan)
    spearman = np.full((k, k), np.nan)

    def fill(rows: pl.DataFrame, idx: list[int], *, first_only: bool = False) -> None:
        """Both coefficients of the pairs of *idx* (only those with its first column when
        *first_only*), on *rows*, which are complete in those columns."""
        if len(idx) < 2 or rows.height < 2:
            return
        values = rows.select([f"c{i}" for i in idx]).to_numpy()
        ranks = rows.select([pl.col(f"c{i}").rank("average") for i in idx]).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.corrcoef(values, rowvar=False)
            r = np.corrcoef(ranks, rowvar=False)
        at = np.array(idx)
        if first_only:
            pearson[at[0], at] = pearson[at, at[0]] = p[0]
            spearman[at[0], at] = spearman[at, at[0]] = r[0]
        else:
            pearson[np.ix_(at, at)] = p
            spearman[np.ix_(at, at)] = r

    # columns without gaps: one matrix product for all their pairs; a column with gaps and every
    # column without: one more, on the rows where it is present
    fill(frame, complete)
    gappy = [i for i in range(k) if i not in complete]
    for i in gappy:
        fill(frame.filter(pl.col(f"c{i}").is_not_null()), [i, *complete], first_only=True)
    pairs = [(i, j) for i in gappy for j in gappy if i < j]
    if pairs:
        exprs = []
        for i, j in pairs:
            exprs.append(pl.corr(f"c{i}", f"c{j}", method="pearson").alias(f"p{i}_{j}"))
            exprs.append(pl.corr(f"c{i}", f"c{j}", method="spearman").alias(f"s{i}_{j}"))
        got = frame.select(exprs).row(0, named=True)
        for i, j in pairs:
            pearson[i, j] = pearson[j, i] = got[f"p{i}_{j}"] if got[f"p{i}_{j}"] is not None else np.nan
            spearman[i, j] = spearman[j, i] = got[f"s{i}_{j}"] if got[f"s{i}_{j}"] is not None else np.nan
    np.fill_diagonal(pearson, 1.0)
    np.fill_diagonal(spearman, 1.0)
    return {
        "columns": [c.name for c in chosen],
        "pearson": [[_round(_clean(float(v))) for v in row] for row in pearson],
        "spearman": [[_round(_clean(float(v))) for v in row] for row in spearman],
        "sample_rows": result.sample.height,
        "exact": result.sample_exact,
        "limited_to": MAX_CORRELATED if limited else None,
    }


def _finite_or_null(c: _Column) -> pl.Series:
    import polars as pl

    if c.s.kind == "numeric":
        x = c.sample.cast(pl.Float64)
    else:
        x = c.sample.to_frame("v").select(number_expr(pl.col("v"))).to_series()
    return x.to_frame("x").select(pl.when(pl.col("x").is_finite()).then(pl.col("x"))).to_series()


def _round(value: Any, digits: int = 4) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a contingency table: sqrt(chi² / (n · (min(rows, columns) − 1))), chi² without
    continuity correction (the same as scipy.stats.contingency.association(method="cramer"),
    written out here so profiling does not import SciPy for three lines of arithmetic)."""
    import numpy as np

    observed = table.astype(float)
    n = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / n
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / (n * (min(observed.shape) - 1)))


def _associations(columns: list[tuple[_Column, str]], result: PassResult) -> dict[str, Any] | None:
    import numpy as np

    chosen = []
    for c, sem in columns:
        if sem in {"categorical", "boolean"} and c.s.kind != "other":
            n = c.sample.drop_nulls().n_unique()
            if 2 <= n <= MAX_CATEGORIES:
                chosen.append(c)
    if len(chosen) < 2:
        return None
    limited = len(chosen) > MAX_ASSOCIATED
    chosen = chosen[:MAX_ASSOCIATED]
    k = len(chosen)
    # each column's values as codes 0..m-1 (-1 where missing), so a pair's contingency table is
    # one count of code pairs
    codes = [_codes(c.sample) for c in chosen]
    matrix = [[1.0 if i == j else None for j in range(k)] for i in range(k)]
    for i in range(k):
        for j in range(i + 1, k):
            both = (codes[i] >= 0) & (codes[j] >= 0)
            a, b = codes[i][both], codes[j][both]
            if not len(a):
                continue
            width = int(b.max()) + 1
            table = np.bincount(a * width + b, minlength=(int(a.max()) + 1) * width).reshape(-1, width)
            table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]  # values seen in both
            if min(table.shape) < 2:
                continue
            matrix[i][j] = matrix[j][i] = _round(_clean(cramers_v(table)))
    return {
        "columns": [c.name for c in chosen],
        "cramers_v": matrix,
        "sample_rows": result.sample.height,
        "exact": result.sample_exact,
        "limited_to": MAX_ASSOCIATED if limited else None,
    }


def _codes(values: pl.Series) -> np.ndarray:
    """*values* as codes 0..m-1 in order of first appearance, -1 where missing."""
    import polars as pl

    text = values.cast(pl.String)
    if hasattr(pl, "Categories"):  # Polars >= 1.32: categories of its own, numbered from 0
        codes = text.cast(pl.Categorical(pl.Categories.random())).to_physical()
    else:
        codes = text.rank("dense") - 1
    return codes.cast(pl.Int64).fill_null(-1).to_numpy()


def _alert(kind: str, column: str | None, message: str, severity: str = "warning", **detail: Any) -> dict[str, Any]:
    return {"kind": kind, "column": column, "severity": severity, "message": message, "detail": detail}


def _column_alerts(col: dict[str, Any], c: _Column, rows: int) -> list[dict[str, Any]]:
    name = col["name"]
    alerts = []
    q = f"'{name}'"
    if rows and col["count"] == 0:
        alerts.append(_alert("empty_column", name, f"{q} has no values at all (every row is missing)."))
        return alerts
    share = col["missing_share"] or 0.0
    if share >= THRESHOLDS["high_missingness"]:
        alerts.append(
            _alert("high_missingness", name, f"{q} is missing in {share:.1%} of rows ({col['missing']:,}).",
                   share=share)
        )
    personal = col["personal"]
    if personal:
        reasons = [
            f"{p['share']:.0%} of checked values are {_plural(p['label'])} (pattern '{p['pattern']}')"
            if p["match"] == "whole value"
            else f"{p['share']:.0%} of checked values contain {PATTERN_LABELS[p['pattern']][0]} "
            f"{p['label']} (pattern '{p['pattern']}')"
            for p in personal["patterns"]
        ]
        if personal["name_hint"]:
            reasons.append(f"the column name suggests {personal['name_hint_label']}")
        alerts.append(
            _alert(
                "suspected_personal_data",
                name,
                f"{q} may hold personal data: " + "; ".join(reasons)
                + ". Its values are masked in this profile; keep it out of anything shared.",
                patterns=[p["pattern"] for p in personal["patterns"]],
                name_hint=personal["name_hint"],
            )
        )
    if col["distinct"] == 1 and col["count"] > 1:
        shown = col["top_values"][0]["value"] if col["top_values"] else MASK
        alerts.append(_alert("constant", name, f"{q} has the same value in every row that has one ({shown})."))
    sem = col["semantic_type"]
    if sem == "categorical" and (col["distinct"] or 0) > THRESHOLDS["high_cardinality"]:
        alerts.append(
            _alert("high_cardinality", name,
                   f"{q} has {col['distinct']:,} distinct values: too many to treat as categories without grouping.",
                   distinct=col["distinct"])
        )
    if sem in {"categorical", "boolean"} and (col["distinct"] or 0) >= 2 and col["top_values"]:
        top = col["top_values"][0]
        if (top["share"] or 0) >= THRESHOLDS["imbalanced"]:
            alerts.append(
                _alert("imbalanced", name, f"{q} is imbalanced: its most common value ({top['value']}) "
                       f"makes up {top['share']:.1%} of values.", share=top["share"])
            )
    numeric = col["numeric"]
    if numeric and sem == "numeric" and numeric["skewness"] is not None and abs(numeric["skewness"]) >= THRESHOLDS["skewed"]:
        side = "right (a long tail of large values)" if numeric["skewness"] > 0 else "left (a long tail of small values)"
        alerts.append(
            _alert("skewed", name, f"{q} is highly skewed to the {side}: skewness {numeric['skewness']:.1f}.",
                   skewness=numeric["skewness"])
        )
    text = col["stored_as_text"]
    if text:
        share = text["share"] or 0.0
        examples = ", ".join(f"'{e}'" for e in text["examples_not_parsed"])
        thing = "numbers" if text["kind"] == "number" else f"{text['kind']}s"
        formats = {f: n for f, n in text.get("formats", {}).items() if n}
        if len(formats) > 1:
            listing = ", ".join(f"{_format_example(f)} ({n:,})" for f, n in formats.items())
            alerts.append(
                _alert("mixed_date_formats", name, f"{q} writes dates in {len(formats)} layouts: {listing}.",
                       formats=formats)
            )
        if text["not_parsed"] and share >= 0.5:
            alerts.append(
                _alert("mixed_types", name,
                       f"{q} mixes {thing} ({share:.1%}) with other text ({text['not_parsed']:,} values"
                       + (f", e.g. {examples}" if examples else "") + ").",
                       share=share)
            )
        elif not text["not_parsed"]:
            extra = ""
            if text["kind"] == "number" and text.get("thousands_separators"):
                extra = f", {text['thousands_separators']:,} with thousands separators"
            alerts.append(
                _alert("stored_as_text", name, f"{q} holds {thing} written as text{extra}; convert it when cleaning.",
                       severity="info")
            )
    temporal = col["temporal"]
    if temporal and temporal["min"] and not personal:
        low, high = str(temporal["min"])[:10], str(temporal["max"])[:10]
        future = (date.today() + timedelta(days=366)).isoformat()
        if low < "1900-01-01" or high > future:
            alerts.append(
                _alert("implausible_dates", name, f"{q} has dates from {low} to {high}; check the earliest "
                       "and latest for typing errors or placeholder dates.")
            )
    return alerts


def _format_example(fmt: str) -> str:
    sample = datetime(2024, 12, 31, 14, 30)
    text = fmt.replace("%.f", "").replace("%z", "+00:00")
    try:
        return sample.strftime(text)
    except ValueError:
        return fmt


# --------------------------------------------------------------------------- the whole profile


def build_profile(result: PassResult, source: dict[str, Any], *, seed: int, pattern_values: int = 1000) -> dict[str, Any]:
    """The profile document (see docs/profile.md for its schema)."""
    rows = result.rows
    width = len(result.columns)
    checked = max(100, min(pattern_values, 200_000 // max(width, 1)))
    interpreted: list[tuple[_Column, str]] = []
    columns_out = []
    for s in result.columns:
        c = _Column(s, result.sample.get_column(s.name), result, checked)
        key = _is_key(c, rows)
        if key["unique"] and key["exact"]:
            c.distinct, c.distinct_exact = rows, True
        semantic, reason = c.semantic()
        personal = c.personal(semantic)
        masked = None
        if personal:
            masked = "suspected personal data"
        elif semantic == "identifier":
            masked = "identifier values are not shown"
        top, top_exact = _top_values(c, masked, semantic)
        numeric = None if personal else _numeric(c)
        temporal = None if personal else _temporal(c)
        col = {
            "name": s.name,
            "position": s.index + 1,
            "physical_type": str(s.dtype),
            "semantic_type": semantic,
            "semantic_reason": reason,
            "count": s.count,
            "missing": s.nulls,
            "missing_share": _clean(_share(s.nulls, rows)),
            "distinct": c.distinct,
            "distinct_share": _clean(_share(c.distinct or 0, s.count)) if c.distinct is not None else None,
            "distinct_exact": c.distinct_exact,
            "unique": key["unique"],
            "unique_exact": key["exact"],
            "top_values": top,
            "top_values_exact": top_exact,
            "values_masked": masked,
            "numeric": numeric,
            "text": _text(c),
            "temporal": temporal,
            "boolean": _boolean(c),
            "stored_as_text": _stored_as_text(c, masked is not None and personal is not None),
            "personal": personal,
        }
        columns_out.append(col)
        interpreted.append((c, semantic))
    alerts: list[dict[str, Any]] = []
    if rows == 0:
        alerts.append(_alert("no_rows", None, "The data have column names but no rows."))
    for renamed in source.get("renamed_columns", []):
        what = "a blank name" if not renamed["original"].strip() else f"the repeated name '{renamed['original']}'"
        alerts.append(
            _alert("column_names", renamed["name"],
                   f"Column {renamed['position']} has {what}; it is read as '{renamed['name']}'.")
        )
    if source.get("quoting") is False:
        alerts.append(
            _alert("quotes_in_values", None, "Double quotes appear inside values without quoting them, "
                   "so they are read as ordinary characters.", severity="info")
        )
    for column, reason in source.get("read_as_text", {}).items():
        alerts.append(
            _alert("read_as_text", column, f"'{column}' is read as text: {reason}.", severity="info")
        )
    short = source.get("short_rows") or {}
    if short.get("count"):
        n = short["count"]
        shown = ", ".join(
            f"row {e['row']} (line {e['line']}: " + ("blank)" if e.get("blank") else f"{e['fields']} fields)")
            for e in short["examples"][:3]
        )
        alerts.append(
            _alert("short_rows", None,
                   f"{n:,} row{'s' if n != 1 else ''} ({n / rows:.1%}) {'have' if n != 1 else 'has'} fewer "
                   f"fields than the header's {short['header_fields']}, e.g. {shown}; their missing "
                   "fields count as missing values here, and validation quarantines them.",
                   count=n, examples=short["examples"])
        )
    sheets = source.get("sheets") or []
    if len(sheets) > 1:
        alerts.append(
            _alert("other_sheets", None,
                   f"The workbook has {len(sheets)} sheets ({', '.join(sheets)}); this profile is of "
                   f"'{source.get('sheet')}'.", severity="info", sheets=sheets)
        )
    for note in source.get("notes", []):
        if note.startswith("read as Windows-1252"):
            alerts.append(_alert("encoding", None, note[0].upper() + note[1:] + ".", severity="info"))
    if source.get("text_values"):
        alerts.append(
            _alert("read_as_text", None, "Values change type between lines (or hold NaN, Infinity or "
                   "numbers too large to store), so every value is read as text.", severity="info")
        )
    for col, (c, _) in zip(columns_out, interpreted):
        alerts.extend(_column_alerts(col, c, rows))
    if result.duplicate_rows:
        share = result.duplicate_rows / rows
        approx = "" if result.duplicates_exact else "about "
        alerts.append(
            _alert("duplicate_rows", None, f"{approx}{result.duplicate_rows:,} rows ({share:.1%}) are exact "
                   "copies of an earlier row.", count=result.duplicate_rows)
        )
    correlations = _correlations([(c, sem) for c, sem in interpreted if not columns_out[c.s.index]["personal"]], result)
    if correlations:
        names = correlations["columns"]
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                r = correlations["pearson"][i][j]
                if r is not None and abs(r) >= THRESHOLDS["high_correlation"]:
                    alerts.append(
                        _alert("high_correlation", names[i],
                               f"'{names[i]}' and '{names[j]}' are highly correlated (Pearson r = {r:.2f}).",
                               severity="info", other=names[j], pearson=r)
                    )
    associations = _associations([(c, sem) for c, sem in interpreted if not columns_out[c.s.index]["personal"]], result)
    missing_cells = sum(s.nulls for s in result.columns)
    keys = [col["name"] for col in columns_out if col["unique"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "dataset": {
            "rows": rows,
            "columns": width,
            "missing_cells": missing_cells,
            "missing_cells_share": _clean(_share(missing_cells, rows * width)),
            "duplicate_rows": result.duplicate_rows,
            "duplicate_rows_share": _clean(_share(result.duplicate_rows or 0, rows)) if result.duplicate_rows is not None else None,
            "duplicate_rows_exact": result.duplicates_exact,
            "candidate_keys": keys,
            "memory_bytes": result.memory_bytes,
            "semantic_types": _type_counts(columns_out),
        },
        "sample": {
            "rows": result.sample.height,
            "all_rows": result.sample_exact,
            "seed": seed,
            "method": "uniform random sample without replacement: the rows with the smallest keys, "
            "one 64-bit number per row in file order from a seeded random stream (PCG64)",
        },
        "columns": columns_out,
        "correlations": correlations,
        "associations": associations,
        "alerts": alerts,
        "statistics": _legend(result),
    }


def _type_counts(columns: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for col in columns:
        counts[col["semantic_type"]] = counts.get(col["semantic_type"], 0) + 1
    return dict(sorted(counts.items()))


def _boolean(c: _Column) -> dict[str, Any] | None:
    s = c.s
    if s.kind == "boolean" and s.count:
        return {"true": s.trues, "false": s.count - s.trues, "true_share": _clean(s.trues / s.count)}
    return None


def _is_key(c: _Column, rows: int) -> dict[str, Any]:
    """Whether the column is unique with no missing values (a candidate key), and whether exactly."""
    s = c.s
    if not _key_dtype(s.dtype) or rows < 2 or s.nulls:
        return {"unique": False, "exact": True}
    if s.increasing and s.count == rows and s.dtype.is_integer():
        return {"unique": True, "exact": True}  # strictly increasing down the file
    if s.exact:
        return {"unique": c.distinct == rows, "exact": True}
    if s.key_checked or not s.key_possible:
        return {"unique": s.key_possible, "exact": True}
    estimate, exact = s.kmv.estimate() if s.kmv is not None else (0, False)
    return {"unique": estimate >= (rows if exact else 0.98 * rows), "exact": exact}


def _legend(result: PassResult) -> dict[str, Any]:
    exact = [
        "rows", "count", "missing", "min", "max", "mean", "std", "skewness", "sum", "zeros",
        "negatives", "string lengths (min, mean, max)", "date range", "dates by month and gaps",
        "numbers or dates stored as text", "true/false counts",
    ]
    approximate: dict[str, str] = {}
    sampled = "from the uniform sample of {n:,} of {rows:,} rows".format(n=result.sample.height, rows=result.rows)
    if result.sample_exact:
        exact += ["quantiles", "histograms", "IQR outliers", "median string length", "correlations",
                  "Cramér's V", "pattern checks (on up to 1,000 distinct values per column)"]
    else:
        for key in ("quantiles", "histograms (counts scaled to all rows)", "IQR outliers (scaled to all rows)",
                    "median string length", "correlations", "Cramér's V"):
            approximate[key] = sampled
        approximate["pattern checks"] = "on up to 1,000 distinct values per column from the sample"
    approximate["distinct and top values"] = (
        "every value is counted exactly for columns with at most 1,000 distinct values (dates "
        "without a time: at most 40,000 distinct days); beyond that, distinct comes from a "
        "K-minimum-values sketch (exact below 16,384 distinct values, about ±0.8% above) and top "
        "values are estimated from the sample (distinct_exact and top_values_exact say which)"
    )
    if result.duplicates_exact:
        exact.append("duplicate rows and unique columns (64-bit hashes of every row, or a whole-number "
                     "column that increases down the file; a hash collision is less likely than one in a "
                     "million)")
    else:
        approximate["duplicate rows and unique columns"] = (
            "too many rows to keep every hash in 256 MiB: estimated from a K-minimum-values sketch of "
            "row hashes, and reported as unknown (null) when the estimate is within its error of none"
        )
    return {"exact": exact, "approximate": approximate}
