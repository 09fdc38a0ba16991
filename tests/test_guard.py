"""`expedition guard`: data files, notebooks with outputs, secrets and personal data are stopped
before they reach git; a clean file passes; the scaffold's pre-commit hook runs it offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _text import flat
from hypothesis import given
from hypothesis import strategies as st

from expedition.guard import DATA_SUFFIXES, data_kind, guard

SECRET = 'AWS_KEY = "AKIAIOSFODNN7EXAMPLE"\n'
PERSONAL = {"e-mail": "jane.doe@example.org", "phone": "07700 900123", "postcode": "SW1A 1AA"}


def notebook(path: Path, *, outputs: bool) -> Path:
    cell = {"cell_type": "code", "metadata": {}, "source": ["df.head()\n"],
            "execution_count": 3 if outputs else None,
            "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
                         "data": {"text/plain": ["   id  name\n0  17  Ann Other"]}}] if outputs else []}
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Look"]}, cell],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1))
    return path


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    (tmp_path / "extract.csv").write_text("id,name\n1,Ann\n")
    notebook(tmp_path / "look.ipynb", outputs=True)
    (tmp_path / "settings.py").write_text(SECRET)
    (tmp_path / "notes.md").write_text("# Notes\n\nCall " + PERSONAL["phone"] + " or write to "
                                       + PERSONAL["e-mail"] + " at " + PERSONAL["postcode"] + ".\n")
    (tmp_path / "clean.md").write_text("# Method\n\nWe compared re-referral rates by district.\n")
    return {p.stem: p for p in tmp_path.iterdir()}


def test_a_csv_a_notebook_with_outputs_a_secret_and_personal_data_are_stopped(cli, files):
    result = cli("guard", *map(str, files.values()))
    assert result.exit_code == 1
    text = flat(result.output)
    for name, why in (("extract.csv", "data file"), ("look.ipynb", "notebook outputs"),
                      ("settings.py:1", "secret"), ("notes.md:3", "personal data")):
        assert f"{name} — {why}" in text, text
    assert "clean.md" not in text
    # the personal values are named by kind, never shown
    assert not any(value in result.output for value in PERSONAL.values())
    assert "AKIAIOSFODNN7EXAMPLE" not in result.output


def test_a_clean_file_passes(cli, files):
    result = cli("guard", str(files["clean"]))
    assert result.exit_code == 0 and "1 file checked" in flat(result.output)


def test_fix_clears_a_notebooks_outputs_and_keeps_its_code(cli, files):
    result = cli("guard", "--fix", str(files["look"]))
    assert result.exit_code == 0, result.output
    nb = json.loads(files["look"].read_text())
    code = nb["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None and code["source"] == ["df.head()\n"]
    assert "Ann Other" not in files["look"].read_text()
    assert cli("guard", str(files["look"])).exit_code == 0


def test_json_lists_every_problem(cli, files):
    result = cli("guard", "--json", *map(str, files.values()))
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and not doc["ok"]
    assert {Path(p["file"]).name for p in doc["problems"]} == {"extract.csv", "look.ipynb", "settings.py",
                                                               "notes.md"}


def test_an_allowed_line_is_not_checked(tmp_path):
    path = tmp_path / "contact.md"
    path.write_text("Team inbox: team@example.org  <!-- guard: allow -->\n")
    assert guard([path]).ok


def test_a_scaffolded_expedition_passes(project_dir):
    report = guard([project_dir])
    assert report.ok, report.problems
    assert any(p.endswith(".pre-commit-config.yaml") for p in report.checked)


@given(stem=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
       suffix=st.sampled_from(sorted(DATA_SUFFIXES)), upper=st.booleans(),
       compressed=st.sampled_from(["", ".gz", ".zip", ".xz"]))
def test_every_data_file_name_is_caught(stem, suffix, upper, compressed):
    name = stem + (suffix.upper() if upper else suffix) + compressed
    assert data_kind(Path(name)) == DATA_SUFFIXES[suffix]


def test_the_staged_files_are_checked_by_default(cli, tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "extract.csv").write_text("a\n1\n")
    (tmp_path / "README.md").write_text("# A\n")
    subprocess.run([*git, "add", "extract.csv", "README.md"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    result = cli("guard")
    assert result.exit_code == 1 and "extract.csv — data file" in flat(result.output)


def test_the_scaffolds_pre_commit_hook_runs_guard_offline(project_dir, tmp_path):
    """The hook is local (no repository to download): pre-commit runs `expedition guard` on the
    staged files and the commit is stopped by a CSV."""
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if shutil.which("git") is None or not pre_commit.exists():
        pytest.skip("git or pre-commit is not installed")
    config = (project_dir / ".pre-commit-config.yaml").read_text()
    assert "repo: local" in config and "entry: expedition guard" in config and "https://" not in config
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PIP_NO_INDEX": "1",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=project_dir, check=True, env=env)
    subprocess.run([*git, "add", "-A"], cwd=project_dir, check=True, env=env)
    clean = subprocess.run([str(pre_commit), "run"], cwd=project_dir, env=env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (project_dir / "extract.csv").write_text("id\n1\n")
    subprocess.run([*git, "add", "extract.csv"], cwd=project_dir, check=True, env=env)
    stopped = subprocess.run([str(pre_commit), "run"], cwd=project_dir, env=env, capture_output=True, text=True)
    assert stopped.returncode == 1
    assert "extract.csv" in stopped.stdout and "data file" in stopped.stdout
