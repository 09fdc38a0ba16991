"""The one reader: every stage reads a delivery through here, with the same options.

A delivery is read the same way by `expedition data add`, `profile`, `schema infer`, `validate`
and the steps, so they all see the same rows and the same columns. How to read it is decided
once: `detect` sniffs the options from the start of the file (and a few windows spread through
it), `survey` reads the whole file once to confirm them and to count rows, and `data add`
records the result with the delivery in ``expedition.yaml`` (`ReadOptions.to_record`). Every
later stage opens the raw copy with those recorded options (`open_dataset(path, options)`); a
delivery registered before options were recorded is detected again when it is read.

Delimited text (CSV, TSV):

* encodings: UTF-8, UTF-16 and UTF-32 (little- or big-endian), each with or without a
  byte-order mark, and single-byte encodings: Windows-1252 by default (with a note when the
  bytes look more like another single-byte encoding, e.g. Cyrillic or Greek), or any encoding
  Python knows when it is named. Anything but UTF-8 is copied to UTF-8 in a stream first;
* line endings: LF, CRLF, bare CR (old Mac files) and files that mix them;
* quoting: double quotes quote values as in CSV, unless the file uses them as ordinary
  characters (many tab-separated exports); then quoting is off;
* header names: a blank name becomes ``column_N``, a repeated one ``NAME_2``, ``NAME_3``...;
* rows: a *short row* (fewer fields than the header, a blank line among them) is never padded
  silently: `short_rows` finds each with its field count, validation quarantines it and the
  profile reports it; a row with more values than the header is an error naming its line.

Workbooks (.xlsx) are read from the sheet named in the options (the first sheet by default; a
note lists the others). JSON lines keep their types; a file whose values change type (or that
holds NaN, Infinity or numbers too large for a double) is read with every value as text.
Parquet is scanned as it is. Raw data is only ever read.
"""

from __future__ import annotations

import atexit
import codecs
import io
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition.errors import DataError
from expedition.vocabulary import DATE_FORMATS, DATETIME_FORMATS, PLAUSIBLE_YEARS

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
TEXT_FORMATS = frozenset({"csv", "tsv"})
LINE_ENDINGS = ("LF", "CRLF", "CR", "mixed")

_SNIFF_BYTES = 64 * 1024
_MAX_HEADER_BYTES = 1 << 20
_SPOT_CHECKS = 16
_COPY_CHUNK = 1 << 20
_HEAD_ROWS = 10_000
_HEAD_CELLS = 2_000_000
_MAX_REREADS = 64
#: Short rows named in a message or a profile (all of them are found and quarantined).
SHORT_ROW_EXAMPLES = 10

_MAGIC = [
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one): if it is Excel, rename it to .xlsx"),
    (b"PAR1", "a Parquet file: rename it to .parquet"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook: save it as .xlsx or CSV in Excel"),
    (b"%PDF", "a PDF document: ask for the data as CSV or Excel instead"),
    (b"\x1f\x8b", "a gzip archive: decompress it first"),
    (b"SQLite format 3", "an SQLite database: export the table as CSV"),
]

#: Byte-order marks, longest first (a UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf32le"),
    (codecs.BOM_UTF32_BE, "utf32be"),
    (codecs.BOM_UTF8, "utf8"),
    (codecs.BOM_UTF16_LE, "utf16le"),
    (codecs.BOM_UTF16_BE, "utf16be"),
)
_UNICODE = {"utf8": "utf-8", "utf16le": "utf-16-le", "utf16be": "utf-16-be",
            "utf32le": "utf-32-le", "utf32be": "utf-32-be"}
#: Single-byte encodings another language's text may be in; checked when a file is not UTF-8.
_SINGLE_BYTE = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
                "cp1258", "koi8_r", "mac_roman", "cp437", "cp850", "iso8859_2", "iso8859_5",
                "iso8859_7", "latin_1", "iso8859_15")
#: Encodings that read Western European text as Windows-1252 does (their letters agree).
_WESTERN = {"cp1252", "latin_1", "iso8859_1", "iso8859_15"}
_ENCODING_NAMES = {
    "cp1250": "Central European (Windows-1250)", "cp1251": "Cyrillic (Windows-1251)",
    "cp1253": "Greek (Windows-1253)", "cp1254": "Turkish (Windows-1254)",
    "cp1255": "Hebrew (Windows-1255)", "cp1256": "Arabic (Windows-1256)",
    "cp1257": "Baltic (Windows-1257)", "cp1258": "Vietnamese (Windows-1258)",
    "koi8_r": "Cyrillic (KOI8-R)", "mac_roman": "Mac Roman", "cp437": "DOS (code page 437)",
    "cp850": "DOS Western (code page 850)", "iso8859_2": "Central European (ISO-8859-2)",
    "iso8859_5": "Cyrillic (ISO-8859-5)", "iso8859_7": "Greek (ISO-8859-7)",
}


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


def check_readable(path: Path) -> None:
    """A DataError unless *path* is a non-empty file."""
    if not path.exists():
        raise DataError("the file does not exist", "check the path and spelling", path=path)
    if path.is_dir():
        raise DataError(
            "this is a folder, not a data file",
            "pass one file at a time (for several monthly files, add each as a delivery of one dataset with --combine all)",
            path=path,
        )
    if path.stat().st_size == 0:
        raise DataError("the file is empty (0 bytes)", "ask the data owner to send it again", path=path)


# --------------------------------------------------------------------------- the options


