"""The single pass over the data: mergeable per-batch statistics and a uniform sample.

The data are read once, in batches (Polars' streaming engine for files, slices for frames in
memory), so memory stays bounded however large the file is. For every batch one Polars
``select`` computes all per-column aggregates at once; the results are merged exactly:

* counts, missing values, zeros, negatives, minimum and maximum, string lengths: exact;
* mean, standard deviation and skewness: exact, by merging central moments (Pébay 2008);
* distinct values and top values: exact counts while a column has at most
  ``EXACT_VALUES`` distinct values; beyond that the distinct count is a K-minimum-values
  estimate (``KMV_K`` smallest 64-bit hashes, relative standard error about 0.8%) and the top
  values are estimated from the sample;
* duplicate rows and single-column keys: exact by 64-bit hashes of every row (and of every value
  of a column that may be a key) while those hashes fit in ``HASH_BYTES`` (collision chance
  below one in a million); beyond that, key columns and then duplicates are estimated, so
  memory stays bounded;
* a uniform random sample of up to ``SAMPLE_ROWS`` rows: each row draws the next key from one
  seeded random stream and the rows with the smallest keys are kept (bottom-k sampling), so the
  same data and seed give the same sample, however the data are split into batches.
  Quantiles, histograms, outliers, correlations and pattern checks use it; when the data have
  no more rows than the sample, it *is* the data and those are exact too.

Nothing in this module decides what a column *means*; `_infer` does that from these numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expedition.vocabulary import DATE_FORMATS, DATETIME_FORMATS, LEADING_ZERO, NUMBER_TEXT

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

SAMPLE_ROWS = 100_000
SAMPLE_CELLS = 20_000_000
BATCH_CELLS = 4_000_000
MIN_BATCH_ROWS = 1_000
MAX_BATCH_ROWS = 200_000
EXACT_VALUES = 1_000
EXACT_VALUES_TOTAL = 4_000_000
#: Dates (without a time) are counted exactly up to this many distinct days (about 110 years):
#: one count per day is cheaper than checking, hashing and parsing every value.
EXACT_DAYS = 40_000
KMV_K = 16_384
HASH_BYTES = 256 * 2**20
SEED = 20_261_124
PLAN_VALUES = 2_000
#: With ``draft=True``, a type stops being counted for a column once more values failed it than
#: 1% of this many times the rows the reader expects (checked at the end, and counted again if
#: the file turned out longer).
DRAFT_ROWS_MARGIN = 1.25
_COUNT = "\x1fn"


ProgressCallback = Callable[[float, str], None]


# --------------------------------------------------------------------------- merging helpers


@dataclass
class Moments:
    """Count, mean and the 2nd and 3rd central moment sums, merged exactly between batches."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0

    def merge(self, n: int, mean: float | None, m2: float | None, m3: float | None) -> None:
        if not n:
            return
        mean, m2, m3 = float(mean or 0.0), float(m2 or 0.0), float(m3 or 0.0)
        if self.n == 0:
            self.n, self.mean, self.m2, self.m3 = n, mean, m2, m3
            return
        na, nb = self.n, n
        total = na + nb
        delta = mean - self.mean
        m3_new = (
            self.m3
            + m3
            + delta**3 * na * nb * (na - nb) / total**2
            + 3.0 * delta * (na * m2 - nb * self.m2) / total
        )
        self.m2 = self.m2 + m2 + delta**2 * na * nb / total
        self.m3 = m3_new
        self.mean = self.mean + delta * nb / total
        self.n = total

    @property
    def std(self) -> float | None:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else None

    @property
    def skewness(self) -> float | None:
        """Adjusted Fisher–Pearson skewness G1 (as scipy.stats.skew(bias=False), Excel SKEW)."""
        n = self.n
        if n < 3 or self.m2 <= 0:
            return None
        g1 = math.sqrt(n) * self.m3 / self.m2**1.5
        return g1 * math.sqrt(n * (n - 1)) / (n - 2)


def kmv_estimate(hashes: np.ndarray, k: int | None = None) -> tuple[int, bool]:
    """(distinct count, exact?) from the smallest distinct 64-bit hashes kept."""
    k = k or KMV_K
    if len(hashes) < k:
        return len(hashes), True
    kth = float(hashes[k - 1]) / 2.0**64
    return int(round((k - 1) / kth)), False


class Sketch:
    """A K-minimum-values sketch: the ``KMV_K`` smallest distinct 64-bit hashes seen.

    Once full, only hashes below its largest can enter (`cutoff`). New candidates wait in a
    buffer and are merged when there are as many as the sketch holds, so a batch costs one
    comparison per hash, not a sort; `hashes` merges whatever waits.
    """

    def __init__(self) -> None:
        self._kept: np.ndarray | None = None
        self._pending: list[np.ndarray] = []
        self._waiting = 0

    @property
    def cutoff(self) -> int | None:
        """Hashes at or above this cannot enter the sketch (None while it is not full)."""
        if self._kept is None or len(self._kept) < KMV_K:
            return None
        return int(self._kept[-1])

    def add(self, hashes: np.ndarray) -> bool:
        """Offer *hashes* (distinct or not); True when the cut-off moved down."""
        cutoff = self.cutoff
        if cutoff is not None:
            hashes = hashes[hashes < cutoff]
        if not len(hashes):
            return False
        self._pending.append(hashes)
        self._waiting += len(hashes)
        if cutoff is not None and self._waiting < KMV_K:
            return False
        self._merge()
        return self.cutoff != cutoff

    def _merge(self) -> None:
        import numpy as np

        if not self._pending:
            return
        parts = ([self._kept] if self._kept is not None else []) + self._pending
        # a merge sort (timsort) finds the sorted runs the parts already are, and merges them
        merged = np.sort(np.concatenate(parts) if len(parts) > 1 else parts[0], kind="stable")
        if len(merged) > 1:
            merged = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
        self._kept, self._pending, self._waiting = merged[:KMV_K], [], 0

    def hashes(self) -> np.ndarray:
        import numpy as np

        self._merge()
        return self._kept if self._kept is not None else np.empty(0, np.uint64)

    def estimate(self) -> tuple[int, bool]:
        """(distinct count, exact?)."""
        return kmv_estimate(self.hashes())


