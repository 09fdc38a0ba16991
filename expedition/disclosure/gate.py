"""The disclosure gate over a set of findings: one plan for every count they publish.

`gate_findings(findings, rules)` decides, for the findings of a pack together (or one finding
when the runner gates a step's result), which cells to suppress, then renders what may be
published: tables with suppressed cells, sentences and metrics with their numbers checked,
documents' values, and the log of every change.

1. **Tables, one by one** (as `gate_table` always did): identifiers and contributors dropped;
   primary cells (counts below the threshold, zeros where zeros are disclosive, a part whose
   rest is small, magnitude cells failing the dominance or p% rule); secondary cells so the
   totals along the table's dimensions cannot give a primary cell away
   (`expedition.disclosure.cells`). A primary cell must stay uncertain by the threshold: a
   reader can put it anywhere from 0 to ``min_count``.
2. **Across the pack.** A count's key (`expedition.finding.Keys`) is the same wherever it is
   published: suppressed in one place, it is suppressed everywhere, and every table holding it
   protects it in turn; counts in sentences and metrics (`Count`) are keys too. Then the auditor
   (`expedition.disclosure.system.audit`) works out what a reader with every published number can
   derive; a suppressed count pinned, or a small count given away by subtraction, makes the gate
   hide the cheapest published count that would stop it, and it looks again.
3. **Derived values** — rates and statistics computed from a suppressed count
   (``Table.denominators`` row by row, ``Table.derived`` by group) — are suppressed with it.
4. **Rounding** (``round_to``) applies to every published count, in tables, sentences,
   metrics and documents alike.
5. **Personal data** in text and label columns, titles, sentences, caveats and documents is
   redacted (`expedition.disclosure.text`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from expedition.config import DisclosureConfig
from expedition.disclosure.cells import Need, protect_grid, protect_line
from expedition.disclosure.system import Key, System, TableView, describe_key, equations, make_key
from expedition.disclosure.text import redact
from expedition.finding import Cell, Chart, Count, Document, Figure, Finding, Items, Sentence, Table, Value

if TYPE_CHECKING:
    import polars as pl

#: Log entries that change no published value (a figure drawn from the table is still right).
STRUCTURAL = {"contributors"}
#: How a withheld number reads in a sentence that has no fallback.
WITHHELD = "[suppressed]"
#: Rounds of "suppress the same count everywhere, then audit" before the gate gives up on finesse.
MAX_ROUNDS = 12


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


def primary_need(value: float, min_count: int) -> Need:
    """A primary cell must stay anywhere from 0 to the threshold for a reader."""
    return Need(upper=float(min_count - value), lower=float(value))


def secondary_need(value: float | None, min_count: int) -> Need:
    """A count hidden elsewhere must stay uncertain by the threshold here too."""
    v = 0.0 if value is None else float(value)
    half = min_count / 2
    return Need(upper=math.ceil(half), lower=min(math.floor(half), v))


def _numbers(series: pl.Series) -> list[float | None]:
    out: list[float | None] = []
    for value in series.to_list():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(None)
        else:
            out.append(float(value))
    return out


# --------------------------------------------------------------------------- table structure


@dataclass
class Block:
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


def blocks_of(frame: pl.DataFrame, labels: list[str], dims: list[str]) -> list[Block]:
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
                blocks.append(Block(rows, grid, where))
                continue
        blocks.append(Block(rows, None, where))
    return blocks


def part_of(frame: pl.DataFrame, kinds: dict[str, str], denominators: dict[str, list[str]]) -> dict[str, str]:
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


def sensitive_magnitude(total: float, tops: list[float | None], rules: DisclosureConfig) -> str | None:
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


def round_count(value: float, base: int, min_count: int) -> float:
    rounded = math.floor(value / base + 0.5) * base
    if value > 0 and 0 < rounded < min_count:
        rounded = math.ceil(min_count / base) * base  # never round into the suppressed range
    if value > 0 and rounded == 0 and min_count <= 1:
        rounded = 0
    return rounded


# --------------------------------------------------------------------------- one table's state


@dataclass
class TableState:
    """A table on its way through the gate."""

    fid: str
    name: str
    population: str
    table: Table | None  # identifiers and contributors dropped; None when nothing is left
    allow: list[str]
    log: list[Suppression] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    dims: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(default_factory=dict)
    primary: dict[str, dict[int, Need]] = field(default_factory=dict)
    why: dict[str, dict[int, str]] = field(default_factory=dict)
    forced: dict[str, dict[int, Need]] = field(default_factory=dict)
    hidden: dict[str, list[bool]] = field(default_factory=dict)
    secondary: dict[str, set[int]] = field(default_factory=dict)
    incomplete: dict[str, list[Block]] = field(default_factory=dict)
    view: TableView | None = None
    derived_hidden: dict[str, list[bool]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"table {self.name}"

    @property
    def place(self) -> str:
        return f"{self.fid}: table {self.name}" if self.fid else f"table {self.name}"

    def row_labels(self, row: int) -> dict[str, str]:
        frame = self.table.frame
        return {c: redact(str(frame[c][row]), self.allow)[0] for c in self.labels}

    def key(self, column: str, row: int) -> Key | None:
        if self.view is None or column not in self.view.counts:
            return None
        return self.view.cell_key(column, row)

    def protect(self) -> None:
        """Secondary cells for every count and magnitude column, given primary and forced cells."""
        for column, values in self.values.items():
            needs = dict(self.primary.get(column, {}))
            for row, need in self.forced.get(column, {}).items():
                if values[row] is None:
                    continue
                old = needs.get(row)
                needs[row] = need if old is None else Need(max(old.upper, need.upper), max(old.lower, need.lower))
            hidden = {i for i, v in enumerate(values) if v is None} | set(needs)
            secondary: set[int] = set()
            incomplete = []
            for block in self.blocks:
                if not any(i in needs for i in block.rows):
                    continue
                if block.grid is not None:
                    added, complete = protect_grid(block.grid, values, needs, hidden)
                else:
                    added, complete = protect_line(block.rows, values, needs, hidden)
                hidden |= added
                secondary |= added
                if not complete:
                    incomplete.append(block)
            self.secondary[column] = secondary
            self.incomplete[column] = incomplete
            # a value missing from the step's table is published as missing, not as suppressed
            self.hidden[column] = [v is not None and (i in needs or i in secondary) for i, v in enumerate(values)]

    def force(self, column: str, row: int, need: Need) -> bool:
        """Hide a cell because its count is hidden elsewhere; True if that is news."""
        if self.hidden.get(column, [False] * (row + 1))[row] and row in self.forced.get(column, {}):
            return False
        current = self.forced.setdefault(column, {})
        old = current.get(row)
        if old is not None and old.upper >= need.upper and old.lower >= need.lower:
            return False
        current[row] = need if old is None else Need(max(old.upper, need.upper), max(old.lower, need.lower))
        return True

    def release(self, released: set[Key]) -> None:
        """Publish the cells whose counts the rest of the pack pins exactly anyway: hiding a
        number a reader can work out protects nothing, and publishing it tells them nothing new."""
        if not released or self.view is None:
            return
        for column in self.view.counts:
            for row, flag in enumerate(self.hidden.get(column, [])):
                if flag and row not in self.primary.get(column, {}) and self.key(column, row) in released:
                    self.hidden[column][row] = False
                    self.forced.get(column, {}).pop(row, None)
                    self.secondary.get(column, set()).discard(row)

    def primary_keys(self) -> set[Key]:
        out: set[Key] = set()
        for column, rows in self.primary.items():
            for row in rows:
                key = self.key(column, row)
                if key is not None:
                    out.add(key)
        return out

    def refresh_view(self) -> None:
        if self.view is not None:
            for column in self.view.counts:
                self.view.hidden[column] = list(self.hidden.get(column, [False] * len(self.view.counts[column])))


def prepare_table(
    name: str, table: Table, rules: DisclosureConfig, fid: str, population: str, allow: list[str]
) -> TableState:
    """Drop what is never published and find the primary cells of one table."""
    log: list[Suppression] = []
    frame = table.frame
    kinds = dict(table.kinds)
    denominators = {k: list(v) for k, v in table.denominators.items()}
    identifiers = [c for c, k in kinds.items() if k == "identifier"]
    for column in identifiers:
        log.append(Suppression(fid, f"table {name}", "identifier column removed: identifiers are never published",
                               column, None, "identifier"))
    tops = {m: list(cols) for m, cols in table.contributors.items()}
    top_columns = {c for cols in tops.values() for c in cols if c in kinds}
    top_values = {c: _numbers(frame[c]) for c in top_columns}
    for magnitude, cols in tops.items():
        log.append(Suppression(fid, f"table {name}",
                               f"largest contributions to {magnitude} removed (used only for the dominance rules)",
                               ", ".join(cols), None, "contributors"))
    named = [c for c in kinds if c not in identifiers and redact(c, allow)[1]]
    for column in named:
        log.append(Suppression(fid, f"table {name}", "column removed: its name holds personal data",
                               None, None, "redacted"))
    dropped = set(identifiers) | top_columns | set(named)
    if dropped:
        frame = frame.drop([c for c in frame.columns if c in dropped])
        for column in dropped:
            kinds.pop(column, None)
    denominators = {k: [s for s in v if s in kinds] for k, v in denominators.items() if k in kinds}
    keys = table.keys
    if keys is not None:
        keys = replace(
            keys,
            variables={c: v for c, v in keys.variables.items() if c in kinds},
            counts={c: v for c, v in keys.counts.items() if c in kinds},
            pairs=keys.pairs if keys.pairs and all(c in kinds for c in keys.pairs) else None,
            subject=keys.subject if keys.subject in kinds else None,
        )
    derived = {
        c: d for c, d in table.derived.items()
        if c in kinds and all(s in kinds for s in d.sources) and all(b in kinds for b in d.by)
    }
    labels = [c for c, k in kinds.items() if k in {"label", "date"}]
    if table.dimensions is not None:
        dims = [d for d in table.dimensions if d in labels]
    else:
        dims = infer_dimensions(frame, labels)
    if not kinds:
        return TableState(fid, name, population, None, allow, log)
    safe = Table(frame, kinds, table.title, table.description, denominators, dims, {}, keys, derived)
    state = TableState(fid, name, population, safe, allow, log)
    state.labels, state.dims = labels, dims
    # no dimensions: the rows are not the parts of any total (a top-ten list), so there is
    # nothing for secondary suppression to protect against
    state.blocks = blocks_of(frame, labels, dims) if dims else []
    m = rules.min_count
    wholes = part_of(frame, kinds, denominators)
    for column in [c for c, k in kinds.items() if k == "count"]:
        values = _numbers(frame[column])
        state.values[column] = values
        whole = _numbers(frame[wholes[column]]) if column in wholes else None
        primary: dict[int, Need] = {}
        why: dict[int, str] = {}
        for i, v in enumerate(values):
            if v is None:
                continue
            if 0 < v < m:
                primary[i] = primary_need(v, m)
                why[i] = f"primary: count below the threshold of {m}"
            elif v == 0 and rules.zeros_disclosive:
                primary[i] = Need(upper=float(m), lower=0.0)
                why[i] = "primary: zero count (zeros are treated as disclosive)"
            elif whole is not None and whole[i] is not None:
                rest = whole[i] - v  # published beside its whole, the part reveals the rest
                if 0 < rest < m or (rest == 0 and v > 0 and rules.zeros_disclosive):
                    primary[i] = Need(upper=float(rest), lower=float(m - rest))
                    why[i] = (f"primary: {wholes[column]} minus this count is below the threshold "
                              f"of {m} (the complement)")
        state.primary[column] = primary
        state.why[column] = why
    share = (rules.p_percent or 10.0) / 100
    for magnitude, cols in tops.items():
        if magnitude not in kinds:
            continue
        values = _numbers(frame[magnitude])
        state.values[magnitude] = values
        sources = [s for s in denominators.get(magnitude, []) if s in state.primary]
        primary, why = {}, {}
        for i, v in enumerate(values):
            if v is None:
                continue
            if any(i in state.primary[s] for s in sources):
                reason: str | None = "primary: its number of contributors is suppressed"
            else:
                reason = sensitive_magnitude(v, [top_values[c][i] for c in cols if c in top_values], rules)
                reason = f"primary: {reason}" if reason else None
            if reason:
                room = max(share * abs(v), 1e-6)
                primary[i] = Need(upper=room, lower=min(room, abs(v)))
                why[i] = reason
        state.primary[magnitude] = primary
        state.why[magnitude] = why
    counts = {c: state.values[c] for c, k in kinds.items() if k == "count"}
    state.view = TableView(
        where=f"{fid}: table {name}" if fid else f"table {name}",
        population=population,
        kinds=kinds,
        labels={c: frame[c].to_list() for c in labels},
        counts=counts,
        hidden={c: [False] * len(v) for c, v in counts.items()},
        keys=keys,
        dims=dims,
    )
    return state


# --------------------------------------------------------------------------- counts in words


@dataclass
class SlotCount:
    """A `Count` quoted in a sentence, metric or document."""

    fid: str
    where: str
    key: Key
    value: float


def slot_key(slot: Count, population: str) -> Key:
    pop = population + (f"/{slot.population}" if slot.population else "")
    return make_key(pop, slot.where)


def _slots_of(item: Any) -> Iterable[Any]:
    if isinstance(item, Sentence):
        yield from item.slots.values()
        if isinstance(item.fallback, Sentence):
            yield from _slots_of(item.fallback)
    elif isinstance(item, Value):
        yield item
        for s in item.sources:
            yield from _slots_of(s)
    elif isinstance(item, Items):
        for s in item.items:
            yield from _slots_of(s)
    elif isinstance(item, (Count, Cell)):
        yield item


def _all_slots(finding: Finding) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for i, h in enumerate(finding.headlines):
        out += [(f"headline {i + 1}", s) for s in _slots_of(h)]
    for i, c in enumerate(finding.caveats):
        out += [(f"caveat {i + 1}", s) for s in _slots_of(c)]
    for name, v in finding.metrics.items():
        out += [(f"metric {name}", s) for s in _slots_of(v)]
    for name, doc in finding.documents.items():
        if isinstance(doc, Document):
            for vname, v in doc.values.items():
                out += [(f"document {name}", s) for s in _slots_of(v)]
    return out


# --------------------------------------------------------------------------- the plan


@dataclass
class GatedTable:
    """A table after the gate: the safe table (None if nothing could be published), the log,
    and for each column the rows that are suppressed (hidden now or already hidden)."""

    table: Table | None
    log: list[Suppression]
    suppressed: dict[str, list[bool]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(entry.rule not in STRUCTURAL for entry in self.log)


@dataclass
class GatedFinding:
    finding: Finding
    log: list[Suppression]
    suppressed: dict[str, dict[str, list[bool]]]
    #: counts published in sentences, metrics and documents: {"where", "key", "value"}
    published_counts: list[dict[str, Any]] = field(default_factory=list)
    #: {"table": {"column": True}} for tables whose figure data changed
    changed: set[str] = field(default_factory=set)


@dataclass
class Plan:
    rules: DisclosureConfig
    states: list[list[TableState]]
    slots: list[SlotCount]
    hidden_keys: set[Key]
    warnings: list[Suppression]


def plan_findings(
    findings: list[Finding], rules: DisclosureConfig, allow: list[str], *, audit_pack: bool = True
) -> Plan:
    """Decide which cells of every table to suppress, for these findings together."""
    m = rules.min_count
    states: list[list[TableState]] = []
    for finding in findings:
        states.append([
            prepare_table(name, table, rules, finding.id, finding.population, allow)
            for name, table in finding.tables.items()
        ])
    slots: list[SlotCount] = []
    for finding in findings:
        for where, slot in _all_slots(finding):
            if isinstance(slot, Count) and slot.value is not None and math.isfinite(slot.value):
                slots.append(SlotCount(finding.id, where, slot_key(slot, finding.population), float(slot.value)))

    live = [s for group in states for s in group if s.table is not None]
    by_key: dict[Key, list[tuple[TableState, str, int]]] = {}
    for state in live:
        for column in state.view.counts:  # type: ignore[union-attr]
            for row in range(len(state.values[column])):
                key = state.key(column, row)
                if key is not None:
                    by_key.setdefault(key, []).append((state, column, row))

    # counts that must be hidden wherever they appear, with how much protection they need
    forced: dict[Key, Need] = {}

    released: set[Key] = set()  # hidden counts the published numbers pin exactly, so published after all

    def want(key: Key, need: Need) -> bool:
        old = forced.get(key)
        if old is not None and old.upper >= need.upper and old.lower >= need.lower:
            return False
        forced[key] = need if old is None else Need(max(old.upper, need.upper), max(old.lower, need.lower))
        return True

    for slot in slots:
        v = slot.value
        if 0 < v < m:
            want(slot.key, primary_need(v, m))
        elif v == 0 and rules.zeros_disclosive:
            want(slot.key, Need(float(m), 0.0))
    for state in live:
        for column, primary in state.primary.items():
            for row, need in primary.items():
                key = state.key(column, row)
                if key is not None:
                    want(key, need)

    warnings: list[Suppression] = []
    for _ in range(MAX_ROUNDS):
        for key, need in forced.items():
            for state, column, row in by_key.get(key, []):
                state.force(column, row, need)
        for state in live:
            state.protect()
        changed = False
        for state in live:
            for column in state.view.counts:  # type: ignore[union-attr]
                for row, flag in enumerate(state.hidden[column]):
                    if flag and state.values[column][row] is not None:
                        key = state.key(column, row)
                        if key is not None and key not in forced and len(by_key.get(key, [])) + _slot_uses(slots, key) > 1:
                            changed |= want(key, secondary_need(state.values[column][row], m))
        if changed:
            continue
        if not audit_pack:
            break
        exposures, system, truth = _exposures(live, slots, forced, rules)
        # a hidden count that is not small and that the published numbers pin exactly needs no
        # fix: it is published at the end (hiding it protects nothing, publishing it adds nothing)
        primaries = set().union(*(state.primary_keys() for state in live)) if live else set()
        pinned = [
            e for e in exposures
            if e.suppressed and e.high - e.low < 1e-6 and e.key not in primaries
            and e.key in truth and not is_small(truth[e.key], m) and not (truth[e.key] == 0 and rules.zeros_disclosive)
        ]
        exposures = [e for e in exposures if e not in pinned]
        if not exposures:
            released = {e.key for e in pinned}
            break
        progressed = False
        fresh: set[Key] = set()
        by_eq = _equations_by_key(system)
        for exposure in exposures:
            if fresh and _near(exposure.key, system, by_eq) & fresh:
                progressed = True  # a count hidden this round already stands beside it: audit again first
                continue
            for key in _fixes(exposure.key, system, slots, forced, by_key, by_eq):
                if want(key, secondary_need(_value_of(key, by_key, slots), m)):
                    progressed = True
                    fresh.add(key)
        if not progressed:
            for exposure in exposures:
                warnings.append(Suppression(
                    "", "pack", exposure.describe(m) + "; the tables holding it should not be published together",
                    rule="warning",
                ))
            break
    for state in live:
        state.release(released)  # all at once, against the final published numbers
        state.refresh_view()
    for key in released:
        forced.pop(key, None)
    hidden_keys = set(forced)
    for state in live:
        for column in state.view.counts:  # type: ignore[union-attr]
            for row, flag in enumerate(state.hidden[column]):
                if flag:
                    key = state.key(column, row)
                    if key is not None:
                        hidden_keys.add(key)
    return Plan(rules, states, slots, hidden_keys, warnings)


def _slot_uses(slots: list[SlotCount], key: Key) -> int:
    return sum(1 for s in slots if s.key == key)


def _value_of(key: Key, by_key: dict[Key, list[tuple[TableState, str, int]]], slots: list[SlotCount]) -> float:
    for state, column, row in by_key.get(key, []):
        v = state.values[column][row]
        if v is not None:
            return v
    for s in slots:
        if s.key == key:
            return s.value
    return 0.0


def _system(live: list[TableState], slots: list[SlotCount], forced: dict[Key, Need], rules: DisclosureConfig) -> System:
    system = System()
    for state in live:
        state.refresh_view()
        system.add_view(state.view, rules.round_to)  # type: ignore[arg-type]
    for slot in slots:
        if slot.key in forced or slot.key in system.hidden:
            system.hide(slot.key, f"{slot.fid}: {slot.where}")
        else:
            system.publish(slot.key, slot.value, f"{slot.fid}: {slot.where}", rules.round_to)
    return system


def _truth(live: list[TableState], slots: list[SlotCount]) -> dict[Key, float]:
    """The true value of every key the gate can compute: cells, quoted counts and the totals
    the tables imply (sums of their parts)."""
    truth: dict[Key, float] = {}
    for state in live:
        for column in state.view.counts:  # type: ignore[union-attr]
            for row, v in enumerate(state.values[column]):
                key = state.key(column, row)
                if key is not None and v is not None:
                    truth[key] = v
    for slot in slots:
        truth.setdefault(slot.key, slot.value)
    for state in live:
        for eq in equations(state.view):  # type: ignore[arg-type]
            if eq.total not in truth and all(p in truth for p in eq.parts):
                truth[eq.total] = sum(truth[p] for p in eq.parts)
    return truth


def _exposures(live: list[TableState], slots: list[SlotCount], forced: dict[Key, Need], rules: DisclosureConfig):
    from expedition.disclosure.system import audit

    system = _system(live, slots, forced, rules)
    truth = _truth(live, slots)
    exposures = audit(system, rules.min_count, zeros_disclosive=rules.zeros_disclosive, truth=truth)
    # an unpublished key is only a disclosure when its true value is small
    out = []
    for e in exposures:
        if not e.suppressed:
            v = truth.get(e.key)
            if v is not None and not (0 < v < rules.min_count or (v == 0 and rules.zeros_disclosive)):
                continue
        out.append(e)
    return out, system, truth


def _equations_by_key(system: System) -> dict[Key, list[Any]]:
    """The equations each key is in (built once per audit round, for `_near` and `_fixes`)."""
    by_eq: dict[Key, list[Any]] = {}
    for eq in system.equations:
        for key in (*eq.parts, eq.total):
            by_eq.setdefault(key, []).append(eq)
    return by_eq


def _near(target: Key, system: System, by_eq: dict[Key, list[Any]], depth: int = 3) -> set[Key]:
    """Every key in an equation with *target*, looking through totals nobody publishes."""
    seen, frontier = {target}, [target]
    for _ in range(depth):
        nxt = []
        for key in frontier:
            for eq in by_eq.get(key, []):
                for k in (*eq.parts, eq.total):
                    if k not in seen:
                        seen.add(k)
                        if k not in system.published and k not in system.hidden:
                            nxt.append(k)
        frontier = nxt
        if not frontier:
            break
    return seen


def _fixes(
    target: Key,
    system: System,
    slots: list[SlotCount],
    forced: dict[Key, Need],
    by_key: dict[Key, list[tuple[TableState, str, int]]],
    by_eq: dict[Key, list[Any]],
    depth: int = 3,
) -> list[Key]:
    """The cheapest published count to hide so that *target* is no longer given away: in an
    equation with it, the smallest published count; a count only a sentence quotes goes first (its
    sentence falls back to words; a table cell costs its neighbours too), unless the published
    numbers give it back anyway. When the equations that give it away pass through totals
    nobody publishes (a team's records of any sex, worked out from a crosstab), the search
    follows them, nearest first."""
    quoted_keys = {s.key for s in slots}

    def published(key: Key) -> bool:
        return key in system.published and key not in forced

    def pinned_elsewhere(key: Key, skip: Any) -> bool:
        # hiding a count no table holds (a quoted total) is no fix when another equation of
        # published counts gives it back; a table cell gets its own table's protection instead
        if key in by_key:
            return False
        return any(
            eq is not skip and all(k == key or published(k) for k in (*eq.parts, eq.total))
            for eq in by_eq.get(key, [])
        )

    seen = {target}
    frontier = [target]
    candidates: dict[Key, tuple[int, int, float]] = {}
    for step in range(depth):
        implied: list[Key] = []
        for key in frontier:
            for eq in by_eq.get(key, []):
                for other in (*eq.parts, eq.total):
                    if other in seen or other in candidates:
                        continue
                    if published(other):
                        quoted = other in quoted_keys
                        if (other in by_key or quoted) and not pinned_elsewhere(other, eq):
                            candidates[other] = (0 if quoted and other not in by_key else 1, step,
                                                 _value_of(other, by_key, slots))
                    elif other not in system.hidden and other not in forced:
                        implied.append(other)  # a total no one publishes: look through it
        seen.update(implied)
        frontier = list(dict.fromkeys(implied))
        if not frontier:
            break
    if not candidates:
        return []
    ordered = sorted(candidates.items(), key=lambda kv: (kv[1], repr(kv[0])))
    return [ordered[0][0]]


# --------------------------------------------------------------------------- publishing


#: A list in a sentence names at most this many items (the rest are counted).
MAX_ITEMS = 10


def _format(value: float, spec: str) -> str:
    """A number in a published sentence, for people (`expedition.numbers`): never in scientific
    notation, a share that is not zero never "0.0%"."""
    from expedition.numbers import format_spec

    return format_spec(value, spec)


@dataclass
class _Renderer:
    """Renders a finding's sentences, metrics and documents under a plan."""

    finding: Finding
    states: dict[str, TableState]
    tables: dict[str, Table]
    hidden_keys: set[Key]
    rules: DisclosureConfig
    allow: list[str]
    log: list[Suppression] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)
    _rows: dict[tuple[int, tuple[str, ...]], dict[tuple[Any, ...], list[int]]] = field(default_factory=dict)

    def count(self, slot: Count, where: str) -> int | float | None:
        key = slot_key(slot, self.finding.population)
        v = slot.value
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        m = self.rules.min_count
        if key in self.hidden_keys or 0 < v < m or (v == 0 and self.rules.zeros_disclosive):
            return None
        out = round_count(float(v), self.rules.round_to, m) if self.rules.round_to else v
        self.published.append({"where": where, "key": [key[0], [list(c) for c in key[1]]], "value": out})
        return int(out) if float(out).is_integer() else out

    def exact(self, slot: Any) -> float | None:
        """A count slot's value before rounding (a cell's from the table the step made)."""
        if isinstance(slot, Cell):
            state = self.states.get(slot.table)
            got = self.cell(slot, state.table if state is not None else None)
            v = None if got is None else got[0]
        else:
            v = getattr(slot, "value", None)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def cell(self, slot: Cell, source: Table | None = None) -> tuple[Any, str] | None:
        table = source if source is not None else self.tables.get(slot.table)
        state = self.states.get(slot.table)
        if table is None or state is None or slot.column not in table.frame.columns:
            return None
        row = slot.row
        if isinstance(row, dict):
            columns = tuple(row)
            if any(c not in table.frame.columns for c in columns):
                return None
            lookup = self._rows.get((id(table), columns))
            if lookup is None:  # one index per table and label columns, not a filter per slot
                import polars as pl

                lookup = {}
                values = [table.frame[c].cast(pl.String).to_list() for c in columns]
                for i, labels in enumerate(zip(*values)):
                    lookup.setdefault(labels, []).append(i)
                self._rows[(id(table), columns)] = lookup
            found = lookup.get(tuple(str(row[c]) for c in columns), [])
            if len(found) != 1:
                return None
            row = found[0]
        if not 0 <= row < table.frame.height:
            return None
        value = table.frame[slot.column][row]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return value, table.kinds.get(slot.column, "statistic")

    def value(self, slot: Any, where: str) -> tuple[Any, str] | None:
        """(value, kind) of a slot, or None when it is withheld."""
        if isinstance(slot, Count):
            v = self.count(slot, where)
            return None if v is None else (v, "count")
        if isinstance(slot, Cell):
            return self.cell(slot)
        if isinstance(slot, Value):
            shown = [self.value(s, where) for s in slot.sources]
            if any(x is None for x in shown):
                return None
            v = slot.value
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                return None
            if self.rules.round_to and isinstance(v, (int, float)) and not isinstance(v, bool):
                # a share of rounded counts is as coarse as they are
                counts = [(s, x) for s, x in zip(slot.sources, shown) if isinstance(s, Count) or x[1] == "count"]
                if counts:
                    exact = [self.exact(s) for s, _ in counts]
                    v = rate_from_rounded(float(v), exact, [float(x[0]) for _, x in counts], int(self.rules.round_to))
            return v, "text" if isinstance(v, str) else "statistic"
        if isinstance(slot, (int, float)) and not isinstance(slot, bool):
            return slot, "statistic"
        return slot, "text"

    def text(self, slot: Any, where: str) -> str | None:
        if isinstance(slot, Items):
            shown = [t for t in (self.text(item, where) for item in slot.items) if t is not None]
            if not shown:
                return None
            dropped = len(slot.items) - len(shown)
            if len(shown) > MAX_ITEMS:  # a long list is the table's job: name the first few
                shown = [*shown[: MAX_ITEMS - 2], f"{len(shown) - MAX_ITEMS + 2} more, listed in the table"]
            if dropped:
                shown.append(slot.more.format(n=dropped))
            return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
        got = self.value(slot, where)
        if got is None:
            return None
        value, kind = got
        if kind == "text":
            return str(value)
        spec = getattr(slot, "format", "") or ""
        if kind == "count":
            return _format(float(value), spec or ",.0f")
        if kind == "rate":
            return _format(float(value), spec or ".1%")
        if isinstance(value, (int, float)):
            return _format(float(value), spec or ".3g")
        return str(value)

    def sentence(self, item: str | Sentence, where: str) -> str:
        if isinstance(item, str):
            return item
        rendered: dict[str, str] = {}
        withheld = []
        mark = len(self.published)
        for name, slot in item.slots.items():
            text = self.text(slot, where)
            if text is None:
                withheld.append(name)
                rendered[name] = WITHHELD
            else:
                rendered[name] = text
        if withheld and item.fallback is not None:
            del self.published[mark:]
            self.log.append(Suppression(self.finding.id, where,
                                        "a number in the sentence is suppressed: its fallback wording is used",
                                        rule="suppressed"))
            return self.sentence(item.fallback, where)
        if withheld:
            self.log.append(Suppression(self.finding.id, where,
                                        f"{len(withheld)} number(s) in the sentence suppressed", rule="suppressed"))
        return item.template.format_map(rendered)

    def metric(self, name: str, value: Any) -> tuple[Any, str]:
        if isinstance(value, (Count, Cell, Value)):
            got = self.value(value, f"metric {name}")
            if got is None:
                self.log.append(Suppression(self.finding.id, f"metric {name}", "suppressed with the count it rests on",
                                            rule="suppressed"))
                kind = "count" if isinstance(value, Count) else "statistic"
                return None, kind
            v, kind = got
            return v, "count" if kind == "count" else kind
        return value, "statistic"


