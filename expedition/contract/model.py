"""The contract: its columns, rules and keys, and what each column is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition.contract.checks import CheckSpec
from expedition.contract.types import FLOAT, INTEGER, _show, human_format, polars_dtype

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl


FORMAT_VERSION = 1

#: The roles a column can play; other parts of the tool look for these exact strings.
ROLES = ("identifier", "protected", "target", "text", "geo", "date")

GENERATED_MARK = "# expedition-generated: sha256="
#: Columns validation adds to the quarantine file: the row number and the reasons.
RESERVED = ("_row", "_reasons")

TOP_KEYS = ("version", "dataset", "description", "strict", "null_values", "rows", "unique", "rules",
            "columns")
COLUMN_KEYS = ("dtype", "nullable", "unique", "required", "format", "checks", "description",
               "units", "role", "personal", "label")


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
        from expedition.contract.document import _dump

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


def rows_words(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"between {low:,} and {high:,}"
    if low is not None:
        return f"at least {low:,}"
    return f"at most {high:,}"


