"""The `Finding`: what one analysis step hands to the rest of the tool.

A finding carries a step's result as data, not as a rendered report: tables (Polars frames whose
columns are each marked with their *kind* so the disclosure gate knows what a count is), sentences
whose numbers sit in declared slots (`Sentence`, built with `say`), metrics, caveats, the
parameters used and the provenance. Figures and documents are *declared* (`Chart`, `Document`):
a named drawing of the finding's tables that the runner and the pack draw after the disclosure
gate, from the gated tables, so no picture can show a number the tables do not publish.

A step returns its finding before disclosure control; `expedition.disclosure` turns it into the
published one (tables with suppressed cells, sentences rendered, figures drawn).

Findings are stored by ``expedition run`` under ``.expedition/findings/<id>/`` and read back by
``expedition pack``; ``save_finding``/``load_finding`` are exact inverses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition._io import atomic_dir

if TYPE_CHECKING:
    import polars as pl

#: What a table column holds. The disclosure gate treats each kind differently.
COLUMN_KINDS = {
    "label": "a category, group or variable name",
    "count": "a number of records or people (subject to small-count suppression)",
    "rate": "a proportion between 0 and 1 computed from counts (shown as a percentage)",
    "statistic": "a mean, coefficient, test statistic, p-value or similar",
    "date": "a date or period",
    "identifier": "an identifier of a person or record (never published)",
    "text": "free text (scanned for personal data before publishing)",
}

FINDING_FORMAT = 2

#: The condition value meaning "any recorded (non-missing) value" of a variable.
RECORDED = "*recorded*"


@dataclass(frozen=True)
class Keys:
    """What the counts of a table count, so the gate can recognise one number wherever it appears.

    A count cell counts the records of a *population* that meet some conditions (variable =
    value). Two cells anywhere in a pack with the same population and conditions are the same
    number: the disclosure gate suppresses them together, and the totals each table implies link
    the tables, so that no combination of published numbers gives a suppressed one away.

    ``population`` names a subset of the step's records ("" for all of them; e.g. "test" for a
    held-out split). ``variables`` maps each label or date column that is a condition to the
    variable it holds (by default every label and date column, under its own name; map a column
    to None when it is not a condition, e.g. a position derived from the other labels).
    ``pairs`` names a (variable-name column, value column) pair for long tables that stack
    several variables. ``counts`` gives each count column's own conditions (``{"outcome_n":
    {"rereferred": "yes"}, "n": {}}``); a count column not listed is linked to nothing outside
    its table. A value of None means "missing"; `RECORDED` means "any recorded value".
    ``subject`` names a label column holding, in each row, the variable that the condition
    ``"@"`` in ``counts`` refers to: a table of missing values per column keys its counts
    ``{"missing": {"@": None}}`` with ``subject="column"``.
    """

    population: str = ""
    variables: dict[str, str | None] = field(default_factory=dict)
    pairs: tuple[str, str] | None = None
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "population": self.population,
            "variables": dict(self.variables),
            "pairs": list(self.pairs) if self.pairs else None,
            "counts": {k: dict(v) for k, v in self.counts.items()},
            "subject": self.subject,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Keys | None:
        if not data:
            return None
        pairs = data.get("pairs")
        return cls(
            population=str(data.get("population") or ""),
            variables=dict(data.get("variables") or {}),
            pairs=tuple(pairs) if pairs else None,  # type: ignore[arg-type]
            counts={k: dict(v) for k, v in (data.get("counts") or {}).items()},
            subject=data.get("subject"),
        )



@dataclass(frozen=True)
class Derived:
    """A statistic computed from the counts in *sources* of every row sharing the *by* labels."""

    sources: tuple[str, ...]
    by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple([self.sources] if isinstance(self.sources, str) else self.sources))
        object.__setattr__(self, "by", tuple([self.by] if isinstance(self.by, str) else self.by))



@dataclass(frozen=True)
class Table:
    """A result table with the kind of every column.

    ``denominators`` maps a rate or statistic column to the count column (or columns) it was
    computed from, so that suppressing a small count also suppresses what was derived from it.

    ``dimensions`` names the label columns the table crosses (one, or two for a two-way table);
    the other label columns split it into separate tables. The disclosure gate assumes every
    total along a dimension is known to a reader. Left as None, the gate decides: two-way when the
    last two label columns cross, else one-way along the last label column.

    ``contributors`` maps a magnitude column (a sum over records, e.g. spend) to the columns
    holding its largest single contributions, largest first. The gate applies the dominance and
    p% rules with them and never publishes them.

    ``keys`` says what each count counts (see `Keys`), linking the table to the rest of the pack.

    ``derived`` maps a statistic or rate column to the count columns of the same group it was
    computed from, across rows: ``{"forecast": Derived(["actual"], by=["unit"])}`` suppresses a
    unit's forecast when any of that unit's actual counts is suppressed (a seasonal-naive
    forecast repeats last year's counts). Counts of the same group elsewhere in the pack (by
    `Keys`) count too.
    """

    frame: pl.DataFrame
    kinds: dict[str, str]
    title: str = ""
    description: str = ""
    denominators: dict[str, str | list[str]] = field(default_factory=dict)
    dimensions: list[str] | None = None
    contributors: dict[str, list[str]] = field(default_factory=dict)
    keys: Keys | None = None
    derived: dict[str, Derived] = field(default_factory=dict)

    def __post_init__(self) -> None:
        columns = list(self.frame.columns)
        missing = [c for c in columns if c not in self.kinds]
        extra = [c for c in self.kinds if c not in columns]
        bad = {c: k for c, k in self.kinds.items() if k not in COLUMN_KINDS}
        if missing or extra or bad:
            raise ValueError(
                f"table {self.title or ''!r}: every column needs exactly one kind "
                f"(missing: {missing}, unknown columns: {extra}, unknown kinds: {bad}; "
                f"kinds are {', '.join(COLUMN_KINDS)})"
            )
        normalised = {
            rate: [sources] if isinstance(sources, str) else list(sources)
            for rate, sources in self.denominators.items()
        }
        object.__setattr__(self, "denominators", normalised)
        for rate, sources in normalised.items():
            if rate not in columns or any(s not in columns for s in sources):
                raise ValueError(f"denominator {rate!r} -> {sources!r} names a missing column")
        if self.dimensions is not None:
            object.__setattr__(self, "dimensions", list(self.dimensions))
            bad_dims = [d for d in self.dimensions if self.kinds.get(d) not in {"label", "date"}]
            if bad_dims or len(self.dimensions) > 2:
                raise ValueError(
                    f"dimensions {self.dimensions!r}: give one or two label or date columns"
                )
        contributors = {k: list(v) for k, v in self.contributors.items()}
        object.__setattr__(self, "contributors", contributors)
        for magnitude, tops in contributors.items():
            if magnitude not in columns or not tops or any(t not in columns for t in tops):
                raise ValueError(f"contributors {magnitude!r} -> {tops!r} names a missing column")
        derived = {k: v if isinstance(v, Derived) else Derived(**v) for k, v in self.derived.items()}
        object.__setattr__(self, "derived", derived)
        for column, spec in derived.items():
            named = [column, *spec.sources, *spec.by]
            if any(c not in columns for c in named):
                raise ValueError(f"derived {column!r} -> {spec!r} names a missing column")
        if self.keys is not None:
            named = [c for c in self.keys.variables if c not in columns]
            named += [c for c in self.keys.counts if self.kinds.get(c) != "count"]
            named += [c for c in (self.keys.pairs or ()) if c not in columns]
            named += [c for c in [self.keys.subject] if c is not None and c not in columns]
            if named:
                raise ValueError(f"keys name columns that are missing or not counts: {named}")

    def meta(self) -> dict[str, Any]:
        meta = {
            "title": self.title,
            "description": self.description,
            "kinds": dict(self.kinds),
            "denominators": dict(self.denominators),
            "rows": self.frame.height,
        }
        if self.dimensions is not None:
            meta["dimensions"] = list(self.dimensions)
        if self.contributors:
            meta["contributors"] = dict(self.contributors)
        if self.keys is not None:
            meta["keys"] = self.keys.to_dict()
        if self.derived:
            meta["derived"] = {k: {"sources": list(v.sources), "by": list(v.by)} for k, v in self.derived.items()}
        return meta

    @classmethod
    def from_meta(cls, frame: pl.DataFrame, meta: dict[str, Any]) -> Table:
        return cls(
            frame=frame,
            kinds=meta["kinds"],
            title=meta.get("title", ""),
            description=meta.get("description", ""),
            denominators=meta.get("denominators", {}),
            dimensions=meta.get("dimensions"),
            contributors=meta.get("contributors", {}),
            keys=Keys.from_dict(meta.get("keys")),
            derived={k: Derived(tuple(v["sources"]), tuple(v.get("by", ()))) for k, v in (meta.get("derived") or {}).items()},
        )


@dataclass(frozen=True)
class Figure:
    """A drawn figure. ``data`` names the table in the same finding that holds its numbers."""

    title: str
    png: bytes
    svg: bytes | None = None
    alt: str = ""
    data: str | None = None

    def meta(self) -> dict[str, Any]:
        return {"title": self.title, "alt": self.alt, "data": self.data}


@dataclass(frozen=True)
class Chart:
    """A figure as a step declares it: a named drawing of one of its tables.

    ``draw`` names a drawing registered with `expedition.steps._plot.drawing` (e.g.
    ``"benchmark.funnel"``); it is called after the disclosure gate with the gated tables (the
    main ``table`` and any ``also`` tables) and the JSON-ready ``options``, and marks suppressed
    values as suppressed, never as zero.
    """

    title: str
    draw: str
    table: str
    alt: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    also: tuple[str, ...] = ()

    @property
    def data(self) -> str:
        return self.table

    def meta(self) -> dict[str, Any]:
        return {"title": self.title, "alt": self.alt, "data": self.table, "draw": self.draw,
                "options": _jsonable(self.options), "also": list(self.also)}


@dataclass(frozen=True)
class Document:
    """A document (e.g. a model card) as a step declares it: a named rendering of its gated
    tables and values into Markdown, registered like a `Chart`'s drawing."""

    render: str
    tables: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        return {
            "render": self.render,
            "tables": list(self.tables),
            "values": {k: slot_to_dict(v) for k, v in self.values.items()},
            "options": _jsonable(self.options),
        }


# --------------------------------------------------------------------------- numbers in words


@dataclass(frozen=True)
class Count:
    """A number of records or people in a sentence, metric or document, not taken from a table.

    ``where`` gives the conditions it counts under within ``population`` (see `Keys`): the
    gate suppresses it when it is small or when the same count is suppressed in any table,
    rounds it with the table counts, and treats the total it implies as known.
    """

    value: int | float
    where: dict[str, Any] = field(default_factory=dict)
    population: str = ""


@dataclass(frozen=True)
class Cell:
    """A table cell quoted in a sentence: the gate renders what the gated table publishes.

    ``row`` is the row's position, or the values of its label columns (``{"unit": "North"}``).
    """

    table: str
    column: str
    row: int | dict[str, Any]
    format: str = ""


@dataclass(frozen=True)
class Value:
    """A statistic in a sentence (a rate, mean, p-value...), shown with ``format`` (a Python
    format spec such as ``".1%"``); withheld when any count in ``sources`` is suppressed.

    The value may be text derived from counts ("North (above the limits)"), shown as it is and
    withheld in the same way.
    """

    value: float | str | None
    format: str = ".3g"
    sources: tuple[Count | Cell, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))


@dataclass(frozen=True)
class Items:
    """A list in a sentence ("North, South and West"): items that are withheld are left out
    and counted ("and 2 more too small to name"); withheld only when every item is."""

    items: tuple[Count | Cell | Value | str, ...]
    more: str = "{n} more too small to name"

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


