"""Contracts as YAML files: reading them (every mistake with its line) and writing them."""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition._io import sha256_file
from expedition.errors import ConfigError
from expedition.project import Project
from expedition.contract.checks import ALIASES, KINDS, BadCheck, CheckSpec, parse_check
from expedition.contract.model import (
    COLUMN_KEYS,
    FORMAT_VERSION,
    RESERVED,
    ROLES,
    TOP_KEYS,
    ColumnSpec,
    Contract,
    RuleSpec,
)
from expedition.contract.types import DTYPE_ALIASES, DTYPES, NUMERIC, TEMPORAL

if TYPE_CHECKING:

    pass

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
        kind = ALIASES.get(kind_name, kind_name)
        field_name = f"{where}.{kind_name}"
        if kind not in KINDS:
            r.fail(f"column '{name}': unknown check {kind_name!r}"
                   f"{_suggest(kind_name, [*KINDS, *ALIASES])}",
                   f"the checks are: {', '.join(KINDS)}", node, key, field_name)
        try:
            check = parse_check(kind, value, dtype, fmt)
        except BadCheck as exc:
            r.fail(f"column '{name}': check {kind_name}: {exc}", exc.fix, node, key, field_name)
        out.append(replace(check, line=r.line_of(node, key)))
    return tuple(out)


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


def contract_path(project: Project, dataset: str) -> Path:
    """Where a dataset's contract lives: its 'schema:' in expedition.yaml, else schemas/NAME.yaml."""
    config = project.config.datasets.get(dataset)
    if config is not None and config.schema_:
        return project.root / config.schema_
    return project.schemas_dir / f"{dataset}.yaml"


