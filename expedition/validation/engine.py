"""The Polars engine: a contract compiled to one Polars query that splits rows into valid and quarantined."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition.errors import DataError, environment_error
from expedition.contract import (
    FLOAT,
    RESERVED,
    Contract,
    cast_expr,
    load_contract,
)
from expedition.validation import words
from expedition.validation.words import Check
from expedition.validation.report import (
    EXAMPLES,
    CheckOutcome,
    ValidationReport,
    ValidationResult,
)

if TYPE_CHECKING:
    import polars as pl

    from expedition.reading import OpenedDataset, ReadOptions, ShortRows

ROW, REASONS = RESERVED

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


def _plan(
    lf: pl.LazyFrame, contract: Contract, match: ColumnMatch, keep_extra: bool, map_nulls: bool,
    strip: frozenset[str] = frozenset(), short: ShortRows | None = None,
    duplicated: Mapping[tuple[str, ...], pl.Series] | None = None,
) -> tuple[pl.LazyFrame, list[Check], dict[str, str], list[str]]:
    """The one validation query: raw values, typed values and a boolean column per check.

    With *short* rows (fewer fields than the header), each is failed by one check that says so,
    and by no other: its missing fields are not values that failed. *duplicated* holds, for each
    unique key, the row numbers whose key value repeats (`_duplicated_rows`, found before this
    query, so the query itself holds no key in memory); without it the unique checks are left
    out (the query that finds them is built from this one).
    """
    import polars as pl

    schema = lf.collect_schema()
    nulls = [v for v in contract.null_values]
    raw_cols: dict[str, str] = {}  # contract column -> internal name of its delivered values
    select: list[pl.Expr] = [pl.col("__row")]
    checks: list[Check] = []
    structural = short is not None and short.count > 0
    if structural:
        assert short is not None and short.rows is not None
        # the field count of each short row (a blank line: 0), null for every other row
        fields = short.rows.select(pl.when(pl.col("blank")).then(0).otherwise(pl.col("fields")))
        select.append(pl.col("__row").cast(pl.Int64).replace_strict(
            short.rows["row"], fields.to_series(), default=None, return_dtype=pl.Int64,
        ).alias("__fields"))
        checks.append(Check(*words.fields(short.width), pl.col("__fields").is_null(), ()))
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
                checks.append(Check(*words.present(name), pl.lit(False), ()))
            elif not col.nullable:
                checks.append(Check(*words.absent_not_null(name), pl.lit(False), ()))
            continue
        if name in type_failures:
            checks.append(Check(*words.dtype(col), type_failures[name].not_(), (name,)))
        if not col.nullable:
            present = pl.col(raw_cols[name]).is_not_null()
            if col.dtype in FLOAT:
                present = present & c.is_not_nan().fill_null(True)
            checks.append(Check(*words.not_null(name), present, ()))
        if col.unique and duplicated is not None:
            checks.append(Check(
                *words.unique(name), pl.col("__row").is_in(duplicated[(name,)].implode()).not_(),
                (name,)))
        for check_id, check in zip(col.check_ids(), col.checks):
            checks.append(Check(*words.value(check_id, name, check),
                                 check.expr(c, col.dtype).fill_null(True), (name,)))
    for key in contract.unique if duplicated is not None else ():
        if any(k in match.missing for k in key):
            continue
        dup = pl.col("__row").is_in(duplicated[tuple(key)].implode())
        checks.append(Check(*words.unique_key(key), dup.not_(), tuple(key)))
    for rule in contract.rules:
        used = rule.columns
        if any(u in match.missing for u in used):
            continue
        checks.append(Check(*words.rule(rule), rule.expr().fill_null(True), tuple(used)))

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
    accounted for, and a dataset check fails when it does not. The rows are validated as
    `validate_to_files` does (streamed, in bounded memory) and the two results read back.

    >>> import polars as pl
    >>> from expedition.contract import Contract, ColumnSpec, CheckSpec
    >>> contract = Contract({"age": ColumnSpec("age", "int64", checks=(
    ...     CheckSpec("in_range", {"min": 0, "max": 120}),))})
    >>> result = validate(pl.DataFrame({"age": ["34", "12a", "200"]}), contract)
    >>> result.report.summary()
    '3 rows read = 1 valid + 2 quarantined (66.67%)'
    >>> result.quarantine["_reasons"].to_list()
    [['age: not a whole number (int64)'], ['age: outside 0 to 120']]
    """
    import tempfile

    import polars as pl

    with tempfile.TemporaryDirectory(prefix="expedition-validate-") as tmp:
        valid_path, quarantine_path = Path(tmp) / "valid.parquet", Path(tmp) / "quarantine.parquet"
        report = validate_to_files(
            data, contract, valid_path, quarantine_path, allow_extra_columns=allow_extra_columns,
            max_invalid=max_invalid, dataset=dataset, options=options, expected_rows=expected_rows)
        return ValidationResult(pl.read_parquet(valid_path), pl.read_parquet(quarantine_path), report)


