"""Expected failures: a short message and a fix, a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from _text import flat


def assert_clean_error(result, code: int, *phrases: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert "How to fix" in result.stderr
    for phrase in phrases:
        assert phrase in flat(result.stderr)


def test_no_project_found(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(cli("status"), 2, "no expedition.yaml")
    assert_clean_error(cli("run"), 2, "expedition new")


def test_broken_yaml_names_file_and_line(cli, project_dir):
    path = project_dir / "expedition.yaml"
    path.write_text(path.read_text().replace("min_count: 10", "min_count: [10"))
    assert_clean_error(cli("status", "--project", str(project_dir)), 2, "expedition.yaml", "line")


def test_invalid_field_names_the_field(cli, project_dir):
    path = project_dir / "expedition.yaml"
    path.write_text(path.read_text().replace("min_count: 10", "min_count: many"))
    assert_clean_error(
        cli("status", "--project", str(project_dir)), 2, "disclosure.min_count", "integer"
    )


def test_missing_file(cli, project_dir):
    assert_clean_error(
        cli("data", "add", "nope.csv", "--project", str(project_dir)), 2, "does not exist"
    )


def test_unknown_step(cli, project_dir, referrals_csv):
    cli("data", "add", str(referrals_csv), "--name", "r", "--project", str(project_dir))
    path = project_dir / "expedition.yaml"
    path.write_text(path.read_text().replace("steps: []", "steps:\n  - {id: a, step: edda, dataset: r}"))
    assert_clean_error(cli("run", "--project", str(project_dir)), 2, "unknown step 'edda'", "eda")
    assert_clean_error(cli("steps", "show", "nope"), 2, "unknown step")


def test_debug_shows_the_traceback(cli, tmp_path, monkeypatch):
    from expedition.errors import ProjectNotFoundError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProjectNotFoundError):
        cli("--debug", "status")


def test_unexpected_errors_are_reported_as_bugs(cli, project_dir, monkeypatch):
    import expedition.project

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(expedition.project, "open_project", boom)
    result = cli("status", "--project", str(project_dir))
    assert result.exit_code == 3
    assert "kaboom" in result.stderr and "Traceback" not in result.output