def _derived_masks(state: TableState, rules: DisclosureConfig, hidden_keys: set[Key]) -> dict[str, list[bool]]:
    """Rates and statistics computed from a suppressed count, row by row and group by group."""
    table = state.table
    masks: dict[str, list[bool]] = {}
    denominators = table.denominators
    for _ in range(len(denominators) + 1):
        for column, sources in denominators.items():
            if column in state.hidden:
                continue
            found = [state.hidden.get(s) or masks.get(s) for s in sources]
            found = [f for f in found if f is not None]
            if found:
                masks[column] = [any(flags) for flags in zip(*found)]
    frame = table.frame
    for column, spec in table.derived.items():
        hidden_rows = [False] * frame.height
        group_cols = list(spec.by)
        keys = frame.select(group_cols).rows() if group_cols else [()] * frame.height
        bad_groups = set()
        for source in spec.sources:
            mask = state.hidden.get(source) or masks.get(source)
            if mask is None:
                continue
            for i, flag in enumerate(mask):
                if flag and (state.values.get(source, [0])[i] is not None if source in state.values else True):
                    bad_groups.add(keys[i])
        for i, key in enumerate(keys):
            if key in bad_groups:
                hidden_rows[i] = True
        base = masks.get(column)
        masks[column] = [a or b for a, b in zip(hidden_rows, base)] if base else hidden_rows
    return masks


