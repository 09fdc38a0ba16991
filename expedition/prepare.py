"""Derived datasets: made with SQL from validated datasets, inside the expedition.

``derived:`` in ``expedition.yaml`` names datasets made from the validated ones (and from
earlier derived ones) with a SQL ``SELECT``: an outcome derived from a multi-valued column, a
subset, counts joined to their denominators. ``prepare(project, names)`` materialises them in
dependency order to ``data/processed/NAME.parquet``; the runner calls it before a step that
reads one, so a derived dataset is never stale.

The SQL runs on Polars' SQL engine (``polars.SQLContext``), lazily: the query compiles to the
same plan a Polars query written by hand would, and is streamed to Parquet. (DuckDB would add a
second engine and a second set of types for what Polars' SQL does here: joins, ``GROUP BY``,
``CASE``, ``COALESCE``, window functions and common table expressions.)

What holds, whoever writes the SQL:

- **Only the expedition's data.** A query reads validated datasets and derived ones by name;
  table functions (``read_csv('...')``), statements other than one ``SELECT`` and unknown
  names are refused with the position in the SQL.
- **Cached by what made it**: the SQL, the hashes of its inputs and of the optional contract.
  An unchanged derived dataset is not computed again; made again, it is the same file. A join
  or ``GROUP BY`` comes out in a different order each run, so unless the SQL has its own
  ``ORDER BY`` the rows are put in the order of the input rows they came from (each input is
  read with a hidden row number; a query whose result keeps every input's row number is
  sorted by those numbers alone) or, when it does not keep them (``GROUP BY``, ``DISTINCT``,
  a chosen list of columns), by every column.
- **Lineage.** ``.expedition/derived/NAME.json`` records the SQL, every input's hash and the
  output's; every finding on a derived dataset carries that chain back to the raw deliveries.
- **Personal data stays flagged.** A column that passes through unchanged (same name and type
  as an input column) keeps its role and personal flag; a new text or date column made by a
  query that reads a personal column is flagged personal too (state otherwise in a contract,
  ``schema:``), and so is one whose name says it is personal.
- **No row set aside unseen.** A query over one dataset that leaves out fewer rows than the
  disclosure threshold (but some) is refused: results for all the rows beside results for the
  rest would give those few rows away.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition.errors import ConfigError, DataError
from expedition.project import Project

if TYPE_CHECKING:
    import polars as pl

    from expedition.contract import Contract
    from expedition.validation import ValidatedData

#: Bumped when what `prepare` writes for the same SQL and inputs changes.
PREPARE_VERSION = 2
#: Rows of non-personal columns shown in a preview.
PREVIEW_ROWS = 5
#: Rows per Parquet row group of a derived dataset: fixed, so the same rows make the same file.
ROW_GROUP = 1_000_000
#: the hidden row number each input is read with (``ROW_KEY + name``); never in an output
ROW_KEY = "__expedition_row__"

_KEYWORDS = {
    "select", "where", "group", "order", "having", "limit", "offset", "join", "left", "right",
    "inner", "outer", "full", "cross", "on", "using", "union", "except", "intersect", "as",
    "natural", "semi", "anti", "lateral", "qualify", "window",
}


# --------------------------------------------------------------------------- reading the SQL


def _blank(sql: str) -> str:
    """*sql* with comments and string literals replaced by spaces (positions kept), so that
    names are found only where they are names."""
    out = list(sql)
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'" or (c == "-" and sql.startswith("--", i)) or (c == "/" and sql.startswith("/*", i)):
            if c == "'":
                j = i + 1
                while j < n:
                    if sql[j] == "'" and sql.startswith("''", j):
                        j += 2
                        continue
                    if sql[j] == "'":
                        break
                    j += 1
                end = min(j + 1, n)
                for k in range(i + 1, max(i + 1, end - 1)):
                    out[k] = " " if sql[k] != "\n" else "\n"
            elif c == "-":
                end = sql.find("\n", i)
                end = n if end < 0 else end
                for k in range(i, end):
                    out[k] = " "
            else:
                end = sql.find("*/", i + 2)
                end = n if end < 0 else end + 2
                for k in range(i, end):
                    out[k] = " " if sql[k] != "\n" else "\n"
            i = end
            continue
        i += 1
    return "".join(out)


_NAME = r'(?:"(?P<q>[^"]+)"|(?P<b>[A-Za-z_][A-Za-z0-9_.\-]*))'


@dataclass(frozen=True)
class Reference:
    """A table named in a query, and where (character offset)."""

    name: str
    offset: int
    call: bool = False  # followed by "(": a table function


def references(sql: str) -> tuple[list[Reference], set[str]]:
    """The tables a query reads (after ``FROM`` and ``JOIN``, and in a ``FROM`` list) and the
    names of its common table expressions."""
    text = _blank(sql)
    ctes = {m.group("q") or m.group("b") for m in re.finditer(
        r'(?:\bWITH\s+(?:RECURSIVE\s+)?|,\s*)' + _NAME + r'\s*(?:\([^)]*\)\s*)?AS\s*\(', text, re.I)}
    found: list[Reference] = []
    for m in re.finditer(r"\b(FROM|JOIN)\b", text, re.I):
        pos = m.end()
        first = True
        while True:
            ws = re.match(r"\s*", text[pos:])
            pos += ws.end() if ws else 0
            if not first:
                if not text.startswith(",", pos) or m.group(1).upper() != "FROM":
                    break
                pos += 1
                ws = re.match(r"\s*", text[pos:])
                pos += ws.end() if ws else 0
            first = False
            name = re.match(_NAME, text[pos:])
            if name is None:
                break  # a subquery or something else: not a table name
            value = name.group("q") or name.group("b")
            end = pos + name.end()
            call = bool(re.match(r"\s*\(", text[end:]))
            if name.group("b") and value.lower() in _KEYWORDS:
                break
            found.append(Reference(value, pos, call))
            pos = end
            alias = re.match(r"\s+(?:AS\s+)?" + _NAME, text[pos:], re.I)
            if alias and (alias.group("q") or alias.group("b") or "").lower() not in _KEYWORDS:
                pos += alias.end()
    return found, ctes


def position(sql: str, offset: int) -> str:
    """'line L, column C' of a character offset, with the line and a caret under it."""
    line = sql.count("\n", 0, offset) + 1
    start = sql.rfind("\n", 0, offset) + 1
    end = sql.find("\n", offset)
    text = sql[start: end if end >= 0 else len(sql)]
    column = offset - start + 1
    return f"line {line}, column {column}:\n    {text}\n    {' ' * (column - 1)}^"


def _sql_error(name: str, sql: str, what: str, fix: str, offset: int | None, project: Project) -> ConfigError:
    where = f" at {position(sql, offset)}" if offset is not None else ""
    return ConfigError(f"derived dataset {name!r}: {what}{where}", fix, path=project.config_path)


def _offset_of(sql: str, line: int, column: int) -> int:
    lines = sql.split("\n")
    line = max(1, min(line, len(lines)))
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(0, min(column - 1, len(lines[line - 1])))


def _word_offset(sql: str, word: str) -> int | None:
    text = _blank(sql)
    m = re.search(r'(?<![A-Za-z0-9_"])"?' + re.escape(word) + r'"?(?![A-Za-z0-9_])', text)
    return m.start() if m else None


def inputs_of(project: Project, name: str) -> list[str]:
    """The datasets (validated or derived) a derived dataset's SQL reads, in order of mention.

    Raises ConfigError, with the position in the SQL, for a statement that is not one SELECT,
    a table function, or a name that is no dataset.
    """
    config = project.config
    sql = config.derived[name].sql
    text = _blank(sql).strip()
    if ";" in text.rstrip(";"):
        offset = _blank(sql).index(";")
        raise _sql_error(name, sql, "the SQL holds more than one statement", "write one SELECT (a WITH ... "
                         "SELECT is fine); make a second derived dataset for a second query", offset, project)
    first = re.match(r"\s*(\w+)", _blank(sql))
    if first is None or first.group(1).upper() not in {"SELECT", "WITH"}:
        raise _sql_error(name, sql, f"the SQL must be a SELECT, not {first.group(1).upper() if first else 'empty'}",
                         "write a query that starts with SELECT (or WITH)", first.start(1) if first else 0, project)
    refs, ctes = references(sql)
    known = [*config.datasets, *config.derived, *config.links]
    found: list[str] = []
    for ref in refs:
        if ref.call:
            raise _sql_error(
                name, sql, f"{ref.name}(...) reads data from outside the expedition",
                "derived datasets read only the expedition's datasets, by name: add the file with "
                "`expedition data add FILE --name NAME`, validate it, and use NAME in the SQL",
                ref.offset, project)
        if ref.name in ctes:
            continue
        if ref.name not in known:
            import difflib

            close = difflib.get_close_matches(ref.name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _sql_error(
                name, sql, f"there is no dataset called {ref.name!r}{hint}",
                f"the datasets are: {', '.join(known) or 'none yet'} (quote a name with '-' or '.' "
                'in double quotes: "crimes-2018")', ref.offset, project)
        if ref.name == name:
            raise _sql_error(name, sql, "the query reads the dataset it makes",
                             "read the datasets it is made from instead", ref.offset, project)
        if ref.name not in found:
            found.append(ref.name)
    if not found:
        raise _sql_error(name, sql, "the query reads no dataset",
                         f"name a dataset after FROM (datasets: {', '.join(known) or 'none yet'})", None, project)
    return found


def order(project: Project, names: Iterable[str]) -> list[str]:
    """*names* and the derived datasets they need, each after its inputs; a cycle is refused."""
    derived = project.config.derived
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done or name not in derived:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name):] + [name]
            raise ConfigError(
                f"derived datasets read each other in a cycle: {' → '.join(cycle)}",
                "a derived dataset can read only validated datasets and derived ones that do not "
                "read it back: break the cycle in expedition.yaml",
                path=project.config_path,
            )
        visiting.append(name)
        for dep in inputs_of(project, name):
            visit(dep)
        visiting.pop()
        done.append(name)

    for name in names:
        if name not in derived:
            known = ", ".join(derived) or "none yet"
            raise ConfigError(f"no derived dataset called {name!r} (derived datasets: {known})",
                              "declare it under 'derived:' in expedition.yaml", path=project.config_path)
        visit(name)
    return done


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Prepared:
    """A materialised derived dataset: what it is made of and where it is."""

    name: str
    file: str
    sha256: str
    rows: int
    columns: dict[str, str]
    sql: str
    inputs: list[dict[str, Any]]
    key: str
    cached: bool
    personal: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    contract_file: str | None = None
    contract_sha256: str | None = None
    validation: dict[str, Any] | None = None
    preview: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "sha256": self.sha256,
            "rows": self.rows,
            "columns": self.columns,
            "sql": self.sql,
            "inputs": self.inputs,
            "key": self.key,
            "cached": self.cached,
            "personal": self.personal,
            "roles": self.roles,
            "contract": {"file": self.contract_file, "sha256": self.contract_sha256} if self.contract_file else None,
            "validation": self.validation,
            "preview": self.preview,
            "seconds": round(self.seconds, 3),
        }


def record_path(project: Project, name: str) -> Path:
    return project.state_dir / "derived" / f"{name}.json"


def output_path(project: Project, name: str) -> Path:
    return project.processed_dir / f"{name}.parquet"


def _record(project: Project, name: str) -> dict[str, Any] | None:
    path = record_path(project, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _Input:
    name: str
    frame: pl.LazyFrame
    contract: Contract
    fingerprint: dict[str, Any]

    @property
    def sha256(self) -> str:
        return str(self.fingerprint["validated_sha256"])

    def lineage(self) -> dict[str, Any]:
        """What this input is, back to the raw deliveries, for provenance."""
        fp = self.fingerprint
        if fp.get("derived"):
            return {"name": self.name, "kind": "derived", "sha256": self.sha256,
                    "sql": fp["derived"]["sql"], "inputs": fp["derived"]["inputs"]}
        deliveries = fp.get("deliveries") or [
            {"version": fp.get("delivery"), "file": fp.get("data_file"), "sha256": fp.get("data_sha256")}]
        return {"name": self.name, "kind": "dataset", "sha256": self.sha256,
                "contract": {"file": fp.get("contract"), "sha256": fp.get("contract_sha256")},
                "deliveries": deliveries}


def _open_input(project: Project, name: str) -> _Input:
    if name in project.config.links:
        from expedition.link import open_linked

        data = open_linked(project, name)
        return _Input(name, data.frame, data.contract, data.fingerprint)
    if name in project.config.derived:
        data = open_derived(project, name)
        return _Input(name, data.frame, data.contract, data.fingerprint)
    from expedition.validation import open_validated

    data = open_validated(project, name)
    return _Input(name, data.frame, data.contract, data.fingerprint)


# --------------------------------------------------------------------------- preparing


def prepare(
    project: Project,
    names: Sequence[str] | None = None,
    *,
    force: bool = False,
    on_progress: Callable[[str, str], None] | None = None,
) -> list[Prepared]:
    """Materialise the named derived datasets (default: all) and those they read, in order.

    One that is current (same SQL, inputs and contract as when it was made, output unchanged)
    is reused unless *force*. Validated inputs must be current (`expedition validate`).
    """
    from expedition._lock import project_lock

    wanted = list(names) if names else list(project.config.derived)
    if not wanted:
        raise ConfigError("expedition.yaml declares no derived datasets",
                          "add one under 'derived:' with a name and 'sql:' (see the README)",
                          path=project.config_path)
    with project_lock(project.root, "prepare"):
        return [_prepare_one(project, name, force=force and name in wanted, on_progress=on_progress)
                for name in order(project, wanted)]


#: `prepare` under the name the package exports (``expedition.prepare`` is this module).
prepare_datasets = prepare


def ensure_prepared(project: Project, name: str) -> Prepared:
    """*name* materialised and current (prepared now if it was not)."""
    results = prepare(project, [name])
    return results[-1]


def _key(sql: str, inputs: list[_Input], contract_sha: str | None) -> str:
    payload = {"version": PREPARE_VERSION, "sql": sql,
               "inputs": [[i.name, i.sha256] for i in inputs], "contract": contract_sha}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _prepare_one(project: Project, name: str, *, force: bool,
                 on_progress: Callable[[str, str], None] | None) -> Prepared:
    import time

    from expedition._io import sha256_file, sha256_remembered

    started = time.perf_counter()
    config = project.config.derived[name]
    notify = on_progress or (lambda event, detail: None)
    inputs = [_open_input(project, dep) for dep in inputs_of(project, name)]
    contract_file = _contract_file(project, name)
    contract_sha = sha256_file(contract_file) if contract_file is not None else None
    key = _key(config.sql, inputs, contract_sha)
    out = output_path(project, name)
    record = _record(project, name)
    if (not force and record is not None and record.get("key") == key and out.exists()
            and sha256_remembered(out, project.state_dir) == record.get("sha256")):
        notify("cached", name)
        return _from_record(record, cached=True)
    notify("start", name)
    frame = _query(project, name, config.sql, inputs)
    return _materialise(project, name, frame, inputs, key, contract_file, contract_sha, started)


def _contract_file(project: Project, name: str) -> Path | None:
    schema = project.config.derived[name].schema_
    if schema is None:
        return None
    path = (project.root / schema).resolve()
    if not path.exists():
        raise ConfigError(f"the contract of derived dataset {name!r} ({schema}) does not exist",
                          f"write it, or remove 'schema:' from {name!r} in expedition.yaml "
                          f"(draft one with `expedition prepare {name}` then `expedition schema infer`)",
                          path=project.config_path)
    return path


def _query(project: Project, name: str, sql: str, inputs: list[_Input]) -> pl.LazyFrame:
    """The derived dataset as a lazy query, its SQL checked against its inputs' columns."""
    import polars as pl

    keyed = _keyed(sql)
    context = pl.SQLContext({i.name: i.frame.with_row_index(ROW_KEY + i.name) if keyed else i.frame
                             for i in inputs}, eager=False)
    try:
        frame = context.execute(sql)
        frame.collect_schema()
    except pl.exceptions.ColumnNotFoundError as exc:
        message = str(exc).split("\n", 1)[0]
        m = re.search(r'unable to find column "([^"]+)"', message) or re.search(r'"([^"]+)"', message)
        column = m.group(1) if m else None
        columns = {i.name: i.frame.collect_schema().names() for i in inputs}
        listing = "; ".join(f"{n}: {', '.join(c)}" for n, c in columns.items())
        raise _sql_error(name, sql, f"there is no column {column!r}" if column else message,
                         f"the columns are — {listing} (quote names with spaces or capitals in double "
                         'quotes: "Officer-defined ethnicity")',
                         _word_offset(sql, column) if column else None, project) from None
    except (pl.exceptions.SQLSyntaxError, pl.exceptions.SQLInterfaceError,
            pl.exceptions.InvalidOperationError, pl.exceptions.SchemaError,
            pl.exceptions.ComputeError, pl.exceptions.DuplicateError) as exc:
        message = str(exc).split("\n", 1)[0]
        m = re.search(r"Line: (\d+), Column: (\d+)", message)
        offset = _offset_of(sql, int(m.group(1)), int(m.group(2))) if m else None
        message = re.sub(r"\s*at Line: \d+, Column: \d+", "", message)
        message = re.sub(r"^sql parser error: ", "", message)
        raise _sql_error(name, sql, f"the SQL does not run: {message}",
                         "correct the SQL in expedition.yaml (Polars SQL: SELECT, JOIN, GROUP BY, CASE, "
                         "COALESCE, window functions and WITH are supported)", offset, project) from None
    return frame


