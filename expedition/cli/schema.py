"""`expedition schema infer`: draft a data contract from a dataset's latest delivery."""

from __future__ import annotations

from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import ForceOpt, JsonOpt, ProjectOpt, QuietOpt

app = typer.Typer(help="Data contracts: draft one from the data, then edit it.",
                  no_args_is_help=True)


@app.command("infer")
def infer(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The dataset to draft a contract for.")],
    force: ForceOpt = False,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Draft schemas/NAME.yaml from the data: types, ranges, allowed values, formats, roles.

    Comments in the file show what was observed. A contract someone has edited is never
    overwritten unless you pass --force.
    """
    from expedition.project import open_project
    from expedition.contract import draft_contract

    proj = open_project(project)
    result = draft_contract(proj, name, force=force)
    if json_:
        _render.print_json(result.to_dict())
        return
    if quiet:
        return
    rows = []
    for column in result.contract.columns.values():
        checks = ", ".join(check.kind for check in column.checks)
        flags = ", ".join(f for f, on in (("unique", column.unique), ("nullable", column.nullable),
                                          ("personal", column.personal)) if on)
        rows.append([column.name, column.dtype, column.role or "", flags, checks])
    _render.console.print(_render.table(
        f"Draft contract for '{name}'", ["column", "dtype", "role", "flags", "checks"], rows))
    for rule in result.contract.rules:
        _render.note(f"  rule: {rule.check}")
    verb = {"written": "Wrote", "replaced": "Replaced the unedited draft", "unchanged": "Unchanged"}
    _render.ok(f"{verb[result.status]}: {proj.relative(result.path)}")
    _render.note(f"Review it (the comments show what was observed), then run "
                 f"[bold]expedition validate {name}[/bold].")