@dataclass(frozen=True)
class ReadOptions:
    """How a delivery is read: the same options for every stage.

    ``encoding`` is ``utf8``, ``utf16le``, ``utf16be``, ``utf32le``, ``utf32be`` or a
    single-byte encoding (``cp1252``, or any name Python knows); ``bom`` says whether the file
    starts with a byte-order mark. ``line_endings`` is ``LF``, ``CRLF``, ``CR`` or ``mixed``;
    ``quoting`` is false when double quotes are ordinary characters. ``header`` holds the names
    as written and ``columns`` the names as read (blank and repeated names made unique, and an
    unnamed column for trailing delimiters). ``sheet`` is the workbook sheet read. For JSON
    lines, ``text_values`` means every value is read as text (its types were not consistent).
    ``short_rows`` is how many rows have fewer fields than the header, once a whole read has
    counted them (None until then).
    """

    format: str
    encoding: str | None = None
    bom: bool = False
    delimiter: str | None = None
    quoting: bool | None = None
    line_endings: str | None = None
    sheet: str | None = None
    header: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None
    text_values: bool = False
    short_rows: int | None = None

    @property
    def text(self) -> bool:
        return self.format in TEXT_FORMATS

    @property
    def transcode(self) -> bool:
        """Whether the file is copied to UTF-8 with LF line endings before Polars reads it."""
        return self.text and (self.encoding != "utf8" or self.line_endings in ("CR", "mixed"))

    @property
    def detected(self) -> bool:
        """Whether the options are complete (else the file is sniffed when it is opened)."""
        if self.text:
            return self.columns is not None and self.delimiter is not None and self.encoding is not None
        return True

    @property
    def renamed(self) -> tuple[tuple[int, str, str], ...]:
        """(position, as written, as read) of each column whose name was changed."""
        if not self.header or not self.columns:
            return ()
        written = list(self.header) + [""] * (len(self.columns) - len(self.header))
        return tuple((i, old, new) for i, (old, new) in enumerate(zip(written, self.columns), start=1)
                     if old != new)

    def encoding_label(self) -> str | None:
        """``utf8``, ``utf8+bom``, ``utf16le+bom``, ``cp1252``, ...: the encoding as shown."""
        if self.encoding is None:
            return None
        return self.encoding + ("+bom" if self.bom else "")

    def to_record(self) -> dict[str, Any]:
        """What `data add` records with the delivery (only what matters for its format)."""
        record: dict[str, Any] = {}
        if self.text:
            record.update(encoding=self.encoding, bom=self.bom, delimiter=self.delimiter,
                          quoting=self.quoting, line_endings=self.line_endings)
            if self.header is not None and self.columns is not None and tuple(self.header) != tuple(self.columns):
                record["header"] = list(self.header)
        elif self.format == "xlsx":
            record["sheet"] = self.sheet
            if self.header is not None and self.columns is not None and tuple(self.header) != tuple(self.columns):
                record["header"] = list(self.header)
        elif self.format == "jsonl" and self.text_values:
            record["text_values"] = True
        if self.short_rows is not None:
            record["short_rows"] = self.short_rows
        return record

    @classmethod
    def from_record(cls, format: str, record: Mapping[str, Any] | None,
                    columns: Iterable[str] | None = None) -> ReadOptions:
        """The options `to_record` wrote (and the delivery's columns); without a record, the
        format alone, to be detected when the file is opened."""
        if not record:
            return cls(format=format)
        names = tuple(columns) if columns is not None else None
        header = record.get("header")
        return cls(
            format=format,
            encoding=record.get("encoding"),
            bom=bool(record.get("bom", False)),
            delimiter=record.get("delimiter"),
            quoting=record.get("quoting"),
            line_endings=record.get("line_endings"),
            sheet=record.get("sheet"),
            header=tuple(header) if header is not None else names,
            columns=names,
            text_values=bool(record.get("text_values", False)),
            short_rows=record.get("short_rows"),
        )


@dataclass(frozen=True)
class Detection:
    """What sniffing found: the options, and what the user should know about them."""

    options: ReadOptions
    notes: tuple[str, ...] = ()
    sheets: tuple[str, ...] = ()
    bytes_per_row: float | None = None
    size: int = 0
    head_rows: int | None = None  # rows in the sniffed head, when it is the whole file


def normalise_encoding(name: str) -> str:
    """An encoding name as the options spell it (``UTF-8`` -> ``utf8``, ``Windows-1252`` ->
    ``cp1252``), or a DataError for a name Python does not know."""
    if name in _UNICODE or name in ("utf16", "utf32"):
        return name
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise DataError(
            f"{name!r} is not an encoding Python knows",
            "use e.g. utf-8, utf-16, cp1252 (Windows Western), cp1251 (Cyrillic) or latin-1",
        ) from None
    spelled = {"utf-8": "utf8", "utf-8-sig": "utf8", "utf-16-le": "utf16le", "utf-16-be": "utf16be",
               "utf-32-le": "utf32le", "utf-32-be": "utf32be", "utf-16": "utf16", "utf-32": "utf32"}
    return spelled.get(codec, codec.replace("-", "_"))


def _codec(encoding: str) -> str:
    return _UNICODE.get(encoding, encoding)


# --------------------------------------------------------------------------- encodings


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


