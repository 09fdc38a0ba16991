"""`expedition steps` and `expedition steps show NAME`: what analysis steps exist."""

from __future__ import annotations

from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt

app = typer.Typer(help="List the analysis steps, or document one.", invoke_without_command=True)


def _param_list(described: dict) -> str:
    names = [p["name"] + ("*" if p["required"] else "") for p in described["params"]]
    return ", ".join(names) or "—"


@app.callback()
def list_steps(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List every registered step with its parameters and a one-line description."""
    if ctx.invoked_subcommand is not None:
        return
    from expedition.steps import available_steps

    described = [cls.describe() for cls in available_steps().values()]
    if json_:
        _render.print_json(described)
        return
    rows = [[d["name"], d["summary"], _param_list(d)] for d in described]
    _render.console.print(
        _render.table("Steps", ["step", "what it does", "parameters (* required)"], rows)
    )
    _render.note("Details of one: [bold]expedition steps show NAME[/bold]")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The step to document.")],
    json_: JsonOpt = False,
) -> None:
    """Document one step: what it does, its method, every parameter and its outputs."""
    from expedition.steps import get_step

    described = get_step(name).describe()
    if json_:
        _render.print_json(described)
        return
    _render.console.print(f"[bold]{described['name']}[/bold] (version {described['version']})")
    _render.console.print(described["summary"])
    method = described["description"]
    if method and method != described["summary"]:
        _render.console.print("\n[bold]Method[/bold]")
        _render.console.print(method)
    rows = [
        [p["name"], p["type"], "required" if p["required"] else repr(p["default"]), p["description"]]
        for p in described["params"]
    ]
    _render.console.print(_render.table("\nParameters", ["name", "type", "default", "description"], rows))
    if described.get("outputs"):
        rows = [[name, text] for name, text in described["outputs"].items()]
        _render.console.print(_render.table("\nOutputs", ["table or figure", "what it holds"], rows))
    if described.get("example"):
        _render.console.print("\n[bold]Example[/bold] (in expedition.yaml)")
        _render.console.print(described["example"], markup=False, highlight=False)
