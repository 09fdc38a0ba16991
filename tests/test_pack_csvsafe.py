"""No CSV cell the pack writes can start a spreadsheet formula, whatever the labels hold; the
escaping is undone exactly, numbers stay numbers, and `pack verify` finds a formula cell."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _packs import district_finding, make_packable, provenance
from expedition.finding import Finding, Table, save_finding
from expedition.manifest import SIGNATURE_FILE, file_hashes, sign_manifest
from expedition.pack import build_pack, verify_pack
from expedition.pack.csvsafe import escape_cell, starts_formula, unescape_cell
from expedition.pack.render import table_csv
from expedition.signing import signing_key

WHEN = date(2026, 12, 1)
TRIGGERS = "=+-@\uff1d\uff0b\uff0d\uff20"


def dangerous(cell: str) -> bool:
    """An oracle written apart from the code under test: could a spreadsheet run this cell?"""
    try:
        float(cell)
        if cell == cell.strip() and "_" not in cell:
            return False  # a number as a spreadsheet reads it
    except ValueError:
        pass
    if cell[:1] in ("\t", "\r", "\x00"):
        return True
    first = cell.lstrip(" \t\r\n\x00\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u3000")[:1]
    return first != "" and first in TRIGGERS


PAYLOADS = ["=1+1", "=HYPERLINK(\"http://evil.example\",\"x\")", "=cmd|' /C calc'!A0", "+1+1", "-2+3",
            "@SUM(A1:A2)", "\t=1", "\r=1", " =1", "\n=1", "'=1", "''+x", "\uff1d1+1", "\x00=1",
            "-5", "+3.2", "-1e-06", ".5", "-inf"]

labels = st.one_of(
    st.text(max_size=30),
    st.builds(lambda head, tail: head + tail,
              st.text(alphabet=TRIGGERS + "'\t\r\n \x00", min_size=1, max_size=4), st.text(max_size=20)),
    st.sampled_from(PAYLOADS),
    st.floats(allow_nan=True).map(str),
)


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# --------------------------------------------------------------------------- the cells


@given(labels)
def test_escaping_is_safe_and_undone_exactly(cell):
    escaped = escape_cell(cell)
    assert not dangerous(escaped)
    assert unescape_cell(escaped) == cell
    assert escaped == cell or escaped == "'" + cell
    assert escape_cell(cell) == escape_cell(cell)  # deterministic


@pytest.mark.parametrize("cell", ["-5", "+3.2", "1e-06", "-.5", "-inf", "NaN", "0", "120"])
def test_numbers_stay_numbers(cell):
    assert escape_cell(cell) == cell and not starts_formula(cell)


@pytest.mark.parametrize("cell", ["=1+1", "-2+3", "+1+1", "@SUM(A1)", "\tx", "\rx", "\x00x", " =x", "\uff1dx",
                                  "- 5", "-5 ", "-1_000"])
def test_formula_starts_are_escaped(cell):
    assert starts_formula(cell) and escape_cell(cell) == "'" + cell


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(labels, min_size=1, max_size=3, unique=True),
    values=st.lists(labels, min_size=1, max_size=6),
    counts=st.lists(st.integers(-10**6, 10**6), min_size=6, max_size=6),
    stats=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=6, max_size=6),
)
def test_table_csv_never_starts_a_formula_and_reads_back_exactly(names, values, counts, stats):
    names = [n for n in names if n not in {"n", "x"}] or ["label"]
    height = len(values)
    frame = pl.DataFrame({**{name: values for name in names}, "n": counts[:height], "x": stats[:height]})
    kinds = {**{name: "label" for name in names}, "n": "count", "x": "statistic"}
    data = table_csv(Table(frame, kinds), {}, "c")
    rows = rows_of(data)
    assert [cell for row in rows for cell in row if dangerous(cell)] == []
    header, body = rows[0], rows[1:]
    assert [unescape_cell(c) for c in header] == [*names, "n", "x"]
    assert [[unescape_cell(c) for c in row[: len(names)]] for row in body] == [[v] * len(names) for v in values]
    assert [int(row[len(names)]) for row in body] == counts[:height]  # counts read back as written
    for row, stat in zip(body, stats):
        read = float(row[-1])
        assert read == stat or (math.isnan(read) and math.isnan(stat))


def test_table_csv_changes_nothing_that_is_safe():
    frame = pl.DataFrame({"district": ["Basildon", "Harlow"], "n": [120, -5], "share": [0.5, -0.25]})
    table = Table(frame, {"district": "label", "n": "count", "share": "rate"})
    assert table_csv(table, {}, "c") == frame.write_csv(null_value="").encode()


def test_suppression_symbols_that_look_like_formulas_are_escaped_and_still_read_as_suppressed(project, tmp_path):
    from expedition.config import update_config

    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district\n1,Basildon\n")
    update_config(project.config_path, lambda doc: doc["disclosure"].__setitem__("symbol", "-"))
    project = make_packable(project.reload(), csv_path)
    result = build_pack(project, when=WHEN)
    rows = rows_of((result.path / "tables/by-district__counts.csv").read_bytes())
    assert [r[1] for r in rows[1:]] == ["120", "'-", "35", "60", "'-"]
    assert verify_pack(result.path).ok


# --------------------------------------------------------------------------- every CSV of a pack


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n3,Maldon,12\n")
    return make_packable(project, csv_path)


def hostile_finding(project, names: list[str], values: list[str]) -> Finding:
    column = names[0]
    frame = pl.DataFrame({column: values, "n": [50 + 10 * i for i in range(len(values))],
                          "effect": [-0.5 - i for i in range(len(values))]})
    by_name = pl.DataFrame({name: [20 + i] for i, name in enumerate(names[1:])}) if names[1:] else None
    tables = {"labels": Table(frame, {column: "label", "n": "count", "effect": "statistic"})}
    if by_name is not None:
        tables["columns"] = Table(by_name, {name: "count" for name in names[1:]})
    return Finding(step="eda", title="Hostile labels", id="by-district", headlines=["Labels."],
                   method="Counts.", tables=tables, params={}, provenance=provenance(project))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=st.lists(st.sampled_from(PAYLOADS[:14]) | labels.filter(lambda s: s.strip() != ""),
                   min_size=1, max_size=3, unique=True),
    values=st.lists(st.sampled_from(PAYLOADS) | labels, min_size=2, max_size=6),
)
def test_no_csv_in_a_pack_starts_a_formula(packable, names, values):
    names = [n for n in names if n not in {"n", "effect"}] or ["=label"]
    finding = hostile_finding(packable, names, values)
    save_finding(finding, packable.results_dir / finding.id)
    result = build_pack(packable, when=WHEN, replace=True)
    written = {p.relative_to(result.path).as_posix(): p.read_bytes() for p in result.path.rglob("*.csv")}
    with zipfile.ZipFile(result.zip) as archive:
        written.update({n: archive.read(n) for n in archive.namelist() if n.endswith(".csv")})
    assert len(written) >= 4  # the hostile tables and the other finding's, in the folder and the zip
    for rel, data in written.items():
        for row in rows_of(data):
            assert [cell for cell in row if dangerous(cell)] == [], rel
    report = verify_pack(result.path)
    assert report.ok, report.problems


def resign(pack):
    """Re-hash and re-sign with the team's own key: what a buggy writer with the key would leave."""
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"] = file_hashes(pack, exclude=("manifest.json", SIGNATURE_FILE))
    data, signature = sign_manifest(manifest, signing_key(create=False))
    (pack / "manifest.json").write_bytes(data)
    (pack / SIGNATURE_FILE).write_bytes(signature)


