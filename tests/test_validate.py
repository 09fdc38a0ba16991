"""Validation: every row accounted for, every failing row quarantined with the right reasons."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.errors import DataError, StepError
from expedition.contract import load_contract
from expedition.validation import (
    REASONS,
    ROW,
    open_validated,
    stale_reason,
    validate,
    validate_dataset,
    validate_datasets,
)

CONTRACT = """\
version: 1
dataset: people
strict: true
rules:
  - name: ends after it starts
    check: later >= start
columns:
  id:
    dtype: string
    unique: true
    role: identifier
    checks: {str_matches: '^P\\d{4}$'}
  age:
    dtype: int64
    checks: {in_range: {min: 0, max: 120}}
  district:
    dtype: string
    checks: {isin: [North, South, East, West]}
  start:
    dtype: date
    checks: {in_range: {min: 2020-01-01, max: 2025-12-31}}
  later: {dtype: date, nullable: true}
  amount:
    dtype: float64
    nullable: true
    checks: {ge: 0}
  note: {dtype: string, nullable: true, role: text}
  postcode: {dtype: string, nullable: true, personal: true}
"""

#: corruption -> (column, the reason validation must give)
REASON = {
    "age_type": "age: not a whole number (int64)",
    "age_range": "age: outside 0 to 120",
    "district": "district: not one of the allowed values",
    "missing": "district: missing",
    "id_format": r"id: does not match ^P\d{4}$",
    "date_type": "start: not a date (YYYY-MM-DD)",
    "date_range": "start: outside 2020-01-01 to 2025-12-31",
    "rule": "breaks rule 'ends after it starts' (later >= start)",
    "amount_type": "amount: not a number (float64)",
    "amount_range": "amount: not at least 0",
    "duplicate": "id: duplicated",
}


@pytest.fixture(scope="module")
def contract(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "people.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    return load_contract(path)


notes = st.text(alphabet=st.sampled_from(list("ab ,\"\n'é")), max_size=12)


@st.composite
def deliveries(draw):
    """A text table of clean rows, some corrupted; returns (rows, {row index: reasons})."""
    n = draw(st.integers(1, 40))
    rows = []
    for i in range(n):
        start = date(2020, 1, 1) + timedelta(days=draw(st.integers(0, 2000)))
        later = draw(st.none() | st.integers(0, 400).map(lambda d, s=start: s + timedelta(days=d)))
        rows.append({
            "id": f"P{i:04d}",
            "age": str(draw(st.integers(0, 120))),
            "district": draw(st.sampled_from(["North", "South", "East", "West"])),
            "start": start.isoformat(),
            "later": later.isoformat() if later else None,
            "amount": draw(st.none() | st.floats(0, 1e6).map(lambda x: f"{x:.2f}")),
            "note": draw(st.none() | notes.filter(bool)),
            "postcode": draw(st.none() | st.sampled_from(["CM1 1AA", "CO4 3SQ"])),
        })
    chosen = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    kinds = [draw(st.sampled_from(sorted(REASON))) for _ in chosen]
    expected: dict[int, set[str]] = {}
    spare = [i for i in range(n) if i not in chosen]
    for index, kind in zip(chosen, kinds):
        row = rows[index]
        if kind == "duplicate":
            if not spare:
                continue
            source = spare.pop()
            row["id"] = rows[source]["id"]
            expected.setdefault(source, set()).add(REASON[kind])
        elif kind == "age_type":
            row["age"] = draw(st.sampled_from(["12a", "1.5", "ten", "4 5"]))
        elif kind == "age_range":
            row["age"] = str(draw(st.integers(121, 10_000) | st.integers(-500, -1)))
        elif kind == "district":
            row["district"] = draw(st.sampled_from(["north", "Nowhere", " East"]))
        elif kind == "missing":
            row["district"] = None
        elif kind == "id_format":
            row["id"] = f"X{index:04d}"
        elif kind == "date_type":
            row["start"] = draw(st.sampled_from(["2023-02-31", "31/01/2021", "soon"]))
            row["later"] = None
        elif kind == "date_range":
            row["start"] = "2019-12-31"
            row["later"] = None
        elif kind == "rule":
            row["later"] = (date.fromisoformat(row["start"]) - timedelta(days=1)).isoformat()
        elif kind == "amount_type":
            row["amount"] = "abc"
        elif kind == "amount_range":
            row["amount"] = "-0.5"
        expected.setdefault(index, set()).add(REASON[kind])
    frame = pl.DataFrame(rows, schema={c: pl.String for c in rows[0]})
    return frame, expected


def check_accounting(frame: pl.DataFrame, expected: dict[int, set[str]], result) -> None:
    valid, quarantine, report = result
    n = frame.height
    assert report.rows_read == n
    assert report.rows_valid + report.rows_quarantined == n and report.accounted
    assert valid.height == report.rows_valid and quarantine.height == report.rows_quarantined
    # exactly the corrupted rows (and the rows they collide with) are quarantined
    rows = quarantine.get_column(ROW).to_list()
    assert len(rows) == len(set(rows))
    assert set(rows) == {i + 1 for i in expected}
    by_row = dict(zip(rows, quarantine.get_column(REASONS).to_list()))
    for index, reasons in expected.items():
        assert reasons <= set(by_row[index + 1]), (index, by_row[index + 1])
    # no row lost or duplicated: every delivered id is in exactly one of the two outputs
    assert sorted(valid["id"].to_list() + quarantine["id"].to_list()) == sorted(frame["id"].to_list())
    # quarantined rows are kept exactly as delivered
    for row in quarantine.iter_rows(named=True):
        original = frame.row(row[ROW] - 1, named=True)
        assert {k: row[k] for k in original} == original
    # each check's count is the number of quarantined rows giving its reason
    for check in report.checks:
        reason = f"{check.column}: {check.failure}" if check.column else check.failure
        assert check.failed == sum(1 for r in by_row.values() if reason in r), check.id


@settings(max_examples=60, deadline=None)
@given(case=deliveries())
def test_every_corrupted_row_is_quarantined_with_its_reason(contract, case):
    frame, expected = case
    result = validate(frame, contract)
    check_accounting(frame, expected, result)
    assert result.valid.schema["age"] == pl.Int64 and result.valid.schema["start"] == pl.Date
    assert result.report.passed == (not expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=deliveries())
def test_a_csv_delivery_keeps_row_numbers_as_in_the_file(contract, tmp_path, case):
    frame, expected = case
    path = tmp_path / "delivery.csv"
    frame.write_csv(path)  # notes with commas, quotes and line breaks are quoted
    check_accounting(frame, expected, validate(path, contract))


@settings(max_examples=30, deadline=None)
@given(case=deliveries())
def test_pandera_agrees_on_which_rows_fail(contract, case):
    """The contract's pandera schema, run by pandera, fails the same rows as `validate`."""
    import pandera.polars as pa

    frame, _ = case
    typed = frame.with_columns(
        pl.col("age").str.strip_chars().cast(pl.Int64, strict=False),
        pl.col("start").str.to_date("%Y-%m-%d", strict=False),
        pl.col("later").str.to_date("%Y-%m-%d", strict=False),
        pl.col("amount").cast(pl.Float64, strict=False),
    )
    # a value that does not convert is a type failure of its row for us, and a coercion error
    # of the whole column for pandera: compare on the rows whose values convert
    converts = [
        all(typed[c][i] is not None or frame[c][i] is None for c in ("age", "start", "later", "amount"))
        for i in range(frame.height)
    ]
    sample = typed.filter(pl.Series(converts))
    ours = validate(sample, contract)
    try:
        contract.to_pandera().validate(sample, lazy=True)
        theirs: set[int] = set()
    except pa.errors.SchemaErrors as exc:
        theirs = {int(i) + 1 for i in exc.failure_cases["index"].drop_nulls().to_list()}
    assert set(ours.quarantine[ROW].to_list()) == theirs