def share(part: Count | Cell, whole: Count | Cell, value: float | None = None, format: str = ".1%") -> Value:
    """The share *part* of *whole* as a `Value` withheld with either count."""
    if value is None:
        a, b = (getattr(x, "value", None) for x in (part, whole))
        value = (a / b) if a is not None and b else None
    return Value(value, format, (part, whole))


Slot = Count | Cell | Value | Items | str


@dataclass(frozen=True)
class Sentence:
    """A sentence whose numbers sit in named slots (``"{k} of {n} units ..."``).

    The gate renders it: counts suppressed or rounded anywhere are suppressed or rounded here
    too. When a slot is withheld the ``fallback`` sentence (which may have slots of its own) is
    used, or the slot reads "[suppressed]". Plain-text slots are scanned for personal data.
    """

    template: str
    slots: dict[str, Slot] = field(default_factory=dict)
    fallback: Sentence | str | None = None

    def __post_init__(self) -> None:
        import string

        names = {f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None}
        missing = names - set(self.slots)
        if missing:
            raise ValueError(f"sentence {self.template!r} has no value for {sorted(missing)}")
        for name, slot in self.slots.items():
            if not isinstance(slot, (Count, Cell, Value, Items, str)):
                raise TypeError(
                    f"slot {name!r} of {self.template!r} is a {type(slot).__name__}: give a number of "
                    "records as Count(...) or a table cell as Cell(...), any other number as "
                    "Value(...), and text as str"
                )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"template": self.template, "slots": {k: slot_to_dict(v) for k, v in self.slots.items()}}
        if self.fallback is not None:
            out["fallback"] = self.fallback if isinstance(self.fallback, str) else self.fallback.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sentence:
        fallback = data.get("fallback")
        return cls(
            template=data["template"],
            slots={k: slot_from_dict(v) for k, v in data.get("slots", {}).items()},
            fallback=fallback if fallback is None or isinstance(fallback, str) else cls.from_dict(fallback),
        )


