"""What a draft contract needs, collected batch by batch in the profile's pass.

`schema infer` reads a delivery once, through the profile's pass (`_engine.run_pass` with
``draft=True``), with the values of delimited text as text. For every column the pass collects:

* **the evidence for its type** (text columns): how many values are present (not empty after
  stripping spaces), which null tokens ("NA", "n/a"…) occur, whether a value has a leading zero,
  and for each type a value could be (true/false, whole number, decimal number, a date in each
  layout, a date-time in each layout) how many of the values parse as it, with the first three
  distinct values that do not. `text_type` decides the column's type from these counts;
* **the statistics of the column read as that type**, exactly as validation reads it
  (`ContractTypes`, given by `expedition.contract`): values, minimum, maximum, mean, NaN and infinities,
  distinct values (exact, by 64-bit hashes of every distinct value, while they fit in
  ``HASH_BYTES``; a K-minimum-values estimate beyond), true/false counts, and for text lengths,
  spaces, digits, ONS area codes, hexadecimal digits, the first 2,000 distinct values (for the
  personal-data patterns), the counts of up to 20 distinct values, and the one shape every
  value has (``R0001234`` -> ``A9999999``) while they have one;
* for every pair of date columns, how often each is on or after the other.

Every count is exact and merged batch by batch, so memory stays bounded however long the file
is. A type no longer possible (more values failed than 1% of all the rows there can be) stops
being counted. The statistics are for the type the first batch points to; when the whole file
decides otherwise (a column of numbers whose text starts further down), the columns concerned
are read again, alone, so the draft is always the one every value gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expedition.profile._engine import HASH_BYTES, SEED, Sketch, batches
from expedition.vocabulary import (
    AREA_CODE,
    DATE_FORMATS,
    DATETIME_FORMATS,
    DEFAULT_FORMATS,
    MONTH_FORMATS,
    NULL_TOKENS,
)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

#: Share of non-empty values that must parse as a type for a column to get that type.
PARSE_SHARE = 0.99
#: Text columns with at most this many distinct values get a list of allowed values.
MAX_ALLOWED_VALUES = 20
#: Distinct values of a text column checked against the personal-data patterns.
PATTERN_VALUES = 2_000
#: Infinite values looked at for the note that names them.
INFINITE_SHOWN = 100
#: Failing values kept as examples.
EXAMPLES = 3
_LEADING_ZERO = r"^0\d"
#: Every date layout starts with a number (a sign only before a year), and has its separators.
_DATE_START = r"^[+-]?\d"
_SEPARATORS = "-/.:"
_HEX = r"^[0-9a-f]+$"
_MASS_CHECKS = 3  # passes at most: one, and up to two reads again of columns the first batch misjudged


# --------------------------------------------------------------------------- contract types


@dataclass(frozen=True)
class ContractTypes:
    """How validation reads each contract type. `expedition.contract` gives it (``DRAFT_TYPES`` in
    `expedition.contract.infer`): the contract layer sits above the profile, which does not
    import it, so the draft's statistics are of the values exactly as validation reads them."""

    #: ``parse(column, dtype, fmt, strip=False)``: text read as *dtype* (None where it does not read)
    parse: Callable[..., Any]
    #: ``polars(dtype)``: the Polars type of a contract type
    polars: Callable[[str], Any]
    #: ``of(polars_type)``: the contract type of a column read with a type of its own (None: no such)
    of: Callable[[Any], str | None]
    floats: frozenset[str]
    numbers: frozenset[str]
    temporal: frozenset[str]


# --------------------------------------------------------------------------- the type decision


@dataclass
class Candidate:
    """One type a text column could be, with how many of its values parse as it."""

    dtype: str
    fmt: str | None
    ok: int = 0
    alive: bool = True
    fails_at_death: int = 0
    #: not counted, as it comes after the type the first batch decided (it matters only if that
    #: type loses, and then the column is read again)
    suspended: bool = False
    examples: list[str] = field(default_factory=list)

    @property
    def literals(self) -> dict[str, int]:
        """For a date layout: how many times each separator must appear in a value that has it
        (a value without them cannot be parsed, so it is not tried)."""
        import re

        if self.fmt is None:
            return {}
        bare = re.sub(r"%[.]?[A-Za-z]", "", self.fmt)
        return {ch: bare.count(ch) for ch in _SEPARATORS if bare.count(ch)}

    def ok_expr(self, text: pl.Expr) -> pl.Expr:
        """True where a (stripped) value parses as this type."""
        import polars as pl

        if self.dtype == "boolean":
            return text.str.to_lowercase().is_in(["true", "false"])
        if self.dtype == "int64":
            return text.cast(pl.Int64, strict=False).is_not_null()
        if self.dtype == "float64":
            return text.cast(pl.Float64, strict=False).is_not_null()
        if self.dtype == "date":
            return text.str.to_date(self.fmt, strict=False).is_not_null()
        return text.str.to_datetime(self.fmt, strict=False, time_unit="us").is_not_null()