def _materialise(project: Project, name: str, frame: pl.LazyFrame, inputs: list[_Input], key: str,
                 contract_file: Path | None, contract_sha: str | None, started: float) -> Prepared:
    import time

    import polars as pl

    from expedition._io import sha256_file
    from expedition._store import Unit

    config = project.config.derived[name]
    out = output_path(project, name)
    validation = None
    with Unit(project.root, f"prepare {name}") as unit:
        tmp = unit.file(out)
        try:
            _sink(config.sql, frame, tmp)
        except pl.exceptions.PolarsError as exc:
            raise DataError(f"derived dataset {name!r} could not be computed: {str(exc).splitlines()[0]}",
                            "check the SQL's types (e.g. a text column compared with a number) in "
                            "expedition.yaml", path=project.config_path) from None
        result = pl.scan_parquet(tmp)
        rows = int(result.select(pl.len()).collect().item())
        _check_subset(project, name, config.sql, inputs, rows)
        schema = result.collect_schema()
        if contract_file is not None:
            validation, contract = _validate(project, name, pl.read_parquet(tmp), contract_file, unit, tmp)
            rows = validation["rows"]["valid"]
            schema = pl.scan_parquet(tmp).collect_schema()
            roles, personal = contract.roles, {c: "the contract flags it" for c in contract.personal}
        else:
            roles, personal = _carried(config.sql, schema, inputs)
        sha = sha256_file(tmp)
        columns = {c: _dtype_name(t) for c, t in schema.items()}
        preview = _preview(pl.scan_parquet(tmp), personal, roles)
        prepared = Prepared(
            name=name, file=project.relative(out), sha256=sha, rows=rows, columns=columns,
            sql=config.sql, inputs=[i.lineage() for i in inputs], key=key, cached=False,
            personal=personal, roles=roles,
            contract_file=project.relative(contract_file) if contract_file else None,
            contract_sha256=contract_sha, validation=validation, preview=preview,
            seconds=time.perf_counter() - started,
        )
        unit.write_text(record_path(project, name),
                        json.dumps(prepared.to_dict(), indent=2, default=str) + "\n")
    project.record("prepare", dataset=name, rows=rows, sha256=sha, inputs=[i.name for i in inputs])
    return prepared


