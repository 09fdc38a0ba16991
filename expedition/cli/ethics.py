"""`expedition ethics`: the submission for an ethics committee or data protection officer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expedition.cli import _render
from expedition.cli._options import JsonOpt, ProjectOpt, QuietOpt


def ethics(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write it (default: ETHICS-SUBMISSION.md in the expedition)."),
    ] = None,
    project: ProjectOpt = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the ethics submission: purpose, data and lawful basis, risks, fairness, oversight, retention.

    Filled from expedition.yaml and its data-sharing agreements, ETHICS.md, DATA_SHARING.md, the
    data contracts, model cards and sign-offs; questions with no answer yet are listed as gaps.
    """
    from expedition._io import atomic_write_text
    from expedition.ethics import ethics_packet
    from expedition.project import open_project

    proj = open_project(project)
    packet = ethics_packet(proj)
    if json_:
        _render.print_json(packet.to_dict())
        return
    path = output or proj.root / "ETHICS-SUBMISSION.md"
    atomic_write_text(path, packet.to_markdown())
    if quiet:
        return
    _render.ok(f"wrote {path}")
    if packet.gaps:
        _render.warn(f"{len(packet.gaps)} question(s) have no answer yet:")
        for question, fix in packet.gaps:
            _render.note(f"  • {question} — {fix}")
