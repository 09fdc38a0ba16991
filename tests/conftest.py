from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("MPLBACKEND", "Agg")

SHARED_DATA = Path(
    os.environ.get("EXPEDITION_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


@pytest.fixture(autouse=True)
def signing_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own configuration folder, so packs are signed with a throwaway key and
    the user's real key (in ~/.config/expedition) is never read, made or changed."""
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("EXPEDITION_SIGNING_KEY", raising=False)
    return home


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A freshly scaffolded expedition (no datasets, no steps)."""
    from expedition.scaffold import new_project

    return new_project("test-expedition", output_dir=tmp_path, no_input=True, today=date(2026, 11, 24))


@pytest.fixture
def project(project_dir: Path):
    from expedition.project import Project

    return Project.load(project_dir)


@pytest.fixture(scope="session")
def referrals_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """800 synthetic referrals as CSV (generated once per test session)."""
    from expedition.examples.referrals import write

    return write(tmp_path_factory.mktemp("data") / "referrals.csv", rows=800, seed=7)


@pytest.fixture
def validated():
    """Make a dataset ready for steps as a user would: draft its contract, validate the delivery.

    validated(project, "referrals") -> the reloaded Project.
    """
    from expedition.contract import draft_contract
    from expedition.validation import validate_dataset

    def prepare(project, dataset: str):
        draft_contract(project, dataset)
        project = project.reload()
        validate_dataset(project, dataset)
        return project

    return prepare


@pytest.fixture
def shared_data() -> Path:
    """The openly licensed datasets beside the project, when present."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture
def cli(monkeypatch):
    """Invoke the CLI in-process: cli("new", "x", "--no-input") -> Result."""
    monkeypatch.setenv("COLUMNS", "200")
    from expedition.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke
