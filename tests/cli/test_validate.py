"""`expedition schema infer` and `expedition validate` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from expedition.project import Project

from _text import flat


@pytest.fixture
def delivered(cli, project_dir, tmp_path):
    from expedition.examples.referrals import write

    csv = write(tmp_path / "referrals.csv", rows=300, seed=5, bad_rows=True)
    assert cli("data", "add", str(csv), "--name", "referrals", "-q", "-p", str(project_dir)).exit_code == 0
    return project_dir


def without_times(record: dict) -> dict:
    record = json.loads(json.dumps(record, default=str))
    record.pop("validated_at", None)
    record["report"].pop("seconds", None)
    return record


def test_infer_then_validate_then_run(cli, delivered):
    p = str(delivered)
    drafted = cli("schema", "infer", "referrals", "-p", p)
    assert drafted.exit_code == 0, drafted.output
    assert "schemas/referrals.yaml" in drafted.stdout and "identifier" in drafted.stdout

    # the planted bad rows fail the default --max-invalid 0
    result = cli("validate", "-p", p)
    assert result.exit_code == 1, result.output
    assert "300 rows read = 295 valid + 5 quarantined" in result.stdout
    assert "did not pass" in result.stdout

    within = cli("validate", "referrals", "--max-invalid", "2", "--feedback", "-p", p)
    assert within.exit_code == 0, within.output
    assert (delivered / ".expedition" / "quality" / "referrals" / "feedback.md").is_file()

    config = delivered / "expedition.yaml"
    config.write_text(config.read_text().replace(
        "steps: []", "steps:\n  - {id: overview, step: eda, dataset: referrals,"
        " params: {outcome: rereferred_12m, outcome_value: 'yes'}}"))
    ran = cli("run", "-q", "-p", p)
    assert ran.exit_code == 0, ran.output
    finding = json.loads((delivered / ".expedition" / "findings" / "overview" / "finding.json").read_text())
    assert finding["provenance"]["validation"] == {"read": 300, "valid": 295, "quarantined": 5}


def test_validate_json_equals_the_api(cli, delivered):
    from expedition.validation import validation_record

    p = str(delivered)
    cli("schema", "infer", "referrals", "-q", "-p", p)
    result = cli("validate", "--json", "-p", p)
    assert result.exit_code == 1
    (printed,) = json.loads(result.stdout)
    assert printed["report"]["rows"]["accounted"] is True
    record = validation_record(Project.load(delivered), "referrals")
    assert without_times(printed) == without_times(record)
    assert not result.stderr.strip()


def test_a_broken_contract_exits_2_naming_file_line_and_column(cli, delivered):
    p = str(delivered)
    cli("schema", "infer", "referrals", "-q", "-p", p)
    contract = delivered / "schemas" / "referrals.yaml"
    text = contract.read_text()
    contract.write_text(text.replace("      in_range: {min: 0, max:", "      in_rang: {min: 0, max:", 1))
    result = cli("validate", "-p", p)
    assert result.exit_code == 2
    assert "referrals.yaml" in result.stderr and "line" in result.stderr
    assert "unknown check 'in_rang'" in result.stderr and "did you mean 'in_range'" in result.stderr
    assert "Traceback" not in result.output


def test_schema_infer_refuses_to_overwrite_an_edited_contract(cli, delivered):
    p = str(delivered)
    assert cli("schema", "infer", "referrals", "-q", "-p", p).exit_code == 0
    contract = delivered / "schemas" / "referrals.yaml"
    contract.write_text(contract.read_text() + "# checked by the team\n")
    refused = cli("schema", "infer", "referrals", "-p", p)
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert contract.read_text().endswith("# checked by the team\n")
    forced = cli("schema", "infer", "referrals", "--force", "--json", "-p", p)
    assert forced.exit_code == 0 and json.loads(forced.stdout)["status"] == "replaced"


def test_run_refuses_unvalidated_data_and_validate_first_fixes_it(cli, delivered):
    p = str(delivered)
    cli("schema", "infer", "referrals", "-q", "-p", p)
    config = delivered / "expedition.yaml"
    config.write_text(config.read_text().replace(
        "steps: []", "steps:\n  - {id: overview, step: eda, dataset: referrals}"))
    refused = cli("run", "-p", p)
    assert refused.exit_code == 2
    assert "not been validated" in refused.stderr and "expedition validate referrals" in refused.stderr
    ran = cli("run", "--validate", "-p", p)
    assert ran.exit_code == 0, ran.output
    assert "validated referrals: 300 rows read = 295 valid + 5 quarantined" in ran.stderr


def test_unknown_dataset_and_no_contract(cli, delivered):
    p = str(delivered)
    unknown = cli("validate", "referals", "-p", p)
    assert unknown.exit_code == 2 and "did you mean 'referrals'" in unknown.stderr
    missing = cli("validate", "-p", p)
    assert missing.exit_code == 2 and "expedition schema infer referrals" in flat(missing.stderr)


@pytest.mark.parametrize("args", [["validate", "--help"], ["schema", "infer", "--help"]])
def test_help_imports_no_heavy_library(args):
    from test_startup import HEAVY, PROBE  # not tests.test_startup: ciw installs a top-level `tests` package

    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True,
                         text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert [name for name in HEAVY if name in report["modules"]] == []
