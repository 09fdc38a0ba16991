"""Statistical disclosure control: the one gate every published table, figure and sentence passes.

``apply(finding, rules)`` returns a safe copy of a finding and a log of every change, each with
its reason:

* identifier columns are removed, and so are the columns that hold a magnitude's largest
  contributions (``Table.contributors``, used only for the dominance and p% rules);
* primary suppression: counts above zero and below ``min_count`` (and zeros, when
  ``zeros_disclosive``); a count published beside the count it is part of (a rate's two
  counts, e.g. outcome_n of n) when the rest, n − outcome_n, is below ``min_count``; magnitude
  cells failing the (n, k) dominance rule or the p% rule;
* secondary suppression (`expedition.disclosure.cells`): every total along a table's
  dimensions is assumed known, and further cells are hidden until no suppressed cell can be
  worked out from the totals and the published cells — one-way tables and two-way tables with
  row, column and grand totals;
* rates, percentages and statistics computed from a suppressed cell (``Table.denominators``)
  are suppressed too;
* counts are rounded to ``round_to`` (half up, never down into the suppressed range);
* free text (headlines, caveats, method, titles, text and label columns, documents) is scanned
  and personal data redacted (`expedition.disclosure.text`);
* a figure whose data table changed is withheld, since its picture would show the old numbers.

The gate is idempotent: passing its output through it again changes nothing, so steps draw
their figures from ``safe_table(...)`` and those figures survive the pack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expedition.config import DisclosureConfig
from expedition.disclosure.cells import Need, protect_grid, protect_line
from expedition.disclosure.text import redact
from expedition.finding import Finding, Table

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "GatedFinding",
    "GatedTable",
    "Suppression",
    "apply",
    "apply_detailed",
    "gate_table",
    "is_small",
    "mask_counts",
    "safe_table",
]

#: Log entries that change no published value (a figure drawn from the table is still right).
_STRUCTURAL = {"contributors"}


@dataclass(frozen=True)
class Suppression:
    """One change the gate made, and why. Never holds the value it hid."""

    finding: str
    where: str
    reason: str
    column: str | None = None
    row: int | None = None
    rule: str = ""
    labels: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "finding": self.finding,
            "where": self.where,
            "rule": self.rule,
            "column": self.column,
            "row": self.row,
            "reason": self.reason,
        }
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


def is_small(value: Any, min_count: int) -> bool:
    return value is not None and 0 < value < min_count


def mask_counts(counts: list[int], min_count: int) -> list[int | None]:
    """Primary suppression of a list of counts: values in (0, min_count) become None."""
    return [None if is_small(c, min_count) else c for c in counts]


# --------------------------------------------------------------------------- structure


@dataclass
class _Block:
    """One table to protect: a line (one-way) or a grid (two-way) of rows of the frame."""

    rows: list[int]
    grid: dict[tuple[Any, Any], int] | None
    where: str


def infer_dimensions(frame: pl.DataFrame, labels: list[str]) -> list[str]:
    """The label columns a table crosses, when a step did not say (see ``Table.dimensions``).

    Two-way when, within some group of the other labels, the last two label columns each take
    two or more values and at least three quarters of their combinations are present (a
    cross-tabulation, perhaps with some zero cells left out); else one-way along the last label
    (a stack of one-way tables, such as categories per variable). A two-way table that leaves
    out more of its zero cells should declare its ``dimensions``.
    """
    if len(labels) <= 1:
        return list(labels)
    a, b = labels[-2], labels[-1]
    outer = labels[:-2]
    keys = frame.select(outer).rows() if outer else [()] * frame.height
    groups: dict[tuple, tuple[set, set, set]] = {}
    for key, av, bv in zip(keys, frame[a].to_list(), frame[b].to_list()):
        rows, cols, pairs = groups.setdefault(key, (set(), set(), set()))
        rows.add(av)
        cols.add(bv)
        pairs.add((av, bv))
    for rows, cols, pairs in groups.values():
        if len(rows) >= 2 and len(cols) >= 2 and len(pairs) >= 0.75 * len(rows) * len(cols):
            return [a, b]
    return [b]


def _blocks(frame: pl.DataFrame, labels: list[str], dims: list[str]) -> list[_Block]:
    groups_by = [c for c in labels if c not in dims]
    keys = frame.select(groups_by).rows() if groups_by else [()] * frame.height
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    columns = {d: frame[d].to_list() for d in dims}
    blocks = []
    for key, rows in groups.items():
        where = ", ".join(f"{c} {v}" for c, v in zip(groups_by, key))
        if len(dims) == 2:
            grid: dict[tuple[Any, Any], int] = {}
            for i in rows:
                cell = (columns[dims[0]][i], columns[dims[1]][i])
                if cell in grid:
                    grid = {}
                    break
                grid[cell] = i
            if len({r for r, _ in grid}) >= 2 and len({c for _, c in grid}) >= 2:
                blocks.append(_Block(rows, grid, where))
                continue
        blocks.append(_Block(rows, None, where))
    return blocks


def _numbers(series: pl.Series) -> list[float | None]:
    out: list[float | None] = []
    for value in series.to_list():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        else:
            out.append(float(value))
    return out


def _protect(
    blocks: list[_Block], values: list[float | None], primary: dict[int, Need]
) -> tuple[set[int], list[_Block]]:
    """Secondary cells over every block; and the blocks whose totals defeat full protection."""
    hidden = {i for i, v in enumerate(values) if v is None} | set(primary)
    secondary: set[int] = set()
    incomplete = []
    for block in blocks:
        if not any(i in primary for i in block.rows):
            continue
        if block.grid is not None:
            added, complete = protect_grid(block.grid, values, primary, hidden)
        else:
            added, complete = protect_line(block.rows, values, primary, hidden)
        hidden |= added
        secondary |= added
        if not complete:
            incomplete.append(block)
    return secondary, incomplete


# --------------------------------------------------------------------------- magnitude rules


def _sensitive_magnitude(total: float, tops: list[float | None], rules: DisclosureConfig) -> str | None:
    """Why a magnitude cell is sensitive under the dominance and p% rules (None when it is not)."""
    if rules.dominance is None and rules.p_percent is None:
        return None
    xs = sorted((0.0 if x is None else x for x in tops), reverse=True)
    if total < 0 or any(x < 0 for x in xs):
        return "negative contributions: the dominance rules cannot be applied"
    if total == 0:
        return None
    if rules.dominance is not None:
        n, k = rules.dominance.n, rules.dominance.k
        if len(xs) < n:
            return f"only {len(xs)} largest contribution(s) given; the ({n}, {k:g}%) dominance rule needs {n}"
        if sum(xs[:n]) > k / 100 * total + 1e-12:
            return f"dominance: its {n} largest contributions exceed {k:g}% of it"
    if rules.p_percent is not None:
        if len(xs) < 2:
            return "only one largest contribution given; the p% rule needs two"
        rest = total - xs[0] - xs[1]
        if rest < rules.p_percent / 100 * xs[0] - 1e-12:
            return f"p% rule: the rest of it is within {rules.p_percent:g}% of its largest contribution"
    return None


# --------------------------------------------------------------------------- the table gate


@dataclass
class GatedTable:
    """A table after the gate: the safe table (None if nothing could be published), the log,
    and for each column the rows that are suppressed (hidden now or already hidden)."""

    table: Table | None
    log: list[Suppression]
    suppressed: dict[str, list[bool]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(entry.rule not in _STRUCTURAL for entry in self.log)


def _round(value: float, base: int, min_count: int) -> float:
    rounded = math.floor(value / base + 0.5) * base
    if value > 0 and 0 < rounded < min_count:
        rounded = math.ceil(min_count / base) * base  # never round into the suppressed range
    if value > 0 and rounded == 0 and min_count <= 1:
        rounded = 0
    return rounded


def gate_table(
    name: str,
    table: Table,
    rules: DisclosureConfig,
    finding_id: str = "",
    *,
    allow: Iterable[str] = (),
) -> GatedTable:
    """Pass one table through disclosure control."""
    import polars as pl

    allow = list(allow) + list(rules.public_names)
    where = f"table {name}"
    log: list[Suppression] = []
    frame = table.frame
    kinds = dict(table.kinds)
    denominators = {k: list(v) for k, v in table.denominators.items()}

    def note(reason: str, rule: str, column: str | None = None, row: int | None = None) -> None:
        labels = None
        if row is not None:
            labels = {c: redact(str(frame[c][row]), allow)[0] for c in label_cols}
        log.append(Suppression(finding_id, where, reason, column, row, rule, labels))

    label_cols: list[str] = []
    identifiers = [c for c, k in kinds.items() if k == "identifier"]
    for column in identifiers:
        note("identifier column removed: identifiers are never published", "identifier", column)
    tops = {m: list(cols) for m, cols in table.contributors.items()}
    top_columns = {c for cols in tops.values() for c in cols if c in kinds}
    top_values = {c: _numbers(frame[c]) for c in top_columns}
    for magnitude, cols in tops.items():
        note(
            f"largest contributions to {magnitude} removed (used only for the dominance rules)",
            "contributors",
            ", ".join(cols),
        )
    dropped = set(identifiers) | top_columns
    if dropped:
        frame = frame.drop([c for c in frame.columns if c in dropped])
        for column in dropped:
            kinds.pop(column, None)
    denominators = {
        k: [s for s in v if s in kinds] for k, v in denominators.items() if k in kinds
    }
    if not kinds:
        return GatedTable(None, log)

    label_cols = [c for c, k in kinds.items() if k in {"label", "date"}]
    if table.dimensions is not None:
        dims = [d for d in table.dimensions if d in label_cols]
    else:
        dims = infer_dimensions(frame, label_cols)
    blocks = _blocks(frame, label_cols, dims)
    two_way = any(b.grid is not None for b in blocks)
    secondary_reason = (
        "secondary: hidden so that row and column totals cannot reveal a suppressed cell"
        if two_way
        else "secondary: hidden so that the total cannot reveal a suppressed cell"
    )
    m = rules.min_count
    hidden: dict[str, list[bool]] = {}
    originally_null: dict[str, list[bool]] = {}

    def protect(column: str, values: list[float | None], primary: dict[int, Need], why: dict[int, str]) -> None:
        secondary, incomplete = _protect(blocks, values, primary)
        for i in sorted(primary):
            note(why[i], "primary", column, i)
        for i in sorted(secondary):
            if values[i] is not None:
                note(secondary_reason, "secondary", column, i)
        for block in incomplete:
            note(
                "the totals here are too small to protect every suppressed cell fully"
                + (f" ({redact(block.where, allow)[0]})" if block.where else "")
                + "; do not publish those totals",
                "warning",
                column,
            )
        hidden[column] = [
            values[i] is None or i in primary or i in secondary for i in range(len(values))
        ]

    wholes = _part_of(frame, kinds, denominators)
    for column in [c for c, k in kinds.items() if k == "count"]:
        values = _numbers(frame[column])
        originally_null[column] = [v is None for v in values]
        whole = _numbers(frame[wholes[column]]) if column in wholes else None
        primary: dict[int, Need] = {}
        why: dict[int, str] = {}
        for i, v in enumerate(values):
            if v is None:
                continue
            if 0 < v < m:
                primary[i] = Need(upper=m - v, lower=min(1.0, v))
                why[i] = f"primary: count below the threshold of {m}"
            elif v == 0 and rules.zeros_disclosive:
                primary[i] = Need(upper=float(m), lower=0.0)
                why[i] = "primary: zero count (zeros are treated as disclosive)"
            elif whole is not None and whole[i] is not None:
                rest = whole[i] - v  # published beside its whole, the part reveals the rest
                if 0 < rest < m or (rest == 0 and v > 0 and rules.zeros_disclosive):
                    primary[i] = Need(upper=min(1.0, rest), lower=float(m - rest))
                    why[i] = (f"primary: {wholes[column]} minus this count is below the threshold "
                              f"of {m} (the complement)")
        protect(column, values, primary, why)

    share = (rules.p_percent or 10.0) / 100
    for magnitude, cols in tops.items():
        if magnitude not in kinds:
            continue
        values = _numbers(frame[magnitude])
        originally_null[magnitude] = [v is None for v in values]
        sources = [s for s in denominators.get(magnitude, []) if s in hidden]
        primary, why = {}, {}
        for i, v in enumerate(values):
            if v is None:
                continue
            if any(hidden[s][i] for s in sources):
                reason: str | None = "primary: its number of contributors is suppressed"
            else:
                reason = _sensitive_magnitude(v, [top_values[c][i] for c in cols if c in top_values], rules)
                reason = f"primary: {reason}" if reason else None
            if reason:
                room = max(share * abs(v), 1e-6)
                primary[i] = Need(upper=room, lower=min(room, abs(v)))
                why[i] = reason
        protect(magnitude, values, primary, why)

    derived: dict[str, list[bool]] = {}
    for _ in range(len(denominators) + 1):
        for column, sources in denominators.items():
            if column in hidden:
                continue
            masks = [hidden.get(s) or derived.get(s) for s in sources]
            masks = [mask for mask in masks if mask is not None]
            if masks:
                derived[column] = [any(flags) for flags in zip(*masks)]
    for column, mask in derived.items():
        values = frame[column].to_list()
        newly = [i for i, flag in enumerate(mask) if flag and values[i] is not None]
        if newly:
            note(
                f"computed from a suppressed cell ({len(newly)} row{'s' if len(newly) != 1 else ''})",
                "derived",
                column,
            )
        hidden[column] = mask

    updates = []
    for column, mask in hidden.items():
        if any(mask):
            updates.append(
                pl.when(pl.Series(mask, dtype=pl.Boolean)).then(None).otherwise(pl.col(column)).alias(column)
            )
    if updates:
        frame = frame.with_columns(updates)

    if rules.round_to:
        base = rules.round_to
        for column in [c for c, k in kinds.items() if k == "count"]:
            before = frame[column].to_list()
            after = [None if v is None else _round(float(v), base, m) for v in before]
            changed = sum(1 for a, b in zip(before, after) if a is not None and float(a) != b)
            if changed:
                dtype = frame.schema[column]
                series = pl.Series(column, after, dtype=pl.Float64)
                frame = frame.with_columns(series.cast(dtype) if dtype.is_numeric() else series)
                note(f"rounded to the nearest {base} ({changed} cells changed)", "rounded", column)

    for column in [c for c, k in kinds.items() if k in {"text", "label"}]:
        if frame.schema[column] != pl.String:
            continue
        cleaned = []
        for i, value in enumerate(frame[column].to_list()):
            if value is None:
                cleaned.append(None)
                continue
            text, found = redact(value, allow)
            if found:
                note("personal data redacted: " + ", ".join(sorted(set(found))), "redacted", column, i)
            cleaned.append(text)
        if cleaned != frame[column].to_list():
            frame = frame.with_columns(pl.Series(column, cleaned, dtype=pl.String))

    title, _ = redact(table.title, allow)
    description, _ = redact(table.description, allow)
    safe = Table(
        frame=frame,
        kinds=kinds,
        title=title,
        description=description,
        denominators=denominators,
        dimensions=dims,
    )
    suppressed = {
        column: [flag for flag in mask] for column, mask in hidden.items() if any(mask)
    }
    return GatedTable(safe, log, suppressed)


def _part_of(frame: pl.DataFrame, kinds: dict[str, str], denominators: dict[str, list[str]]) -> dict[str, str]:
    """Count columns that are part of another count in the same row: {part: whole}.

    A rate computed from two counts (``denominators={"rate": ["n", "outcome_n"]}``) pairs a part
    with its whole when one is never larger than the other; publishing both reveals the rest
    (n − outcome_n), which must pass the threshold too.
    """
    wholes: dict[str, str] = {}
    for sources in denominators.values():
        counts = [s for s in sources if kinds.get(s) == "count"]
        if len(counts) != 2 or counts[0] == counts[1]:
            continue
        a, b = (_numbers(frame[c]) for c in counts)
        pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
        if not pairs:
            continue
        if all(x <= y for x, y in pairs):
            wholes.setdefault(counts[0], counts[1])
        elif all(y <= x for x, y in pairs):
            wholes.setdefault(counts[1], counts[0])
    return wholes


def safe_table(table: Table, rules: DisclosureConfig) -> Table:
    """The table as the gate would publish it (for steps that draw figures from it)."""
    gated = gate_table("", table, rules, "")
    if gated.table is None:
        raise ValueError("a table made only of identifier columns cannot be published")
    return gated.table


# --------------------------------------------------------------------------- the finding gate


@dataclass
class GatedFinding:
    finding: Finding
    log: list[Suppression]
    suppressed: dict[str, dict[str, list[bool]]]


def _redact_all(
    texts: list[str], finding_id: str, where: str, allow: list[str]
) -> tuple[list[str], list[Suppression]]:
    out, log = [], []
    for text in texts:
        cleaned, kinds = redact(text, allow)
        if kinds:
            log.append(
                Suppression(
                    finding_id, where, "personal data redacted: " + ", ".join(sorted(set(kinds))),
                    rule="redacted",
                )
            )
        out.append(cleaned)
    return out, log


def apply_detailed(
    finding: Finding, rules: DisclosureConfig, *, allow: Iterable[str] = ()
) -> GatedFinding:
    """Pass a finding through disclosure control, keeping which cells each table lost."""
    allow = list(allow) + list(rules.public_names)
    log: list[Suppression] = []
    tables: dict[str, Table] = {}
    changed: set[str] = set()
    suppressed: dict[str, dict[str, list[bool]]] = {}
    for name, table in finding.tables.items():
        gated = gate_table(name, table, rules, finding.id, allow=allow)
        log.extend(gated.log)
        if gated.changed:
            changed.add(name)
        if gated.table is not None:
            tables[name] = gated.table
            suppressed[name] = gated.suppressed

    figures = {}
    for name, figure in finding.figures.items():
        if figure.data is not None and (figure.data in changed or figure.data not in tables):
            log.append(
                Suppression(
                    finding.id,
                    f"figure {name}",
                    f"withheld: its data table {figure.data!r} had cells suppressed or changed",
                    rule="withheld",
                )
            )
            continue
        if figure.svg is not None and _svg_has_personal_data(figure.svg, allow):
            log.append(
                Suppression(
                    finding.id,
                    f"figure {name}",
                    "withheld: its picture contains personal data",
                    rule="withheld",
                )
            )
            continue
        title, found_title = redact(figure.title, allow)
        alt, found_alt = redact(figure.alt, allow)
        if found_title or found_alt:
            log.append(
                Suppression(
                    finding.id, f"figure {name}",
                    "personal data redacted: " + ", ".join(sorted(set(found_title + found_alt))),
                    rule="redacted",
                )
            )
        figures[name] = figure if (title, alt) == (figure.title, figure.alt) else _retitled(figure, title, alt)

    headlines, entries = _redact_all(finding.headlines, finding.id, "headlines", allow)
    log.extend(entries)
    caveats, entries = _redact_all(finding.caveats, finding.id, "caveats", allow)
    log.extend(entries)
    (title,), entries = _redact_all([finding.title], finding.id, "title", allow)
    log.extend(entries)
    (method,), entries = _redact_all([finding.method], finding.id, "method", allow)
    log.extend(entries)
    documents = {}
    for name, text in finding.documents.items():
        (cleaned,), entries = _redact_all([text], finding.id, f"document {name}", allow)
        log.extend(entries)
        documents[name] = cleaned
    safe = finding.with_(
        title=title,
        method=method,
        tables=tables,
        figures=figures,
        headlines=headlines,
        caveats=caveats,
        documents=documents,
        artifacts={},
    )
    return GatedFinding(safe, log, suppressed)


def _svg_has_personal_data(svg: bytes, allow: list[str]) -> bool:
    from expedition.disclosure.text import scan_text

    try:
        text = svg.decode("utf-8")
    except UnicodeDecodeError:
        return False  # not an SVG the pack will publish
    return bool(scan_text(text, allow, markup=True))


def _retitled(figure: Any, title: str, alt: str) -> Any:
    from dataclasses import replace

    return replace(figure, title=title, alt=alt)


def apply(
    finding: Finding, rules: DisclosureConfig, *, allow: Iterable[str] = ()
) -> tuple[Finding, list[Suppression]]:
    """Pass a finding through disclosure control; return the safe finding and the log."""
    gated = apply_detailed(finding, rules, allow=allow)
    return gated.finding, gated.log
