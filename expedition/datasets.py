"""Reading data files lazily with Polars, and registering deliveries in a project.

``scan_dataset(path)`` opens CSV/TSV, Parquet, Excel (.xlsx) and JSON lines as a Polars LazyFrame.
``add_dataset(project, path, name)`` copies a delivery into ``data/raw/NAME/vN/``, makes the copy
read-only, and records its SHA-256, format, rows, columns and time in ``expedition.yaml``. A
second delivery with different content becomes the next version beside the first; the same content
again is recognised and not copied twice. Raw data is never modified.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expedition._io import sha256_file
from expedition.config import NAME_PATTERN, Delivery, flow_list, plain, update_config
from expedition.errors import DataError
from expedition.project import Project

if TYPE_CHECKING:
    import polars as pl

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_SNIFF_BYTES = 64 * 1024


def detect_format(path: str | Path) -> str:
    """The format of a data file, from its extension."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise DataError(
            f"cannot tell the format of '{path.name}' from its extension",
            f"use one of {known} (rename the file if its content is one of these)",
            path=path,
        )
    return fmt


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise DataError("the file does not exist", "check the path and spelling", path=path)
    if path.is_dir():
        raise DataError(
            "this is a folder, not a data file",
            "pass one file at a time (for several monthly files, add each as a delivery)",
            path=path,
        )
    if path.stat().st_size == 0:
        raise DataError("the file is empty (0 bytes)", "ask the data owner to send it again", path=path)


def sniff_text(path: Path) -> tuple[str, str]:
    """Guess (encoding, delimiter) of a delimited text file from its first 64 KiB."""
    import csv

    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if b"\x00" in head[:4096]:
        raise DataError(
            "this looks like a binary file, not delimited text",
            "check that the file is really CSV; export it again from the source system",
            path=path,
        )
    encoding = "utf8"
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sniff window
            text = head[: exc.start].decode("utf-8-sig")
        else:
            encoding = "cp1252"
            text = head.decode("cp1252", errors="replace")
    first_lines = "\n".join(text.splitlines()[:50])
    try:
        delimiter = csv.Sniffer().sniff(first_lines, delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    return encoding, delimiter


def scan_dataset(path: str | Path, *, format: str | None = None) -> pl.LazyFrame:
    """Open a data file as a Polars LazyFrame.

    CSV and TSV: the delimiter is sniffed; UTF-8 (with or without a byte-order mark) is read
    directly and Windows-1252 is transcoded. Parquet and JSON lines are scanned lazily; Excel
    workbooks are read from the first sheet.
    """
    import polars as pl

    path = Path(path)
    _check_readable(path)
    fmt = format or detect_format(path)
    try:
        if fmt in {"csv", "tsv"}:
            encoding, delimiter = sniff_text(path)
            options: dict[str, Any] = {
                "separator": delimiter,
                "infer_schema_length": 10_000,
                "try_parse_dates": True,
            }
            if encoding == "utf8":
                return pl.scan_csv(path, **options)
            data = path.read_bytes().decode("cp1252", errors="replace").encode("utf-8")
            return pl.read_csv(data, **options).lazy()
        if fmt == "parquet":
            return pl.scan_parquet(path)
        if fmt == "jsonl":
            return pl.scan_ndjson(path, infer_schema_length=10_000)
        if fmt == "xlsx":
            return pl.read_excel(path).lazy()
    except DataError:
        raise
    except Exception as exc:  # polars raises several exception types for unreadable input
        raise _data_error(exc, path) from None
    raise DataError(f"unsupported format {fmt!r}", "use csv, tsv, parquet, xlsx or jsonl", path=path)


def _data_error(exc: Exception, path: Path) -> DataError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type(exc).__name__ == "NoDataError":
        return DataError("the file holds no data", "ask the data owner to send it again", path=path)
    if "fastexcel" in message or "calamine" in message:
        return DataError(
            "reading Excel needs the 'fastexcel' package", "pip install fastexcel", path=path
        )
    return DataError(
        f"could not read the file: {message}",
        "check that the file is complete and in the format its extension says; "
        "export it again from the source system if needed",
        path=path,
    )


def inspect_file(path: str | Path, format: str | None = None) -> tuple[int, list[str]]:
    """Count the rows and list the columns of a data file, reading it once."""
    import polars as pl

    path = Path(path)
    frame = scan_dataset(path, format=format)
    try:
        columns = frame.collect_schema().names()
        rows = frame.select(pl.len()).collect().item()
    except Exception as exc:
        raise _data_error(exc, path) from None
    return int(rows), list(columns)


# --------------------------------------------------------------------------- registering


@dataclass(frozen=True)
class AddResult:
    """What `add_dataset` did: ``added`` (first delivery), ``versioned`` or ``unchanged``."""

    dataset: str
    delivery: Delivery
    status: Literal["added", "versioned", "unchanged"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "status": self.status,
            "delivery": plain(self.delivery.model_dump()),
        }


def default_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", path.stem).strip("_").lower()
    return name or "dataset"


def add_dataset(
    project: Project, path: str | Path, name: str | None = None, *, description: str = ""
) -> AddResult:
    """Copy a delivery into ``data/raw`` read-only and register it in ``expedition.yaml``."""
    path = Path(path).expanduser()
    name = name or default_name(path)
    if not re.match(NAME_PATTERN, name):
        raise DataError(
            f"{name!r} is not a valid dataset name",
            "use letters, digits, '_', '-' or '.', e.g. --name referrals",
        )
    _check_readable(path)
    fmt = detect_format(path)
    digest = sha256_file(path)
    existing = project.config.datasets.get(name)
    deliveries = existing.deliveries if existing else []
    for delivery in deliveries:
        if delivery.sha256 == digest:
            return AddResult(name, delivery, "unchanged")

    rows, columns = inspect_file(path, fmt)
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
        record = plain(delivery.model_dump())
        record["columns"] = flow_list(record["columns"])
        entry["deliveries"].append(record)

    try:
        update_config(project.config_path, change)
    except BaseException:
        os.chmod(dest, stat.S_IRUSR | stat.S_IWUSR)
        dest.unlink(missing_ok=True)
        raise
    return AddResult(name, delivery, "versioned" if version > 1 else "added")


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
