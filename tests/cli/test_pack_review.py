"""`expedition review`, `expedition pack [--final]` and `expedition pack verify` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _packs import make_packable
from expedition.pack import verify_pack
from expedition.project import Project
from expedition.review import review_status

from _text import flat


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n")
    return make_packable(project, csv_path)


def test_final_pack_needs_review_and_the_cli_agrees_with_the_api(cli, packable):
    p = str(packable.root)
    refused = cli("pack", "--final", "-p", p)
    assert refused.exit_code == 2
    assert "expedition review --by NAME" in flat(refused.stderr)

    aborted = cli("review", "--by", "A. Reviewer", "-p", p, input="n\n")
    assert aborted.exit_code == 1 and not review_status(packable).reviews
    asked = cli("review", "--by", "A. Reviewer", "--role", "peer reviewer", "-p", p, input="y\n")
    assert asked.exit_code == 0, asked.output
    assert "assumptions" in asked.stdout.lower() and "Signed off by A. Reviewer" in asked.stdout
    signed = json.loads(cli("review", "--by", "B. Assurer", "--yes", "--json", "-p", p).stdout)
    assert signed["by"] == "B. Assurer" and set(signed["findings"]) == {"by-district", "risk-model"}

    status = json.loads(cli("status", "--json", "-p", p).stdout)
    assert status["review"]["signed"] is True and status["review"]["latest"]["by"] == "B. Assurer"
    assert "B. Assurer" in cli("status", "-p", p).stdout

    built = cli("pack", "--final", "--json", "-p", p)
    assert built.exit_code == 0, built.output
    result = json.loads(built.stdout)
    assert result["status"] == "final" and Path(result["zip"]).is_file()
    assert result == {**result, "findings": ["by-district", "risk-model"]}
    assert json.loads(cli("status", "--json", "-p", p).stdout)["last_pack"]["status"] == "final"

    api = verify_pack(result["zip"]).to_dict()
    cli_report = json.loads(cli("pack", "verify", result["zip"], "--json").stdout)
    assert cli_report == api and cli_report["ok"] and cli_report["status"] == "final"
    human = cli("pack", "verify", result["path"])
    assert human.exit_code == 0 and "provenance complete for 2 findings" in human.stdout


def test_verify_exits_1_with_a_list_of_problems(cli, packable):
    pack = Path(json.loads(cli("pack", "--json", "-p", str(packable.root)).stdout)["path"])
    (pack / "summary.md").write_text("Call 07700 900123\n")
    failed = cli("pack", "verify", str(pack))
    assert failed.exit_code == 1
    text = flat(failed.stderr)
    assert "summary.md: content changed" in text and "UK phone number" in text
    missing = cli("pack", "verify", str(pack / "nope"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_review_needs_findings_and_a_name(cli, project):
    assert cli("review", "--by", "X", "--yes", "-p", str(project.root)).exit_code == 2
    assert "no findings to review" in cli("review", "--by", "X", "--yes", "-p", str(project.root)).stderr
    assert cli("review", "--yes", "-p", str(project.root)).exit_code == 2  # --by is required


def test_pack_prints_warnings(cli, packable):
    (Project.load(packable.root).root / "ETHICS.md").unlink()
    out = cli("pack", "-p", str(packable.root))
    assert out.exit_code == 0
    assert "ETHICS.md is missing" in out.stderr.replace("\n", " ")
