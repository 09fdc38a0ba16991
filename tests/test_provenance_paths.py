"""Provenance never publishes a machine's paths: the command is recorded relative to the
project, and a folder name that looks like a postcode does not stop a pack."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from expedition.manifest import OUTSIDE, command_line


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "home" / "jo.bloggs" / "expeditions" / "work.a434LA"
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "referrals.csv").write_text("a\n1\n")
    monkeypatch.chdir(root)
    return root


def test_paths_inside_the_project_are_relative_and_others_keep_only_their_name(root, tmp_path):
    outside = tmp_path / "Downloads" / "referrals-2026.csv"
    outside.parent.mkdir()
    outside.write_text("a\n1\n")
    argv = ["/home/jo.bloggs/.venv/bin/expedition", "--project", str(root), "data", "add", str(outside),
            "--name", "referrals", str(root / "data" / "raw" / "referrals.csv"), f"--project={root}",
            "data/raw/referrals.csv", "who-is-rereferred", "~/secret/x.csv"]
    line = command_line(root, argv)
    assert line == (
        "expedition --project . data add <outside the project>/referrals-2026.csv --name referrals "
        "data/raw/referrals.csv --project=. data/raw/referrals.csv who-is-rereferred "
        "<outside the project>/x.csv"
    )
    assert str(tmp_path) not in line and "jo.bloggs" not in line


def test_a_relative_path_from_a_subfolder_is_written_from_the_project(root, monkeypatch):
    monkeypatch.chdir(root / "data")
    assert command_line(root, ["expedition", "profile", "raw/referrals.csv", ".."]) == (
        "expedition profile data/raw/referrals.csv ."
    )


def test_python_dash_m_and_a_missing_argv_are_recorded_plainly(root):
    assert command_line(root, ["/usr/lib/python3/site-packages/expedition/__main__.py", "run"]) == "expedition run"
    assert command_line(root, []) == ""


@settings(deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                        max_size=30), max_size=6))
def test_no_argument_ever_carries_an_absolute_path(args):
    home = os.path.expanduser("~")
    root = Path.cwd()
    line = command_line(root, ["expedition", *[f"{home}/{a}" for a in args], *[f"/tmp/{a}" for a in args]])
    for part in line.split(" "):
        assert not part.startswith((home, "/tmp/")) or part.startswith(OUTSIDE)


def test_the_pack_records_no_absolute_path_and_a_postcode_like_folder_does_not_stop_it(
    project_dir, referrals_csv, validated, tmp_path, monkeypatch
):
    """A project whose folder is named like a postcode (work.a434LA) packs, and neither the
    finding's provenance nor the pack's manifest holds the machine's paths."""
    from expedition.cli import app
    from expedition.config import update_config
    from expedition.datasets import add_dataset
    from expedition.project import Project

    folder = tmp_path / "home" / "Jo Bloggs" / "work.a434LA"
    folder.parent.mkdir(parents=True)
    project_dir.rename(folder)
    project = Project.load(folder)
    add_dataset(project, referrals_csv, "referrals")
    project = validated(project.reload(), "referrals")

    def steps(doc):
        doc["steps"] = [{"id": "overview", "step": "eda", "dataset": "referrals",
                         "params": {"outcome": "rereferred_12m", "outcome_value": "yes"}}]

    update_config(project.config_path, steps)
    runner = CliRunner()
    monkeypatch.setattr("sys.argv", ["/home/Jo Bloggs/.venv/bin/expedition", "run", "--project", str(folder)])
    ran = runner.invoke(app, ["run", "--project", str(folder)])
    assert ran.exit_code == 0, ran.output
    stored = (project.results_dir / "overview" / "finding.json").read_text(encoding="utf-8")
    monkeypatch.setattr("sys.argv", ["/home/Jo Bloggs/.venv/bin/expedition", "pack", "--project", str(folder)])
    packed = runner.invoke(app, ["pack", "--project", str(folder), "--json"])
    assert packed.exit_code == 0, packed.output
    pack = Path(json.loads(packed.stdout)["path"])
    manifest = (pack / "manifest.json").read_text(encoding="utf-8")
    findings = (pack / "findings.json").read_text(encoding="utf-8")
    for text in (manifest, findings, (pack / "index.html").read_text(encoding="utf-8")):
        assert str(tmp_path) not in text and "Jo Bloggs" not in text
    data = json.loads(manifest)
    assert data["command"] == "expedition pack --project ."
    assert data["findings"][0]["provenance"]["command"] == "expedition run --project ."
    assert "Jo Bloggs" not in stored and str(tmp_path) not in stored
