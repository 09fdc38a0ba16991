"""Validation inside a project: the outputs written as one unit, and what steps read."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition._io import sha256_file, sha256_remembered
from expedition._lock import locked
from expedition._store import Unit
from expedition.config import Delivery
from expedition.errors import ConfigError, DataError, StepError
from expedition.project import Project
from expedition.contract import (
    Contract,
    contract_path,
    load_contract,
)
from expedition.validation.engine import validate_to_files
from expedition.validation.report import (
    DELIVERY_COLUMN,
    DatasetValidation,
    DeliveryPart,
    ValidationReport,
    _combined_report,
    delivery_labels,
)

if TYPE_CHECKING:
    import polars as pl


def _period(frame: pl.LazyFrame, contract: Contract) -> tuple[str, str] | None:
    """The first and last date of a delivery's valid rows, by the contract's first date column."""
    import polars as pl

    names = frame.collect_schema().names()
    for name in contract.columns_with_role("date"):
        if name in names:
            low, high = frame.select(pl.col(name).min(), pl.col(name).max().alias("__max")).collect().row(0)
            if low is not None:
                return str(low), str(high)
    return None


def _overlaps(parts: list[DeliveryPart], valid: list[pl.LazyFrame], contract: Contract) -> list[str]:
    """What the team should know about deliveries that cover the same ground: periods that
    overlap, and rows whose unique key occurs in more than one delivery."""
    import polars as pl

    notes = []
    dated = [p for p in parts if p.period]
    for i, a in enumerate(dated):
        for b in dated[i + 1:]:
            if a.period[0] <= b.period[1] and b.period[0] <= a.period[1]:  # type: ignore[index]
                notes.append(
                    f"the periods of {a.label} ({a.period[0]} to {a.period[1]}) and {b.label} "  # type: ignore[index]
                    f"({b.period[0]} to {b.period[1]}) overlap: check that no rows were "  # type: ignore[index]
                    "delivered twice (combine: all adds every delivery's rows)"
                )
    keys = [list(k) for k in contract.unique] + [[n] for n, c in contract.columns.items() if c.unique]
    for key in keys:
        frames = [f.select(key).drop_nulls().unique().with_columns(pl.lit(i).alias("__part"))
                  for i, f in enumerate(valid) if all(k in f.collect_schema().names() for k in key)]
        if len(frames) < 2:
            continue
        both = (pl.concat(frames).group_by(key).agg(pl.col("__part").n_unique().alias("n"))
                .filter(pl.col("n") > 1).collect(engine="streaming"))
        if both.height:
            notes.append(
                f"{both.height:,} value{'s' if both.height != 1 else ''} of the unique key "
                f"{', '.join(key)} {'occur' if both.height != 1 else 'occurs'} in more than one delivery: the deliveries overlap (the "
                "contract checks the key within each delivery)"
            )
    return notes


def quality_files(project: Project, dataset: str) -> dict[str, Path]:
    folder = project.quality_dir(dataset)
    return {"json": folder / "validation.json", "html": folder / "validation.html",
            "feedback": folder / "feedback.md"}


def _atomic_parquet(frame: pl.DataFrame, path: Path, unit: Unit) -> str:  # used by prepare
    """Write *frame* as *path*'s new content in *unit* (committed with the unit's other
    outputs); return its sha256."""
    tmp = unit.file(path)
    # LZ4 and no column statistics: the fastest Parquet Polars writes (encoding dominates
    # writing millions of rows); steps read whole files, so statistics would not be used
    frame.write_parquet(tmp, compression="lz4", statistics=False)
    return sha256_file(tmp)


def _dataset_config(project: Project, dataset: str):
    datasets = project.config.datasets
    if dataset not in datasets:
        import difflib

        close = difflib.get_close_matches(dataset, list(datasets), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"no dataset called {dataset!r}{hint}",
            f"the datasets are: {', '.join(datasets) or 'none yet'}; add one with "
            "`expedition data add FILE --name NAME`",
            path=project.config_path,
        )
    return datasets[dataset]


def load_dataset_contract(project: Project, dataset: str) -> Contract:
    """The contract of a dataset, or a ConfigError saying how to make one."""
    path = contract_path(project, dataset)
    if not path.exists():
        raise ConfigError(
            f"dataset {dataset!r} has no data contract ({project.relative(path)} does not exist)",
            f"draft one from the data with `expedition schema infer {dataset}`, review it, then "
            f"run `expedition validate {dataset}`",
            path=path,
        )
    return load_contract(path)


@locked("validate")
def validate_dataset(
    project: Project,
    dataset: str,
    *,
    max_invalid: float = 0.0,
    allow_extra_columns: bool = False,
    feedback: bool = False,
    contract: Contract | None = None,
    engine: str | None = None,
) -> DatasetValidation:
    """Validate the latest delivery of *dataset* and write the valid and quarantined rows.

    Writes ``data/quarantine/NAME.parquet``, ``data/interim/NAME.parquet``,
    ``validation.html``, ``feedback.md`` (with *feedback*) and ``validation.json`` — the record
    steps check before they read the validated data — as one unit (`expedition._store.Unit`):
    after a crash the project holds all of the old outputs or all of the new. The raw delivery
    is hashed first and refused if it changed since it was registered.
    """
    from expedition.datasets import delivery_options, delivery_path

    config = _dataset_config(project, dataset)
    delivery = config.latest
    if delivery is None:
        raise DataError(f"dataset {dataset!r} has no deliveries yet",
                        f"add one with `expedition data add FILE --name {dataset}`")
    contract = contract or load_dataset_contract(project, dataset)
    parts: tuple[DeliveryPart, ...] = ()
    valid_path = project.interim_dir / f"{dataset}.parquet"
    quarantine_path = project.quarantine_dir / f"{dataset}.parquet"
    with Unit(project.root, f"validate {dataset}") as unit:
        # the rows are written straight into the unit's staged files, never held in memory
        valid_file, quarantine_file = unit.file(valid_path), unit.file(quarantine_path)
        if (engine or config.engine) == "spark":
            from expedition.validation import spark

            report = spark.validate_delivery(project, dataset, config, contract, valid_file,
                                             quarantine_file, max_invalid=max_invalid,
                                             allow_extra_columns=allow_extra_columns)
        elif config.combine == "all":
            report, parts = _validate_combined(project, dataset, config.deliveries, contract,
                                               valid_file, quarantine_file,
                                               max_invalid=max_invalid,
                                               allow_extra_columns=allow_extra_columns)
        else:
            raw = delivery_path(project, dataset, full_check=True)
            report = validate_to_files(raw, contract, valid_file, quarantine_file,
                                       allow_extra_columns=allow_extra_columns,
                                       max_invalid=max_invalid, dataset=dataset,
                                       options=delivery_options(delivery),
                                       expected_rows=delivery.rows)
        outcome = _write_outputs(project, dataset, delivery, contract, report, feedback, unit,
                                 (valid_path, sha256_file(valid_file)),
                                 (quarantine_path, sha256_file(quarantine_file)), parts)
    project.record(
        "validate", dataset=dataset, delivery=delivery.version, sha256=delivery.sha256,
        read=report.rows_read, valid=report.rows_valid,
        quarantined=report.rows_quarantined, passed=report.passed,
    )
    return outcome


def _validate_combined(
    project: Project, dataset: str, deliveries: list[Delivery], contract: Contract,
    valid_file: Path, quarantine_file: Path, *, max_invalid: float, allow_extra_columns: bool,
) -> tuple[ValidationReport, tuple[DeliveryPart, ...]]:
    """Validate every delivery of a ``combine: all`` dataset, writing their union (with the
    ``delivery`` column) to *valid_file* and *quarantine_file*; return the combined report and
    each delivery's own outcome."""
    import tempfile

    import polars as pl

    from expedition.datasets import check_delivery, delivery_options

    if DELIVERY_COLUMN in contract.columns:
        raise ConfigError(
            f"the contract of {dataset!r} has a column called {DELIVERY_COLUMN!r}, the name "
            "combine: all gives the column naming each row's delivery",
            f"rename that column in the contract (and the data), or set combine: latest for {dataset!r}",
            path=contract.path,
        )
    seen: dict[str, Delivery] = {}
    for d in deliveries:
        if d.sha256 in seen:
            raise DataError(
                f"deliveries v{seen[d.sha256].version} and v{d.version} of {dataset!r} are the same "
                "file (same SHA-256): with combine: all their rows would be counted twice",
                f"remove one of them from {dataset!r} in expedition.yaml",
            )
        seen[d.sha256] = d
    labels = delivery_labels(deliveries)
    parts: list[DeliveryPart] = []
    valid: list[pl.LazyFrame] = []
    quarantined: list[pl.LazyFrame] = []
    with tempfile.TemporaryDirectory(prefix="expedition-combine-", dir=valid_file.parent) as work:
        for i, d in enumerate(deliveries):
            raw = check_delivery(project, d, full=True)
            one_valid, one_quarantine = Path(work) / f"valid-{i}.parquet", Path(work) / f"quarantine-{i}.parquet"
            report = validate_to_files(raw, contract, one_valid, one_quarantine,
                                       allow_extra_columns=allow_extra_columns,
                                       max_invalid=max_invalid, dataset=dataset,
                                       options=delivery_options(d), expected_rows=d.rows)
            label = pl.lit(labels[d.version], dtype=pl.String).alias(DELIVERY_COLUMN)
            valid.append(pl.scan_parquet(one_valid).with_columns(label))
            quarantined.append(pl.scan_parquet(one_quarantine).with_columns(label))
            parts.append(DeliveryPart(d, labels[d.version], report,
                                      _period(pl.scan_parquet(one_valid), contract)))
        combined = _combined_report(dataset, parts, max_invalid, _overlaps(parts, valid, contract))
        pl.concat(valid, how="diagonal_relaxed").sink_parquet(
            valid_file, compression="lz4", statistics=False, engine="streaming")
        pl.concat(quarantined, how="diagonal_relaxed").sink_parquet(
            quarantine_file, compression="lz4", statistics=False, engine="streaming")
    return combined, tuple(parts)


