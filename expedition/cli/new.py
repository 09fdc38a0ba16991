"""`expedition new`: scaffold an expedition from the project template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from expedition.cli import _render
from expedition.cli._options import JsonOpt


def new(
    name: Annotated[
        str | None, typer.Argument(help="Folder name (and short name) of the new expedition.")
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Do not ask; use defaults and --set values.")
    ] = False,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where to create the expedition folder.")
    ] = Path("."),
    recipe: Annotated[
        str | None,
        typer.Option("--recipe", "-r", help="Start from a recipe card (see the README's list)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            help="Set a template variable, e.g. --set lead='A. Lead' (repeatable). Variables: "
            "title, slug, question, partners, lead, start, end, min_count.",
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Create a new expedition folder with expedition.yaml, data folders and ethics records.

    Every value (NAME, --set, the answers) is kept literally: it is data, never a template.
    """
    from expedition.scaffold import new_project, parse_settings, template_variables

    total = len(template_variables())
    asked: list[str] = []

    def ask(key: str, question: str, default: str, problem: str | None) -> str:
        if problem:
            _render.err_console.print(f"[red]{escape(problem)}[/red]")
        else:
            asked.append(key)
        return typer.prompt(f"  [{len(asked)}/{total}] {question}", default=default, show_default=bool(default))

    root = new_project(
        name,
        output_dir=output_dir,
        no_input=no_input or json_,
        recipe=recipe,
        settings=parse_settings(set_),
        ask=ask,
    )
    if json_:
        _render.print_json({"project": str(root), "recipe": recipe})
        return
    _render.ok(f"Created {root}")
    _render.note(
        f"Next: [bold]cd {root.name}[/bold], fill in ETHICS.md and DATA_SHARING.md, then "
        "[bold]expedition data add FILE --name NAME[/bold]."
    )
