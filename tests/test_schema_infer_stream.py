"""`schema infer` drafts from the profile's single pass: batch by batch, in bounded memory, with
the draft the whole data give (a column the first batch misjudges is read again, alone)."""

from __future__ import annotations

import random

import polars as pl
import pytest

from expedition.profile import _draft, _engine
from expedition.profile._draft import DraftPass, settle, text_type
from expedition.contract import infer_schema
from expedition.contract.infer import DRAFT_TYPES, contract_from_draft


def streamed(frame: pl.DataFrame, rows: int, *, bound: int | None = None) -> str:
    """The draft of *frame* read in batches of *rows*, types pruned against *bound* rows."""
    state = DraftPass(frame.schema, DRAFT_TYPES, rows_bound=bound)
    for batch in frame.iter_slices(rows):
        state.consume(batch)
    settle(state, lambda: frame)
    return contract_from_draft(state, frame.height).to_yaml()


@pytest.fixture
def late() -> pl.DataFrame:
    """Columns whose first rows point to another type than all their rows do."""
    rng = random.Random(5)
    n = 6_000
    return pl.DataFrame({
        # text first, then whole numbers: 30 of 6,000 (0.5%) are not numbers, so int64
        "count": ["pending"] * 30 + [str(rng.randint(0, 900)) for _ in range(n - 30)],
        # whole numbers first, then 3% text: text
        "code": [str(rng.randint(10, 99)) for _ in range(n - 180)] + [f"X{i}" for i in range(180)],
        # numbers until a leading zero appears near the end: a code, so text
        "ref": [str(rng.randint(100, 999)) for _ in range(n - 1)] + ["0123"],
        # one layout first, another for most rows
        "when": ["2024-03-01"] * 40 + [f"{rng.randint(1, 28):02d}/0{rng.randint(1, 9)}/2024" for _ in range(n - 40)],
        "closed": [f"2025-0{rng.randint(1, 9)}-{rng.randint(10, 28)}" for _ in range(n)],
        "flag": ["true", "false"] * (n // 2),
        "district": [rng.choice(["Harlow", "Maldon", "Uttlesford"]) for _ in range(n)],
        "case_id": [f"R{i:07d}" for i in range(n)],
    })


def test_batches_give_the_draft_of_one_batch(late):
    whole = infer_schema(late).to_yaml()
    assert streamed(late, 100) == whole
    assert streamed(late, 777, bound=late.height) == whole


def test_columns_the_first_batch_misjudged_are_read_again(late, monkeypatch):
    read_again = []
    original = _draft._read_again

    def spy(state, wrong, frame):
        read_again.append(sorted(c.name for c in wrong))
        return original(state, wrong, frame)

    monkeypatch.setattr(_draft, "_read_again", spy)
    text = streamed(late, 100)
    assert read_again == [["code", "count", "ref", "when"]]
    contract = infer_schema(late)
    assert contract.columns["count"].dtype == "int64"
    assert contract.columns["code"].dtype == "string" and contract.columns["ref"].dtype == "string"
    assert contract.columns["when"].dtype == "date" and contract.columns["when"].format == "%d/%m/%Y"
    assert "30 value(s) did not read as int64, e.g. 'pending'" in text


def test_a_type_pruned_too_soon_is_counted_again(late, monkeypatch):
    """Told the data have far fewer rows than they do, the pass stops counting types too soon;
    the end of the pass finds out and counts those columns again."""
    read_again = []
    original = _draft._read_again
    monkeypatch.setattr(_draft, "_read_again",
                        lambda state, wrong, frame: read_again.append(1) or original(state, wrong, frame))
    assert streamed(late, 100, bound=200) == infer_schema(late).to_yaml()
    assert read_again


def test_a_file_is_read_once(tmp_path, monkeypatch):
    from expedition.examples.referrals import write

    def refuse(*args):
        raise AssertionError("read again")

    monkeypatch.setattr(_draft, "_read_again", refuse)
    monkeypatch.setattr(_engine, "BATCH_CELLS", 20_000)  # several batches
    contract = infer_schema(write(tmp_path / "referrals.csv", rows=4000, seed=2))
    assert contract.columns["referral_date"].dtype == "date"
    assert contract.observed["rows"] == 4000


def test_distinct_values_beyond_the_hash_budget_are_estimated(monkeypatch):
    monkeypatch.setattr(_draft, "HASH_BYTES", 64 * 1024)
    n = 60_000
    frame = pl.DataFrame({"visit_ref": [f"V{i:06d}" for i in range(n)],
                          "n": [i % 7 for i in range(n)]})
    state = DraftPass(frame.schema, DRAFT_TYPES, rows_bound=n)
    for batch in frame.iter_slices(5_000):
        state.consume(batch)
    settle(state, lambda: frame)
    ref, small = state.columns
    assert ref.kmv is not None and abs(ref.distinct() - n) < 0.03 * n
    assert small.distinct() == 7  # still exact
    contract = contract_from_draft(state, n)
    assert contract.columns["visit_ref"].unique and contract.columns["visit_ref"].role == "identifier"
    notes = contract.observed["columns"]["visit_ref"]
    assert f"about {ref.distinct():,} distinct" in notes[0]
    assert not any("repeat" in line for line in notes)  # an estimate below the rows is no repeat
    assert "7 distinct" in contract.observed["columns"]["n"][0]


def test_the_type_decision():
    candidates = _draft.text_candidates()
    by = {(c.dtype, c.fmt): c for c in candidates}
    by[("int64", None)].ok = by[("float64", None)].ok = 995
    assert text_type(1000, 1000, False, candidates).dtype == "int64"
    assert text_type(1000, 1000, True, candidates) is None  # leading zeros: a code
    by[("int64", None)].ok = 900
    assert text_type(1000, 1000, False, candidates).dtype == "float64"
    by[("float64", None)].ok = 0
    by[("date", "%d/%m/%Y")].ok, by[("date", "%m/%d/%Y")].ok = 990, 995
    assert text_type(1000, 1000, False, candidates).fmt == "%m/%d/%Y"  # the most values
    assert text_type(0, 0, False, candidates) is None


def _messy_column(rng: random.Random, n: int) -> list[str]:
    """Text as people write it: one kind of value, sometimes with a share of stray ones."""
    kind = rng.choice(["int", "float", "date", "datetime", "bool", "zeros", "category", "id", "hex",
                       "postcode", "email", "text", "empty", "mixed", "month"])
    stray = rng.choice([0, 0, 0.002, 0.005, 0.02, 0.3])
    values = []
    for _ in range(n):
        if rng.random() < stray:
            values.append(rng.choice(["x", "NA", "n/a", "", " ", "12a", "null", "-", "007"]))
            continue
        values.append({
            "int": lambda: str(rng.randint(-50, 5000)),
            "float": lambda: f"{rng.uniform(-10, 1000):.{rng.randint(0, 4)}f}",
            "date": lambda: (f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1990, 2030)}"
                             if rng.random() < 0.7 else f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-01"),
            "datetime": lambda: f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} {rng.randint(10, 23)}:{rng.randint(10, 59)}:00",
            "bool": lambda: rng.choice(["true", "false", "TRUE", "False"]),
            "zeros": lambda: f"{rng.randint(0, 999):03d}",
            "category": lambda: rng.choice(["north", "south", "East", "west ", "a b"]),
            "id": lambda: f"AB{rng.randint(0, 99999):05d}",
            "hex": lambda: f"{rng.getrandbits(36):09x}",
            "postcode": lambda: rng.choice(["CM1 1AA", "CO4 3SQ", "SS14 2PZ", "E1 6AN"]),
            "email": lambda: f"p{rng.randint(0, 500)}@example.org",
            "text": lambda: " ".join(rng.choice("the cat sat on a mat with words".split()) for _ in range(rng.randint(3, 12))),
            "empty": lambda: "",
            "month": lambda: f"20{rng.randint(10, 30)}-{rng.randint(1, 12):02d}",
            "mixed": lambda: rng.choice([str(rng.randint(0, 9)), "x", f"{rng.random():.2f}"]),
        }[kind]())
    return values


@pytest.mark.parametrize("seed", range(25))
def test_any_batches_and_any_pruning_give_the_same_draft(seed):
    rng = random.Random(seed)
    n = rng.choice([30, 400, 2500])
    names = ["id", "opened", "closed", "outcome", "age", "value", "code", "note", "ward", "latitude", "sex"]
    frame = pl.DataFrame({f"{rng.choice(names)}_{i}": _messy_column(rng, n) for i in range(rng.randint(1, 6))})
    whole = infer_schema(frame).to_yaml()
    assert streamed(frame, rng.choice([7, 50, 333])) == whole
    assert streamed(frame, rng.choice([7, 50, 333]), bound=rng.choice([n // 4, n])) == whole