def _write_outputs(project: Project, dataset: str, delivery: Delivery, contract: Contract,
                   report: ValidationReport, feedback: bool, unit: Unit,
                   valid: tuple[Path, str], quarantine: tuple[Path, str],
                   parts: tuple[DeliveryPart, ...] = ()) -> DatasetValidation:
    """The report files, written in *unit* beside the valid and quarantined rows (each a
    (path, sha256) already staged in it)."""
    (valid_path, valid_sha), (quarantine_path, quarantine_sha) = valid, quarantine
    files = quality_files(project, dataset)
    outcome = DatasetValidation(
        project=project,
        dataset=dataset,
        report=report,
        delivery=delivery,
        contract=contract,
        contract_file=project.relative(contract.path) if contract.path else "",
        valid_file=project.relative(valid_path),
        valid_sha256=valid_sha,
        quarantine_file=project.relative(quarantine_path),
        quarantine_sha256=quarantine_sha,
        validated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        feedback=project.relative(files["feedback"]) if feedback else None,
        parts=parts,
    )
    from expedition.validation import render

    unit.write_text(files["html"], render.html_fragment(outcome))
    if feedback:
        unit.write_text(files["feedback"], render.feedback_markdown(outcome))
    else:
        unit.remove(files["feedback"])  # never leave feedback about an older delivery
    import json

    unit.write_text(files["json"], json.dumps(outcome.to_dict(), indent=2, default=str) + "\n")
    return outcome


