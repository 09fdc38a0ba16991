"""Data contracts: loading (errors with file, line and column), writing, pandera, inference."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.errors import ConfigError
from expedition.contract import (
    DTYPES,
    ROLES,
    CheckSpec,
    ColumnSpec,
    Contract,
    RuleSpec,
    draft_contract,
    infer_schema,
    is_unedited_draft,
    load_contract,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "referrals" / "schemas" / "referrals.yaml"

GOOD = """\
version: 1
dataset: people
strict: true
rows: {min: 1, max: 100}
unique: [[district, when]]
rules:
  - name: after start
    check: when >= start
columns:
  id:
    dtype: string
    unique: true
    role: identifier
    checks:
      str_matches: '^P\\d{3}$'
  district:
    dtype: string
    checks:
      isin: [North, South]
  start: {dtype: date}
  when:
    dtype: date
    format: '%d/%m/%Y'
    role: date
    checks:
      in_range: {min: 2020-01-01, max: 2030-12-31}
  age:
    dtype: int
    units: years
    nullable: true
    checks:
      in_range: [0, 120]
  postcode:
    dtype: string
    personal: true
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_contract_loads_with_roles_personal_data_and_checks(tmp_path):
    contract = load_contract(write(tmp_path, GOOD))
    assert contract.roles == {"id": "identifier", "when": "date"}
    assert contract.personal == frozenset({"postcode"})
    assert contract.columns["age"].dtype == "int64" and contract.columns["age"].units == "years"
    assert contract.columns["when"].checks[0].args == {"min": date(2020, 1, 1),
                                                       "max": date(2030, 12, 31)}
    assert contract.unique == (("district", "when"),)
    assert contract.rules[0].columns == ["when", "start"]
    assert contract.rows_min == 1 and contract.rows_max == 100
    assert len(contract.sha256) == 64
    assert contract.masked() == {"id", "postcode"}


def test_the_example_contract_has_the_roles_other_steps_read():
    contract = load_contract(EXAMPLE)
    assert contract.roles == {
        "referral_id": "identifier",
        "referral_date": "date",
        "closure_date": "date",
        "sex": "protected",
        "ethnicity": "protected",
        "disability": "protected",
        "referral_note": "text",
        "latitude": "geo",
        "longitude": "geo",
        "rereferred_12m": "target",
    }
    assert contract.personal == {"postcode"}
    assert set(contract.roles.values()) <= set(ROLES)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("columns:\n  a: {dtype: string\n", 3, "not valid YAML"),
        ("columns:\n  a:\n    dtype: integr\n", 3, "unknown dtype 'integr' (did you mean 'integer'?)"),
        ("columns:\n  a:\n    dtype: int64\n    checks:\n      in_rnge: [0, 1]\n", 5,
         "column 'a': unknown check 'in_rnge' (did you mean 'in_range'?)"),
        ("columns:\n  a:\n    dtype: string\n    role: protectd\n", 4, "unknown role 'protectd'"),
        ("columns:\n  a:\n    dtype: string\n    checks:\n      str_matches: '(unclosed'\n", 5,
         "not a valid regular expression"),
        ("columns:\n  a:\n    dtype: int64\n    checks:\n      str_length: 3\n", 5,
         "a text check does not apply to a int64 column"),
        ("columns:\n  a:\n    dtype: int64\n    checks:\n      in_range: {min: 5, max: 1}\n", 5,
         "max is below min"),
        ("columns:\n  a:\n    dtype: date\n    checks:\n      ge: yesterday\n", 5, "is not a date"),
        ("columns:\n  a:\n    dtype: int64\n    nulable: true\n", 4, "unknown key 'nulable'"),
        ("columns:\n  a:\n    nullable: true\n", 2, "column 'a' has no dtype"),
        ("colums:\n  a: {dtype: int64}\n", 1, "unknown key 'colums' (did you mean 'columns'?)"),
        ("columns:\n  a: {dtype: int64}\nrules:\n  - {name: r, check: b > a}\n", 4,
         "uses column 'b', which is not declared"),
        ("columns:\n  a: {dtype: int64}\n  s: {dtype: string}\nrules:\n  - {name: r, check: a > s}\n",
         5, "cannot be evaluated"),
        ("columns:\n  a: {dtype: int64}\nrules:\n  - {name: r, check: sum(a) > 3}\n", 4,
         "true or false for each row"),
        ("columns:\n  a: {dtype: int64}\nunique: [[a, b]]\n", 3, "unique key names column 'b'"),
        ("columns:\n  a: {dtype: int64}\nrows: {min: -1}\n", 3, "rows.min"),
        ("columns:\n  a: {dtype: int64}\n  _row: {dtype: int64}\n", 3, "reserved"),
    ],
)
def test_a_broken_contract_names_the_file_line_and_column(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_contract(path)
    error = caught.value
    assert error.path == path
    assert error.line == line, error.message
    assert words in error.what
    assert error.fix


def test_a_missing_contract_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="schema infer"):
        load_contract(tmp_path / "nope.yaml")