def say(template: str, *, fallback: Sentence | str | None = None, **slots: Slot) -> Sentence:
    """A `Sentence`: ``say("{n} records, {share} with the outcome.", n=Count(2000), share=...)``."""
    return Sentence(template, slots, fallback)


def slot_to_dict(slot: Any) -> Any:
    if isinstance(slot, str):
        return slot
    if isinstance(slot, Count):
        return {"type": "count", "value": _json_number(slot.value), "where": _jsonable(slot.where),
                "population": slot.population}
    if isinstance(slot, Cell):
        return {"type": "cell", "table": slot.table, "column": slot.column, "row": _jsonable(slot.row),
                "format": slot.format}
    if isinstance(slot, Value):
        return {"type": "value", "value": _json_number(slot.value), "format": slot.format,
                "sources": [slot_to_dict(s) for s in slot.sources]}
    if isinstance(slot, Items):
        return {"type": "items", "items": [slot_to_dict(s) for s in slot.items], "more": slot.more}
    if isinstance(slot, (int, float)):
        return {"type": "value", "value": _json_number(float(slot)), "format": ".6g", "sources": []}
    raise TypeError(f"not a slot: {slot!r}")


def slot_from_dict(data: Any) -> Any:
    if isinstance(data, str):
        return data
    kind = data.get("type")
    if kind == "count":
        return Count(data["value"], dict(data.get("where") or {}), data.get("population", ""))
    if kind == "cell":
        return Cell(data["table"], data["column"], data["row"], data.get("format", ""))
    if kind == "value":
        value = data.get("value")
        return Value(math.nan if value is None else value, data.get("format", ".3g"),
                     tuple(slot_from_dict(s) for s in data.get("sources", [])))
    if kind == "items":
        return Items(tuple(slot_from_dict(s) for s in data.get("items", [])), data.get("more", ""))
    raise ValueError(f"unknown slot {data!r}")


def _text_to_dict(item: str | Sentence) -> Any:
    return item if isinstance(item, str) else item.to_dict()


def _text_from_dict(item: Any) -> str | Sentence:
    return item if isinstance(item, str) else Sentence.from_dict(item)


