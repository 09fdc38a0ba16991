"""Validating a delivery against its data contract: every failing row quarantined with its reasons.

``validate(data, contract)`` reads every row (CSV columns as text, so ``12a`` in a column of whole
numbers fails that row instead of the read), checks each value against the contract and splits the
rows into ``valid`` (typed as the contract says) and ``quarantine`` (the row as delivered, its
row number in the file and every reason it failed). Nothing is dropped: rows read = valid +
quarantined, and the report proves it.

Execution: the contract compiles to a ``pandera.polars`` schema (`Contract.to_pandera`), and the
checks here have the same meaning as pandera's (tests hold them to it). They run as *one* Polars
query — the type conversions, every column check, the unique keys and the cross-column rules are
boolean columns computed in a single pass — because pandera's backend runs each check as its own
query and reports failure cases per check, and because its type coercion fails a whole column on
one bad value where a delivery needs that one row set aside.

``validate_dataset(project, name)`` validates a dataset's latest delivery and writes
``data/interim/NAME.parquet`` (valid rows, what steps read), ``data/quarantine/NAME.parquet``
and, in ``.expedition/quality/NAME/``, ``validation.json``, ``validation.html`` (a fragment for
the findings pack) and optionally ``feedback.md`` for the data owner. ``open_validated`` is what
the runner reads; it refuses data whose delivery or contract changed since validation.
"""

from __future__ import annotations

import re
import sys
import time
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition._io import sha256_file, sha256_remembered
from expedition._lock import locked
from expedition._store import Unit
from expedition.config import Delivery
from expedition.errors import ConfigError, DataError, StepError
from expedition.project import Project
from expedition.schema import (
    DEFAULT_FORMATS,
    RESERVED,
    FLOAT,
    INTEGER,
    ColumnSpec,
    Contract,
    cast_expr,
    contract_path,
    human_format,
    load_contract,
    rows_words,
)

if TYPE_CHECKING:
    import polars as pl

    from expedition.reading import OpenedDataset, ReadOptions, ShortRows

ROW, REASONS = RESERVED
EXAMPLES = 3


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class CheckOutcome:
    """How many rows failed one check, with a few examples (masked for personal data)."""

    id: str
    column: str | None
    kind: str
    description: str
    failure: str
    fix: str
    failed: int
    share: float
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "column": self.column,
            "check": self.kind,
            "description": self.description,
            "failure": self.failure,
            "fix": self.fix,
            "failed": self.failed,
            "share": round(self.share, 6),
            "examples": self.examples,
        }