def _ordered(sql: str) -> bool:
    """Whether the query orders its result (an ORDER BY outside every parenthesis)."""
    depth = 0
    text = _blank(sql)
    for m in re.finditer(r"[()]|\bORDER\s+BY\b", text, re.I):
        token = m.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            return True
    return False


def _sortable(frame: pl.LazyFrame) -> list[str]:
    import polars as pl

    return [c for c, t in frame.collect_schema().items()
            if not isinstance(t, (pl.List, pl.Array, pl.Struct, pl.Object)) and not c.startswith(ROW_KEY)]


def _keyed(sql: str) -> bool:
    """Whether the inputs can be read with a hidden row number without changing what the query
    means: not when it removes duplicate rows (``DISTINCT``, ``UNION``, ``INTERSECT``,
    ``EXCEPT``), joins on every shared column (``NATURAL``), or reads one dataset twice (the
    two row numbers would share a name)."""
    if re.search(r"\b(DISTINCT|UNION|INTERSECT|EXCEPT|NATURAL)\b", _blank(sql), re.I):
        return False
    found, _ = references(sql)
    names = [r.name for r in found]
    return len(names) == len(set(names))


def _sink(sql: str, frame: pl.LazyFrame, path: Path) -> None:
    """Write *frame* to *path* in an order fixed by the SQL and its inputs, without the hidden
    row numbers.

    A join or ``GROUP BY`` comes out of the engine in a different order each run; the same SQL
    and inputs must give the same file. The rows are sorted by the row numbers of the input
    rows they came from (whole numbers, in the inputs' order: cheap). When a table's row number
    did not survive (``SELECT a.*, b.name``), one input row may give several output rows, so
    while the file is written the sorted numbers are checked for repeats (in the same pass);
    only if one repeats, or no number survived, are the rows sorted by every column. An
    ``ORDER BY`` of the query's own is kept.
    """
    import polars as pl

    keys = [c for c in frame.collect_schema().names() if c.startswith(ROW_KEY)]

    def write(lazy: pl.LazyFrame, *, now: bool = True) -> Any:
        return lazy.drop(keys).sink_parquet(path, compression="lz4", statistics=False,
                                            row_group_size=ROW_GROUP, lazy=not now)

    if _ordered(sql):
        write(frame)
        return
    if keys:
        ordered = frame.sort(keys)
        found, _ = references(sql)
        if len(keys) == len(found):
            write(ordered)  # every input row number kept: each output row has its own
            return
        repeats = pl.any_horizontal([pl.col(k).is_null() for k in keys]) | pl.all_horizontal(
            [pl.col(k).diff().fill_null(1) == 0 for k in keys])
        _, check = pl.collect_all([write(ordered, now=False), ordered.select(repeats.any())])
        if not check.item():
            return
    write(frame.sort([*keys, *_sortable(frame)], nulls_last=True))