class Counts:
    """Exact value counts, merged lazily: batches wait until together they might pass a cap."""

    def __init__(self) -> None:
        self._merged: pl.DataFrame | None = None
        self._pending: list[pl.DataFrame] = []
        self._waiting = 0

    def add(self, frame: pl.DataFrame) -> None:
        self._pending.append(frame)
        self._waiting += frame.height

    @property
    def upper_bound(self) -> int:
        """At least as many as the distinct values seen (exact after `frame`)."""
        return (self._merged.height if self._merged is not None else 0) + self._waiting

    def frame(self) -> pl.DataFrame:
        import polars as pl

        if self._pending:
            parts = ([self._merged] if self._merged is not None else []) + self._pending
            merged = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
            if len(parts) > 1:
                merged = merged.group_by("value").agg(pl.col("n").sum())
            self._merged, self._pending, self._waiting = merged, [], 0
        assert self._merged is not None
        return self._merged


# --------------------------------------------------------------------------- per column


@dataclass
class ColumnState:
    """Everything the pass learns about one column."""

    name: str
    index: int
    dtype: Any
    kind: str  # numeric | string | boolean | temporal | other
    count: int = 0
    nulls: int = 0
    moments: Moments | None = None
    minimum: Any = None
    maximum: Any = None
    zeros: int = 0
    negatives: int = 0
    nan: int = 0
    infinite: int = 0
    trues: int = 0
    len_min: int | None = None
    len_max: int | None = None
    len_sum: int = 0
    # plans made from the first batch for text columns
    number_text: bool = False
    number_parsed: int = 0
    number_separators: int = 0
    number_min: float | None = None
    number_max: float | None = None
    date_kind: str | None = None
    date_formats: list[str] = field(default_factory=list)
    native_format: str | None = None  # a date column read as text, to be parsed cheaply here
    date_counts: dict[str, int] = field(default_factory=dict)
    date_parsed: int = 0
    # values
    exact: bool = True
    counts: Counts | None = None
    day_counts: Counts | None = None
    table: pl.DataFrame | None = None  # set by the end of the pass from `counts`
    days: pl.DataFrame | None = None  # set by the end of the pass from `day_counts`
    kmv: Sketch | None = None
    key_hashes: list[np.ndarray] | None = None
    key_possible: bool = True
    key_checked: bool = False
    #: whole numbers strictly increasing down the file (so unique, proved with no memory), or not
    increasing: bool = True
    last_value: Any = None

    @property
    def num_min(self) -> Any:
        return self.minimum if self.kind == "numeric" else self.number_min

    @property
    def num_max(self) -> Any:
        return self.maximum if self.kind == "numeric" else self.number_max

    @property
    def temporal_like(self) -> bool:
        return self.kind == "temporal" or self.date_kind is not None

    def _update_min_max(self, low: Any, high: Any) -> None:
        if low is not None and (self.minimum is None or low < self.minimum):
            self.minimum = low
        if high is not None and (self.maximum is None or high > self.maximum):
            self.maximum = high

    def distinct(self) -> tuple[int | None, bool]:
        """(distinct non-missing values, exact?)."""
        if self.exact and self.table is not None:
            import polars as pl

            return int(self.table.filter(pl.col("value").is_not_null()).height), True
        if self.kmv is not None:
            estimate, exact = self.kmv.estimate()
            return min(estimate, self.count), exact
        if self.kind == "other":
            return None, False
        return 0, True


def column_kind(dtype: Any) -> str:
    import polars as pl

    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "temporal"
    if dtype in (pl.String, pl.Categorical, pl.Enum) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "string"
    return "other"


def number_expr(column: pl.Expr) -> pl.Expr:
    """A text column parsed as numbers (thousands separators and a currency sign allowed)."""
    import polars as pl

    text = column.str.strip_chars()
    cleaned = text.str.replace_all(r"[,£$€]", "")
    return pl.when(text.str.contains(NUMBER_TEXT)).then(cleaned).otherwise(None).cast(
        pl.Float64, strict=False
    )


def date_exprs(column: pl.Expr, kind: str, formats: list[str]) -> list[pl.Expr]:
    text = column.str.strip_chars()
    if kind == "date":
        return [text.str.to_date(f, strict=False) for f in formats]
    return [text.str.to_datetime(f, strict=False, time_unit="us") for f in formats]


