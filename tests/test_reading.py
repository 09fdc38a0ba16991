"""One reader: every stage reads a delivery with the options `data add` recorded, so data add,
profile, schema infer and validate see the same rows and the same columns.

Each case here is a file that two readers used to read differently (a UTF-16 "Unicode text"
export, CR-only line endings, a TSV with literal quotes, a header ``a,a,``, short rows, UTF-32,
a workbook with several sheets) or that stopped `schema infer` (infinities, NaN, JSON lines of
mixed types). `read_everywhere` pushes a file through every stage of a project and returns what
each one read.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from expedition.datasets import add_dataset, delivery_options, open_delivery
from expedition.errors import DataError
from expedition.profile import profile_dataset
from expedition.project import Project
from expedition.reading import (
    ReadOptions,
    detect,
    find_short_rows,
    open_dataset,
    survey,
    unique_names,
)
from expedition.contract import draft_contract, infer_schema
from expedition.validation import validate_dataset



def about_reading(warnings) -> tuple[str, ...]:
    """The warnings about reading the file (data add also warns when a dataset has no
    data-sharing agreement, which is not what these tests are about)."""
    return tuple(w for w in warnings if "data-sharing agreement" not in w)

@dataclass
class Read:
    """What each stage read from one delivery."""

    added_rows: int
    added_columns: list[str]
    profile_rows: int
    profile_columns: list[str]
    infer_rows: int
    infer_columns: list[str]
    validate_read: int
    validate_valid: int
    validate_quarantined: int
    accounted: bool
    quarantine: pl.DataFrame
    valid: pl.DataFrame
    profile: dict
    warnings: tuple[str, ...]

    def agree(self) -> None:
        """Every stage read the rows and the columns `data add` recorded."""
        assert self.profile_rows == self.infer_rows == self.validate_read == self.added_rows
        assert self.profile_columns == self.infer_columns == self.added_columns
        assert self.accounted
        assert self.validate_valid + self.validate_quarantined == self.validate_read


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_everywhere(project: Project, path: Path, name: str, **add: object) -> Read:
    """data add, profile, schema infer and validate, as a user runs them; the raw file and the
    delivered file are never changed."""
    before = sha(path)
    result = add_dataset(project, path, name, **add)
    project = project.reload()
    prof = profile_dataset(project, name)
    draft = draft_contract(project, name, force=True)
    project = project.reload()
    outcome = validate_dataset(project, name)
    report = outcome.report
    raw = project.root / result.delivery.file
    assert sha(path) == before and sha(raw) == before
    doc = prof.to_dict()
    return Read(
        added_rows=result.delivery.rows,
        added_columns=list(result.delivery.columns),
        profile_rows=prof.rows,
        profile_columns=[c["name"] for c in doc["columns"]],
        infer_rows=draft.contract.observed["rows"],
        infer_columns=list(draft.contract.columns),
        validate_read=report.rows_read,
        validate_valid=report.rows_valid,
        validate_quarantined=report.rows_quarantined,
        accounted=report.accounted,
        quarantine=pl.read_parquet(project.root / outcome.quarantine_file),
        valid=pl.read_parquet(project.root / outcome.valid_file),
        profile=doc,
        warnings=about_reading(result.warnings),
    )


def no_nul(read: Read) -> None:
    """No NUL byte (the mark of UTF-16 read as single bytes) in any name or value."""
    text = json.dumps(read.profile, ensure_ascii=False)
    assert "\x00" not in text and "\\u0000" not in text
    for frame in (read.valid, read.quarantine):
        for name in frame.columns:
            assert "\x00" not in name
        assert not any("\x00" in str(v) for row in frame.iter_rows() for v in row)


UNICODE_TEXT = [("id", "name", "age", "town")] + [
    (str(i), f"Zoë Ó'Brien {i}", str(20 + i % 50), ["Chelmsford", "Colchester", "Harlow"][i % 3])
    for i in range(1, 51)
]


def unicode_text_export(path: Path, encoding: str = "utf-16-le", bom: bytes = codecs.BOM_UTF16_LE) -> Path:
    """Excel's "Unicode text": UTF-16 little-endian with a byte-order mark, tabs, CRLF."""
    text = "\r\n".join("\t".join(row) for row in UNICODE_TEXT) + "\r\n"
    path.write_bytes(bom + text.encode(encoding))
    return path


