"""The only place that uses Rich: consoles, the error panel, tables and progress."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """One JSON document on stdout (plain, never styled or wrapped)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def error_panel(title: str, what: str, fix: str | None = None, where: str | None = None) -> None:
    body = Text()
    if where:
        body.append(f"{where}\n", style="bold")
    body.append(what)
    if fix:
        body.append("\n\nHow to fix: ", style="bold")
        body.append(fix)
    err_console.print(Panel(body, title=title, title_align="left", border_style="red", expand=False))


def ok(message: str) -> None:
    console.print(f"[green]✓[/green] {message}")


def note(message: str) -> None:
    console.print(message)


def table(title: str | None, columns: list[str], rows: list[list[Any]], **kwargs: Any) -> Table:
    out = Table(title=title, title_justify="left", **kwargs)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*[("" if v is None else str(v)) for v in row])
    return out


@contextmanager
def step_progress(quiet: bool = False):
    """A progress display for `expedition run`; yields an on_progress callback for the runner."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if quiet:
        yield lambda event, step_id, detail: None
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def on_progress(event: str, step_id: str, detail: dict[str, Any]) -> None:
        if event == "start":
            label = f"[{detail['index'] + 1}/{detail['total']}] {step_id} ({detail['step']})"
            tasks[step_id] = progress.add_task(label, total=1.0, message="")
        elif event == "progress" and step_id in tasks:
            progress.update(tasks[step_id], completed=detail["fraction"], message=detail["message"])
        elif event == "done" and step_id in tasks:
            progress.update(
                tasks[step_id], completed=1.0, message=f"done in {detail['seconds']:.1f}s"
            )
        elif event == "cached" and step_id in tasks:
            progress.update(tasks[step_id], completed=1.0, message="unchanged (cached)")

    with progress:
        yield on_progress


def warn(message: str) -> None:
    err_console.print(f"[yellow]![/yellow] {message}")
