"""Validating a delivery against its data contract: every failing row quarantined with its reasons.

``validate(data, contract)`` reads every row (CSV columns as text, so ``12a`` in a column of whole
numbers fails that row instead of the read), checks each value against the contract and splits the
rows into ``valid`` (typed as the contract says) and ``quarantine`` (the row as delivered, its
row number in the file and every reason it failed). Nothing is dropped: rows read = valid +
quarantined, and the report proves it.

Execution: the contract compiles to a ``pandera.polars`` schema (`Contract.to_pandera`), and the
checks here have the same meaning as pandera's (tests hold them to it). They run as *one* Polars
query — the type conversions, every column check, the unique keys and the cross-column rules are
boolean columns computed in a single pass — because pandera's backend runs each check as its own
query and reports failure cases per check, and because its type coercion fails a whole column on
one bad value where a delivery needs that one row set aside.

The package: ``engine`` (the Polars engine: a contract compiled to one query), ``report`` (what
validation found, and the accounting), ``store`` (validating inside a project, and what steps
read) and ``render`` (the report as HTML and Markdown).

``validate_dataset(project, name)`` validates a dataset's latest delivery and writes
``data/interim/NAME.parquet`` (valid rows, what steps read), ``data/quarantine/NAME.parquet``
and, in ``.expedition/quality/NAME/``, ``validation.json``, ``validation.html`` (a fragment for
the findings pack) and optionally ``feedback.md`` for the data owner. ``open_validated`` is what
the runner reads; it refuses data whose delivery or contract changed since validation.
"""

from __future__ import annotations

from expedition.validation.engine import ColumnMatch, match_columns, validate, validate_to_files
from expedition.validation.report import (
    DELIVERY_COLUMN,
    EXAMPLES,
    REASONS,
    ROW,
    CheckOutcome,
    DatasetCheck,
    DatasetValidation,
    DeliveryPart,
    ValidationReport,
    ValidationResult,
    delivery_labels,
)
from expedition.validation.store import (
    Stale,
    ValidatedData,
    ensure_validated,
    load_dataset_contract,
    open_validated,
    quality_files,
    require_validated,
    stale_reason,
    staleness,
    validate_dataset,
    validate_datasets,
    validation_record,
)

__all__ = [
    "DELIVERY_COLUMN", "EXAMPLES", "REASONS", "ROW", "CheckOutcome", "ColumnMatch",
    "DatasetCheck", "DatasetValidation", "DeliveryPart", "ValidatedData", "ValidationReport",
    "ValidationResult", "delivery_labels", "ensure_validated", "load_dataset_contract",
    "match_columns", "open_validated", "quality_files", "require_validated", "Stale", "stale_reason", "staleness",
    "validate", "validate_dataset", "validate_datasets", "validate_to_files", "validation_record",
]

