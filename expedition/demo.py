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
from expedition.schema import DraftResult, contract_path, draft_contract, is_unedited_draft
from expedition.validate import DatasetValidation, validate_dataset

EXAMPLE = "referrals"
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
    contract: DraftResult | None = None
    validation: DatasetValidation | None = None
    profile: Profile | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": str(self.root),
            "delivery": self.added.to_dict(),
            "findings": [f.id for f in self.findings],
            "pack": self.pack.to_dict(),
            "contract": str(self.contract.path) if self.contract else None,
            "validation": self.validation.report.to_dict()["rows"] if self.validation else None,
            "profile": self.profile.stored if self.profile is not None else None,
        }


def example_config() -> dict[str, Any]:
    return plain(load_config(resource_path("examples") / EXAMPLE / CONFIG_FILE).model_dump(by_alias=True))


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
    project = project.reload()

    stage("profile", "profiling the delivery into the data-quality evidence")
    profiled = profile_dataset(project, "referrals")

    path = contract_path(project, EXAMPLE)
    contract = None
    if path.exists() and not is_unedited_draft(path.read_text(encoding="utf-8")):
        stage("schema", f"keeping the edited contract {project.relative(path)}")
    else:
        stage("schema", f"drafting the data contract {project.relative(path)} (schema infer)")
        contract = draft_contract(project, EXAMPLE)
        project = project.reload()

    stage("validate", "validating the delivery against its contract")
    validation = validate_dataset(project, EXAMPLE, max_invalid=1.0, feedback=True)
    stage("validate", f"{validation.report.summary()}: the planted bad rows, with their reasons, "
                      f"in {validation.quarantine_file}")

    stage("run", f"running {len(project.config.steps)} step(s)")
    findings = run(project, on_progress=on_progress)

    stage("pack", "building the findings pack")
    pack = build_pack(project, findings, replace=True)
    return DemoResult(root=dest, added=added, findings=findings, pack=pack, contract=contract,
                      validation=validation, profile=profiled)