def plan_text_column(state: ColumnState, values: pl.Series) -> None:
    """Decide from the first batch whether a text column holds numbers or dates as text."""
    import polars as pl

    values = values.drop_nulls().unique(maintain_order=True).head(PLAN_VALUES)
    values = values.filter(values.str.strip_chars() != "")
    if values.len() == 0:
        return
    frame = values.to_frame("v")
    numbers = frame.select(
        number_expr(pl.col("v")).is_not_null().mean().alias("share"),
        pl.col("v").str.strip_chars().str.contains(LEADING_ZERO).mean().alias("zeros"),
    ).row(0, named=True)
    if numbers["share"] >= 0.5 and numbers["zeros"] < 0.1:
        state.number_text = True
        return
    if not values.str.contains(r"^\s*\d").mean() >= 0.5:  # type: ignore[operator]
        return
    for kind, formats in (("date", DATE_FORMATS), ("datetime", DATETIME_FORMATS)):
        covered = pl.Series([False] * values.len())
        chosen: list[str] = []
        parsed = frame.select(
            [e.alias(str(i)) for i, e in enumerate(date_exprs(pl.col("v"), kind, list(formats)))]
        )
        for i, fmt in enumerate(formats):
            hits = parsed.get_column(str(i)).is_not_null()
            new = hits & ~covered
            if new.any():
                chosen.append(fmt)
                covered = covered | hits
        if chosen and covered.mean() >= 0.5:  # type: ignore[operator]
            state.date_kind = kind
            state.date_formats = chosen
            state.date_counts = dict.fromkeys(chosen, 0)
            return


# --------------------------------------------------------------------------- the pass


@dataclass
class PassResult:
    """What one pass over the data produced, before any interpretation."""

    columns: list[ColumnState]
    rows: int
    sample: pl.DataFrame
    sample_exact: bool
    memory_bytes: int
    duplicate_rows: int | None
    duplicates_exact: bool
    seconds: float
    batches: int
    #: what a draft contract needs (`_draft.DraftPass`), when the pass was run with ``draft=True``
    draft: Any = None