def publish(plan: Plan, findings: list[Finding], allow: list[str]) -> list[GatedFinding]:
    """Render every finding under the plan."""
    rules = plan.rules
    out = []
    for finding, states in zip(findings, plan.states):
        log: list[Suppression] = []
        tables: dict[str, Table] = {}
        suppressed: dict[str, dict[str, list[bool]]] = {}
        changed: set[str] = set()
        by_name: dict[str, TableState] = {}
        for state in states:
            log.extend(state.log)
            if state.table is None:
                continue
            by_name[state.name] = state
            gated = _publish_table(state, rules, plan.hidden_keys)
            log.extend(gated.log)
            if gated.changed or any(e.rule not in STRUCTURAL for e in state.log):
                changed.add(state.name)
            if gated.table is not None:
                tables[state.name] = gated.table
                suppressed[state.name] = gated.suppressed
        renderer = _Renderer(finding, by_name, tables, plan.hidden_keys, rules, allow)
        headlines = [renderer.sentence(h, f"headline {i + 1}") for i, h in enumerate(finding.headlines)]
        caveats = [renderer.sentence(c, f"caveat {i + 1}") for i, c in enumerate(finding.caveats)]
        metrics: dict[str, Any] = {}
        metric_kinds: dict[str, str] = {}
        for name, value in finding.metrics.items():
            metrics[name], metric_kinds[name] = renderer.metric(name, value)
        documents: dict[str, Any] = {}
        for name, doc in finding.documents.items():
            if isinstance(doc, Document):
                values = {}
                for vname, v in doc.values.items():
                    got = renderer.value(v, f"document {name}")
                    values[vname] = None if got is None else got[0]
                documents[name] = replace(doc, values=values)
            else:
                documents[name] = doc
        log.extend(renderer.log)

        figures: dict[str, Any] = {}
        for name, figure in finding.figures.items():
            if isinstance(figure, Figure) and figure.data is not None and (
                figure.data in changed or figure.data not in tables
            ):
                log.append(Suppression(finding.id, f"figure {name}",
                                       f"withheld: its data table {figure.data!r} had cells suppressed or changed",
                                       rule="withheld"))
                continue
            if isinstance(figure, Chart) and any(t not in tables for t in (figure.table, *figure.also)):
                log.append(Suppression(finding.id, f"figure {name}",
                                       "withheld: a table it draws could not be published", rule="withheld"))
                continue
            figures[name] = figure

        def clean(texts: list[str], where: str) -> list[str]:
            result = []
            for text in texts:
                cleaned, kinds = redact(text, allow)
                if kinds:
                    log.append(Suppression(finding.id, where, "personal data redacted: " + ", ".join(sorted(set(kinds))),
                                           rule="redacted"))
                result.append(cleaned)
            return result

        headlines = clean(headlines, "headlines")
        caveats = clean(caveats, "caveats")
        (title,) = clean([finding.title], "title")
        (method,) = clean([finding.method], "method")
        for name, doc in list(documents.items()):
            if isinstance(doc, str):
                (documents[name],) = clean([doc], f"document {name}")
        for name, figure in list(figures.items()):
            t, a = redact(figure.title, allow), redact(figure.alt, allow)
            if t[1] or a[1]:
                log.append(Suppression(finding.id, f"figure {name}",
                                       "personal data redacted: " + ", ".join(sorted(set(t[1] + a[1]))), rule="redacted"))
                figures[name] = replace(figure, title=t[0], alt=a[0])
        safe = finding.with_(
            title=title, method=method, tables=tables, figures=figures, headlines=headlines,
            caveats=caveats, documents=documents, metrics=metrics, metric_kinds=metric_kinds, artifacts={},
        )
        for entry in plan.warnings:
            if entry.finding == finding.id:
                log.append(entry)
        for recoded in finding.provenance.get("recoded") or []:
            from expedition.disclosure.recode import Recoding

            r = Recoding(**recoded)
            log.append(Suppression(finding.id, "data", r.describe(rules.min_count) + " before the step ran",
                                   column=r.column, rule="recoded"))
        out.append(GatedFinding(safe, log, suppressed, renderer.published, changed))
    if out and plan.warnings:
        out[0].log.extend(w for w in plan.warnings if not w.finding)
    return out


