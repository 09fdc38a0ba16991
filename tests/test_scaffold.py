from __future__ import annotations

import itertools
import re
from datetime import date
from pathlib import Path

import pytest

from expedition.config import load_config
from expedition.errors import ScaffoldError
from expedition.recipes import recipe_names
from expedition.scaffold import new_project, parse_settings, template_variables

EXPECTED = [
    "expedition.yaml",
    "README.md",
    "ETHICS.md",
    "DATA_SHARING.md",
    ".gitignore",
    "data/raw",
    "data/interim",
    "data/processed",
    "data/quarantine",
    "schemas",
    "notebooks",
    "findings",
]

CURLIES = re.compile(r"{{[^}]*}}|{%[^%]*%}")


def no_curlies(root: Path) -> list[str]:
    """Files in which template syntax was left unrendered."""
    left = []
    for path in root.rglob("*"):
        if path.is_file():
            if CURLIES.search(path.read_text(encoding="utf-8")):
                left.append(str(path.relative_to(root)))
    return left


def test_new_creates_the_tree(tmp_path):
    root = new_project("rereferrals", output_dir=tmp_path, no_input=True, today=date(2026, 11, 24))
    assert root == tmp_path / "rereferrals"
    for rel in EXPECTED:
        assert (root / rel).exists(), rel
    config = load_config(root)
    assert config.expedition.slug == "rereferrals"
    assert config.expedition.title == "Rereferrals"
    assert config.expedition.start == date(2026, 11, 24)
    assert config.expedition.end == date(2026, 12, 22)
    assert config.disclosure.min_count == 10
    assert no_curlies(root) == []
    # only the project folder is left behind: no temporary folders, no replay files
    assert [p.name for p in tmp_path.iterdir()] == ["rereferrals"]


def test_ethics_and_data_sharing_cover_the_framework(project_dir):
    ethics = (project_dir / "ETHICS.md").read_text()
    for heading in ["Purpose and public benefit", "Legal basis", "Data minimisation",
                    "Bias and fairness", "Transparency", "Review"]:
        assert heading in ethics
    sharing = (project_dir / "DATA_SHARING.md").read_text()
    for item in ["Agreement", "Retention", "Deletion date"]:
        assert item in sharing
    ignore = (project_dir / ".gitignore").read_text()
    assert "data/**" in ignore and ".expedition/" in ignore


def test_gitignore_keeps_data_out_of_git(project_dir, tmp_path):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    (project_dir / "data/raw/secret.csv").write_text("a\n1\n")
    subprocess.run(["git", "init", "-q"], cwd=project_dir, check=True)
    out = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=project_dir, check=True, capture_output=True, text=True,
    ).stdout
    assert "secret.csv" not in out
    assert "data/raw/.gitkeep" in out
    assert "expedition.yaml" in out


def test_never_overwrites_an_existing_folder(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="never overwrites"):
        new_project("taken", output_dir=tmp_path, no_input=True)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_set_any_template_variable(tmp_path):
    root = new_project(
        "x",
        output_dir=tmp_path,
        no_input=True,
        settings=parse_settings(
            ["title=Fly-tipping: where and when?", "lead=A. Lead", "min_count=5",
             "partners=Essex County Council, Essex Police", "question=Where is it \"worst\"?"]
        ),
    )
    config = load_config(root)
    assert config.expedition.title == "Fly-tipping: where and when?"
    assert config.expedition.partners == ["Essex County Council", "Essex Police"]
    assert config.expedition.question == 'Where is it "worst"?'
    assert config.disclosure.min_count == 5
    assert "A. Lead" in (root / "README.md").read_text()


@pytest.mark.parametrize(
    "pair, message",
    [("nokey", "key=value"), ("colour=red", "unknown template variable")],
)
def test_bad_settings(pair, message):
    with pytest.raises(ScaffoldError, match=message):
        parse_settings([pair])


def test_invalid_values_leave_nothing_behind(tmp_path):
    with pytest.raises(ScaffoldError, match="expedition.start"):
        new_project("x", output_dir=tmp_path, no_input=True, settings={"start": "soon"})
    with pytest.raises(ScaffoldError, match="min_count"):
        new_project("y", output_dir=tmp_path, no_input=True, settings={"min_count": "0"})
    assert list(tmp_path.iterdir()) == []


def test_unknown_recipe_lists_the_cards(tmp_path):
    with pytest.raises(ScaffoldError) as info:
        new_project("x", output_dir=tmp_path, no_input=True, recipe="nope")
    assert "first-look" in info.value.fix


@pytest.mark.parametrize("recipe", recipe_names())
def test_every_recipe_makes_a_valid_project(tmp_path, recipe):
    root = new_project("r", output_dir=tmp_path, no_input=True, recipe=recipe)
    config = load_config(root)
    assert config.steps, "a recipe card adds steps"
    assert (root / "RECIPE.md").exists()
    assert no_curlies(root) == []


OPTIONS = {
    "recipe": [None, *recipe_names()],
    "min_count": [None, "1", "25"],
    "partners": [None, "", "One", "One, Two ,Three"],
}


@pytest.mark.parametrize(
    "combo", list(itertools.product(*OPTIONS.values())), ids=lambda c: "-".join(map(str, c))
)
def test_bake_every_option_combination(tmp_path, combo):
    recipe, min_count, partners = combo
    settings = {}
    if min_count is not None:
        settings["min_count"] = min_count
    if partners is not None:
        settings["partners"] = partners
    root = new_project("bake", output_dir=tmp_path, no_input=True, recipe=recipe, settings=settings)
    config = load_config(root)
    assert no_curlies(root) == []
    if min_count:
        assert config.disclosure.min_count == int(min_count)
    if partners is not None:
        assert config.expedition.partners == [p.strip() for p in partners.split(",") if p.strip()]


def test_template_variables_match_the_documented_prompts():
    assert list(template_variables()) == [
        "title", "slug", "question", "partners", "lead", "start", "end", "min_count"
    ]
