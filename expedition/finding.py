"""The `Finding`: what one analysis step hands to the rest of the tool.

A finding carries a step's result as data, not as a rendered report: plain-English headline
sentences built from the numbers, tables (Polars frames whose columns are each marked with their
*kind* so the disclosure gate knows what a count is), figures (PNG and SVG bytes, each pointing at
the table that holds its data), metrics, caveats, the parameters used and the provenance.

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

FINDING_FORMAT = 1


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
    """

    frame: pl.DataFrame
    kinds: dict[str, str]
    title: str = ""
    description: str = ""
    denominators: dict[str, str | list[str]] = field(default_factory=dict)
    dimensions: list[str] | None = None
    contributors: dict[str, list[str]] = field(default_factory=dict)

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
        return meta


@dataclass(frozen=True)
class Figure:
    """A rendered figure. ``data`` names the table in the same finding that holds its numbers."""

    title: str
    png: bytes
    svg: bytes | None = None
    alt: str = ""
    data: str | None = None

    def meta(self) -> dict[str, Any]:
        return {"title": self.title, "alt": self.alt, "data": self.data}


@dataclass(frozen=True)
class Finding:
    """The result of one step, ready for disclosure control and the findings pack."""

    step: str
    title: str
    headlines: list[str]
    id: str = ""
    method: str = ""
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    documents: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: objects a step made that are never published (e.g. a fitted model); stored with skops
    #: beside the finding, never written to a pack
    artifacts: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, figure in self.figures.items():
            if figure.data is not None and figure.data not in self.tables:
                raise ValueError(f"figure {name!r} names table {figure.data!r}, which is missing")

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (tables and figures by name, not their content)."""
        return {
            "id": self.id,
            "step": self.step,
            "title": self.title,
            "headlines": list(self.headlines),
            "method": self.method,
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
            "caveats": list(self.caveats),
            "tables": {name: table.meta() for name, table in self.tables.items()},
            "figures": {name: figure.meta() for name, figure in self.figures.items()},
            "documents": sorted(self.documents),
            "params": _jsonable(self.params),
            "provenance": _jsonable(self.provenance),
        }


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
            (tmp / "figures" / f"{name}.png").write_bytes(figure.png)
            if figure.svg is not None:
                (tmp / "figures" / f"{name}.svg").write_bytes(figure.svg)
        for name, text in finding.documents.items():
            (tmp / "documents" / f"{name}.md").write_text(text, encoding="utf-8")
        if finding.artifacts:
            from expedition._artifacts import save_artifacts

            save_artifacts(finding.artifacts, tmp / "artifacts")
        record = finding.to_dict()
        record["format"] = FINDING_FORMAT
        record["artifacts"] = sorted(finding.artifacts)
        (tmp / "finding.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return folder


def load_finding(folder: str | Path, *, artifacts: bool = False) -> Finding:
    """Read a finding written by `save_finding` (its artifacts too when *artifacts* is true)."""
    import polars as pl

    folder = Path(folder)
    record = json.loads((folder / "finding.json").read_text(encoding="utf-8"))
    tables = {}
    for name, meta in record["tables"].items():
        tables[name] = Table(
            frame=pl.read_parquet(folder / "tables" / f"{name}.parquet"),
            kinds=meta["kinds"],
            title=meta.get("title", ""),
            description=meta.get("description", ""),
            denominators=meta.get("denominators", {}),
            dimensions=meta.get("dimensions"),
            contributors=meta.get("contributors", {}),
        )
    figures = {}
    for name, meta in record["figures"].items():
        svg_path = folder / "figures" / f"{name}.svg"
        figures[name] = Figure(
            title=meta["title"],
            png=(folder / "figures" / f"{name}.png").read_bytes(),
            svg=svg_path.read_bytes() if svg_path.exists() else None,
            alt=meta.get("alt", ""),
            data=meta.get("data"),
        )
    documents = {
        name: (folder / "documents" / f"{name}.md").read_text(encoding="utf-8")
        for name in record.get("documents", [])
    }
    loaded = {}
    if artifacts:
        from expedition._artifacts import load_artifacts

        loaded = load_artifacts(folder / "artifacts", record.get("artifacts", []))
    return Finding(
        id=record["id"],
        step=record["step"],
        title=record["title"],
        headlines=record["headlines"],
        method=record.get("method", ""),
        tables=tables,
        figures=figures,
        metrics={k: (math.nan if v is None else v) for k, v in record["metrics"].items()},
        caveats=record["caveats"],
        documents=documents,
        params=record["params"],
        provenance=record["provenance"],
        artifacts=loaded,
    )
