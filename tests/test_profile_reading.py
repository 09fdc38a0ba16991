"""Bad and awkward input: each gets a clear message or a correct profile, never a traceback, and
the delivered file is never changed."""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest

import expedition
from expedition.reading import check_encoding, detect, scan_dataset
from expedition.errors import DataError


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def profile_unchanged(path, **kwargs):
    before = sha(path)
    result = expedition.profile(path, **kwargs)
    assert sha(path) == before
    return result.to_dict()


def column(doc, name):
    return next(c for c in doc["columns"] if c["name"] == name)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\n\n  \n", "no data"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "rename it to .xlsx"),
        (b"\x00\x01\x02\x03binary" * 50, "binary"),
        (b"x" * (2 << 20), "longer than 1 MiB"),
        (b"id,name\n1,a\n2,b,c\n", "line 3"),
    ],
    ids=["empty", "blank-lines", "xlsx-renamed", "binary", "2-MiB-single-line", "ragged"],
)
def test_unreadable_files_get_a_clear_message(tmp_path, data, message):
    path = write(tmp_path, "bad.csv", data)
    with pytest.raises(DataError, match=message) as info:
        expedition.profile(path)
    assert info.value.fix  # every error says how to fix it
    assert path.read_bytes() == data


def test_a_ragged_row_far_beyond_the_sniffed_start_names_its_line(tmp_path):
    lines = ["id,name"] + [f"{i},n{i}" for i in range(20_000)] + ["20000,x,extra"]
    path = write(tmp_path, "late.csv", ("\n".join(lines) + "\n").encode())
    with pytest.raises(DataError, match="ragged") as info:
        expedition.profile(path)
    assert info.value.line == 20_002


def test_header_only_is_a_profile_with_no_rows(tmp_path):
    doc = profile_unchanged(write(tmp_path, "h.csv", b"a,b,c\n"))
    assert doc["dataset"]["rows"] == 0 and [c["name"] for c in doc["columns"]] == ["a", "b", "c"]
    assert [a["kind"] for a in doc["alerts"]] == ["no_rows"]


def test_utf8_bom_windows_1252_utf16_and_cr_line_endings(tmp_path):
    bom = write(tmp_path, "bom.csv", "\ufeffname,town\nZoë,Colchester\n".encode("utf-8"))
    assert profile_unchanged(bom)["source"]["encoding"] == "utf8+bom"
    legacy = write(tmp_path, "legacy.csv", "item;cost\nCafé;£5\nThé;£6\n".encode("cp1252"))
    doc = profile_unchanged(legacy)
    assert doc["source"]["encoding"] == "cp1252" and doc["source"]["delimiter"] == ";"
    assert {v["value"] for v in column(doc, "item")["top_values"]} == {"Café", "Thé"}
    wide = write(tmp_path, "unicode.txt", "a\tb\n1\tü\n".encode("utf-16"))
    doc = profile_unchanged(wide)
    assert doc["source"]["encoding"] == "utf16le+bom" and column(doc, "b")["top_values"][0]["value"] == "ü"
    mac = write(tmp_path, "mac.csv", b"a,b\r1,2\r3,4\r")
    doc = profile_unchanged(mac)
    assert doc["dataset"]["rows"] == 2 and doc["source"]["line_endings"] == "CR"


def test_windows_1252_beyond_the_sniffed_start_is_detected_and_read(tmp_path, monkeypatch):
    from expedition import reading

    lines = [f"{i},plain" for i in range(30_000)]
    lines[15_000] = "15000,café"
    path = write(tmp_path, "late.csv", ("id,word\n" + "\n".join(lines) + "\n").encode("cp1252"))
    monkeypatch.setattr(reading, "_SPOT_CHECKS", 0)  # only Polars, part-way through, finds it
    assert detect(path).options.encoding == "utf8"
    doc = profile_unchanged(path)
    assert doc["dataset"]["rows"] == 30_000
    assert doc["source"]["encoding"] == "cp1252"
    assert "café" in json.dumps(doc, ensure_ascii=False)