def validate_to_files(
    data: pl.DataFrame | pl.LazyFrame | str | Path | OpenedDataset,
    contract: Contract | str | Path,
    valid_path: Path,
    quarantine_path: Path,
    *,
    allow_extra_columns: bool = False,
    max_invalid: float = 0.0,
    dataset: str | None = None,
    options: ReadOptions | None = None,
    expected_rows: int | None = None,
) -> ValidationReport:
    """`validate`, writing the valid rows to *valid_path* and the quarantined rows (``_row``,
    the delivered values, ``_reasons``) to *quarantine_path* as Parquet, in bounded memory.

    The delivery is streamed through Polars' streaming engine: one pass finds the rows whose
    unique keys repeat (spilling the keys to disk and grouping them a slice of hashes at a time
    when the delivery is large), a second checks every row and writes both files as it goes, so
    memory does not grow with the number of rows. The counts are read back from what was
    written: rows read = valid + quarantined holds of the files themselves.
    """
    import tempfile

    from expedition.reading import open_recovering, read_failure

    started = time.perf_counter()
    contract = _as_contract(contract)
    opened = _open(data, contract, options)
    with tempfile.TemporaryDirectory(prefix="expedition-validate-",
                                     dir=Path(valid_path).parent) as work:
        for _ in range(4):
            try:
                return _validate_once(
                    data, opened, contract, Path(valid_path), Path(quarantine_path), Path(work),
                    allow_extra_columns=allow_extra_columns, max_invalid=max_invalid,
                    dataset=dataset, started=started, expected_rows=expected_rows)
            except _READ_ERRORS() as exc:
                problem = environment_error(exc)  # a full disk or a file-size limit while writing
                if problem is not None:
                    raise problem from exc
                if opened is None:
                    raise _unreadable(exc, data) from None
                changed = read_failure(exc, opened.path, opened.options).apply(opened.options)
                if changed is None:
                    raise _unreadable(exc, data) from None
                opened = open_recovering(opened.path, changed, text=True,
                                         null_values=contract.null_values)
    raise _unreadable(RuntimeError("the file could not be read consistently"), data)


#: Keys of up to this many rows are grouped in memory; larger deliveries spill them to disk and
#: group one slice of their hashes at a time, each slice about this many rows.
KEY_ROWS_IN_MEMORY = 2_000_000
#: Quarantined rows are written in row groups this small: the streaming writer holds a row
#: group's rows until it is full, and quarantined rows arrive a few at a time from every batch.
QUARANTINE_ROW_GROUP = 1_000


def _unique_keys(contract: Contract, match: ColumnMatch) -> list[tuple[str, ...]]:
    """The unique keys validation checks: each unique column, then each compound key (those
    with a column missing from the delivery are left out, as the missing column fails)."""
    keys = [(name,) for name, col in contract.columns.items()
            if col.unique and name not in match.missing]
    keys += [tuple(key) for key in contract.unique if not any(k in match.missing for k in key)]
    return list(dict.fromkeys(keys))


