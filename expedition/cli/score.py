"""`expedition score MODEL DATASET`: apply a saved risk model to a dataset's latest data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def score(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL",
            help="The id of a risk step whose stored finding holds the model (or a path to a "
            "finding folder or model.skops).",
        ),
    ],
    dataset: Annotated[str, typer.Argument(metavar="DATASET", help="The dataset to score.")],
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Use a model file from outside this expedition. Without it such a file is refused "
            "and its SHA-256 printed: pass --trust only when you know where the file came from.",
        ),
    ] = False,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Score a dataset with a saved risk model; write scores and tiers to data/processed/."""
    from expedition.project import open_project
    from expedition.scoring import score as apply_model

    proj = open_project(project)
    result = apply_model(proj, model, dataset, trust=trust)
    if json_:
        _render.print_json(result.to_dict())
        return
    if quiet:
        return
    _render.ok(
        f"Scored {result.rows:,} records of {escape(dataset)} with model {escape(result.model)}: "
        f"{escape(proj.relative(result.path))}"
    )
    if result.trusted == "--trust":
        _render.note(f"[yellow]![/yellow] A model from outside this expedition, used because --trust was "
                     f"given (SHA-256 {result.model_sha256}).")
    elif result.trusted == "hash":
        _render.note(f"The file is the model stored by finding {escape(result.model)} (same SHA-256).")
    rows = [[tier, f"{n:,}", f"{n / result.rows:.1%}"] for tier, n in result.tiers.items()]
    _render.console.print(_render.table("Risk tiers", ["tier", "records", "share"], rows))
    for note in result.warnings:
        _render.note(f"[yellow]![/yellow] {escape(note)}")
    _render.note(
        "Scores are personal data: they stay in data/processed/ and support professional "
        "judgement; they must not decide anything by themselves."
    )