# --------------------------------------------------------------------------- the reported cases


def test_a_50_row_unicode_text_export_is_50_rows_everywhere(project, tmp_path):
    read = read_everywhere(project, unicode_text_export(tmp_path / "export.txt"), "export")
    read.agree()
    assert read.added_rows == 50 and read.added_columns == ["id", "name", "age", "town"]
    assert read.validate_valid == 50
    no_nul(read)
    assert read.valid["name"][0] == "Zoë Ó'Brien 1" and read.valid["age"].dtype == pl.Int64
    assert read.profile["source"]["encoding"] == "utf16le+bom"
    recorded = project.reload().config.datasets["export"].latest.read
    assert (recorded.encoding, recorded.bom, recorded.delimiter, recorded.line_endings) == (
        "utf16le", True, "\t", "CRLF")


@pytest.mark.parametrize(
    "encoding, bom",
    [("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE), ("utf-32-le", b""),
     ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-16-be", b""), ("utf-16-le", b"")],
    ids=["utf32le-bom", "utf32be-bom", "utf32le", "utf16be-bom", "utf16be", "utf16le"],
)
def test_utf16_and_utf32_with_and_without_a_byte_order_mark(project, tmp_path, encoding, bom):
    read = read_everywhere(project, unicode_text_export(tmp_path / "wide.txt", encoding, bom), "wide")
    read.agree()
    assert read.added_rows == 50 and read.added_columns == ["id", "name", "age", "town"]
    no_nul(read)
    contract = (project.root / "schemas" / "wide.yaml").read_text(encoding="utf-8")
    assert "\x00" not in contract and "Colchester" in contract
    assert read.valid["town"].to_list()[:3] == ["Colchester", "Harlow", "Chelmsford"]


def test_cr_only_line_endings_are_read_as_rows_by_every_stage(project, tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"id,count\r1,2\r3,4\r")
    read = read_everywhere(project, path, "mac")
    read.agree()
    assert read.added_rows == read.validate_read == read.validate_valid == 2
    assert read.valid["count"].to_list() == [2, 4]
    assert read.profile["source"]["line_endings"] == "CR"


def test_mixed_line_endings_anywhere_in_the_file(project, tmp_path):
    lines = [f"{i},{i * 2}" for i in range(20_000)]
    body = "\r\n".join(lines[:10_000]) + "\r\n" + "\r".join(lines[10_000:15_000]) + "\r" \
        + "\n".join(lines[15_000:]) + "\n"
    path = tmp_path / "mixed.csv"
    path.write_bytes(("a,b\r\n" + body).encode())
    read = read_everywhere(project, path, "mixed")
    read.agree()
    assert read.added_rows == 20_000 and read.validate_valid == 20_000
    assert project.reload().config.datasets["mixed"].latest.read.line_endings == "mixed"


def test_the_sms_spam_collection_reads_the_same_everywhere(project, shared_data):
    path = shared_data / "sms-spam-collection" / "SMSSpamCollection.tsv"
    read = read_everywhere(project, path, "sms")
    read.agree()
    assert read.added_rows == 5_574 and read.added_columns == ["Label", "SMS"]
    assert read.validate_valid == 5_574
    labels = pl.concat([read.valid["Label"], read.quarantine["Label"]]) if read.quarantine.height \
        else read.valid["Label"]
    assert labels.value_counts().sort("Label").rows() == [("ham", 4_827), ("spam", 747)]
    assert project.reload().config.datasets["sms"].latest.read.quoting is False
    # a message that holds quotes is read whole, quotes and all
    assert read.valid.filter(pl.col("SMS").str.starts_with('"Wen u miss someone')).height == 1


def test_a_header_with_repeated_and_blank_names_is_named_alike_everywhere(project, tmp_path):
    path = tmp_path / "names.csv"
    path.write_bytes(b"a,a,\n1,2,3\n4,5,6\n")
    read = read_everywhere(project, path, "names")
    read.agree()
    assert read.added_columns == ["a", "a_2", "column_3"]
    assert read.valid.columns == ["a", "a_2", "column_3"]
    assert project.reload().config.datasets["names"].latest.read.header == ["a", "a", ""]


def test_short_rows_are_quarantined_with_a_reason_not_padded(project, tmp_path):
    path = tmp_path / "short.csv"
    path.write_bytes(b"a,b,c,d,e\n1,2,3,4,5\n6,7,8\n9,10,11,12,13\n\n14\n")
    read = read_everywhere(project, path, "short")
    read.agree()
    assert read.added_rows == 5 and read.validate_valid == 2 and read.validate_quarantined == 3
    reasons = dict(zip(read.quarantine["_row"].to_list(), read.quarantine["_reasons"].to_list()))
    assert reasons == {
        2: ["row has 3 fields, the header has 5"],
        4: ["blank line, the header has 5 fields"],
        5: ["row has 1 field, the header has 5"],
    }
    assert read.valid["a"].to_list() == [1, 9]
    short = read.profile["source"]["short_rows"]
    assert short["count"] == 3 and [e["line"] for e in short["examples"]] == [3, 5, 6]
    assert any(a["kind"] == "short_rows" for a in read.profile["alerts"])
    assert any("fewer fields than the header" in w for w in read.warnings)
    assert project.reload().config.datasets["short"].latest.read.short_rows == 3


def test_the_report_and_the_feedback_name_the_short_rows(project, tmp_path):
    path = tmp_path / "short.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n4,5\n\n7,8,9\n")
    add_dataset(project, path, "short")
    draft_contract(project.reload(), "short")
    outcome = validate_dataset(project.reload(), "short", feedback=True)
    (check,) = [c for c in outcome.report.checks if c.kind == "fields"]
    assert check.failed == 2 and check.column is None
    assert [(e["row"], e["line"], e["blank"]) for e in check.examples] == [(2, 3, False), (3, 4, True)]
    assert all(c.failed == 0 for c in outcome.report.checks if c.kind != "fields")
    feedback = (project.root / outcome.feedback).read_text(encoding="utf-8")
    assert "row 2 (line 3: 2 fields)" in feedback and "row 3 (line 4: blank)" in feedback


def test_a_short_row_after_a_value_with_a_line_break(project, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_bytes(b'id,note,score\n1,"two\nlines",3\n2,"a, b"\n3,"say ""hi""",4\n')
    read = read_everywhere(project, path, "notes")
    read.agree()
    assert read.added_rows == 3
    assert read.quarantine["_row"].to_list() == [2]
    assert read.quarantine["_reasons"].to_list() == [["row has 2 fields, the header has 3"]]
    assert read.valid["note"].to_list() == ["two\nlines", 'say "hi"']


def test_a_workbook_with_several_sheets(project, tmp_path):
    xlsxwriter = pytest.importorskip("xlsxwriter")
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path))
    summary = book.add_worksheet("Summary")
    summary.write_row(0, 0, ["note", "value"])
    summary.write_row(1, 0, ["total", 10])
    data = book.add_worksheet("Data")
    data.write_row(0, 0, ["id", "id", "", "district"])
    for i in range(1, 13):
        data.write_row(i, 0, [i, i * 2, i * 3, ["Harlow", "Maldon"][i % 2]])
    book.close()

    first = read_everywhere(project, path, "first")
    first.agree()
    assert first.added_rows == 1 and first.added_columns == ["note", "value"]
    (warning,) = first.warnings
    assert "2 sheets" in warning and "'Summary', 'Data'" in warning and "--sheet" in warning
    assert any(a["kind"] == "other_sheets" for a in first.profile["alerts"])

    chosen = read_everywhere(project, path, "chosen", sheet="Data")
    chosen.agree()
    assert chosen.added_rows == 12 and chosen.added_columns == ["id", "id_2", "column_3", "district"]
    assert chosen.profile["source"]["sheet"] == "Data"
    assert project.reload().config.datasets["chosen"].latest.read.sheet == "Data"

    with pytest.raises(DataError, match="no sheet called 'Dta'") as info:
        add_dataset(project.reload(), path, "typo", sheet="Dta")
    assert "'Summary', 'Data'" in info.value.fix


