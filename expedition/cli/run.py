"""`expedition run`: run the steps listed in expedition.yaml."""

from __future__ import annotations

from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def run(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Step ids to run (default: every step, in order).")
    ] = None,
    project: ProjectOpt = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Run the steps even when their inputs are unchanged (no cache)."),
    ] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
    validate: Annotated[
        bool,
        typer.Option("--validate",
                     help="First validate the datasets whose delivery or contract changed."),
    ] = False,
) -> None:
    """Run the analysis steps and store their findings for `expedition pack`.

    A step whose data, parameters, version and seed are unchanged since its last run is not run
    again: its stored finding is reused (shown as cached). --force runs it anyway.
    """
    from expedition.project import open_project
    from expedition.runner import run as run_steps

    proj = open_project(project)
    if validate:
        from expedition.prepare import base_datasets
        from expedition.validation import ensure_validated

        datasets = base_datasets(
            proj, [s.dataset for s in proj.config.steps if s.dataset and (not ids or s.id in ids)])
        for checked in ensure_validated(proj, datasets):
            if not (quiet or json_):
                _render.err_console.print(
                    f"validated [bold]{checked.dataset}[/bold]: {checked.report.summary()}")
    cached: set[str] = set()
    with _render.step_progress(quiet=quiet or json_) as show:

        def on_progress(event: str, step_id: str, detail: dict) -> None:
            if event == "cached":
                cached.add(step_id)
            show(event, step_id, detail)

        findings = run_steps(proj, ids, on_progress=on_progress, force=force)
    if json_:
        _render.print_json([f.to_dict() for f in findings])
        return
    if quiet:
        return
    for finding in findings:
        note = " [dim](cached: inputs unchanged)[/dim]" if finding.id in cached else ""
        _render.console.print(f"\n[bold]{finding.title}[/bold] [dim]({finding.id})[/dim]{note}")
        for line in finding.headlines:
            _render.console.print(f"  • {line}")
    if cached:
        _render.note(f"\n{len(cached)} step(s) reused their stored findings; --force runs them again.")
    _render.note("\nNext: [bold]expedition pack[/bold] builds the findings pack.")