def _validate(project: Project, name: str, frame: pl.DataFrame, contract_file: Path, unit: Any,
              tmp: Path) -> tuple[dict[str, Any], Contract]:
    """Validate the result against its contract: the valid rows become the derived dataset, the
    rest go to quarantine, and the report joins the data-quality evidence."""
    from expedition.contract import load_contract
    from expedition.validation import quality_files, validate
    from expedition.validation.store import _atomic_parquet

    contract = load_contract(contract_file)
    result = validate(frame, contract, dataset=name)
    result.valid.write_parquet(tmp, compression="lz4", statistics=False, row_group_size=ROW_GROUP)
    quarantine = project.quarantine_dir / f"{name}.parquet"
    _atomic_parquet(result.quarantine, quarantine, unit)
    report = result.report.to_dict()
    unit.write_text(quality_files(project, name)["json"].with_name("derived-validation.json"),
                    json.dumps({"dataset": name, "report": report,
                                "contract": {"file": project.relative(contract_file), "sha256": contract.sha256},
                                "quarantine": project.relative(quarantine)}, indent=2, default=str) + "\n")
    return {"rows": report["rows"], "passed": report["passed"],
            "quarantine": project.relative(quarantine)}, contract


def _dtype_name(dtype: Any) -> str:
    import polars as pl

    from expedition.contract import DTYPES

    for name, polars_name in DTYPES.items():
        if dtype == getattr(pl, polars_name) or (name == "datetime" and isinstance(dtype, pl.Datetime)):
            return name
    return str(dtype).lower()