class _Pass:
    def __init__(
        self,
        schema: pl.Schema,
        *,
        sample_rows: int,
        seed: int,
        estimated_rows: int | None = None,
        native_dates: dict[str, str] | None = None,
        draft: Any = None,
        statistics: bool = True,
    ) -> None:
        import numpy as np

        self.statistics = statistics
        self.draft = None
        if draft is not None:
            from expedition.profile._draft import DraftPass

            bound = None if estimated_rows is None else int(estimated_rows * DRAFT_ROWS_MARGIN) + MAX_BATCH_ROWS
            self.draft = DraftPass(schema, draft, rows_bound=bound, seed=seed)
        self.columns = [
            ColumnState(name, i, dtype, column_kind(dtype)) for i, (name, dtype) in enumerate(schema.items())
        ]
        for s in self.columns:
            fmt = (native_dates or {}).get(s.name)
            if fmt is not None and s.kind == "string":
                s.native_format = fmt
                s.date_kind = "date" if fmt in DATE_FORMATS else "datetime"
                s.date_formats = [fmt]
                s.date_counts = {fmt: 0}
        width = max(len(self.columns), 1)
        self.sample_rows = min(sample_rows, max(1_000, SAMPLE_CELLS // width))
        self.exact_values = max(100, min(EXACT_VALUES, EXACT_VALUES_TOTAL // width))
        self.seed = seed
        self.rows = 0
        self.memory = 0
        self.batches = 0
        self._exprs: list[pl.Expr] | None = None
        self._derive: list[pl.Expr] = []
        self._sample_frames: list[pl.DataFrame] = []
        self._sample_hashes: list[np.ndarray] = []
        self._sample_index: list[np.ndarray] = []
        self._sample_kept = 0
        self._threshold: int | None = None
        self._keys = np.random.PCG64(seed)
        if estimated_rows and estimated_rows > 4 * self.sample_rows:
            # start near the final cut-off (with a wide margin) so early batches are not all kept
            self._threshold = int(2.0**64 * min(1.0, 1.5 * self.sample_rows / estimated_rows))
        self._row_hashes: list[np.ndarray] | None = []
        self._row_kmv: Sketch | None = None
        #: leading rows whose row hashes were not taken, because a whole-number column increased
        #: down the file until then (so no two of them can be the same row)
        self.unhashed_rows = 0
        self._planned = False

    def _hash_bytes(self) -> int:
        """Memory held by the hashes kept for exact duplicate and key checks."""
        held = sum(h.nbytes for h in self._row_hashes or [])
        return held + sum(sum(h.nbytes for h in s.key_hashes) for s in self.columns if s.key_hashes)

    # -- expressions ---------------------------------------------------------------------------
    def _build(self) -> tuple[list[pl.Expr], list[pl.Expr]]:
        """(helper columns computed once per batch, aggregations over them).

        A column still counted exactly needs only its value counts (its other statistics come
        from the value table when the pass ends, or when it stops being counted exactly); the
        others get every statistic batch by batch, and a distinct-value sketch.
        """
        import polars as pl

        derive: list[pl.Expr] = []
        exprs: list[pl.Expr] = []
        for s in self.columns:
            col = pl.col(s.name)
            name = _namer(s.index)
            exprs.append(col.null_count().alias(name("nulls")))
            if s.kind == "other":
                continue
            if s.increasing and s.dtype.is_integer():
                exprs += [
                    (col.diff() > 0).all().alias(name("up")),
                    col.first().alias(name("first")),
                    col.last().alias(name("last")),
                ]
            if s.exact:
                exprs.append(col.value_counts(name=_COUNT).implode().alias(name("values")))
                continue
            d, e = stat_exprs(s, col, None, name)
            derive += d
            exprs += e
            if s.date_kind is not None or s.kind == "temporal":
                exprs.append(_day_expr(s, col, name).value_counts(name=_COUNT).implode().alias(name("days")))
            hashes = col.drop_nulls().hash(self.seed)
            cutoff = s.kmv.cutoff if s.kmv is not None else None
            if cutoff is not None:  # only those that can enter the sketch
                hashes = hashes.filter(hashes < cutoff).unique().sort()
            else:
                hashes = hashes.unique().bottom_k(KMV_K).sort()
            exprs.append(hashes.implode().alias(name("kmv")))
            if s.key_hashes is not None:
                exprs.append(col.hash(self.seed).implode().alias(name("keys")))
        return derive, exprs

    # -- one batch -----------------------------------------------------------------------------
    def consume(self, batch: pl.DataFrame) -> None:
        import polars as pl

        if not self.statistics:  # only what the draft needs
            if self.draft is not None:
                self.draft.consume(batch)
            self.rows += batch.height
            self.memory += batch.estimated_size()
            self.batches += 1
            return
        batch = _normalise(batch)
        first = not self._planned
        if first:
            for s in self.columns:
                if s.kind == "string" and s.native_format is None:
                    plan_text_column(s, batch.get_column(s.name).cast(pl.String))
            self._count_by_batch_from_the_start(batch)
            self._planned = True
        n = batch.height
        if self._exprs is None:
            self._derive, self._exprs = self._build()
        work = batch.with_columns(self._derive) if self._derive else batch
        out = work.select(self._exprs)
        values = {name: series[0] for name, series in zip(out.columns, out.get_columns())}
        rebuild = False
        for s in self.columns:
            rebuild |= self._update(s, values, n, batch)
            if first and s.key_hashes is not None and s.increasing:
                s.key_hashes, rebuild = None, True  # proved unique while it keeps increasing
        while self._hash_bytes() > HASH_BYTES and any(s.key_hashes is not None for s in self.columns):
            # too many rows to keep every value's hash: the key check becomes an estimate
            last = [s for s in self.columns if s.key_hashes is not None][-1]
            last.key_hashes = None
            rebuild = True
        if rebuild:
            self._exprs = None
        if self._distinct_by_column():
            self.unhashed_rows += n  # no row can repeat: row hashes are not needed (yet)
        else:
            self._update_rows(batch)
        self._update_sample(batch)
        if self.draft is not None:
            self.draft.consume(batch)
        self.rows += n
        self.memory += batch.estimated_size()
        self.batches += 1

    def _count_by_batch_from_the_start(self, batch: pl.DataFrame) -> None:
        """Columns with far more distinct values in the first batch than are counted exactly get
        their statistics batch by batch from the start, instead of a value table for the first
        batch that is then given up (the results are the same)."""
        import polars as pl

        names = [s.name for s in self.columns if s.kind != "other"]
        if not names or batch.height <= 2 * self.exact_values:
            return
        approx = batch.select(pl.col(names).approx_n_unique()).row(0, named=True)
        for s in self.columns:
            cap = EXACT_DAYS if _day_valued(s) else self.exact_values
            if s.kind == "other" or approx[s.name] <= 2 * cap:
                continue
            s.exact = False
            s.key_possible = s.key_possible and _key_dtype(s.dtype) and not s.native_format
            if s.key_possible and self._hash_bytes() + 8 * batch.height <= HASH_BYTES:
                s.key_hashes = []

    def _update(self, s: ColumnState, v: dict[str, Any], n: int, batch: pl.DataFrame) -> bool:
        """Merge one batch's results for column *s*; True when its expressions must change."""
        import numpy as np
        import polars as pl

        key = f"{s.index}\x1f"
        nulls = int(v[key + "nulls"])
        s.nulls += nulls
        s.count += n - nulls
        if s.kind == "other":
            return False
        rebuild = False
        if s.increasing:
            first = v.get(key + "first")
            ok = (
                s.dtype.is_integer()
                and not nulls
                and bool(v.get(key + "up"))
                and (s.last_value is None or (first is not None and first > s.last_value))
            )
            if ok:
                s.last_value = v[key + "last"]
            else:
                s.increasing, rebuild = False, s.dtype.is_integer()
        if s.exact:
            if s.counts is None:
                s.counts = Counts()
            s.counts.add(_counts_frame(v[key + "values"]))
            cap = EXACT_DAYS if _day_valued(s) else self.exact_values
            if s.counts.upper_bound <= cap or s.counts.frame().height <= cap:
                return rebuild
            # too many distinct values to count exactly: switch to statistics batch by batch
            table = s.counts.frame()
            s.counts = None
            s.exact = False
            absorb_table(s, table)
            distinct = table.filter(pl.col("value").is_not_null())
            smallest = distinct.get_column("value").hash(self.seed).bottom_k(KMV_K)
            s.kmv = Sketch()
            s.kmv.add(smallest.to_numpy().astype(np.uint64))
            unique_so_far = s.nulls == 0 and int(distinct.get_column("n").max() or 0) <= 1
            s.key_possible = s.key_possible and unique_so_far and _key_dtype(s.dtype) and not s.native_format
            if s.key_possible and not s.increasing and self._hash_bytes() + 8 * (self.rows + n) <= HASH_BYTES:
                s.key_hashes = [distinct.get_column("value").hash(self.seed).to_numpy().astype(np.uint64)]
            return True
        merge_stats(s, v, key)
        if s.date_kind is not None or s.kind == "temporal":
            if s.day_counts is None:
                s.day_counts = Counts()
            days = _counts_frame(v[key + "days"])
            if _iso_fast(s):
                days = _iso_days(s, days, v, key)
            s.day_counts.add(days)
            if s.day_counts.upper_bound > 100_000:
                s.day_counts.frame()
        new = np.asarray(v[key + "kmv"].to_numpy(), dtype=np.uint64)
        if len(new):
            if s.kmv is None:
                s.kmv = Sketch()
            rebuild |= s.kmv.add(new)  # a lower cut-off for the next batch
        if s.key_hashes is not None:
            estimate, _ = s.kmv.estimate() if s.kmv is not None else (0, True)
            if nulls or estimate < 0.9 * s.count:
                s.key_hashes, s.key_possible = None, False
                rebuild = True
            else:
                s.key_hashes.append(np.asarray(v[key + "keys"].to_numpy(), dtype=np.uint64))
        return rebuild

    def _distinct_by_column(self) -> bool:
        """Whether a whole-number column has increased down the file in every row so far."""
        return any(s.increasing and s.dtype.is_integer() and not s.nulls for s in self.columns)

    @property
    def needs_unhashed_rows(self) -> bool:
        """True when the leading rows skipped for duplicates must be hashed after all (the
        column that made them distinct stopped increasing further down)."""
        return bool(self.unhashed_rows) and not self._distinct_by_column()

    def hash_unhashed_rows(self, leading: Iterator[pl.DataFrame]) -> None:
        """Take the row hashes of the leading rows (read again) that were skipped."""
        for batch in leading:
            self._update_rows(_normalise(batch))
        self.unhashed_rows = 0

    def _update_rows(self, batch: pl.DataFrame) -> None:
        import numpy as np

        if not batch.width:
            return
        try:
            hashes = batch.hash_rows(seed=self.seed).to_numpy().astype(np.uint64)
        except Exception:  # a column type Polars cannot hash: duplicates stay unknown
            self._row_hashes, self._row_kmv = None, None
            return
        if self._row_hashes is not None and self._hash_bytes() + hashes.nbytes <= HASH_BYTES:
            self._row_hashes.append(hashes)
            return
        if self._row_hashes is not None:  # past the cap: keep a KMV sketch from here on
            # merged one held batch at a time, each released as it goes, so the switch itself
            # needs no more memory than one batch (a file far larger than memory gets here)
            held, self._row_hashes = self._row_hashes, None
            held.append(hashes)
            sketch = Sketch()
            while held:
                sketch.add(held.pop(0))
            self._row_kmv = sketch
            return
        if self._row_kmv is not None:
            self._row_kmv.add(hashes)

    def _update_sample(self, batch: pl.DataFrame) -> None:
        import numpy as np
        import polars as pl

        # each row's key is the next number of one seeded stream, whatever the batch sizes
        keys = self._keys.random_raw(batch.height)
        if self._threshold is None:
            rows, kept = np.arange(batch.height), batch
        else:
            keep = keys < self._threshold
            rows = np.flatnonzero(keep)
            if not len(rows):
                return
            kept = batch.filter(pl.Series(keep))
        if kept.height < batch.height // 2:
            kept = _compact(kept)
        self._sample_frames.append(kept)
        self._sample_hashes.append(keys[rows])
        self._sample_index.append(rows + self.rows)
        self._sample_kept += len(rows)
        if self._sample_kept > 2 * self.sample_rows:
            self._trim_sample()

    def _trim_sample(self) -> None:
        import numpy as np
        import polars as pl

        frame = pl.concat(self._sample_frames, how="vertical_relaxed")
        hashes = np.concatenate(self._sample_hashes)
        index = np.concatenate(self._sample_index)
        if len(hashes) > self.sample_rows:
            cut = np.partition(hashes, self.sample_rows - 1)[self.sample_rows - 1]
            keep = hashes <= cut
            self._threshold = int(cut)
            frame, hashes, index = frame.filter(pl.Series(keep)), hashes[keep], index[keep]
        self._sample_frames, self._sample_hashes, self._sample_index = [frame], [hashes], [index]
        self._sample_kept = len(hashes)

    # -- the end -------------------------------------------------------------------------------
    def finish(self, schema: pl.Schema, seconds: float) -> PassResult:
        import numpy as np
        import polars as pl

        if not self.statistics:
            return PassResult(columns=self.columns, rows=self.rows, sample=pl.DataFrame(schema=schema),
                              sample_exact=False, memory_bytes=self.memory, duplicate_rows=None,
                              duplicates_exact=False, seconds=seconds, batches=self.batches, draft=self.draft)

        if self._sample_frames:
            self._trim_sample()
            order = np.argsort(self._sample_index[0], kind="stable")
            sample = self._sample_frames[0][order]
        else:
            sample = pl.DataFrame(schema=schema)
        # every exact duplicate and key check counts distinct hashes; one query counts them all
        # at once, in parallel
        checks: dict[str, np.ndarray] = {}
        proved = self._distinct_by_column()  # a column unique in every row: no row repeats
        if self._row_hashes is not None and not proved:
            assert not self.unhashed_rows, "the leading rows must be hashed first (hash_unhashed_rows)"
            checks["rows"] = np.concatenate(self._row_hashes) if self._row_hashes else np.empty(0, np.uint64)
        self._row_hashes = None
        for s in self.columns:
            if s.key_hashes is not None:
                checks[str(s.index)] = np.concatenate(s.key_hashes)
                s.key_hashes = None
        distinct = _distinct_counts(checks)
        duplicates, dup_exact = None, False
        if proved:
            duplicates, dup_exact = 0, True
        elif "rows" in checks:
            duplicates, dup_exact = len(checks["rows"]) - distinct["rows"], True
        elif self._row_kmv is not None:
            rows_distinct, dup_exact = self._row_kmv.estimate()
            duplicates = max(self.rows - rows_distinct, 0)
            if not dup_exact and duplicates < 3 * self.rows / math.sqrt(KMV_K):
                duplicates = None  # within the sketch's error of none: unknown, not a number
        for s in self.columns:
            if s.counts is not None:
                s.table = s.counts.frame()
                s.counts = None
                absorb_table(s, s.table)
            if s.day_counts is not None:
                s.days = s.day_counts.frame()
                s.day_counts = None
            if s.native_format is not None:
                sample = _settle_native_dates(s, sample)
            if str(s.index) in checks:
                hashes = checks[str(s.index)]
                s.key_possible = len(hashes) == s.count == self.rows and distinct[str(s.index)] == len(hashes)
                s.key_checked = True
        return PassResult(
            columns=self.columns,
            rows=self.rows,
            sample=sample,
            sample_exact=sample.height == self.rows,
            memory_bytes=self.memory,
            duplicate_rows=duplicates,
            duplicates_exact=dup_exact,
            seconds=seconds,
            batches=self.batches,
            draft=self.draft,
        )


#: ISO layouts whose text sorts in time order, checked with a regular expression and counted by
#: their first ten characters instead of being parsed value by value (much faster, same result).
ISO_LAYOUTS = {
    "%Y-%m-%d": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$",
    "%Y-%m-%dT%H:%M:%S%.f": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?$",
    "%Y-%m-%d %H:%M:%S%.f": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?$",
    "%Y-%m-%dT%H:%M": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d$",
    "%Y-%m-%d %H:%M": r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d$",
}


def _iso_fast(s: ColumnState) -> bool:
    return s.native_format is not None and s.native_format in ISO_LAYOUTS


def _parse_dates(values: pl.Expr | pl.Series, s: ColumnState) -> Any:
    fmt = s.date_formats[0]
    if s.date_kind == "date":
        return values.str.to_date(fmt, strict=False)
    return values.str.to_datetime(fmt, strict=False, time_unit="us")


def _iso_days(s: ColumnState, days: pl.DataFrame, v: dict[str, Any], key: str) -> pl.DataFrame:
    """Turn one batch's counts by ISO day text into counts by date, and its first and last
    values into date-times; a day that does not exist (31 April) is not a date."""
    import polars as pl

    parsed = days.with_columns(pl.col("value").str.to_date("%Y-%m-%d", strict=False).alias("date"))
    impossible = int(parsed.filter(pl.col("value").is_not_null() & pl.col("date").is_null()).get_column("n").sum() or 0)
    if impossible:
        s.date_parsed -= impossible
        s.date_counts[s.date_formats[0]] -= impossible
    low, high = _parse_dates(pl.Series([v[key + "min_text"], v[key + "max_text"]], dtype=pl.String), s).to_list()
    s._update_min_max(low, high)
    return parsed.select(pl.col("date").alias("value"), "n")


def _settle_native_dates(s: ColumnState, sample: pl.DataFrame) -> pl.DataFrame:
    """A date column read as text becomes a date column again when every value parsed (the
    sample and value table are converted); otherwise the file must be read again with the column
    as text, as the reader itself would have failed on it."""
    import polars as pl

    if s.count and s.date_parsed < s.count:
        raise DateLayoutMismatch(s.name)
    s.kind = "temporal"
    s.dtype = pl.Date if s.date_kind == "date" else pl.Datetime("us")
    if s.table is not None:
        s.table = (
            s.table.with_columns(_parse_dates(pl.col("value"), s).alias("value"))
            .group_by("value")
            .agg(pl.col("n").sum())
        )
    if s.name in sample.columns:
        sample = sample.with_columns(_parse_dates(pl.col(s.name), s).alias(s.name))
    s.date_kind, s.date_formats, s.date_counts = None, [], {}
    s.len_min = s.len_max = None
    s.len_sum = 0
    return sample


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """*frame* with its text copied into buffers of its own: a few rows filtered from a batch
    otherwise keep the whole batch's text alive (Polars' string views point into it)."""
    import polars as pl

    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(pl.concat_str([pl.col(name), pl.lit("")]).alias(name) for name in text)


def _distinct_counts(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """How many distinct values each array holds, counted in one parallel query."""
    import polars as pl

    if not arrays:
        return {}
    out = pl.select([pl.lit(pl.Series(name, values)).n_unique() for name, values in arrays.items()])
    return {name: int(out.get_column(name)[0]) for name in arrays}


def _day_valued(s: ColumnState) -> bool:
    """A column of dates without times (typed, or text in one date layout)."""
    import polars as pl

    return s.dtype == pl.Date or (s.native_format is not None and s.date_kind == "date")


def _key_dtype(dtype: Any) -> bool:
    import polars as pl

    return dtype.is_integer() or dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def _namer(index: int) -> Callable[[str], str]:
    return lambda key: f"{index}\x1f{key}"


def _day_expr(s: ColumnState, col: pl.Expr, name: Callable[[str], str], *, batch: bool = True) -> pl.Expr:
    import polars as pl

    if s.kind == "temporal":
        return col.cast(pl.Date)
    if batch and _iso_fast(s):
        return pl.col(name("day"))
    return pl.coalesce([pl.col(name(f"d{k}")) for k in range(len(s.date_formats))]).cast(pl.Date)


def stat_exprs(
    s: ColumnState, col: pl.Expr, w: pl.Expr | None, name: Callable[[str], str]
) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """(helper columns, aggregations) for every statistic of *s* but its value counts.

    With weights *w* the same statistics are computed from a value table (*col* the values,
    *w* how often each occurs), which is how exactly counted columns get them.
    """
    import polars as pl

    def count(x: pl.Expr) -> pl.Expr:
        return x.count() if w is None else w.filter(x.is_not_null()).sum()

    def tally(condition: pl.Expr) -> pl.Expr:
        return condition.sum() if w is None else w.filter(condition).sum()

    def total(x: pl.Expr) -> pl.Expr:
        return x.sum() if w is None else (x * w).sum()

    def moments(x: pl.Expr, low: pl.Expr) -> list[pl.Expr]:
        mean = x.mean() if w is None else (x * w).sum() / w.filter(x.is_not_null()).sum()
        return [
            count(x).alias(name("n")),
            mean.alias(name("mean")),
            total((x - mean) ** 2).alias(name("m2")),
            total((x - mean) ** 3).alias(name("m3")),
            low.min().alias(name("min")),
            low.max().alias(name("max")),
            tally(x == 0).alias(name("zeros")),
            tally(x < 0).alias(name("negatives")),
        ]

    derive: list[pl.Expr] = []
    exprs: list[pl.Expr] = []
    if s.kind == "numeric":
        floats = col.cast(pl.Float64)
        if s.dtype.is_float():
            derive.append(pl.when(floats.is_finite()).then(floats).alias(name("x")))
            exprs += [tally(col.is_nan()).alias(name("nan")), tally(col.is_infinite()).alias(name("inf"))]
            exprs += moments(pl.col(name("x")), pl.col(name("x")))
        else:
            derive.append(floats.alias(name("x")))
            exprs += moments(pl.col(name("x")), col)
    elif s.kind == "boolean":
        exprs.append(tally(col.fill_null(False)).alias(name("trues")))
    elif s.kind == "temporal":
        exprs += [col.min().alias(name("min")), col.max().alias(name("max"))]
    elif s.kind == "string":
        if s.native_format is None:  # a date column read as text needs no text lengths
            derive.append(col.str.len_chars().alias(name("len")))
            length = pl.col(name("len"))
            exprs += [
                length.min().alias(name("len_min")),
                length.max().alias(name("len_max")),
                total(length).alias(name("len_sum")),
            ]
        if s.number_text:
            derive.append(number_expr(col).alias(name("x")))
            parsed = pl.col(name("x"))
            exprs += moments(parsed, parsed)
            exprs.append(tally(parsed.is_not_null() & col.str.contains(",", literal=True)).alias(name("separators")))
        if s.date_kind is not None and w is None and _iso_fast(s):
            fmt = s.date_formats[0]
            valid = col.str.contains(ISO_LAYOUTS[fmt])
            # if any value is not valid the file is read again with the column as text, so the
            # day, minimum and maximum may be taken from every value
            derive.append(col.str.slice(0, 10).alias(name("day")))
            exprs += [
                valid.sum().alias(name("dparsed")),  # also the count of its one layout
                col.min().alias(name("min_text")),
                col.max().alias(name("max_text")),
            ]
        elif s.date_kind is not None:
            parsed_names = [name(f"d{k}") for k in range(len(s.date_formats))]
            derive += [e.alias(n) for e, n in zip(date_exprs(col, s.date_kind, s.date_formats), parsed_names)]
            before: pl.Expr | None = None
            for f, parsed_name in zip(s.date_formats, parsed_names):
                hit = pl.col(parsed_name).is_not_null()
                first = hit if before is None else hit & ~before
                exprs.append(tally(first).alias(name(f"fmt:{f}")))
                before = hit if before is None else before | hit
            merged = pl.coalesce([pl.col(n) for n in parsed_names])
            exprs += [
                count(merged).alias(name("dparsed")),
                merged.min().alias(name("min")),
                merged.max().alias(name("max")),
            ]
    return derive, exprs


def absorb_table(s: ColumnState, table: pl.DataFrame) -> None:
    """Add the statistics of an exact value table (all values seen so far) to *s*."""
    import polars as pl

    if s.kind == "other" or table.height == 0:
        return
    name = _namer(s.index)
    present = table.filter(pl.col("value").is_not_null()).sort("value")  # a fixed order: fixed sums
    derive, exprs = stat_exprs(s, pl.col("value"), pl.col("n"), name)
    work = present.with_columns(derive) if derive else present
    if exprs:
        out = work.select(exprs)
        merge_stats(s, {k: series[0] for k, series in zip(out.columns, out.get_columns())}, name(""))
    if s.kind == "temporal" or s.date_kind is not None:
        days = (
            work.select(_day_expr(s, pl.col("value"), name, batch=False).alias("value"), pl.col("n"))
            .group_by("value")
            .agg(pl.col("n").sum())
        )
        if s.day_counts is None:
            s.day_counts = Counts()
        s.day_counts.add(days)


def merge_stats(s: ColumnState, v: dict[str, Any], key: str) -> None:
    """Merge the aggregates of `stat_exprs` (one batch, or one value table) into *s*."""
    if s.kind == "numeric" or s.number_text:
        if s.moments is None:
            s.moments = Moments()
        s.moments.merge(int(v[key + "n"] or 0), v[key + "mean"], v[key + "m2"], v[key + "m3"])
        if s.kind == "numeric":
            s._update_min_max(v[key + "min"], v[key + "max"])
        else:
            s.number_min = _lower(s.number_min, v[key + "min"])
            s.number_max = _upper(s.number_max, v[key + "max"])
        s.zeros += int(v[key + "zeros"] or 0)
        s.negatives += int(v[key + "negatives"] or 0)
        s.nan += int(v.get(key + "nan") or 0)
        s.infinite += int(v.get(key + "inf") or 0)
    if s.kind == "boolean":
        s.trues += int(v[key + "trues"] or 0)
    if s.kind == "temporal" or s.date_kind is not None:
        s._update_min_max(v.get(key + "min"), v.get(key + "max"))
    if s.kind == "string":
        if v.get(key + "len_min") is not None:
            s.len_min = _lower(s.len_min, v[key + "len_min"])
            s.len_max = _upper(s.len_max, v[key + "len_max"])
        s.len_sum += int(v.get(key + "len_sum") or 0)
        if s.number_text:
            s.number_parsed += int(v[key + "n"] or 0)
            s.number_separators += int(v[key + "separators"] or 0)
        if s.date_kind is not None:
            s.date_parsed += int(v[key + "dparsed"] or 0)
            for f in s.date_formats:
                s.date_counts[f] += int(v.get(key + f"fmt:{f}", v[key + "dparsed"]) or 0)


def _lower(current: Any, new: Any) -> Any:
    return new if current is None or (new is not None and new < current) else current


def _upper(current: Any, new: Any) -> Any:
    return new if current is None or (new is not None and new > current) else current


def _counts_frame(series: pl.Series) -> pl.DataFrame:
    frame = series.struct.unnest()
    frame.columns = ["value", "n"]
    return frame


def _normalise(batch: pl.DataFrame) -> pl.DataFrame:
    """Categoricals and enums are profiled as the text they hold."""
    import polars as pl

    cats = [n for n, d in batch.schema.items() if isinstance(d, (pl.Categorical, pl.Enum))]
    return batch.with_columns(pl.col(cats).cast(pl.String)) if cats else batch


def batches(frame: pl.LazyFrame | pl.DataFrame, width: int) -> Iterator[pl.DataFrame]:
    """The data in batches of about ``BATCH_CELLS`` cells (streaming for lazy frames)."""
    import polars as pl

    rows = max(MIN_BATCH_ROWS, min(MAX_BATCH_ROWS, BATCH_CELLS // max(width, 1)))
    if isinstance(frame, pl.DataFrame):
        yield from frame.iter_slices(rows)
        return
    yield from frame.collect_batches(chunk_size=rows, maintain_order=True)


class DateLayoutMismatch(Exception):
    """A column whose first rows were dates in one layout holds other values further on."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class ReadFailure(Exception):
    """Reading the data failed part-way (not a bug in the profile): wraps Polars' error."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def run_pass(
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = SEED,
    estimated_rows: int | None = None,
    on_progress: ProgressCallback | None = None,
    native_dates: dict[str, str] | None = None,
    draft: Any = None,
    statistics: bool = True,
) -> PassResult:
    """Read *frame* once and return the merged statistics and the sample.

    *native_dates* names date columns left as text by the reader (with their layout): they are
    profiled from their text and reported as the dates they are. With *draft* (how validation
    reads each contract type, `_draft.ContractTypes`), the pass also collects what a draft
    contract needs (``result.draft``, see `_draft`); a column whose first
    batch pointed to another type than all its values do is read again, alone. With
    ``statistics=False`` it collects only that (and counts the rows): what `schema infer` runs.
    """
    import polars as pl

    started = time.perf_counter()
    try:
        schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    except Exception as exc:  # the source cannot even be opened
        raise ReadFailure(exc) from exc
    total = estimated_rows or (frame.height if isinstance(frame, pl.DataFrame) else None)
    state = _Pass(schema, sample_rows=sample_rows, seed=seed, estimated_rows=total, native_dates=native_dates,
                  draft=draft, statistics=statistics)
    iterator = batches(frame, len(schema))
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            break
        except Exception as exc:  # Polars stopped reading: a ragged row, text in a number column...
            raise ReadFailure(exc) from exc
        if batch.height == 0:
            continue
        state.consume(batch)
        if on_progress is not None:
            fraction = min(state.rows / total, 0.99) if total else 0.0
            on_progress(fraction, f"{state.rows:,} rows read")
    if state.needs_unhashed_rows:
        # the whole-number column that kept the leading rows distinct stopped increasing further
        # down: read those rows again (only those) to count duplicate rows exactly
        if on_progress is not None:
            on_progress(0.99, f"reading the first {state.unhashed_rows:,} rows again for duplicates")
        leading = frame.head(state.unhashed_rows)
        try:
            state.hash_unhashed_rows(batches(leading, len(schema)))
        except Exception as exc:
            raise ReadFailure(exc) from exc
    result = state.finish(schema, time.perf_counter() - started)
    if state.draft is not None:
        from expedition.profile._draft import settle

        try:
            settle(state.draft, lambda: frame)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise ReadFailure(exc) from exc
        result.seconds = time.perf_counter() - started
    return result