def _wide_unicode(head: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, from where the zero bytes of mostly-ASCII
    text fall (``a\\x00`` is UTF-16 LE, ``\\x00\\x00\\x00a`` UTF-32 BE), else None."""
    sample = head[:4096]
    usable = len(sample) - len(sample) % 4
    if usable < 8:
        return None
    groups = usable // 4
    zeros = [sum(1 for i in range(k, usable, 4) if sample[i] == 0) / groups for k in range(4)]
    mostly, rarely = 0.7, 0.3
    if zeros[0] <= rarely and min(zeros[1:]) >= mostly:
        return "utf32le"
    if zeros[3] <= rarely and min(zeros[:3]) >= mostly:
        return "utf32be"
    if zeros[0] <= rarely and zeros[2] <= rarely and zeros[1] >= mostly and zeros[3] >= mostly:
        return "utf16le"
    if zeros[1] <= rarely and zeros[3] <= rarely and zeros[0] >= mostly and zeros[2] >= mostly:
        return "utf16be"
    return None


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

    Only this check reads every byte (in 1 MiB pieces): `detect` looks at the start and at
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
    for bom, name in _BOMS:
        if head.startswith(bom):
            if name != "utf8":
                return name, True
            break
    bom = head.startswith(codecs.BOM_UTF8)
    if not bom:
        wide = _wide_unicode(head)
        if wide is not None:
            return wide, False
        if b"\x00" in head[:4096]:
            raise _binary_error(path, head)
    ok, seen_utf8 = _valid_utf8_prefix(head[3:] if bom else head, cut=len(head) < size)
    if not ok:
        if seen_utf8 or bom:
            raise _mixed_encoding_error(path, _first_bad_utf8(head))
        return "cp1252", False
    for offset, window in _spot_windows(path, size):
        good, non_ascii = _valid_utf8_prefix(window)
        if not good:
            if seen_utf8 or bom:
                raise _mixed_encoding_error(path, offset + _first_bad_utf8(window, tolerant=True))
            return "cp1252", False
        seen_utf8 = seen_utf8 or non_ascii
    return "utf8", bom


def likelier_encoding(sample: bytes) -> str | None:
    """A single-byte encoding the non-UTF-8 *sample* is more likely in than Windows-1252, or None.

    Which code page a byte belongs to cannot be read from the bytes; ``charset-normalizer``
    judges it from how the text decodes in each (letters of one alphabet in runs, or accented
    Latin letters scattered among ASCII ones), which is what this asks it.
    """
    if sample.isascii():
        return None
    from charset_normalizer import from_bytes

    matches = from_bytes(sample, cp_isolation=list(_SINGLE_BYTE))
    best = matches.best()
    if best is None or best.encoding in _WESTERN:
        return None
    ours = next((m for m in matches if m.encoding == "cp1252"), None)
    if ours is not None and ours.chaos <= best.chaos and ours.coherence >= best.coherence:
        return None
    return best.encoding


def _encoding_note(encoding: str) -> str:
    name = _ENCODING_NAMES.get(encoding, encoding)
    return (f"read as Windows-1252 (Western European), but its bytes look more like {name}: if "
            f"names or words look wrong, add it again with --encoding {encoding}")


# --------------------------------------------------------------------------- delimited text


def _line_endings(text: str) -> str | None:
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    kinds = [name for name, n in (("LF", lf), ("CRLF", crlf), ("CR", cr)) if n]
    if not kinds:
        return None
    return kinds[0] if len(kinds) == 1 else "mixed"


def _decode(data: bytes, encoding: str, bom: bool) -> str:
    if encoding == "utf8":
        return data.decode("utf-8-sig", errors="ignore")
    if encoding == "cp1252":
        return data.decode("cp1252", errors="expedition-cp1252")
    text = data.decode(_codec(encoding), errors="ignore")
    return text[1:] if bom and text.startswith("\ufeff") else text


def detect(
    path: str | Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    quoting: bool | None = None,
    line_endings: str | None = None,
    sheet: str | None = None,
) -> Detection:
    """Sniff how to read *path*: the options, and notes for the user.

    Delimited text: reads the first 64 KiB (more only when the header line is longer, up to
    1 MiB) and a few small windows spread through the file, never the whole file. *encoding*,
    *quoting* and *line_endings* force those options; *sheet* names a workbook's sheet.
    """
    path = Path(path)
    check_readable(path)
    fmt = format or detect_format(path)
    if sheet is not None and fmt != "xlsx":
        raise DataError(f"--sheet applies to Excel workbooks, not {fmt} files",
                        "leave --sheet out for this file", path=path)
    if fmt in TEXT_FORMATS:
        return _detect_text(path, fmt, encoding=encoding, quoting=quoting, line_endings=line_endings)
    if fmt == "xlsx":
        return _detect_workbook(path, sheet)
    return Detection(ReadOptions(format=fmt), size=path.stat().st_size)


def _detect_text(
    path: Path, fmt: str, *, encoding: str | None, quoting: bool | None, line_endings: str | None
) -> Detection:
    import csv

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
    notes: list[str] = []
    if encoding is None:
        encoding, bom = _decide_encoding(path, head, size)
        if encoding == "cp1252":
            likelier = likelier_encoding(head)
            if likelier is not None:
                notes.append(_encoding_note(likelier))
    else:
        encoding = normalise_encoding(encoding)
        if encoding in ("utf16", "utf32"):  # the byte-order mark says which end comes first
            marked = next((name for mark, name in _BOMS if head.startswith(mark)), None)
            encoding = marked if marked and marked.startswith(encoding) else encoding + "le"
        bom = any(head.startswith(mark) and name == encoding for mark, name in _BOMS)
    text = _decode(head, encoding, bom)
    if not text.strip():
        raise DataError("the file holds no data (only blank lines)", "ask the data owner to send it again", path=path)
    whole = len(head) >= size
    if not whole and encoding in _UNICODE and encoding != "utf8":
        text = text[:-1]  # the last character may be cut
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    complete = normal if whole else normal[: normal.rfind("\n") + 1] or normal
    lines = complete.splitlines()
    sample = "\n".join(lines[:50])
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        # no delimiter is consistent across the lines (short rows, a single row): the one the
        # header uses most, else the extension's
        counts = {d: lines[0].count(d) for d in ",\t;|"} if lines else {}
        best = max(counts, key=lambda d: counts[d], default=",")
        delimiter = best if counts.get(best) else ("\t" if fmt == "tsv" else ",")
    if (fmt == "tsv" or path.suffix.lower() in {".tsv", ".tab"}) and "\t" in lines[0]:
        delimiter = "\t"
    if quoting is None:
        quoting = _quotes_are_quoting(complete, delimiter)
    # how lines end, outside quoted values (a cell of a CRLF file may hold a bare LF)
    endings = line_endings or _line_endings(re.sub(r'"[^"]*"', "", text) if quoting else text) or "LF"
    if line_endings is None and endings in ("LF", "CRLF") and encoding == "utf8":
        for _, window in _spot_windows(path, size):
            if re.search(rb"\r(?!\n)", window[:-1]):
                endings = "mixed"  # bare CRs further down the file
                break
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
                raise ragged_error(path, previous_end + 1, len(row), len(header))
            width = max(width, len(row))  # trailing delimiters: extra, empty fields
        previous_end = reader.line_num
    columns, _ = unique_names(header + ("",) * (width - len(header)))
    header_bytes = len(lines[0].encode("utf-8")) + 1 if lines else 0
    body_bytes = len(complete.encode("utf-8")) - header_bytes
    # bytes per row in the file itself (UTF-16 and UTF-32 take more than the UTF-8 text)
    width_ratio = len(head) / max(len(_decode(head, encoding, bom).encode("utf-8")), 1)
    bytes_per_row = body_bytes * width_ratio / data_rows if data_rows and not whole else None
    options = ReadOptions(
        format=fmt, encoding=encoding, bom=bom, delimiter=delimiter, quoting=quoting,
        line_endings=endings, header=header, columns=columns,
    )
    return Detection(options, tuple(notes), bytes_per_row=bytes_per_row, size=size,
                     head_rows=data_rows if whole else None)


def _quotes_are_quoting(text: str, delimiter: str) -> bool:
    """Whether double quotes in the file quote values (as in CSV) or are just characters in the
    text (as in many tab-separated exports, where a quote may open and never close).

    When every quote sits where CSV puts one (around a whole value, doubled inside it), the
    file is CSV. Otherwise both readings of the sniffed lines are scored: a row with more fields than the header is
    the mark of the wrong one (a delimiter inside quotes split apart, or lines run together by a
    quote that never closes), then rows with exactly the header's fields count for it. Rows
    short of fields say nothing either way. A tie is CSV's reading."""
    import csv

    if '"' not in text:
        return True
    lines = text.splitlines()
    if not lines:
        return True
    d = re.escape(delimiter)
    quoted_fields = re.compile(rf'(?:^|(?<=[{d}\n]))"(?:[^"]|"")*"(?=[{d}\r\n]|$)')
    if '"' not in quoted_fields.sub("", text):
        return True  # every quote opens or closes a whole value, or is doubled inside one
    width = len(lines[0].split(delimiter))

    def score(rows: list[list[str]]) -> tuple[int, int]:
        body = rows[1:]
        return (sum(len(r) > width for r in body), -sum(len(r) == width for r in body))

    plain = score([line.split(delimiter) for line in lines if line])
    try:
        quoted = score([r for r in csv.reader(io.StringIO(text), delimiter=delimiter, strict=True) if r])
    except csv.Error:  # a quote that opens a value and is followed by more text: not CSV quoting
        return False
    return quoted <= plain


def unique_names(header: Iterable[str]) -> tuple[tuple[str, ...], tuple[tuple[int, str, str], ...]]:
    """Column names as read: a blank name becomes ``column_N`` (N its position), a repeated one
    ``NAME_2``, ``NAME_3``, ...; with (position, as written, as read) for each one changed."""
    header = tuple("" if name is None else str(name) for name in header)
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


def ragged_error(path: Path, line: int, fields: int, expected: int) -> DataError:
    return DataError(
        f"this row has {fields} fields but the header has {expected} (a ragged row)",
        "a value probably contains the delimiter without being quoted; export the file again "
        "with every text value in double quotes, or correct that line in a copy (the raw "
        "delivery is never changed)",
        path=path,
        line=line,
    )


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to U+0081 etc.,
    as browsers do, so decoding never fails."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return "".join(chr(b) for b in bad), error.end


codecs.register_error("expedition-cp1252", _cp1252_fallback)

_TRANSCODED: dict[tuple[Any, ...], Path] = {}
_TRANSCODE_DIR: list[Path] = []


def _private_dir() -> Path:
    if not _TRANSCODE_DIR:
        folder = Path(tempfile.mkdtemp(prefix="expedition-read-"))
        atexit.register(shutil.rmtree, folder, True)
        _TRANSCODE_DIR.append(folder)
    return _TRANSCODE_DIR[0]


def _cache_key(path: Path, *parts: Any) -> tuple[Any, ...]:
    stat_ = path.stat()
    return (str(path.resolve()), stat_.st_size, stat_.st_mtime_ns, *parts)


def utf8_source(path: str | Path, options: ReadOptions) -> Path:
    """The file itself when Polars can read it as it is, else a UTF-8 copy with LF line endings.

    The copy is written in 1 MiB pieces (never the whole file in memory) to a private temporary
    folder removed when Python exits, and reused while the file is unchanged. The delivered file
    is only ever read. A byte-order mark is left out of the copy; CRLF and bare CR become LF.
    """
    path = Path(path)
    if not options.transcode:
        return path
    assert options.encoding is not None
    key = _cache_key(path, options.encoding, options.bom, options.line_endings)
    cached = _TRANSCODED.get(key)
    if cached is not None and cached.exists():
        return cached
    if options.encoding == "utf8":
        codec = "utf-8-sig"
    elif options.bom and options.encoding in ("utf16le", "utf16be", "utf32le", "utf32be"):
        codec = "utf-16" if options.encoding.startswith("utf16") else "utf-32"  # reads the mark
    else:
        codec = _codec(options.encoding)
    decoder = codecs.getincrementaldecoder(codec)(
        errors="expedition-cp1252" if options.encoding == "cp1252" else "replace"
    )
    newlines = options.line_endings in ("CR", "mixed")
    fd, name = tempfile.mkstemp(suffix=".csv", dir=_private_dir())
    with open(path, "rb") as source, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        pending_cr = False
        for block in iter(lambda: source.read(_COPY_CHUNK), b""):
            text = decoder.decode(block)
            if newlines:
                if pending_cr:
                    text = "\r" + text
                pending_cr = text.endswith("\r")
                if pending_cr:
                    text = text[:-1]  # a CRLF may be cut between two blocks
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            out.write(text)
        tail = decoder.decode(b"", final=True)
        if newlines:
            tail = ("\r" if pending_cr else "") + tail
            tail = tail.replace("\r\n", "\n").replace("\r", "\n")
        out.write(tail)
    _TRANSCODED[key] = Path(name)
    return Path(name)


def _csv_options(options: ReadOptions) -> dict[str, Any]:
    """The arguments Polars reads the text with: the same for every stage."""
    assert options.columns is not None and options.header is not None
    widened = len(options.columns) > len(options.header)
    return {
        "separator": options.delimiter,
        "has_header": not widened,
        "skip_rows": 1 if widened else 0,
        "new_columns": list(options.columns),
        "quote_char": '"' if options.quoting else None,
        "encoding": "utf8",
        "try_parse_dates": False,
    }


def _scan_lines(source: Path) -> pl.LazyFrame:
    """Every line of a UTF-8 file as text (a trailing CR removed), one row per line."""
    import polars as pl

    if hasattr(pl, "scan_lines"):
        return pl.scan_lines(source, name="line")
    # older Polars: one field per line (a NUL byte, never in text, as the separator)
    return pl.scan_csv(
        source, has_header=False, separator="\x00", quote_char=None, schema={"line": pl.String},
        truncate_ragged_lines=True,
    ).with_columns(pl.col("line").fill_null(""))


def _fields(text: pl.Expr, delimiter: str, quoting: bool) -> pl.Expr:
    """How many fields each record splits into (delimiters inside quotes do not count)."""
    import polars as pl

    if quoting:
        text = pl.when(text.str.contains('"', literal=True)).then(
            text.str.replace_all('"[^"]*"', "")  # quoted parts (an escaped "" is two of them)
        ).otherwise(text)
    return text.str.count_matches(re.escape(delimiter)) + 1


def record_fields(source: Path, options: ReadOptions) -> pl.LazyFrame:
    """One row per data record of a UTF-8 text file: ``row`` (1 = the first record after the
    header), ``line`` (where it starts), ``fields`` and ``blank`` (a line with nothing on it).

    Polars' CSV reader pads a row that is short of fields with nulls, so a row with fewer
    fields than the header cannot be told from one whose last values are empty; this counts
    them from the lines themselves, in one vectorised pass. A quoted value may hold line
    breaks: the lines of such a record are joined first (only when the file has any).
    """
    import polars as pl

    assert options.delimiter is not None
    line = pl.col("line")
    lines = _scan_lines(source).with_row_index("lineno", offset=1)
    quoting = bool(options.quoting)
    if quoting:
        odd = (line.str.count_matches('"', literal=True) % 2 == 1)
        multiline = lines.select(odd.any()).collect(engine="streaming").item()
    else:
        multiline = False
    if not multiline:
        records = lines.select(
            pl.col("lineno").alias("line"),
            _fields(line, options.delimiter, quoting).alias("fields"),
            (line.str.strip_chars() == "").alias("blank"),
        )
        return records.slice(1).with_row_index("row", offset=1)
    odd_int = (line.str.count_matches('"', literal=True) % 2).cast(pl.Int64)
    inside = ((odd_int.cum_sum() - odd_int) % 2) == 1  # this line continues a quoted value
    grouped = (
        lines.with_columns((~inside).cast(pl.Int64).cum_sum().alias("record"))
        .group_by("record", maintain_order=True)
        .agg(pl.col("lineno").first().alias("line"), line.str.join("\n").alias("text"))
    )
    records = grouped.select(
        "line",
        _fields(pl.col("text"), options.delimiter, True).alias("fields"),
        (pl.col("text").str.strip_chars() == "").alias("blank"),
    )
    return records.slice(1).with_row_index("row", offset=1)


@dataclass(frozen=True)
class ShortRows:
    """The rows with fewer fields than the header: how many, and each one's row, line and fields."""

    count: int
    width: int
    rows: pl.DataFrame | None = None  # row, line, fields, blank (every short row), when found

    def examples(self, limit: int = SHORT_ROW_EXAMPLES) -> list[dict[str, Any]]:
        if self.rows is None:
            return []
        return [{"row": int(r), "line": int(line), "fields": int(f), "blank": bool(b)}
                for r, line, f, b in self.rows.head(limit).iter_rows()]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "header_fields": self.width, "examples": self.examples()}


