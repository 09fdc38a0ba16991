"""`expedition demo`: the referrals example, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, QuietOpt


def demo(
    directory: Annotated[
        Path, typer.Argument(help="Where to build the demo expedition.")
    ] = Path("expedition-demo"),
    rows: Annotated[int, typer.Option(help="Synthetic referrals to generate.", min=100)] = 5_000,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Build the example expedition end to end: scaffold, add data, draft the contract, validate,
    run the steps, pack."""
    from expedition.demo import run_demo

    silent = quiet or json_

    def on_stage(stage: str, message: str) -> None:
        if not silent:
            _render.err_console.print(f"[bold cyan]{stage:>8}[/bold cyan]  {message}")

    with _render.step_progress(quiet=silent) as on_progress:
        result = run_demo(directory, rows=rows, on_stage=on_stage, on_progress=on_progress)
    if json_:
        _render.print_json(result.to_dict())
        return
    if quiet:
        return
    _render.ok(f"Demo expedition in {result.root}")
    _render.ok(f"Findings pack: {result.pack.path / 'index.html'}")
    for scored in result.scores:
        _render.ok(f"Risk scores and tiers (never published): {scored.path}")
    _render.note(
        f"Open it in a browser, or explore: [bold]cd {result.root} && expedition status[/bold]"
    )
