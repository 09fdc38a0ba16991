"""Data contracts: what a dataset must look like, in a YAML file a person can read and edit.

A contract (``schemas/NAME.yaml``) lists every column with its type, whether it may be empty or
must be unique, checks on its values (ranges, allowed values, regular expressions, string length,
date bounds) and what the column *is*: a description, units, a role (``identifier``,
``protected``, ``target``, ``text``, ``geo`` or ``date``) and whether it holds personal data.
Dataset-wide checks add compound unique keys, bounds on the number of rows and cross-column rules
such as ``closure_date >= referral_date``. The format is documented in the README.

``load_contract(path)`` reads and checks a contract; every mistake (bad YAML, an unknown check,
a type pandera does not know, a rule naming a column that is not declared) is a `ConfigError`
naming the file, the line and the column. ``Contract.to_pandera()`` compiles it to a
``pandera.polars.DataFrameSchema`` (descriptions, units, roles and the personal flag travel in
each column's ``metadata``); ``Contract.to_yaml()`` writes it back. ``infer_schema(data)`` drafts
a contract from a delivery, with comments showing what was observed, and ``draft_contract``
writes that draft into a project without ever overwriting a contract a person has edited.

Why our own YAML rather than pandera's ``to_yaml``/``from_yaml``: pandera's polars ``to_yaml``
drops column ``metadata`` (where roles and the personal flag live), its ``from_yaml`` imports
pandas and builds pandas schemas, and neither reports the line of a mistake. The contract is the
source of truth; pandera's schema is compiled from it.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expedition import pii
from expedition._io import atomic_write_text, sha256_file
from expedition._lock import locked
from expedition.config import update_config
from expedition.errors import ConfigError, DataError
from expedition.project import Project
from expedition.vocabulary import (
    AREA_CODE,
    DATE_FORMATS,
    DATETIME_FORMATS,
    DEFAULT_FORMATS,
    FALSE_WORDS,
    GEO_NAME,
    IDENTIFIER_NAME,
    MONTH_FORMATS,
    NULL_TOKENS,
    PROTECTED_NAME,
    TARGET_NAME,
    TRUE_WORDS,
    name_key,
)

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl

    from expedition.reading import OpenedDataset

FORMAT_VERSION = 1

#: The roles a column can play; other parts of the tool look for these exact strings.
ROLES = ("identifier", "protected", "target", "text", "geo", "date")

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

GENERATED_MARK = "# expedition-generated: sha256="
#: Columns validation adds to the quarantine file: the row number and the reasons.
RESERVED = ("_row", "_reasons")

TOP_KEYS = ("version", "dataset", "description", "strict", "null_values", "rows", "unique", "rules",
            "columns")
COLUMN_KEYS = ("dtype", "nullable", "unique", "required", "format", "checks", "description",
               "units", "role", "personal", "label")


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class CheckSpec:
    """One check on a column's values, e.g. ``in_range`` with ``{"min": 0, "max": 19}``.

    Checks judge values that are present: an empty value is judged only by ``nullable``, and a
    value that is not of the column's type only by the type check (as in pandera).
    """

    kind: str
    args: Mapping[str, Any]
    line: int | None = field(default=None, compare=False, repr=False)

    # The Polars expression that is true where a value passes ------------------------------
    def expr(self, col: pl.Expr, dtype: str) -> pl.Expr:
        import polars as pl

        a = self.args
        if dtype == "categorical" and self.kind.startswith("str_"):
            col = col.cast(pl.String)
        if self.kind == "in_range":
            low = col.ge(a["min"]) if a.get("include_min", True) else col.gt(a["min"])
            high = col.le(a["max"]) if a.get("include_max", True) else col.lt(a["max"])
            return low & high
        if self.kind in {"ge", "gt", "le", "lt", "eq", "ne"}:
            return getattr(col, self.kind)(a["value"])
        if self.kind == "isin":
            return col.is_in(_values(a["values"], dtype))
        if self.kind == "notin":
            return col.is_in(_values(a["values"], dtype)).not_()
        if self.kind == "str_matches":
            return col.str.contains(_anchored(a["pattern"]))
        if self.kind == "str_contains":
            return col.str.contains(a["pattern"])
        if self.kind == "str_startswith":
            return col.str.starts_with(a["value"])
        if self.kind == "str_endswith":
            return col.str.ends_with(a["value"])
        if self.kind == "str_length":
            n = col.str.len_chars()
            if a.get("exact") is not None:
                return n.eq(a["exact"])
            if a.get("min") is not None and a.get("max") is not None:
                return n.is_between(a["min"], a["max"])
            if a.get("min") is not None:
                return n.ge(a["min"])
            return n.le(a["max"])
        raise AssertionError(self.kind)  # pragma: no cover - kinds are checked on load

    # pandera's built-in check that says the same --------------------------------------------
    def to_pandera(self) -> pa.Check:
        import pandera.polars as pa

        a = self.args
        if self.kind == "in_range":
            return pa.Check.in_range(
                a["min"], a["max"], include_min=a.get("include_min", True),
                include_max=a.get("include_max", True),
            )
        if self.kind in {"ge", "gt", "le", "lt", "eq", "ne"}:
            return getattr(pa.Check, self.kind)(a["value"])
        if self.kind in {"isin", "notin"}:
            return getattr(pa.Check, self.kind)(list(a["values"]))
        if self.kind in {"str_matches", "str_contains"}:
            return getattr(pa.Check, self.kind)(a["pattern"])
        if self.kind in {"str_startswith", "str_endswith"}:
            return getattr(pa.Check, self.kind)(a["value"])
        if self.kind == "str_length":
            if a.get("exact") is not None:
                return pa.Check.str_length(exact_value=a["exact"])
            return pa.Check.str_length(min_value=a.get("min"), max_value=a.get("max"))
        raise AssertionError(self.kind)  # pragma: no cover

    # words ----------------------------------------------------------------------------------
    def describe(self) -> str:
        """What the check requires, e.g. ``between 0 and 19``."""
        a = self.args
        if self.kind == "in_range":
            low = "" if a.get("include_min", True) else " (exclusive)"
            high = "" if a.get("include_max", True) else " (exclusive)"
            return f"between {_show(a['min'])}{low} and {_show(a['max'])}{high}"
        if self.kind in _COMPARISONS:
            return f"{_COMPARISONS[self.kind]} {_show(a['value'])}"
        if self.kind == "isin":
            return f"one of {_show_values(a['values'])}"
        if self.kind == "notin":
            return f"none of {_show_values(a['values'])}"
        if self.kind == "str_matches":
            return f"matches {a['pattern']}"
        if self.kind == "str_contains":
            return f"contains {a['pattern']}"
        if self.kind == "str_startswith":
            return f"starts with {a['value']!r}"
        if self.kind == "str_endswith":
            return f"ends with {a['value']!r}"
        if self.kind == "str_length":
            if a.get("exact") is not None:
                return f"exactly {a['exact']} characters long"
            if a.get("min") is not None and a.get("max") is not None:
                return f"{a['min']} to {a['max']} characters long"
            if a.get("min") is not None:
                return f"at least {a['min']} characters long"
            return f"at most {a['max']} characters long"
        raise AssertionError(self.kind)  # pragma: no cover

    def failure(self) -> str:
        """What is wrong with a value that fails, e.g. ``outside 0 to 19``."""
        a = self.args
        if self.kind == "in_range":
            return f"outside {_show(a['min'])} to {_show(a['max'])}"
        if self.kind in _COMPARISONS:
            return f"not {_COMPARISONS[self.kind]} {_show(a['value'])}"
        if self.kind == "isin":
            return "not one of the allowed values"
        if self.kind == "notin":
            return "a value that is not allowed"
        if self.kind == "str_length":
            return "wrong length (" + self.describe().replace(" long", "") + ")"
        return "does not " + self.describe().replace("matches", "match").replace(
            "contains", "contain").replace("starts", "start").replace("ends", "end")

    def fix(self) -> str:
        """What the data owner can do at source."""
        a = self.args
        if self.kind == "isin":
            return f"use only the agreed values: {_show_values(a['values'], limit=30)}"
        if self.kind == "notin":
            return f"do not use {_show_values(a['values'], limit=30)}"
        if self.kind == "str_matches":
            return f"send values in the agreed format (regular expression {a['pattern']})"
        return f"check the values: each should be {self.describe()}"

    def to_yaml_value(self) -> Any:
        a = dict(self.args)
        if self.kind == "in_range":
            return {k: a[k] for k in ("min", "max", "include_min", "include_max")
                    if k in a and not (k.startswith("include") and a[k] is True)}
        if self.kind in _COMPARISONS or self.kind in {"str_startswith", "str_endswith"}:
            return a["value"]
        if self.kind in {"isin", "notin"}:
            return list(a["values"])
        if self.kind in {"str_matches", "str_contains"}:
            return a["pattern"]
        if self.kind == "str_length":
            if a.get("exact") is not None:
                return a["exact"]
            return {k: a[k] for k in ("min", "max") if a.get(k) is not None}
        raise AssertionError(self.kind)  # pragma: no cover


_COMPARISONS = {
    "ge": "at least",
    "gt": "more than",
    "le": "at most",
    "lt": "less than",
    "eq": "equal to",
    "ne": "not equal to",
}
CHECK_KINDS = ("in_range", "ge", "gt", "le", "lt", "eq", "ne", "isin", "notin", "str_matches",
               "str_contains", "str_startswith", "str_endswith", "str_length")
_CHECK_ALIASES = {
    "between": "in_range",
    "range": "in_range",
    "min": "ge",
    "max": "le",
    "greater_than_or_equal_to": "ge",
    "greater_than": "gt",
    "less_than_or_equal_to": "le",
    "less_than": "lt",
    "equal_to": "eq",
    "not_equal_to": "ne",
    "allowed": "isin",
    "one_of": "isin",
    "regex": "str_matches",
    "pattern": "str_matches",
}


def _anchored(pattern: str) -> str:
    """pandera's ``str_matches`` matches from the start of the value, like ``re.match``."""
    return pattern if pattern.startswith("^") else f"^{pattern}"