def test_sheet_and_encoding_options_belong_to_their_formats(project, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="--sheet applies to Excel"):
        add_dataset(project, path, "plain", sheet="Data")
    parquet = tmp_path / "t.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(parquet)
    with pytest.raises(DataError, match="--encoding applies to CSV"):
        add_dataset(project, parquet, "t", encoding="cp1252")
    with pytest.raises(DataError, match="not an encoding Python knows"):
        add_dataset(project, path, "plain", encoding="klingon")
    assert not (project.raw_dir / "plain").exists()


def test_a_row_longer_than_the_header_is_refused_at_data_add_with_its_line(project, tmp_path):
    lines = ["id,name"] + [f"{i},n{i}" for i in range(30_000)] + ["30000,x,extra"]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="3 fields but the header has 2") as info:
        add_dataset(project, path, "late")
    assert info.value.line == 30_002
    assert not (project.raw_dir / "late").exists()


def test_windows_1252_and_a_likelier_single_byte_encoding(project, tmp_path):
    western = tmp_path / "western.csv"
    western.write_bytes("item;cost\nCafé;£5\nThé – “vert”;€6\n".encode("cp1252"))
    read = read_everywhere(project, western, "western")
    read.agree()
    assert read.valid["item"].to_list() == ["Café", "Thé – “vert”"] and not read.warnings

    text = "имя,город\n" + "Иван,Москва\nПётр,Санкт-Петербург\nМария,Новосибирск\n" * 5
    cyrillic = tmp_path / "cyrillic.csv"
    cyrillic.write_bytes(text.encode("cp1251"))
    guessed = add_dataset(project.reload(), cyrillic, "guessed")
    (warning,) = about_reading(guessed.warnings)
    assert "Cyrillic" in warning and "--encoding cp1251" in warning
    # named, the encoding is recorded and every later stage reads with it
    read = read_everywhere(project.reload(), cyrillic, "named", encoding="cp1251")
    read.agree()
    assert read.added_columns == ["имя", "город"] and read.valid["город"][0] == "Москва"
    assert project.reload().config.datasets["named"].latest.read.encoding == "cp1251"


