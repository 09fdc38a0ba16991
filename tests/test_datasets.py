from __future__ import annotations

import hashlib
import os
import stat

import polars as pl
import pytest

from expedition.datasets import add_dataset, inspect_file, scan_dataset
from expedition.errors import DataError
from expedition.project import Project


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_add_copies_read_only_and_records_the_delivery(project, referrals_csv):
    before = sha(referrals_csv)
    result = add_dataset(project, referrals_csv, "referrals")
    assert result.status == "added"
    d = result.delivery
    copy = project.root / d.file
    assert d.file == "data/raw/referrals/v1/referrals.csv"
    assert copy.read_bytes() == referrals_csv.read_bytes()
    assert d.sha256 == before == sha(copy)
    assert not os.stat(copy).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert d.rows == 800 and d.columns[0] == "referral_id" and len(d.columns) == 17
    assert d.format == "csv"
    # recorded in expedition.yaml
    config = Project.load(project.root).config
    assert config.datasets["referrals"].deliveries[0].sha256 == before
    assert config.datasets["referrals"].schema_ == "schemas/referrals.yaml"
    # the delivered file itself is untouched
    assert sha(referrals_csv) == before


def test_same_content_again_is_unchanged(project, referrals_csv):
    add_dataset(project, referrals_csv, "referrals")
    again = add_dataset(Project.load(project.root), referrals_csv, "referrals")
    assert again.status == "unchanged"
    assert len(Project.load(project.root).config.datasets["referrals"].deliveries) == 1


def test_new_content_becomes_a_new_version_beside_the_first(project, referrals_csv, tmp_path):
    add_dataset(project, referrals_csv, "referrals")
    second = tmp_path / "referrals.csv"
    second.write_text(referrals_csv.read_text() + referrals_csv.read_text().splitlines()[1] + "\n")
    result = add_dataset(Project.load(project.root), second, "referrals")
    assert result.status == "versioned"
    assert result.delivery.version == 2
    assert result.delivery.rows == 801
    v1 = project.root / "data/raw/referrals/v1/referrals.csv"
    v2 = project.root / "data/raw/referrals/v2/referrals.csv"
    assert v1.read_bytes() == referrals_csv.read_bytes()
    assert v2.read_bytes() == second.read_bytes()
    versions = [d.version for d in Project.load(project.root).config.datasets["referrals"].deliveries]
    assert versions == [1, 2]


def test_default_name_comes_from_the_file(project, tmp_path):
    path = tmp_path / "2018-01 Essex Street.csv"
    path.write_text("a,b\n1,2\n")
    assert add_dataset(project, path).dataset == "2018_01_essex_street"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00" * 10, "binary"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_copied(project, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        add_dataset(project, path, "bad")
    assert not (project.raw_dir / "bad").exists()
    assert "bad" not in Project.load(project.root).config.datasets


def test_unknown_extension_and_folder(project, tmp_path):
    (tmp_path / "x.docx").write_text("hello")
    with pytest.raises(DataError, match="format"):
        add_dataset(project, tmp_path / "x.docx")
    with pytest.raises(DataError, match="folder"):
        add_dataset(project, tmp_path)


def test_bad_dataset_name(project, referrals_csv):
    with pytest.raises(DataError, match="not a valid dataset name"):
        add_dataset(project, referrals_csv, "my data/set")


FRAME = pl.DataFrame({"id": [1, 2, 3], "district": ["Harlow", "Maldon", "Braintree"], "x": [1.5, None, 2.0]})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl", ".xlsx"])
def test_every_format_reads_back(tmp_path, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        FRAME.write_csv(path)
    elif suffix == ".tsv":
        FRAME.write_csv(path, separator="\t")
    elif suffix == ".parquet":
        FRAME.write_parquet(path)
    elif suffix == ".jsonl":
        FRAME.write_ndjson(path)
    else:
        pytest.importorskip("xlsxwriter")
        FRAME.write_excel(path)
    frame = scan_dataset(path).collect()
    assert frame["district"].to_list() == ["Harlow", "Maldon", "Braintree"]
    assert inspect_file(path) == (3, ["id", "district", "x"])


def test_utf8_bom_and_windows_1252(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffname,town\nZoë,Colchester\n".encode("utf-8"))
    assert scan_dataset(bom).collect().columns == ["name", "town"]
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("name;cost\nCafé;£5\n".encode("cp1252"))
    frame = scan_dataset(legacy).collect()
    assert frame.row(0) == ("Café", "£5")


def test_shared_police_file_registers(project, shared_data):
    path = shared_data / "police-essex-street-2018" / "2018-01-essex-street.csv"
    result = add_dataset(project, path, "crime")
    assert result.delivery.rows == 14_786
    assert "crime_type" in result.delivery.columns
