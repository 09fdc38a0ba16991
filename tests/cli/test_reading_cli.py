"""The reader from the command line: `data add --sheet/--encoding`, the warnings it prints, and
`schema infer` on files that used to stop it (exit 3, an internal error)."""

from __future__ import annotations

import codecs
import json

import pytest


@pytest.fixture
def workbook(tmp_path):
    xlsxwriter = pytest.importorskip("xlsxwriter")
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path))
    for name, rows in (("Cover", [["title"], ["Referrals"]]),
                       ("Cases", [["id", "district"]] + [[i, "Harlow"] for i in range(1, 8)]),
                       ("Notes", [["note"], ["none"]])):
        sheet = book.add_worksheet(name)
        for i, row in enumerate(rows):
            sheet.write_row(i, 0, row)
    book.close()
    return path


def test_data_add_warns_about_other_sheets_and_takes_sheet(cli, project_dir, workbook, monkeypatch):
    monkeypatch.chdir(project_dir)
    first = cli("data", "add", str(workbook), "--name", "cover")
    assert first.exit_code == 0, first.output
    assert "3 sheets" in first.stderr and "'Cover', 'Cases', 'Notes'" in first.stderr
    assert "sheet 'Cover'" in first.stdout and "1 rows" in first.stdout
    cases = cli("data", "add", str(workbook), "--name", "cases", "--sheet", "Cases", "--json")
    assert cases.exit_code == 0, cases.output
    document = json.loads(cases.stdout)
    assert document["delivery"]["rows"] == 7 and document["delivery"]["read"] == {"sheet": "Cases"}
    assert [w for w in document["warnings"] if "data-sharing agreement" not in w] == []
    missing = cli("data", "add", str(workbook), "--name", "x", "--sheet", "Casse")
    assert missing.exit_code == 2 and "no sheet called 'Casse'" in missing.stderr
    assert "Traceback" not in missing.output


def test_data_add_says_how_a_text_file_is_read(cli, project_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(project_dir)
    path = tmp_path / "export.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "id\tname\r\n1\tZoë\r\n2\tAmir\r\n".encode("utf-16-le"))
    result = cli("data", "add", str(path), "--name", "export")
    assert result.exit_code == 0, result.output
    assert "2 rows, 2 columns" in result.stdout
    assert "utf16le+bom, tab-separated, CRLF line endings" in result.stdout
    short = tmp_path / "short.csv"
    short.write_text("a,b,c\n1,2,3\n4,5\n")
    result = cli("data", "add", str(short), "--name", "short")
    assert result.exit_code == 0 and "fewer fields than the header" in result.stderr
    bad = cli("data", "add", str(short), "--name", "s2", "--encoding", "nonsense")
    assert bad.exit_code == 2 and "not an encoding Python knows" in bad.stderr


@pytest.mark.parametrize(
    "name, content",
    [
        ("inf.csv", "id,x\n1,1.5\n2,inf\n3,2.5\n"),
        ("nan.csv", "id,x\n1,1.5\n2,nan\n3,2.5\n"),
        ("huge.csv", "id,x\n1,1.5\n2,1e309\n3,-1e309\n"),
        ("mixed.jsonl", '{"a": 1, "b": [1]}\n{"a": "two", "b": {"c": 2}}\n{"a": true, "b": null}\n'),
        ("nan.jsonl", '{"a": 1.5}\n{"a": NaN}\n{"a": -Infinity}\n{"a": 1e400}\n'),
    ],
)
def test_schema_infer_and_validate_exit_cleanly(cli, project_dir, tmp_path, monkeypatch, name, content):
    monkeypatch.chdir(project_dir)
    path = tmp_path / name
    path.write_text(content)
    assert cli("data", "add", str(path), "--name", "d").exit_code == 0
    inferred = cli("schema", "infer", "d")
    assert inferred.exit_code == 0, inferred.output
    validated = cli("validate", "d", "--json", "--max-invalid", "100")
    assert validated.exit_code == 0, validated.output
    (result,) = json.loads(validated.stdout)
    rows = result["report"]["rows"]
    records = content.strip().count("\n") + (1 if name.endswith(".jsonl") else 0)  # CSV: a header
    assert rows["read"] == rows["valid"] + rows["quarantined"] == records
    assert rows["accounted"] and rows["expected"] == rows["read"]
