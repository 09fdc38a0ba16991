"""`expedition profile` through the CLI: it agrees with the Python API, stores the project's
profiles for the pack, compares deliveries, and fails with a message, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

import expedition
from expedition.datasets import add_dataset
from expedition.project import Project


def no_run(document):
    return {k: v for k, v in document.items() if k != "run"}


@pytest.fixture
def two_deliveries(project, tmp_path):
    """A project whose dataset 'cases' has two deliveries, the second changed materially."""
    first = tmp_path / "cases-1.csv"
    second = tmp_path / "cases-2.csv"
    pl.DataFrame(
        {"case": range(300), "team": ["North", "South", "East"] * 100, "score": [i % 17 for i in range(300)]}
    ).write_csv(first)
    pl.DataFrame(
        {"case": range(300), "team": ["North"] * 270 + ["West"] * 30, "extra": [1] * 300}
    ).write_csv(second)
    add_dataset(project, first, "cases")
    add_dataset(Project.load(project.root), second, "cases")
    return Project.load(project.root)


def test_json_output_equals_the_python_api(cli, referrals_csv):
    result = cli("profile", str(referrals_csv), "--json")
    assert result.exit_code == 0, result.output
    assert no_run(json.loads(result.stdout)) == no_run(expedition.profile(referrals_csv).to_dict())


def test_terminal_summary_and_html(cli, referrals_csv, tmp_path):
    page = tmp_path / "out" / "profile.html"
    page.parent.mkdir()
    result = cli("profile", str(referrals_csv), "--html", str(page))
    assert result.exit_code == 0, result.output
    assert "Profile of referrals" in result.stdout and "Alerts" in result.stdout
    assert "suspected personal data" in result.stdout
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "referral_note" in html
    assert cli("profile", str(referrals_csv), "-q").stdout == ""


def test_a_dataset_profile_is_stored_for_the_pack(cli, project, referrals_csv):
    add_dataset(project, referrals_csv, "referrals")
    result = cli("profile", "referrals", "--project", str(project.root))
    assert result.exit_code == 0, result.output
    folder = project.quality_dir("referrals")
    stored = json.loads((folder / "profile.json").read_text(encoding="utf-8"))
    assert stored["source"]["dataset"] == "referrals" and stored["source"]["delivery"] == 1
    assert stored["source"]["path"] == "data/raw/referrals/v1/referrals.csv"
    assert (folder / "profile.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert Project.load(project.root).last("profile")["dataset"] == "referrals"
    # with no argument, every dataset is profiled
    again = cli("profile", "--project", str(project.root), "--json")
    assert no_run(json.loads(again.stdout)) == no_run(stored)
    api = expedition.profile.profile_dataset(Project.load(project.root), "referrals", store=False)
    assert no_run(api.to_dict()) == no_run(stored)


def test_older_deliveries_are_profiled_but_not_stored(cli, two_deliveries):
    root = str(two_deliveries.root)
    result = cli("profile", "cases@v1", "--project", root, "--json")
    assert json.loads(result.stdout)["source"]["delivery"] == 1
    assert not two_deliveries.quality_dir("cases").exists()


def test_compare_two_deliveries(cli, two_deliveries):
    root = str(two_deliveries.root)
    result = cli("profile", "--compare", "cases@v1", "cases@v2", "--project", root, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["old"]["label"] == "cases@v1" and doc["new"]["label"] == "cases@v2"
    assert doc["removed_columns"] == ["score"] and doc["added_columns"] == ["extra"]
    assert doc["changed_materially"]
    assert ("distribution_shift", "team") in {(a["kind"], a["column"]) for a in doc["alerts"]}
    same = cli("profile", "--compare", "cases", "--project", root, "--json")  # previous → latest
    assert json.loads(same.stdout)["alerts"] == doc["alerts"]
    api = expedition.profile.compare("cases@v1", "cases@v2", project=two_deliveries)
    assert api.to_dict()["alerts"] == doc["alerts"]
    human = cli("profile", "--compare", "cases@v1", "cases@v2", "--project", root)
    assert "changed materially" in human.stdout and "cases@v1 → cases@v2" in human.stdout


def test_compare_two_files(cli, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    pl.DataFrame({"x": range(100)}).write_csv(a)
    pl.DataFrame({"x": range(100)}).write_csv(b)
    page = tmp_path / "cmp.html"
    result = cli("profile", "--compare", str(a), str(b), "--html", str(page), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["changed_materially"] is False
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere.csv"], "no file or dataset called 'nowhere.csv'"),
        (["--compare", "a.csv"], "--compare with one argument needs a dataset"),
        (["--compare", "a", "b", "c"], "--compare needs two"),
        ([], "give a file or dataset"),
        (["cases@v3"], "names a delivery, but there is no expedition"),
    ],
)
def test_usage_errors_are_short_messages(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = cli("profile", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_project_errors_name_the_fix(cli, two_deliveries, referrals_csv):
    root = str(two_deliveries.root)
    unknown = cli("profile", "casse", "--project", root)
    assert unknown.exit_code == 2 and "did you mean 'cases'" in unknown.stderr
    missing = cli("profile", "cases@v9", "--project", root)
    assert missing.exit_code == 2 and "no delivery v9" in missing.stderr
    many = cli("profile", "cases", str(referrals_csv), "--html", "x.html", "--project", root)
    assert many.exit_code == 2 and "one page" in " ".join(many.stderr.split())


def test_bad_data_exits_with_a_message(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,name\n1,a\n2,b,c\n")
    result = cli("profile", str(bad))
    assert result.exit_code == 2 and "ragged" in result.stderr and "Traceback" not in result.output


def test_profile_help_imports_no_heavy_library():
    probe = (
        "import json, sys\nfrom expedition.cli import app\nfrom typer.testing import CliRunner\n"
        "r = CliRunner().invoke(app, ['profile', '--help'])\n"
        "print(json.dumps({'code': r.exit_code, 'out': r.output, 'modules': sorted(sys.modules)}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["code"] == 0 and "--compare" in report["out"]
    assert [m for m in ("polars", "numpy", "scipy", "jinja2") if m in report["modules"]] == []
