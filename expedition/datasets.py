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
import shutil
import stat
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expedition._io import sha256_file
from expedition.config import NAME_PATTERN, Delivery, flow_list, flow_map, plain, update_config
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


def add_dataset(
    project: Project,
    path: str | Path,
    name: str | None = None,
    *,
    description: str = "",
    sheet: str | None = None,
    encoding: str | None = None,
) -> AddResult:
    """Copy a delivery into ``data/raw`` read-only and register it in ``expedition.yaml``.

    The delivery is read once, completely, to settle how every later stage reads it (see
    `expedition.reading.survey`); *sheet* picks a workbook's sheet (default: the first, with a
    warning when there are others) and *encoding* overrides the detected text encoding.
    """
    path = Path(path).expanduser()
    name = name or default_name(path)
    if not re.match(NAME_PATTERN, name):
        raise DataError(
            f"{name!r} is not a valid dataset name",
            "use letters, digits, '_', '-' or '.', e.g. --name referrals",
        )
    check_readable(path)
    fmt = detect_format(path)
    digest = sha256_file(path)
    existing = project.config.datasets.get(name)
    deliveries = existing.deliveries if existing else []
    for delivery in deliveries:
        if delivery.sha256 == digest and (sheet is None or delivery.read is None
                                          or delivery.read.sheet in (None, sheet)):
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
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(path, tmp)
    os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.replace(tmp, dest)

    delivery = Delivery(
        version=version,
        file=project.relative(dest),
        source=path.name,
        sha256=digest,
        format=fmt,
        rows=rows,
        columns=columns,
        bytes=path.stat().st_size,
        added=datetime.now(timezone.utc).replace(microsecond=0),
        read=found.options.to_record(),
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
        if entry.get("deliveries") is None:
            entry["deliveries"] = []
        record = plain(delivery.model_dump(exclude_none=True))
        record["columns"] = flow_list(record["columns"])
        record["read"] = flow_map(record["read"])
        entry["deliveries"].append(record)

    try:
        update_config(project.config_path, change)
    except BaseException:
        os.chmod(dest, stat.S_IRUSR | stat.S_IWUSR)
        dest.unlink(missing_ok=True)
        raise
    return AddResult(name, delivery, "versioned" if version > 1 else "added", tuple(found.warnings()))


def delivery_path(project: Project, dataset: str, version: int | None = None) -> Path:
    """The raw file of a dataset's latest (or given) delivery."""
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
    return project.root / chosen.file


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