def _close(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-9 * max(1.0, abs(x), abs(y))


def rate_from_rounded(value: float, counts: list[float | None], rounded: list[float | None], base: int) -> float:
    """A rate beside rounded counts, as coarse as they are (an exact rate times a published
    denominator would give the exact count back). A ratio of two of its counts is computed again
    from their rounded values; any other rate (an interval's bound, a share of a total the row
    does not hold) is snapped to steps of *base* records over its largest count."""
    for i, a in enumerate(counts):
        for j, b in enumerate(counts):
            if i != j and a is not None and b and _close(value, a / b):
                ra, rb = rounded[i], rounded[j]
                if ra is not None and rb:
                    return ra / rb
    present = [c for c in counts if c]
    if not present:
        return value
    whole = max(present)
    if len(counts) == 1 and value:
        whole = max(whole, abs(counts[0] / value))  # a share of a total: the total is the scale
    step = base / whole
    return math.floor(value / step + 0.5) * step


def _rates_from_rounded(frame: Any, table: Table, rules: DisclosureConfig, note: Any) -> Any:
    import polars as pl

    base = int(rules.round_to or 0)
    original = table.frame
    for column, sources in table.denominators.items():
        counts = [c for c in sources if table.kinds.get(c) == "count"]
        if table.kinds.get(column) != "rate" or not counts:
            continue
        before = frame[column].to_list()
        raw = [original[c].to_list() for c in counts]
        now = [frame[c].to_list() for c in counts]
        after = []
        for i, v in enumerate(before):
            if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
                after.append(v)
                continue
            after.append(rate_from_rounded(float(v), [None if r[i] is None else float(r[i]) for r in raw],
                                           [None if r[i] is None else float(r[i]) for r in now], base))
        changed = [i for i, (a, b) in enumerate(zip(before, after)) if a is not None and not _close(float(a), float(b))]
        for i in changed:
            note(f"computed from counts rounded to the nearest {base}", "rounded", column, i)
        if changed:
            frame = frame.with_columns(pl.Series(column, after, dtype=pl.Float64))
    return frame


def _publish_table(state: TableState, rules: DisclosureConfig, hidden_keys: set[Key]) -> GatedTable:
    import polars as pl

    table = state.table
    frame = table.frame
    kinds = table.kinds
    log: list[Suppression] = []
    m = rules.min_count
    two_way = any(b.grid is not None for b in state.blocks)
    secondary_reason = (
        "secondary: hidden so that row and column totals cannot reveal a suppressed cell"
        if two_way else "secondary: hidden so that the total cannot reveal a suppressed cell"
    )

    def note(reason: str, rule: str, column: str | None = None, row: int | None = None) -> None:
        labels = state.row_labels(row) if row is not None else None
        log.append(Suppression(state.fid, state.where, reason, column, row, rule, labels))

    for column, values in state.values.items():
        primary = state.primary.get(column, {})
        for i in sorted(primary):
            note(state.why[column][i], "primary", column, i)
        forced = state.forced.get(column, {})
        for i in sorted(set(forced) - set(primary)):
            if values[i] is not None:
                note("suppressed here because the same count is suppressed elsewhere in the pack",
                     "linked", column, i)
        for i in sorted(state.secondary.get(column, set()) - set(primary) - set(forced)):
            if values[i] is not None:
                note(secondary_reason, "secondary", column, i)
        for block in state.incomplete.get(column, []):
            note("the totals here are too small to protect every suppressed cell fully"
                 + (f" ({redact(block.where, state.allow)[0]})" if block.where else "")
                 + "; do not publish those totals", "warning", column)
    derived = {
        column: [flag and value is not None for flag, value in zip(mask, frame[column].to_list())]
        for column, mask in _derived_masks(state, rules, hidden_keys).items()
    }  # a value missing from the step's table stays missing
    state.derived_hidden = derived
    for column, mask in derived.items():
        values = frame[column].to_list()
        for i, flag in enumerate(mask):
            if flag and values[i] is not None:
                note("derived: computed from a suppressed count", "derived", column, i)
    hidden = dict(derived)
    for column, mask in state.hidden.items():  # a count can be derived too (a cumulative count)
        hidden[column] = [a or b for a, b in zip(mask, derived[column])] if column in derived else mask
    updates = [
        pl.when(pl.Series(mask, dtype=pl.Boolean)).then(None).otherwise(pl.col(column)).alias(column)
        for column, mask in hidden.items()
        if any(mask)
    ]
    if updates:
        frame = frame.with_columns(updates)
    if rules.round_to:
        base = rules.round_to
        for column in [c for c, k in kinds.items() if k == "count"]:
            before = frame[column].to_list()
            after = [None if v is None else round_count(float(v), base, m) for v in before]
            for i, (a, b) in enumerate(zip(before, after)):
                if a is not None and float(a) != b:
                    note(f"rounded to the nearest {base}", "rounded", column, i)
            if before != after:
                dtype = frame.schema[column]
                series = pl.Series(column, after, dtype=pl.Float64)
                frame = frame.with_columns(series.cast(dtype) if dtype.is_numeric() else series)
    if rules.round_to:
        frame = _rates_from_rounded(frame, table, rules, note)
    for column in [c for c, k in kinds.items() if k in {"text", "label"}]:
        if frame.schema[column] != pl.String:
            continue
        cleaned = []
        for i, value in enumerate(frame[column].to_list()):
            if value is None:
                cleaned.append(None)
                continue
            text, found = redact(value, state.allow)
            if found:
                note("personal data redacted: " + ", ".join(sorted(set(found))), "redacted", column, i)
            cleaned.append(text)
        if cleaned != frame[column].to_list():
            frame = frame.with_columns(pl.Series(column, cleaned, dtype=pl.String))
    title, _ = redact(table.title, state.allow)
    description, _ = redact(table.description, state.allow)
    safe = replace(table, frame=frame, title=title, description=description)
    suppressed = {column: list(mask) for column, mask in hidden.items() if any(mask)}
    return GatedTable(safe, log, suppressed)


def gate_findings(
    findings: list[Finding],
    rules: DisclosureConfig,
    *,
    allow: Iterable[str] = (),
    audit_pack: bool = True,
) -> list[GatedFinding]:
    """Pass findings through disclosure control together (one plan for all their numbers)."""
    allow = list(allow) + list(rules.public_names)
    plan = plan_findings(findings, rules, allow, audit_pack=audit_pack)
    return publish(plan, findings, allow)


def describe(key: Key) -> str:
    return describe_key(key)


def view_of(table: Table, suppressed: dict[str, list[bool]], where: str, population: str) -> TableView:
    """A published table as the auditor sees it: labels, published counts, suppressed cells."""
    labels = [c for c, k in table.kinds.items() if k in {"label", "date"}]
    counts = {c: _numbers(table.frame[c]) for c, k in table.kinds.items() if k == "count"}
    hidden = {c: list(suppressed.get(c) or [False] * table.frame.height) for c in counts}
    dims = table.dimensions if table.dimensions is not None else infer_dimensions(table.frame, labels)
    return TableView(where, population, dict(table.kinds), {c: table.frame[c].to_list() for c in labels},
                     counts, hidden, table.keys, list(dims))


def audit_gated(gated: list[GatedFinding], rules: DisclosureConfig):
    """What a reader holding every published table, sentence and metric of these gated findings
    can work out (`expedition.disclosure.system.audit`); an empty list when nothing is exposed."""
    from expedition.disclosure.system import audit

    system = System()
    for g in gated:
        for name, table in g.finding.tables.items():
            where = f"{g.finding.id}: table {name}" if g.finding.id else f"table {name}"
            system.add_view(view_of(table, g.suppressed.get(name, {}), where, g.finding.population), rules.round_to)
        for item in g.published_counts:
            population, conditions = item["key"]
            key = (population, tuple(tuple(c) for c in conditions))
            system.publish(key, float(item["value"]), f"{g.finding.id}: {item['where']}", rules.round_to)
    return audit(system, rules.min_count, zeros_disclosive=rules.zeros_disclosive)


#: What each rule of the log means, for the methods section and the summary.
RULE_WORDS = {
    "primary": "cells suppressed because the count is below the threshold (or its complement is)",
    "secondary": "cells suppressed so that totals cannot reveal a suppressed cell",
    "linked": "cells suppressed because the same count is suppressed elsewhere in the pack",
    "derived": "rates and statistics suppressed with the counts they rest on",
    "suppressed": "numbers withheld from sentences and metrics",
    "rounded": "counts rounded",
    "recoded": "columns whose rare categories were combined before tabulating",
    "redacted": "texts with personal data redacted",
    "withheld": "figures withheld",
    "identifier": "identifier columns removed",
    "contributors": "columns of largest contributions removed",
    "warning": "warnings",
}


def tally(log: Iterable[Suppression]) -> dict[str, int]:
    """How many log entries of each rule, in the order of `RULE_WORDS`."""
    counts: dict[str, int] = {}
    for entry in log:
        counts[entry.rule or "other"] = counts.get(entry.rule or "other", 0) + 1
    order = list(RULE_WORDS)
    return dict(sorted(counts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])))


def describe_tally(counts: dict[str, int]) -> str:
    """One sentence for the summary: what disclosure control changed, by rule."""
    if not counts:
        return "Disclosure control changed nothing: no count needed suppressing or rounding."
    parts = [f"{n:,} {RULE_WORDS.get(rule, rule)}" for rule, n in counts.items()]
    return "Disclosure control: " + "; ".join(parts) + ". Each is listed with its rule in manifest.json."
