"""`expedition prepare`: materialise the derived datasets (SQL over validated ones)."""

from __future__ import annotations

from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def prepare(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAME", help="Derived datasets to prepare (default: all of them)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Compute them again even when current.")] = False,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Make the derived datasets declared under 'derived:' in expedition.yaml.

    Each runs its SQL over the validated datasets (and earlier derived ones) and is written to
    data/processed/NAME.parquet, with its SQL and every input's hash recorded. One whose SQL and
    inputs are unchanged is reused. `expedition run` prepares what its steps need by itself.
    """
    from expedition.prepare import prepare as prepare_datasets
    from expedition.project import open_project

    proj = open_project(project)
    results = prepare_datasets(proj, names, force=force)
    if json_:
        _render.print_json([r.to_dict() for r in results])
        return
    if quiet:
        return
    for r in results:
        state = "[dim](current: SQL and inputs unchanged)[/dim]" if r.cached else f"in {r.seconds:.1f}s"
        _render.ok(f"{r.name}: {r.rows:,} rows, {len(r.columns)} columns → {r.file} {state}")
        _render.note("  from " + ", ".join(f"{i['name']} ({i['kind']}, sha256 {i['sha256'][:12]}…)"
                                           for i in r.inputs))
        if r.validation is not None:
            rows = r.validation["rows"]
            _render.note(f"  validated against {r.contract_file}: {rows['read']:,} rows = "
                         f"{rows['valid']:,} valid + {rows['quarantined']:,} quarantined")
        for column, why in r.personal.items():
            _render.note(f"  [yellow]personal[/yellow] {column}: {why} (its values are never shown)")
        if r.preview:
            shown = list(r.preview[0])
            rows = [[c, r.columns.get(c, ""), ", ".join("—" if row[c] is None else str(row[c])[:24]
                                                        for row in r.preview[:3])] for c in shown]
            _render.console.print(_render.table(None, ["column", "type", "first values"], rows))
