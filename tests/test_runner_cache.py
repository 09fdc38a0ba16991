"""`expedition run` reuses a step's finding while nothing that shaped it has changed."""

from __future__ import annotations

import json

import pytest

from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import StepError
from expedition.project import Project
from expedition.runner import run
from expedition.contract import contract_path
from expedition.validation import validate_dataset


def with_steps(project: Project, steps: list[dict]) -> Project:
    def change(doc):
        doc["steps"] = steps

    update_config(project.config_path, change)
    return project.reload()


STEPS = [
    {"id": "overview", "step": "eda", "dataset": "referrals", "params": {"bins": 10, "variables": ["age"]}},
    {"id": "who", "step": "significance", "dataset": "referrals",
     "params": {"group": "rereferred_12m", "variables": ["age", "disability"]}},
]


@pytest.fixture
def ready(project, referrals_csv, validated) -> Project:
    add_dataset(project, referrals_csv, "referrals")
    return with_steps(validated(project.reload(), "referrals"), STEPS)


def events_of(project, **kwargs):
    events = []
    findings = run(project, on_progress=lambda e, s, d: events.append((e, s)), **kwargs)
    return findings, events


def test_an_unchanged_step_is_reused(ready):
    first, events = events_of(ready)
    assert ("done", "overview") in events and ("done", "who") in events
    key = first[0].provenance["cache_key"]
    assert len(key) == 64
    second, events = events_of(ready)
    assert ("cached", "overview") in events and ("cached", "who") in events
    assert not any(e == "done" for e, _ in events)
    for a, b in zip(first, second):
        assert a.headlines == b.headlines and a.provenance == b.provenance
        for name in a.tables:
            assert a.tables[name].frame.equals(b.tables[name].frame)
    assert ready.last("run")["cached"] == ["overview", "who"]


def test_force_and_changes_run_the_step_again(ready):
    run(ready)
    _, events = events_of(ready, force=True)
    assert ("done", "overview") in events and ("done", "who") in events

    changed = with_steps(ready, [STEPS[0] | {"params": {"bins": 12, "variables": ["age"]}}, STEPS[1]])
    _, events = events_of(changed)
    assert ("done", "overview") in events and ("cached", "who") in events

    def reseed(doc):
        doc["seed"] = 7

    update_config(changed.config_path, reseed)
    _, events = events_of(changed.reload())
    assert ("done", "overview") in events and ("done", "who") in events


def test_a_new_delivery_runs_the_steps_again(ready, tmp_path, referrals_csv):
    run(ready)
    text = referrals_csv.read_text().splitlines()
    changed = tmp_path / "referrals.csv"
    changed.write_text("\n".join(text[:-5]) + "\n")
    add_dataset(ready, changed, "referrals")
    with pytest.raises(StepError, match="validate"):  # the new delivery is not validated yet
        run(ready.reload())
    validate_dataset(ready.reload(), "referrals")
    _, events = events_of(ready.reload())
    assert ("done", "overview") in events and ("done", "who") in events


def test_a_changed_contract_runs_the_steps_again(ready):
    run(ready)
    path = contract_path(ready, "referrals")
    path.write_text(path.read_text(encoding="utf-8") + "\n# reviewed by the team\n", encoding="utf-8")
    validate_dataset(ready.reload(), "referrals")
    _, events = events_of(ready.reload())
    assert ("done", "overview") in events and ("done", "who") in events


def test_a_damaged_stored_finding_is_not_reused(ready):
    run(ready)
    (ready.results_dir / "who" / "finding.json").write_text("{not json")
    _, events = events_of(ready)
    assert ("done", "who") in events and ("cached", "overview") in events


def test_cli_run_reports_cached_steps_and_force(cli, ready):
    p = str(ready.root)
    first = cli("run", "-p", p)
    assert first.exit_code == 0, first.output
    # not a terminal: one line per step as it finishes, in order (no live display drawn at the end)
    finished = [line for line in first.output.splitlines() if "done in" in line]
    assert [line.split()[0] for line in finished] == ["[1/2]", "[2/2]"]
    assert "overview" in finished[0] and "who" in finished[1]
    again = cli("run", "-p", p)
    assert again.exit_code == 0 and "cached" in again.stdout and "--force" in again.stdout
    assert any("overview" in line and "unchanged (cached)" in line for line in again.output.splitlines())
    forced = cli("run", "--force", "-p", p, "--json")
    assert forced.exit_code == 0
    assert [f["id"] for f in json.loads(forced.stdout)] == ["overview", "who"]
    assert "cached" not in cli("run", "who", "--force", "-p", p).stdout
