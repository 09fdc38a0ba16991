"""Reading data files lazily with Polars, and registering deliveries in a project.

``scan_dataset(path)`` opens CSV/TSV, Parquet, Excel (.xlsx) and JSON lines as a Polars LazyFrame.
Delimited text is read robustly: the encoding (UTF-8 with or without a byte-order mark,
Windows-1252, UTF-16) and delimiter are sniffed without reading the whole file, other encodings
and bare-CR line endings are copied to UTF-8 in a stream, blank and repeated column names are made
unique, and date columns in common UK and ISO layouts are parsed. Problems that only appear
part-way through a file (a ragged row, text in a numeric column, bytes in another encoding) are
turned by ``read_failure`` into either a way to read the file again or a `DataError` naming the
line.
``add_dataset(project, path, name)`` copies a delivery into ``data/raw/NAME/vN/``, makes the copy
read-only, and records its SHA-256, format, rows, columns and time in ``expedition.yaml``. A
second delivery with different content becomes the next version beside the first; the same content
again is recognised and not copied twice. Raw data is never modified.
"""

from __future__ import annotations

import atexit
import codecs
import io
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expedition._io import copy_hashing, read_only_mode, sha256_file
from expedition._lock import locked
from expedition._store import Unit
from expedition.config import Delivery, flow_list, name_problem, plain, update_config
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
_MAX_HEADER_BYTES = 1 << 20
_SPOT_CHECKS = 16
_COPY_CHUNK = 1 << 20
_HEAD_ROWS = 10_000
_HEAD_CELLS = 2_000_000

#: Date layouts recognised in text columns, tried in this order (UK day-first before US
#: month-first). A column becomes a date column when every value in the first rows parses with
#: one of them to a year between 1800 and 2200.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d %B %Y",
    "%d-%B-%Y",
    "%m/%d/%Y",
    "%d/%m/%y",
)
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%z",
)
_PLAUSIBLE_YEARS = (1800, 2200)

_MAGIC = [
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one): if it is Excel, rename it to .xlsx"),
    (b"PAR1", "a Parquet file: rename it to .parquet"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook: save it as .xlsx or CSV in Excel"),
    (b"%PDF", "a PDF document: ask for the data as CSV or Excel instead"),
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
    (b"SQLite format 3", "an SQLite database: export the table as CSV"),
]


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


# --------------------------------------------------------------------------- delimited text


@dataclass(frozen=True)
class TextLayout:
    """What sniffing a delimited text file found: encoding, delimiter, header, line endings.

    ``encoding`` is ``utf8`` (with or without a byte-order mark: ``bom`` says which),
    ``cp1252`` (Windows-1252, as Excel writes "CSV" on Windows) or ``utf16`` (Excel's
    "Unicode text"). ``columns`` are the names as read: a blank header becomes ``column_N`` and
    a repeated one ``NAME_2``, ``NAME_3``, ...; ``renamed`` lists ``(position, as written, as
    read)`` for each. ``cr_newlines`` is true for old Mac files whose lines end in a bare CR.
    """

    encoding: str
    delimiter: str
    bom: bool
    header: tuple[str, ...]
    columns: tuple[str, ...]
    renamed: tuple[tuple[int, str, str], ...]
    cr_newlines: bool
    bytes_per_row: float | None
    size: int
    quoting: bool = True

    @property
    def transcode(self) -> bool:
        """Whether the file is copied to UTF-8 with LF line endings before Polars reads it."""
        return self.encoding != "utf8" or self.cr_newlines


def _binary_error(path: Path, head: bytes) -> DataError:
    hint = next((what for magic, what in _MAGIC if head.startswith(magic)), None)
    return DataError(
        "this looks like a binary file, not delimited text"
        + (f": it starts like {hint.split(':')[0]}" if hint else ""),
        hint.split(": ", 1)[1] if hint and ": " in hint else (
            "check that the file is really CSV; export it again from the source system"
        ),
        path=path,
    )