def test_a_wrong_type_is_a_failure_of_that_row_not_a_crash(contract, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "id,age,district,start,later,amount,note,postcode\n"
        "P0001,34,North,2021-05-01,,,fine,\n"
        "P0002,12a,South,2021-05-01,,,\"two\nlines\",\n"
        "P0003,7,East,2021-05-01,,1.5,,CM1 1AA\n"
    )
    valid, quarantine, report = validate(path, contract)
    assert report.summary() == "3 rows read = 2 valid + 1 quarantined (33.33%)"
    assert quarantine.to_dicts() == [{
        ROW: 2, "id": "P0002", "age": "12a", "district": "South", "start": "2021-05-01",
        "later": None, "amount": None, "note": "two\nlines", "postcode": None,
        REASONS: ["age: not a whole number (int64)"],
    }]
    assert valid["age"].to_list() == [34, 7]
    (age,) = [c for c in report.checks if c.id == "age:dtype"]
    assert age.failed == 1 and age.examples == [{"row": 2, "value": "12a"}]


def test_numbers_that_do_not_fit_fail_rather_than_being_truncated(tmp_path):
    contract = tmp_path / "c.yaml"
    contract.write_text("columns:\n  n: {dtype: int8}\n")
    frame = pl.DataFrame({"n": [1.0, 1.5, 300.0, None]})
    result = validate(frame, contract)
    assert result.quarantine[ROW].to_list() == [2, 3, 4]
    assert result.valid["n"].to_list() == [1]