def _carried(sql: str, schema: Any, inputs: list[_Input]) -> tuple[dict[str, str], dict[str, str]]:
    """Roles and personal flags of the derived columns, carried from the inputs' contracts."""
    from expedition import pii
    from expedition.contract import TEMPORAL, TEXTUAL

    text = _blank(sql)
    read_personal = sorted({c for i in inputs for c in i.contract.personal
                            if re.search(r'(?<![A-Za-z0-9_])"?' + re.escape(c) + r'"?(?![A-Za-z0-9_])', text)})
    roles: dict[str, str] = {}
    personal: dict[str, str] = {}
    for column, dtype in schema.items():
        kind = _dtype_name(dtype)
        sources = [(i, i.contract.columns[column]) for i in inputs if column in i.contract.columns]
        same = [(i, spec) for i, spec in sources if spec.dtype == kind
                or (spec.dtype in TEXTUAL and kind in TEXTUAL)]
        if same:  # passed through: same name and type
            flagged = [i.name for i, spec in same if spec.personal]
            if flagged:
                personal[column] = f"personal in {', '.join(flagged)}"
            found = {spec.role for _, spec in same}
            if len(found) == 1 and None not in found:
                roles[column] = found.pop()  # type: ignore[assignment]
            continue
        if pii.column_hint(column) is not None:
            personal[column] = "its name says it holds personal data"
        elif read_personal and (kind in TEXTUAL or kind in TEMPORAL):
            personal[column] = f"made by a query that reads personal data ({', '.join(read_personal)})"
        if kind in TEMPORAL:
            roles.setdefault(column, "date")
    return roles, personal


