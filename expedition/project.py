"""Finding an expedition on disk, and the canonical places inside it.

A project is a folder holding ``expedition.yaml``. Commands find it like git finds a repository:
by walking up from the current directory, unless ``--project DIR`` names it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from expedition import _store
from expedition._io import sha256_bytes
from expedition._lock import project_lock
from expedition.config import CONFIG_FILE, Config, load_config
from expedition.errors import ProjectNotFoundError

STATE_DIR = ".expedition"


@dataclass(frozen=True)
class Project:
    """An expedition folder and its validated configuration."""

    root: Path
    config: Config
    #: SHA-256 of expedition.yaml as it was read (reading again is far cheaper than parsing)
    stamp: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def load(cls, root: str | Path) -> Project:
        root = Path(root).resolve()
        if _store.has_journal(root):
            _finish_interrupted_commit(root)
        stamp = _stamp(root / CONFIG_FILE)
        return cls(root=root, config=load_config(root / CONFIG_FILE), stamp=stamp)

    def reload(self) -> Project:
        """The project as it is on disk now (this one, when expedition.yaml has not changed)."""
        if self.stamp is not None and self.stamp == _stamp(self.config_path):
            return self
        return Project.load(self.root)

    # canonical paths ---------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def interim_dir(self) -> Path:
        return self.root / "data" / "interim"

    @property
    def processed_dir(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "data" / "quarantine"

    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas"

    @property
    def findings_dir(self) -> Path:
        """Where findings packs are written."""
        return self.root / "findings"

    @property
    def state_dir(self) -> Path:
        """Tool-managed state: stored findings, run history, caches. Kept out of git."""
        return self.root / STATE_DIR

    @property
    def results_dir(self) -> Path:
        """Stored findings from `expedition run`, one folder per step id."""
        return self.state_dir / "findings"

    def quality_dir(self, dataset: str) -> Path:
        """Data-quality evidence for one dataset, read by `expedition pack`.

        Conventional files: ``profile.json`` / ``profile.html`` (from `expedition profile`),
        ``validation.json`` / ``validation.html`` (from `expedition validate`, an HTML fragment)
        and ``feedback.md`` (the shareable summary for the data owner).
        """
        return self.state_dir / "quality" / dataset

    def relative(self, path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # history -------------------------------------------------------------------------------
    @property
    def history_path(self) -> Path:
        return self.state_dir / "history.jsonl"

    def record(self, event: str, **details: Any) -> None:
        """Append an event (a run, a pack) to the project's history, holding the project lock.

        The line is written whole or not at all: a write cut short (a full disk) is undone.
        """
        entry = {"event": event, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        entry.update(details)
        line = (json.dumps(entry, default=str) + "\n").encode("utf-8")
        with project_lock(self.root, f"recording {event}"):
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.history_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                size = os.fstat(fd).st_size
                try:
                    written = 0
                    while written < len(line):
                        written += os.write(fd, line[written:])
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)
                    raise
            finally:
                os.close(fd)

    def history(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.history_path.exists():
            return []
        entries = []
        for line in self.history_path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event is None or entry.get("event") == event:
                entries.append(entry)
        return entries

    def last(self, event: str) -> dict[str, Any] | None:
        entries = self.history(event)
        return entries[-1] if entries else None


def _stamp(path: Path) -> str | None:
    try:
        return sha256_bytes(path.read_bytes())
    except OSError:
        return None


def _finish_interrupted_commit(root: Path) -> None:
    """A command was killed while committing its outputs: finish that commit before anything
    reads the project, unless another command holds the lock (it has finished it already, or
    is committing right now) or the project cannot be written (a read-only copy)."""
    from expedition.errors import ProjectBusyError

    with contextlib.suppress(ProjectBusyError, OSError):
        with project_lock(root, "finishing an interrupted commit", timeout=0):
            pass  # taking the lock finishes it


def find_project_root(start: str | Path | None = None) -> Path:
    """Walk up from *start* (default: the current directory) to the folder with expedition.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ProjectNotFoundError(
        f"no {CONFIG_FILE} in {here} or any folder above it",
        "cd into an expedition, pass --project DIR, or create one with `expedition new NAME`",
    )


def open_project(project: str | Path | None = None) -> Project:
    """Load the project named by *project* (a folder), or the one containing the current folder."""
    if project is not None:
        root = Path(project)
        if not (root / CONFIG_FILE).is_file():
            raise ProjectNotFoundError(
                f"{root} holds no {CONFIG_FILE}",
                "pass the folder of an expedition created by `expedition new`",
                path=root,
            )
        return Project.load(root)
    return Project.load(find_project_root())
