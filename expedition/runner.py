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

from expedition._lock import locked
from expedition._runcache import cache_key, cached_finding
from expedition.config import StepConfig
from expedition.errors import ExpeditionError, StepError
from expedition.finding import Finding, StaleFinding, load_finding, save_finding
from expedition.manifest import command_line, package_versions
from expedition.project import Project
from expedition.steps import Step, StepContext, StepParams, get_step
from expedition.validation import open_validated, require_validated

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
    #: the step's ``where:``, once applied (see `expedition.subset`)
    subset: Any = None
    #: the linkage-quality summary of a dataset made by `expedition link`
    link: dict[str, Any] | None = None

    @property
    def population(self) -> str:
        """How the disclosure gate names these records (the dataset and its validated content;
        a ``where:`` that is not a set of equalities makes a population of its own)."""
        if self.subset is not None:
            return self.subset.population
        digest = str(self.fingerprint.get("validated_sha256") or self.fingerprint.get("data_sha256") or "")
        return f"{self.fingerprint.get('dataset', '')}@{digest[:16]}"

    def restricted(self, entry: StepConfig, min_count: int) -> StepInput:
        """The rows the step reads: those meeting its ``where:`` (all of them without one)."""
        if not entry.where:
            return self
        from dataclasses import replace

        from expedition.subset import restrict

        frame, subset = restrict(self.frame, entry.where, step_id=entry.id,
                                 dataset=str(self.fingerprint.get("dataset", "")),
                                 population=self.population, min_count=min_count)
        return replace(self, frame=frame, subset=subset, fingerprint={**self.fingerprint, "where": entry.where})


def subject_of(project: Project, dataset: str | None) -> tuple[str, str] | None:
    """What a record of *dataset* is (its own ``subject:``, else the expedition's), or None for
    the neutral default ("record")."""
    config = project.config
    own = config.datasets.get(dataset) if dataset else None
    chosen = (own.subject if own is not None else None) or config.expedition.subject
    return chosen.words() if chosen is not None else None


