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


def _showable(text: str) -> str:
    """*text* with what stderr's encoding cannot show written as escapes (\\u2713), so that an
    error message can always be printed."""
    encoding = err_console.encoding or "utf-8"
    try:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return text


def error_panel(title: str, what: str, fix: str | None = None, where: str | None = None) -> None:
    body = Text()
    if where:
        body.append(f"{_showable(where)}\n", style="bold")
    body.append(_showable(what))
    if fix:
        body.append("\n\nHow to fix: ", style="bold")
        body.append(_showable(fix))
    err_console.print(Panel(body, title=title, title_align="left", border_style="red", expand=False))


def waiting(message: str) -> None:
    """Say on stderr that the command waits for another one to finish writing."""
    err_console.print(Text(_showable(message), style="yellow"))


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
    if not err_console.is_terminal:
        # a log (CI, a file): one line per finished step, in order with everything else printed,
        # rather than a live display that is only drawn when it stops
        labels: dict[str, str] = {}

        def log(event: str, step_id: str, detail: dict[str, Any]) -> None:
            label = labels.get(step_id, step_id)
            if event == "start":
                labels[step_id] = f"[{detail['index'] + 1}/{detail['total']}] {step_id} ({detail['step']})"
            elif event == "done":
                err_console.print(f"  {label}  done in {detail['seconds']:.1f}s", markup=False)
            elif event == "cached":
                err_console.print(f"  {label}  unchanged (cached)", markup=False)

        yield log
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


# --------------------------------------------------------------------------- profiles

_SEVERITY = {"warning": "[yellow]⚠[/yellow]", "info": "[blue]ℹ[/blue]"}


@contextmanager
def fraction_progress(label: str, quiet: bool = False):
    """A progress bar on stderr for one long task; yields on_progress(fraction, message)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        yield lambda fraction, message: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    task = progress.add_task(label, total=1.0, message="")

    def on_progress(fraction: float, message: str) -> None:
        progress.update(task, completed=fraction, message=message)

    with progress:
        yield on_progress


def _alert_line(alert: dict[str, Any]) -> str:
    from rich.markup import escape

    mark = "[red]⚠[/red]" if alert["kind"] == "suspected_personal_data" else _SEVERITY.get(alert["severity"], "•")
    return f" {mark} [bold]{alert['kind'].replace('_', ' ')}[/bold]  {escape(alert['message'])}"


def profile_summary(document: dict[str, Any], *, stored: list[str] | None = None, max_columns: int = 25,
                    max_alerts: int = 15) -> None:
    """One screen: the dataset, a line per column, then the alerts."""
    from rich.markup import escape

    from expedition.profile._format import column_summary, number, share

    d = document["dataset"]
    source = document["source"]
    title = source.get("name", "data")
    if source.get("delivery"):
        title += f" (delivery v{source['delivery']})"
    seconds = document.get("run", {}).get("seconds")
    console.print(
        f"\n[bold]Profile of {escape(title)}[/bold] — {d['rows']:,} rows × {d['columns']:,} columns"
        + (f" [dim]({seconds:.1f} s)[/dim]" if seconds is not None else "")
    )
    dup = "unknown" if d["duplicate_rows"] is None else f"{d['duplicate_rows']:,}"
    keys = ", ".join(d["candidate_keys"]) or "none"
    console.print(
        f"  duplicate rows {dup} · candidate keys: {escape(keys)} · missing cells "
        f"{share(d['missing_cells_share'])} · {d['memory_bytes'] / 1048576:.1f} MiB in memory"
    )
    if not document["sample"]["all_rows"]:
        console.print(
            f"  [dim]quantiles, histograms and correlations from a sample of {document['sample']['rows']:,} rows[/dim]"
        )
    rows = []
    for col in document["columns"][:max_columns]:
        distinct = "" if col["distinct"] is None else ("" if col["distinct_exact"] else "≈") + number(col["distinct"])
        kind = col["semantic_type"] + (" [red](personal?)[/red]" if col["personal"] else "")
        rows.append([escape(col["name"]), kind, share(col["missing_share"]), distinct, escape(column_summary(col))])
    console.print(table(None, ["column", "type", "missing", "distinct", "summary"], rows))
    hidden = len(document["columns"]) - max_columns
    if hidden > 0:
        console.print(f"  [dim]… and {hidden:,} more columns (see --html or --json)[/dim]")
    alerts = document["alerts"]
    if alerts:
        console.print(f"[bold]Alerts ({len(alerts)})[/bold]")
        for alert in alerts[:max_alerts]:
            console.print(_alert_line(alert))
        if len(alerts) > max_alerts:
            console.print(f"  [dim]… and {len(alerts) - max_alerts} more (see --html or --json)[/dim]")
    else:
        console.print("[green]No alerts.[/green]")
    for path in stored or []:
        console.print(f"  [dim]stored {escape(path)}[/dim]")


def comparison_summary(document: dict[str, Any]) -> None:
    from rich.markup import escape

    from expedition.profile._format import number, share

    old, new = document["old"], document["new"]
    console.print(
        f"\n[bold]{escape(old['label'])} → {escape(new['label'])}[/bold]: rows {old['rows']:,} → {new['rows']:,}, "
        f"columns {old['columns']} → {new['columns']}"
    )
    changed = [c for c in document["columns"] if c["reasons"]]
    if changed:
        rows = [
            [
                escape(c["name"]),
                f"{share(c['missing_share']['old'])} → {share(c['missing_share']['new'])}",
                f"{number(c['distinct']['old'])} → {number(c['distinct']['new'])}",
                number(c["psi"], 3),
                number(c["ks_statistic"], 3),
                ", ".join(c["reasons"]),
            ]
            for c in changed
        ]
        console.print(table(None, ["column", "missing", "distinct", "PSI", "KS D", "changes"], rows))
    for alert in document["alerts"]:
        console.print(_alert_line(alert))
    if document["changed_materially"]:
        console.print("[yellow]The delivery changed materially.[/yellow]")
    else:
        console.print("[green]Nothing changed materially.[/green]")