def _datetime_formats() -> list[str]:
    """The date-time layouts Polars accepts (a layout it refuses is never a candidate)."""
    import polars as pl

    usable = []
    probe = pl.Series(["2024-01-02T03:04:05"])
    for fmt in DATETIME_FORMATS:
        try:
            probe.str.to_datetime(fmt, strict=False, time_unit="us")
        except Exception:
            continue
        usable.append(fmt)
    return usable


def text_candidates() -> list[Candidate]:
    """Every type a text column could be, in the order they are tried."""
    return (
        [Candidate("boolean", None), Candidate("int64", None), Candidate("float64", None)]
        + [Candidate("date", f) for f in DATE_FORMATS + MONTH_FORMATS]
        + [Candidate("datetime", f) for f in _datetime_formats()]
    )


def text_type(present: int, m: int, leading_zero: bool, candidates: list[Candidate]) -> Candidate | None:
    """The type of a text column (None: text) from its counts: *present* values not empty,
    *m* of them not a null token, whether any has a leading zero, and each candidate's count.

    True/false if at least 99% of the values are "true" or "false" (any case); else whole
    numbers, then decimal numbers (unless a value has a leading zero: "007" is a code); else the
    date layout the most values have, if 99% do; else the date-time layout likewise.
    """
    if present == 0 or m == 0:
        return None
    by = {(c.dtype, c.fmt): c for c in candidates}

    def share(c: Candidate | None) -> float:
        return c.ok / m if c is not None and c.alive else 0.0

    if share(by.get(("boolean", None))) >= PARSE_SHARE:
        return by[("boolean", None)]
    if not leading_zero:
        for dtype in ("int64", "float64"):
            if share(by.get((dtype, None))) >= PARSE_SHARE:
                return by[(dtype, None)]
    for kind in ("date", "datetime"):
        best: Candidate | None = None
        for c in candidates:
            if c.dtype == kind and share(c) >= PARSE_SHARE and (best is None or share(c) > share(best)):
                best = c
        if best is not None:
            return best
    return None


def contract_format(candidate: Candidate) -> str | None:
    """The layout a contract names (none for ISO dates, the default)."""
    if candidate.dtype == "date" and candidate.fmt == DEFAULT_FORMATS["date"]:
        return None
    return candidate.fmt


# --------------------------------------------------------------------------- per column


@dataclass
class DraftColumn:
    """What the pass learned about one column for the draft."""

    name: str
    index: int
    source: Any  # the column's type as read
    text: bool  # read as text: its type is inferred from the values
    # -- the evidence for the type (text columns)
    present: int = 0
    m: int = 0
    tokens: set[str] = field(default_factory=set)
    leading_zero: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    # -- the type the statistics below are for: (contract dtype, layout to parse with)
    dtype: str | None = None
    fmt: str | None = None
    supported: bool = True
    # -- statistics of the values read as `dtype`
    n: int = 0
    nan: bool = False
    infinite: int = 0
    infinite_values: list[Any] = field(default_factory=list)
    finite: int = 0
    low: Any = None
    high: Any = None
    total: float = 0.0
    hashes: list[np.ndarray] | None = field(default_factory=list)
    kmv: Sketch | None = None
    distinct_exact: int | None = None
    len_min: int | None = None
    len_max: int | None = None
    len_sum: int = 0
    spaces: int = 0
    digit_or_at: int = 0
    area_codes: int = 0
    #: values without a digit or "@" (or not an area code) when that stopped being counted, as
    #: more than 1% of all the rows there can be: neither can be 99% of the values any more
    digit_or_at_closed: int | None = None
    area_closed: int | None = None
    hex_only: bool = True
    first_values: list[Any] = field(default_factory=list)
    counts: dict[Any, int] | None = field(default_factory=dict)
    shapes: list[str] = field(default_factory=list)
    first_value: str | None = None
    varying_runs: set[int] = field(default_factory=set)

    @property
    def type_key(self) -> tuple[str | None, str | None]:
        return self.dtype, self.fmt

    def decided(self) -> Candidate | None:
        return text_type(self.present, self.m, self.leading_zero, self.candidates)

    def failed(self) -> tuple[int, list[str]]:
        """(values that did not read as the decided type, up to three of them)."""
        chosen = self.decided()
        if chosen is None:
            return 0, []
        return self.m - chosen.ok, chosen.examples[:EXAMPLES]

    def distinct(self) -> int:
        """Distinct values read as `dtype` (exact while their hashes fit; else estimated)."""
        if self.distinct_exact is not None:
            return self.distinct_exact
        if self.kmv is not None:
            estimate, _ = self.kmv.estimate()
            return min(estimate, self.n)
        return 0

    @property
    def distinct_is_exact(self) -> bool:
        return self.distinct_exact is not None or (self.kmv is not None and self.kmv.estimate()[1])

    @property
    def mean(self) -> float | None:
        return self.total / self.finite if self.finite else None

    def share_digit_or_at(self) -> float:
        """Share of the values with a digit or an "@" (0 once it could not reach 99%)."""
        return self.digit_or_at / self.n if self.n and self.digit_or_at_closed is None else 0.0

    def share_area_codes(self) -> float:
        """Share of the values that are ONS area codes (0 once it could not reach 99%)."""
        return self.area_codes / self.n if self.n and self.area_closed is None else 0.0

    def shape(self) -> str | None:
        return self.shapes[0] if len(self.shapes) == 1 else None


