"""`expedition guard`: stop data files, notebook outputs, secrets and personal data before a commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, QuietOpt


def guard(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="FILES", help="Files (or folders) to check (default: the files staged in git)."),
    ] = None,
    fix: Annotated[bool, typer.Option("--fix", help="Clear notebooks' outputs in place (the code is kept).")] = False,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Check files about to be committed: data files, notebooks with outputs, secrets, personal data.

    Exits 1 naming each file and why. The pre-commit configuration the scaffold writes
    (.pre-commit-config.yaml) runs this on every commit, offline: `pre-commit install` turns it on.
    """
    from rich.markup import escape

    from expedition.guard import guard as run_guard
    from expedition.guard import staged_files

    paths = list(files) if files else staged_files(Path.cwd())
    report = run_guard(paths, fix=fix)
    if json_:
        _render.print_json(report.to_dict())
    elif not quiet or not report.ok:
        for p in report.problems:
            where = _shown(p.file) + (f":{p.line}" if p.line else "")
            mark = "[green]fixed[/green]" if p.fixed else "[red]✗[/red]"
            # a path is never broken across lines: wrapped, it could not be copied
            _render.console.print(f"{mark} {escape(where)} — {escape(p.kind)}: {escape(p.detail)}", soft_wrap=True)
        if report.ok and not quiet:
            _render.ok(f"{len(report.checked)} file{'s' if len(report.checked) != 1 else ''} checked: "
                       "no data, notebook outputs, secrets or personal data")
        elif not report.ok:
            bad = len({p.file for p in report.problems if not p.fixed})
            _render.console.print(f"{bad} file{'s' if bad != 1 else ''} must not be committed as "
                                  "they are; a file that belongs in git but trips a rule can be "
                                  "left out of the hook with pre-commit's `exclude:`")
    if not report.ok:
        raise typer.Exit(1)


def _shown(path: str) -> str:
    """*path* relative to the current folder when it is inside it (as git and pre-commit name files)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path
