from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from expedition.project import Project


def test_new_no_input(cli, tmp_path):
    result = cli("new", "rereferrals", "--no-input", "--output-dir", str(tmp_path),
                 "--set", "lead=A. Lead", "--set", "min_count=7")
    assert result.exit_code == 0, result.output
    root = tmp_path / "rereferrals"
    config = Project.load(root).config
    assert config.expedition.lead == "A. Lead" and config.disclosure.min_count == 7
    again = cli("new", "rereferrals", "--no-input", "--output-dir", str(tmp_path))
    assert again.exit_code == 2 and "never overwrites" in again.stderr


def test_new_with_recipe(cli, tmp_path):
    result = cli("new", "look", "--no-input", "-o", str(tmp_path), "--recipe", "first-look")
    assert result.exit_code == 0, result.output
    config = Project.load(tmp_path / "look").config
    assert [s.step for s in config.steps] == ["eda"]
    assert "main" in config.datasets


def test_new_prompts_for_each_value(cli, tmp_path):
    answers = "\n".join(
        ["Fly-tipping hot spots", "", "Where is fly-tipping persistent?", "Essex County Council",
         "B. Lead", "2026-12-01", "2027-01-15", "5"]
    ) + "\n"
    result = cli("new", "--output-dir", str(tmp_path), input=answers)
    assert result.exit_code == 0, result.output
    config = Project.load(tmp_path / "fly-tipping-hot-spots").config
    assert config.expedition.question == "Where is fly-tipping persistent?"
    assert config.expedition.lead == "B. Lead"
    assert str(config.expedition.end) == "2027-01-15"
    assert config.disclosure.min_count == 5


def test_data_add_and_list(cli, project_dir, referrals_csv, monkeypatch):
    monkeypatch.chdir(project_dir / "data")  # found by walking up
    result = cli("data", "add", str(referrals_csv), "--name", "referrals")
    assert result.exit_code == 0, result.output
    assert "v1" in result.stdout and "800 rows" in result.stdout
    copy = project_dir / "data/raw/referrals/v1/referrals.csv"
    assert not os.stat(copy).st_mode & stat.S_IWUSR
    again = cli("data", "add", str(referrals_csv), "--name", "referrals")
    assert "Already registered" in again.stdout
    listed = json.loads(cli("data", "list", "--json").stdout)
    assert listed["referrals"]["deliveries"][0]["rows"] == 800
    table = cli("data", "list").stdout
    assert "referrals" in table and "800" in table


def test_run_json_equals_the_api(cli, project_dir, referrals_csv):
    from expedition.runner import publish_finding, stored_findings

    p = str(project_dir)
    cli("data", "add", str(referrals_csv), "--name", "referrals", "-p", p)
    config = project_dir / "expedition.yaml"
    config.write_text(config.read_text().replace(
        "steps: []",
        "steps:\n  - id: overview\n    step: eda\n    dataset: referrals\n"
        "    params: {outcome: rereferred_12m, outcome_value: 'yes'}",
    ))
    assert cli("schema", "infer", "referrals", "-q", "-p", p).exit_code == 0
    assert cli("validate", "-q", "-p", p).exit_code == 0
    result = cli("run", "--json", "-p", p)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    project = Project.load(project_dir)
    stored = [publish_finding(project, f).to_dict() for f in stored_findings(project)]
    assert printed == json.loads(json.dumps(stored, default=str))

    status = json.loads(cli("status", "--json", "-p", p).stdout)
    assert status["steps"] == [{"id": "overview", "step": "eda", "has_finding": True}]
    assert status["last_run"]["steps"] == ["overview"]

    packed = json.loads(cli("pack", "--json", "-p", p).stdout)
    pack = Path(packed["path"])
    assert (pack / "index.html").is_file()
    assert cli("pack", "-p", p).exit_code == 2  # exists already
    assert cli("pack", "--force", "-q", "-p", p).exit_code == 0
    verified = cli("pack", "verify", str(pack), "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True
    (pack / "summary.md").write_text("changed")
    failed = cli("pack", "verify", str(pack))
    assert failed.exit_code == 1 and "summary.md" in failed.stderr

    human = cli("status", "-p", p)
    assert "overview" in human.stdout and "Last pack" in human.stdout


def test_steps_list_and_show(cli):
    listed = cli("steps")
    assert listed.exit_code == 0 and "eda" in listed.stdout
    described = json.loads(cli("steps", "show", "eda", "--json").stdout)
    assert described["name"] == "eda" and described["params"]
    assert "outcome" in cli("steps", "show", "eda").stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("expedition ")


def test_steps_lists_every_step_and_documents_one(cli):
    listed = cli("steps")
    for name in ("eda", "significance", "segment", "drivers"):
        assert name in listed.stdout
    assert "group*" in listed.stdout  # required parameters are marked
    shown = cli("steps", "show", "significance")
    assert shown.exit_code == 0
    for text in ("Method", "Welch", "Parameters", "correction", "one of holm, bh", "Outputs", "effect_sizes"):
        assert text in shown.stdout, text
    described = json.loads(cli("steps", "show", "drivers", "--json").stdout)
    assert described["outputs"]["importance"]
    assert [p["name"] for p in described["params"] if p["required"]] == ["outcome"]
    unknown = cli("steps", "show", "segmnt")
    assert unknown.exit_code == 2 and "did you mean 'segment'" in unknown.stderr