def _check_subset(project: Project, name: str, sql: str, inputs: list[_Input], rows: int) -> None:
    """Refuse a query over one dataset that leaves out a few rows, but some."""
    if len(inputs) != 1 or re.search(r"\b(GROUP\s+BY|DISTINCT|UNION|JOIN)\b|\b(COUNT|SUM|AVG|MIN|MAX)\s*\(",
                                     _blank(sql), re.I):
        return
    import polars as pl

    total = int(inputs[0].frame.select(pl.len()).collect().item())
    problem = small_complement(total, rows, project.config.disclosure.min_count)
    if problem:
        raise ConfigError(f"derived dataset {name!r}: {problem}",
                          "leave out no rows, or enough rows that the difference is not a small "
                          "count (see `disclosure.min_count`)", path=project.config_path)


def small_complement(total: int, kept: int, threshold: int) -> str | None:
    """Why keeping *kept* of *total* rows would disclose the rows left out (None when it would
    not): a few left out, but some, are given away by results for all beside results for the rest."""
    left = total - kept
    if 0 < left < threshold:
        return (f"it leaves out {left} of {total:,} rows, fewer than the disclosure threshold "
                f"({threshold}): results for all the rows beside results for the rest would give "
                "those rows away")
    return None


def _preview(frame: pl.LazyFrame, personal: dict[str, str], roles: dict[str, str]) -> list[dict[str, Any]]:
    """A few rows of the columns that are neither personal, identifiers nor free text."""
    shown = [c for c in frame.collect_schema().names()
             if c not in personal and roles.get(c) not in {"identifier", "text"}]
    if not shown:
        return []
    rows = frame.select(shown).head(PREVIEW_ROWS).collect().to_dicts()
    return [{k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in r.items()}
            for r in rows]


