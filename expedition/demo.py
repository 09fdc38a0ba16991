"""`expedition demo`: the referrals example, end to end, in one call.

Scaffolds an expedition (or reuses one this demo made before), generates the synthetic referrals
(with five clearly planted bad rows), adds them as a delivery, profiles it, drafts the data
contract with `schema infer`, validates the delivery (the planted rows are quarantined), runs every step on the
validated rows and builds the findings pack. Each stage of the tool that exists is exercised, so
the demo grows as the tool does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expedition._resources import resource_path
from expedition.config import CONFIG_FILE, load_config, plain, update_config
from expedition.datasets import AddResult, add_dataset
from expedition.errors import ScaffoldError
from expedition.finding import Finding
from expedition.pack import PackResult, build_pack
from expedition.profile import Profile, profile_dataset
from expedition.project import Project
from expedition.runner import run
from expedition.scaffold import new_project
from expedition.contract import DraftResult, contract_path, draft_contract, is_unedited_draft
from expedition.validation import DatasetValidation, validate_dataset
from expedition.scoring import ScoreResult, score

EXAMPLE = "referrals"
#: more examples whose datasets and steps the demo adds beside the first (examples/NAME/)
MORE_EXAMPLES = ("incidents", "demand", "events")
#: two overlapping registers (examples/registers/), their NHS numbers pseudonymised at intake,
#: linked into one person key (``links:``) for the `linkage` step
LINK_EXAMPLE = "registers"
MARKER = ".expedition/demo"

#: ``on_stage(stage, message)`` is called as each stage starts.
StageCallback = Callable[[str, str], None]


@dataclass
class DemoResult:
    root: Path
    added: AddResult
    findings: list[Finding]
    pack: PackResult
    stages: list[str] = field(default_factory=list)
    contracts: list[DraftResult] = field(default_factory=list)
    validations: list[DatasetValidation] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    more: list[AddResult] = field(default_factory=list)
    scores: list[ScoreResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": str(self.root),
            "delivery": self.added.to_dict(),
            "findings": [f.id for f in self.findings],
            "pack": self.pack.to_dict(),
            "contracts": [str(c.path) for c in self.contracts],
            "validation": {v.dataset: v.report.to_dict()["rows"] for v in self.validations},
            "profiles": [p.stored for p in self.profiles],
            "more_deliveries": [a.to_dict() for a in self.more],
            "scores": [s.to_dict() for s in self.scores],
        }


def example_config() -> dict[str, Any]:
    config = plain(load_config(resource_path("examples") / EXAMPLE / CONFIG_FILE).model_dump(by_alias=True))
    for name in MORE_EXAMPLES:
        more = plain(load_config(resource_path("examples") / name / CONFIG_FILE).model_dump(by_alias=True))
        config["datasets"].update(more["datasets"])
        config["steps"].extend(more["steps"])
    linked = plain(load_config(resource_path("examples") / LINK_EXAMPLE / CONFIG_FILE).model_dump(by_alias=True))
    config["datasets"].update(linked["datasets"])
    config["links"] = {name: {k: v for k, v in spec.items() if v not in (None, "")}
                       for name, spec in linked["links"].items()}
    config["steps"].extend(linked["steps"])
    # optional keys left unset are not written into the demo's expedition.yaml
    for entry in [config.get("expedition") or {}, *config["datasets"].values()]:
        for key in ("subject", "labels", "agreement"):
            if key in entry and not entry[key]:
                del entry[key]
    return config


def add_registers(project: Project, folder: Path, seed: int) -> list[AddResult]:
    """Generate the two registers of LINK_EXAMPLE (small, so the demo stays fast) and add them,
    their NHS numbers pseudonymised."""
    from expedition.examples.registers import write

    files = write(folder / LINK_EXAMPLE, people=600, shared=250, police_only=200, seed=seed)
    added = [add_dataset(project, files["social_care"], "social_care", pseudonymise=["nhs_number"])]
    added.append(add_dataset(project.reload(), files["police"], "police", pseudonymise=["nhs_number"]))
    return added


def add_more_examples(project: Project, folder: Path, seed: int) -> list[AddResult]:
    """Generate each of MORE_EXAMPLES' datasets (at its default size) and add it as a delivery."""
    import importlib

    from expedition.examples import GENERATORS

    added = []
    for name in MORE_EXAMPLES:
        path = importlib.import_module(GENERATORS[name]).write(folder / f"{name}.csv", seed=seed)
        added.append(add_dataset(project, path, name))
    return added