def find_short_rows(path: str | Path, options: ReadOptions, *, expected_rows: int | None = None) -> ShortRows:
    """Every row of a delimited text file with fewer fields than the header (one pass).

    A row with more fields than the header is a `DataError` naming its line (Polars cannot read
    such a file either). *expected_rows*, the rows Polars counts, guards the pairing of records
    with rows: the two must agree.
    """
    import polars as pl

    path = Path(path)
    assert options.columns is not None
    width = len(options.columns)
    source = utf8_source(path, options)
    records = record_fields(source, options)
    try:
        odd, total = pl.collect_all([
            records.filter(pl.col("fields") != width),
            records.select(pl.len()),
        ], engine="streaming")
    except pl.exceptions.ComputeError as exc:
        raise read_failure(exc, path, options) from None
    total_rows = int(total.item())
    long = odd.filter(pl.col("fields") > width)
    if long.height:
        line, fields = long.row(0)[1], long.row(0)[2]
        raise ragged_error(path, int(line), int(fields), width)
    if expected_rows is None:
        expected_rows = count_rows(path, options)
    if total_rows != expected_rows:
        raise DataError(
            f"the rows of this file cannot be counted consistently ({expected_rows:,} records "
            f"read as CSV, {total_rows:,} counted line by line): its quoting is irregular",
            "export the file again with every text value in double quotes (or none), or "
            "correct it in a copy (the raw delivery is never changed)",
            path=path,
        )
    short = odd.filter(pl.col("fields") < width).select(
        pl.col("row").cast(pl.Int64), pl.col("line").cast(pl.Int64), pl.col("fields").cast(pl.Int64),
        "blank",
    )
    return ShortRows(short.height, width, short)


