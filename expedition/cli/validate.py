"""`expedition validate`: check deliveries against their contracts; quarantine failing rows."""

from __future__ import annotations

from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def validate(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME",
                       help="Datasets to validate (default: every dataset with a delivery)."),
    ] = None,
    max_invalid: Annotated[
        float,
        typer.Option("--max-invalid", min=0, max=100, metavar="PCT",
                     help="Percent of rows that may be quarantined before the delivery fails "
                          "(exit 1)."),
    ] = 0.0,
    feedback: Annotated[
        bool, typer.Option("--feedback", help="Also write feedback.md for the data owner.")
    ] = False,
    allow_extra_columns: Annotated[
        bool,
        typer.Option("--allow-extra-columns",
                     help="Accept columns the contract does not list (kept as delivered)."),
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option("--engine", metavar="ENGINE",
                     help="polars (default) or spark: what runs the checks (spark needs "
                          "pip install \"expedition[spark]\" and Java 17+); default: each "
                          "dataset's engine: in expedition.yaml."),
    ] = None,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Validate the latest delivery of each dataset (every delivery, with combine: all) against its contract.

    Valid rows go to data/interim/NAME.parquet (what steps read); failing rows go to
    data/quarantine/NAME.parquet with their row number and every reason. Exit 0 when the
    delivery passes, 1 when more rows were quarantined than --max-invalid allows (or a
    dataset-wide check failed), 2 for a broken contract or unreadable data.
    """
    from expedition.project import open_project
    from expedition.validation import validate_datasets

    if engine is not None and engine not in ("polars", "spark"):
        from expedition.errors import ConfigError

        raise ConfigError(f"unknown engine {engine!r}", "use --engine polars or --engine spark")
    proj = open_project(project)
    results = validate_datasets(proj, names, max_invalid=max_invalid,
                                allow_extra_columns=allow_extra_columns, feedback=feedback,
                                engine=engine)
    if json_:
        _render.print_json([r.to_dict() for r in results])
    elif not quiet:
        for result in results:
            show(result)
    code = max(r.exit_code for r in results)
    if code:
        raise typer.Exit(code)


def show(result) -> None:
    """The terminal report of one dataset's validation."""
    from expedition.validation.render import example_text

    r = result.report
    d = result.delivery
    if result.parts:
        _render.console.print(
            f"\n[bold]{result.dataset}[/bold]  {len(result.parts)} deliveries combined "
            f"(v{result.parts[0].delivery.version} to v{d.version}) · contract {result.contract_file}"
        )
        for part in result.parts:
            period = f", {part.period[0]} to {part.period[1]}" if part.period else ""
            _render.note(f"  v{part.delivery.version} {part.label}{period}: {part.report.summary()}")
    else:
        _render.console.print(
            f"\n[bold]{result.dataset}[/bold]  delivery v{d.version} ({d.file.rsplit('/', 1)[-1]}, "
            f"sha256 {d.sha256[:12]}…) · contract {result.contract_file}"
        )
    colour = "green" if not r.rows_quarantined else ("yellow" if r.passed else "red")
    _render.console.print(f"  [{colour}]{'in total: ' if result.parts else ''}{r.summary()}[/{colour}]")
    for warning in r.warnings:
        _render.warn(warning[0].upper() + warning[1:] + ".")
    for column in r.missing_columns:
        _render.note(f"  [red]missing column[/red] {column}")
    for old, new in r.renamed_columns.items():
        _render.note(f"  [yellow]header[/yellow] '{old}' read as '{new}'")
    if r.order_differs:
        _render.note("  columns arrived in a different order (that is fine)")
    for check in r.dataset_checks:
        mark = "[green]✓[/green]" if check.passed else "[red]✗[/red]"
        _render.note(f"  {mark} {check.description}: {check.detail}")
    failed = r.failed_checks
    if failed:
        rows = [[c.description, f"{c.failed:,}", f"{c.share:.2%}", example_text(c)] for c in failed]
        _render.console.print(_render.table(None, ["check", "rows", "share", "examples (row: value)"],
                                            rows))
    passed = len(r.checks) - len(failed)
    _render.note(f"  {passed} of {len(r.checks)} checks passed on every row.")
    _render.note(f"  valid → {result.valid_file}; quarantined → {result.quarantine_file}")
    if result.feedback:
        _render.note(f"  feedback for the data owner → {result.feedback}")
    if not r.passed:
        why = (f"more than {r.max_invalid:g}% of rows quarantined" if r.over_limit
               else "a dataset-wide check failed")
        _render.note(f"  [red]✗ the delivery did not pass: {why}[/red]")
    elif r.rows_quarantined:
        _render.note(f"  [yellow]✓ within --max-invalid {r.max_invalid:g}%[/yellow]")