def _values(values: tuple, dtype: str) -> Any:
    """The allowed values as a one-element list literal (what ``is_in`` expects)."""
    import polars as pl

    target = pl.String if dtype == "categorical" else polars_dtype(dtype)
    return pl.lit(pl.Series(list(values), dtype=target).implode())


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


# --------------------------------------------------------------------------- columns, rules


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract."""

    name: str
    dtype: str
    nullable: bool = False
    unique: bool = False
    required: bool = True
    format: str | None = None
    checks: tuple[CheckSpec, ...] = ()
    description: str = ""
    units: str | None = None
    role: str | None = None
    personal: bool = False
    #: the column's name for a reader of the findings pack ("Re-referred within 12 months")
    label: str = ""
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def polars_dtype(self) -> Any:
        return polars_dtype(self.dtype)

    def check_ids(self) -> list[str]:
        """A stable id per check: ``age:in_range`` (``age:in_range#2`` for a second one)."""
        seen: dict[str, int] = {}
        ids = []
        for check in self.checks:
            seen[check.kind] = seen.get(check.kind, 0) + 1
            suffix = f"#{seen[check.kind]}" if seen[check.kind] > 1 else ""
            ids.append(f"{self.name}:{check.kind}{suffix}")
        return ids

    def describe_type(self) -> str:
        fmt = f" ({human_format(self.format)})" if self.format else ""
        words = {
            "string": "text",
            "boolean": "true or false",
            "date": "a date" + (fmt or " (YYYY-MM-DD)"),
            "datetime": "a date and time" + fmt,
            "time": "a time of day" + (fmt or " (hh:mm:ss)"),
            "categorical": "text (a category)",
        }
        if self.dtype in INTEGER:
            return f"a whole number ({self.dtype})"
        if self.dtype in FLOAT:
            return f"a number ({self.dtype})"
        return words[self.dtype]


@dataclass(frozen=True)
class RuleSpec:
    """A cross-column rule: a Polars SQL expression that must be true for every row.

    A rule whose answer is unknown (a value it uses is empty) passes, as a SQL ``CHECK``
    constraint does; write ``... AND x IS NOT NULL`` to require the value.
    """

    name: str
    check: str
    description: str = ""
    line: int | None = field(default=None, compare=False, repr=False)

    def expr(self) -> pl.Expr:
        import polars as pl

        return pl.sql_expr(self.check)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(self.expr().meta.root_names()))


# --------------------------------------------------------------------------- the contract