def test_every_stage_uses_the_recorded_options_not_its_own_guess(project, tmp_path, monkeypatch):
    """After `data add`, nothing sniffs the file again: a delivery read with recorded options
    would read the same even if detection changed its mind."""
    from expedition import reading

    path = unicode_text_export(tmp_path / "export.txt")
    add_dataset(project, path, "export")
    project = project.reload()

    def no_sniffing(*args, **kwargs):
        raise AssertionError("a recorded delivery was sniffed again")

    monkeypatch.setattr(reading, "_detect_text", no_sniffing)
    assert profile_dataset(project, "export").rows == 50
    draft_contract(project, "export")
    assert validate_dataset(project.reload(), "export").report.rows_valid == 50


def test_a_delivery_registered_before_options_were_recorded_is_detected_when_read(project, tmp_path):
    from expedition.config import update_config

    path = unicode_text_export(tmp_path / "old.txt")
    add_dataset(project, path, "old")

    def forget(document):
        del document["datasets"]["old"]["deliveries"][0]["read"]

    update_config(project.config_path, forget)
    project = project.reload()
    delivery = project.config.datasets["old"].latest
    assert delivery.read is None and not delivery_options(delivery).detected
    opened = open_delivery(project, "old", text=True)
    assert opened.options.encoding == "utf16le" and opened.frame.collect().height == 50
    draft_contract(project, "old")
    report = validate_dataset(project.reload(), "old").report
    assert report.rows_read == report.rows_valid == 50 and report.accounted