def _from_record(record: dict[str, Any], *, cached: bool) -> Prepared:
    contract = record.get("contract") or {}
    return Prepared(
        name=record["name"], file=record["file"], sha256=record["sha256"], rows=record["rows"],
        columns=record["columns"], sql=record["sql"], inputs=record["inputs"], key=record["key"],
        cached=cached, personal=record.get("personal") or {}, roles=record.get("roles") or {},
        contract_file=contract.get("file"), contract_sha256=contract.get("sha256"),
        validation=record.get("validation"), preview=record.get("preview") or [],
    )


# --------------------------------------------------------------------------- what steps read


def open_derived(project: Project, name: str) -> ValidatedData:
    """A derived dataset as steps read it, prepared first if it is not current."""
    import polars as pl

    from expedition.contract import ColumnSpec, Contract, load_contract

    prepared = ensure_prepared(project, name)
    if prepared.contract_file:
        contract = load_contract(project.root / prepared.contract_file)
    else:
        contract = Contract(
            columns={c: ColumnSpec(c, t if t in _contract_types() else "string", nullable=True,
                                   role=prepared.roles.get(c), personal=c in prepared.personal)
                     for c, t in prepared.columns.items()},
            dataset=name, strict=False,
        )
    raw = _raw_hashes(prepared.inputs)
    fingerprint = {
        "dataset": name,
        # one hash for the raw deliveries behind it, in the order its lineage names them
        "data_sha256": hashlib.sha256("\n".join(raw).encode()).hexdigest(),
        "data_file": f"derived from {', '.join(i['name'] for i in prepared.inputs)}",
        "derived": {"sql": prepared.sql, "sql_sha256": hashlib.sha256(prepared.sql.encode()).hexdigest(),
                    "inputs": prepared.inputs},
        "contract": prepared.contract_file,
        "contract_sha256": prepared.contract_sha256,
        "validated_file": prepared.file,
        "validated_sha256": prepared.sha256,
        "validation": {"read": prepared.rows, "valid": prepared.rows, "quarantined": 0}
        if prepared.validation is None else
        {k: prepared.validation["rows"][k] for k in ("read", "valid", "quarantined")},
    }
    from expedition.validation import ValidatedData

    return ValidatedData(pl.scan_parquet(project.root / prepared.file), contract, fingerprint)


