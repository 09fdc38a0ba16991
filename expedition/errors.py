"""One exception hierarchy for every expected failure.

Each error says *what* is wrong and *how to fix it*, and optionally where (a file, a line, a
field). The CLI turns these into a short red panel and an exit code; the Python API lets them
propagate so notebooks see the same message.

Exit codes follow the project's contract: 1 means the data (or a pack) failed a check, 2 means a
usage, configuration or environment problem (a full disk, missing permissions, a read-only
folder, a terminal that cannot show the output: `environment_error`), and 3 is kept for bugs.
"""

from __future__ import annotations

import errno
import re
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


class ProjectBusyError(ExpeditionError):
    """Another command held the project lock for longer than this one would wait."""


class EnvironmentProblem(ExpeditionError):
    """The machine stopped a command: a full disk, missing permissions, a read-only folder, or a
    terminal that cannot show the output. Not a bug, and not the data's fault."""


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_TOO_LARGE = {errno.EFBIG}
_DENIED = {errno.EACCES, errno.EPERM}
_READ_ONLY = {errno.EROFS}
#: Polars (Rust) reports the operating system's error in its message, e.g. "(os error 28)".
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def _os_errno(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    match = _RUST_OS_ERROR.search(str(exc))
    return int(match.group(1)) if match else None


def _output_encodings() -> set[str]:
    import codecs
    import sys

    found = set()
    for stream in (sys.stdout, sys.stderr):
        name = getattr(stream, "encoding", None)
        if name:
            try:
                found.add(codecs.lookup(name).name)
            except LookupError:
                continue
    return found


def environment_error(exc: BaseException) -> EnvironmentProblem | None:
    """The `EnvironmentProblem` behind *exc* (or an exception it was raised from), else None.

    A full disk or quota (ENOSPC, EDQUOT), a file-size limit (EFBIG), a permission refused
    (EACCES, EPERM), a read-only file system (EROFS), and a character the terminal's encoding
    cannot show are problems of the machine, with a fix the user can apply; anything else that
    is not an `ExpeditionError` is a bug.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        problem = _from_one(current)
        if problem is not None:
            return problem
        current = current.__cause__ or current.__context__
    return None


def _from_one(exc: BaseException) -> EnvironmentProblem | None:
    import codecs

    if isinstance(exc, UnicodeEncodeError):
        try:
            encoding = codecs.lookup(exc.encoding).name
        except LookupError:
            return None
        if encoding not in _output_encodings() or encoding.startswith("utf"):
            return None
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:3]) or "a character"
        return EnvironmentProblem(
            f"the terminal cannot show this command's output: its encoding is {exc.encoding}, "
            f"which has no {shown}",
            "use a UTF-8 terminal: set PYTHONIOENCODING=utf-8 (or a UTF-8 locale such as "
            "LANG=C.UTF-8) and run the command again, or add --json, whose output is plain "
            "ASCII; files the command wrote are complete (each is written whole or not at all)",
        )
    code = _os_errno(exc)
    if code is None:
        return None
    path = getattr(exc, "filename", None) or None
    where = f" ({path})" if path else ""
    if code in _DISK_FULL:
        return EnvironmentProblem(
            f"the disk is full (or your disk quota is used up){where}",
            "free some space on that disk, or ask for a larger quota, and run the command "
            "again; nothing half-written was kept",
            path=path,
        )
    if code in _TOO_LARGE:
        return EnvironmentProblem(
            f"a file grew larger than this file system or your file-size limit allows{where}",
            "raise the limit (`ulimit -f unlimited`) or work on a file system that takes large "
            "files, and run the command again; nothing half-written was kept",
            path=path,
        )
    if code in _DENIED:
        return EnvironmentProblem(
            f"permission denied{where}",
            "check who may read and write there (`ls -l`); run the command as the user who owns "
            "the expedition, or ask its owner to give your group access "
            "(`chmod -R g+rwX FOLDER`)",
            path=path,
        )
    if code in _READ_ONLY:
        return EnvironmentProblem(
            f"the folder is on a read-only file system{where}",
            "copy the expedition to a folder you can write to (or have the disk mounted "
            "read-write) and run the command there; commands that only read, such as "
            "`expedition status` and `expedition pack verify`, work on a read-only copy",
            path=path,
        )
    return None
