"""What each check validation runs is called, how its failure reads, and what fixes it: one
definition, which every engine uses (only the expression that tests a row is the engine's).

The contract's value checks take their words from their kind (`expedition.contract.checks`);
the checks validation adds around them — every row has the header's fields, a column is present,
filled in, of its type, unique, a compound key unique, a rule holds — take theirs from here.
`words(...)` gives ``(id, column, kind, description, failure, fix)`` for one check.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from expedition.contract import DEFAULT_FORMATS, FLOAT, INTEGER, human_format

if TYPE_CHECKING:
    from expedition.contract import CheckSpec, ColumnSpec, RuleSpec

Words = tuple[str, "str | None", str, str, str, str]


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