def _valid_utf8_prefix(data: bytes, *, cut: bool = True) -> tuple[bool, bool]:
    """(decodes as UTF-8, holds non-ASCII characters); with *cut*, a character cut at either
    end of the window is allowed."""
    start = 0
    while cut and start < min(3, len(data)) and 0x80 <= data[start] < 0xC0:
        start += 1  # a window that begins inside a multi-byte character
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        if not (cut and exc.reason == "unexpected end of data"):
            return False, not data[start : start + exc.start].isascii()
        text = data[start : start + exc.start].decode("utf-8")
    return True, not text.isascii()


def _line_of_offset(path: Path, offset: int) -> int:
    """The 1-based line holding byte *offset*, counted by reading the file in pieces."""
    line = 1
    with open(path, "rb") as handle:
        remaining = offset
        while remaining > 0:
            block = handle.read(min(_COPY_CHUNK, remaining))
            if not block:
                break
            line += block.count(b"\n")
            remaining -= len(block)
    return line


def check_encoding(path: str | Path) -> str:
    """Read the whole file once and return ``utf8`` or ``cp1252``; mixed files are an error.

    Only this check reads every byte (in 1 MiB pieces): `inspect_text` looks at the start and at
    spot windows, which is enough for nearly every file. A file that is valid UTF-8 in places
    and not in others (two exports pasted together) cannot be read correctly either way and is
    refused with the line of the first bad byte.
    """
    path = Path(path)
    seen_utf8 = False
    offset = 0
    carry = b""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_COPY_CHUNK), b""):
            data = carry + block
            carry = b""
            if not data.isascii():
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    if exc.reason == "unexpected end of data" and len(data) - exc.start < 4:
                        carry = data[exc.start :]  # a character cut by the block boundary
                        data = data[: exc.start]
                    elif seen_utf8 or not data[: exc.start].isascii():
                        raise _mixed_encoding_error(path, offset + exc.start) from None
                    else:
                        return "cp1252"
                seen_utf8 = True
            offset += len(data)
    if carry and seen_utf8:
        raise _mixed_encoding_error(path, offset)
    return "cp1252" if carry else "utf8"


def _mixed_encoding_error(path: Path, offset: int) -> DataError:
    return DataError(
        f"the file mixes text encodings: it is UTF-8 in places, but line "
        f"{_line_of_offset(path, offset)} holds bytes that are not UTF-8",
        "export the whole file again as 'CSV UTF-8' from the source system (it was probably "
        "assembled from files saved with different encodings)",
        path=path,
    )


def _spot_windows(path: Path, size: int) -> list[tuple[int, bytes]]:
    """Small windows spread through the file, to check the encoding beyond its start."""
    if size <= _SNIFF_BYTES * 2:
        return []
    step = size // (_SPOT_CHECKS + 1)
    windows = []
    with open(path, "rb") as handle:
        for i in range(1, _SPOT_CHECKS + 1):
            handle.seek(i * step)
            windows.append((i * step, handle.read(4096)))
        handle.seek(max(0, size - 4096))
        windows.append((max(0, size - 4096), handle.read(4096)))
    return windows