def count_rows(path: str | Path, options: ReadOptions) -> int:
    """The rows Polars reads from a delimited text file (a fast count; no values parsed)."""
    import polars as pl

    source = utf8_source(Path(path), options)
    return int(pl.scan_csv(source, **_csv_options(options), infer_schema=False).select(pl.len()).collect().item())


# --------------------------------------------------------------------------- workbooks


def _detect_workbook(path: Path, sheet: str | None) -> Detection:
    try:
        import fastexcel
    except ImportError:  # pragma: no cover - a dependency
        raise DataError("reading Excel needs the 'fastexcel' package", "pip install fastexcel", path=path) from None
    try:
        reader = fastexcel.read_excel(str(path))
        sheets = tuple(reader.sheet_names)
    except Exception as exc:  # fastexcel raises its own types for a broken workbook
        raise DataError(
            f"could not open the workbook: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            "check that it is a complete .xlsx file (open and save it in Excel, or export the "
            "sheet as CSV)",
            path=path,
        ) from None
    if not sheets:
        raise DataError("the workbook has no sheets", "ask the data owner to send it again", path=path)
    notes: list[str] = []
    if sheet is None:
        chosen = sheets[0]
        if len(sheets) > 1:
            notes.append(
                f"the workbook has {len(sheets)} sheets ({', '.join(repr(s) for s in sheets)}); "
                f"read the first, {chosen!r}: to read another, add it again with --sheet NAME"
            )
    elif sheet in sheets:
        chosen = sheet
    else:
        raise DataError(
            f"the workbook has no sheet called {sheet!r}",
            f"its sheets are {', '.join(repr(s) for s in sheets)}; pass one of them to --sheet",
            path=path,
        )
    try:
        first = reader.load_sheet(chosen, header_row=None, n_rows=1, dtypes="string").to_polars()
    except Exception as exc:
        raise DataError(f"could not read sheet {chosen!r}: {exc}",
                        "open the workbook in Excel and check that sheet", path=path) from None
    header = tuple("" if v is None else str(v) for v in (first.row(0) if first.height else ()))
    columns, _ = unique_names(header)
    options = ReadOptions(format="xlsx", sheet=chosen, header=header, columns=columns)
    return Detection(options, tuple(notes), sheets=sheets, size=path.stat().st_size)


def _read_workbook(path: Path, options: ReadOptions, text: bool, overrides: Mapping[str, Any]) -> pl.DataFrame:
    import polars as pl

    kwargs: dict[str, Any] = {"sheet_name": options.sheet} if options.sheet else {}
    if text:
        kwargs["infer_schema_length"] = 0
    data = pl.read_excel(path, **kwargs)
    if options.columns is not None and len(options.columns) == data.width:
        data = data.rename(dict(zip(data.columns, options.columns)))
    if overrides:
        data = data.with_columns(pl.col(n).cast(t) for n, t in overrides.items() if n in data.columns)
    return data


# --------------------------------------------------------------------------- JSON lines


def _json_text_source(path: Path) -> tuple[Path, tuple[str, ...]]:
    """A copy of a JSON-lines file with every value as text, and its keys in order of appearance.

    Used when Polars cannot read the file with types: values that change type between lines, or
    NaN, Infinity and numbers too large for a double (Python's ``json`` reads those; Polars'
    reader does not). Nested values become their JSON text. A line that is not a JSON object is
    an error naming it.
    """
    key = _cache_key(path, "json-text")
    cached = _TRANSCODED.get(key)
    if cached is not None and cached.exists():
        keys = tuple(json.loads(cached.with_suffix(".keys").read_text(encoding="utf-8")))
        return cached, keys
    keys: dict[str, None] = {}
    fd, name = tempfile.mkstemp(suffix=".jsonl", dir=_private_dir())
    with open(path, "rb") as source, os.fdopen(fd, "w", encoding="utf-8") as out:
        for number, raw in enumerate(source, start=1):
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"this line is not valid JSON ({exc.msg})",
                                "each line of a JSON-lines file must be one JSON object; export it again",
                                path=path, line=number) from None
            if not isinstance(record, dict):
                raise DataError(f"this line holds a JSON {type(record).__name__}, not an object",
                                "each line of a JSON-lines file must be one JSON object ({...})",
                                path=path, line=number)
            keys.update(dict.fromkeys(record))
            out.write(json.dumps({k: _json_text(v) for k, v in record.items()}, ensure_ascii=False))
            out.write("\n")
    Path(name).with_suffix(".keys").write_text(json.dumps(list(keys)), encoding="utf-8")
    _TRANSCODED[key] = Path(name)
    return Path(name), tuple(keys)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _scan_json(path: Path, options: ReadOptions, overrides: Mapping[str, Any]) -> pl.LazyFrame:
    import polars as pl

    if options.text_values:
        source, keys = _json_text_source(path)
        frame = pl.scan_ndjson(source, schema={k: pl.String for k in keys})
        if overrides:
            frame = frame.with_columns(pl.col(n).cast(t) for n, t in overrides.items() if n in keys)
        return frame
    return pl.scan_ndjson(path, infer_schema_length=10_000, schema_overrides=dict(overrides) or None)


# --------------------------------------------------------------------------- opening


