"""`expedition data add` and `expedition data list`: deliveries into data/raw, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt

app = typer.Typer(help="Add deliveries to the expedition and list them.", no_args_is_help=True)


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="The delivered file (CSV, TSV, Parquet, XLSX, JSONL).")],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Dataset name (default: from the file name).")
    ] = None,
    description: Annotated[str, typer.Option(help="What the dataset holds (first delivery).")] = "",
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="The workbook sheet to read (default: the first).")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="The text encoding, when detection gets it wrong (e.g. cp1251)."),
    ] = None,
    combine: Annotated[
        str | None,
        typer.Option("--combine", metavar="all|latest",
                     help="all: each delivery is a period (a month), analysed together; "
                          "latest (default): a new delivery replaces the last."),
    ] = None,
    pseudonymise: Annotated[
        list[str] | None,
        typer.Option("--pseudonymise", metavar="COL",
                     help="Replace this column by keyed HMAC-SHA256 pseudonyms before the copy is made "
                          "(repeat for more columns; the key stays outside the project: EXPEDITION_KEY "
                          "or your configuration folder)."),
    ] = None,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Copy a delivery into data/raw read-only and record its hash, rows, columns and how to read it."""
    from expedition.datasets import add_dataset
    from expedition.errors import ConfigError
    from expedition.project import open_project

    if combine not in (None, "all", "latest"):
        raise ConfigError(f"--combine {combine!r} is not a choice",
                          "use --combine all (every delivery a period) or --combine latest")
    proj = open_project(project)
    result = add_dataset(proj, path, name, description=description, sheet=sheet,
                         encoding=encoding, combine=combine, pseudonymise=pseudonymise or ())
    from expedition.governance import fill_data_sharing

    fill_data_sharing(proj.reload())
    if json_:
        _render.print_json(result.to_dict())
        return
    if quiet:
        return
    for warning in result.warnings:
        _render.warn(warning[0].upper() + warning[1:] + ".")
    d = result.delivery
    if result.status == "unchanged":
        _render.note(
            f"[yellow]Already registered:[/yellow] this file is delivery v{d.version} of "
            f"'{result.dataset}' (same SHA-256); nothing copied."
        )
        return
    what = "New version" if result.status == "versioned" else "Added"
    _render.ok(
        f"{what}: '{result.dataset}' v{d.version} → {d.file} "
        f"({d.rows:,} rows, {len(d.columns)} columns, read-only)"
    )
    _render.note(f"  sha256 {d.sha256}")
    if d.pseudonymised is not None:
        _render.note(f"  pseudonymised {', '.join(d.pseudonymised.columns)} under key "
                     f"{d.pseudonymised.key_fingerprint} (the original, sha256 "
                     f"{d.pseudonymised.original_sha256[:12]}…, was not copied)")
    if d.read is not None and d.read.encoding is not None:
        delimiter = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(d.read.delimiter or "", d.read.delimiter)
        _render.note(f"  read as {d.read.encoding}{'+bom' if d.read.bom else ''}, {delimiter}-separated, "
                     f"{d.read.line_endings} line endings{'' if d.read.quoting else ', quotes as characters'}")
    elif d.read is not None and d.read.sheet is not None:
        _render.note(f"  read from sheet '{d.read.sheet}'")


@app.command("list")
def list_(project: ProjectOpt = None, json_: JsonOpt = False) -> None:
    """List every dataset and its deliveries."""
    from expedition.config import plain
    from expedition.project import open_project

    config = open_project(project).config
    if json_:
        _render.print_json(
            {
                name: {
                    "description": ds.description,
                    "schema": ds.schema_,
                    "combine": ds.combine,
                    "deliveries": [plain(d.model_dump()) for d in ds.deliveries],
                }
                for name, ds in config.datasets.items()
            }
        )
        return
    if not config.datasets:
        _render.note("No datasets yet. Add one with [bold]expedition data add FILE --name NAME[/bold].")
        return
    rows = []
    for name, ds in config.datasets.items():
        if not ds.deliveries:
            rows.append([name, "—", "no deliveries yet", "", "", "", ""])
        for d in ds.deliveries:
            rows.append(
                [name, f"v{d.version}", d.source, f"{d.rows:,}", len(d.columns), d.added.date(), d.sha256[:12]]
            )
    _render.console.print(
        _render.table("Datasets", ["dataset", "version", "file", "rows", "cols", "added", "sha256"], rows)
    )


@app.command("purge")
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking (for scripts).")] = False,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Delete every dataset whose agreement's retain_until has passed, and everything made from it.

    Raw deliveries, validated and quarantined rows, derived datasets and scores, stored findings,
    quality reports and caches go; what was deleted (dataset, delivery, hashes, date, user) is
    recorded in the project history. Packs already built are listed, not deleted.
    """
    from rich.markup import escape

    from expedition.governance import PurgeResult
    from expedition.governance import purge as run_purge
    from expedition.project import open_project

    def show(plan: PurgeResult) -> None:
        for item in plan.purged:
            _render.note(f"[bold]{escape(item.dataset)}[/bold]: agreement {escape(item.reference)} "
                         f"ended {item.retain_until}; {len(item.deliveries)} deliver"
                         f"{'y' if len(item.deliveries) == 1 else 'ies'}")
            for rel in item.files:
                _render.note(f"  {escape(rel)}")
        if plan.packs:
            _render.note("Packs already built are kept (delete or recall them by hand if the agreement "
                         "says so): " + ", ".join(escape(p) for p in plan.packs))

    def confirm(plan: PurgeResult) -> bool:
        if yes:
            return True
        if json_:
            return False  # --json prints the plan: deleting needs --yes as well
        show(plan)
        return typer.confirm("Delete all of this for good?", default=False, err=True)

    result = run_purge(open_project(project), dry_run=dry_run, confirm=confirm)
    if json_:
        _render.print_json(result.to_dict())
        return
    if not result.purged:
        _render.ok("nothing is past its retention date")
        return
    if dry_run:
        show(result)
        _render.note("[dim](dry run: nothing was deleted)[/dim]")
        return
    if not result.deleted:
        _render.note("Nothing was deleted.")
        raise typer.Exit(1)
    for item in result.purged:
        _render.ok(f"{item.dataset}: deleted {len(item.files)} files and folders "
                   "(recorded in .expedition/history.jsonl)")
    if yes and result.packs:
        _render.note("Packs already built are kept: " + ", ".join(escape(p) for p in result.packs))
