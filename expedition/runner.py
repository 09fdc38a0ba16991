"""Running the steps listed in ``expedition.yaml``.

``run(project)`` checks every selected step's name and parameters before any step runs (so a typo
fails at once), then runs the steps in order on their dataset, attaches provenance to each
`Finding` and stores it under ``.expedition/findings/<id>/`` for `expedition pack`.

A step whose inputs are unchanged since its finding was stored is not run again: the stored
finding is reused (see `expedition._runcache`); ``force=True`` runs every selected step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from expedition._runcache import cache_key, cached_finding
from expedition.config import StepConfig
from expedition.errors import ExpeditionError, StepError
from expedition.finding import Finding, load_finding, save_finding
from expedition.manifest import command_line, package_versions
from expedition.project import Project
from expedition.steps import Step, StepContext, StepParams, get_step
from expedition.validate import open_validated, require_validated

#: ``on_progress(event, step_id, detail)`` with event one of
#: "start" (detail: {"index", "total", "step"}), "progress" ({"fraction", "message"}),
#: "done" ({"seconds"}), "cached" ({"key"}: the stored finding was reused).
ProgressCallback = Callable[[str, str, dict[str, Any]], None]


@dataclass(frozen=True)
class StepInput:
    """What a step reads, and what identifies it for provenance (and caching)."""

    frame: Any
    fingerprint: dict[str, Any]
    contract: Any = None
    roles: dict[str, str] | None = None
    personal: frozenset[str] = frozenset()


def load_input(project: Project, dataset: str) -> StepInput:
    """The data a step runs on: the validated rows of *dataset* (``data/interim/NAME.parquet``).

    Raises StepError when the dataset was never validated, or its latest delivery or contract
    changed since (`expedition validate NAME` or `expedition run --validate` fixes it).
    """
    data = open_validated(project, dataset)
    return StepInput(
        frame=data.frame,
        fingerprint=data.fingerprint,
        contract=data.contract,
        roles=data.contract.roles,
        personal=data.contract.personal,
    )


@dataclass(frozen=True)
class PlannedStep:
    config: StepConfig
    step: type[Step]
    params: StepParams


def plan(project: Project, ids: Sequence[str] | None = None) -> list[PlannedStep]:
    """Resolve and validate the selected steps (all of them by default) without running any."""
    config = project.config
    if not config.steps:
        raise StepError(
            "expedition.yaml lists no steps",
            "add a step under 'steps:' (see `expedition steps` for what is available), "
            "or start from a recipe: `expedition new NAME --recipe first-look`",
            path=project.config_path,
        )
    known = [s.id for s in config.steps]
    if ids:
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise StepError(
                f"no step with id {', '.join(repr(u) for u in unknown)} in expedition.yaml",
                f"the step ids are: {', '.join(known)}",
                path=project.config_path,
            )
        selected = [s for s in config.steps if s.id in ids]
    else:
        selected = list(config.steps)
    planned = []
    for entry in selected:
        step_cls = get_step(entry.step)
        params = step_cls.parse_params(entry.params, where=f"step '{entry.id}'")
        if entry.dataset is None:
            raise StepError(
                f"step '{entry.id}' names no dataset",
                "add 'dataset: NAME' to the step in expedition.yaml",
                path=project.config_path,
            )
        planned.append(PlannedStep(entry, step_cls, params))
    for dataset in dict.fromkeys(p.config.dataset for p in planned):
        require_validated(project, dataset)  # before any step runs, not half-way through
    return planned


def run(
    project: Project,
    ids: Sequence[str] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    force: bool = False,
) -> list[Finding]:
    """Run the selected steps in order; return their findings (also stored in the project).

    A step whose inputs, parameters, version and seed are unchanged since its finding was stored
    is skipped and its stored finding returned, unless *force* is true.
    """
    steps = plan(project, ids)
    versions = package_versions()
    command = command_line(project.root)
    findings = []
    cached = []
    notify = on_progress or (lambda event, step_id, detail: None)
    for index, planned in enumerate(steps):
        entry = planned.config
        notify("start", entry.id, {"index": index, "total": len(steps), "step": entry.step})
        started = time.perf_counter()
        data = load_input(project, entry.dataset)
        key = cache_key(
            step=entry.step,
            step_version=planned.step.version,
            params=planned.params.model_dump(mode="json"),
            fingerprint=data.fingerprint,
            seed=project.config.seed,
            disclosure=project.config.disclosure.model_dump(mode="json"),
            title=entry.title,
            packages=versions,
        )
        reused = None if force else cached_finding(project.results_dir / entry.id, key)
        if reused is not None:
            notify("cached", entry.id, {"key": key})
            findings.append(reused)
            cached.append(entry.id)
            continue
        finding = _run_one(project, planned, versions, command, notify, data=data)
        finding = finding.with_(provenance={**finding.provenance, "cache_key": key})
        save_finding(finding, project.results_dir / entry.id)
        notify("done", entry.id, {"seconds": time.perf_counter() - started})
        findings.append(finding)
    project.record("run", steps=[f.id for f in findings], cached=cached, command=command)
    return findings


def _run_one(
    project: Project,
    planned: PlannedStep,
    versions: dict[str, str],
    command: str,
    notify: ProgressCallback,
    data: StepInput | None = None,
) -> Finding:
    entry = planned.config
    if data is None:
        data = load_input(project, entry.dataset)
    ctx = StepContext(
        seed=project.config.seed,
        dataset=entry.dataset,
        disclosure=project.config.disclosure,
        contract=data.contract,
        roles=dict(data.roles or {}),
        personal=data.personal,
        progress=lambda fraction, message: notify(
            "progress", entry.id, {"fraction": fraction, "message": message}
        ),
    )
    started = datetime.now(timezone.utc)
    try:
        finding = planned.step().run(data.frame, planned.params, ctx)
    except ExpeditionError as exc:
        if isinstance(exc, StepError) and not exc.what.startswith("step '"):
            exc.what = f"step '{entry.id}': {exc.what}"
        raise
    except Exception as exc:
        raise StepError(
            f"step '{entry.id}' ({entry.step}) failed: {type(exc).__name__}: {exc}",
            "run `expedition --debug run` for the full traceback; if the data look right, "
            "please report it",
        ) from exc
    if not isinstance(finding, Finding):
        raise StepError(
            f"step '{entry.step}' returned {type(finding).__name__}, not a Finding",
            "a step's run() must return expedition.Finding",
        )
    provenance = {
        "step": entry.step,
        "step_version": planned.step.version,
        **data.fingerprint,
        "seed": project.config.seed,
        "params": planned.params.model_dump(mode="json"),
        "packages": versions,
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return finding.with_(
        id=entry.id,
        title=entry.title or finding.title,
        params=planned.params.model_dump(mode="json"),
        provenance=provenance,
    )


def stored_findings(project: Project, ids: Sequence[str] | None = None) -> list[Finding]:
    """The findings stored by the last run of each step, in the order of expedition.yaml."""
    wanted = ids or [s.id for s in project.config.steps]
    findings = []
    for step_id in wanted:
        folder: Path = project.results_dir / step_id
        if (folder / "finding.json").exists():
            findings.append(load_finding(folder))
    return findings