def nested_as_text(frame: Any) -> Any:
    """A frame (lazy or not) with lists and objects as their JSON text (``[1,2]``,
    ``{"a":1}``): what validation and contract inference check them as."""
    import polars as pl

    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    nested = [n for n, t in schema.items() if isinstance(t, (pl.List, pl.Array, pl.Struct))]
    if not nested:
        return frame
    return frame.with_columns(
        pl.struct(pl.col(n).alias("v")).struct.json_encode()
        .str.strip_prefix('{"v":').str.strip_suffix("}").replace("null", None).alias(n)
        for n in nested
    )


def _detect_date_format(values: pl.Series) -> tuple[str, str] | None:
    """("date"|"datetime", format) that parses every value of *values* to a plausible date."""
    values = values.drop_nulls().str.strip_chars()
    values = values.filter(values != "")
    if values.len() == 0 or not values.str.contains(r"^\d|^\d{1,2} [A-Za-z]").all():
        return None
    low, high = PLAUSIBLE_YEARS
    for kind, formats in (("date", DATE_FORMATS), ("datetime", DATETIME_FORMATS)):
        for fmt in formats:
            try:
                parsed = (
                    values.str.to_date(fmt, strict=False)
                    if kind == "date"
                    else values.str.to_datetime(fmt, strict=False, time_unit="us")
                )
            except Exception:  # a layout Polars cannot apply to these values (e.g. %z)
                continue
            if parsed.null_count() == 0:
                years = parsed.dt.year()
                if low <= years.min() and years.max() <= high:  # type: ignore[operator]
                    return kind, fmt
    return None


@dataclass
class _Found:
    short: ShortRows | None = None


@dataclass(frozen=True)
class OpenedDataset:
    """A data file opened lazily, with what was learned while opening it."""

    frame: pl.LazyFrame
    path: Path
    options: ReadOptions
    date_formats: dict[str, str] = field(default_factory=dict)
    estimated_rows: int | None = None
    read_as_text: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    sheets: tuple[str, ...] = ()
    _found: _Found = field(default_factory=_Found, repr=False, compare=False)

    @property
    def format(self) -> str:
        return self.options.format

    def short_rows(self) -> ShortRows:
        """The rows with fewer fields than the header: from the recorded count when it is 0,
        else found in one pass over the file (once; then kept)."""
        if self._found.short is None:
            if not self.options.text:
                self._found.short = ShortRows(0, len(self.options.columns or ()))
            elif self.options.short_rows == 0:
                self._found.short = ShortRows(0, len(self.options.columns or ()))
            else:
                self._found.short = find_short_rows(self.path, self.options)
        return self._found.short


def open_dataset(
    path: str | Path,
    options: ReadOptions | None = None,
    *,
    format: str | None = None,
    text: bool = False,
    schema_overrides: Mapping[str, Any] | None = None,
    null_values: Iterable[str] = (),
    parse_dates: bool = True,
    sheet: str | None = None,
) -> OpenedDataset:
    """Open a delivery lazily with *options* (detected here when not given or incomplete).

    With ``text=True`` every column of delimited text is read as text (validation and contract
    inference convert values themselves, so one bad value fails its row, not the read); other
    formats keep the types they carry. Otherwise column types come from the first 10,000 rows,
    and text columns whose first rows are all dates in one layout become dates (with
    ``parse_dates=False`` they stay text and ``date_formats`` says which they are).
    ``schema_overrides`` forces column types; ``null_values`` (text only) are read as missing.
    Errors that only show when the data are read (text in a column typed from its first rows,
    bytes in another encoding) are explained by `read_failure`.
    """
    path = Path(path)
    check_readable(path)
    fmt = (options.format if options is not None else None) or format or detect_format(path)
    notes: tuple[str, ...] = ()
    sheets: tuple[str, ...] = ()
    head_rows = None
    bytes_per_row = None
    # a workbook is always looked at again: listing its sheets costs little, and says what else it holds
    if options is None or not options.detected or fmt == "xlsx":
        detection = detect(
            path, format=fmt,
            encoding=options.encoding if options is not None else None,
            quoting=options.quoting if options is not None else None,
            line_endings=options.line_endings if options is not None else None,
            sheet=sheet if sheet is not None else (options.sheet if options is not None else None),
        )
        found = detection.options
        if options is not None:
            found = replace(found, text_values=options.text_values, short_rows=options.short_rows)
        options, notes, sheets = found, detection.notes, detection.sheets
        head_rows, bytes_per_row = detection.head_rows, detection.bytes_per_row
    if options.text and options.encoding == "cp1252" and not notes:
        with open(path, "rb") as handle:
            likelier = likelier_encoding(handle.read(_SNIFF_BYTES))
        notes = (_encoding_note(likelier),) if likelier else ()
    overrides = dict(schema_overrides or {})
    try:
        if options.text:
            return _open_text(path, options, overrides, text=text, null_values=null_values,
                              parse_dates=parse_dates, notes=notes, head_rows=head_rows,
                              bytes_per_row=bytes_per_row)
        import polars as pl

        if fmt == "parquet":
            frame = pl.scan_parquet(path)
            if overrides:
                frame = frame.with_columns(pl.col(n).cast(t) for n, t in overrides.items())
            rows = pl.scan_parquet(path).select(pl.len()).collect().item()
            return OpenedDataset(nested_as_text(frame) if text else frame, path, options,
                                 estimated_rows=int(rows), notes=notes)
        if fmt == "jsonl":
            frame = _scan_json(path, options, overrides)
            if not options.text_values:
                try:
                    frame.collect_schema()
                except Exception:  # noqa: BLE001 - Polars: values of several types
                    options = replace(options, text_values=True)
                    frame = _scan_json(path, options, overrides)
            return OpenedDataset(nested_as_text(frame) if text else frame, path, options,
                                 estimated_rows=_estimate_lines(path), notes=notes)
        if fmt == "xlsx":
            data = _read_workbook(path, options, text, overrides)
            return OpenedDataset(data.lazy(), path, options, estimated_rows=data.height,
                                 notes=notes, sheets=sheets)
    except (DataError, _RereadWith):
        raise
    except Exception as exc:  # polars raises several exception types for unreadable input
        raise data_error(exc, path) from None
    raise DataError(f"unsupported format {fmt!r}", "use csv, tsv, parquet, xlsx or jsonl", path=path)


def _estimate_lines(path: Path) -> int | None:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    lines = head.count(b"\n")
    if len(head) >= size:
        return lines
    return int(size / (len(head) / lines)) if lines else None