def validate_datasets(
    project: Project,
    names: Iterable[str] | None = None,
    *,
    max_invalid: float = 0.0,
    allow_extra_columns: bool = False,
    feedback: bool = False,
    engine: str | None = None,
) -> list[DatasetValidation]:
    """Validate several datasets (default: every dataset with a delivery).

    Every contract is loaded first, so a broken one stops the command before anything is written.
    """
    config = project.config
    if names:
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            _dataset_config(project, name)
    else:
        wanted = [n for n, d in config.datasets.items() if d.deliveries]
        if not wanted:
            raise DataError("the expedition has no deliveries to validate",
                            "add one with `expedition data add FILE --name NAME`")
    contracts = {name: load_dataset_contract(project, name) for name in wanted}
    return [
        validate_dataset(project, name, max_invalid=max_invalid,
                         allow_extra_columns=allow_extra_columns, feedback=feedback,
                         contract=contracts[name], engine=engine)
        for name in wanted
    ]


# --------------------------------------------------------------------------- what steps read


def validation_record(project: Project, dataset: str) -> dict[str, Any] | None:
    """The last `validation.json` of a dataset, or None."""
    import json

    path = quality_files(project, dataset)["json"]
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError):
        return None


class Stale(enum.Enum):
    """Why validated data cannot be used as it is."""

    NO_DELIVERY = "no delivery"
    NOT_VALIDATED = "not validated"
    DELIVERIES_CHANGED = "deliveries changed"
    NEW_DELIVERY = "new delivery"
    CONTRACT_MISSING = "contract missing"
    CONTRACT_CHANGED = "contract changed"
    OUTPUT_CHANGED = "validated data missing or changed"