def _runs(shape: str) -> list[tuple[int, int, str]]:
    """(start, length, class) of each run of one character class in a shape."""
    import re

    return [(m.start(), len(m.group(0)), m.group(0)[0]) for m in re.finditer(r"(A+|a+|9+|[^Aa9])", shape)]


def _shape_pattern(shape: str) -> str:
    """The regular expression of the values that have *shape*."""
    import re

    return "^" + "".join({"A": "[A-Z]", "a": "[a-z]", "9": "[0-9]"}.get(ch) or re.escape(ch) for ch in shape) + "$"


def _shape_expr(values: pl.Expr) -> pl.Expr:
    return (
        values.str.replace_all(r"[A-Z]", "A").str.replace_all(r"[a-z]", "a").str.replace_all(r"[0-9]", "9")
    )


def _merge_ordered(kept: list[Any], new: list[Any], limit: int) -> list[Any]:
    """*kept* then the values of *new* not in it, up to *limit* values (first seen first)."""
    if len(kept) >= limit:
        return kept
    seen = set(kept)
    out = list(kept)
    for value in new:
        if value not in seen:
            seen.add(value)
            out.append(value)
            if len(out) >= limit:
                break
    return out


# --------------------------------------------------------------------------- the pass


class DraftPass:
    """The draft's statistics, merged batch by batch (see the module's docstring).

    *rows_bound* is at least as many rows as the data can have (None when unknown): a type
    stops being counted once more values failed it than 1% of that. *fixed* gives columns whose
    type is already settled (the read again of misjudged columns).
    """

    def __init__(self, schema: pl.Schema, types: ContractTypes, *, rows_bound: int | None = None,
                 seed: int = SEED, fixed: dict[str, tuple[str, str | None]] | None = None) -> None:
        import polars as pl

        self.types = types
        self.seed = seed
        self.rows = 0
        self.rows_bound = rows_bound
        self.columns: list[DraftColumn] = []
        self.pairs: dict[tuple[str, str], list[int]] = {}
        for i, (name, dtype) in enumerate(schema.items()):
            c = DraftColumn(name, i, dtype, text=dtype == pl.String)
            if c.text:
                c.candidates = text_candidates()
            if not c.text:
                c.dtype, c.fmt = types.of(dtype), None
                if c.dtype is None:
                    c.dtype, c.supported = "string", False
            if fixed and name in fixed:
                c.dtype, c.fmt = fixed[name]
            self.columns.append(c)
        self._fixed = set(fixed or ())
        self._first = True

    # -- expressions ---------------------------------------------------------------------------
    def _needs_evidence(self, c: DraftColumn) -> bool:
        """Whether the column's type is still open: read as text, and some type is still
        counted (once none is, it is text whatever the rest of the file holds)."""
        return c.text and c.name not in self._fixed and any(k.alive for k in c.candidates)

    def _evidence(self, c: DraftColumn, name: Callable[[str], str], *, parsed: bool = False) -> list[pl.Expr]:
        """Aggregations of the type evidence; with *parsed*, the column read as its type is
        there (`_parsed`), and its own type's count is taken from it."""
        import polars as pl

        s, cand = pl.col(name("s")), pl.col(name("c"))
        exprs = [
            (s.is_not_null() & (s != "")).sum().alias(name("present")),
            cand.sum().alias(name("m")),
            s.filter(s.is_in(list(NULL_TOKENS))).unique().implode().alias(name("tokens")),
        ]
        numbers = any(k.alive and k.dtype in ("int64", "float64") for k in c.candidates)
        if not c.leading_zero and numbers:
            exprs.append(s.filter(cand).str.contains(_LEADING_ZERO).any().alias(name("lz")))
        for k, candidate in enumerate(c.candidates):
            if not candidate.alive:
                continue
            if parsed and self._same_parse(c, candidate):
                exprs.append((cand & pl.col(name("p")).is_not_null()).sum().alias(name(f"ok{k}")))
            elif candidate.dtype in ("date", "datetime"):
                # only values that could be a date are parsed: the rest cannot be one
                possible = pl.col(name("d"))
                for ch, times in candidate.literals.items():
                    possible = possible & (pl.col(name(f"n{_SEPARATORS.index(ch)}")) >= times)
                exprs.append(candidate.ok_expr(s.filter(possible)).sum().alias(name(f"ok{k}")))
            else:
                exprs.append((cand & candidate.ok_expr(s)).sum().alias(name(f"ok{k}")))
        return exprs

    @staticmethod
    def _same_parse(c: DraftColumn, candidate: Candidate) -> bool:
        """Whether a value reads as *candidate* exactly when validation reads it as the
        column's type (so the column read as its type gives the count)."""
        return (candidate.dtype, candidate.fmt) == c.type_key and candidate.dtype != "boolean"

    @staticmethod
    def _suspend(c: DraftColumn) -> None:
        """Stop counting the types that come after the one the first batch decided: they can
        matter only if it loses, and then the column is read again (`finish`)."""
        if c.dtype in (None, "string"):
            return
        after = False
        for candidate in c.candidates:
            if (candidate.dtype, candidate.fmt) == c.type_key:
                after = True
                continue
            later_kind = c.dtype == "date" and candidate.dtype == "datetime" or c.dtype not in ("date", "datetime")
            if after and candidate.alive and later_kind:
                candidate.alive, candidate.suspended = False, True

    def _evidence_helpers(self, c: DraftColumn, name: Callable[[str], str]) -> list[pl.Expr]:
        """Helper columns of the evidence: non-empty values that are no null token; those that
        start like a date, and how many of each separator they have (while a date layout is
        still counted)."""
        import polars as pl

        s = pl.col(name("s"))
        cand = (s.is_not_null() & (s != "") & ~s.is_in(list(NULL_TOKENS)))
        helpers = [cand.alias(name("c"))]
        dates = [k for k in c.candidates if k.alive and k.dtype in ("date", "datetime")]
        if dates:
            helpers.append((cand & s.str.contains(_DATE_START)).alias(name("d")))
            needed = {ch for k in dates for ch in k.literals}
            helpers += [s.str.count_matches(ch, literal=True).alias(name(f"n{_SEPARATORS.index(ch)}"))
                        for ch in sorted(needed)]
        return helpers

    def _examples(self, c: DraftColumn, name: Callable[[str], str]) -> list[pl.Expr]:
        """The first values that do not read as the column's type (only its type's: another
        type is decided only after reading the column again, which finds its examples)."""
        import polars as pl

        if not c.text or c.name in self._fixed:
            return []
        for k, candidate in enumerate(c.candidates):
            if (candidate.dtype, candidate.fmt) == c.type_key and candidate.alive and len(candidate.examples) < EXAMPLES:
                s, cand = pl.col(name("s")), pl.col(name("c"))
                ok = pl.col(name("p")).is_not_null() if self._same_parse(c, candidate) else candidate.ok_expr(s)
                failing = s.filter(cand & ~ok)
                return [failing.unique(maintain_order=True).head(EXAMPLES).implode().alias(name(f"ex{k}"))]
        return []

    def _parsed(self, c: DraftColumn) -> pl.Expr:
        """The column read as its type, as validation reads it."""
        import polars as pl

        col = pl.col(c.name)
        if not c.supported:
            return col.cast(pl.String, strict=False)
        if not c.text:
            return col.cast(self.types.polars(c.dtype), strict=False)
        if c.dtype == "string":
            return pl.when(col == "").then(None).otherwise(col)
        return self.types.parse(pl.col(f"{c.index}\x1fs"), c.dtype, c.fmt, strip=False)

    def _statistics(self, c: DraftColumn, name: Callable[[str], str]) -> list[pl.Expr]:
        import polars as pl

        FLOAT, NUMERIC, TEMPORAL = self.types.floats, self.types.numbers, self.types.temporal
        p = pl.col(name("p"))
        exprs: list[pl.Expr] = []
        if c.dtype in FLOAT:
            kept = p.filter(p.is_not_null() & ~p.is_nan())
            finite = p.filter(p.is_finite())
            exprs += [
                kept.count().alias(name("n")),
                p.is_nan().any().alias(name("nan")),
                p.is_infinite().sum().alias(name("inf")),
                finite.count().alias(name("finite")),
                finite.min().alias(name("low")),
                finite.max().alias(name("high")),
                finite.cast(pl.Float64).sum().alias(name("total")),
            ]
            if len(c.infinite_values) < INFINITE_SHOWN:
                exprs.append(p.filter(p.is_infinite()).head(INFINITE_SHOWN).implode().alias(name("infs")))
            distinct = kept
        else:
            exprs.append(p.count().alias(name("n")))
            distinct = p.drop_nulls()
            if c.dtype in NUMERIC or c.dtype in TEMPORAL:
                exprs += [p.min().alias(name("low")), p.max().alias(name("high"))]
            if c.dtype in NUMERIC:
                exprs.append(p.cast(pl.Float64).sum().alias(name("total")))
        if c.dtype == "boolean" or (c.dtype in ("string", "categorical") and c.counts is not None):
            exprs.append(p.drop_nulls().unique(maintain_order=True).head(MAX_ALLOWED_VALUES + 1)
                         .implode().alias(name("order")))
            exprs.append(p.drop_nulls().value_counts().head(MAX_ALLOWED_VALUES + 1).implode()
                         .alias(name("counts")))
        if c.dtype in ("string", "categorical"):
            text = p.drop_nulls().cast(pl.String)
            length = text.str.len_chars()
            exprs += [
                length.min().alias(name("len_min")),
                length.max().alias(name("len_max")),
                length.sum().alias(name("len_sum")),
                text.str.contains(" ", literal=True).sum().alias(name("spaces")),
            ]
            if c.digit_or_at_closed is None:
                exprs.append(text.str.contains(r"[\d@]").sum().alias(name("digit_or_at")))
            if c.area_closed is None:
                exprs.append(text.str.contains(AREA_CODE).sum().alias(name("area")))
            if c.hex_only:
                exprs.append(text.str.contains(_HEX).all().alias(name("hex")))
            if len(c.first_values) < PATTERN_VALUES and c.digit_or_at_closed is None:
                # (the personal-data patterns are tried only on columns whose values have digits)
                exprs.append(text.unique(maintain_order=True).head(PATTERN_VALUES).implode().alias(name("first")))
            if not c.shapes:
                exprs.append(_shape_expr(text.unique()).unique().head(2).implode().alias(name("shapes")))
            elif len(c.shapes) == 1:
                # every value still has the one shape? (its other shapes are looked for only if not)
                exprs.append(text.str.contains(_shape_pattern(c.shapes[0])).all().alias(name("same_shape")))
            if len(c.shapes) <= 1:
                if c.first_value is None:
                    exprs.append(text.first().alias(name("first_value")))
                elif len(c.shapes) == 1:
                    for start, size, kind in _runs(c.shapes[0]):
                        if kind in "Aa" and start not in c.varying_runs:
                            piece = c.first_value[start:start + size]
                            exprs.append((text.str.slice(start, size) != piece).any().alias(name(f"run{start}")))
        if c.hashes is not None or c.kmv is not None:
            hashes = distinct.hash(self.seed)
            cutoff = c.kmv.cutoff if c.kmv is not None else None
            if cutoff is not None:
                hashes = hashes.filter(hashes < cutoff)
            exprs.append(hashes.unique().implode().alias(name("hashes")))
        return exprs

    def _pair_exprs(self) -> list[pl.Expr]:
        import polars as pl

        dated = [c for c in self.columns if c.dtype in ("date", "datetime")]
        exprs = []
        for i, a in enumerate(dated):
            for b in dated[i + 1:]:
                pa, pb = pl.col(f"{a.index}\x1fp"), pl.col(f"{b.index}\x1fp")
                both = pa.is_not_null() & pb.is_not_null()
                key = f"pair\x1f{a.index}\x1f{b.index}"
                exprs += [
                    both.sum().alias(key + "\x1fboth"),
                    (both & (pb >= pa)).sum().alias(key + "\x1fb"),
                    (both & (pa >= pb)).sum().alias(key + "\x1fa"),
                ]
        return exprs

    # -- one batch -----------------------------------------------------------------------------
    def consume(self, batch: pl.DataFrame) -> None:
        import polars as pl

        open_type = [c for c in self.columns if self._needs_evidence(c)]
        strip = [pl.col(c.name).str.strip_chars().alias(f"{c.index}\x1fs") for c in self.columns
                 if c.text and (c in open_type or c.dtype not in (None, "string"))]
        work = batch.with_columns(strip) if strip else batch
        evidence: list[pl.Expr] = []
        derive: list[pl.Expr] = []
        for c in open_type:
            name = _namer(c.index)
            derive += self._evidence_helpers(c, name)
            evidence += self._evidence(c, name, parsed=not self._first)
        if self._first:
            # the first batch decides which type each column's statistics are for
            if evidence:
                work = work.with_columns(derive)
                self._merge_evidence(_first_row(work.select(evidence)))
            for c in self.columns:
                if c.dtype is None:
                    chosen = c.decided()
                    c.dtype, c.fmt = (chosen.dtype, chosen.fmt) if chosen is not None else ("string", None)
                    self._suspend(c)
            evidence, derive = [], []
        parsed = [self._parsed(c).alias(f"{c.index}\x1fp") for c in self.columns]
        work = work.with_columns(derive + parsed)
        stats = [e for c in self.columns for e in self._statistics(c, _namer(c.index))]
        stats += [e for c in self.columns for e in self._examples(c, _namer(c.index))]
        out = work.select(evidence + stats + self._pair_exprs())
        values = _first_row(out)
        if evidence:
            self._merge_evidence(values)
        self._merge_statistics(values)
        self._merge_pairs(values)
        if self._first:
            self._first_runs(work)
        self._other_shapes(work, values)
        self.rows += batch.height
        self._first = False
        self._prune()
        self._bound_hashes()

    def _merge_evidence(self, v: dict[str, Any]) -> None:
        for c in self.columns:
            if not c.text:
                continue
            key = f"{c.index}\x1f"
            if key + "present" not in v:
                continue
            c.present += int(v[key + "present"] or 0)
            c.m += int(v[key + "m"] or 0)
            c.tokens.update(v[key + "tokens"].to_list())
            c.leading_zero = c.leading_zero or bool(v.get(key + "lz"))
            for k, candidate in enumerate(c.candidates):
                if key + f"ok{k}" not in v:
                    continue
                candidate.ok += int(v[key + f"ok{k}"] or 0)

    def _merge_statistics(self, v: dict[str, Any]) -> None:
        import numpy as np

        for c in self.columns:
            key = f"{c.index}\x1f"
            c.n += int(v[key + "n"] or 0)
            c.nan = c.nan or bool(v.get(key + "nan"))
            c.infinite += int(v.get(key + "inf") or 0)
            if key + "infs" in v:
                c.infinite_values = (c.infinite_values + v[key + "infs"].to_list())[:INFINITE_SHOWN]
            if key + "finite" in v:
                c.finite += int(v[key + "finite"] or 0)
            elif key + "total" in v:
                c.finite = c.n
            if v.get(key + "low") is not None and (c.low is None or v[key + "low"] < c.low):
                c.low = v[key + "low"]
            if v.get(key + "high") is not None and (c.high is None or v[key + "high"] > c.high):
                c.high = v[key + "high"]
            c.total += float(v.get(key + "total") or 0.0)
            if key + "counts" in v and c.counts is not None:
                self._merge_counts(c, v[key + "order"].to_list(), v[key + "counts"].to_list())
            if v.get(key + "len_min") is not None:
                c.len_min = v[key + "len_min"] if c.len_min is None else min(c.len_min, v[key + "len_min"])
                c.len_max = v[key + "len_max"] if c.len_max is None else max(c.len_max, v[key + "len_max"])
            c.len_sum += int(v.get(key + "len_sum") or 0)
            c.spaces += int(v.get(key + "spaces") or 0)
            c.digit_or_at += int(v.get(key + "digit_or_at") or 0)
            c.area_codes += int(v.get(key + "area") or 0)
            if key + "hex" in v and v[key + "hex"] is not None:
                c.hex_only = c.hex_only and bool(v[key + "hex"])
            if c.text:
                for k, candidate in enumerate(c.candidates):
                    if key + f"ex{k}" in v:
                        candidate.examples = _merge_ordered(candidate.examples, v[key + f"ex{k}"].to_list(), EXAMPLES)
            if key + "first" in v:
                c.first_values = _merge_ordered(c.first_values, v[key + "first"].to_list(), PATTERN_VALUES)
            if key + "first_value" in v and c.first_value is None:
                c.first_value = v[key + "first_value"]
            for name in v:
                if name.startswith(key + "run") and v[name]:
                    c.varying_runs.add(int(name[len(key) + 3:]))
            if key + "shapes" in v:
                c.shapes = _merge_ordered(c.shapes, v[key + "shapes"].to_list(), 2)
            if key + "hashes" in v:
                new = np.asarray(v[key + "hashes"].to_numpy(), dtype=np.uint64)
                if c.hashes is not None:
                    c.hashes.append(new)
                elif c.kmv is not None and len(new):
                    c.kmv.add(np.sort(new))

    @staticmethod
    def _merge_counts(c: DraftColumn, order: list[Any], rows: list[dict[str, Any]]) -> None:
        """Add one batch's value counts, values in the order they first appear."""
        assert c.counts is not None
        if len(order) > MAX_ALLOWED_VALUES:
            c.counts = None  # too many values to list: no allowed values
            return
        counts = {list(row.values())[0]: list(row.values())[1] for row in rows}
        for value in order:
            c.counts[value] = c.counts.get(value, 0) + int(counts[value])
        if len(c.counts) > MAX_ALLOWED_VALUES:
            c.counts = None

    def _other_shapes(self, work: pl.DataFrame, values: dict[str, Any]) -> None:
        """A batch with values of another shape than the one seen so far: which."""
        import polars as pl

        exprs = []
        for c in self.columns:
            if values.get(f"{c.index}\x1fsame_shape") is False:
                text = pl.col(f"{c.index}\x1fp").drop_nulls().cast(pl.String)
                exprs.append(_shape_expr(text.unique()).unique().head(2).implode().alias(str(c.index)))
        if exprs:
            for name, shapes in _first_row(work.select(exprs)).items():
                c = self.columns[int(name)]
                c.shapes = _merge_ordered(c.shapes, shapes.to_list(), 2)

    def _first_runs(self, work: pl.DataFrame) -> None:
        """Which letter runs of the one shape vary within the first batch (the shape and the
        first value are known only once it has been read; later batches check as they go)."""
        import polars as pl

        exprs = []
        for c in self.columns:
            if len(c.shapes) != 1 or c.first_value is None or c.dtype not in ("string", "categorical"):
                continue
            text = pl.col(f"{c.index}\x1fp").drop_nulls().cast(pl.String)
            for start, size, kind in _runs(c.shapes[0]):
                if kind in "Aa":
                    piece = c.first_value[start:start + size]
                    exprs.append((text.str.slice(start, size) != piece).any().alias(f"{c.index}\x1frun{start}"))
        if exprs:
            for name, value in work.select(exprs).row(0, named=True).items():
                if value:
                    index, _, start = name.partition("\x1frun")
                    self.columns[int(index)].varying_runs.add(int(start))

    def _merge_pairs(self, v: dict[str, Any]) -> None:
        for name, value in v.items():
            if not name.startswith("pair\x1f"):
                continue
            _, a, b, what = name.split("\x1f")
            counts = self.pairs.setdefault((a, b), [0, 0, 0])
            counts[{"both": 0, "b": 1, "a": 2}[what]] += int(value or 0)

    def _prune(self) -> None:
        """Stop counting a type once it can no longer reach 99% of the values."""
        if self.rows_bound is None:
            return
        limit = (1 - PARSE_SHARE) * self.rows_bound
        for c in self.columns:
            if c.dtype in ("string", "categorical"):
                if c.digit_or_at_closed is None and c.n - c.digit_or_at > limit:
                    c.digit_or_at_closed = c.n - c.digit_or_at
                if c.area_closed is None and c.n - c.area_codes > limit:
                    c.area_closed = c.n - c.area_codes
            for candidate in c.candidates:
                if candidate.alive and c.m - candidate.ok > limit:
                    candidate.alive, candidate.fails_at_death = False, c.m - candidate.ok

    def _bound_hashes(self) -> None:
        """Keep every distinct value's hash while they fit in ``HASH_BYTES``; beyond that the
        column holding the most keeps a K-minimum-values sketch instead."""
        import numpy as np

        while True:
            held = [(sum(h.nbytes for h in c.hashes), c) for c in self.columns if c.hashes]
            if sum(size for size, _ in held) <= HASH_BYTES or not held:
                return
            _, largest = max(held, key=lambda pair: pair[0])
            parts, largest.hashes = largest.hashes, None
            largest.kmv = Sketch()
            while parts:
                largest.kmv.add(np.sort(parts.pop(0)))

    # -- the end -------------------------------------------------------------------------------
    def finish(self) -> list[DraftColumn]:
        """Settle distinct counts; the columns whose statistics are for another type than the
        whole data decide (to be read again with `DraftPass(fixed=...)`)."""
        import numpy as np

        from expedition.profile._engine import _distinct_counts

        arrays = {str(c.index): np.concatenate(c.hashes) if c.hashes else np.empty(0, np.uint64)
                  for c in self.columns if c.hashes is not None}
        counts = _distinct_counts(arrays)
        for c in self.columns:
            if c.hashes is not None:
                c.distinct_exact = counts[str(c.index)]
                c.hashes = None
        wrong = []
        for c in self.columns:
            if c.dtype is None:  # no rows: nothing decided a type
                c.dtype, c.fmt = "string", None
            closed = [x for x in (c.digit_or_at_closed, c.area_closed) if x is not None]
            if any(fails <= (1 - PARSE_SHARE) * c.n for fails in closed):
                wrong.append(c)  # a share stopped being counted too soon: count it again
                continue
            if not c.text or c.name in self._fixed:
                continue
            for candidate in c.candidates:
                if candidate.suspended:
                    continue
                # its values stopped being counted once no type was left: all the rows bound them
                if not candidate.alive and candidate.fails_at_death <= (1 - PARSE_SHARE) * self.rows:
                    wrong.append(c)  # it stopped being counted too soon: count it again
                    break
            else:
                chosen = c.decided()
                settled = (chosen.dtype, chosen.fmt) if chosen is not None else ("string", None)
                if settled != c.type_key:
                    wrong.append(c)
        return wrong

    def pair_counts(self, a: DraftColumn, b: DraftColumn) -> tuple[int, int, int]:
        """(rows with both dates, rows where b >= a, rows where a >= b)."""
        if (str(a.index), str(b.index)) in self.pairs:
            both, b_after, a_after = self.pairs[(str(a.index), str(b.index))]
            return both, b_after, a_after
        both, a_after, b_after = self.pairs[(str(b.index), str(a.index))]
        return both, b_after, a_after