def _open_text(
    path: Path, options: ReadOptions, overrides: dict[str, Any], *, text: bool,
    null_values: Iterable[str], parse_dates: bool, notes: tuple[str, ...],
    head_rows: int | None, bytes_per_row: float | None,
) -> OpenedDataset:
    import polars as pl

    source = utf8_source(path, options)
    kwargs = _csv_options(options)
    nulls = [v for v in null_values if v != ""]
    if nulls:
        kwargs["null_values"] = nulls
    assert options.columns is not None
    size = path.stat().st_size
    if text:
        frame = pl.scan_csv(source, **kwargs, infer_schema=False)
        if overrides:
            frame = frame.with_columns(pl.col(n).cast(t) for n, t in overrides.items())
        return OpenedDataset(frame, path, options, estimated_rows=_estimate(size, bytes_per_row, head_rows),
                             notes=notes)
    read_as_text: dict[str, str] = {}
    for _ in range(_MAX_REREADS):
        try:
            opened = _open_typed(source, path, options, kwargs, overrides, parse_dates)
        except DataError:
            raise
        except Exception as exc:  # polars raises several exception types for unreadable input
            recovery = read_failure(exc, path, options)
            if recovery.encoding or recovery.quoting is not None:
                raise _RereadWith(recovery) from None
            fresh = {c: t for c, t in recovery.schema_overrides.items() if c not in overrides}
            if not fresh:
                raise data_error(exc, path) from None
            read_as_text.update(dict.fromkeys(fresh, recovery.reason))
            overrides = {**overrides, **fresh}
            continue
        frame, date_formats, head_height = opened
        rows = _estimate(size, bytes_per_row, head_rows if head_rows is not None else None)
        if rows is None and size <= _SNIFF_BYTES:
            rows = head_height
        return OpenedDataset(frame, path, options, date_formats, rows, read_as_text, notes)
    raise DataError(
        "too many columns change type part-way through the file",
        "export the file again, checking that each column holds one kind of value",
        path=path,
    )


class _RereadWith(Exception):
    """Opening found that the file needs other options (encoding, quoting) than it was given."""

    def __init__(self, recovery: Recovery) -> None:
        super().__init__(recovery.reason)
        self.recovery = recovery


def _estimate(size: int, bytes_per_row: float | None, head_rows: int | None) -> int | None:
    if head_rows is not None:
        return head_rows
    if bytes_per_row:
        return int(size / bytes_per_row)
    return None


def _open_typed(
    source: Path, path: Path, options: ReadOptions, kwargs: dict[str, Any],
    overrides: dict[str, Any], parse_dates: bool,
) -> tuple[pl.LazyFrame, dict[str, str], int]:
    import polars as pl

    assert options.columns is not None
    head_rows = max(100, min(_HEAD_ROWS, _HEAD_CELLS // max(len(options.columns), 1)))
    head = pl.read_csv(source, n_rows=head_rows, infer_schema_length=_HEAD_ROWS, **kwargs,
                       schema_overrides=overrides or None)
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
        source, **kwargs, infer_schema_length=_HEAD_ROWS,
        schema_overrides=({n: pl.String for n in date_formats} | overrides) or None,
    )
    if conversions and parse_dates:
        frame = frame.with_columns(conversions)
    return frame, date_formats, head.height


def open_recovering(
    path: str | Path,
    options: ReadOptions | None = None,
    **kwargs: Any,
) -> OpenedDataset:
    """`open_dataset`, opened again with other options when its first rows show they are needed
    (bytes that are not UTF-8, quotes that are characters): the options it ends with are in
    ``.options``."""
    path = Path(path)
    for _ in range(4):
        try:
            return open_dataset(path, options, **kwargs)
        except _RereadWith as again:
            base = options or ReadOptions(format=kwargs.get("format") or detect_format(path))
            changed = again.recovery.apply(base)
            if changed is None:
                raise DataError(f"could not read the file: {again.recovery.reason}",
                                "export it again from the source system", path=path) from None
            options = changed
    raise DataError("could not settle how to read the file", "export it again as CSV UTF-8", path=path)


def scan_dataset(
    path: str | Path,
    *,
    format: str | None = None,
    schema_overrides: Mapping[str, Any] | None = None,
    encoding: str | None = None,
    options: ReadOptions | None = None,
) -> pl.LazyFrame:
    """Open a data file as a Polars LazyFrame (see `open_dataset`).

    CSV and TSV: the encoding, line endings, delimiter and quoting are sniffed; blank and
    repeated column names are made unique (``column_3``, ``name_2``); text columns whose first
    rows are all dates in one layout are read as dates. Parquet and JSON lines are scanned
    lazily; Excel workbooks are read from the first sheet (or the one *options* name).
    ``schema_overrides`` forces column types; ``encoding`` skips encoding detection.
    """
    if options is None:
        fmt = format or detect_format(path)
        options = ReadOptions(format=fmt, encoding=normalise_encoding(encoding) if encoding else None)
    return open_recovering(path, options, schema_overrides=schema_overrides).frame


# --------------------------------------------------------------------------- surveying


@dataclass(frozen=True)
class Survey:
    """What reading a whole delivery once found: the options to record, rows, short rows."""

    options: ReadOptions
    rows: int
    short: ShortRows
    notes: tuple[str, ...] = ()
    sheets: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return list(self.options.columns or ())

    def warnings(self) -> list[str]:
        """Notes for the person who added the delivery."""
        out = list(self.notes)
        if self.short.count:
            rows = ", ".join(f"row {e['row']} (line {e['line']}, "
                             + ("blank)" if e["blank"] else f"{e['fields']} field{'s' if e['fields'] != 1 else ''})")
                             for e in self.short.examples(3))
            out.append(
                f"{self.short.count:,} row{'s' if self.short.count != 1 else ''} "
                f"{'have' if self.short.count != 1 else 'has'} fewer fields than the header "
                f"({self.short.width}): {rows}{', ...' if self.short.count > 3 else ''}; "
                "`expedition validate` quarantines them"
            )
        return out


def survey(
    path: str | Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Survey:
    """Read a delivery once, completely, to settle how every stage will read it.

    Detects the options, then confirms them on the whole file: every value of delimited text is
    read as text (so bytes in another encoding or quotes that are characters show, and the
    options change), bare CRs anywhere mark mixed line endings, and the rows short of fields
    are counted. This is what `data add` records; its ``rows`` is what every stage reads.
    """
    import polars as pl

    path = Path(path)
    check_readable(path)
    fmt = format or detect_format(path)
    forced = normalise_encoding(encoding) if encoding else None
    if encoding is not None and fmt not in TEXT_FORMATS:
        raise DataError(f"--encoding applies to CSV and TSV files, not {fmt}",
                        "leave --encoding out for this file", path=path)
    detection = detect(path, format=fmt, encoding=forced, sheet=sheet)
    options = detection.options
    if fmt in TEXT_FORMATS:
        return _survey_text(path, detection, forced is not None)
    opened = open_dataset(path, options)
    options = opened.options
    if fmt == "jsonl":
        try:
            rows = int(opened.frame.select(pl.len()).collect().item())
            columns = opened.frame.collect_schema().names()
            # every value, to find a value of another type further down
            opened.frame.select(pl.all().null_count()).collect()
        except Exception:  # noqa: BLE001 - Polars: mixed types, NaN, Infinity, huge numbers
            options = replace(options, text_values=True)
            opened = open_dataset(path, options)
            try:
                rows = int(opened.frame.select(pl.len()).collect().item())
                columns = opened.frame.collect_schema().names()
            except Exception as exc:
                raise data_error(exc, path) from None
        if not columns:
            raise DataError("the file holds no data (no JSON objects)",
                            "ask the data owner to send it again", path=path)
        options = replace(options, header=tuple(columns), columns=tuple(columns))
        notes = detection.notes
        if options.text_values:
            with open(path, "rb") as handle:
                marked = handle.read(3) == codecs.BOM_UTF8
            notes += (("the file starts with a byte-order mark, which Polars' JSON reader refuses"
                       if marked else "values change type between lines (or hold NaN, Infinity or "
                       "numbers too large to store)") + ": every value is read as text",)
        return Survey(options, rows, ShortRows(0, len(columns)), notes)
    try:
        columns = opened.frame.collect_schema().names()
        rows = int(opened.frame.select(pl.len()).collect().item())
    except Exception as exc:
        raise data_error(exc, path) from None
    if fmt != "xlsx":
        options = replace(options, header=tuple(columns), columns=tuple(columns))
    return Survey(options, rows, ShortRows(0, len(columns)), detection.notes, detection.sheets)


def _survey_text(path: Path, detection: Detection, forced: bool) -> Survey:
    import polars as pl

    options = detection.options
    notes = list(detection.notes)
    for _ in range(8):
        if options.encoding == "utf8" and options.line_endings in ("LF", "CRLF") and _has_bare_cr(path):
            options = replace(options, line_endings="mixed")
        source = utf8_source(path, options)
        scan = pl.scan_csv(source, **_csv_options(options), infer_schema=False)
        try:
            # every value of every column is read: bytes in another encoding, quotes Polars
            # cannot parse and rows longer than the header all show here
            counts = scan.select(pl.all().null_count(), pl.len().alias("\x00rows")).collect(
                engine="streaming")
        except Exception as exc:  # noqa: BLE001 - Polars: not UTF-8, quotes, ragged rows
            recovery = read_failure(exc, path, options)
            changed = recovery.apply(options)
            if changed is None or (forced and recovery.encoding):
                raise data_error(exc, path) from None
            options = _redetect(path, changed)
            if recovery.encoding and recovery.encoding == "cp1252":
                with open(path, "rb") as handle:
                    likelier = likelier_encoding(handle.read(_SNIFF_BYTES * 4))
                if likelier:
                    notes.append(_encoding_note(likelier))
            continue
        rows = int(counts.item(0, "\x00rows"))
        last_missing = int(counts.item(0, (options.columns or ("",))[-1]))
        width = len(options.columns or ())
        # a short row leaves the last column empty: only then can there be any
        short = find_short_rows(path, options, expected_rows=rows) if last_missing else ShortRows(0, width)
        return Survey(replace(options, short_rows=short.count), rows, short, tuple(notes))
    raise DataError("could not settle how to read the file", "export it again as CSV UTF-8", path=path)


def _redetect(path: Path, options: ReadOptions) -> ReadOptions:
    """The options sniffed again with what a recovery changed (encoding, quoting) kept."""
    found = detect(path, format=options.format, encoding=options.encoding, quoting=options.quoting,
                   line_endings=options.line_endings).options
    return replace(found, short_rows=options.short_rows)


def _has_bare_cr(path: Path) -> bool:
    """Whether a CR not followed by LF appears anywhere (lines ending in more than one way)."""
    carry = b""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_COPY_CHUNK), b""):
            data = carry + block
            carry = b"\r" if data.endswith(b"\r") else b""
            if carry:
                data = data[:-1]  # a CRLF may be cut between two blocks
            if data.count(b"\r") != data.count(b"\r\n"):
                return True
    return bool(carry)