@dataclass(frozen=True)
class Contract:
    """A dataset's data contract. Build one with `load_contract` or `infer_schema`."""

    columns: dict[str, ColumnSpec]
    dataset: str | None = None
    description: str = ""
    strict: bool = True
    null_values: tuple[str, ...] = ("",)
    rows_min: int | None = None
    rows_max: int | None = None
    unique: tuple[tuple[str, ...], ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    path: Path | None = field(default=None, compare=False)
    sha256: str | None = field(default=None, compare=False)
    observed: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def roles(self) -> dict[str, str]:
        """Column name -> role, for the columns that have one."""
        return {name: c.role for name, c in self.columns.items() if c.role}

    @property
    def personal(self) -> frozenset[str]:
        """The columns flagged as personal data."""
        return frozenset(name for name, c in self.columns.items() if c.personal)

    def masked(self) -> frozenset[str]:
        """Columns whose values are never shown in a report: personal data, identifiers, text."""
        return frozenset(
            name for name, c in self.columns.items()
            if c.personal or c.role in {"identifier", "text"}
        )

    def columns_with_role(self, role: str) -> list[str]:
        return [name for name, r in self.roles.items() if r == role]

    # pandera -----------------------------------------------------------------------------
    def to_pandera(self) -> pa.DataFrameSchema:
        """The same contract as a ``pandera.polars.DataFrameSchema``.

        Column checks become pandera's built-in checks; ``nullable``, ``unique`` and
        ``required`` map one to one (a unique column that may be empty becomes a check that
        ignores empty values, since pandera counts repeated nulls as duplicates); compound keys
        become the schema's ``unique``; the row-count bounds and cross-column rules become
        dataframe-wide checks built from the same Polars expressions `validate` uses.
        Description, units, role and the personal flag go into each column's ``metadata``.
        """
        import pandera.polars as pa
        import polars as pl

        columns = {}
        for name, col in self.columns.items():
            checks = [check.to_pandera() for check in col.checks]
            unique = col.unique
            if col.unique and col.nullable:
                unique = False
                checks.append(
                    pa.Check(
                        lambda data: data.lazyframe.select(
                            pl.col(data.key).is_duplicated().not_() | pl.col(data.key).is_null()
                        ),
                        name="unique_when_present",
                        error="unique (empty values ignored)",
                    )
                )
            columns[name] = pa.Column(
                col.polars_dtype,
                checks=checks,
                nullable=col.nullable,
                unique=unique,
                required=col.required,
                description=col.description or None,
                metadata={"units": col.units, "role": col.role, "personal": col.personal},
            )
        frame_checks = []
        if self.rows_min is not None or self.rows_max is not None:
            low, high = self.rows_min or 0, self.rows_max
            count = pl.len()
            ok = count.ge(low) if high is None else count.is_between(low, high)
            frame_checks.append(
                pa.Check(lambda data, ok=ok: data.lazyframe.select(ok), name="row_count",
                         error=f"row count {rows_words(self.rows_min, self.rows_max)}")
            )
        for rule in self.rules:
            frame_checks.append(
                pa.Check(
                    lambda data, e=rule.expr(): data.lazyframe.select(e.fill_null(True)),
                    name=rule.name,
                    error=f"rule {rule.name!r}: {rule.check}",
                )
            )
        # pandera's own compound-key check counts repeated empty values as duplicates and stops
        # at the first failing key; keys it would judge differently become explicit checks
        native = len(self.unique) == 1 and not any(self.columns[c].nullable for c in self.unique[0])
        unique = [list(self.unique[0])] if native else None
        for key in () if native else self.unique:
            cols = [pl.col(c) for c in key]
            repeated = pl.struct(cols).is_duplicated() & pl.all_horizontal([c.is_not_null() for c in cols])
            frame_checks.append(
                pa.Check(lambda data, r=repeated: data.lazyframe.select(r.not_()),
                         name=f"unique {'+'.join(key)}", error=f"({', '.join(key)}) unique together")
            )
        return pa.DataFrameSchema(
            columns,
            checks=frame_checks,
            unique=unique,
            strict=self.strict,
            name=self.dataset,
            description=self.description or None,
            metadata={"contract": str(self.path) if self.path else None},
        )

    # YAML ----------------------------------------------------------------------------------
    def to_document(self) -> Any:
        """The contract as a round-trip YAML document (comments for observations included)."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        def flow(items: list[Any]) -> CommentedSeq:
            """On one line when short (``[a, b]``), else one item per line."""
            seq = CommentedSeq(items)
            if len(", ".join(_show(i) for i in items)) <= 72:
                seq.fa.set_flow_style()
            return seq

        doc = CommentedMap()
        doc["version"] = FORMAT_VERSION
        if self.dataset:
            doc["dataset"] = self.dataset
        doc["description"] = self.description
        doc["strict"] = self.strict
        doc["null_values"] = flow(list(self.null_values))
        if self.rows_min is not None or self.rows_max is not None:
            rows = CommentedMap()
            if self.rows_min is not None:
                rows["min"] = self.rows_min
            if self.rows_max is not None:
                rows["max"] = self.rows_max
            rows.fa.set_flow_style()
            doc["rows"] = rows
        doc["unique"] = CommentedSeq([flow(list(key)) for key in self.unique])
        rules = CommentedSeq()
        for rule in self.rules:
            entry = CommentedMap(name=rule.name, check=rule.check)
            if rule.description:
                entry["description"] = rule.description
            rules.append(entry)
        doc["rules"] = rules
        columns = CommentedMap()
        for name, col in self.columns.items():
            entry = CommentedMap()
            entry["dtype"] = col.dtype
            if col.format:
                entry["format"] = col.format
            entry["nullable"] = col.nullable
            entry["unique"] = col.unique
            if not col.required:
                entry["required"] = False
            entry["role"] = col.role
            entry["personal"] = col.personal
            entry["description"] = col.description
            if col.label:
                entry["label"] = col.label
            if col.units:
                entry["units"] = col.units
            items = []
            for check in col.checks:
                value = check.to_yaml_value()
                if isinstance(value, list):
                    value = flow(value)
                elif isinstance(value, dict):
                    value = CommentedMap(value)
                    value.fa.set_flow_style()
                items.append((check.kind, value))
            kinds = [kind for kind, _ in items]
            if len(set(kinds)) == len(kinds):
                entry["checks"] = CommentedMap(items)
            else:  # two checks of one kind: a list of one-key mappings
                entry["checks"] = CommentedSeq(CommentedMap([item]) for item in items)
            columns[name] = entry
            notes = self.observed.get("columns", {}).get(name)
            if notes:
                columns.yaml_set_comment_before_after_key(
                    name, before="\n".join(notes), indent=2
                )
        doc["columns"] = columns
        for key, notes in self.observed.get("top", {}).items():
            if key in doc and notes:
                doc.yaml_set_comment_before_after_key(key, before="\n".join(notes), indent=0)
        return doc

    def to_yaml(self) -> str:
        """The contract as YAML text (with the observation comments of an inferred draft)."""
        header = list(self.observed.get("header", []))
        body = _dump(self.to_document())
        text = "".join(f"# {line}\n" if line else "#\n" for line in header) + body
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (for ``--json``)."""
        return {
            "dataset": self.dataset,
            "description": self.description,
            "strict": self.strict,
            "null_values": list(self.null_values),
            "rows": {"min": self.rows_min, "max": self.rows_max},
            "unique": [list(k) for k in self.unique],
            "rules": [{"name": r.name, "check": r.check, "description": r.description}
                      for r in self.rules],
            "columns": {
                name: {
                    "dtype": c.dtype,
                    "format": c.format,
                    "nullable": c.nullable,
                    "unique": c.unique,
                    "required": c.required,
                    "role": c.role,
                    "personal": c.personal,
                    "description": c.description,
                    "units": c.units,
                    "checks": {k.kind: _jsonable(k.to_yaml_value()) for k in c.checks},
                }
                for name, c in self.columns.items()
            },
            "path": str(self.path) if self.path else None,
            "sha256": self.sha256,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def human_format(fmt: str) -> str:
    """``%d/%m/%Y`` -> ``DD/MM/YYYY``: a strftime format as people write it."""
    for code, words in (("%Y", "YYYY"), ("%m", "MM"), ("%d", "DD"), ("%H", "hh"), ("%M", "mm"),
                        ("%S", "ss"), ("%.f", ".ffffff"), ("%y", "YY"), ("%b", "Mon"),
                        ("%B", "Month"), ("%z", "±hh:mm")):
        fmt = fmt.replace(code, words)
    return fmt


def rows_words(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"between {low:,} and {high:,}"
    if low is not None:
        return f"at least {low:,}"
    return f"at most {high:,}"


def polars_dtype(name: str) -> Any:
    import polars as pl

    if name == "datetime":
        return pl.Datetime("us")
    return getattr(pl, DTYPES[name])


def _dump(document: Any) -> str:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.width = 4096  # never fold a long value (a regular expression) across lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


# --------------------------------------------------------------------------- loading


class _Reader:
    """Walks a round-trip YAML document, raising ConfigError with the line of each mistake."""

    def __init__(self, path: Path, document: Any) -> None:
        self.path = path
        self.document = document

    def fail(self, what: str, fix: str, node: Any = None, key: Any = None, field: str | None = None):
        line = None
        if node is not None:
            lc = getattr(node, "lc", None)
            try:
                if lc is not None and key is not None:
                    line = (lc.key(key) if isinstance(node, dict) else lc.item(key))[0] + 1
                elif lc is not None:
                    line = lc.line + 1
            except (KeyError, TypeError, IndexError, AttributeError):
                line = None
        raise ConfigError(what, fix, path=self.path, line=line, field=field)

    def line_of(self, node: Any, key: Any) -> int | None:
        lc = getattr(node, "lc", None)
        try:
            return (lc.key(key) if isinstance(node, dict) else lc.item(key))[0] + 1
        except (KeyError, TypeError, IndexError, AttributeError):
            return None


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_yaml(path: Path) -> Any:
    """Parse a YAML file round-trip; a syntax error is a ConfigError with its line and column."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "the data contract does not exist",
            "draft one with `expedition schema infer NAME`, or fix the 'schema:' path of the "
            "dataset in expedition.yaml",
            path=path,
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the file is not UTF-8 text ({exc.reason})", "save it as UTF-8",
                          path=path) from None
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(
            f"this is not valid YAML: {exc.problem or exc.context or 'syntax error'}{where}",
            "check indentation and quoting near that line (regular expressions and values "
            "containing ': ' or '#' need quotes)",
            path=path,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"this is not valid YAML: {exc}", "fix the YAML syntax", path=path) from None


def load_contract(path: str | Path) -> Contract:
    """Read and check a contract file; every mistake is a ConfigError with file, line and column."""
    path = Path(path)
    document = read_yaml(path)
    contract = contract_from_document(document, path)
    return replace(contract, path=path, sha256=sha256_file(path))


def contract_from_document(document: Any, path: Path) -> Contract:
    r = _Reader(path, document)
    if not isinstance(document, dict):
        r.fail("a contract must be a mapping with 'columns:' (and optionally 'rules:', 'unique:', "
               "'rows:')", "see the README section 'Data contracts' for the layout", document)
    for key in document:
        if key not in TOP_KEYS:
            r.fail(f"unknown key {key!r}{_suggest(key, TOP_KEYS)}",
                   f"the keys of a contract are: {', '.join(TOP_KEYS)}", document, key, str(key))
    version = document.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        r.fail(f"contract format version {version!r} is not supported (this version of "
               f"expedition reads version {FORMAT_VERSION})", "set 'version: 1'", document,
               "version", "version")
    columns_doc = document.get("columns")
    if not isinstance(columns_doc, dict) or not columns_doc:
        r.fail("the contract declares no columns", "list each column under 'columns:' with at "
               "least its dtype", document, "columns" if "columns" in document else None, "columns")
    columns: dict[str, ColumnSpec] = {}
    for name, spec in columns_doc.items():
        if str(name) in RESERVED or str(name).startswith("__"):
            r.fail(f"column name {name!r} is reserved for the quarantine file",
                   "rename the column (names starting with '__' are reserved too)", columns_doc,
                   name, f"columns.{name}")
        columns[str(name)] = _read_column(r, columns_doc, str(name), spec)

    description = document.get("description") or ""
    strict = document.get("strict", True)
    if not isinstance(strict, bool):
        r.fail("'strict' must be true or false", "write strict: true (extra columns fail) or "
               "strict: false (extra columns pass through)", document, "strict", "strict")
    nulls = document.get("null_values", [""])
    if nulls is None:
        nulls = []
    if not isinstance(nulls, list) or not all(isinstance(v, (str, int, float)) for v in nulls):
        r.fail("'null_values' must be a list of the spellings that mean 'empty'",
               "e.g. null_values: ['', NA, N/A]", document, "null_values", "null_values")
    null_values = tuple(str(v) for v in nulls)

    rows_min = rows_max = None
    if document.get("rows") is not None:
        rows = document["rows"]
        if not isinstance(rows, dict) or set(rows) - {"min", "max"}:
            r.fail("'rows' must be a mapping with 'min' and/or 'max'", "e.g. rows: {min: 100}",
                   document, "rows", "rows")
        for bound in ("min", "max"):
            value = rows.get(bound)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                r.fail(f"rows.{bound} must be a whole number of rows", "e.g. rows: {min: 100}",
                       rows, bound, f"rows.{bound}")
        rows_min, rows_max = rows.get("min"), rows.get("max")
        if rows_min is not None and rows_max is not None and rows_max < rows_min:
            r.fail("rows.max is below rows.min", "swap them", document, "rows", "rows")

    unique: list[tuple[str, ...]] = []
    unique_doc = document.get("unique") or []
    if not isinstance(unique_doc, list):
        r.fail("'unique' must be a list of keys, each a list of columns",
               "e.g. unique: [[referral_id], [district, month]]", document, "unique", "unique")
    for i, key in enumerate(unique_doc):
        key = [key] if isinstance(key, str) else key
        if not isinstance(key, list) or not key:
            r.fail("each entry of 'unique' must be a list of column names",
                   "e.g. unique: [[district, month]]", unique_doc, i, f"unique[{i}]")
        for column in key:
            if str(column) not in columns:
                r.fail(f"unique key names column {column!r}, which is not declared"
                       f"{_suggest(column, columns)}",
                       "declare it under 'columns:' or fix the name", unique_doc, i, f"unique[{i}]")
        unique.append(tuple(str(c) for c in key))

    rules: list[RuleSpec] = []
    rules_doc = document.get("rules") or []
    if not isinstance(rules_doc, list):
        r.fail("'rules' must be a list", "e.g. rules: [{name: closed after referral, check: "
               "closure_date >= referral_date}]", document, "rules", "rules")
    names: set[str] = set()
    for i, entry in enumerate(rules_doc):
        rules.append(_read_rule(r, rules_doc, i, entry, columns, names))

    return Contract(
        columns=columns,
        dataset=str(document["dataset"]) if document.get("dataset") else None,
        description=str(description),
        strict=strict,
        null_values=null_values,
        rows_min=rows_min,
        rows_max=rows_max,
        unique=tuple(unique),
        rules=tuple(rules),
    )


def _read_column(r: _Reader, parent: Any, name: str, spec: Any) -> ColumnSpec:
    where = f"columns.{name}"
    line = r.line_of(parent, name)
    if isinstance(spec, str):  # shorthand:  age: int64
        spec = {"dtype": spec}
    if not isinstance(spec, dict):
        r.fail(f"column '{name}': expected a mapping with at least 'dtype'",
               "e.g.  age: {dtype: int64, nullable: false}", parent, name, where)
    for key in spec:
        if key not in COLUMN_KEYS:
            r.fail(f"column '{name}': unknown key {key!r}{_suggest(key, COLUMN_KEYS)}",
                   f"the keys of a column are: {', '.join(COLUMN_KEYS)}", spec, key,
                   f"{where}.{key}")
    if "dtype" not in spec:
        r.fail(f"column '{name}' has no dtype", f"add 'dtype:' — one of {', '.join(DTYPES)}",
               parent, name, where)
    raw = str(spec["dtype"]).strip().lower()
    dtype = DTYPE_ALIASES.get(raw, raw)
    if dtype not in DTYPES:
        r.fail(f"column '{name}': unknown dtype {spec['dtype']!r}"
               f"{_suggest(raw, [*DTYPES, *DTYPE_ALIASES])}",
               f"use one of {', '.join(DTYPES)} (the types pandera's Polars engine checks)",
               spec, "dtype", f"{where}.dtype")
    flags = {}
    for key, default in (("nullable", False), ("unique", False), ("required", True),
                         ("personal", False)):
        value = spec.get(key, default)
        if value is None:
            value = default
        if not isinstance(value, bool):
            r.fail(f"column '{name}': '{key}' must be true or false (got {value!r})",
                   f"write {key}: true or {key}: false", spec, key, f"{where}.{key}")
        flags[key] = value
    role = spec.get("role")
    if role is not None:
        role = str(role).strip().lower()
        if role not in ROLES:
            r.fail(f"column '{name}': unknown role {spec['role']!r}{_suggest(role, ROLES)}",
                   f"use one of {', '.join(ROLES)}, or leave it empty", spec, "role",
                   f"{where}.role")
    fmt = spec.get("format")
    if fmt is not None:
        if dtype not in TEMPORAL:
            r.fail(f"column '{name}': 'format' applies only to date, datetime and time columns",
                   "remove it, or change the dtype", spec, "format", f"{where}.format")
        fmt = str(fmt)
        if "%" not in fmt:
            r.fail(f"column '{name}': format {fmt!r} has no % codes",
                   "write it like %Y-%m-%d or %d/%m/%Y (strftime codes)", spec, "format",
                   f"{where}.format")
    checks = _read_checks(r, spec, name, dtype, fmt)
    units = spec.get("units")
    return ColumnSpec(
        name=name,
        dtype=dtype,
        nullable=flags["nullable"],
        unique=flags["unique"],
        required=flags["required"],
        format=fmt,
        checks=checks,
        description=str(spec.get("description") or ""),
        units=str(units) if units not in (None, "") else None,
        role=role,
        personal=flags["personal"],
        label=" ".join(str(spec.get("label") or "").split()),
        line=line,
    )


def _read_checks(r: _Reader, spec: Any, name: str, dtype: str, fmt: str | None) -> tuple[CheckSpec, ...]:
    doc = spec.get("checks")
    if doc is None:
        return ()
    where = f"columns.{name}.checks"
    items: list[tuple[Any, Any, Any, Any]] = []  # (kind, value, node, key) for line numbers
    if isinstance(doc, dict):
        items = [(k, v, doc, k) for k, v in doc.items()]
    elif isinstance(doc, list):
        for i, entry in enumerate(doc):
            if not isinstance(entry, dict) or len(entry) != 1:
                r.fail(f"column '{name}': each item of 'checks' must be one 'kind: value'",
                       "e.g. checks: [{str_contains: abc}, {str_contains: xyz}]", doc, i,
                       f"{where}[{i}]")
            (k, v), = entry.items()
            items.append((k, v, doc, i))
    else:
        r.fail(f"column '{name}': 'checks' must be a mapping of check: value",
               "e.g. checks: {in_range: {min: 0, max: 120}}", spec, "checks", where)
    out = []
    for kind, value, node, key in items:
        kind_name = str(kind)
        kind = _CHECK_ALIASES.get(kind_name, kind_name)
        field_name = f"{where}.{kind_name}"
        if kind not in CHECK_KINDS:
            r.fail(f"column '{name}': unknown check {kind_name!r}"
                   f"{_suggest(kind_name, [*CHECK_KINDS, *_CHECK_ALIASES])}",
                   f"the checks are: {', '.join(CHECK_KINDS)}", node, key, field_name)
        try:
            args = _check_args(kind, value, dtype, fmt)
        except _BadCheck as exc:
            r.fail(f"column '{name}': check {kind_name}: {exc}", exc.fix, node, key, field_name)
        out.append(CheckSpec(kind, args, r.line_of(node, key)))
    return tuple(out)


class _BadCheck(ValueError):
    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.fix = fix


def _check_args(kind: str, value: Any, dtype: str, fmt: str | None) -> dict[str, Any]:
    if kind in {"in_range", "ge", "gt", "le", "lt"} and dtype not in ORDERED:
        raise _BadCheck(f"a range check does not apply to a {dtype} column",
                        "use isin for allowed values or str_length for lengths")
    if kind.startswith("str_") and dtype not in TEXTUAL:
        raise _BadCheck(f"a text check does not apply to a {dtype} column",
                        "use a range check (in_range, ge, le) or isin")
    if kind == "in_range":
        if isinstance(value, list) and len(value) == 2:
            value = {"min": value[0], "max": value[1]}
        if not isinstance(value, dict) or set(value) - {"min", "max", "include_min", "include_max"} \
                or "min" not in value or "max" not in value:
            raise _BadCheck("expected {min: ..., max: ...}",
                            "e.g. in_range: {min: 0, max: 120} (add include_max: false to "
                            "exclude the end)")
        args = {"min": _value(value["min"], dtype, fmt), "max": _value(value["max"], dtype, fmt)}
        for flag in ("include_min", "include_max"):
            if flag in value:
                if not isinstance(value[flag], bool):
                    raise _BadCheck(f"{flag} must be true or false", f"{flag}: false")
                args[flag] = value[flag]
        if args["max"] < args["min"]:
            raise _BadCheck("max is below min", "swap them")
        return args
    if kind in _COMPARISONS:
        if isinstance(value, (list, dict)):
            raise _BadCheck("expected a single value", f"e.g. {kind}: 0")
        return {"value": _value(value, dtype, fmt)}
    if kind in {"isin", "notin"}:
        if not isinstance(value, list) or not value:
            raise _BadCheck("expected a non-empty list of values", f"e.g. {kind}: [a, b, c]")
        return {"values": tuple(_value(v, dtype, fmt) for v in value)}
    if kind in {"str_matches", "str_contains"}:
        if not isinstance(value, str) or not value:
            raise _BadCheck("expected a regular expression", "quote it: str_matches: '^R\\d{7}$'")
        _check_regex(value if kind == "str_contains" else _anchored(value))
        return {"pattern": value}
    if kind in {"str_startswith", "str_endswith"}:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise _BadCheck("expected text", f"e.g. {kind}: ABC")
        return {"value": str(value)}
    if kind == "str_length":
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise _BadCheck("a length cannot be negative", "e.g. str_length: 7")
            return {"exact": value}
        if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
            raise _BadCheck("expected a length or {min: ..., max: ...}",
                            "e.g. str_length: {min: 1, max: 200}")
        for k, v in value.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise _BadCheck(f"{k} must be a whole number of characters", "e.g. {max: 200}")
        if value.get("min") is not None and value.get("max") is not None and value["max"] < value["min"]:
            raise _BadCheck("max is below min", "swap them")
        return {"min": value.get("min"), "max": value.get("max")}
    raise AssertionError(kind)  # pragma: no cover


def _check_regex(pattern: str) -> None:
    """Compile with Polars' own regex engine, so the contract fails on load, not on validation."""
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception as exc:
        detail = str(exc).strip().splitlines()
        message = next((line for line in detail if "error" in line.lower()), detail[0] if detail else "")
        raise _BadCheck(f"{pattern!r} is not a valid regular expression ({message.strip()})",
                        "fix the expression (look-around and back-references are not "
                        "supported) and quote it in single quotes") from None


def _value(value: Any, dtype: str, fmt: str | None) -> Any:
    """A value from YAML as the column's type, or _BadCheck."""
    if dtype in INTEGER or dtype in FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _BadCheck(f"{value!r} is not a number", "write numbers without quotes")
        return value
    if dtype == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise _BadCheck(f"{value!r} is not a date", "write dates as YYYY-MM-DD, e.g. 2021-01-01")
    if dtype == "datetime":
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.strip())
            except ValueError:
                pass
        raise _BadCheck(f"{value!r} is not a date and time",
                        "write them as YYYY-MM-DD HH:MM:SS")
    if dtype == "time":
        if isinstance(value, time):
            return value
        if isinstance(value, str):
            try:
                return time.fromisoformat(value.strip())
            except ValueError:
                pass
        if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 sexagesimal
            return time(value // 3600, value // 60 % 60, value % 60)
        raise _BadCheck(f"{value!r} is not a time of day", "write times as 'HH:MM:SS' in quotes")
    if dtype == "boolean":
        if not isinstance(value, bool):
            raise _BadCheck(f"{value!r} is not true or false", "write true or false")
        return value
    if isinstance(value, (dict, list)) or value is None:
        raise _BadCheck(f"{value!r} is not a text value", "write plain text values")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return str(value)


_SAMPLE: dict[str, Any] = {
    **{name: 1 for name in NUMERIC}, "string": "a", "categorical": "a", "boolean": True,
    "date": date(2000, 1, 1), "datetime": datetime(2000, 1, 1), "time": time(12, 0),
}


def _read_rule(r: _Reader, parent: list, i: int, entry: Any, columns: dict[str, ColumnSpec],
               names: set[str]) -> RuleSpec:
    import polars as pl

    where = f"rules[{i}]"
    if isinstance(entry, str):
        entry = {"name": entry, "check": entry}
    if not isinstance(entry, dict) or "check" not in entry:
        r.fail("each rule needs 'check:' (a Polars SQL expression) and a 'name:'",
               "e.g. - {name: closed after referral, check: closure_date >= referral_date}",
               parent, i, where)
    for key in entry:
        if key not in ("name", "check", "description"):
            r.fail(f"rule: unknown key {key!r}", "a rule has name, check and description",
                   entry, key, f"{where}.{key}")
    text = str(entry["check"]).strip()
    name = str(entry.get("name") or text)
    if name in names:
        r.fail(f"two rules are named {name!r}", "give each rule its own name", parent, i,
               f"{where}.name")
    names.add(name)
    try:
        expr = pl.sql_expr(text)
    except Exception as exc:
        r.fail(f"rule {name!r}: {text!r} is not an expression Polars SQL understands "
               f"({str(exc).strip().splitlines()[0]})",
               "write it like SQL: closure_date >= referral_date AND age < 18", entry, "check",
               f"{where}.check")
    referenced = list(dict.fromkeys(expr.meta.root_names()))
    for column in referenced:
        if column not in columns:
            r.fail(f"rule {name!r} uses column {column!r}, which is not declared"
                   f"{_suggest(column, columns)}", "declare it under 'columns:' or fix the name",
                   entry, "check", f"{where}.check")
    # evaluate on two rows of the declared types: catches type clashes and aggregates
    probe = pl.DataFrame({c: pl.Series([_SAMPLE[columns[c].dtype]] * 2).cast(columns[c].polars_dtype)
                          for c in referenced} or {"_": [None, None]})
    try:
        result = probe.select(expr.alias("ok"))
    except Exception as exc:
        r.fail(f"rule {name!r} cannot be evaluated on the declared column types "
               f"({str(exc).strip().splitlines()[0]})",
               "compare columns of compatible types (dates with dates, numbers with numbers)",
               entry, "check", f"{where}.check")
    if result.height != 2 or result.schema["ok"] != pl.Boolean:
        r.fail(f"rule {name!r} must give true or false for each row",
               "use a comparison of values in the same row, not an aggregate such as sum()",
               entry, "check", f"{where}.check")
    return RuleSpec(name=name, check=text, description=str(entry.get("description") or ""),
                    line=r.line_of(parent, i))


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


# --------------------------------------------------------------------------- inference

#: Share of non-empty values that must parse as a type for a column to get that type.
PARSE_SHARE = 0.99
MAX_ALLOWED_VALUES = 20
RULE_SHARE = 0.99
#: Distinct values of a text column checked against the personal-data patterns.
PATTERN_VALUES = 2_000

#: Kinds of personal data a whole value can be (the patterns are `expedition.pii`'s), in the
#: order they are tried, with how a contract's comment names them.
PERSONAL_FORMATS = {
    "postcode": "UK postcodes",
    "nhs_number": "NHS numbers (10 digits)",
    "ni_number": "National Insurance numbers",
    "email": "e-mail addresses",
    "phone": "UK phone numbers",
}

_normal = name_key


def value_pattern(kind: str) -> str:
    """The regular expression a contract checks a column of *kind* with, made from the pattern
    `expedition.pii` finds that kind with: anchored to the whole value, and without the
    look-around guards that keep a match from starting or ending inside a longer word. Around a
    whole value there is nothing for them to guard against, and Polars' regex engine (which
    runs the contract) has no look-around. One guard has no equivalent: the National Insurance
    prefixes that are never issued (BG, GB, KN, NK, NT, TN, ZZ) are not refused by the contract.
    """
    pattern = next(p.regex for p in pii.PATTERNS if p.name == kind)
    source = re.sub(r"\(\?<?[!=][^()]*\)", "", pattern.pattern)
    flags = "(?i)" if pattern.flags & re.IGNORECASE else ""
    return f"{flags}^(?:{source})$"


def infer_schema(
    data: pl.DataFrame | pl.LazyFrame | str | Path | OpenedDataset,
    *,
    dataset: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> Contract:
    """Draft a contract from a delivery (a file, a file opened by the reader, or a Polars frame).

    A file is read as every other stage reads it (`expedition.reading`), with the values of
    delimited text as text. Infinite values and NaN in number columns are set aside from the
    ranges (and said so); values of several types in JSON lines are read as text; lists and
    objects are checked as their JSON text.

    Types come from what at least 99% of non-empty values parse as (so a few bad values do not
    turn a column of numbers into text; they will fail validation instead); ranges are the
    observed ones widened by a tenth of the span to round numbers; allowed values are listed
    for text columns with at most 20 distinct values; recognised formats (UK postcodes, NHS and
    National Insurance numbers, e-mail addresses, phone numbers, ONS area codes, and the shape
    of identifiers such as ``R0000123``) become regular expressions; roles and personal-data
    flags are guessed from names and values. ``contract.observed`` holds what was seen, and
    ``contract.to_yaml()`` writes it as comments for the person who reviews the draft.
    """
    import polars as pl

    from expedition.reading import (
        OpenedDataset,
        data_error,
        nested_as_text,
        open_recovering,
        read_failure,
    )

    where = Path(source["file"]) if source else Path("the delivery")
    if isinstance(data, (str, Path)):
        where = Path(data)
        data = open_recovering(data, text=True)
    opened = data if isinstance(data, OpenedDataset) else None
    for _ in range(3):
        if opened is not None:
            data = opened.frame
        if not isinstance(data, pl.LazyFrame):
            break
        try:
            data = data.collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            if opened is None:
                raise data_error(exc, where) from None
            changed = read_failure(exc, opened.path, opened.options).apply(opened.options)
            if changed is None:
                raise data_error(exc, where) from None
            opened = open_recovering(opened.path, changed, text=True)
    frame = nested_as_text(data)
    n_rows = frame.height
    columns: dict[str, ColumnSpec] = {}
    notes: dict[str, list[str]] = {}
    null_values: list[str] = [""]
    typed: dict[str, pl.Series] = {}
    for name in frame.columns:
        spec, column_notes, series, tokens = _infer_column(frame.get_column(name), n_rows)
        columns[name] = spec
        notes[name] = column_notes
        typed[name] = series
        null_values.extend(t for t in tokens if t not in null_values)

    _choose_target(columns, notes, typed)
    rules, rule_notes = _infer_rules(columns, typed)
    header = [
        f"Data contract for '{dataset or 'this dataset'}', drafted by `expedition schema infer`.",
    ]
    if source:
        header.append(
            f"Observed in {source.get('file', 'the delivery')} (sha256 {str(source.get('sha256', ''))[:12]}…, "
            f"{n_rows:,} rows)."
        )
    else:
        header.append(f"Observed in {n_rows:,} rows.")
    header += [
        "",
        "Review every column: the comments say what was observed, the settings say what must be",
        "true of every delivery. Set each column's role (identifier, protected, target, text,",
        "geo, date) and personal flag; later steps and the findings pack rely on them.",
        "Once you edit this file, `expedition schema infer` will not overwrite it without --force.",
    ]
    top_notes = {}
    if rule_notes:
        top_notes["rules"] = rule_notes
    top_notes["unique"] = ["Compound keys (columns that together identify a row) are not inferred;",
                           "add them here, e.g. - [district, month]"]
    top_notes["columns"] = ["dtype, nullable, unique, checks: what validation enforces.",
                            "role, personal, description, units: what the column is."]
    return Contract(
        columns=columns,
        dataset=dataset,
        description="",
        strict=True,
        null_values=tuple(null_values),
        rows_min=1,
        unique=(),
        rules=tuple(rules),
        observed={"header": header, "columns": notes, "top": top_notes, "rows": n_rows},
    )


def _fmt_count(n: int, total: int) -> str:
    share = n / total if total else 0
    return f"{n:,} ({share:.1%})" if n else "none"


def _infer_column(series: pl.Series, n_rows: int) -> tuple[ColumnSpec, list[str], pl.Series, list[str]]:
    import polars as pl

    name = series.name
    key = _normal(name)
    notes: list[str] = []
    tokens: list[str] = []
    fmt = None
    parsed = series
    if series.dtype == pl.String:
        stripped = series.str.strip_chars()
        present = stripped.filter(stripped.is_not_null() & (stripped != ""))
        dtype, fmt, parsed, failed, tokens = _infer_text_type(stripped, present)
        if failed.len():
            examples = ", ".join(repr(v) for v in failed.unique(maintain_order=True).head(3).to_list())
            notes.append(f"{failed.len():,} value(s) did not read as {dtype}, e.g. {examples}: "
                         "they will be quarantined")
        if tokens:
            notes.append(f"read as empty: {', '.join(repr(t) for t in tokens)}")
        if dtype == "string":
            parsed = series.replace("", None)
    else:
        dtype = _contract_dtype(series.dtype)
        if dtype is None:
            dtype = "string"
            parsed = series.cast(pl.String, strict=False)
            notes.append(f"type {series.dtype} is not supported by contracts; read as text")
        else:
            parsed = series.cast(polars_dtype(dtype), strict=False)
    nonnull = parsed.drop_nulls()
    infinite = 0
    if dtype in FLOAT:
        nonnull = nonnull.filter(nonnull.is_not_nan())
        infinite = int(nonnull.is_infinite().sum())
        if infinite:
            values = ", ".join(sorted({str(v) for v in nonnull.filter(nonnull.is_infinite()).head(100).to_list()}))
            notes.append(f"{infinite:,} value(s) are infinite ({values}): the range below leaves them out, "
                         "so they will be quarantined; remove the range if they are valid")
    n = nonnull.len()
    nulls = n_rows - n
    distinct = nonnull.n_unique() if n else 0
    notes.insert(0, f"observed: {dtype}; {n:,} values, empty {_fmt_count(nulls, n_rows)}, "
                    f"{distinct:,} distinct")

    checks: list[CheckSpec] = []
    role = None
    personal = pii.column_hint(name) is not None
    unique = False
    id_like = bool(IDENTIFIER_NAME.search(key))
    if dtype in TEMPORAL:
        role = "date"
    if n:
        finite = nonnull.filter(nonnull.is_finite()) if dtype in FLOAT else nonnull
        if dtype in NUMERIC and finite.len():
            low, high = finite.min(), finite.max()
            notes.append(f"min {_show(_round_sig(low))}, max {_show(_round_sig(high))}, "
                         f"mean {_show(_round_sig(finite.mean()))}")
            lo, hi = _widen(low, high, integer=dtype in INTEGER)
            if GEO_NAME.search(key) and "lat" in key:
                lo, hi = max(lo, -90), min(hi, 90)
            if GEO_NAME.search(key) and ("lon" in key or "lng" in key):
                lo, hi = max(lo, -180), min(hi, 180)
            checks.append(CheckSpec("in_range", {"min": lo, "max": hi}))
            if lo != low or hi != high:
                notes.append(f"range widened to {_show(lo)} – {_show(hi)}; narrow it if you know better")
            if GEO_NAME.search(key):
                role = "geo"
        elif dtype in {"date", "datetime"}:
            low, high = nonnull.min(), nonnull.max()
            notes.append(f"earliest {_show(low)}, latest {_show(high)}")
            lo = date(low.year, 1, 1)
            hi = date(high.year + 1, 12, 31)
            if dtype == "datetime":
                lo, hi = datetime(lo.year, 1, 1), datetime(hi.year, 12, 31, 23, 59, 59)
            checks.append(CheckSpec("in_range", {"min": lo, "max": hi}))
            notes.append(f"allowed from the start of {lo.year} to the end of {hi.year}: "
                         "later deliveries will have later dates")
        elif dtype in TEXTUAL:
            checks, role, personal, extra = _infer_text_checks(key, nonnull, distinct, n,
                                                               personal, id_like)
            notes.extend(extra)
        elif dtype == "boolean":
            counts = nonnull.rename("value").value_counts(sort=True)
            notes.append("values: " + ", ".join(f"{v} ×{c:,}" for v, c in counts.iter_rows()))
    if n and dtype not in FLOAT and dtype != "boolean":
        ratio = distinct / n
        if (id_like or role == "identifier") and ratio >= 0.95 and n >= 2:
            role = "identifier" if role in (None, "identifier") else role
            unique = True
            repeated = n - distinct
            if repeated:
                notes.append(f"{repeated:,} value(s) repeat; unique is set because the name and "
                             "values look like an identifier")
    if PROTECTED_NAME.search(key) and role in (None,) and (dtype in TEXTUAL or dtype == "boolean"
                                                             or distinct <= 20):
        role = "protected"
        notes.append("looks like a protected characteristic (Equality Act 2010): fairness checks "
                     "use it")
    if key in {"age", "age_years"} and role is None:
        notes.append("age is a protected characteristic (Equality Act 2010); set role: protected "
                     "for fairness checks to cover it")
    if GEO_NAME.search(key) and role is None and dtype in TEXTUAL | NUMERIC:
        role = "geo"
    if personal:
        notes.append("personal data: its values never appear in reports")
    spec = ColumnSpec(
        name=name,
        dtype=dtype,
        nullable=nulls > 0,
        unique=unique,
        format=fmt,
        checks=tuple(checks),
        role=role,
        personal=personal,
        label=draft_label(name),
    )
    return spec, [f"{line}" for line in notes], parsed, tokens


def draft_label(column: str) -> str:
    """A first label for a column, from its name, for a person to improve: ``rereferred_12m``
    -> "Rereferred 12m", ``OfficerDefinedEthnicity`` -> "Officer Defined Ethnicity"."""
    import re

    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column).replace("_", " ").split()
    text = " ".join(words)
    return (text[:1].upper() + text[1:]) if text else column


def _contract_dtype(dtype: Any) -> str | None:
    import polars as pl

    if dtype == pl.String:
        return "string"
    if dtype == pl.Categorical or dtype == pl.Enum:
        return "categorical"
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return "datetime"
    for name, attr in DTYPES.items():
        if name in {"datetime", "string", "categorical"}:
            continue
        if dtype == getattr(pl, attr):
            return name
    if dtype == pl.Null:
        return "string"
    return None


def _infer_text_type(stripped: pl.Series, present: pl.Series):
    """(dtype, format, parsed series, values that failed, null tokens) for a text column."""
    import polars as pl

    n = present.len()
    if n == 0:
        return "string", None, stripped, present.head(0), []
    tokens_seen = [t for t in NULL_TOKENS if (present == t).any()]
    candidates = present.filter(~present.is_in(tokens_seen)) if tokens_seen else present
    m = candidates.len()
    if m == 0:
        return "string", None, stripped, present.head(0), []

    def share(parsed: pl.Series) -> float:
        return parsed.is_not_null().sum() / m

    lowered = candidates.str.to_lowercase()
    if lowered.is_in(["true", "false"]).sum() / m >= PARSE_SHARE:
        parsed = _parse(stripped, "boolean", None)
        return _result("boolean", None, parsed, candidates, lowered.is_in(["true", "false"]),
                       tokens_seen, stripped)
    leading_zero = candidates.str.contains(r"^0\d").any()
    ints = candidates.cast(pl.Int64, strict=False)
    if not leading_zero and share(ints) >= PARSE_SHARE:
        return _result("int64", None, _parse(stripped, "int64", None), candidates,
                       ints.is_not_null(), tokens_seen, stripped)
    floats = candidates.cast(pl.Float64, strict=False)
    if not leading_zero and share(floats) >= PARSE_SHARE:
        return _result("float64", None, _parse(stripped, "float64", None), candidates,
                       floats.is_not_null(), tokens_seen, stripped)
    best = None
    for fmt in DATE_FORMATS + MONTH_FORMATS:
        dates = candidates.str.to_date(fmt, strict=False)
        if share(dates) >= PARSE_SHARE and (best is None or share(dates) > best[0]):
            best = (share(dates), "date", fmt, dates)
    if best is None:
        for fmt in DATETIME_FORMATS:
            try:
                stamps = candidates.str.to_datetime(fmt, strict=False, time_unit="us")
            except Exception:
                continue
            if share(stamps) >= PARSE_SHARE and (best is None or share(stamps) > best[0]):
                best = (share(stamps), "datetime", fmt, stamps)
    if best is not None:
        _, dtype, fmt, values = best
        fmt_out = None if (dtype == "date" and fmt == DEFAULT_FORMATS["date"]) else fmt
        return _result(dtype, fmt_out, _parse(stripped, dtype, fmt), candidates,
                       values.is_not_null(), tokens_seen, stripped)
    return "string", None, stripped, present.head(0), []


def _result(dtype, fmt, parsed, candidates, ok, tokens, stripped):
    failed = candidates.filter(~ok)
    return dtype, fmt, parsed, failed, tokens


def _parse(series: pl.Series, dtype: str, fmt: str | None) -> pl.Series:
    """Parse a text series as *dtype* the way validation does (bad values become null)."""
    import polars as pl

    return pl.DataFrame({"v": series}).select(parse_expr(pl.col("v"), dtype, fmt)).to_series()


def _infer_text_checks(key, nonnull, distinct, n, personal, id_like):
    notes: list[str] = []
    checks: list[CheckSpec] = []
    role = None
    lengths = nonnull.str.len_chars()
    mean_length = float(lengths.mean())
    shortest, longest = lengths.min(), lengths.max()
    span = f"{shortest}" if shortest == longest else f"{shortest}–{longest}"
    notes.append(f"length {span} characters" + ("" if shortest == longest
                                                  else f", mean {mean_length:.0f}"))
    spaces = float(nonnull.str.contains(" ", literal=True).mean())
    kind = _personal_format(nonnull)
    if kind is not None:
        checks.append(CheckSpec("str_matches", {"pattern": value_pattern(kind)}))
        notes.append(f"values look like {PERSONAL_FORMATS[kind]}")
        return checks, role, True, notes
    if nonnull.str.contains(AREA_CODE).mean() >= PARSE_SHARE:
        checks.append(CheckSpec("str_matches", {"pattern": AREA_CODE}))
        notes.append("values look like ONS area codes (GSS)")
        role = "geo" if GEO_NAME.search(key) else role
        return checks, role, personal, notes
    if mean_length >= 30 and spaces >= 0.5 and distinct / n >= 0.5:
        role = "text"
        notes.append("free text: may hold personal details (names, phone numbers); they are "
                     "redacted before anything is published")
        return checks, role, personal, notes
    if distinct <= MAX_ALLOWED_VALUES and distinct < max(n / 2, 2) and not personal:
        counts = nonnull.rename("value").value_counts(sort=True)
        values = sorted(counts.get_column(counts.columns[0]).to_list())
        checks.append(CheckSpec("isin", {"values": tuple(values)}))
        top = ", ".join(f"{v} ×{c:,}" for v, c in counts.head(MAX_ALLOWED_VALUES).iter_rows())
        notes.append(f"counts: {top}")
        return checks, role, personal, notes
    shape = _shape_regex(nonnull)
    if shape is not None:
        checks.append(CheckSpec("str_matches", {"pattern": shape[0]}))
        notes.append(f"every value has the shape {shape[1]}")
        if distinct / n >= 0.95 and (id_like or nonnull.len() >= 20):
            role = "identifier"
    else:
        max_len = int(nonnull.str.len_chars().max())
        checks.append(CheckSpec("str_length", {"min": 1, "max": max(max_len, 1) * 2}))
        notes.append("length limited to twice the longest value seen")
    return checks, role, personal, notes


def _personal_format(values: pl.Series) -> str | None:
    """The kind of personal data (`PERSONAL_FORMATS`) at least 99% of the distinct values of a
    text column are, judged by `expedition.pii.value_kind` on up to 2,000 of them; else None."""
    if values.str.contains(r"[\d@]").mean() < PARSE_SHARE:  # every kind has a digit or an "@"
        return None
    checked = values.unique(maintain_order=True).head(PATTERN_VALUES).to_list()
    kinds = [pii.value_kind(v) for v in checked]
    for kind in PERSONAL_FORMATS:
        if sum(k == kind for k in kinds) >= PARSE_SHARE * len(kinds):
            return kind
    return None


def _shape_regex(values: pl.Series) -> tuple[str, str] | None:
    """A regex for values that all share one shape (``R0001234`` -> ``^R\\d{7}$``).

    Letters that are the same in every value are kept literally; digits become ``\\d``.
    """
    if values.str.contains(r"^[0-9a-f]+$").all():
        lengths = values.str.len_chars().unique()
        if lengths.len() == 1 and lengths[0] >= 8:
            return f"^[0-9a-f]{{{lengths[0]}}}$", f"{lengths[0]} hexadecimal digits"
    shapes = (
        values.str.replace_all(r"[A-Z]", "A")
        .str.replace_all(r"[a-z]", "a")
        .str.replace_all(r"[0-9]", "9")
        .unique()
    )
    if shapes.len() != 1:
        return None
    shape = shapes[0]
    if not shape or len(shape) > 60 or "9" not in shape:
        return None
    first = values[0]
    parts = []
    for run in re.finditer(r"(A+|a+|9+|[^Aa9])", shape):
        text = run.group(0)
        token = {"A": "[A-Z]", "a": "[a-z]", "9": r"\d"}.get(text[0])
        if token is None:
            parts.append(re.escape(text))
        elif text[0] in "Aa" and values.str.slice(run.start(), len(text)).n_unique() == 1:
            parts.append(re.escape(first[run.start():run.end()]))
        else:
            parts.append(token if len(text) == 1 else f"{token}{{{len(text)}}}")
    return "^" + "".join(parts) + "$", shape


def _round_sig(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def _widen(low: float, high: float, *, integer: bool) -> tuple[float, float]:
    """Widen [low, high] by a tenth of its span, to round numbers; never below 0 if low >= 0."""
    span = high - low
    if span <= 0:
        span = abs(high) or 1
    if not (math.isfinite(span) and math.isfinite(low - span) and math.isfinite(high + span)):
        return low, high  # near the largest numbers a double holds: nothing to round to
    step = 10 ** (math.floor(math.log10(span)) - 1)
    if integer:
        step = max(1, int(step))
    lo = math.floor((low - span / 10) / step) * step
    hi = math.ceil((high + span / 10) / step) * step
    if low >= 0 > lo:
        lo = 0
    if integer:
        return int(lo), int(hi)
    digits = max(0, -math.floor(math.log10(step)))
    return round(lo, digits), round(hi, digits)


def _choose_target(columns: dict[str, ColumnSpec], notes: dict[str, list[str]],
                   typed: dict[str, pl.Series]) -> None:
    """At most one target: a column whose name says outcome, with few values (binary first)."""
    candidates = []
    for name, spec in columns.items():
        if spec.role is not None or not TARGET_NAME.search(_normal(name)):
            continue
        distinct = typed[name].drop_nulls().n_unique()
        if 2 <= distinct <= 10:
            candidates.append((distinct != 2, list(columns).index(name), name))
    if candidates:
        name = sorted(candidates)[0][2]
        columns[name] = replace(columns[name], role="target")
        notes[name].append("looks like the outcome: role target (risk and fairness steps use it)")


def _infer_rules(columns: dict[str, ColumnSpec], typed: dict[str, pl.Series]):
    """Propose `later >= earlier` for pairs of date columns where it (almost) always holds."""
    import polars as pl

    dated = [n for n, c in columns.items() if c.dtype in {"date", "datetime"}]
    rules, notes = [], []
    for i, a in enumerate(dated):
        for b in dated[i + 1:]:
            both = pl.DataFrame({"a": typed[a], "b": typed[b]}).drop_nulls()
            if both.height < 10:
                continue
            b_after = float((both["b"] >= both["a"]).mean())
            a_after = float((both["a"] >= both["b"]).mean())
            if b_after >= RULE_SHARE and a_after < RULE_SHARE:
                later, earlier, share = b, a, b_after
            elif a_after >= RULE_SHARE and b_after < RULE_SHARE:
                later, earlier, share = a, b, a_after
            else:
                continue
            broken = round((1 - share) * both.height)
            rules.append(RuleSpec(name=f"{later} on or after {earlier}",
                                  check=f"{later} >= {earlier}"))
            notes.append(f"'{later} >= {earlier}' held in {both.height - broken:,} of "
                         f"{both.height:,} rows with both dates")
    return rules, notes


# --------------------------------------------------------------------------- drafting in a project


@dataclass(frozen=True)
class DraftResult:
    """What `draft_contract` did: ``written`` (new), ``replaced`` or ``unchanged``."""

    dataset: str
    path: Path
    status: Literal["written", "replaced", "unchanged"]
    contract: Contract

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "path": str(self.path), "status": self.status,
                "contract": self.contract.to_dict()}


def contract_path(project: Project, dataset: str) -> Path:
    """Where a dataset's contract lives: its 'schema:' in expedition.yaml, else schemas/NAME.yaml."""
    config = project.config.datasets.get(dataset)
    if config is not None and config.schema_:
        return project.root / config.schema_
    return project.schemas_dir / f"{dataset}.yaml"


def generated_text(text: str) -> str:
    """Add the header line that records a hash of what `schema infer` wrote."""
    return f"{GENERATED_MARK}{hashlib.sha256(text.encode('utf-8')).hexdigest()}\n{text}"


def is_unedited_draft(text: str) -> bool:
    """True when *text* is exactly what `schema infer` wrote (nobody has edited it since)."""
    first, _, rest = text.partition("\n")
    if not first.startswith(GENERATED_MARK):
        return False
    return hashlib.sha256(rest.encode("utf-8")).hexdigest() == first[len(GENERATED_MARK):].strip()


@locked("schema infer")
def draft_contract(project: Project, dataset: str, *, force: bool = False) -> DraftResult:
    """Infer a contract from the dataset's latest delivery (every delivery, with ``combine:
    all``) and write it to its contract path.

    An existing contract is replaced only if it is an unedited draft (its header hash still
    matches) or *force* is true. The dataset's 'schema:' in expedition.yaml is set when empty.
    """
    from expedition.datasets import open_delivery

    if dataset not in project.config.datasets:
        known = ", ".join(project.config.datasets) or "none yet"
        raise ConfigError(
            f"no dataset called {dataset!r}{_suggest(dataset, project.config.datasets)}",
            f"add it with `expedition data add FILE --name {dataset}` (datasets: {known})",
            path=project.config_path,
        )
    config = project.config.datasets[dataset]
    delivery = config.latest
    if delivery is None:
        raise DataError(f"dataset {dataset!r} has no deliveries yet",
                        f"add one with `expedition data add FILE --name {dataset}`")
    path = contract_path(project, dataset)
    data: Any = open_delivery(project, dataset, text=True)
    if config.combine == "all" and len(config.deliveries) > 1:
        import polars as pl

        # every period the contract will check, drafted from together (not the latest alone)
        data = pl.concat([open_delivery(project, dataset, d.version, text=True).frame.collect()
                          for d in config.deliveries], how="diagonal_relaxed")
    contract = infer_schema(data, dataset=dataset,
                            source={"file": delivery.file, "sha256": delivery.sha256})
    text = generated_text(contract.to_yaml())
    status: Literal["written", "replaced", "unchanged"] = "written"
    if path.exists():
        old = path.read_text(encoding="utf-8", errors="replace")
        if old == text:
            status = "unchanged"
        elif is_unedited_draft(old) or force:
            status = "replaced"
        else:
            raise ConfigError(
                f"{project.relative(path)} exists and has been edited by a person; "
                "it was not overwritten",
                f"keep it (validate with `expedition validate {dataset}`), or replace it with a "
                f"fresh draft: `expedition schema infer {dataset} --force`",
                path=path,
            )
    if status != "unchanged":
        atomic_write_text(path, text)
    if config.schema_ is None:
        relative = project.relative(path)

        def set_schema(document: Any) -> None:
            document["datasets"][dataset]["schema"] = relative

        update_config(project.config_path, set_schema)
    loaded = load_contract(path)
    return DraftResult(dataset, path, status, replace(loaded, observed=contract.observed))
