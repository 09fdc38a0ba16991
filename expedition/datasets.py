"""Registering deliveries in a project, and opening them the way they were registered.

``add_dataset(project, path, name)`` reads the delivery once through the reader
(`expedition.reading.survey`: encoding, line endings, delimiter, quoting, sheet, header names,
rows, rows short of fields), copies it into ``data/raw/NAME/vN/``, makes the copy read-only, and
records its SHA-256, format, rows, columns, time and how to read it in ``expedition.yaml``. A
second delivery with different content becomes the next version beside the first; the same
content again is recognised and not copied twice. Raw data is never modified.

``open_delivery(project, name)`` opens a delivery with the options recorded when it was added,
so every stage (profile, schema infer, validate) reads the same rows and columns; a delivery
registered before options were recorded is detected again when it is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expedition._io import copy_hashing, read_only_mode, sha256_file, sha256_remembered
from expedition._lock import locked
from expedition._store import Unit
from expedition.config import Delivery, flow_list, flow_map, name_problem, plain, update_config
from expedition.errors import DataError
from expedition.project import Project
from expedition.reading import (
    FORMATS,
    ReadOptions,
    check_readable,
    detect_format,
    open_dataset,
    scan_dataset,
    survey,
)

if TYPE_CHECKING:
    from expedition.reading import OpenedDataset

__all__ = [
    "FORMATS", "AddResult", "ReadOptions", "add_dataset", "default_name", "delivery_options",
    "delivery_path", "detect_format", "inspect_file", "open_delivery", "scan_dataset",
]


def inspect_file(path: str | Path, format: str | None = None) -> tuple[int, list[str]]:
    """Count the rows and list the columns of a data file, as every stage reads it."""
    found = survey(path, format=format)
    return found.rows, found.columns


# --------------------------------------------------------------------------- registering


@dataclass(frozen=True)
class AddResult:
    """What `add_dataset` did: ``added`` (first delivery), ``versioned`` or ``unchanged``."""

    dataset: str
    delivery: Delivery
    status: Literal["added", "versioned", "unchanged"]
    #: what the person adding it should know: other sheets, a likelier encoding, short rows
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "status": self.status,
            "delivery": plain(self.delivery.model_dump(exclude_none=True)),
            "warnings": list(self.warnings),
        }


def default_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", path.stem).strip("_").lower()
    return name or "dataset"


@locked("data add")
def add_dataset(
    project: Project,
    path: str | Path,
    name: str | None = None,
    *,
    description: str = "",
    sheet: str | None = None,
    encoding: str | None = None,
    combine: Literal["latest", "all"] | None = None,
    pseudonymise: Sequence[str] = (),
) -> AddResult:
    """Copy a delivery into ``data/raw`` read-only and register it in ``expedition.yaml``.

    Holds the project lock throughout, and writes the copy and the new ``expedition.yaml`` as
    one unit: after a crash the delivery is either registered with its copy, or not at all.
    The delivery is read once, completely, to settle how every later stage reads it (see
    `expedition.reading.survey`); *sheet* picks a workbook's sheet (default: the first, with a
    warning when there are others) and *encoding* overrides the detected text encoding.

    *combine* sets the dataset's ``combine`` (``all``: every delivery is a period, analysed
    together). A delivery of a ``combine: all`` dataset that repeats one already added (same
    SHA-256) is refused, since its rows would count twice.

    *pseudonymise* names columns replaced by keyed pseudonyms before the copy is made (see
    `expedition.pseudonymise`): the pseudonymised file is the delivery, and the original's
    SHA-256, the columns and the key's fingerprint are recorded with it.
    """
    path = Path(path).expanduser()
    name = name or default_name(path)
    problem = name_problem("dataset name", name)
    if problem:
        raise DataError(problem, "choose another name with --name, e.g. --name referrals")
    check_readable(path)
    if pseudonymise:
        return _add_pseudonymised(project, path, name, list(pseudonymise), description=description,
                                  sheet=sheet, encoding=encoding, combine=combine)
    return _add(project, path, name, description=description, sheet=sheet, encoding=encoding,
                combine=combine)


def _add_pseudonymised(project: Project, path: Path, name: str, columns: list[str], **kwargs: Any) -> AddResult:
    import shutil

    from expedition.pseudonymise import expedition_key, pseudonymise_file

    key = expedition_key(project.config.expedition.slug, project=project.root)
    original = sha256_file(path)
    existing = project.config.datasets.get(name)
    for delivery in existing.deliveries if existing else []:
        done = delivery.pseudonymised
        if (done is not None and done.original_sha256 == original and done.columns == columns
                and done.key_fingerprint == key.fingerprint):
            if (kwargs.get("combine") or existing.combine) == "all":
                raise DataError(
                    f"this file is the same as delivery v{delivery.version} of {name!r} "
                    f"({done.original_file}, same SHA-256); {name!r} combines every delivery, so "
                    "its rows would be counted twice",
                    "add the file for another period instead; nothing was copied", path=path)
            return AddResult(name, delivery, "unchanged")
    made = pseudonymise_file(path, columns, key, sheet=kwargs.pop("sheet"), encoding=kwargs.pop("encoding"))
    try:
        return _add(project, made.file, name, source=path.name, pseudonymised=made.record(),
                    sheet=None, encoding=None, **kwargs)
    finally:
        shutil.rmtree(made.file.parent, ignore_errors=True)


def _add(
    project: Project,
    path: Path,
    name: str,
    *,
    description: str,
    sheet: str | None,
    encoding: str | None,
    combine: Literal["latest", "all"] | None,
    source: str | None = None,
    pseudonymised: dict[str, Any] | None = None,
) -> AddResult:
    fmt = detect_format(path)
    digest = sha256_file(path)
    existing = project.config.datasets.get(name)
    deliveries = existing.deliveries if existing else []
    mode = combine or (existing.combine if existing else "latest")
    for delivery in deliveries:
        if delivery.sha256 == digest and (sheet is None or delivery.read is None
                                          or delivery.read.sheet in (None, sheet)):
            if mode == "all":
                raise DataError(
                    f"this file is the same as delivery v{delivery.version} of {name!r} "
                    f"({delivery.source}, same SHA-256); {name!r} combines every delivery, so "
                    "its rows would be counted twice",
                    "add the file for another period instead; nothing was copied",
                    path=path,
                )
            return AddResult(name, delivery, "unchanged")

    found = survey(path, format=fmt, sheet=sheet, encoding=encoding)
    rows, columns = found.rows, found.columns
    version = max((d.version for d in deliveries), default=0) + 1
    dest = project.raw_dir / name / f"v{version}" / path.name
    if dest.exists():
        raise DataError(
            f"{project.relative(dest)} already exists but is not registered in expedition.yaml",
            "move it out of data/raw (or register it) and try again",
            path=dest,
        )

    def change(document: Any) -> None:
        datasets = document.get("datasets")
        if datasets is None:
            document["datasets"] = datasets = {}
        if name not in datasets or datasets[name] is None:
            datasets[name] = {
                "description": description,
                "schema": f"schemas/{name}.yaml",
                "deliveries": [],
            }
        entry = datasets[name]
        if combine is not None:
            entry["combine"] = combine
        if entry.get("deliveries") is None:
            entry["deliveries"] = []
        record = plain(delivery.model_dump(exclude_none=True))
        record["columns"] = flow_list(record["columns"])
        record["read"] = flow_map(record["read"])
        if "pseudonymised" in record:
            record["pseudonymised"]["columns"] = flow_list(record["pseudonymised"]["columns"])
        entry["deliveries"].append(record)

    with Unit(project.root, "data add") as unit:
        tmp = unit.file(dest, stage_in=project.raw_dir)
        copied, size = copy_hashing(path, tmp)
        if copied != digest:
            raise DataError(
                "the file changed while it was being added (it may still be downloading or "
                "being written)",
                "wait until the file is complete and add it again",
                path=path,
            )
        os.chmod(tmp, read_only_mode())
        delivery = Delivery(
            version=version,
            file=project.relative(dest),
            source=source or path.name,
            sha256=digest,
            format=fmt,
            rows=rows,
            columns=columns,
            bytes=size,
            added=datetime.now(timezone.utc).replace(microsecond=0),
            mtime_ns=os.stat(tmp).st_mtime_ns,
            read=found.options.to_record(),
            pseudonymised=pseudonymised,
        )
        update_config(project.config_path, change, unit=unit)
    warnings = list(found.warnings())
    existing = project.config.datasets.get(name)
    if existing is None or existing.agreement is None:
        warnings.append(
            f"dataset {name!r} has no data-sharing agreement recorded: add 'agreement:' (reference, "
            "provider, lawful_basis, retain_until) under it in expedition.yaml; a final pack is "
            "refused without one"
        )
    if version > 1 and mode == "latest":
        warnings.append(
            f"v{version} replaces v{version - 1} of {name!r}: validate and run read only the latest "
            f"delivery. If each file is a period (a month, a year), set 'combine: all' for {name!r} "
            "in expedition.yaml (or add with --combine all) to analyse them together"
        )
    return AddResult(name, delivery, "versioned" if version > 1 else "added", tuple(warnings))


def delivery_path(
    project: Project, dataset: str, version: int | None = None, *, full_check: bool = False
) -> Path:
    """The raw file of a dataset's latest (or given) delivery, checked by `check_delivery`
    (with *full_check*, by its SHA-256 whatever its size and time say)."""
    config = project.config.datasets.get(dataset)
    if config is None:
        known = ", ".join(sorted(project.config.datasets)) or "none yet"
        raise DataError(
            f"there is no dataset called {dataset!r} (datasets: {known})",
            "add one with `expedition data add FILE --name NAME`",
        )
    if not config.deliveries:
        raise DataError(
            f"dataset {dataset!r} has no deliveries yet",
            f"add one with `expedition data add FILE --name {dataset}`",
        )
    chosen = config.latest if version is None else next(
        (d for d in config.deliveries if d.version == version), None
    )
    if chosen is None:
        raise DataError(
            f"dataset {dataset!r} has no delivery v{version}",
            "see `expedition data list` for the versions",
        )
    return check_delivery(project, chosen, full=full_check)


def check_delivery(project: Project, delivery: Delivery, *, full: bool = False) -> Path:
    """The raw file of *delivery*, once it is known to be the file that was registered.

    Every stage that opens a raw delivery comes through here (profile, schema infer and
    validate through `delivery_path`; run and score through the validated data's check). The
    size and modification time are compared with those recorded by `add_dataset` first; the
    SHA-256 is computed when they differ, or always with *full* (as `expedition validate`
    does). A copy edited in place is refused with a `DataError` naming the file and both
    hashes: results from it would carry the registered hash of data nobody registered.
    """
    path = project.root / delivery.file
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(
            f"the raw delivery {delivery.file} (v{delivery.version}) is missing",
            f"put the original file back at that path (its SHA-256 is {delivery.sha256}), or "
            "add the delivery again with `expedition data add FILE --name NAME`",
            path=path,
        ) from None
    if (
        not full
        and delivery.mtime_ns is not None
        and info.st_size == delivery.bytes
        and info.st_mtime_ns == delivery.mtime_ns
    ):
        return path
    current = sha256_file(path) if full else sha256_remembered(path, project.state_dir)
    if current != delivery.sha256:
        raise DataError(
            f"the raw delivery {delivery.file} (v{delivery.version}) was changed after it was "
            f"registered: its SHA-256 is now {current}, but {delivery.sha256} was registered",
            "raw data is never edited in place: put the original file back (from the data "
            "owner's copy), or add the changed file as a new delivery with `expedition data add "
            "FILE --name NAME` (its latest version is then the changed file)",
            path=path,
        )
    return path


def _delivery(project: Project, dataset: str, version: int | None) -> Delivery:
    delivery_path(project, dataset, version)  # the errors for an unknown dataset or version
    config = project.config.datasets[dataset]
    if version is None:
        assert config.latest is not None
        return config.latest
    return next(d for d in config.deliveries if d.version == version)


def delivery_options(delivery: Delivery) -> ReadOptions:
    """How every stage reads *delivery*: the options `add_dataset` recorded (for a delivery
    registered before they were, only its format: the rest is detected when it is read)."""
    record = delivery.read.model_dump(exclude_none=True) if delivery.read is not None else None
    return ReadOptions.from_record(delivery.format, record, delivery.columns if record else None)


def open_delivery(
    project: Project, dataset: str, version: int | None = None, **kwargs: Any
) -> OpenedDataset:
    """Open a dataset's latest (or given) delivery with its recorded options (see
    `expedition.reading.open_dataset` for *kwargs*: ``text``, ``schema_overrides``, ...)."""
    delivery = _delivery(project, dataset, version)
    opened = open_dataset(project.root / delivery.file, delivery_options(delivery), **kwargs)
    return replace(opened, estimated_rows=delivery.rows)