# --------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class Recovery:
    """How to read a file again after Polars stopped part-way: other types, another encoding,
    quoting off, or (JSON lines) every value as text."""

    schema_overrides: dict[str, Any] = field(default_factory=dict)
    encoding: str | None = None
    quoting: bool | None = None
    text_values: bool = False
    reason: str = ""

    def apply(self, options: ReadOptions) -> ReadOptions | None:
        """*options* changed as this recovery says (to be sniffed again), or None when it has
        nothing new to try. Type overrides are not options: the caller keeps those."""
        if self.encoding and self.encoding != options.encoding:
            return replace(options, encoding=self.encoding, bom=False, columns=None, header=None)
        if self.quoting is False and options.quoting is not False:
            return replace(options, quoting=False, columns=None, header=None)
        if self.text_values and not options.text_values:
            return replace(options, text_values=True)
        return None


_PARSE_FAILURE = re.compile(r"could not parse `(.*?)` as dtype `(.*?)` at column '(.*?)'", re.S)
_CONVERSION_FAILURE = re.compile(r"conversion from `str` to `(\w+)` failed in column '(.*?)'", re.S)


def read_failure(exc: Exception, path: str | Path, options: ReadOptions | None = None) -> Recovery:
    """Turn an error raised while reading *path* into a `Recovery`, or raise a `DataError`.

    A text value in a column whose first 10,000 rows are numbers (or dates) is recovered by
    reading that column as text; bytes that are not UTF-8 beyond the sniffed start by reading the
    file as Windows-1252; quotes that Polars cannot parse by turning quoting off; JSON values
    of several types by reading every value as text. A row with more fields than the header is
    an error naming its line.
    """
    import polars as pl

    path = Path(path)
    fmt = options.format if options is not None else detect_format(path)
    message = str(exc)
    if fmt == "jsonl" and not (options is not None and options.text_values):
        return Recovery(text_values=True, reason="JSON values change type between lines")
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
    if "invalid utf-8" in message.lower() and fmt in TEXT_FORMATS:
        encoding = check_encoding(path)
        if encoding != "utf8":
            return Recovery(encoding=encoding, reason="the file is Windows-1252 beyond its start")
    if fmt in TEXT_FORMATS and ("more fields than defined" in message or "CSV malformed" in message):
        opts = options if options is not None and options.detected else detect(path, format=fmt).options
        if "CSV malformed" in message and opts.quoting:
            return Recovery(quoting=False, reason="double quotes appear inside values, so the file "
                                                  "is read with quoting off")
        found = find_ragged_line(path, opts)
        if found is not None:
            line, fields = found
            raise ragged_error(path, line, fields, len(opts.columns or ()))
    raise data_error(exc, path)


def find_ragged_line(path: str | Path, options: ReadOptions) -> tuple[int, int] | None:
    """(line, fields) of the first row with more fields than the header."""
    import polars as pl

    assert options.columns is not None
    records = record_fields(utf8_source(Path(path), options), options)
    found = records.filter(pl.col("fields") > len(options.columns)).head(1).collect()
    if found.height == 0:
        return None
    return int(found["line"][0]), int(found["fields"][0])


def data_error(exc: Exception, path: Path) -> DataError:
    """A DataError for what Polars (or fastexcel) raised while reading *path*."""
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
