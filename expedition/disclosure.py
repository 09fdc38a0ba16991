"""Statistical disclosure control: the one gate every published table, figure and sentence passes.

``apply(finding, rules)`` returns a safe copy of a finding and a log of every change:

* identifier columns are removed;
* counts above zero and below ``min_count`` are suppressed (primary suppression);
* within each group of a table (rows sharing every label column but the last), a lone
  suppressed cell would be recoverable from the group total, so the next smallest count is
  suppressed too (secondary suppression);
* rates and statistics computed from a suppressed count (``Table.denominators``) are suppressed;
* counts are rounded to ``round_to`` when it is set;
* free text (headlines, caveats, text columns, documents) is scanned and personal data redacted;
* a figure whose data table lost cells is withheld, since its picture would show them.

Steps that draw figures should draw them from counts already passed through ``mask_counts`` so
their pictures survive the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from expedition.config import DisclosureConfig
from expedition.finding import Finding, Table
from expedition.pii import redact

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Suppression:
    finding: str
    where: str
    reason: str
    column: str | None = None
    row: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding,
            "where": self.where,
            "column": self.column,
            "row": self.row,
            "reason": self.reason,
        }


def is_small(value: Any, min_count: int) -> bool:
    return value is not None and 0 < value < min_count


def mask_counts(counts: list[int], min_count: int) -> list[int | None]:
    """Primary suppression of a list of counts: values in (0, min_count) become None."""
    return [None if is_small(c, min_count) else c for c in counts]


def _suppress_table(
    name: str, table: Table, rules: DisclosureConfig, finding_id: str
) -> tuple[Table | None, list[Suppression]]:
    import polars as pl

    log: list[Suppression] = []
    frame = table.frame
    kinds = dict(table.kinds)

    identifiers = [c for c, k in kinds.items() if k == "identifier"]
    if identifiers:
        frame = frame.drop(identifiers)
        for column in identifiers:
            kinds.pop(column)
            log.append(
                Suppression(finding_id, f"table {name}", "identifier column removed", column)
            )
    if not kinds:
        return None, log

    count_cols = [c for c, k in kinds.items() if k == "count"]
    labels = [c for c, k in kinds.items() if k in {"label", "date"}]
    group_cols = labels[:-1]
    hidden: dict[str, list[bool]] = {}
    rows = frame.height
    for column in count_cols:
        values = frame[column].to_list()
        mask = [is_small(v, rules.min_count) for v in values]
        for i in range(rows):
            if mask[i]:
                log.append(
                    Suppression(
                        finding_id,
                        f"table {name}",
                        f"count below the threshold of {rules.min_count}",
                        column,
                        i,
                    )
                )
        # secondary suppression: a lone hidden cell in a group is recoverable from its total
        if group_cols:
            keys = frame.select(group_cols).rows()
        else:
            keys = [()] * rows
        groups: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            hidden_here = [i for i in members if mask[i]]
            if len(hidden_here) != 1:
                continue
            candidates = [i for i in members if not mask[i] and values[i] not in (None, 0)]
            if not candidates:
                continue
            j = min(candidates, key=lambda i: values[i])
            mask[j] = True
            log.append(
                Suppression(
                    finding_id,
                    f"table {name}",
                    "secondary suppression: would reveal a suppressed count from the total",
                    column,
                    j,
                )
            )
        hidden[column] = mask

    if hidden:
        updates = []
        derived_hidden: dict[str, list[bool]] = {}
        for derived, sources in table.denominators.items():
            masks = [hidden[s] for s in sources if s in hidden]
            if masks and derived in kinds:
                derived_hidden[derived] = [any(flags) for flags in zip(*masks)]
        for column, mask in hidden.items():
            updates.append(_null_where(frame, column, mask))
        for column, mask in derived_hidden.items():
            count = sum(mask)
            if count:
                log.append(
                    Suppression(
                        finding_id,
                        f"table {name}",
                        f"computed from a suppressed count ({count} rows)",
                        column,
                    )
                )
            updates.append(_null_where(frame, column, mask))
        frame = frame.with_columns(updates)

    if rules.round_to:
        base = rules.round_to
        frame = frame.with_columns(
            ((pl.col(c) / base).round(0) * base).cast(frame.schema[c]) for c in count_cols
        )

    text_cols = [c for c, k in kinds.items() if k == "text"]
    for column in text_cols:
        cleaned = []
        for i, value in enumerate(frame[column].to_list()):
            if value is None:
                cleaned.append(None)
                continue
            text, kinds_found = redact(str(value))
            if kinds_found:
                log.append(
                    Suppression(
                        finding_id,
                        f"table {name}",
                        "personal data redacted: " + ", ".join(sorted(set(kinds_found))),
                        column,
                        i,
                    )
                )
            cleaned.append(text)
        frame = frame.with_columns(pl.Series(column, cleaned, dtype=pl.String))

    safe = Table(
        frame=frame,
        kinds=kinds,
        title=table.title,
        description=table.description,
        denominators={
            k: [s for s in v if s in kinds] for k, v in table.denominators.items() if k in kinds
        },
    )
    return safe, log


def _null_where(frame: pl.DataFrame, column: str, mask: list[bool]) -> pl.Expr:
    import polars as pl

    return (
        pl.when(pl.Series(mask, dtype=pl.Boolean))
        .then(None)
        .otherwise(pl.col(column))
        .alias(column)
    )


def _redact_all(texts: list[str], finding_id: str, where: str) -> tuple[list[str], list[Suppression]]:
    out, log = [], []
    for text in texts:
        cleaned, kinds = redact(text)
        if kinds:
            log.append(
                Suppression(finding_id, where, "personal data redacted: " + ", ".join(sorted(set(kinds))))
            )
        out.append(cleaned)
    return out, log


def apply(finding: Finding, rules: DisclosureConfig) -> tuple[Finding, list[Suppression]]:
    """Pass a finding through disclosure control; return the safe finding and the log."""
    log: list[Suppression] = []
    tables: dict[str, Table] = {}
    changed: set[str] = set()
    for name, table in finding.tables.items():
        safe, entries = _suppress_table(name, table, rules, finding.id)
        log.extend(entries)
        if entries:
            changed.add(name)
        if safe is not None:
            tables[name] = safe

    figures = {}
    for name, figure in finding.figures.items():
        if figure.data is not None and (figure.data in changed or figure.data not in tables):
            log.append(
                Suppression(
                    finding.id,
                    f"figure {name}",
                    f"withheld: its data table {figure.data!r} had cells suppressed",
                )
            )
            continue
        figures[name] = figure

    headlines, entries = _redact_all(finding.headlines, finding.id, "headlines")
    log.extend(entries)
    caveats, entries = _redact_all(finding.caveats, finding.id, "caveats")
    log.extend(entries)
    documents = {}
    for name, text in finding.documents.items():
        (cleaned,), entries = _redact_all([text], finding.id, f"document {name}")
        log.extend(entries)
        documents[name] = cleaned
    safe = finding.with_(
        tables=tables, figures=figures, headlines=headlines, caveats=caveats, documents=documents
    )
    return safe, log


def safe_table(table: Table, rules: DisclosureConfig) -> Table:
    """The table as the gate would publish it (for steps that draw figures from it)."""
    safe, _ = _suppress_table("", table, rules, "")
    if safe is None:
        raise ValueError("a table made only of identifier columns cannot be published")
    return safe
