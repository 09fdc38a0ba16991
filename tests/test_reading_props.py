"""Property-based: deliveries across encodings, line endings, delimiters, quoting and header
quirks are read with the same rows and columns by the reader and by every stage.

A generated delivery is written byte by byte here (not by a CSV library), so the test knows
exactly which rows it holds, which are short of fields, and what every column is called.
"""

from __future__ import annotations

import codecs
import itertools
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.reading import open_dataset, survey, unique_names

#: (Python codec, byte-order mark written first, whether the text must fit Windows-1252)
ENCODINGS = {
    "utf8": ("utf-8", b"", False),
    "utf8+bom": ("utf-8", codecs.BOM_UTF8, False),
    "utf16le+bom": ("utf-16-le", codecs.BOM_UTF16_LE, False),
    "utf16be+bom": ("utf-16-be", codecs.BOM_UTF16_BE, False),
    "utf16le": ("utf-16-le", b"", False),
    "utf16be": ("utf-16-be", b"", False),
    "utf32le+bom": ("utf-32-le", codecs.BOM_UTF32_LE, False),
    "utf32be": ("utf-32-be", b"", False),
    "cp1252": ("cp1252", b"", True),
}
ENDINGS = {"LF": ["\n"], "CRLF": ["\r\n"], "CR": ["\r"], "mixed": ["\r\n", "\n", "\r"]}

#: letters that fit Windows-1252, and some that do not
LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 éüßøÆ£€–’"
WIDE = LATIN + "ŁżΩжД中文"


@dataclass
class Delivery:
    path: Path
    header: list[str]
    ids: list[str]
    short: dict[int, int]  # row -> fields written
    encoding: str
    endings: str
    delimiter: str
    quoting: bool
    text: str

    @property
    def expected_encoding(self) -> str:
        """ASCII is UTF-8 too: a Windows-1252 file of plain ASCII is read as UTF-8."""
        return "utf8" if self.encoding == "cp1252" and self.text.isascii() else self.encoding


    @property
    def columns(self) -> list[str]:
        return list(unique_names(self.header)[0])


def value(draw, alphabet: str, delimiter: str, quoting: bool) -> str:
    text = draw(st.text(alphabet=alphabet, max_size=12))
    if quoting and draw(st.booleans()):
        # the awkward cases quoting exists for: the delimiter, a quote, a line break
        text += draw(st.sampled_from([delimiter, '"', "\n", f'say "{delimiter}"']))
    elif not quoting and draw(st.integers(0, 4)) == 0:
        # a literal quote that never closes, before some text, as in many TSV exports (a lone
        # quote, or one closing at the end of a line, could as well be CSV quoting: ambiguous)
        text = '"' + draw(st.text(alphabet=alphabet.replace(" ", ""), min_size=1, max_size=12))
    return text


def field(text: str, delimiter: str, quoting: bool) -> str:
    if quoting and any(c in text for c in (delimiter, '"', "\n", "\r")):
        return '"' + text.replace('"', '""') + '"'
    return text


@st.composite
def deliveries(draw, folder: Path) -> Delivery:
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    codec, bom, narrow = ENCODINGS[encoding]
    endings = draw(st.sampled_from(sorted(ENDINGS)))
    delimiter = draw(st.sampled_from([",", "\t", ";"]))
    quoting = draw(st.booleans()) if delimiter == "\t" else True
    alphabet = LATIN if narrow else WIDE
    width = draw(st.integers(2, 6))
    # names: plain, repeated, blank; never the delimiter, a quote or a line break
    names = [draw(st.sampled_from(["id", "name", "town", "Name", "count", "", "name", "ünïcode"]))
             for _ in range(width - 1)]
    header = ["id"] + names
    rows = draw(st.integers(1, 30))
    short: dict[int, int] = {}
    records: list[str] = []
    ids = [f"R{i:04d}" for i in range(1, rows + 1)]
    for i, ident in enumerate(ids, start=1):
        cells = [ident] + [field(value(draw, alphabet, delimiter, quoting), delimiter, quoting)
                           for _ in range(width - 1)]
        if draw(st.integers(0, 6)) == 0:
            keep = draw(st.integers(1, width - 1))
            cells = cells[:keep]
            short[i] = keep
        records.append(delimiter.join(cells))
    breaks = itertools.cycle(ENDINGS[endings])
    lines = [delimiter.join(header)] + records
    text = "".join(line + next(breaks) for line in lines)
    if narrow:
        text.encode("cp1252")  # the alphabet fits: a failure here is a bug in this test
    path = folder / f"delivery-{draw(st.integers(0, 10**9))}.{'tsv' if delimiter == chr(9) else 'csv'}"
    path.write_bytes(bom + text.encode(codec))
    return Delivery(path, header, ids, short, encoding, endings, delimiter, quoting, text)


def read_ids(frame: pl.DataFrame) -> list[str]:
    return frame["id"].to_list()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_reader_reads_every_generated_delivery_exactly(tmp_path, data):
    case = data.draw(deliveries(tmp_path))
    found = survey(case.path)
    options = found.options
    assert found.rows == len(case.ids)
    assert found.columns == case.columns
    assert options.encoding_label() == case.expected_encoding
    assert options.delimiter == case.delimiter
    if case.endings != "mixed":
        assert options.line_endings == case.endings
    assert found.short.count == len(case.short)
    if case.short:
        rows = found.short.rows
        assert dict(zip(rows["row"].to_list(), rows["fields"].to_list())) == case.short
    # text and typed reads: the same rows in the same order, the same columns
    text = open_dataset(case.path, options, text=True).frame.collect()
    typed = open_dataset(case.path, options).frame.collect()
    assert text.columns == typed.columns == case.columns
    assert read_ids(text) == read_ids(typed) == case.ids


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_stage_reads_the_same_rows_and_columns(project, tmp_path, data):
    """data add, profile, schema infer and validate on one generated delivery."""
    from expedition.datasets import add_dataset
    from expedition.profile import profile_dataset
    from expedition.contract import draft_contract
    from expedition.validation import validate_dataset

    case = data.draw(deliveries(tmp_path))
    name = case.path.stem.replace("-", "_")
    added = add_dataset(project.reload(), case.path, name)
    current = project.reload()
    profiled = profile_dataset(current, name)
    draft = draft_contract(current, name, force=True)
    outcome = validate_dataset(current.reload(), name)
    report = outcome.report

    rows, columns = len(case.ids), case.columns
    assert added.delivery.rows == profiled.rows == draft.contract.observed["rows"] == report.rows_read == rows
    assert added.delivery.columns == [c["name"] for c in profiled.columns] == list(draft.contract.columns) == columns
    assert report.accounted and report.rows_valid + report.rows_quarantined == rows
    quarantine = pl.read_parquet(current.root / outcome.quarantine_file)
    valid = pl.read_parquet(current.root / outcome.valid_file)
    assert sorted(read_ids(valid) + read_ids(quarantine)) == case.ids
    reasons = dict(zip(quarantine["_row"].to_list(), quarantine["_reasons"].to_list()))
    for row in case.short:
        assert len(reasons[row]) == 1 and "the header has" in reasons[row][0]
    assert profiled.to_dict()["source"]["short_rows"]["count"] == len(case.short)
