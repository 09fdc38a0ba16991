"""`expedition link [NAME ...]` and `expedition link review NAME`: record linkage (Splink)."""

from __future__ import annotations

from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def link(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="[NAME ...] | review NAME",
                       help="Links to make (default: all of them); `review NAME` for a clerical review."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Link again even when current.")] = False,
    new: Annotated[bool, typer.Option("--new", help="review: write a new sample to label.")] = False,
    pairs: Annotated[int, typer.Option("--pairs", min=10, help="review: pairs in the sample.")] = 100,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Link records across datasets into one person key, as declared under 'links:'.

    Each link is written to data/processed/NAME.parquet (dataset, record_id, person_id,
    match_probability), with its settings, inputs' hashes and linkage-quality summary in
    .expedition/links/NAME.json; one whose inputs and settings are unchanged is reused.
    `expedition run` links what its steps need by itself.

    `expedition link review NAME` writes linked pairs to .expedition/links/NAME-review.csv
    (never in a pack) for a person to label y or n in its 'match' column; run it again to
    read the labels and record the measured precision.
    """
    from expedition import link as linking
    from expedition.errors import ConfigError
    from expedition.project import open_project

    proj = open_project(project)
    if names and names[0] == "review":
        if len(names) != 2:
            raise ConfigError("`expedition link review` takes one link name",
                              "e.g. `expedition link review people`")
        result = linking.review(proj, names[1], pairs=pairs, new=new)
        if json_:
            _render.print_json(result.to_dict())
        elif not quiet and result.written:
            _render.ok(f"{result.written} linked pairs to label → {result.file}")
            _render.note("  write y (same person) or n (different people) in its 'match' column, then run "
                         f"`expedition link review {names[1]}` again. The file holds personal data: it "
                         "stays in .expedition/ and never enters a pack.")
        elif not quiet and result.labelled:
            low, high = result.interval or (0.0, 1.0)
            _render.ok(f"{names[1]}: precision {result.precision:.1%} (95% interval {low:.1%} to {high:.1%}) "
                       f"from {result.labelled} labelled pairs")
        elif not quiet:
            _render.note(f"No labels yet in {result.file}: fill in its 'match' column (y or n).")
        return
    with _render.err_console.status("linking…") if not (quiet or json_) else _nothing():
        results = linking.link(proj, names, force=force)
    if json_:
        _render.print_json([r.to_dict() for r in results])
        return
    if quiet:
        return
    for r in results:
        q = r.quality
        state = "[dim](current: inputs and settings unchanged)[/dim]" if r.cached else f"in {r.seconds:.1f}s"
        _render.ok(f"{r.name}: {r.rows:,} records → {r.clusters:,} people → {r.file} {state}")
        _render.note(f"  from {', '.join(f'{k} ({v:,})' for k, v in q.get('records_by_dataset', {}).items())}; "
                     f"{q.get('pairs_linked', 0):,} pairs linked at match probability {q.get('threshold')}")
        if q.get("expected_precision") is not None:
            _render.note(f"  the model expects precision {q['expected_precision']:.2%} and recall "
                         f"{q['expected_recall']:.2%}; measure precision with `expedition link review {r.name}`")
        for note in q.get("notes", []):
            _render.warn(note[0].upper() + note[1:] + ".")


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None