def staleness(project: Project, dataset: str) -> tuple[Stale, str] | None:
    """(why, in words) the validated data of *dataset* cannot be used as it is; None when it is
    current."""
    config = _dataset_config(project, dataset)
    delivery = config.latest
    if delivery is None:
        return Stale.NO_DELIVERY, f"dataset '{dataset}' has no deliveries yet"
    record = validation_record(project, dataset)
    if record is None:
        return (Stale.NOT_VALIDATED,
                f"dataset '{dataset}' has not been validated against its data contract")
    if config.combine == "all" or record.get("combine") == "all":
        validated = [d.get("sha256") for d in record.get("deliveries") or [record["delivery"]]]
        if validated != [d.sha256 for d in config.read] or record.get("combine") != config.combine:
            return (Stale.DELIVERIES_CHANGED,
                    f"the deliveries of dataset '{dataset}' (combine: {config.combine}) changed "
                    "since it was validated")
    elif record["delivery"]["sha256"] != delivery.sha256:
        return (Stale.NEW_DELIVERY,
                f"dataset '{dataset}' has a new delivery (v{delivery.version}) since it was "
                f"validated (v{record['delivery']['version']})")
    path = contract_path(project, dataset)
    if not path.exists():
        return (Stale.CONTRACT_MISSING,
                f"the data contract of '{dataset}' ({project.relative(path)}) is missing")
    if sha256_file(path) != record["contract"]["sha256"]:
        return (Stale.CONTRACT_CHANGED,
                f"the data contract of '{dataset}' ({project.relative(path)}) changed since the "
                "data was validated")
    valid = project.root / record["outputs"]["valid"]["file"]
    if not valid.exists() or sha256_remembered(valid, project.state_dir) != record["outputs"]["valid"]["sha256"]:
        return (Stale.OUTPUT_CHANGED,
                f"the validated data of '{dataset}' ({record['outputs']['valid']['file']}) is "
                "missing or was changed after validation")
    return None


def stale_reason(project: Project, dataset: str) -> str | None:
    """Why the validated data of *dataset* cannot be used as it is, or None when it is current."""
    found = staleness(project, dataset)
    return None if found is None else found[1]


@dataclass(frozen=True)
class ValidatedData:
    """What a step reads: the validated rows, the contract, and what identifies them."""

    frame: pl.LazyFrame
    contract: Contract
    fingerprint: dict[str, Any]


def require_validated(project: Project, dataset: str, *, reader: str | None = None) -> None:
    """A StepError saying what to run, unless *dataset*'s validated data is current; *reader*
    (e.g. "link 'people'") names what reads it, in front of the message."""
    try:
        _require_validated(project, dataset)
    except StepError as exc:
        if reader is not None:
            exc.what = f"{reader} reads {dataset!r}: {exc.what}"
        raise


def _require_validated(project: Project, dataset: str) -> None:
    found = staleness(project, dataset)
    if found is None:
        from expedition.datasets import check_delivery

        for delivery in project.config.datasets[dataset].read:
            check_delivery(project, delivery)  # the raw data behind it
        return
    why, problem = found
    if why is Stale.NO_DELIVERY:
        raise StepError(problem, f"add one with `expedition data add FILE --name {dataset}`")
    fix = f"run `expedition validate {dataset}` (or `expedition run --validate`)"
    if why is Stale.NOT_VALIDATED and not contract_path(project, dataset).exists():
        fix = (f"draft a data contract with `expedition schema infer {dataset}`, review it, then "
               + fix)
    raise StepError(f"{problem}; steps read only validated data", fix)


def open_validated(project: Project, dataset: str) -> ValidatedData:
    """The validated rows of *dataset* as a LazyFrame, or a StepError saying what to run."""
    import polars as pl

    require_validated(project, dataset)
    record = validation_record(project, dataset)
    assert record is not None
    contract = load_contract(contract_path(project, dataset))
    valid = project.root / record["outputs"]["valid"]["file"]
    fingerprint = {
        "dataset": dataset,
        "delivery": record["delivery"]["version"],
        "data_file": record["delivery"]["file"],
        "data_sha256": record["delivery"]["sha256"],
        "contract": record["contract"]["file"],
        "contract_sha256": record["contract"]["sha256"],
        "validated_file": record["outputs"]["valid"]["file"],
        "validated_sha256": record["outputs"]["valid"]["sha256"],
        "validation": {k: record["report"]["rows"][k] for k in ("read", "valid", "quarantined")},
    }
    if record.get("combine") == "all":
        import hashlib

        hashes = [d["sha256"] for d in record["deliveries"]]
        fingerprint["deliveries"] = [
            {"version": d["version"], "file": d["file"], "sha256": d["sha256"]} for d in record["deliveries"]
        ]
        fingerprint["data_file"] = ", ".join(d["file"] for d in record["deliveries"])
        # one hash for the raw data behind the union: of the deliveries' hashes, in order
        fingerprint["data_sha256"] = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    return ValidatedData(pl.scan_parquet(valid), contract, fingerprint)


def ensure_validated(
    project: Project, names: Iterable[str], **options: Any
) -> list[DatasetValidation]:
    """Validate the datasets among *names* whose validated data is missing or out of date."""
    stale = [name for name in dict.fromkeys(names) if stale_reason(project, name) is not None]
    if not stale:
        return []
    return validate_datasets(project, stale, **options)


