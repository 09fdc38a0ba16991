"""What validation found: per check, per dataset-wide check, per delivery; rows accounted for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expedition.config import Delivery
from expedition.project import Project
from expedition.contract import (
    RESERVED,
    Contract,
)

if TYPE_CHECKING:
    import polars as pl


ROW, REASONS = RESERVED
EXAMPLES = 3


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class CheckOutcome:
    """How many rows failed one check, with a few examples (masked for personal data)."""

    id: str
    column: str | None
    kind: str
    description: str
    failure: str
    fix: str
    failed: int
    share: float
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "column": self.column,
            "check": self.kind,
            "description": self.description,
            "failure": self.failure,
            "fix": self.fix,
            "failed": self.failed,
            "share": round(self.share, 6),
            "examples": self.examples,
        }


@dataclass(frozen=True)
class DatasetCheck:
    """A check on the delivery as a whole (row count, unexpected columns): no row is to blame."""

    id: str
    description: str
    passed: bool
    detail: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "passed": self.passed,
                "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one delivery: the accounting, and what failed how often."""

    dataset: str | None
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    checks: list[CheckOutcome]
    dataset_checks: list[DatasetCheck]
    missing_columns: list[str]
    extra_columns: list[str]
    renamed_columns: dict[str, str]
    order_differs: bool
    extra_columns_kept: bool
    max_invalid: float
    seconds: float
    masked_columns: list[str]
    #: the rows `data add` counted in the delivery (None for a file or frame outside a project)
    rows_expected: int | None = None
    #: what the team should know that fails no row (deliveries whose periods overlap)
    warnings: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> bool:
        """Rows read = valid + quarantined, and = the rows `data add` recorded."""
        return (self.rows_read == self.rows_valid + self.rows_quarantined
                and (self.rows_expected is None or self.rows_read == self.rows_expected))

    @property
    def share_quarantined(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def over_limit(self) -> bool:
        return self.share_quarantined * 100 > self.max_invalid + 1e-12

    @property
    def passed(self) -> bool:
        """No more rows quarantined than --max-invalid allows, and every dataset check passed."""
        return self.accounted and not self.over_limit and all(c.passed for c in self.dataset_checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "passed": self.passed,
            "rows": {
                "read": self.rows_read,
                "valid": self.rows_valid,
                "quarantined": self.rows_quarantined,
                "share_quarantined": round(self.share_quarantined, 6),
                "accounted": self.accounted,
                "expected": self.rows_expected,
            },
            "max_invalid_percent": self.max_invalid,
            "columns": {
                "missing": self.missing_columns,
                "extra": self.extra_columns,
                "extra_kept": self.extra_columns_kept,
                "renamed": self.renamed_columns,
                "order_differs": self.order_differs,
                "masked": self.masked_columns,
            },
            "checks": [c.to_dict() for c in self.checks],
            "dataset_checks": [c.to_dict() for c in self.dataset_checks],
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        """One line: the accounting."""
        return (f"{self.rows_read:,} rows read = {self.rows_valid:,} valid + "
                f"{self.rows_quarantined:,} quarantined ({self.share_quarantined:.2%})")


@dataclass(frozen=True)
class ValidationResult:
    """What `validate` returns: the valid rows, the quarantined rows and the report."""

    valid: pl.DataFrame
    quarantine: pl.DataFrame
    report: ValidationReport

    def __iter__(self):
        return iter((self.valid, self.quarantine, self.report))




@dataclass(frozen=True)
class DatasetValidation:
    """`validate_dataset`'s result: the report plus what was validated and where it went."""

    project: Project
    dataset: str
    report: ValidationReport
    delivery: Delivery
    contract: Contract
    contract_file: str
    valid_file: str
    valid_sha256: str
    quarantine_file: str
    quarantine_sha256: str
    validated_at: str
    feedback: str | None = None
    #: with ``combine: all``, each delivery's own validation (the report is their total)
    parts: tuple[DeliveryPart, ...] = ()

    @property
    def exit_code(self) -> int:
        return self.report.exit_code

    @property
    def deliveries(self) -> list[Delivery]:
        """The deliveries validated: each of a combined dataset's, else the one."""
        return [p.delivery for p in self.parts] or [self.delivery]

    def to_dict(self) -> dict[str, Any]:
        """What `validation.json` holds and `expedition validate --json` prints."""
        return {
            "dataset": self.dataset,
            "validated_at": self.validated_at,
            "delivery": {
                "version": self.delivery.version,
                "file": self.delivery.file,
                "sha256": self.delivery.sha256,
                "rows": self.delivery.rows,
            },
            "contract": {"file": self.contract_file, "sha256": self.contract.sha256},
            "outputs": {
                "valid": {"file": self.valid_file, "sha256": self.valid_sha256,
                          "rows": self.report.rows_valid},
                "quarantine": {"file": self.quarantine_file, "sha256": self.quarantine_sha256,
                               "rows": self.report.rows_quarantined},
                "feedback": self.feedback,
            },
            "report": self.report.to_dict(),
            **({"combine": "all", "deliveries": [p.to_dict() for p in self.parts]} if self.parts else {}),
        }


#: The column naming the delivery each row of a combined dataset came from.
DELIVERY_COLUMN = "delivery"


@dataclass(frozen=True)
class DeliveryPart:
    """One delivery of a combined dataset (``combine: all``): its own accounting and period."""

    delivery: Delivery
    label: str
    report: ValidationReport
    period: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        rows = self.report.to_dict()["rows"]
        return {
            "version": self.delivery.version,
            "label": self.label,
            "file": self.delivery.file,
            "sha256": self.delivery.sha256,
            "rows": {k: rows[k] for k in ("read", "valid", "quarantined", "accounted", "expected")},
            "passed": self.report.passed,
            "period": list(self.period) if self.period else None,
        }


def delivery_labels(deliveries: Sequence[Delivery]) -> dict[int, str]:
    """The value of the ``delivery`` column for each delivery (by version): the file's name as
    delivered, or ``vN name`` when two deliveries share a name."""
    names = [d.source for d in deliveries]
    return {d.version: d.source if names.count(d.source) == 1 else f"v{d.version} {d.source}"
            for d in deliveries}


def _combined_report(dataset: str, parts: list[DeliveryPart], max_invalid: float,
                     warnings: list[str]) -> ValidationReport:
    """The report of a combined dataset: each delivery's rows and failures added up."""
    reports = [p.report for p in parts]
    read = sum(r.rows_read for r in reports)
    merged: dict[str, CheckOutcome] = {}
    for report in reports:
        for check in report.checks:
            old = merged.get(check.id)
            if old is None:
                merged[check.id] = check
                continue
            merged[check.id] = CheckOutcome(
                id=old.id, column=old.column, kind=old.kind, description=old.description,
                failure=old.failure, fix=old.fix, failed=old.failed + check.failed, share=0.0,
                examples=(old.examples + check.examples)[:EXAMPLES],
            )
    checks = [CheckOutcome(**{**c.__dict__, "share": c.failed / read if read else 0.0})
              for c in merged.values()]
    dataset_checks = [
        DatasetCheck(c.id, c.description, c.passed, f"{p.label}: {c.detail}", c.fix)
        for p in parts for c in p.report.dataset_checks
    ]
    expected = [r.rows_expected for r in reports]
    return ValidationReport(
        dataset=dataset,
        rows_read=read,
        rows_valid=sum(r.rows_valid for r in reports),
        rows_quarantined=sum(r.rows_quarantined for r in reports),
        checks=checks,
        dataset_checks=dataset_checks,
        missing_columns=sorted({c for r in reports for c in r.missing_columns}),
        extra_columns=sorted({c for r in reports for c in r.extra_columns}),
        renamed_columns={k: v for r in reports for k, v in r.renamed_columns.items()},
        order_differs=any(r.order_differs for r in reports),
        extra_columns_kept=any(r.extra_columns_kept for r in reports),
        max_invalid=float(max_invalid),
        seconds=sum(r.seconds for r in reports),
        masked_columns=sorted({c for r in reports for c in r.masked_columns}),
        rows_expected=None if any(e is None for e in expected) else sum(expected),  # type: ignore[misc]
        warnings=warnings,
    )