def test_verify_reports_formula_cells_without_quoting_them(packable):
    pack = build_pack(packable, when=WHEN).path
    table = pack / "tables/by-district__counts.csv"
    table.write_text(table.read_text().replace("Basildon", '"=HYPERLINK(""http://evil.example"")"', 1))
    (pack / "extra.csv").write_text("a,b\n@SUM(A1),-5\n+1+1,+3.2\n")
    resign(pack)
    report = verify_pack(pack)
    text = "\n".join(report.problems)
    assert "tables/by-district__counts.csv line 2, column 1: the cell starts a spreadsheet formula" in text
    assert "extra.csv line 2, column 1" in text and "extra.csv line 3, column 1" in text
    assert "column 2" not in text  # -5 and +3.2 are numbers
    assert "HYPERLINK" not in text and "evil" not in text
    assert report.signature.status == "valid"  # a signed pack is not thereby a safe one


def test_verify_unescapes_headers_and_still_checks_their_counts(packable):
    finding = district_finding(packable)
    frame = finding.tables["counts"].frame.rename({"n": "=total"})
    table = Table(frame, {"district": "label", "=total": "count", "share": "rate"},
                  denominators={"share": "=total"})
    finding = finding.with_(tables={"counts": table})
    save_finding(finding, packable.results_dir / finding.id)
    pack = build_pack(packable, when=WHEN).path
    path = pack / "tables/by-district__counts.csv"
    rows = rows_of(path.read_bytes())
    assert rows[0][1] == "'=total"
    assert verify_pack(pack).ok  # the escaped header still finds its declared kind
    path.write_text(path.read_text().replace("\nBasildon,120,", "\nBasildon,3,", 1))
    resign(pack)
    assert "count '=total' is below the threshold" in "\n".join(verify_pack(pack).problems)
