"""`expedition pack` and `expedition pack verify`: the findings pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import ForceOpt, JsonOpt, ProjectOpt, QuietOpt

app = typer.Typer(
    help="Build the findings pack (or verify one with `pack verify`).", invoke_without_command=True
)


@app.callback()
def pack(
    ctx: typer.Context,
    project: ProjectOpt = None,
    force: ForceOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build findings/<slug>-<date>/ from the stored findings, with disclosure control."""
    if ctx.invoked_subcommand is not None:
        return
    from expedition.pack import build_pack
    from expedition.project import open_project

    result = build_pack(open_project(project), replace=force)
    if json_:
        _render.print_json(result.to_dict())
        return
    if quiet:
        return
    _render.ok(f"Findings pack: {result.path / 'index.html'}")
    _render.note(
        f"  {len(result.findings)} findings, {result.files} files, "
        f"{result.suppressions} disclosure-control changes (listed in manifest.json)"
    )


@app.command("verify")
def verify(
    pack_path: Annotated[Path, typer.Argument(metavar="PACK", help="The pack folder to check.")],
    json_: JsonOpt = False,
) -> None:
    """Check every file of a pack against the SHA-256 sums in its manifest."""
    from expedition.pack import verify_pack

    report = verify_pack(pack_path)
    if json_:
        _render.print_json(report.to_dict())
    elif report.ok:
        _render.ok(f"{pack_path}: {report.checked} files match the manifest")
    else:
        _render.error_panel("Pack verification failed", "\n".join(f"• {p}" for p in report.problems))
    if not report.ok:
        raise typer.Exit(1)