def test_personal_identifier_and_text_values_never_appear_in_reports(contract):
    frame = pl.DataFrame({
        "id": ["P0001", "P0001"], "age": ["1", "2"], "district": ["North", "North"],
        "start": ["2021-01-01"] * 2, "later": [None, None], "amount": [None, None],
        "note": ["Ms Secret rang", "x" * 5000], "postcode": ["SW1A 1AA", "ZZ9 9ZZ"],
    })
    report = validate(frame, contract).report
    text = json.dumps(report.to_dict())
    assert "P0001" not in text and "SW1A" not in text and "Secret" not in text
    (dup,) = report.failed_checks
    assert dup.examples == [{"row": 1}, {"row": 2}]
    assert set(report.masked_columns) == {"id", "note", "postcode"}


def test_missing_extra_renamed_and_reordered_columns_get_a_clear_report(contract):
    frame = pl.DataFrame({
        "District": ["North"], "AGE ": ["3"], "id": ["P0001"], "start": ["2021-01-01"],
        "later": [None], "amount": ["1"], "postcode": [None], "shoe size": ["9"],
    }, schema_overrides={"later": pl.String, "postcode": pl.String})
    valid, quarantine, report = validate(frame, contract)
    assert report.renamed_columns == {"District": "district", "AGE ": "age"}
    assert report.order_differs
    assert report.missing_columns == ["note"]
    assert report.extra_columns == ["shoe size"]
    # a missing column fails every row (it is required); an extra column fails the delivery
    assert quarantine[REASONS].to_list() == [["note: column missing from the delivery"]]
    assert not report.passed
    (columns,) = [c for c in report.dataset_checks if c.id == "columns"]
    assert not columns.passed and "shoe size" in columns.detail

    allowed = validate(frame.with_columns(note=pl.lit("n")), contract, allow_extra_columns=True)
    assert allowed.report.passed and allowed.valid.columns[-1] == "shoe size"
    assert allowed.valid.columns[:8] == list(contract.columns)
    refused = validate(frame.with_columns(note=pl.lit("n")), contract)
    assert refused.report.rows_valid == 1 and "shoe size" not in refused.valid.columns
    assert not refused.report.passed and refused.report.exit_code == 1


