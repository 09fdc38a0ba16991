"""`expedition demo`: the referrals example, end to end, in one call.

Scaffolds an expedition (or reuses one this demo made before), generates the synthetic referrals,
adds them as a delivery, runs every step and builds the findings pack. Each stage of the tool that
exists is exercised, so the demo grows as the tool does.
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
from expedition.project import Project
from expedition.runner import run
from expedition.scaffold import new_project
from expedition.scoring import ScoreResult, score

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
    scores: list[ScoreResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": str(self.root),
            "delivery": self.added.to_dict(),
            "findings": [f.id for f in self.findings],
            "pack": self.pack.to_dict(),
            "scores": [s.to_dict() for s in self.scores],
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
    stage("data", f"generating {rows:,} synthetic referrals and adding them as a delivery")
    with tempfile.TemporaryDirectory() as tmp:
        data_file = write(Path(tmp) / "referrals.csv", rows=rows, seed=seed)
        added = add_dataset(project, data_file, "referrals")
    project = project.reload()

    stage("run", f"running {len(project.config.steps)} step(s)")
    findings = run(project, on_progress=on_progress)

    scores = []
    for entry in project.config.steps:
        if entry.step == "risk" and entry.dataset:
            stage("score", f"scoring {entry.dataset} with the model from {entry.id}")
            scores.append(score(project, entry.id, entry.dataset))

    stage("pack", "building the findings pack")
    pack = build_pack(project, findings, replace=True)
    return DemoResult(root=dest, added=added, findings=findings, pack=pack, scores=scores)