def test_a_file_mixing_utf8_and_other_bytes_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, "mixed.csv", "a\nZoë\n".encode() + b"caf\xe9\n")
    with pytest.raises(DataError, match="line 3"):
        check_encoding(path)
    with pytest.raises(DataError, match="mixes text encodings"):
        expedition.profile(path)


def test_blank_and_repeated_column_names_are_made_unique(tmp_path):
    path = write(tmp_path, "names.csv", b"id,,id,name,name\n1,2,3,4,5\n6,7,8,9,10\n")
    doc = profile_unchanged(path)
    assert [c["name"] for c in doc["columns"]] == ["id", "column_2", "id_2", "name", "name_2"]
    renamed = [a for a in doc["alerts"] if a["kind"] == "column_names"]
    assert [a["column"] for a in renamed] == ["column_2", "id_2", "name_2"]
    assert scan_dataset(path).collect().columns == ["id", "column_2", "id_2", "name", "name_2"]


def test_trailing_delimiters_give_an_empty_column(tmp_path):
    doc = profile_unchanged(write(tmp_path, "t.csv", b"a,b\n1,2,\n3,4,\n"))
    assert column(doc, "column_3")["semantic_type"] == "empty"


def test_text_in_a_numeric_column_after_the_first_rows(tmp_path):
    lines = ["id,count"] + [f"{i},{i % 7}" for i in range(12_000)] + ["12000,N/A", "12001,3"]
    doc = profile_unchanged(write(tmp_path, "late.csv", ("\n".join(lines) + "\n").encode()))
    assert doc["dataset"]["rows"] == 12_002
    count = column(doc, "count")
    assert count["physical_type"] == "String"
    assert count["stored_as_text"]["not_parsed"] == 1 and count["stored_as_text"]["examples_not_parsed"] == ["N/A"]
    assert "count" in doc["source"]["read_as_text"]
    assert {a["kind"] for a in doc["alerts"] if a["column"] == "count"} >= {"read_as_text", "mixed_types"}


def test_dates_in_two_layouts_and_thousands_separators(tmp_path):
    rows = ["when,amount,single"]
    for i in range(15_000):
        when = f"2021-{i % 12 + 1:02d}-{i % 28 + 1:02d}" if i < 12_000 else f"{i % 28 + 1:02d}/{i % 12 + 1:02d}/2022"
        rows.append(f'{when},"{1000 + i:,}",{i % 28 + 1:02d}/03/2023')
    doc = profile_unchanged(write(tmp_path, "d.csv", ("\n".join(rows) + "\n").encode()))
    when = column(doc, "when")
    assert when["stored_as_text"]["formats"] == {"%Y-%m-%d": 12_000, "%d/%m/%Y": 3_000}
    assert when["semantic_type"] == "date" and when["temporal"]["max"] == "2022-12-28"
    assert any(a["kind"] == "mixed_date_formats" for a in doc["alerts"])
    amount = column(doc, "amount")
    assert amount["semantic_type"] == "numeric" and amount["numeric"]["max"] == 15_999
    assert amount["stored_as_text"]["thousands_separators"] == 15_000
    single = column(doc, "single")
    assert single["physical_type"] == "Date" and doc["source"]["date_formats"]["single"] == "%d/%m/%Y"


def test_two_thousand_columns(tmp_path):
    header = ",".join(f"c{i}" for i in range(2_000))
    rows = [",".join(str((r * 7 + i) % 13) for i in range(2_000)) for r in range(50)]
    doc = profile_unchanged(write(tmp_path, "wide.csv", ("\n".join([header, *rows]) + "\n").encode()))
    assert doc["dataset"]["columns"] == 2_000 and doc["dataset"]["rows"] == 50
    assert all(c["count"] + c["missing"] == 50 for c in doc["columns"])


def test_an_all_null_column_and_a_very_long_value(tmp_path):
    long = "word " * 400_000  # a 2 MB cell
    data = f"id,empty,text\n1,,short\n2,,{long}\n3,,x\n".encode()
    doc = profile_unchanged(write(tmp_path, "long.csv", data))
    assert column(doc, "empty")["semantic_type"] == "empty"
    text = column(doc, "text")
    assert text["text"]["max_length"] == len(long)
    assert all(len(v["value"]) <= 120 for v in text["top_values"])  # long values are cut in outputs