@dataclass(frozen=True)
class Finding:
    """The result of one step: before the disclosure gate as a step returns it (sentences with
    slots, declared charts and documents), after it as the pack publishes it (plain text,
    drawn figures)."""

    step: str
    title: str
    headlines: list[str | Sentence]
    id: str = ""
    method: str = ""
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Figure | Chart] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    caveats: list[str | Sentence] = field(default_factory=list)
    documents: dict[str, str | Document] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: the step's records, as the gate names their population (set by the runner)
    population: str = ""
    #: after the gate: the kind of each metric ("count", "rate", "statistic")
    metric_kinds: dict[str, str] = field(default_factory=dict)
    #: objects a step made that are never published (e.g. a fitted model); stored with skops
    #: beside the finding, never written to a pack
    artifacts: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, figure in self.figures.items():
            if figure.data is not None and figure.data not in self.tables:
                raise ValueError(f"figure {name!r} names table {figure.data!r}, which is missing")
            for extra in getattr(figure, "also", ()):
                if extra not in self.tables:
                    raise ValueError(f"figure {name!r} names table {extra!r}, which is missing")
        for name, doc in self.documents.items():
            for t in getattr(doc, "tables", ()):
                if t not in self.tables:
                    raise ValueError(f"document {name!r} names table {t!r}, which is missing")

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    @property
    def gated(self) -> bool:
        """True when nothing in it still needs the gate (plain text, drawn figures, numbers)."""
        return (
            all(isinstance(h, str) for h in [*self.headlines, *self.caveats])
            and all(isinstance(f, Figure) for f in self.figures.values())
            and all(isinstance(d, str) for d in self.documents.values())
            and all(not isinstance(v, (Count, Cell, Value)) for v in self.metrics.values())
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (tables and figures by name, not their content)."""
        return {
            "id": self.id,
            "step": self.step,
            "title": self.title,
            "headlines": [_text_to_dict(h) for h in self.headlines],
            "method": self.method,
            "metrics": {k: _metric_to_dict(v) for k, v in self.metrics.items()},
            "caveats": [_text_to_dict(c) for c in self.caveats],
            "tables": {name: table.meta() for name, table in self.tables.items()},
            "figures": {name: figure.meta() for name, figure in self.figures.items()},
            "documents": sorted(self.documents),
            "params": _jsonable(self.params),
            "provenance": _jsonable(self.provenance),
        }


def _metric_to_dict(value: Any) -> Any:
    if isinstance(value, (Count, Cell, Value)):
        return slot_to_dict(value)
    return _json_number(value)


def _metric_from_dict(value: Any) -> Any:
    if isinstance(value, dict):
        return slot_from_dict(value)
    return math.nan if value is None else value


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _json_number(value.item())
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------------------- storage


def save_finding(finding: Finding, folder: str | Path) -> Path:
    """Write a finding to *folder* atomically (replacing an earlier copy)."""
    folder = Path(folder)
    with atomic_dir(folder, replace=True) as tmp:
        (tmp / "tables").mkdir()
        (tmp / "figures").mkdir()
        (tmp / "documents").mkdir()
        for name, table in finding.tables.items():
            table.frame.write_parquet(tmp / "tables" / f"{name}.parquet")
        for name, figure in finding.figures.items():
            if isinstance(figure, Figure):
                (tmp / "figures" / f"{name}.png").write_bytes(figure.png)
                if figure.svg is not None:
                    (tmp / "figures" / f"{name}.svg").write_bytes(figure.svg)
        for name, text in finding.documents.items():
            if isinstance(text, str):
                (tmp / "documents" / f"{name}.md").write_text(text, encoding="utf-8")
        if finding.artifacts:
            from expedition._artifacts import save_artifacts

            save_artifacts(finding.artifacts, tmp / "artifacts")
        record = finding.to_dict()
        record["format"] = FINDING_FORMAT
        record["population"] = finding.population
        record["documents"] = {
            name: None if isinstance(doc, str) else doc.meta() for name, doc in finding.documents.items()
        }
        record["artifacts"] = sorted(finding.artifacts)
        (tmp / "finding.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return folder


class StaleFinding(ValueError):
    """A stored finding written by an older version of expedition (run the step again)."""


def load_finding(folder: str | Path, *, artifacts: bool = False) -> Finding:
    """Read a finding written by `save_finding` (its artifacts too when *artifacts* is true)."""
    import polars as pl

    folder = Path(folder)
    record = json.loads((folder / "finding.json").read_text(encoding="utf-8"))
    if record.get("format") != FINDING_FORMAT:
        raise StaleFinding(f"{folder} holds a finding in format {record.get('format')}, not {FINDING_FORMAT}")
    tables = {
        name: Table.from_meta(pl.read_parquet(folder / "tables" / f"{name}.parquet"), meta)
        for name, meta in record["tables"].items()
    }
    figures: dict[str, Figure | Chart] = {}
    for name, meta in record["figures"].items():
        if "draw" in meta:
            figures[name] = Chart(
                title=meta["title"], draw=meta["draw"], table=meta["data"], alt=meta.get("alt", ""),
                options=meta.get("options") or {}, also=tuple(meta.get("also") or ()),
            )
            continue
        svg_path = folder / "figures" / f"{name}.svg"
        figures[name] = Figure(
            title=meta["title"],
            png=(folder / "figures" / f"{name}.png").read_bytes(),
            svg=svg_path.read_bytes() if svg_path.exists() else None,
            alt=meta.get("alt", ""),
            data=meta.get("data"),
        )
    documents: dict[str, str | Document] = {}
    for name, meta in (record.get("documents") or {}).items():
        if meta is None:
            documents[name] = (folder / "documents" / f"{name}.md").read_text(encoding="utf-8")
        else:
            documents[name] = Document(
                render=meta["render"], tables=tuple(meta.get("tables") or ()),
                values={k: slot_from_dict(v) for k, v in (meta.get("values") or {}).items()},
                options=meta.get("options") or {},
            )
    loaded = {}
    if artifacts:
        from expedition._artifacts import load_artifacts

        loaded = load_artifacts(folder / "artifacts", record.get("artifacts", []))
    return Finding(
        id=record["id"],
        step=record["step"],
        title=record["title"],
        headlines=[_text_from_dict(h) for h in record["headlines"]],
        method=record.get("method", ""),
        tables=tables,
        figures=figures,
        metrics={k: _metric_from_dict(v) for k, v in record["metrics"].items()},
        caveats=[_text_from_dict(c) for c in record["caveats"]],
        documents=documents,
        params=record["params"],
        provenance=record["provenance"],
        population=record.get("population", ""),
        artifacts=loaded,
    )
