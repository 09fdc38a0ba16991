"""Where the files shipped beside the code live: the project template, recipes and examples.

In a wheel they are packaged under ``expedition/_resources/``; in a source checkout they are the
top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

from expedition.errors import ExpeditionError

_PACKAGE = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """The folder of a shipped resource: ``cookiecutter-template``, ``recipes`` or ``examples``."""
    for candidate in (_PACKAGE / "_resources" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise ExpeditionError(
        f"this installation of expedition is incomplete: the '{name}' folder is missing",
        "reinstall it: pip install --force-reinstall expedition",
    )
