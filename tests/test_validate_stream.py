"""Streaming validation: the unique keys found by spilling to disk give exactly the answer of
holding every key in memory, a hash collision never makes a duplicate, and the files written
account for every row."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.contract import load_contract
from expedition.validation import engine, validate, validate_to_files

CONTRACT = """\
version: 1
unique: [[area, n]]
columns:
  id: {dtype: string, unique: true, nullable: true}
  n: {dtype: int64, nullable: true}
  area: {dtype: string, nullable: true}
"""


@pytest.fixture(scope="module")
def contract(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "c.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    return load_contract(path)


def expected_duplicates(rows: list[dict]) -> set[int]:
    """Row numbers (from 1) whose id, or (area, n) as typed, repeats; a key with an empty part
    never repeats. Written the plain way, in Python."""
    def typed(n):
        try:
            return int(n.strip()) if n is not None else None
        except ValueError:
            return None

    def repeats(values):
        seen: dict = {}
        for i, v in enumerate(values, start=1):
            if v is not None and None not in (v if isinstance(v, tuple) else (v,)):
                seen.setdefault(v, []).append(i)
        return {i for rows_ in seen.values() if len(rows_) > 1 for i in rows_}

    ids = repeats([r["id"] for r in rows])
    pairs = repeats([(r["area"], typed(r["n"])) for r in rows])
    return ids | pairs


rows_strategy = st.lists(
    st.fixed_dictionaries({
        "id": st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d", "é", " a"])),
        "n": st.one_of(st.none(), st.sampled_from(["1", " 1", "2", "02", "x", "3"])),
        "area": st.one_of(st.none(), st.sampled_from(["North", "South"])),
    }),
    min_size=0, max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, spill=st.booleans())
def test_spilled_keys_give_exactly_the_in_memory_answer(rows, spill, contract, monkeypatch, tmp_path):
    """Whether the keys are grouped in memory or spilled and grouped a slice at a time, the
    duplicated rows are exactly those a plain Python count finds."""
    monkeypatch.setattr(engine, "KEY_ROWS_IN_MEMORY", 3 if spill else 10_000)
    frame = pl.DataFrame(rows, schema={"id": pl.String, "n": pl.String, "area": pl.String})
    result = validate(frame, contract, max_invalid=100)
    duplicated = {row for row, reasons in zip(result.quarantine["_row"], result.quarantine["_reasons"])
                  if any("duplicated" in r for r in reasons)}
    assert duplicated == expected_duplicates(rows)
    report = result.report
    assert report.rows_read == len(rows) == result.valid.height + result.quarantine.height
    assert report.accounted


def test_a_hash_collision_never_makes_a_duplicate(contract, monkeypatch):
    """Attack: every key hashes alike (as if every value collided); only equal values are
    duplicates."""
    monkeypatch.setattr(engine, "KEY_ROWS_IN_MEMORY", 2)
    monkeypatch.setattr(engine, "_key_hash", lambda key: pl.lit(7, dtype=pl.UInt64))
    frame = pl.DataFrame({"id": ["a", "b", "c", "a", "d"], "n": ["1", "2", "3", "4", "5"],
                          "area": ["N", "N", "N", "N", "N"]})
    result = validate(frame, contract)
    assert result.quarantine["_row"].to_list() == [1, 4]
    assert result.valid["id"].to_list() == ["b", "c", "d"]


def test_a_file_validates_to_files_with_every_row_accounted(tmp_path, contract):
    rows = 5_000
    frame = pl.DataFrame({
        "id": [f"R{i}" for i in range(rows)],
        "n": [str(i % 97) for i in range(rows)],
        "area": [["North", "South", "East"][i % 3] for i in range(rows)],
    }).with_columns(pl.when(pl.int_range(rows) == 4321).then(pl.lit("R7")).otherwise(pl.col("id")).alias("id"))
    path = tmp_path / "d.csv"
    frame.write_csv(path)
    valid, quarantine = tmp_path / "v.parquet", tmp_path / "q.parquet"
    report = validate_to_files(path, contract, valid, quarantine, max_invalid=100, expected_rows=rows)
    written_valid = pl.read_parquet(valid)
    written_quarantine = pl.read_parquet(quarantine)
    assert report.rows_read == rows == written_valid.height + written_quarantine.height
    assert report.rows_valid == written_valid.height and report.rows_quarantined == written_quarantine.height
    # the ids repeated: row 8 (R7) and row 4322; (area, n) repeats every 291 rows
    assert {8, 4322} <= set(written_quarantine["_row"].to_list())
    assert written_valid.columns == ["id", "n", "area"] and written_valid.schema["n"] == pl.Int64
    # nothing but the two outputs is left beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "q.parquet", "v.parquet"]


def test_validating_twice_writes_the_same_bytes(tmp_path, contract):
    frame = pl.DataFrame({"id": [f"R{i % 900}" for i in range(3000)], "n": [str(i) for i in range(3000)],
                          "area": ["North"] * 3000})
    path = tmp_path / "d.csv"
    frame.write_csv(path)
    digests = []
    for i in range(2):
        valid, quarantine = tmp_path / f"v{i}.parquet", tmp_path / f"q{i}.parquet"
        validate_to_files(path, contract, valid, quarantine, max_invalid=100)
        digests.append((valid.read_bytes(), quarantine.read_bytes()))
    assert digests[0] == digests[1]


def test_a_failure_after_the_rows_are_written_leaves_no_work_files(tmp_path, contract, monkeypatch):
    """Attack: the run stops after both streams were written (here, a fault planted in the
    step that follows); the spilled keys and the quarantined rows with their flags are removed."""
    path = tmp_path / "d.csv"
    pl.DataFrame({"id": ["a", "a", "b"], "n": ["1", "2", "3"], "area": ["N", "N", "N"]}).write_csv(path)
    monkeypatch.setattr(engine, "KEY_ROWS_IN_MEMORY", 1)

    def fault(*args, **kwargs):
        raise RuntimeError("planted fault")

    monkeypatch.setattr(engine, "_padded_type_failures", fault)
    with pytest.raises(RuntimeError, match="planted fault"):
        validate_to_files(path, contract, tmp_path / "v.parquet", tmp_path / "q.parquet")
    assert not list(Path(tmp_path).glob("expedition-validate-*"))
