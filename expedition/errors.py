"""One exception hierarchy for every expected failure.

Each error says *what* is wrong and *how to fix it*, and optionally where (a file, a line, a
field). The CLI turns these into a short red panel and an exit code; the Python API lets them
propagate so notebooks see the same message.

Exit codes follow the project's contract: 1 means the data (or a pack) failed a check, 2 means a
usage or configuration problem.
"""

from __future__ import annotations

from pathlib import Path

EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class ExpeditionError(Exception):
    """Base class: an expected failure with a message for the user and a suggested fix."""

    exit_code: int = EXIT_USAGE

    def __init__(
        self,
        what: str,
        fix: str | None = None,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.what = what
        self.fix = fix
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self.message)

    @property
    def where(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    @property
    def message(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.fix:
            text += f"\nHow to fix: {self.fix}"
        return text

    def to_dict(self) -> dict:
        return {
            "error": type(self).__name__,
            "what": self.what,
            "fix": self.fix,
            "path": str(self.path) if self.path else None,
            "line": self.line,
            "field": self.field,
            "exit_code": self.exit_code,
        }


class ConfigError(ExpeditionError):
    """expedition.yaml (or another configuration file) is missing, unreadable or invalid."""


class ProjectNotFoundError(ExpeditionError):
    """No expedition.yaml in the current directory or any parent."""


class ScaffoldError(ExpeditionError):
    """`expedition new` cannot create the project."""


class DataError(ExpeditionError):
    """A data file is missing, unreadable or not in a supported format."""


class StepError(ExpeditionError):
    """A step is unknown, misconfigured or cannot run on the data it was given."""


class PackError(ExpeditionError):
    """A findings pack cannot be built."""


class CheckFailed(ExpeditionError):
    """Data or a pack was read correctly but failed a check (exit code 1)."""

    exit_code = EXIT_CHECK_FAILED


class ModelError(ExpeditionError):
    """A saved model cannot be found, read or applied (e.g. made by incompatible versions)."""
