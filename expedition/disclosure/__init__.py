"""Statistical disclosure control: the one gate every published table, figure and sentence passes.

The runner passes each step's finding through the gate (`apply`); `expedition pack` passes
every finding of the pack through it together (`gate_findings`), so that one plan covers every
count published anywhere in the pack. See `expedition.disclosure.gate` for the rules, and
`expedition.disclosure.system` for the auditor that attacks the result.

* identifier columns are removed, and so are the columns that hold a magnitude's largest
  contributions (``Table.contributors``, used only for the dominance and p% rules);
* primary suppression: counts above zero and below ``min_count`` (and zeros, when
  ``zeros_disclosive``); a count published beside the count it is part of when the rest is
  below ``min_count``; magnitude cells failing the (n, k) dominance rule or the p% rule;
* secondary suppression (`expedition.disclosure.cells`) along each table's dimensions, the same
  count suppressed wherever it appears (`expedition.finding.Keys`), and the auditor's findings
  mended;
* rates, percentages and statistics computed from a suppressed cell are suppressed too;
* counts are rounded to ``round_to`` everywhere (tables, sentences, metrics, documents);
* free text and labels are scanned and personal data redacted (`expedition.disclosure.text`);
* figures are drawn after the gate, from the gated tables (`expedition.finding.Chart`); a
  pre-drawn figure whose data table changed is withheld.

The gate is idempotent: passing its output through it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from expedition.config import DisclosureConfig
from expedition.disclosure.gate import (
    GatedFinding,
    GatedTable,
    Suppression,
    gate_findings,
    infer_dimensions,
    is_small,
)
from expedition.finding import Finding, Table

__all__ = [
    "GatedFinding",
    "GatedTable",
    "Suppression",
    "apply",
    "apply_detailed",
    "gate_findings",
    "gate_table",
    "infer_dimensions",
    "is_small",
    "mask_counts",
    "safe_table",
]


def mask_counts(counts: list[int], min_count: int) -> list[int | None]:
    """Primary suppression of a list of counts: values in (0, min_count) become None."""
    return [None if is_small(c, min_count) else c for c in counts]


def gate_table(
    name: str,
    table: Table,
    rules: DisclosureConfig,
    finding_id: str = "",
    *,
    allow: Iterable[str] = (),
) -> GatedTable:
    """Pass one table through disclosure control on its own."""
    finding = Finding(step="", title="", headlines=[], id=finding_id, tables={name: table})
    (gated,) = gate_findings([finding], rules, allow=allow)
    return GatedTable(gated.finding.tables.get(name), gated.log, gated.suppressed.get(name, {}))


def safe_table(table: Table, rules: DisclosureConfig) -> Table:
    """The table as the gate would publish it on its own."""
    gated = gate_table("", table, rules, "")
    if gated.table is None:
        raise ValueError("a table made only of identifier columns cannot be published")
    return gated.table


def apply_detailed(finding: Finding, rules: DisclosureConfig, *, allow: Iterable[str] = ()) -> GatedFinding:
    """Pass one finding through disclosure control, keeping which cells each table lost."""
    (gated,) = gate_findings([finding], rules, allow=allow)
    return gated


def apply(finding: Finding, rules: DisclosureConfig, *, allow: Iterable[str] = ()) -> tuple[Finding, list[Suppression]]:
    """Pass a finding through disclosure control; return the safe finding and the log."""
    gated = apply_detailed(finding, rules, allow=allow)
    return gated.finding, gated.log