def _raw_hashes(inputs: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for item in inputs:
        if item.get("kind") == "derived":
            out += _raw_hashes(item.get("inputs") or [])
        else:
            out += [str(d.get("sha256")) for d in item.get("deliveries") or []]
    return out


def lineage(provenance: dict[str, Any]) -> dict[str, Any]:
    """A finding's lineage as a tree for the pack: the step, the dataset it read (derived: its
    SQL and inputs, all the way down), the contracts and the raw deliveries with their hashes."""
    step = {"label": f"step {provenance.get('step', '?')}"
                     + (f" v{provenance['step_version']}" if provenance.get("step_version") else ""),
            "detail": f"where: {provenance['where']}" if provenance.get("where") else "",
            "sql": None, "children": []}
    derived = provenance.get("derived")
    if isinstance(derived, dict):
        node = _derived_node(str(provenance.get("dataset", "")), provenance.get("validated_sha256"),
                             derived.get("sql"), derived.get("inputs") or [])
    else:
        deliveries = provenance.get("deliveries") or [
            {"version": provenance.get("delivery"), "file": provenance.get("data_file"),
             "sha256": provenance.get("data_sha256")}]
        node = _dataset_node({"name": provenance.get("dataset"), "sha256": provenance.get("validated_sha256"),
                              "contract": {"file": provenance.get("contract"),
                                           "sha256": provenance.get("contract_sha256")},
                              "deliveries": deliveries})
    step["children"].append(node)
    return step


def _short(sha: Any) -> str:
    from expedition.numbers import short_hash

    return f"sha256 {short_hash(sha)}…" if sha else ""


def _derived_node(name: str, sha: Any, sql: Any, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    children = [_derived_node(str(i.get("name")), i.get("sha256"), i.get("sql"), i.get("inputs") or [])
                if i.get("kind") == "derived" else _dataset_node(i) for i in inputs]
    return {"label": f"derived dataset {name}", "detail": _short(sha), "sql": sql, "children": children}


def _dataset_node(item: dict[str, Any]) -> dict[str, Any]:
    contract = item.get("contract") or {}
    deliveries = [{"label": f"raw delivery v{d.get('version')}", "detail": f"{d.get('file')} · {_short(d.get('sha256'))}",
                   "sql": None, "children": []} for d in item.get("deliveries") or []]
    checked = {"label": f"contract {contract.get('file') or '(none)'}", "detail": _short(contract.get("sha256")),
               "sql": None, "children": deliveries}
    return {"label": f"validated dataset {item.get('name')}", "detail": _short(item.get("sha256")),
            "sql": None, "children": [checked]}


def _contract_types() -> set[str]:
    from expedition.contract import DTYPES

    return set(DTYPES)


def base_datasets(project: Project, names: Iterable[str]) -> list[str]:
    """The validated datasets behind *names*: a dataset itself, a derived one's inputs, all the
    way down."""
    out: list[str] = []
    for name in names:
        if name in project.config.links:
            out += base_datasets(project, project.config.links[name].datasets)
        elif name in project.config.derived:
            for derived in order(project, [name]):
                inputs = inputs_of(project, derived)
                out += [d for d in inputs if d in project.config.datasets]
                out += base_datasets(project, [d for d in inputs if d in project.config.links])
        else:
            out.append(name)
    return list(dict.fromkeys(out))


def check_inputs(project: Project, name: str) -> None:
    """A StepError saying what to run, unless every validated dataset behind *name* is current."""
    from expedition.validation import require_validated

    for dataset in order(project, [name]):
        for dep in inputs_of(project, dataset):
            if dep in project.config.links:
                from expedition.link import check_inputs as check_link

                check_link(project, dep)
            if dep in project.config.datasets:
                require_validated(project, dep, reader=f"derived dataset {name!r}")