def _first_row(frame: pl.DataFrame) -> dict[str, Any]:
    """The one row of an aggregation, lists as Series."""
    return {name: series[0] for name, series in zip(frame.columns, frame.get_columns())}


def _namer(index: int) -> Callable[[str], str]:
    return lambda key: f"{index}\x1f{key}"


def settle(state: DraftPass, read: Callable[[], pl.LazyFrame | pl.DataFrame]) -> DraftPass:
    """Finish *state*; read again (from *read*) the columns whose statistics were for another
    type than all their values decide, until none is left (at most twice)."""
    wrong = state.finish()
    for _ in range(_MASS_CHECKS - 1):
        if not wrong:
            break
        wrong = _read_again(state, wrong, read())
    # the first read again counts every type of its columns exactly, so the second (if needed)
    # reads them for the type all their values decide
    assert not wrong, f"the draft's types did not settle: {[c.name for c in wrong]}"
    return state


def _batches(frame: pl.LazyFrame | pl.DataFrame, width: int) -> Iterator[pl.DataFrame]:
    for batch in batches(frame, width):
        if batch.height:
            yield batch


def _read_again(state: DraftPass, wrong: list[DraftColumn], frame: pl.LazyFrame | pl.DataFrame) -> list[DraftColumn]:
    """Read the misjudged columns again, with every type counted, and their statistics for the
    type all their values decide; date columns come along for the rules between dates."""
    import polars as pl

    fixed = {}
    for c in wrong:
        chosen = c.decided() if c.text else None
        if not c.text:
            fixed[c.name] = c.type_key
        else:
            fixed[c.name] = (chosen.dtype, chosen.fmt) if chosen is not None else ("string", None)
    names = {c.name for c in wrong}
    dated = [c.name for c in state.columns if (fixed.get(c.name) or c.type_key)[0] in ("date", "datetime")]
    keep = [c.name for c in state.columns if c.name in names or c.name in dated]
    for c in state.columns:
        if c.name in keep and c.name not in fixed:
            fixed[c.name] = c.type_key
    sub = frame.select(keep)
    schema = sub.collect_schema() if isinstance(sub, pl.LazyFrame) else sub.schema
    again = DraftPass(schema, state.types, rows_bound=None, seed=state.seed, fixed=fixed)
    # a column read again has its evidence counted again too (nothing pruned this time)
    again._fixed = set(fixed) - names
    for batch in _batches(sub, len(schema)):
        again.consume(batch)
    still = again.finish()
    local = {str(c.index): c.name for c in again.columns}
    by_name = {c.name: c for c in again.columns}
    for i, c in enumerate(state.columns):
        if c.name in names:
            fresh = by_name[c.name]
            fresh.index = c.index
            state.columns[i] = fresh
    # the rules between dates, counted again over the columns as now typed
    index = {c.name: c.index for c in state.columns}
    state.pairs = {k: v for k, v in state.pairs.items()
                   if state.columns[int(k[0])].name not in keep and state.columns[int(k[1])].name not in keep}
    for (a, b), counts in again.pairs.items():
        state.pairs[(str(index[local[a]]), str(index[local[b]]))] = counts
    return [state.columns[index[c.name]] for c in still if c.name in names]