def test_a_broken_read_record_is_a_configuration_error_naming_the_field(project, tmp_path):
    from expedition.errors import ConfigError

    path = tmp_path / "d.csv"
    path.write_text("id,v\n1,a\n")
    add_dataset(project, path, "d")
    text = project.config_path.read_text(encoding="utf-8")
    assert "line_endings: LF" in text
    project.config_path.write_text(text.replace("line_endings: LF", "line_endings: sideways"),
                                   encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        project.reload()
    assert "line_endings" in str(info.value) and info.value.line is not None


def test_validation_fails_when_it_reads_other_rows_than_data_add_counted(project, tmp_path):
    from expedition.config import update_config

    path = tmp_path / "d.csv"
    path.write_text("id,v\n1,a\n2,b\n3,c\n")
    add_dataset(project, path, "d")
    draft_contract(project.reload(), "d")

    def miscount(document):
        document["datasets"]["d"]["deliveries"][0]["rows"] = 4

    update_config(project.config_path, miscount)
    report = validate_dataset(project.reload(), "d").report
    assert report.rows_read == 3 and report.rows_expected == 4
    assert not report.accounted and not report.passed
    (check,) = [c for c in report.dataset_checks if c.id == "rows_recorded"]
    assert not check.passed and "counted 4" in check.detail


# --------------------------------------------------------------------------- schema infer


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e309", "-1e309", "Infinity"])
def test_schema_infer_handles_infinities_and_nan(tmp_path, value):
    path = tmp_path / "x.csv"
    path.write_text("id,x\n" + "".join(f"{i},{i * 1.5}\n" for i in range(40)) + f"40,{value}\n")
    contract = infer_schema(path)
    assert contract.columns["x"].dtype == "float64"
    (check,) = contract.columns["x"].checks
    assert (check.args["min"], check.args["max"]) == (0, 65)
    assert "nan" in contract.null_values if value == "nan" else True
    contract.to_yaml()  # writes without error


def test_schema_infer_on_a_column_of_only_infinities_and_huge_numbers(tmp_path):
    frame = pl.DataFrame({"x": [float("inf"), float("-inf"), None], "y": [1.7e308, -1.7e308, 0.0]})
    contract = infer_schema(frame)
    assert contract.columns["x"].checks == ()
    (check,) = contract.columns["y"].checks
    assert check.args == {"min": -1.7e308, "max": 1.7e308}


@pytest.mark.parametrize(
    "lines",
    [
        ['{"a": 1, "b": "x"}', '{"a": "two", "b": 2}', '{"a": 3.5, "b": null}'],
        ['{"a": true}', '{"a": 1}'],
        ['{"a": 1}', '{"a": [1, 2]}'],
        ['{"a": {"x": 1}}', '{"a": "s"}'],
        ['{"a": 1.5}', '{"a": NaN}', '{"a": Infinity}', '{"a": 1e400}'],
        ['{"a": [1, 2], "b": {"c": [true]}}', '{"a": [], "b": {"c": []}}'],
    ],
    ids=["int-text-float", "bool-int", "int-list", "object-text", "nan-infinity-huge", "nested"],
)
def test_json_lines_of_mixed_types_read_alike_everywhere(project, tmp_path, lines):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    read = read_everywhere(project, path, "mixed")
    read.agree()
    assert read.added_rows == len(lines)
    assert read.validate_valid + read.validate_quarantined == len(lines)


def test_a_json_line_that_is_not_an_object_names_its_line(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": NaN}\n[1, 2]\n')
    with pytest.raises(DataError, match="not an object") as info:
        add_dataset(project, path, "bad")
    assert info.value.line == 3
    path.write_text("\n\n")
    with pytest.raises(DataError, match="holds no data"):
        add_dataset(project, path, "bad")
    marked = tmp_path / "marked.jsonl"
    marked.write_bytes(codecs.BOM_UTF8 + b'{"a": 1}\n{"a": 2}\n')
    (warning,) = about_reading(add_dataset(project, marked, "marked").warnings)
    assert "byte-order mark" in warning
    assert not (project.raw_dir / "bad").exists()


# --------------------------------------------------------------------------- the reader itself


def test_unique_names_match_what_every_stage_reads():
    assert unique_names(["a", "a", ""]) == (("a", "a_2", "column_3"),
                                            ((2, "a", "a_2"), (3, "", "column_3")))
    assert unique_names(["column_2", ""])[0] == ("column_2", "column_2_")


def test_options_round_trip_through_the_record():
    options = ReadOptions(format="tsv", encoding="utf16le", bom=True, delimiter="\t", quoting=False,
                          line_endings="CRLF", header=("a", "a"), columns=("a", "a_2"), short_rows=2)
    again = ReadOptions.from_record("tsv", options.to_record(), ["a", "a_2"])
    assert again == options and again.detected and again.transcode


def test_short_rows_are_found_in_a_large_file_in_one_pass(tmp_path):
    lines = ["a,b,c"] + [f"{i},x,y" for i in range(200_000)]
    lines[150_001] = "150000,x"
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    options = detect(path).options
    short = find_short_rows(path, options)
    assert short.count == 1 and short.examples() == [{"row": 150_001, "line": 150_002, "fields": 2, "blank": False}]
    assert survey(path).short.count == 1


def test_text_mode_reads_every_value_as_written(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("code,when\n007,2024-01-31\n012,2024-02-29\n")
    frame = open_dataset(path, text=True).frame.collect()
    assert frame.schema == {"code": pl.String, "when": pl.String}
    assert frame["code"].to_list() == ["007", "012"]
    typed = open_dataset(path).frame.collect()
    assert typed.schema["when"] == pl.Date
