"""`expedition profile`: what a delivery really contains, and what changed between two."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def profile(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Datasets (NAME, NAME@v2, NAME@previous) or files (CSV, TSV, Parquet, XLSX, "
            "JSONL) to profile; default: every dataset of the expedition.",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Compare two deliveries, OLD NEW (NAME@v1 NAME@v2 or two files); with one NAME, "
            "its previous and latest deliveries.",
        ),
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML page to FILE.", dir_okay=False),
    ] = None,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Profile datasets or files: types, missing values, distributions, alerts, personal data.

    Inside an expedition, a dataset's latest profile is stored in .expedition/quality/NAME/
    for the findings pack.
    """
    from expedition._io import atomic_write_text
    from expedition.profile import compare as compare_targets
    from expedition.profile import plan_targets, profile_target

    proj, names = plan_targets(targets or [], project, compare=compare, html=html is not None)
    silent = quiet or json_
    if compare:
        with _render.fraction_progress("comparing", quiet=silent) as on_progress:
            on_progress(0.0, f"{names[0]} → {names[1]}")
            result = compare_targets(names[0], names[1], project=proj)
        if html is not None:
            atomic_write_text(html, result.to_html())
        if json_:
            _render.print_json(result.to_dict())
        elif not quiet:
            _render.comparison_summary(result.document)
        return
    profiles = []
    for name in names:
        with _render.fraction_progress(f"profiling {name}", quiet=silent) as on_progress:
            profiles.append(profile_target(name, proj, on_progress=on_progress))
    if html is not None:
        atomic_write_text(html, profiles[0].to_html())
    if json_:
        documents = [p.to_dict() for p in profiles]
        _render.print_json(documents[0] if len(documents) == 1 else documents)
        return
    if quiet:
        return
    for prof in profiles:
        _render.profile_summary(prof.to_dict(), stored=prof.stored)
    if html is not None:
        _render.note(f"  [dim]wrote {html}[/dim]")