def run_demo(
    dest: str | Path = "expedition-demo",
    *,
    rows: int = 5_000,
    seed: int = 2026,
    on_stage: StageCallback | None = None,
    on_progress: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> DemoResult:
    """Build the example expedition in *dest* and return where everything is."""
    from expedition.examples.referrals import write

    stage = on_stage or (lambda name, message: None)
    dest = Path(dest).expanduser().resolve()
    example = example_config()

    if dest.exists():
        if not (dest / MARKER).is_file():
            raise ScaffoldError(
                f"{dest} already exists and is not a demo expedition",
                "choose another folder: `expedition demo OTHER-DIR`",
                path=dest,
            )
        stage("new", f"reusing the demo expedition in {dest}")
    else:
        stage("new", f"scaffolding a new expedition in {dest}")
        info = example["expedition"]
        root = new_project(
            dest.name,
            output_dir=dest.parent,
            no_input=True,
            settings={
                "title": info["title"],
                "question": info["question"],
                "partners": ", ".join(info["partners"]),
                "lead": info["lead"],
            },
        )
        (root / MARKER).parent.mkdir(parents=True, exist_ok=True)
        (root / MARKER).write_text("made by `expedition demo`\n", encoding="utf-8")

        def adopt(document: Any) -> None:
            document["seed"] = example["seed"]
            document["datasets"] = {
                name: {k: v for k, v in spec.items() if k != "deliveries"} | {"deliveries": []}
                for name, spec in example["datasets"].items()
            }
            document["links"] = example["links"]
            document["steps"] = [
                {k: v for k, v in step.items() if v is not None} for step in example["steps"]
            ]

        update_config(root / CONFIG_FILE, adopt)

    project = Project.load(dest)
    stage("data", f"generating {rows:,} synthetic referrals (5 planted bad rows) and adding them "
                  "as a delivery")
    with tempfile.TemporaryDirectory() as tmp:
        data_file = write(Path(tmp) / "referrals.csv", rows=rows, seed=seed, bad_rows=True)
        added = add_dataset(project, data_file, "referrals")
        stage("data", f"generating the {' and '.join(MORE_EXAMPLES)} examples and adding them")
        more = add_more_examples(project.reload(), Path(tmp), seed)
        stage("data", "generating two overlapping registers of people and adding them, their NHS "
                      "numbers pseudonymised")
        more += add_registers(project.reload(), Path(tmp), seed)
    project = project.reload()

    datasets = [EXAMPLE, *MORE_EXAMPLES, "social_care", "police"]
    stage("profile", "profiling the deliveries into the data-quality evidence")
    profiles = [profile_dataset(project, name) for name in datasets]

    contracts = []
    for name in datasets:
        path = contract_path(project, name)
        if path.exists() and not is_unedited_draft(path.read_text(encoding="utf-8")):
            stage("schema", f"keeping the edited contract {project.relative(path)}")
        else:
            stage("schema", f"drafting the data contract {project.relative(path)} (schema infer)")
            contracts.append(draft_contract(project, name))
            project = project.reload()

    validations = []
    for name in datasets:
        stage("validate", f"validating the {name} delivery against its contract")
        checked = validate_dataset(project, name, max_invalid=1.0, feedback=True)
        validations.append(checked)
        if checked.report.rows_quarantined:
            stage("validate", f"{checked.report.summary()}: the planted bad rows, with their "
                              f"reasons, in {checked.quarantine_file}")

    stage("run", f"running {len(project.config.steps)} step(s)")
    findings = run(project, on_progress=on_progress)

    scores = []
    for entry in project.config.steps:
        if entry.step == "risk" and entry.dataset:
            stage("score", f"scoring {entry.dataset} with the model from {entry.id}")
            scores.append(score(project, entry.id, entry.dataset))

    stage("pack", "building the findings pack")
    pack = build_pack(project, findings, replace=True)
    return DemoResult(root=dest, added=added, findings=findings, pack=pack, more=more,
                      contracts=contracts, validations=validations, profiles=profiles,
                      scores=scores)
