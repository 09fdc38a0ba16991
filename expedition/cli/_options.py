"""Options shared by every command, written once so their help reads the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="The expedition folder (default: found by walking up from the current folder).",
        file_okay=False,
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout and nothing else there."),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Print nothing but errors."),
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="Replace what exists instead of refusing."),
]
