"""`expedition profile`: what a delivery really contains, and what changed between two."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def profile(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Datasets (NAME, NAME@v2, NAME@previous) or files (CSV, TSV, Parquet, XLSX, "
            "JSONL) to profile; default: every dataset of the expedition.",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Compare two deliveries, OLD NEW (NAME@v1 NAME@v2 or two files); with one NAME, "
            "its previous and latest deliveries.",
        ),
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML page to FILE.", dir_okay=False),
    ] = None,
    engine: Annotated[
        str,
        typer.Option("--engine", metavar="ENGINE",
                     help="polars (default: the full profile) or spark: counts, missing values, "
                          "approximate distinct counts and quartiles aggregated in Spark (CSV/TSV "
                          "paths or URIs, or datasets; needs pip install \"expedition[spark]\")."),
    ] = "polars",
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Profile datasets or files: types, missing values, distributions, alerts, personal data.

    Inside an expedition, a dataset's latest profile is stored in .expedition/quality/NAME/
    for the findings pack.
    """
    from expedition._io import atomic_write_text
    from expedition.profile import compare as compare_targets
    from expedition.profile import plan_targets, profile_target

    if engine not in ("polars", "spark"):
        from expedition.errors import ConfigError

        raise ConfigError(f"unknown engine {engine!r}", "use --engine polars or --engine spark")
    if engine == "spark":
        _profile_on_spark(targets or [], project, json_=json_, quiet=quiet,
                          refused=compare or html is not None)
        return

    proj, names = plan_targets(targets or [], project, compare=compare, html=html is not None)
    silent = quiet or json_
    if compare:
        with _render.fraction_progress("comparing", quiet=silent) as on_progress:
            on_progress(0.0, f"{names[0]} → {names[1]}")
            result = compare_targets(names[0], names[1], project=proj)
        if html is not None:
            atomic_write_text(html, result.to_html())
        if json_:
            _render.print_json(result.to_dict())
        elif not quiet:
            _render.comparison_summary(result.document)
        return
    profiles = []
    for name in names:
        with _render.fraction_progress(f"profiling {name}", quiet=silent) as on_progress:
            profiles.append(profile_target(name, proj, on_progress=on_progress))
    if html is not None:
        atomic_write_text(html, profiles[0].to_html())
    if json_:
        documents = [p.to_dict() for p in profiles]
        _render.print_json(documents[0] if len(documents) == 1 else documents)
        return
    if quiet:
        return
    for prof in profiles:
        _render.profile_summary(prof.to_dict(), stored=prof.stored)
    if html is not None:
        _render.note(f"  [dim]wrote {html}[/dim]")


def _profile_on_spark(targets: list[str], project: Path | None, *, json_: bool, quiet: bool,
                      refused: bool) -> None:
    """`expedition profile --engine spark`: each target (a dataset's latest delivery, a path or
    a URI) aggregated in Spark, approximate figures labelled so."""
    from expedition.errors import ConfigError
    from expedition.validation.spark_profile import profile_spark

    if refused:
        raise ConfigError("--compare and --html use the full profile, not --engine spark",
                          "leave out --engine spark, or --compare and --html")
    proj = None
    if project is not None or not targets:
        from expedition.project import open_project

        proj = open_project(project)
    if not targets:
        assert proj is not None
        targets = [n for n, d in proj.config.datasets.items() if d.deliveries]
    documents = []
    for target in targets:
        if proj is None and "://" not in target and not Path(target).exists():
            from expedition.project import open_project

            proj = open_project(None)
        if proj is not None and target in proj.config.datasets:
            from expedition.datasets import delivery_options, delivery_path

            delivery = proj.config.datasets[target].latest
            if delivery is None:
                raise ConfigError(f"dataset {target!r} has no deliveries yet",
                                  f"add one with `expedition data add FILE --name {target}`")
            documents.append(profile_spark(delivery_path(proj, target),
                                           options=delivery_options(delivery), name=target))
        else:
            documents.append(profile_spark(target))
    if json_:
        _render.print_json(documents[0] if len(documents) == 1 else documents)
        return
    if quiet:
        return
    from rich.table import Table

    for doc in documents:
        table = Table(title=f"{doc['source']}: {doc['rows']:,} rows (Spark; ~ approximate)")
        for heading in ("column", "missing", "distinct ~", "min", "p25 ~", "median ~", "p75 ~",
                        "max", "mean"):
            table.add_column(heading, justify="left" if heading == "column" else "right")
        for col in doc["columns"]:
            q = col.get("quantiles_approx") or {}
            numbers = [col.get("min"), q.get("p25"), q.get("p50"), q.get("p75"), col.get("max"),
                       col.get("mean")]
            table.add_row(col["name"], f"{col['missing']:,} ({col['missing_share']:.1%})",
                          f"{col['distinct_approx']:,}",
                          *["" if v is None else f"{v:,.4g}" for v in numbers])
        _render.console.print(table)