def _decide_encoding(path: Path, head: bytes, size: int) -> tuple[str, bool]:
    """(encoding, byte-order mark present) from the head and spot windows of the file."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf16", True
    bom = head.startswith(codecs.BOM_UTF8)
    ok, seen_utf8 = _valid_utf8_prefix(head[3:] if bom else head, cut=len(head) < size)
    if not ok:
        if seen_utf8 or bom:
            bad = _first_bad_utf8(head)
            raise _mixed_encoding_error(path, bad)
        return "cp1252", False
    for offset, window in _spot_windows(path, size):
        good, non_ascii = _valid_utf8_prefix(window)
        if not good:
            if seen_utf8 or bom:
                raise _mixed_encoding_error(path, offset + _first_bad_utf8(window, tolerant=True))
            return "cp1252", False
        seen_utf8 = seen_utf8 or non_ascii
    return "utf8", bom


def _first_bad_utf8(data: bytes, tolerant: bool = False) -> int:
    start = 0
    if tolerant:
        while start < min(3, len(data)) and 0x80 <= data[start] < 0xC0:
            start += 1
    try:
        data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        return start + exc.start
    return 0


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to U+0081 etc.,
    as browsers do, so decoding never fails."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return "".join(chr(b) for b in bad), error.end


codecs.register_error("expedition-cp1252", _cp1252_fallback)

_PYTHON_CODECS = {"cp1252": "cp1252", "utf16": "utf-16", "utf8": "utf-8-sig"}


def inspect_text(path: str | Path, *, encoding: str | None = None, quoting: bool | None = None) -> TextLayout:
    """Sniff a delimited text file: encoding, delimiter, header names and line endings.

    Reads the first 64 KiB (more only when the header line is longer, up to 1 MiB) and a few
    small windows spread through the file, never the whole file.
    """
    import csv

    path = Path(path)
    _check_readable(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        if b"\n" not in head and b"\r" not in head and size > len(head):
            head += handle.read(_MAX_HEADER_BYTES - len(head))
            if b"\n" not in head and b"\r" not in head:
                raise DataError(
                    f"the first line is longer than {_MAX_HEADER_BYTES // (1 << 20)} MiB with no "
                    "line break, so it cannot be a header of column names",
                    "check that this is really a CSV file with one record per line (a JSON "
                    "document, or a file whose line breaks were lost in transfer, looks like "
                    "this); export it again from the source system",
                    path=path,
                )
    if encoding is None:
        if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\x00" in head[:4096]:
            raise _binary_error(path, head)
        encoding, bom = _decide_encoding(path, head, size)
    else:
        bom = head.startswith(codecs.BOM_UTF8)
    if encoding == "utf16":
        text = head.decode("utf-16", errors="ignore")
    elif encoding == "cp1252":
        text = head.decode("cp1252", errors="expedition-cp1252")
    else:
        text = head.decode("utf-8-sig", errors="ignore")
    if not text.strip():
        raise DataError("the file holds no data (only blank lines)", "ask the data owner to send it again", path=path)
    cr_newlines = "\r" in text and "\n" not in text
    if cr_newlines:
        text = text.replace("\r", "\n")
    complete = text if len(head) >= size else text[: text.rfind("\n") + 1] or text
    lines = complete.splitlines()
    sample = "\n".join(lines[:50])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    if path.suffix.lower() in {".tsv", ".tab"} and "\t" in lines[0]:
        delimiter = "\t"
    if quoting is None:
        quoting = _quotes_are_quoting(complete, delimiter)
    reader = csv.reader(
        io.StringIO(complete), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE
    )
    header = tuple(next(reader, []))
    width = len(header)
    data_rows = 0
    previous_end = reader.line_num
    for row in reader:
        data_rows += 1
        if len(row) > len(header):
            if any(cell.strip() for cell in row[len(header) :]):
                raise _ragged_error(path, previous_end + 1, len(row), len(header))
            width = max(width, len(row))  # trailing delimiters: extra, empty fields
        previous_end = reader.line_num
    columns, renamed = _unique_names(header + ("",) * (width - len(header)))
    header_bytes = len(lines[0].encode("utf-8")) + 1 if lines else 0
    body_bytes = len(complete.encode("utf-8")) - header_bytes
    bytes_per_row = body_bytes / data_rows if data_rows and len(head) < size else None
    return TextLayout(
        encoding=encoding,
        delimiter=delimiter,
        bom=bom,
        header=header,
        columns=columns,
        renamed=renamed,
        cr_newlines=cr_newlines,
        bytes_per_row=bytes_per_row,
        size=size,
        quoting=quoting,
    )


def _quotes_are_quoting(text: str, delimiter: str) -> bool:
    """Whether double quotes in the file quote values (as in CSV) or are just characters in the
    text (as in many tab-separated exports): quoting is off when splitting each line on the
    delimiter gives the header's number of fields everywhere and reading with quotes does not."""
    import csv

    if '"' not in text:
        return True
    lines = text.splitlines()
    width = len(lines[0].split(delimiter))
    if any(len(line.split(delimiter)) != width for line in lines[1:] if line):
        return True
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    return len(rows) == len([line for line in lines if line]) and all(len(r) == width for r in rows if r)