def load_input(project: Project, dataset: str) -> StepInput:
    """The data a step runs on: the validated rows of *dataset* (``data/interim/NAME.parquet``),
    or a derived dataset (``data/processed/NAME.parquet``, prepared first when it is not current).

    Raises StepError when the dataset was never validated, or its latest delivery or contract
    changed since (`expedition validate NAME` or `expedition run --validate` fixes it).
    """
    link = None
    if dataset in project.config.links:
        from expedition.link import open_linked, quality

        data = open_linked(project, dataset)
        link = quality(project, dataset)
    elif dataset in project.config.derived:
        from expedition.prepare import open_derived

        data = open_derived(project, dataset)
    else:
        data = open_validated(project, dataset)
    return StepInput(
        frame=data.frame,
        fingerprint=data.fingerprint,
        contract=data.contract,
        roles=data.contract.roles,
        personal=data.contract.personal,
        link=link,
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
        earlier = [p.config.id for p in planned] + known[: known.index(entry.id)]
        for read in step_cls.reads(params):
            if read not in earlier:
                raise StepError(
                    f"step '{entry.id}' reads the finding of step {read!r}, which "
                    + ("comes after it" if read in known else "is not in expedition.yaml"),
                    f"list step {read!r} before '{entry.id}' under steps: (the step ids are: {', '.join(known)})",
                    path=project.config_path,
                )
        planned.append(PlannedStep(entry, step_cls, params))
    for dataset in dict.fromkeys(p.config.dataset for p in planned):
        if dataset in project.config.links:  # the datasets it links
            from expedition.link import check_inputs as check_link

            check_link(project, dataset)
        elif dataset in project.config.derived:  # its SQL, and the datasets it reads
            from expedition.prepare import check_inputs

            check_inputs(project, dataset)
        else:
            require_validated(project, dataset)  # before any step runs, not half-way through
    return planned


@locked("run")
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
        data = load_input(project, entry.dataset).restricted(entry, project.config.disclosure.min_count)
        reads = planned.step.reads(planned.params)
        if reads:  # the findings it reads are inputs too: a new one runs the step again
            from dataclasses import replace

            from expedition._runcache import stored_key

            data = replace(data, fingerprint={
                **data.fingerprint, "reads": {r: stored_key(project.results_dir / r) for r in reads}})
        key = cache_key(
            step=entry.step,
            step_version=planned.step.version,
            params=planned.params.model_dump(mode="json"),
            fingerprint=data.fingerprint,
            seed=project.config.seed,
            disclosure=project.config.disclosure.model_dump(mode="json"),
            title=entry.title,
            packages=versions,
            recode=recoding(project, entry),
            subject=subject_of(project, entry.dataset),
        )
        reused = None if force else cached_finding(project.results_dir / entry.id, key)
        if reused is not None:
            notify("cached", entry.id, {"key": key})
            findings.append(publish_finding(project, reused))
            cached.append(entry.id)
            continue
        finding = _run_one(project, planned, versions, command, notify, data=data)
        finding = finding.with_(provenance={**finding.provenance, "cache_key": key})
        published = publish_finding(project, finding)  # a drawing that fails, fails the step now
        save_finding(finding, project.results_dir / entry.id)
        notify("done", entry.id, {"seconds": time.perf_counter() - started})
        findings.append(published)
    project.record("run", steps=[f.id for f in findings], cached=cached, command=command)
    return findings


def recoding(project: Project, entry: StepConfig) -> bool:
    """Whether rare categories are combined before the step tabulates (see
    `expedition.disclosure.recode`): the step's ``recode`` setting, else the project's."""
    return project.config.disclosure.recode_labels if entry.recode is None else entry.recode


def publish_finding(project: Project, finding: Finding) -> Finding:
    """A step's finding as it may be shown: through the disclosure gate on its own, its charts
    drawn from the gated tables. (`expedition pack` gates every finding of a pack together.)"""
    from expedition import disclosure
    from expedition.steps._plot import draw_finding

    rules = project.config.disclosure
    allow = public_names(project)
    gated = disclosure.apply_detailed(finding, rules, allow=allow)
    return draw_finding(gated, rules, cache=project.state_dir / "cache" / "drawn", allow=allow)


def public_names(project: Project) -> list[str]:
    """Names the expedition publishes on purpose (see `expedition.review.public_names`), with
    every reviewer who signed off."""
    from expedition import review

    return review.public_names(project, [r.by for r in review.reviews(project)])


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
        data = load_input(project, entry.dataset).restricted(entry, project.config.disclosure.min_count)
    ctx = StepContext(
        seed=project.config.seed,
        dataset=entry.dataset,
        disclosure=project.config.disclosure,
        contract=data.contract,
        roles=dict(data.roles or {}),
        personal=data.personal,
        link=data.link,
        subject=subject_of(project, entry.dataset) or ("record", "records"),
        progress=lambda fraction, message: notify(
            "progress", entry.id, {"fraction": fraction, "message": message}
        ),
        finding=lambda step_id: _read_finding(project, entry.id, step_id),
    )
    started = datetime.now(timezone.utc)
    frame = data.frame
    recoded: list[Any] = []
    if recoding(project, entry):
        columns = planned.step.recode_columns(planned.params, list(frame.collect_schema().names()))
        if columns:
            from expedition.disclosure.recode import recode_labels

            frame, recoded = recode_labels(
                frame.collect(), columns, project.config.disclosure.min_count,
                keep=planned.step.recode_keep(planned.params),
            )
            frame = frame.lazy()
    try:
        finding = planned.step().run(frame, planned.params, ctx)
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
    if recoded:
        m = project.config.disclosure.min_count
        finding = finding.with_(caveats=[
            *finding.caveats,
            "Rare categories were combined before tabulating, so no group is too small to publish: "
            + "; ".join(r.describe(m) for r in recoded) + ".",
        ])
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
    if recoded:
        provenance["recoded"] = [r.to_dict() for r in recoded]
    if data.subset is not None:
        from expedition.subset import among

        finding = among(finding, data.subset)
    return finding.with_(
        id=entry.id,
        title=entry.title or finding.title,
        method=finding.method or planned.step.method_text(),
        params=planned.params.model_dump(mode="json"),
        provenance=provenance,
        population=data.population,
    )


def _read_finding(project: Project, reader: str, step_id: str) -> Finding:
    folder = project.results_dir / step_id
    try:
        return load_finding(folder)
    except (FileNotFoundError, StaleFinding):
        raise StepError(
            f"step '{reader}' reads the finding of step '{step_id}', which has not been run (or is out of date)",
            f"run it first: `expedition run {step_id} {reader}`",
        ) from None


def stored_findings(project: Project, ids: Sequence[str] | None = None) -> list[Finding]:
    """The findings stored by the last run of each step, in the order of expedition.yaml, as
    the steps returned them (before the disclosure gate)."""
    wanted = ids or [s.id for s in project.config.steps]
    findings = []
    for step_id in wanted:
        folder: Path = project.results_dir / step_id
        if (folder / "finding.json").exists():
            try:
                findings.append(load_finding(folder))
            except StaleFinding:
                raise StepError(
                    f"the stored finding of step '{step_id}' was made by an older version of expedition",
                    "run the steps again with `expedition run` (unchanged inputs give the same results)",
                    path=folder,
                ) from None
    return findings
