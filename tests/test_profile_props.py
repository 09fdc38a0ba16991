"""Property-based: over generated CSV files, every count in a profile adds up."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import expedition
from expedition.datasets import scan_dataset
from expedition.profile import _engine

WORDS = st.sampled_from(["Harlow", "Maldon", "", " ", "N/A", "a,b", 'say "hi"', "line\nbreak", "Zoë", "1,234"])


@st.composite
def csv_frames(draw):
    rows = draw(st.integers(0, 80))
    columns = {}
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["int", "float", "text", "numbers", "dates"]))
        if kind == "int":
            values = st.one_of(st.none(), st.integers(-1000, 1000))
        elif kind == "float":
            values = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False))
        elif kind == "text":
            values = st.one_of(st.none(), WORDS)
        elif kind == "numbers":
            values = st.one_of(st.none(), st.sampled_from(["1,234", "12", "-3.5", "N/A", "£7"]))
        else:
            values = st.one_of(st.none(), st.sampled_from(["2021-03-01", "02/04/2021", "unknown"]))
        columns[f"c{i}_{kind}"] = draw(st.lists(values, min_size=rows, max_size=rows))
    return pl.DataFrame(columns, strict=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=csv_frames(), small_batches=st.booleans(), sample_rows=st.sampled_from([5, 100_000]))
def test_counts_always_add_up(frame, small_batches, sample_rows):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        frame.write_csv(path)
        before = path.read_bytes()
        original = _engine.MIN_BATCH_ROWS
        try:
            if small_batches:
                _engine.MIN_BATCH_ROWS = 7
                _engine.BATCH_CELLS, saved = 1, _engine.BATCH_CELLS
            doc = expedition.profile(path, sample_rows=sample_rows).to_dict()
        finally:
            _engine.MIN_BATCH_ROWS = original
            if small_batches:
                _engine.BATCH_CELLS = saved
        assert path.read_bytes() == before  # the file is only read
        data = scan_dataset(path).collect()

    rows = data.height
    assert doc["dataset"]["rows"] == rows
    assert doc["sample"]["rows"] == min(rows, sample_rows)
    assert doc["dataset"]["duplicate_rows"] == rows - data.unique().height
    assert doc["dataset"]["missing_cells"] == sum(c["missing"] for c in doc["columns"])
    for col in doc["columns"]:
        series = data.get_column(col["name"])
        assert col["count"] + col["missing"] == rows
        assert col["missing"] == series.null_count()
        assert col["distinct"] == series.drop_nulls().n_unique()
        assert col["distinct"] <= col["count"]
        counted = sum(v["count"] for v in col["top_values"])
        assert counted <= col["count"]
        if col["distinct"] <= 10:
            assert counted == col["count"]
        if col["numeric"] and col["semantic_type"] != "empty" and col["stored_as_text"] is None:
            finite = series.drop_nulls()
            assert col["numeric"]["zeros"] + col["numeric"]["negatives"] <= col["count"]
            assert col["numeric"]["min"] == finite.min() and col["numeric"]["max"] == finite.max()
            hist = col["numeric"]["histogram"]
            if hist and hist["exact"]:
                assert sum(hist["counts"]) == col["count"]
        if col["text"]:
            assert 0 <= col["text"]["blank"] <= col["count"]
        text = col["stored_as_text"]
        if text:
            assert text["parsed"] + text["not_parsed"] == col["count"] - col["text"]["blank"]
            if text.get("formats"):
                assert sum(text["formats"].values()) == text["parsed"]
        if col["temporal"] and col["temporal"]["records"]:
            assert sum(r["count"] for r in col["temporal"]["records"]) <= col["count"]