def _unique_names(header: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[tuple[int, str, str], ...]]:
    names: list[str] = []
    renamed: list[tuple[int, str, str]] = []
    taken = {name for name in header if name.strip()}
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        new = name
        if not name.strip():
            new = f"column_{position}"
            while new in taken:
                new += "_"
        elif name in seen:
            seen[name] += 1
            new = f"{name}_{seen[name]}"
            while new in taken:
                new += "_"
        else:
            seen[name] = 1
        if new != name:
            renamed.append((position, name, new))
            taken.add(new)
        names.append(new)
    return tuple(names), tuple(renamed)


def _ragged_error(path: Path, line: int, fields: int, expected: int) -> DataError:
    return DataError(
        f"this row has {fields} fields but the header has {expected} (a ragged row)",
        "a value probably contains the delimiter without being quoted; export the file again "
        "with every text value in double quotes, or correct that line in a copy (the raw "
        "delivery is never changed)",
        path=path,
        line=line,
    )


def find_ragged_line(path: str | Path, layout: TextLayout | None = None) -> tuple[int, int] | None:
    """(line, fields) of the first row with more fields than the header, reading in a stream."""
    import csv

    path = Path(path)
    layout = layout or inspect_text(path)
    source = utf8_source(path, layout)
    with open(source, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(
            handle, delimiter=layout.delimiter, quoting=csv.QUOTE_MINIMAL if layout.quoting else csv.QUOTE_NONE
        )
        next(reader, None)  # the header row
        for row in reader:
            if len(row) > len(layout.columns):
                return reader.line_num, len(row)
    return None


def sniff_text(path: Path) -> tuple[str, str]:
    """Guess (encoding, delimiter) of a delimited text file from its start (see `inspect_text`)."""
    layout = inspect_text(path)
    return ("utf8" if layout.encoding == "utf8" else layout.encoding), layout.delimiter


_TRANSCODED: dict[tuple[str, int, int, str, bool], Path] = {}
_TRANSCODE_DIR: list[Path] = []


def _transcode_dir() -> Path:
    if not _TRANSCODE_DIR:
        folder = Path(tempfile.mkdtemp(prefix="expedition-utf8-"))
        atexit.register(shutil.rmtree, folder, True)
        _TRANSCODE_DIR.append(folder)
    return _TRANSCODE_DIR[0]


def utf8_source(path: str | Path, layout: TextLayout) -> Path:
    """The file itself when Polars can read it as it is, else a UTF-8 copy with LF line endings.

    The copy is written in 1 MiB pieces (never the whole file in memory) to a private temporary
    folder removed when Python exits, and reused while the file is unchanged. The delivered file
    is only ever read.
    """
    path = Path(path)
    if not layout.transcode:
        return path
    stat_ = path.stat()
    key = (str(path.resolve()), stat_.st_size, stat_.st_mtime_ns, layout.encoding, layout.cr_newlines)
    cached = _TRANSCODED.get(key)
    if cached is not None and cached.exists():
        return cached
    decoder = codecs.getincrementaldecoder(_PYTHON_CODECS[layout.encoding])(
        errors="expedition-cp1252" if layout.encoding == "cp1252" else "replace"
    )
    fd, name = tempfile.mkstemp(suffix=".csv", dir=_transcode_dir())
    with open(path, "rb") as source, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        for block in iter(lambda: source.read(_COPY_CHUNK), b""):
            text = decoder.decode(block)
            out.write(text.replace("\r", "\n") if layout.cr_newlines else text)
        out.write(decoder.decode(b"", final=True))
    _TRANSCODED[key] = Path(name)
    return Path(name)


def _detect_date_format(values: pl.Series) -> tuple[str, str] | None:
    """("date"|"datetime", format) that parses every value of *values* to a plausible date."""
    import polars as pl

    values = values.drop_nulls().str.strip_chars()
    values = values.filter(values != "")
    if values.len() == 0 or not values.str.contains(r"^\d|^\d{1,2} [A-Za-z]").all():
        return None
    low, high = _PLAUSIBLE_YEARS
    for kind, formats in (("date", DATE_FORMATS), ("datetime", DATETIME_FORMATS)):
        for fmt in formats:
            parsed = (
                values.str.to_date(fmt, strict=False)
                if kind == "date"
                else values.str.to_datetime(fmt, strict=False, time_unit="us")
            )
            if parsed.null_count() == 0:
                years = parsed.dt.year()
                if low <= years.min() and years.max() <= high:  # type: ignore[operator]
                    return kind, fmt
    del pl
    return None


@dataclass(frozen=True)
class OpenedDataset:
    """A data file opened lazily, with what was learned while opening it."""

    frame: pl.LazyFrame
    path: Path
    format: str
    layout: TextLayout | None = None
    date_formats: dict[str, str] = field(default_factory=dict)
    estimated_rows: int | None = None
    read_as_text: dict[str, str] = field(default_factory=dict)


def open_dataset(
    path: str | Path,
    *,
    format: str | None = None,
    schema_overrides: Mapping[str, Any] | None = None,
    encoding: str | None = None,
    parse_dates: bool = True,
    quoting: bool | None = None,
) -> OpenedDataset:
    """`scan_dataset` with what it found out: text layout, date formats, estimated rows.

    With ``parse_dates=False`` the date columns of a CSV stay text (``date_formats`` still says
    which they are and in which layout), for readers that parse them more cheaply themselves.
    """
    import polars as pl

    path = Path(path)
    _check_readable(path)
    fmt = format or detect_format(path)
    overrides = dict(schema_overrides or {})
    if fmt in {"csv", "tsv"}:
        return _open_text_recovering(path, fmt, overrides, encoding, parse_dates, quoting)
    try:
        if fmt == "parquet":
            frame = pl.scan_parquet(path)
            rows = frame.select(pl.len()).collect().item()
            return OpenedDataset(_cast(frame, overrides), path, fmt, estimated_rows=int(rows))
        if fmt == "jsonl":
            frame = pl.scan_ndjson(path, infer_schema_length=10_000, schema_overrides=overrides or None)
            return OpenedDataset(frame, path, fmt, estimated_rows=_estimate_lines(path))
        if fmt == "xlsx":
            data = pl.read_excel(path)
            return OpenedDataset(_cast(data.lazy(), overrides), path, fmt, estimated_rows=data.height)
    except DataError:
        raise
    except Exception as exc:  # polars raises several exception types for unreadable input
        raise _data_error(exc, path) from None
    raise DataError(f"unsupported format {fmt!r}", "use csv, tsv, parquet, xlsx or jsonl", path=path)


def _cast(frame: pl.LazyFrame, overrides: dict[str, Any]) -> pl.LazyFrame:
    import polars as pl

    if not overrides:
        return frame
    return frame.with_columns(pl.col(name).cast(dtype) for name, dtype in overrides.items())


def _estimate_lines(path: Path) -> int | None:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    lines = head.count(b"\n")
    if len(head) >= size:
        return lines
    return int(size / (len(head) / lines)) if lines else None


def _open_text_recovering(
    path: Path,
    fmt: str,
    overrides: dict[str, Any],
    encoding: str | None,
    parse_dates: bool = True,
    quoting: bool | None = None,
) -> OpenedDataset:
    """`_open_text`, reading the head again when it shows text in a column typed from its
    first rows, or bytes that are not UTF-8."""
    notes: dict[str, str] = {}
    options = ReadOptions(encoding, quoting, overrides)
    for _ in range(64):
        try:
            opened = _open_text(
                path, fmt, options.schema_overrides, options.encoding, parse_dates, options.quoting
            )
        except DataError:
            raise
        except Exception as exc:  # polars raises several exception types for unreadable input
            recovery = read_failure(exc, path, format=fmt)
            retry = recovery.apply(options)
            if retry is None:
                raise _data_error(exc, path) from None
            fresh = retry.schema_overrides.keys() - options.schema_overrides.keys()
            notes.update(dict.fromkeys(fresh, recovery.reason))
            options = retry
            continue
        return replace(opened, read_as_text={**notes, **opened.read_as_text})
    raise DataError(
        "too many columns change type part-way through the file",
        "export the file again, checking that each column holds one kind of value",
        path=path,
    )


def _open_text(
    path: Path,
    fmt: str,
    overrides: dict[str, Any],
    encoding: str | None,
    parse_dates: bool = True,
    quoting: bool | None = None,
) -> OpenedDataset:
    import polars as pl

    layout = inspect_text(path, encoding=encoding, quoting=quoting)
    source = utf8_source(path, layout)
    widened = len(layout.columns) > len(layout.header)
    options: dict[str, Any] = {
        "separator": layout.delimiter,
        "has_header": not widened,
        "skip_rows": 1 if widened else 0,
        "new_columns": list(layout.columns),
        "infer_schema_length": _HEAD_ROWS,
        "try_parse_dates": False,
        "encoding": "utf8",
        "quote_char": '"' if layout.quoting else None,
    }
    head_rows = max(100, min(_HEAD_ROWS, _HEAD_CELLS // max(len(layout.columns), 1)))
    head = pl.read_csv(source, n_rows=head_rows, **options, schema_overrides=overrides or None)
    date_formats: dict[str, str] = {}
    conversions = []
    schema = head.schema
    for name in head.columns:
        if name in overrides or schema[name] != pl.String:
            continue
        found = _detect_date_format(head.get_column(name))
        if found is None:
            continue
        kind, fmt_ = found
        date_formats[name] = fmt_
        column = pl.col(name)
        values = head.get_column(name).drop_nulls()
        if not (values == values.str.strip_chars()).all():
            column = column.str.strip_chars()  # only when the first rows have spaces around dates
        conversions.append(
            column.str.to_date(fmt_, cache=False)
            if kind == "date"
            else column.str.to_datetime(fmt_, time_unit="us", cache=False)
        )
    frame = pl.scan_csv(
        source, **options, schema_overrides=({n: pl.String for n in date_formats} | overrides) or None
    )
    if conversions and parse_dates:
        frame = frame.with_columns(conversions)
    rows = None
    if layout.bytes_per_row:
        rows = int(layout.size / layout.bytes_per_row)
    elif layout.size <= _SNIFF_BYTES:
        rows = head.height
    return OpenedDataset(frame, path, fmt, layout, date_formats, rows)


def scan_dataset(
    path: str | Path,
    *,
    format: str | None = None,
    schema_overrides: Mapping[str, Any] | None = None,
    encoding: str | None = None,
) -> pl.LazyFrame:
    """Open a data file as a Polars LazyFrame.

    CSV and TSV: the encoding (UTF-8 with or without a byte-order mark, Windows-1252, UTF-16) and
    the delimiter are sniffed; anything but UTF-8 is copied to UTF-8 in a stream first. Blank and
    repeated column names are made unique (``column_3``, ``name_2``). Text columns whose first
    rows are all dates in one layout (ISO, ``31/12/2024``, ``31-Dec-2024``, ...) are read as dates.
    Parquet and JSON lines are scanned lazily; Excel workbooks are read from the first sheet.

    ``schema_overrides`` forces column types (e.g. ``{"age": pl.String}`` when a later row holds
    text in a column whose first rows are numbers); ``encoding`` skips encoding detection.
    Errors that only show when the data are read (a later ragged row, text in a number column)
    are explained by `read_failure`.
    """
    return open_dataset(path, format=format, schema_overrides=schema_overrides, encoding=encoding).frame


@dataclass(frozen=True)
class ReadOptions:
    """The choices a text file is read with that a `Recovery` may change."""

    encoding: str | None = None
    quoting: bool | None = None
    schema_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recovery:
    """How to read a file again after Polars stopped part-way: other types or another encoding."""

    schema_overrides: dict[str, Any] = field(default_factory=dict)
    encoding: str | None = None
    quoting: bool | None = None
    reason: str = ""

    def apply(self, options: ReadOptions) -> ReadOptions | None:
        """*options* changed as this recovery says, or None when it has nothing new to try."""
        if self.encoding and self.encoding != options.encoding:
            return replace(options, encoding=self.encoding)
        if self.quoting is False and options.quoting is not False:
            return replace(options, quoting=False)
        fresh = {c: t for c, t in self.schema_overrides.items() if c not in options.schema_overrides}
        if not fresh:
            return None
        return replace(options, schema_overrides={**options.schema_overrides, **fresh})


_PARSE_FAILURE = re.compile(r"could not parse `(.*?)` as dtype `(.*?)` at column '(.*?)'", re.S)
_CONVERSION_FAILURE = re.compile(r"conversion from `str` to `(\w+)` failed in column '(.*?)'", re.S)


def read_failure(exc: Exception, path: str | Path, *, format: str | None = None) -> Recovery:
    """Turn an error raised while reading *path* into a `Recovery`, or raise a `DataError`.

    A text value in a column whose first 10,000 rows are numbers (or dates) is recovered by
    reading that column as text; bytes that are not UTF-8 beyond the sniffed start by reading the
    file as Windows-1252. A row with more fields than the header is an error naming its line.
    """
    import polars as pl

    path = Path(path)
    message = str(exc)
    match = _PARSE_FAILURE.search(message)
    if match and match.group(2) == "str":
        return Recovery(
            quoting=False,
            reason="double quotes appear inside values, so the file is read with quoting off",
        )
    if match:
        value, dtype, column = match.groups()
        return Recovery(
            {column: pl.String},
            reason=f"'{column}' looked like {dtype} in its first rows but also holds text",
        )
    match = _CONVERSION_FAILURE.search(message)
    if match:
        kind, column = match.groups()
        return Recovery(
            {column: pl.String},
            reason=f"'{column}' has {kind}s in more than one layout (or other text)",
        )
    fmt = format or detect_format(path)
    if "invalid utf-8" in message.lower() and fmt in {"csv", "tsv"}:
        encoding = check_encoding(path)
        if encoding != "utf8":
            return Recovery(encoding=encoding, reason="the file is Windows-1252 beyond its start")
    if "more fields than defined" in message and fmt in {"csv", "tsv"}:
        found = find_ragged_line(path)
        if found is not None:
            line, fields = found
            raise _ragged_error(path, line, fields, len(inspect_text(path).columns))
    raise _data_error(exc, path)


def _data_error(exc: Exception, path: Path) -> DataError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type(exc).__name__ == "NoDataError":
        return DataError("the file holds no data", "ask the data owner to send it again", path=path)
    if "fastexcel" in message or "calamine" in message:
        return DataError(
            "reading Excel needs the 'fastexcel' package", "pip install fastexcel", path=path
        )
    if "invalid utf-8" in message.lower():
        return DataError(
            "part of the file is not UTF-8 text",
            "`expedition profile` on the file detects its encoding; or save it again as "
            "'CSV UTF-8' from the source system",
            path=path,
        )
    if "more fields than defined" in message:
        return DataError(
            "a row has more fields than the header (a ragged row)",
            "`expedition profile` on the file names the line; quote values that contain the "
            "delimiter and export the file again",
            path=path,
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


@locked("data add")
def add_dataset(
    project: Project, path: str | Path, name: str | None = None, *, description: str = ""
) -> AddResult:
    """Copy a delivery into ``data/raw`` read-only and register it in ``expedition.yaml``.

    Holds the project lock throughout, and writes the copy and the new ``expedition.yaml`` as
    one unit: after a crash the delivery is either registered with its copy, or not at all.
    """
    path = Path(path).expanduser()
    name = name or default_name(path)
    problem = name_problem("dataset name", name)
    if problem:
        raise DataError(problem, "choose another name with --name, e.g. --name referrals")
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
            source=path.name,
            sha256=digest,
            format=fmt,
            rows=rows,
            columns=columns,
            bytes=size,
            added=datetime.now(timezone.utc).replace(microsecond=0),
            mtime_ns=os.stat(tmp).st_mtime_ns,
        )
        update_config(project.config_path, change, unit=unit)
    return AddResult(name, delivery, "versioned" if version > 1 else "added")


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
    current = sha256_file(path)
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
