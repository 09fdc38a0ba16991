"""What each check validation runs is called, how its failure reads, and what fixes it: one
definition, which every engine uses (only the expression that tests a row is the engine's).

The contract's value checks take their words from their kind (`expedition.contract.checks`);
the checks validation adds around them — every row has the header's fields, a column is present,
filled in, of its type, unique, a compound key unique, a rule holds — take theirs from here.
`words(...)` gives ``(id, column, kind, description, failure, fix)`` for one check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from expedition.contract import DEFAULT_FORMATS, FLOAT, INTEGER, human_format, rows_words
from expedition.validation.report import DatasetCheck

if TYPE_CHECKING:
    from expedition.contract import CheckSpec, ColumnSpec, Contract, RuleSpec
    from expedition.validation.engine import ColumnMatch

Words = tuple[str, "str | None", str, str, str, str]


@dataclass(frozen=True)
class Check:
    """One check an engine runs: its words (`Words`), the engine's expression that is true
    where a row passes, and the contract columns whose delivered values illustrate a failure."""

    id: str
    column: str | None
    kind: str
    description: str
    failure: str
    fix: str
    expr: Any
    shows: tuple[str, ...]


def reason(check: Check) -> str:
    """The reason a row failed *check*, as the quarantine file says it (short rows aside)."""
    if check.column is not None:
        return f"{check.column}: {check.failure}"
    return check.failure


def short_row_reasons(width: int) -> tuple[str, str, str]:
    """The reasons of a row with fewer fields than the header's *width*: a blank line, one
    field, and n fields (a template with ``{}`` for n)."""
    return (f"blank line, the header has {width} fields", f"row has 1 field, the header has {width}",
            f"row has {{}} fields, the header has {width}")


def type_fix(col: ColumnSpec) -> str:
    """What the data owner can do about values that are not of the column's type."""
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


def fields(width: int) -> Words:
    return ("row:fields", None, "fields", f"every row has the header's {width} fields",
            "fewer fields than the header",
            "a row ended early (a value holding a line break without quotes, or a cut-off "
            "export): export the file again, with text values in double quotes")


def present(name: str) -> Words:
    """A required column the delivery does not have."""
    return (f"{name}:present", name, "present", f"column '{name}' is in the delivery",
            "column missing from the delivery",
            f"include the column '{name}' (with exactly this header) in every delivery")


def absent_not_null(name: str) -> Words:
    """An optional column that may not be empty, missing from the delivery."""
    return (f"{name}:not_null", name, "not_null", f"'{name}' is filled in",
            "missing (the column is not in the delivery)",
            f"include the column '{name}' and fill it in for every record")


def dtype(col: ColumnSpec) -> Words:
    return (f"{col.name}:dtype", col.name, "dtype", f"'{col.name}' is {col.describe_type()}",
            f"not {col.describe_type()}", type_fix(col))


def not_null(name: str) -> Words:
    return (f"{name}:not_null", name, "not_null", f"'{name}' is filled in", "missing",
            f"fill in '{name}' for every record, or tell us why it is blank")


def unique(name: str) -> Words:
    return (f"{name}:unique", name, "unique", f"'{name}' is unique", "duplicated",
            f"each '{name}' should appear once: check for records sent twice or re-used "
            "references")


def unique_key(key: tuple[str, ...] | list[str]) -> Words:
    label = ", ".join(key)
    return (f"unique:{'+'.join(key)}", None, "unique_key", f"({label}) unique together",
            f"({label}) duplicated",
            f"each combination of {label} should appear once: check for records sent twice")


def rule(spec: RuleSpec) -> Words:
    text = spec.description or spec.check
    return (f"rule:{spec.name}", None, "rule", f"rule '{spec.name}': {spec.check}",
            f"breaks rule '{spec.name}' ({spec.check})",
            f"check the records where this should hold: {text}")


def value(check_id: str, name: str, check: CheckSpec) -> Words:
    """A contract's value check: its words come from its kind."""
    return (check_id, name, check.kind, f"'{name}' {check.describe()}", check.failure(),
            check.fix())


#: What to do when the rows read are not the rows `data add` counted (an engine may add why).
RECORDED_FIX = ("the delivery was read differently from when it was added: add it again with "
                "`expedition data add` (or report this as a bug with the file's description)")


def dataset_checks(contract: Contract, n_read: int, expected_rows: int | None, match: ColumnMatch,
                   keep_extra: bool, *, recorded_fix: str = RECORDED_FIX) -> list[DatasetCheck]:
    """The dataset-wide checks: the row count the contract allows, every row `data add`
    counted read, no columns beyond the contract."""
    checks = []
    if contract.rows_min is not None or contract.rows_max is not None:
        low, high = contract.rows_min, contract.rows_max
        passed = (low is None or n_read >= low) and (high is None or n_read <= high)
        expected = rows_words(low, high)
        checks.append(DatasetCheck(
            "rows", f"row count {expected}", passed, f"{n_read:,} rows delivered",
            f"send the complete extract ({expected} rows expected)"))
    if expected_rows is not None and expected_rows != n_read:
        checks.append(DatasetCheck(
            "rows_recorded", "every row `data add` counted is read", False,
            f"{n_read:,} rows read, but `data add` counted {expected_rows:,} in this delivery",
            recorded_fix))
    if match.extra:
        checks.append(DatasetCheck(
            "columns", "no columns beyond the contract", keep_extra,
            "not in the contract: " + ", ".join(match.extra)
            + (" (kept as delivered)" if keep_extra else " (left out of the valid data)"),
            "tell us what these columns hold, or leave them out of the extract; to accept them, "
            "add them to the contract or validate with --allow-extra-columns"))
    return checks
