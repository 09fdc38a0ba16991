"""The README documents every command, and its set-up commands stay the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from expedition.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(group=None, prefix=("expedition",)):
    command = typer.main.get_command(app) if group is None else group
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        path = (*prefix, name)
        yield " ".join(path)
        yield from commands(sub, path)


def test_every_command_is_in_the_readme():
    missing = [c for c in commands() if c not in README]
    assert missing == []


def test_every_recipe_card_is_in_the_readme():
    from expedition.recipes import recipe_names

    assert [r for r in recipe_names() if r not in README] == []


def test_every_step_is_in_the_readme():
    from expedition.steps import step_names

    assert [s for s in step_names() if f"`{s}`" not in README] == []


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    setup = [b for b in blocks if "pip install" in b]
    assert len(setup) >= 2, "the README holds the two set-up commands"
    test_block = next(b for b in setup if "pytest" in b)
    for line in test_block.strip().splitlines():
        assert line.strip() in ci, f"CI does not run the README's line: {line}"
