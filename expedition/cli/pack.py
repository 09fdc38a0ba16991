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
    final: Annotated[
        bool,
        typer.Option("--final", help="Build the final pack; refused unless a review sign-off covers every finding."),
    ] = False,
    force: ForceOpt = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build findings/<slug>-<date>/ and its .zip from the stored findings, with disclosure control."""
    if ctx.invoked_subcommand is not None:
        return
    from expedition.pack import build_pack
    from expedition.project import open_project

    result = build_pack(open_project(project), replace=force, final=final)
    if json_:
        _render.print_json(result.to_dict())
        return
    if quiet:
        return
    _render.ok(f"Findings pack ({result.status}): {result.path / 'index.html'}")
    _render.note(
        f"  {len(result.findings)} findings, {result.files} files, index.html {result.index_bytes / 1024:,.0f} KiB, "
        f"{result.suppressions} disclosure-control changes (listed in manifest.json)"
    )
    _render.note(f"  zip: {result.zip}  (SHA-256 {result.zip_sha256[:16]}…)")
    for warning in result.warnings:
        _render.warn(warning)


@app.command("verify")
def verify(
    pack_path: Annotated[Path, typer.Argument(metavar="PACK", help="The pack folder or its .zip.")],
    json_: JsonOpt = False,
) -> None:
    """Check a pack: checksums, no small counts, no identifiers or personal data, complete provenance."""
    from expedition.pack import verify_pack

    report = verify_pack(pack_path)
    if json_:
        _render.print_json(report.to_dict())
    elif report.ok:
        _render.ok(
            f"{pack_path}: {report.checked} files match the manifest; {report.tables} tables and "
            f"every text checked for small counts, identifiers and personal data; "
            f"provenance complete for {report.findings} finding{'s' if report.findings != 1 else ''} "
            f"({report.status or 'unknown status'})"
        )
    else:
        _render.error_panel(
            f"Pack verification failed: {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}",
            "\n".join(f"• {p}" for p in report.problems),
        )
    if not report.ok:
        raise typer.Exit(1)