def test_row_count_bounds_fail_the_delivery_without_blaming_rows(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rows: {min: 3}\ncolumns:\n  a: {dtype: int64}\n")
    report = validate(pl.DataFrame({"a": [1, 2]}), path).report
    assert report.rows_quarantined == 0 and not report.passed
    assert report.dataset_checks[0].detail == "2 rows delivered"


def test_compound_keys_and_empty_values_in_unique_columns(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "unique: [[a, b]]\ncolumns:\n  a: {dtype: int64, nullable: true}\n"
        "  b: {dtype: string, nullable: true}\n  c: {dtype: string, nullable: true, unique: true}\n"
    )
    frame = pl.DataFrame({"a": [1, 1, 1, None, None], "b": ["x", "x", "y", "x", "x"],
                          "c": [None, None, "k", "k", None]})
    quarantine = validate(frame, path).quarantine
    assert dict(zip(quarantine[ROW], quarantine[REASONS].to_list())) == {
        1: ["(a, b) duplicated"], 2: ["(a, b) duplicated"], 3: ["c: duplicated"],
        4: ["c: duplicated"],
    }


def test_max_invalid_is_a_percentage_of_rows(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("columns:\n  a: {dtype: int64}\n")
    frame = pl.DataFrame({"a": ["1"] * 98 + ["x", "y"]})
    assert not validate(frame, path).report.passed
    assert validate(frame, path, max_invalid=2).report.passed
    assert not validate(frame, path, max_invalid=1.9).report.passed


def test_unreadable_and_empty_deliveries_are_data_errors(contract, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        validate(empty, contract)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('id,age\nP0001,3\nP0002,4,extra\n')
    with pytest.raises(DataError, match="3 fields but the header has 2") as info:
        validate(ragged, contract)
    assert info.value.line == 3


def test_a_quote_that_never_closes_is_a_character_for_every_stage(contract, tmp_path):
    """Quoting is decided once, by the reader: validation reads the row the profile reads."""
    import expedition

    path = tmp_path / "quote.csv"
    path.write_text('id,age\n"P0001,3\n')
    assert expedition.profile(path).rows == 1
    result = validate(path, contract)
    assert result.report.rows_read == 1 and result.quarantine["id"].to_list() == ['"P0001']


def test_expedition_validate_is_the_function_however_it_was_imported(contract):
    import expedition
    import expedition.validation as module

    frame = pl.DataFrame({"id": ["P0001"], "age": ["1"], "district": ["North"],
                          "start": ["2021-01-01"], "later": [None], "amount": [None],
                          "note": [None], "postcode": [None]},
                         schema_overrides={c: pl.String for c in ("later", "amount", "note", "postcode")})
    assert module.validate is validate
    assert expedition.validate(frame, contract).report.rows_valid == 1


# --------------------------------------------------------------------------- in a project


@pytest.fixture
def referrals(project, tmp_path):
    from expedition.datasets import add_dataset
    from expedition.examples.referrals import write
    from expedition.contract import draft_contract

    csv = write(tmp_path / "referrals.csv", rows=400, seed=3, bad_rows=True)
    add_dataset(project, csv, "referrals")
    draft_contract(project.reload(), "referrals")
    return project.reload()


def test_validating_a_dataset_writes_valid_quarantine_and_evidence(referrals):
    from expedition._io import sha256_file

    raw = referrals.raw_dir / "referrals" / "v1" / "referrals.csv"
    before = sha256_file(raw)
    outcome = validate_dataset(referrals, "referrals", feedback=True)
    report = outcome.report
    assert report.rows_read == 400 and report.rows_quarantined == 5 and not report.passed
    assert sha256_file(raw) == before  # raw data is never modified
    valid = pl.read_parquet(referrals.interim_dir / "referrals.parquet")
    quarantine = pl.read_parquet(referrals.quarantine_dir / "referrals.parquet")
    assert valid.height == 395 and quarantine[ROW].to_list() == [12, 24, 38, 39, 53]
    quality = referrals.quality_dir("referrals")
    record = json.loads((quality / "validation.json").read_text())
    assert record["delivery"]["sha256"] == referrals.config.datasets["referrals"].latest.sha256
    assert record["contract"]["sha256"] == sha256_file(referrals.schemas_dir / "referrals.yaml")
    assert record["outputs"]["valid"]["sha256"] == sha256_file(referrals.interim_dir / "referrals.parquet")
    assert record["report"] == report.to_dict()
    html = (quality / "validation.html").read_text()
    assert html.startswith("<section") and "<html" not in html and "12a" in html
    feedback = (quality / "feedback.md").read_text()
    assert "What to fix at source" in feedback and "row 12: `12a`" in feedback
    assert "R0" not in feedback and "R0" not in html  # identifiers withheld
    postcodes = quarantine["postcode"].to_list()
    assert not any(p in feedback or p in html for p in postcodes)
    assert referrals.last("validate")["quarantined"] == 5


def test_validation_outputs_are_byte_identical_when_repeated(referrals):
    first = validate_dataset(referrals, "referrals")
    second = validate_dataset(referrals, "referrals")
    assert (first.valid_sha256, first.quarantine_sha256) == (second.valid_sha256, second.quarantine_sha256)


def test_steps_read_only_current_validated_data(referrals, tmp_path):
    from expedition.datasets import add_dataset
    from expedition.examples.referrals import write

    with pytest.raises(StepError, match="not been validated") as caught:
        open_validated(referrals, "referrals")
    assert "expedition validate referrals" in caught.value.fix

    validate_dataset(referrals, "referrals", max_invalid=5)
    data = open_validated(referrals, "referrals")
    assert data.frame.collect().height == 395
    assert data.contract.roles["rereferred_12m"] == "target"
    assert data.fingerprint["validation"] == {"read": 400, "valid": 395, "quarantined": 5}

    contract = referrals.schemas_dir / "referrals.yaml"
    contract.write_text(contract.read_text() + "\n# reviewed\n")
    assert "contract" in stale_reason(referrals, "referrals")
    validate_dataset(referrals, "referrals")
    assert stale_reason(referrals, "referrals") is None

    add_dataset(referrals, write(tmp_path / "next.csv", rows=300, seed=4), "referrals")
    project = referrals.reload()
    assert "new delivery (v2)" in stale_reason(project, "referrals")
    validate_dataset(project, "referrals")
    (project.interim_dir / "referrals.parquet").write_bytes(b"tampered")
    assert "changed after validation" in stale_reason(project, "referrals")


def test_validate_datasets_loads_every_contract_before_writing_anything(referrals):
    from expedition.errors import ConfigError

    contract = referrals.schemas_dir / "referrals.yaml"
    contract.write_text(contract.read_text().replace("dtype: int64", "dtype: int46", 1))
    with pytest.raises(ConfigError) as caught:
        validate_datasets(referrals)
    assert caught.value.path == contract and caught.value.line
    assert not (referrals.interim_dir / "referrals.parquet").exists()


def test_a_dataset_without_a_contract_says_how_to_draft_one(project, referrals_csv):
    from expedition.datasets import add_dataset
    from expedition.errors import ConfigError

    add_dataset(project, referrals_csv, "referrals")
    with pytest.raises(ConfigError, match="schema infer referrals"):
        validate_datasets(project.reload())


def test_the_example_contract_accepts_the_clean_example_data():
    from expedition.examples.referrals import generate

    contract = load_contract(Path(__file__).resolve().parents[1] / "examples" / "referrals"
                             / "schemas" / "referrals.yaml")
    for seed in (1, 2026):
        report = validate(generate(3000, seed), contract).report
        assert report.rows_quarantined == 0 and report.passed


def test_the_docstring_example_runs():
    import doctest

    import expedition.validation.engine as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_spaces_around_numbers_and_dates_are_ignored(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("columns:\n  n: {dtype: int64}\n  d: {dtype: date}\n  t: {dtype: string}\n")
    frame = pl.DataFrame({"n": ["1", " 2", "3 ", "4 4"], "d": ["2021-01-01", " 2021-01-02"] * 2,
                          "t": [" a", "b ", "c", "d"]})
    valid, quarantine, _ = validate(frame, path)
    assert valid["n"].to_list() == [1, 2, 3]
    assert valid["d"].to_list() == [date(2021, 1, 1), date(2021, 1, 2), date(2021, 1, 1)]
    assert valid["t"].to_list() == [" a", "b ", "c"]  # text is kept exactly as delivered
    assert quarantine[REASONS].to_list() == [["n: not a whole number (int64)"]]


def test_the_public_api_names_resolve():
    import expedition

    assert callable(expedition.validate) and callable(expedition.validate_datasets)
    assert callable(expedition.infer_schema) and callable(expedition.load_contract)
    assert callable(expedition.draft_contract) and callable(expedition.ensure_validated)