def _duplicated_rows(plan: pl.LazyFrame, keys: list[tuple[str, ...]], rows: int | None,
                     work: Path) -> dict[tuple[str, ...], pl.Series]:
    """For each unique key, the row numbers whose (typed) key value occurs more than once;
    a key with an empty part is never a duplicate.

    Up to `KEY_ROWS_IN_MEMORY` rows, the keys are grouped in memory. Beyond, they are streamed
    to a Parquet file with a 64-bit hash of each key; the hashes that repeat are found one
    slice of hash values at a time (each slice about `KEY_ROWS_IN_MEMORY` rows), and only the
    rows with those hashes are compared by their values, so a hash collision never makes a
    duplicate. Memory stays that of one slice, however many rows the delivery has.
    """
    import polars as pl

    if not keys:
        return {}

    def present(key: tuple[str, ...]) -> pl.Expr:
        return pl.all_horizontal([pl.col(k).is_not_null() for k in key])

    def repeated(frame: pl.LazyFrame, key: tuple[str, ...]) -> pl.LazyFrame:
        # through a struct: the same answer, about twice as fast as on a text column
        return (frame.filter(present(key)).filter(pl.struct(list(key)).is_duplicated())
                .select(pl.col("__row")))

    columns = list(dict.fromkeys(c for key in keys for c in key))
    if rows is not None and rows <= KEY_ROWS_IN_MEMORY:
        found = pl.collect_all([repeated(plan.select("__row", *columns), key) for key in keys])
        return {key: frame.get_column("__row").sort() for key, frame in zip(keys, found)}
    spilled = work / "keys.parquet"
    hashes = [_key_hash(key).alias(f"__hash{i}") for i, key in enumerate(keys)]
    plan.select("__row", *columns, *hashes).sink_parquet(
        spilled, compression="lz4", statistics=False, engine="streaming")
    total = pl.scan_parquet(spilled).select(pl.len()).collect().item()
    slices = max(1, -(-total // KEY_ROWS_IN_MEMORY))
    out = {}
    for i, key in enumerate(keys):
        h = pl.col(f"__hash{i}")
        candidates = []
        for part in range(slices):
            candidates.append(
                pl.scan_parquet(spilled).filter(present(key)).select(h)
                .filter(h % slices == part).group_by(h).len().filter(pl.col("len") > 1)
                .select(h).collect(engine="streaming").get_column(h.meta.output_name()))
        shared = pl.concat(candidates)
        rows_found = repeated(pl.scan_parquet(spilled).filter(h.is_in(shared.implode())),
                              key).collect(engine="streaming")
        out[key] = rows_found.get_column("__row").sort()
    return out


def _key_hash(key: tuple[str, ...]) -> pl.Expr:
    """A 64-bit hash of a key's value: equal values hash equal; unequal values may collide,
    and are then told apart by their values (`_duplicated_rows`)."""
    import polars as pl

    return pl.struct(list(key)).hash(seed=0)


def _validate_once(
    data: Any, opened: OpenedDataset | None, contract: Contract, valid_path: Path,
    quarantine_path: Path, work: Path, *, allow_extra_columns: bool, max_invalid: float,
    dataset: str | None, started: float, expected_rows: int | None = None,
) -> ValidationReport:
    import polars as pl

    if opened is not None:
        lf = opened.frame
        short = opened.short_rows()
        rows = expected_rows if expected_rows is not None else opened.estimated_rows
    else:
        lf = data.lazy() if isinstance(data, pl.DataFrame) else data
        short = None
        rows = data.height if isinstance(data, pl.DataFrame) else None
    data_columns = lf.collect_schema().names()
    match = match_columns(data_columns, contract)
    keep_extra = allow_extra_columns or not contract.strict
    # delimited text is read with the contract's null_values already; other values are mapped here
    map_nulls = opened is None or not opened.options.text
    strip: frozenset[str] = frozenset()
    structural = short is not None and short.count > 0
    bad_path = work / "quarantined.parquet"
    while True:
        keys = _unique_keys(contract, match)
        if keys:
            typed, *_ = _plan(lf, contract, match, keep_extra, map_nulls, strip, short)
            duplicated = _duplicated_rows(typed, keys, rows, work)
        else:
            duplicated = {}
        plan, checks, raw_cols, kept = _plan(lf, contract, match, keep_extra, map_nulls, strip,
                                             short, duplicated)
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
        # one streaming query, two outputs written as the rows go by (a third, in-memory
        # output such as the counts would make Polars buffer rows for the slower writer)
        pl.collect_all([
            valid_plan.sink_parquet(valid_path, compression="lz4", statistics=False, lazy=True),
            bad_plan.sink_parquet(bad_path, compression="lz4", statistics=False,
                                  row_group_size=QUARANTINE_ROW_GROUP, lazy=True),
        ], engine="streaming")
        bad = pl.scan_parquet(bad_path)
        padded = _padded_type_failures(bad, checks, ok_flags, raw_cols) - strip
        if not padded:
            break
        strip = strip | padded  # rare: parse those columns again, ignoring surrounding spaces
    n_valid = pl.scan_parquet(valid_path).select(pl.len()).collect().item()
    counts_frame = bad.select([pl.len().alias("__bad")]
                              + [pl.col(f).not_().sum().alias(f) for f in ok_flags]).collect()
    n_bad = int(counts_frame.item(0, "__bad"))
    n_read = n_valid + n_bad
    counts = [int(counts_frame.item(0, f)) for f in ok_flags]
    reasons = pl.concat_list(
        [pl.when(pl.col(f).not_()).then(_reason_expr(check, short)) for f, check in zip(ok_flags, checks)]
    ).list.drop_nulls() if checks else pl.lit([], dtype=pl.List(pl.String))
    bad.select(
        [pl.col("__row").cast(pl.Int64).alias(ROW)]
        + [pl.col(internal).alias(name) for name, internal in raw_cols.items()]
        + [pl.col(f"__extra{j}").alias(extra) for j, extra in enumerate(match.extra)]
        + [reasons.alias(REASONS)]
    ).sink_parquet(quarantine_path, compression="lz4", statistics=False, engine="streaming")
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
    dataset_checks = words.dataset_checks(contract, n_read, expected_rows, match, keep_extra)
    return ValidationReport(
        dataset=dataset or contract.dataset,
        rows_read=n_read,
        rows_valid=n_valid,
        rows_quarantined=pl.scan_parquet(quarantine_path).select(pl.len()).collect().item(),
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


def _padded_type_failures(bad: pl.LazyFrame, checks: list[Check], flags: list[str],
                          raw_cols: dict[str, str]) -> frozenset[str]:
    """Columns where a value failed its type only, perhaps, because of surrounding spaces."""
    import polars as pl

    schema = bad.collect_schema()
    tests = {}
    for check, flag in zip(checks, flags):
        if check.kind != "dtype" or check.column not in raw_cols:
            continue
        raw = pl.col(raw_cols[check.column])
        if schema[raw_cols[check.column]] == pl.String:
            tests[check.column] = (pl.col(flag).not_() & raw.str.contains(r"^\s|\s$")).any()
    if not tests:
        return frozenset()
    found = bad.select([t.alias(c) for c, t in tests.items()]).collect().row(0, named=True)
    return frozenset(c for c, hit in found.items() if hit)


def _reason_expr(check: Check, short: ShortRows | None) -> pl.Expr:
    """The reason a row failed *check*, as it is written in the quarantine file."""
    import polars as pl

    if check.kind == "fields" and short is not None:
        fields = pl.col("__fields")
        blank, one, many = words.short_row_reasons(short.width)
        return (pl.when(fields == 0).then(pl.lit(blank)).when(fields == 1).then(pl.lit(one))
                .otherwise(pl.format(many, fields)))
    return pl.lit(words.reason(check))


def _show_value(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, str) and len(value) > 60:
        return value[:57] + "…"
    return value


def _examples(bad: pl.LazyFrame, flag: str, check: Check, raw_cols: dict[str, str],
              masked: frozenset[str]) -> list[dict[str, Any]]:
    """Up to three failing rows, one per distinct value; masked columns show row numbers only."""
    import polars as pl

    failing = bad.filter(pl.col(flag).not_())
    shown = [c for c in check.shows if c in raw_cols and c not in masked]
    if shown:
        failing = failing.unique(subset=[raw_cols[c] for c in shown], keep="first",
                                 maintain_order=True)
    examples = []
    for row in failing.head(EXAMPLES).collect().iter_rows(named=True):
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