def test_parquet_jsonl_and_excel(tmp_path):
    frame = pl.DataFrame({"id": [1, 2, 3], "district": ["Harlow", "Maldon", None]})
    frame.write_parquet(tmp_path / "d.parquet")
    frame.write_ndjson(tmp_path / "d.jsonl")
    for name in ["d.parquet", "d.jsonl"]:
        doc = profile_unchanged(tmp_path / name)
        assert column(doc, "district")["missing"] == 1 and doc["source"]["format"] == name.split(".")[1]
    pytest.importorskip("xlsxwriter")
    frame.write_excel(tmp_path / "d.xlsx")
    assert profile_unchanged(tmp_path / "d.xlsx")["dataset"]["rows"] == 3


def test_a_broken_parquet_file(tmp_path):
    path = write(tmp_path, "broken.parquet", b"PAR1" + b"\x00" * 100)
    with pytest.raises(DataError, match="could not read"):
        expedition.profile(path)


def test_the_shared_police_file(shared_data):
    path = shared_data / "police-essex-street-2018" / "2018-01-essex-street.csv"
    doc = profile_unchanged(path)
    assert doc["dataset"]["rows"] == 14_786
    types = {c["name"]: c["semantic_type"] for c in doc["columns"]}
    assert types["latitude"] == "latitude" and types["longitude"] == "longitude"
    assert types["crime_id"] == "identifier" and types["context"] == "empty"
    assert doc["dataset"]["duplicate_rows"] == 1_040


def test_date_times_read_as_text_give_the_same_statistics_as_parsed_ones(tmp_path, monkeypatch):
    from datetime import datetime, timedelta

    from expedition.profile import _engine

    monkeypatch.setattr(_engine, "EXACT_VALUES", 1_000)  # counted batch by batch, not exactly
    monkeypatch.setattr(_engine, "BATCH_CELLS", 1)
    start = datetime(2021, 3, 1, 8, 30)
    stamps = [start + timedelta(minutes=97 * i, seconds=i % 60) for i in range(12_000)]
    frame = pl.DataFrame({"when": stamps, "day": [s.date() for s in stamps]})
    path = tmp_path / "times.csv"
    frame.write_csv(path)
    doc = profile_unchanged(path)
    when = column(doc, "when")
    assert when["physical_type"].startswith("Datetime") and when["semantic_type"] == "datetime"
    assert when["stored_as_text"] is None and when["distinct"] == 12_000
    assert when["temporal"]["min"] == min(stamps).isoformat() and when["temporal"]["max"] == max(stamps).isoformat()
    months = frame.group_by(pl.col("when").dt.truncate("1mo")).len().sort("when")
    assert [r["count"] for r in when["temporal"]["records"]] == months["len"].to_list()
    assert column(doc, "day")["physical_type"] == "Date"
    # an impossible date part-way through: the column is text, as the reader would have it
    lines = path.read_text().splitlines()
    lines[11_000] = "2021-02-30T10:00:00.000000," + lines[11_000].split(",")[1]
    path.write_text("\n".join(lines) + "\n")
    doc = profile_unchanged(path)
    when = column(doc, "when")
    assert when["physical_type"] == "String" and when["stored_as_text"]["not_parsed"] == 1
    assert when["stored_as_text"]["examples_not_parsed"] == ["2021-02-30T10:00:00.000000"]
    assert "when" in doc["source"]["read_as_text"]


def test_tab_separated_text_with_unbalanced_quotes(tmp_path):
    lines = ["label\tmessage"] + [f"ham\tok {i}" for i in range(3_000)]
    lines.insert(2_500, 'spam\t"Free entry" she said, "win now')  # quotes that quote nothing
    doc = profile_unchanged(write(tmp_path, "sms.tsv", ("\n".join(lines) + "\n").encode()))
    assert doc["dataset"]["rows"] == 3_001 and doc["source"]["quoting"] is False
    assert column(doc, "label")["top_values"][1] == {"value": "spam", "count": 1, "share": 1 / 3_001}
    assert "quotes_in_values" in {a["kind"] for a in doc["alerts"]}
