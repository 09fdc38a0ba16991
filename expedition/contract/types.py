"""How each column type is named in a contract and read from text."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from expedition.vocabulary import (
    DEFAULT_FORMATS,
    FALSE_WORDS,
    TRUE_WORDS,
)

if TYPE_CHECKING:
    import polars as pl


#: Column types a contract can name, and the Polars type each becomes (all known to pandera).
DTYPES: dict[str, str] = {
    "string": "String",
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "int64": "Int64",
    "uint8": "UInt8",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
    "float32": "Float32",
    "float64": "Float64",
    "boolean": "Boolean",
    "date": "Date",
    "datetime": "Datetime",
    "time": "Time",
    "categorical": "Categorical",
}
DTYPE_ALIASES = {
    "str": "string",
    "utf8": "string",
    "int": "int64",
    "integer": "int64",
    "float": "float64",
    "double": "float64",
    "bool": "boolean",
    "category": "categorical",
}
INTEGER = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
FLOAT = {"float32", "float64"}
NUMERIC = INTEGER | FLOAT
TEMPORAL = {"date", "datetime", "time"}
TEXTUAL = {"string", "categorical"}
ORDERED = NUMERIC | TEMPORAL


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return str(value)


def _show_values(values: Iterable[Any], limit: int = 8) -> str:
    values = list(values)
    shown = ", ".join(_show(v) for v in values[:limit])
    if len(values) > limit:
        shown += f", … ({len(values)} values)"
    return shown


def human_format(fmt: str) -> str:
    """``%d/%m/%Y`` -> ``DD/MM/YYYY``: a strftime format as people write it."""
    for code, words in (("%Y", "YYYY"), ("%m", "MM"), ("%d", "DD"), ("%H", "hh"), ("%M", "mm"),
                        ("%S", "ss"), ("%.f", ".ffffff"), ("%y", "YY"), ("%b", "Mon"),
                        ("%B", "Month"), ("%z", "±hh:mm")):
        fmt = fmt.replace(code, words)
    return fmt


def polars_dtype(name: str) -> Any:
    import polars as pl

    if name == "datetime":
        return pl.Datetime("us")
    return getattr(pl, DTYPES[name])


# --------------------------------------------------------------------------- reading deliveries


def parse_expr(col: pl.Expr, dtype: str, fmt: str | None = None, *, strip: bool = True) -> pl.Expr:
    """Text read as *dtype*; a value that does not parse becomes null (and fails the type check).

    With *strip*, spaces around numbers, dates and booleans are ignored; text is always kept
    exactly as delivered. (`validate` parses without stripping first, since stripping every value
    costs more than parsing, and parses again with it only when a failing value has spaces.)
    """
    import polars as pl

    if dtype == "string":
        return col
    if dtype == "categorical":
        return col.cast(pl.Categorical)
    value = col.str.strip_chars() if strip else col
    if dtype in NUMERIC:
        return value.cast(polars_dtype(dtype), strict=False)
    if dtype == "boolean":
        words = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
        if not strip:
            value = value.str.strip_chars()  # rare enough: booleans always tolerate spaces
        return value.str.to_lowercase().replace_strict(words, default=None, return_dtype=pl.Boolean)
    if dtype == "date":
        return value.str.to_date(fmt or DEFAULT_FORMATS["date"], strict=False)
    if dtype == "datetime":
        parsed = value.str.to_datetime(fmt, strict=False, time_unit="us")
        if fmt and "%z" in fmt:  # times with an offset are stored as UTC
            parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return parsed
    if dtype == "time":
        return value.str.to_time(fmt or DEFAULT_FORMATS["time"], strict=False)
    raise AssertionError(dtype)  # pragma: no cover


def cast_expr(
    col: pl.Expr, source: Any, dtype: str, fmt: str | None = None, *,
    typed: pl.Expr | None = None, strip: bool = True,
) -> tuple[pl.Expr, pl.Expr | None]:
    """(the column as *dtype*, an expression true where a present value failed to convert).

    Text is parsed (`parse_expr`); other types are cast, and a number that changes on the way
    (1.5 into a whole-number column, 300 into int8) fails rather than being truncated. Pass
    *typed* (a reference to the converted column) to build the failure test without converting
    twice.
    """
    import polars as pl

    target = polars_dtype(dtype)
    if source == pl.String:
        converted = parse_expr(col, dtype, fmt, strip=strip)
        if dtype == "string":
            return converted, None
        t = converted if typed is None else typed
        return converted, col.is_not_null() & t.is_null()
    if source == target or (dtype == "datetime" and isinstance(source, pl.Datetime)
                            and source.time_zone is None and source.time_unit == "us"):
        return col, None
    if dtype == "string":
        return col.cast(pl.String), None
    converted = col.cast(target, strict=False)
    t = converted if typed is None else typed
    failed = col.is_not_null() & t.is_null()
    if source.is_numeric() and dtype in INTEGER:
        failed = failed | (t.is_not_null() & (t.cast(pl.Float64) != col.cast(pl.Float64)))
    return converted, failed