@dataclass(frozen=True)
class DatasetCheck:
    """A check on the delivery as a whole (row count, unexpected columns): no row is to blame."""

    id: str
    description: str
    passed: bool
    detail: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "passed": self.passed,
                "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one delivery: the accounting, and what failed how often."""

    dataset: str | None
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    checks: list[CheckOutcome]
    dataset_checks: list[DatasetCheck]
    missing_columns: list[str]
    extra_columns: list[str]
    renamed_columns: dict[str, str]
    order_differs: bool
    extra_columns_kept: bool
    max_invalid: float
    seconds: float
    masked_columns: list[str]
    #: the rows `data add` counted in the delivery (None for a file or frame outside a project)
    rows_expected: int | None = None
    #: what the team should know that fails no row (deliveries whose periods overlap)
    warnings: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> bool:
        """Rows read = valid + quarantined, and = the rows `data add` recorded."""
        return (self.rows_read == self.rows_valid + self.rows_quarantined
                and (self.rows_expected is None or self.rows_read == self.rows_expected))

    @property
    def share_quarantined(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def over_limit(self) -> bool:
        return self.share_quarantined * 100 > self.max_invalid + 1e-12

    @property
    def passed(self) -> bool:
        """No more rows quarantined than --max-invalid allows, and every dataset check passed."""
        return self.accounted and not self.over_limit and all(c.passed for c in self.dataset_checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "passed": self.passed,
            "rows": {
                "read": self.rows_read,
                "valid": self.rows_valid,
                "quarantined": self.rows_quarantined,
                "share_quarantined": round(self.share_quarantined, 6),
                "accounted": self.accounted,
                "expected": self.rows_expected,
            },
            "max_invalid_percent": self.max_invalid,
            "columns": {
                "missing": self.missing_columns,
                "extra": self.extra_columns,
                "extra_kept": self.extra_columns_kept,
                "renamed": self.renamed_columns,
                "order_differs": self.order_differs,
                "masked": self.masked_columns,
            },
            "checks": [c.to_dict() for c in self.checks],
            "dataset_checks": [c.to_dict() for c in self.dataset_checks],
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """One line: the accounting."""
        return (f"{self.rows_read:,} rows read = {self.rows_valid:,} valid + "
                f"{self.rows_quarantined:,} quarantined ({self.share_quarantined:.2%})")


@dataclass(frozen=True)
class ValidationResult:
    """What `validate` returns: the valid rows, the quarantined rows and the report."""

    valid: pl.DataFrame
    quarantine: pl.DataFrame
    report: ValidationReport

    def __iter__(self):
        return iter((self.valid, self.quarantine, self.report))


# --------------------------------------------------------------------------- matching headers


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


@dataclass(frozen=True)
class ColumnMatch:
    found: dict[str, str]  # contract column -> data column
    missing: list[str]
    extra: list[str]
    renamed: dict[str, str]  # data column -> contract column
    order_differs: bool


def match_columns(data_columns: Sequence[str], contract: Contract) -> ColumnMatch:
    """Pair the delivery's headers with the contract's columns.

    Exact names first; then headers that differ only in case, spaces, hyphens or underscores
    (``Referral ID`` for ``referral_id``), which are reported as renamed. Column order does not
    matter, but a different order is reported.
    """
    found: dict[str, str] = {}
    remaining = list(data_columns)
    for name in contract.columns:
        if name in remaining:
            found[name] = name
            remaining.remove(name)
    renamed: dict[str, str] = {}
    for name in contract.columns:
        if name in found:
            continue
        candidates = [c for c in remaining if _normal(c) == _normal(name)]
        if len(candidates) == 1:
            found[name] = candidates[0]
            renamed[candidates[0]] = name
            remaining.remove(candidates[0])
    missing = [name for name in contract.columns if name not in found]
    order = [found[n] for n in contract.columns if n in found]
    delivered_order = [c for c in data_columns if c in set(found.values())]
    return ColumnMatch(found, missing, remaining, renamed, order != delivered_order)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Check:
    """One boolean column of the validation query (true = the row passes)."""

    id: str
    column: str | None
    kind: str
    description: str
    failure: str
    fix: str
    expr: Any
    shows: tuple[str, ...]  # contract columns whose delivered values illustrate a failure


def _as_contract(contract: Contract | str | Path) -> Contract:
    if isinstance(contract, Contract):
        return contract
    return load_contract(contract)


def _open(data: Any, contract: Contract, options: ReadOptions | None) -> OpenedDataset | None:
    """A delivery file opened by the reader, with every value of delimited text as text (types
    are applied per column, so a bad value fails its row instead of the read); None for a frame."""
    import polars as pl

    from expedition.reading import OpenedDataset, open_recovering

    if isinstance(data, OpenedDataset):
        return data
    if isinstance(data, (str, Path)):
        return open_recovering(data, options, text=True, null_values=contract.null_values)
    if isinstance(data, (pl.DataFrame, pl.LazyFrame)):
        return None
    raise TypeError(f"validate() takes a Polars DataFrame/LazyFrame or a path, not {type(data).__name__}")


def _type_fix(col: ColumnSpec) -> str:
    if col.dtype in INTEGER:
        return (f"send whole numbers only in '{col.name}' (no letters, decimal points, thousands "
                "separators or units)")
    if col.dtype in FLOAT:
        return (f"send numbers only in '{col.name}' (a point for decimals; no thousands separators, "
                "letters or units)")
    if col.dtype == "date":
        fmt = col.format or DEFAULT_FORMATS["date"]
        return (f"send dates in '{col.name}' as {human_format(fmt)} (e.g. "
                f"{date(2024, 3, 31).strftime(fmt)}) and check they are real calendar dates")
    if col.dtype == "datetime":
        shown = human_format(col.format) if col.format else "one consistent format (ISO 8601)"
        return f"send dates and times in '{col.name}' as {shown}"
    if col.dtype == "time":
        return f"send times in '{col.name}' as {human_format(col.format or DEFAULT_FORMATS['time'])}"
    if col.dtype == "boolean":
        return f"use true or false (or yes or no) in '{col.name}'"
    return f"check the values in '{col.name}'"


def _plan(
    lf: pl.LazyFrame, contract: Contract, match: ColumnMatch, keep_extra: bool, map_nulls: bool,
    strip: frozenset[str] = frozenset(), short: ShortRows | None = None,
) -> tuple[pl.LazyFrame, list[_Check], dict[str, str], list[str]]:
    """The one validation query: raw values, typed values and a boolean column per check.

    With *short* rows (fewer fields than the header), each is failed by one check that says so,
    and by no other: its missing fields are not values that failed.
    """
    import polars as pl

    schema = lf.collect_schema()
    nulls = [v for v in contract.null_values]
    raw_cols: dict[str, str] = {}  # contract column -> internal name of its delivered values
    select: list[pl.Expr] = [pl.col("__row")]
    checks: list[_Check] = []
    structural = short is not None and short.count > 0
    if structural:
        assert short is not None and short.rows is not None
        # the field count of each short row (a blank line: 0), null for every other row
        fields = short.rows.select(pl.when(pl.col("blank")).then(0).otherwise(pl.col("fields")))
        select.append(pl.col("__row").cast(pl.Int64).replace_strict(
            short.rows["row"], fields.to_series(), default=None, return_dtype=pl.Int64,
        ).alias("__fields"))
        checks.append(_Check(
            "row:fields", None, "fields", f"every row has the header's {short.width} fields",
            "fewer fields than the header",
            "a row ended early (a value holding a line break without quotes, or a cut-off "
            "export): export the file again, with text values in double quotes",
            pl.col("__fields").is_null(), ()))
    type_failures: dict[str, pl.Expr] = {}
    for i, (name, col) in enumerate(contract.columns.items()):
        source_name = match.found.get(name)
        if source_name is None:
            select.append(pl.lit(None, dtype=col.polars_dtype).alias(name))
            continue
        source = schema[source_name]
        raw = pl.col(source_name)
        if source == pl.String and map_nulls and nulls:
            raw = pl.when(raw.is_in(nulls)).then(pl.lit(None, dtype=pl.String)).otherwise(raw)
        internal = f"__raw{i}"
        raw_cols[name] = internal
        select.append(raw.alias(internal))
        typed, _ = cast_expr(raw, source, col.dtype, col.format, strip=name in strip)
        select.append(typed.alias(name))
        _, failed = cast_expr(pl.col(internal), source, col.dtype, col.format, typed=pl.col(name),
                              strip=name in strip)
        if failed is not None:
            type_failures[name] = failed
    # columns the contract does not list: kept in the quarantine file either way, and in the
    # valid data only when allowed
    for j, extra in enumerate(match.extra):
        select.append(pl.col(extra).alias(f"__extra{j}"))
    extras = list(match.extra) if keep_extra else []

    flags: list[pl.Expr] = []
    for name, col in contract.columns.items():
        c = pl.col(name)
        if name in match.missing:
            if col.required:
                checks.append(_Check(
                    f"{name}:present", name, "present", f"column '{name}' is in the delivery",
                    "column missing from the delivery",
                    f"include the column '{name}' (with exactly this header) in every delivery",
                    pl.lit(False), ()))
            elif not col.nullable:
                checks.append(_Check(
                    f"{name}:not_null", name, "not_null", f"'{name}' is filled in",
                    "missing (the column is not in the delivery)",
                    f"include the column '{name}' and fill it in for every record",
                    pl.lit(False), ()))
            continue
        if name in type_failures:
            checks.append(_Check(
                f"{name}:dtype", name, "dtype", f"'{name}' is {col.describe_type()}",
                f"not {col.describe_type()}", _type_fix(col),
                type_failures[name].not_(), (name,)))
        if not col.nullable:
            present = pl.col(raw_cols[name]).is_not_null()
            if col.dtype in FLOAT:
                present = present & c.is_not_nan().fill_null(True)
            checks.append(_Check(
                f"{name}:not_null", name, "not_null", f"'{name}' is filled in", "missing",
                f"fill in '{name}' for every record, or tell us why it is blank",
                present, ()))
        if col.unique:
            checks.append(_Check(
                f"{name}:unique", name, "unique", f"'{name}' is unique", "duplicated",
                f"each '{name}' should appear once: check for records sent twice or "
                "re-used references",
                # through a struct: the same answer, about twice as fast as on a text column
                (pl.struct(c).is_duplicated() & c.is_not_null()).not_(), (name,)))
        for check_id, check in zip(col.check_ids(), col.checks):
            checks.append(_Check(
                check_id, name, check.kind, f"'{name}' {check.describe()}", check.failure(),
                check.fix(), check.expr(c, col.dtype).fill_null(True), (name,)))
    for key in contract.unique:
        if any(k in match.missing for k in key):
            continue
        cols = [pl.col(k) for k in key]
        dup = pl.struct(cols).is_duplicated() & pl.all_horizontal([k.is_not_null() for k in cols])
        label = ", ".join(key)
        checks.append(_Check(
            f"unique:{'+'.join(key)}", None, "unique_key", f"({label}) unique together",
            f"({label}) duplicated",
            f"each combination of {label} should appear once: check for records sent twice",
            dup.not_(), tuple(key)))
    for rule in contract.rules:
        used = rule.columns
        if any(u in match.missing for u in used):
            continue
        text = rule.description or rule.check
        checks.append(_Check(
            f"rule:{rule.name}", None, "rule", f"rule '{rule.name}': {rule.check}",
            f"breaks rule '{rule.name}' ({rule.check})",
            f"check the records where this should hold: {text}",
            rule.expr().fill_null(True), tuple(used)))

    for k, check in enumerate(checks):
        expr = check.expr
        if structural and check.kind != "fields":
            expr = expr | pl.col("__fields").is_not_null()
        flags.append(expr.alias(f"__ok{k}"))
    ok = pl.all_horizontal([pl.col(f"__ok{k}") for k in range(len(checks))]) if checks else pl.lit(True)
    plan = (
        lf.with_row_index("__row", offset=1)
        .select(select)
        .with_columns(flags)
        .with_columns(ok.alias("__ok"))
    )
    return plan, checks, raw_cols, extras


def validate(
    data: pl.DataFrame | pl.LazyFrame | str | Path | OpenedDataset,
    contract: Contract | str | Path,
    *,
    allow_extra_columns: bool = False,
    max_invalid: float = 0.0,
    dataset: str | None = None,
    options: ReadOptions | None = None,
    expected_rows: int | None = None,
) -> ValidationResult:
    """Validate a delivery (a file, or a Polars frame) against a contract (or a contract file).

    Returns ``ValidationResult(valid, quarantine, report)``: ``valid`` holds the rows that pass
    every check, typed as the contract says, in the contract's column order; ``quarantine``
    holds every other row as delivered, with ``_row`` (its row number in the file, counting the
    first data row as 1) and ``_reasons`` (every check it failed). ``report.passed`` is false
    when more than *max_invalid* percent of rows were quarantined, or the delivery failed a
    dataset-wide check (row count; columns not in the contract, unless *allow_extra_columns* or
    the contract says ``strict: false``).

    A file is read as every other stage reads it (`expedition.reading`; *options* are those
    `data add` recorded, detected when not given). A row with fewer fields than the header is
    quarantined for that reason alone ("row has 3 fields, the header has 5"), never padded.
    *expected_rows* (what `data add` counted) must equal the rows read for the report to be
    accounted for, and a dataset check fails when it does not.

    >>> import polars as pl
    >>> from expedition.schema import Contract, ColumnSpec, CheckSpec
    >>> contract = Contract({"age": ColumnSpec("age", "int64", checks=(
    ...     CheckSpec("in_range", {"min": 0, "max": 120}),))})
    >>> result = validate(pl.DataFrame({"age": ["34", "12a", "200"]}), contract)
    >>> result.report.summary()
    '3 rows read = 1 valid + 2 quarantined (66.67%)'
    >>> result.quarantine["_reasons"].to_list()
    [['age: not a whole number (int64)'], ['age: outside 0 to 120']]
    """
    from expedition.reading import open_recovering, read_failure

    started = time.perf_counter()
    contract = _as_contract(contract)
    opened = _open(data, contract, options)
    for _ in range(4):
        try:
            return _validate_once(data, opened, contract, allow_extra_columns=allow_extra_columns,
                                  max_invalid=max_invalid, dataset=dataset, started=started,
                                  expected_rows=expected_rows)
        except _READ_ERRORS() as exc:
            if opened is None:
                raise _unreadable(exc, data) from None
            changed = read_failure(exc, opened.path, opened.options).apply(opened.options)
            if changed is None:
                raise _unreadable(exc, data) from None
            opened = open_recovering(opened.path, changed, text=True, null_values=contract.null_values)
    raise _unreadable(RuntimeError("the file could not be read consistently"), data)


def _validate_once(
    data: Any, opened: OpenedDataset | None, contract: Contract, *, allow_extra_columns: bool,
    max_invalid: float, dataset: str | None, started: float, expected_rows: int | None = None,
) -> ValidationResult:
    import polars as pl

    if opened is not None:
        lf = opened.frame
        short = opened.short_rows()
    else:
        lf = data.lazy() if isinstance(data, pl.DataFrame) else data
        short = None
    data_columns = lf.collect_schema().names()
    match = match_columns(data_columns, contract)
    keep_extra = allow_extra_columns or not contract.strict
    # delimited text is read with the contract's null_values already; other values are mapped here
    map_nulls = opened is None or not opened.options.text
    strip: frozenset[str] = frozenset()
    structural = short is not None and short.count > 0
    while True:
        plan, checks, raw_cols, kept = _plan(lf, contract, match, keep_extra, map_nulls, strip, short)
        ok_flags = [f"__ok{k}" for k in range(len(checks))]
        valid_plan = plan.filter(pl.col("__ok")).select(
            [pl.col(name) for name in contract.columns]
            + [pl.col(f"__extra{j}").alias(extra) for j, extra in enumerate(match.extra)
               if extra in kept]
        )
        bad_plan = plan.filter(pl.col("__ok").not_()).select(
            ["__row", *raw_cols.values(), *(f"__extra{j}" for j in range(len(match.extra))),
             *(["__fields"] if structural else []), *ok_flags]
        )
        counts_plan = plan.select(
            [pl.len().alias("__read")] + [pl.col(f).not_().sum().alias(f) for f in ok_flags]
        )
        # one query, three outputs: Polars evaluates the shared plan once
        valid, bad, counts_frame = pl.collect_all([valid_plan, bad_plan, counts_plan])
        padded = _padded_type_failures(bad, checks, ok_flags, raw_cols) - strip
        if not padded:
            break
        strip = strip | padded  # rare: parse those columns again, ignoring surrounding spaces
    n_read = int(counts_frame.item(0, "__read"))
    counts = [int(counts_frame.item(0, f)) for f in ok_flags]
    reasons = pl.concat_list(
        [pl.when(pl.col(f).not_()).then(_reason_expr(check, short)) for f, check in zip(ok_flags, checks)]
    ).list.drop_nulls() if checks else pl.lit([], dtype=pl.List(pl.String))
    quarantine = bad.select(
        [pl.col("__row").cast(pl.Int64).alias(ROW)]
        + [pl.col(internal).alias(name) for name, internal in raw_cols.items()]
        + [pl.col(f"__extra{j}").alias(extra) for j, extra in enumerate(match.extra)]
        + [reasons.alias(REASONS)]
    )
    masked = contract.masked()
    outcomes = []
    for flag, check, failed in zip(ok_flags, checks, counts):
        if check.kind == "fields":
            examples = short.examples(EXAMPLES) if short is not None else []
        else:
            examples = _examples(bad, flag, check, raw_cols, masked) if failed else []
        outcomes.append(CheckOutcome(
            id=check.id, column=check.column, kind=check.kind, description=check.description,
            failure=check.failure, fix=check.fix, failed=int(failed),
            share=failed / n_read if n_read else 0.0, examples=examples,
        ))
    dataset_checks = []
    if contract.rows_min is not None or contract.rows_max is not None:
        low, high = contract.rows_min, contract.rows_max
        passed = (low is None or n_read >= low) and (high is None or n_read <= high)
        expected = rows_words(low, high)
        dataset_checks.append(DatasetCheck(
            "rows", f"row count {expected}", passed, f"{n_read:,} rows delivered",
            f"send the complete extract ({expected} rows expected)"))
    if expected_rows is not None and expected_rows != n_read:
        dataset_checks.append(DatasetCheck(
            "rows_recorded", "every row `data add` counted is read", False,
            f"{n_read:,} rows read, but `data add` counted {expected_rows:,} in this delivery",
            "the delivery was read differently from when it was added: add it again with "
            "`expedition data add` (or report this as a bug with the file's description)"))
    if match.extra:
        dataset_checks.append(DatasetCheck(
            "columns", "no columns beyond the contract", keep_extra,
            "not in the contract: " + ", ".join(match.extra)
            + (" (kept as delivered)" if keep_extra else " (left out of the valid data)"),
            "tell us what these columns hold, or leave them out of the extract; to accept them, "
            "add them to the contract or validate with --allow-extra-columns"))
    report = ValidationReport(
        dataset=dataset or contract.dataset,
        rows_read=n_read,
        rows_valid=valid.height,
        rows_quarantined=quarantine.height,
        checks=outcomes,
        dataset_checks=dataset_checks,
        missing_columns=match.missing,
        extra_columns=match.extra,
        renamed_columns=match.renamed,
        order_differs=match.order_differs,
        extra_columns_kept=keep_extra and bool(match.extra),
        max_invalid=float(max_invalid),
        seconds=time.perf_counter() - started,
        masked_columns=sorted(masked),
        rows_expected=expected_rows,
    )
    return ValidationResult(valid, quarantine, report)


def _padded_type_failures(bad: pl.DataFrame, checks: list[_Check], flags: list[str],
                          raw_cols: dict[str, str]) -> frozenset[str]:
    """Columns where a value failed its type only, perhaps, because of surrounding spaces."""
    import polars as pl

    padded = set()
    for check, flag in zip(checks, flags):
        if check.kind != "dtype" or check.column not in raw_cols:
            continue
        raw = bad.filter(pl.col(flag).not_()).get_column(raw_cols[check.column])
        if raw.dtype == pl.String and raw.str.contains(r"^\s|\s$").any():
            padded.add(check.column)
    return frozenset(padded)


def _reason(check: _Check) -> str:
    if check.column is not None:
        return f"{check.column}: {check.failure}"
    return check.failure


def _reason_expr(check: _Check, short: ShortRows | None) -> pl.Expr:
    """The reason a row failed *check*, as it is written in the quarantine file."""
    import polars as pl

    if check.kind == "fields" and short is not None:
        fields = pl.col("__fields")
        return (
            pl.when(fields == 0).then(pl.lit(f"blank line, the header has {short.width} fields"))
            .when(fields == 1).then(pl.lit(f"row has 1 field, the header has {short.width}"))
            .otherwise(pl.format("row has {} fields, the header has {}", fields, pl.lit(short.width)))
        )
    return pl.lit(_reason(check))


def _show_value(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, str) and len(value) > 60:
        return value[:57] + "…"
    return value


def _examples(bad: pl.DataFrame, flag: str, check: _Check, raw_cols: dict[str, str],
              masked: frozenset[str]) -> list[dict[str, Any]]:
    """Up to three failing rows, one per distinct value; masked columns show row numbers only."""
    import polars as pl

    failing = bad.filter(pl.col(flag).not_())
    shown = [c for c in check.shows if c in raw_cols and c not in masked]
    if shown:
        failing = failing.unique(subset=[raw_cols[c] for c in shown], keep="first",
                                 maintain_order=True)
    examples = []
    for row in failing.head(EXAMPLES).iter_rows(named=True):
        example: dict[str, Any] = {"row": row["__row"]}
        if len(check.shows) == 1 and shown:
            example["value"] = _show_value(row[raw_cols[shown[0]]])
        elif shown:
            example["values"] = {c: _show_value(row[raw_cols[c]]) for c in shown}
        examples.append(example)
    return examples


def _READ_ERRORS() -> tuple[type[BaseException], ...]:
    """What Polars raises for a file it cannot read (anything else is a bug, not bad data)."""
    import polars as pl

    return (pl.exceptions.ComputeError, pl.exceptions.NoDataError, OSError)


def _unreadable(exc: BaseException, data: Any) -> DataError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    path = data if isinstance(data, (str, Path)) else getattr(data, "path", None)
    return DataError(
        f"could not read the delivery: {message}",
        "check that the file is complete and in the format its extension says; export it again "
        "from the source system if needed",
        path=path,
    )


# --------------------------------------------------------------------------- in a project


@dataclass(frozen=True)
class DatasetValidation:
    """`validate_dataset`'s result: the report plus what was validated and where it went."""

    project: Project
    dataset: str
    report: ValidationReport
    delivery: Delivery
    contract: Contract
    contract_file: str
    valid_file: str
    valid_sha256: str
    quarantine_file: str
    quarantine_sha256: str
    validated_at: str
    feedback: str | None = None
    #: with ``combine: all``, each delivery's own validation (the report is their total)
    parts: tuple[DeliveryPart, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.report.exit_code

    @property
    def deliveries(self) -> list[Delivery]:
        """The deliveries validated: each of a combined dataset's, else the one."""
        return [p.delivery for p in self.parts] or [self.delivery]

    def to_dict(self) -> dict[str, Any]:
        """What `validation.json` holds and `expedition validate --json` prints."""
        return {
            "dataset": self.dataset,
            "validated_at": self.validated_at,
            "delivery": {
                "version": self.delivery.version,
                "file": self.delivery.file,
                "sha256": self.delivery.sha256,
                "rows": self.delivery.rows,
            },
            "contract": {"file": self.contract_file, "sha256": self.contract.sha256},
            "outputs": {
                "valid": {"file": self.valid_file, "sha256": self.valid_sha256,
                          "rows": self.report.rows_valid},
                "quarantine": {"file": self.quarantine_file, "sha256": self.quarantine_sha256,
                               "rows": self.report.rows_quarantined},
                "feedback": self.feedback,
            },
            "report": self.report.to_dict(),
            **({"combine": "all", "deliveries": [p.to_dict() for p in self.parts]} if self.parts else {}),
        }


#: The column naming the delivery each row of a combined dataset came from.
DELIVERY_COLUMN = "delivery"


@dataclass(frozen=True)
class DeliveryPart:
    """One delivery of a combined dataset (``combine: all``): its own accounting and period."""

    delivery: Delivery
    label: str
    report: ValidationReport
    period: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        rows = self.report.to_dict()["rows"]
        return {
            "version": self.delivery.version,
            "label": self.label,
            "file": self.delivery.file,
            "sha256": self.delivery.sha256,
            "rows": {k: rows[k] for k in ("read", "valid", "quarantined", "accounted", "expected")},
            "passed": self.report.passed,
            "period": list(self.period) if self.period else None,
        }


def delivery_labels(deliveries: Sequence[Delivery]) -> dict[int, str]:
    """The value of the ``delivery`` column for each delivery (by version): the file's name as
    delivered, or ``vN name`` when two deliveries share a name."""
    names = [d.source for d in deliveries]
    return {d.version: d.source if names.count(d.source) == 1 else f"v{d.version} {d.source}"
            for d in deliveries}


def _combined_report(dataset: str, parts: list[DeliveryPart], max_invalid: float,
                     warnings: list[str]) -> ValidationReport:
    """The report of a combined dataset: each delivery's rows and failures added up."""
    reports = [p.report for p in parts]
    read = sum(r.rows_read for r in reports)
    merged: dict[str, CheckOutcome] = {}
    for report in reports:
        for check in report.checks:
            old = merged.get(check.id)
            if old is None:
                merged[check.id] = check
                continue
            merged[check.id] = CheckOutcome(
                id=old.id, column=old.column, kind=old.kind, description=old.description,
                failure=old.failure, fix=old.fix, failed=old.failed + check.failed, share=0.0,
                examples=(old.examples + check.examples)[:EXAMPLES],
            )
    checks = [CheckOutcome(**{**c.__dict__, "share": c.failed / read if read else 0.0})
              for c in merged.values()]
    dataset_checks = [
        DatasetCheck(c.id, c.description, c.passed, f"{p.label}: {c.detail}", c.fix)
        for p in parts for c in p.report.dataset_checks
    ]
    expected = [r.rows_expected for r in reports]
    return ValidationReport(
        dataset=dataset,
        rows_read=read,
        rows_valid=sum(r.rows_valid for r in reports),
        rows_quarantined=sum(r.rows_quarantined for r in reports),
        checks=checks,
        dataset_checks=dataset_checks,
        missing_columns=sorted({c for r in reports for c in r.missing_columns}),
        extra_columns=sorted({c for r in reports for c in r.extra_columns}),
        renamed_columns={k: v for r in reports for k, v in r.renamed_columns.items()},
        order_differs=any(r.order_differs for r in reports),
        extra_columns_kept=any(r.extra_columns_kept for r in reports),
        max_invalid=float(max_invalid),
        seconds=sum(r.seconds for r in reports),
        masked_columns=sorted({c for r in reports for c in r.masked_columns}),
        rows_expected=None if any(e is None for e in expected) else sum(expected),  # type: ignore[misc]
        warnings=warnings,
    )


def _period(frame: pl.DataFrame, contract: Contract) -> tuple[str, str] | None:
    """The first and last date of a delivery's valid rows, by the contract's first date column."""
    for name in contract.columns_with_role("date"):
        if name in frame.columns and frame.height:
            column = frame.get_column(name).drop_nulls()
            if column.len():
                return str(column.min()), str(column.max())
    return None


def _overlaps(parts: list[DeliveryPart], valid: list[pl.DataFrame], contract: Contract) -> list[str]:
    """What the team should know about deliveries that cover the same ground: periods that
    overlap, and rows whose unique key occurs in more than one delivery."""
    import polars as pl

    notes = []
    dated = [p for p in parts if p.period]
    for i, a in enumerate(dated):
        for b in dated[i + 1:]:
            if a.period[0] <= b.period[1] and b.period[0] <= a.period[1]:  # type: ignore[index]
                notes.append(
                    f"the periods of {a.label} ({a.period[0]} to {a.period[1]}) and {b.label} "  # type: ignore[index]
                    f"({b.period[0]} to {b.period[1]}) overlap: check that no rows were "  # type: ignore[index]
                    "delivered twice (combine: all adds every delivery's rows)"
                )
    keys = [list(k) for k in contract.unique] + [[n] for n, c in contract.columns.items() if c.unique]
    for key in keys:
        frames = [f.select(key).drop_nulls().unique().with_columns(pl.lit(i).alias("__part"))
                  for i, f in enumerate(valid) if all(k in f.columns for k in key)]
        if len(frames) < 2:
            continue
        both = pl.concat(frames).group_by(key).agg(pl.col("__part").n_unique().alias("n")).filter(pl.col("n") > 1)
        if both.height:
            notes.append(
                f"{both.height:,} value{'s' if both.height != 1 else ''} of the unique key "
                f"{', '.join(key)} {'occur' if both.height != 1 else 'occurs'} in more than one delivery: the deliveries overlap (the "
                "contract checks the key within each delivery)"
            )
    return notes


def quality_files(project: Project, dataset: str) -> dict[str, Path]:
    folder = project.quality_dir(dataset)
    return {"json": folder / "validation.json", "html": folder / "validation.html",
            "feedback": folder / "feedback.md"}


def _atomic_parquet(frame: pl.DataFrame, path: Path, unit: Unit) -> str:
    """Write *frame* as *path*'s new content in *unit* (committed with the unit's other
    outputs); return its sha256."""
    tmp = unit.file(path)
    # LZ4 and no column statistics: the fastest Parquet Polars writes (encoding dominates
    # writing millions of rows); steps read whole files, so statistics would not be used
    frame.write_parquet(tmp, compression="lz4", statistics=False)
    return sha256_file(tmp)


def _dataset_config(project: Project, dataset: str):
    datasets = project.config.datasets
    if dataset not in datasets:
        import difflib

        close = difflib.get_close_matches(dataset, list(datasets), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"no dataset called {dataset!r}{hint}",
            f"the datasets are: {', '.join(datasets) or 'none yet'}; add one with "
            "`expedition data add FILE --name NAME`",
            path=project.config_path,
        )
    return datasets[dataset]


def load_dataset_contract(project: Project, dataset: str) -> Contract:
    """The contract of a dataset, or a ConfigError saying how to make one."""
    path = contract_path(project, dataset)
    if not path.exists():
        raise ConfigError(
            f"dataset {dataset!r} has no data contract ({project.relative(path)} does not exist)",
            f"draft one from the data with `expedition schema infer {dataset}`, review it, then "
            f"run `expedition validate {dataset}`",
            path=path,
        )
    return load_contract(path)


@locked("validate")
def validate_dataset(
    project: Project,
    dataset: str,
    *,
    max_invalid: float = 0.0,
    allow_extra_columns: bool = False,
    feedback: bool = False,
    contract: Contract | None = None,
) -> DatasetValidation:
    """Validate the latest delivery of *dataset* and write the valid and quarantined rows.

    Writes ``data/quarantine/NAME.parquet``, ``data/interim/NAME.parquet``,
    ``validation.html``, ``feedback.md`` (with *feedback*) and ``validation.json`` — the record
    steps check before they read the validated data — as one unit (`expedition._store.Unit`):
    after a crash the project holds all of the old outputs or all of the new. The raw delivery
    is hashed first and refused if it changed since it was registered.
    """
    from expedition.datasets import delivery_options, delivery_path

    config = _dataset_config(project, dataset)
    delivery = config.latest
    if delivery is None:
        raise DataError(f"dataset {dataset!r} has no deliveries yet",
                        f"add one with `expedition data add FILE --name {dataset}`")
    contract = contract or load_dataset_contract(project, dataset)
    parts: tuple[DeliveryPart, ...] = ()
    if config.combine == "all":
        result, parts = _validate_combined(project, dataset, config.deliveries, contract,
                                           max_invalid=max_invalid,
                                           allow_extra_columns=allow_extra_columns)
    else:
        raw = delivery_path(project, dataset, full_check=True)
        result = validate(raw, contract, allow_extra_columns=allow_extra_columns,
                          max_invalid=max_invalid, dataset=dataset,
                          options=delivery_options(delivery), expected_rows=delivery.rows)
    valid_path = project.interim_dir / f"{dataset}.parquet"
    quarantine_path = project.quarantine_dir / f"{dataset}.parquet"
    with Unit(project.root, f"validate {dataset}") as unit:
        outcome = _write_outputs(project, dataset, delivery, contract, result, feedback, unit,
                                 valid_path, quarantine_path, parts)
    project.record(
        "validate", dataset=dataset, delivery=delivery.version, sha256=delivery.sha256,
        read=result.report.rows_read, valid=result.report.rows_valid,
        quarantined=result.report.rows_quarantined, passed=result.report.passed,
    )
    return outcome


def _validate_combined(
    project: Project, dataset: str, deliveries: list[Delivery], contract: Contract, *,
    max_invalid: float, allow_extra_columns: bool,
) -> tuple[ValidationResult, tuple[DeliveryPart, ...]]:
    """Validate every delivery of a ``combine: all`` dataset; return their union (with the
    ``delivery`` column) and each delivery's own outcome."""
    import polars as pl

    from expedition.datasets import check_delivery, delivery_options

    if DELIVERY_COLUMN in contract.columns:
        raise ConfigError(
            f"the contract of {dataset!r} has a column called {DELIVERY_COLUMN!r}, the name "
            "combine: all gives the column naming each row's delivery",
            f"rename that column in the contract (and the data), or set combine: latest for {dataset!r}",
            path=contract.path,
        )
    seen: dict[str, Delivery] = {}
    for d in deliveries:
        if d.sha256 in seen:
            raise DataError(
                f"deliveries v{seen[d.sha256].version} and v{d.version} of {dataset!r} are the same "
                "file (same SHA-256): with combine: all their rows would be counted twice",
                f"remove one of them from {dataset!r} in expedition.yaml",
            )
        seen[d.sha256] = d
    labels = delivery_labels(deliveries)
    parts: list[DeliveryPart] = []
    valid: list[pl.DataFrame] = []
    quarantined: list[pl.DataFrame] = []
    for d in deliveries:
        raw = check_delivery(project, d, full=True)
        one = validate(raw, contract, allow_extra_columns=allow_extra_columns,
                       max_invalid=max_invalid, dataset=dataset, options=delivery_options(d),
                       expected_rows=d.rows)
        label = pl.lit(labels[d.version], dtype=pl.String).alias(DELIVERY_COLUMN)
        valid.append(one.valid.with_columns(label))
        quarantined.append(one.quarantine.with_columns(label))
        parts.append(DeliveryPart(d, labels[d.version], one.report, _period(one.valid, contract)))
    report = _combined_report(dataset, parts, max_invalid, _overlaps(parts, valid, contract))
    union = pl.concat(valid, how="diagonal_relaxed")
    quarantine = pl.concat(quarantined, how="diagonal_relaxed")
    return ValidationResult(union, quarantine, report), tuple(parts)


def _write_outputs(project: Project, dataset: str, delivery: Delivery, contract: Contract,
                   result: ValidationResult, feedback: bool, unit: Unit, valid_path: Path,
                   quarantine_path: Path, parts: tuple[DeliveryPart, ...] = ()) -> DatasetValidation:
    quarantine_sha = _atomic_parquet(result.quarantine, quarantine_path, unit)
    valid_sha = _atomic_parquet(result.valid, valid_path, unit)
    files = quality_files(project, dataset)
    outcome = DatasetValidation(
        project=project,
        dataset=dataset,
        report=result.report,
        delivery=delivery,
        contract=contract,
        contract_file=project.relative(contract.path) if contract.path else "",
        valid_file=project.relative(valid_path),
        valid_sha256=valid_sha,
        quarantine_file=project.relative(quarantine_path),
        quarantine_sha256=quarantine_sha,
        validated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        feedback=project.relative(files["feedback"]) if feedback else None,
        parts=parts,
    )
    from expedition import _validation_render as render

    unit.write_text(files["html"], render.html_fragment(outcome))
    if feedback:
        unit.write_text(files["feedback"], render.feedback_markdown(outcome))
    else:
        unit.remove(files["feedback"])  # never leave feedback about an older delivery
    import json

    unit.write_text(files["json"], json.dumps(outcome.to_dict(), indent=2, default=str) + "\n")
    return outcome


def validate_datasets(
    project: Project,
    names: Iterable[str] | None = None,
    *,
    max_invalid: float = 0.0,
    allow_extra_columns: bool = False,
    feedback: bool = False,
) -> list[DatasetValidation]:
    """Validate several datasets (default: every dataset with a delivery).

    Every contract is loaded first, so a broken one stops the command before anything is written.
    """
    config = project.config
    if names:
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            _dataset_config(project, name)
    else:
        wanted = [n for n, d in config.datasets.items() if d.deliveries]
        if not wanted:
            raise DataError("the expedition has no deliveries to validate",
                            "add one with `expedition data add FILE --name NAME`")
    contracts = {name: load_dataset_contract(project, name) for name in wanted}
    return [
        validate_dataset(project, name, max_invalid=max_invalid,
                         allow_extra_columns=allow_extra_columns, feedback=feedback,
                         contract=contracts[name])
        for name in wanted
    ]


# --------------------------------------------------------------------------- what steps read


def validation_record(project: Project, dataset: str) -> dict[str, Any] | None:
    """The last `validation.json` of a dataset, or None."""
    import json

    path = quality_files(project, dataset)["json"]
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError):
        return None


def stale_reason(project: Project, dataset: str) -> str | None:
    """Why the validated data of *dataset* cannot be used as it is, or None when it is current."""
    config = _dataset_config(project, dataset)
    delivery = config.latest
    if delivery is None:
        return f"dataset '{dataset}' has no deliveries yet"
    record = validation_record(project, dataset)
    if record is None:
        return f"dataset '{dataset}' has not been validated against its data contract"
    if config.combine == "all" or record.get("combine") == "all":
        validated = [d.get("sha256") for d in record.get("deliveries") or [record["delivery"]]]
        if validated != [d.sha256 for d in config.read] or record.get("combine") != config.combine:
            return (f"the deliveries of dataset '{dataset}' (combine: {config.combine}) changed "
                    "since it was validated")
    elif record["delivery"]["sha256"] != delivery.sha256:
        return (f"dataset '{dataset}' has a new delivery (v{delivery.version}) since it was "
                f"validated (v{record['delivery']['version']})")
    path = contract_path(project, dataset)
    if not path.exists():
        return f"the data contract of '{dataset}' ({project.relative(path)}) is missing"
    if sha256_file(path) != record["contract"]["sha256"]:
        return (f"the data contract of '{dataset}' ({project.relative(path)}) changed since the "
                "data was validated")
    valid = project.root / record["outputs"]["valid"]["file"]
    if not valid.exists() or sha256_remembered(valid, project.state_dir) != record["outputs"]["valid"]["sha256"]:
        return (f"the validated data of '{dataset}' ({record['outputs']['valid']['file']}) is "
                "missing or was changed after validation")
    return None


@dataclass(frozen=True)
class ValidatedData:
    """What a step reads: the validated rows, the contract, and what identifies them."""

    frame: pl.LazyFrame
    contract: Contract
    fingerprint: dict[str, Any]


def require_validated(project: Project, dataset: str, *, reader: str | None = None) -> None:
    """A StepError saying what to run, unless *dataset*'s validated data is current; *reader*
    (e.g. "link 'people'") names what reads it, in front of the message."""
    try:
        _require_validated(project, dataset)
    except StepError as exc:
        if reader is not None:
            exc.what = f"{reader} reads {dataset!r}: {exc.what}"
        raise


def _require_validated(project: Project, dataset: str) -> None:
    problem = stale_reason(project, dataset)
    if problem is None:
        from expedition.datasets import check_delivery

        for delivery in project.config.datasets[dataset].read:
            check_delivery(project, delivery)  # the raw data behind it
        return
    if "no deliveries" in problem:
        raise StepError(problem, f"add one with `expedition data add FILE --name {dataset}`")
    fix = f"run `expedition validate {dataset}` (or `expedition run --validate`)"
    if "not been validated" in problem and not contract_path(project, dataset).exists():
        fix = (f"draft a data contract with `expedition schema infer {dataset}`, review it, then "
               + fix)
    raise StepError(f"{problem}; steps read only validated data", fix)


def open_validated(project: Project, dataset: str) -> ValidatedData:
    """The validated rows of *dataset* as a LazyFrame, or a StepError saying what to run."""
    import polars as pl

    require_validated(project, dataset)
    record = validation_record(project, dataset)
    assert record is not None
    contract = load_contract(contract_path(project, dataset))
    valid = project.root / record["outputs"]["valid"]["file"]
    fingerprint = {
        "dataset": dataset,
        "delivery": record["delivery"]["version"],
        "data_file": record["delivery"]["file"],
        "data_sha256": record["delivery"]["sha256"],
        "contract": record["contract"]["file"],
        "contract_sha256": record["contract"]["sha256"],
        "validated_file": record["outputs"]["valid"]["file"],
        "validated_sha256": record["outputs"]["valid"]["sha256"],
        "validation": {k: record["report"]["rows"][k] for k in ("read", "valid", "quarantined")},
    }
    if record.get("combine") == "all":
        import hashlib

        hashes = [d["sha256"] for d in record["deliveries"]]
        fingerprint["deliveries"] = [
            {"version": d["version"], "file": d["file"], "sha256": d["sha256"]} for d in record["deliveries"]
        ]
        fingerprint["data_file"] = ", ".join(d["file"] for d in record["deliveries"])
        # one hash for the raw data behind the union: of the deliveries' hashes, in order
        fingerprint["data_sha256"] = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    return ValidatedData(pl.scan_parquet(valid), contract, fingerprint)


def ensure_validated(
    project: Project, names: Iterable[str], **options: Any
) -> list[DatasetValidation]:
    """Validate the datasets among *names* whose validated data is missing or out of date."""
    stale = [name for name in dict.fromkeys(names) if stale_reason(project, name) is not None]
    if not stale:
        return []
    return validate_datasets(project, stale, **options)


# --------------------------------------------------------------------------- `expedition.validate(...)`


class _CallableModule(types.ModuleType):
    """Importing ``expedition.validate`` (this module) makes Python set the package attribute
    ``expedition.validate`` to the module, hiding the function of the same name that the public
    API promises. Calling the module calls the function, so ``expedition.validate(frame,
    contract)`` works however the module was first imported."""

    def __call__(self, *args: Any, **kwargs: Any) -> ValidationResult:
        return validate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