def test_every_dtype_is_one_pandera_knows():
    from pandera.engines.polars_engine import Engine

    from expedition.contract import polars_dtype

    for name in DTYPES:
        assert Engine.dtype(polars_dtype(name)) is not None


def test_to_pandera_carries_the_metadata_pandera_yaml_would_drop(tmp_path):
    import pandera.polars as pa

    contract = load_contract(write(tmp_path, GOOD))
    schema = contract.to_pandera()
    assert isinstance(schema, pa.DataFrameSchema)
    assert schema.columns["id"].metadata == {"units": None, "role": "identifier", "personal": False}
    assert schema.columns["postcode"].metadata["personal"] is True
    assert schema.columns["age"].metadata["units"] == "years"
    assert schema.columns["id"].unique and schema.unique == [["district", "when"]]
    assert schema.strict is True
    names = {check.name for check in schema.checks}
    assert {"row_count", "after start"} <= names


column_names = st.text("abcdefghij_", min_size=1, max_size=8).filter(lambda s: s[0] != "_")


@st.composite
def contracts(draw) -> Contract:
    names = draw(st.lists(column_names, min_size=1, max_size=5, unique=True))
    columns = {}
    for name in names:
        dtype = draw(st.sampled_from(["string", "int64", "float64", "date", "boolean"]))
        checks: list[CheckSpec] = []
        if dtype == "int64" and draw(st.booleans()):
            low = draw(st.integers(-100, 100))
            checks.append(CheckSpec("in_range", {"min": low, "max": low + draw(st.integers(0, 50))}))
        if dtype == "string" and draw(st.booleans()):
            values = draw(st.lists(st.text("xyz ", min_size=1, max_size=4), min_size=1,
                                   max_size=4, unique=True))
            checks.append(CheckSpec("isin", {"values": tuple(values)}))
        if dtype == "string" and draw(st.booleans()):
            checks.append(CheckSpec("str_length", {"min": 1, "max": draw(st.integers(1, 9))}))
        if dtype == "date" and draw(st.booleans()):
            checks.append(CheckSpec("ge", {"value": draw(st.dates())}))
        columns[name] = ColumnSpec(
            name, dtype, nullable=draw(st.booleans()), unique=draw(st.booleans()),
            checks=tuple(checks), role=draw(st.sampled_from([None, *ROLES])),
            personal=draw(st.booleans()), description=draw(st.text("ab c", max_size=10)),
        )
    ints = [n for n, c in columns.items() if c.dtype == "int64"]
    rules = ()
    if len(ints) >= 2:
        rules = (RuleSpec(name="ordered", check=f"{ints[0]} <= {ints[1]}"),)
    return Contract(columns, dataset="d", strict=draw(st.booleans()), rules=rules,
                    unique=((names[0],),) if draw(st.booleans()) else (),
                    rows_min=draw(st.none() | st.integers(0, 10)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contract=contracts())
def test_writing_and_reading_a_contract_gives_it_back(tmp_path, contract):
    path = tmp_path / "round.yaml"
    path.write_text(contract.to_yaml(), encoding="utf-8")
    again = load_contract(path)
    assert again == contract


# --------------------------------------------------------------------------- inference


def test_inference_on_the_referrals_finds_the_roles_types_and_checks(referrals_csv):
    contract = infer_schema(referrals_csv, dataset="referrals")
    expected = load_contract(EXAMPLE)
    assert contract.roles == expected.roles
    assert contract.personal == expected.personal
    columns = contract.columns
    assert columns["age"].dtype == "int64" and columns["referral_date"].dtype == "date"
    assert columns["latitude"].dtype == "float64"
    assert columns["referral_id"].unique and not columns["referral_id"].nullable
    assert columns["referral_id"].checks[0].args["pattern"] == r"^R\d{7}$"
    assert columns["district"].checks[0].kind == "isin"
    assert len(columns["district"].checks[0].args["values"]) == 12
    (age_range,) = columns["age"].checks
    assert age_range.args["min"] == 0 and 17 <= age_range.args["max"] <= 20  # widened a little
    assert [r.check for r in contract.rules] == ["closure_date >= referral_date"]
    text = contract.to_yaml()
    assert "# observed: int64" in text and "Equality Act" in text


def test_inference_tolerates_a_few_bad_values_and_says_so():
    frame = pl.DataFrame({
        "count": [str(i) for i in range(500)] + ["12a"],
        "code": ["007", "012", "123"] * 167,
        "when": ["03/02/2024"] * 500 + ["31/02/2024"],
        "amount": ["1.5"] * 499 + ["NA", "2"],
        "flag": ["true", "false"] * 250 + ["TRUE"],
    })
    contract = infer_schema(frame)
    columns = contract.columns
    assert columns["count"].dtype == "int64"
    assert "12a" in "\n".join(contract.observed["columns"]["count"])
    assert columns["code"].dtype == "string"  # leading zeros: a code, not a number
    assert columns["when"].dtype == "date" and columns["when"].format == "%d/%m/%Y"
    assert columns["amount"].dtype == "float64" and "NA" in contract.null_values
    assert columns["flag"].dtype == "boolean"


def test_inference_recognises_uk_formats_and_personal_data():
    frame = pl.DataFrame({
        "postcode": ["CM1 1AA", "CO4 3SQ", "SS14 2PZ"] * 10,
        "nhs_number": ["943 476 5919", "401 023 2137", "999 000 0001"] * 10,
        "email": [f"person{i}@example.org" for i in range(30)],
        "lsoa_code": ["E01000001", "E01021999", "W01000002"] * 10,
        "first_name": ["Sam", "Alex", "Jo"] * 10,
        "lsoa_name": ["Colchester 001A", "Harlow 002B", "Maldon 003C"] * 10,
    })
    contract = infer_schema(frame)
    assert contract.personal == {"postcode", "nhs_number", "email", "first_name"}
    assert contract.roles["lsoa_code"] == "geo"
    for column in ("postcode", "nhs_number", "email", "lsoa_code"):
        assert contract.columns[column].checks[0].kind == "str_matches", column


def test_an_inferred_contract_passes_the_data_it_came_from(referrals_csv):
    from expedition.validation import validate

    result = validate(referrals_csv, infer_schema(referrals_csv))
    assert result.report.rows_quarantined == 0 and result.report.passed


def test_inferred_contracts_accept_real_open_data(shared_data):
    from expedition.validation import validate

    files = sorted((shared_data / "police-essex-street-2018").glob("*.csv"))
    contract = infer_schema(files[0])
    assert contract.columns["month"].dtype == "date"
    assert contract.roles["latitude"] == "geo" and contract.roles["crime_id"] == "identifier"
    for path in files:
        report = validate(path, contract).report
        assert report.accounted and report.rows_quarantined == 0, path.name


# --------------------------------------------------------------------------- drafting in a project


def test_schema_infer_never_overwrites_an_edited_contract(project, referrals_csv):
    from expedition.datasets import add_dataset

    add_dataset(project, referrals_csv, "referrals")
    project = project.reload()
    first = draft_contract(project, "referrals")
    assert first.status == "written" and first.path == project.schemas_dir / "referrals.yaml"
    assert project.reload().config.datasets["referrals"].schema_ == "schemas/referrals.yaml"
    text = first.path.read_text()
    assert is_unedited_draft(text)
    assert draft_contract(project.reload(), "referrals").status == "unchanged"

    first.path.write_text(text.replace("description: ''", "description: Referrals.", 1))
    with pytest.raises(ConfigError, match="edited by a person") as caught:
        draft_contract(project.reload(), "referrals")
    assert "--force" in caught.value.fix
    assert "Referrals." in first.path.read_text()
    forced = draft_contract(project.reload(), "referrals", force=True)
    assert forced.status == "replaced" and is_unedited_draft(forced.path.read_text())


def test_schema_infer_for_an_unknown_dataset(project):
    with pytest.raises(ConfigError, match="no dataset called 'nope'"):
        draft_contract(project, "nope")
