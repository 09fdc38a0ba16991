"""Writing several files as one unit, and repairing what a killed command left.

A command whose outputs belong together — `expedition validate` (valid rows, quarantine,
report), `expedition pack` (folder and zip), `expedition data add` (raw copy and its entry in
expedition.yaml) — writes them through a `Unit`:

1. every output is written under a temporary name beside its destination (``.NAME.PID-TOKEN.tmp``);
2. the unit's journal, ``.expedition/journal/PID-TOKEN.json``, is written atomically: it lists
   each temporary name and its destination, and is the moment the new state is committed;
3. each temporary name is renamed to its destination, and the journal removed.

Killed before step 2, the project keeps its old state (the next command removes the temporary
files); killed after it, the next command finishes the renames from the journal (`recover`). A
reader that holds the project lock therefore only ever sees a whole state, old or new, because
the lock runs `recover` first. No library offers a multi-file commit on a plain file system,
which is why this is written here; it uses only renames within a folder, which POSIX makes
atomic.

`recover` also removes the temporary files and folders that killed commands left anywhere in the
project's stores (names matching `expedition._io.TEMP_NAME` whose process is gone), and finishes
a folder switch that `expedition._io.atomic_dir` was making when it was killed.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from expedition._io import (
    TEMP_NAME,
    atomic_write_text,
    finish_install,
    fsync_path,
    make_dir,
    new_token,
    owner_alive,
    remove_path,
    temp_path,
    write_new_file,
)

STATE_DIR = ".expedition"
JOURNAL_DIR = "journal"

#: Folders searched for leftovers (relative to the project), and whether to look inside them.
_SWEEP: tuple[tuple[str, bool], ...] = (
    (".", False),
    ("data", True),
    ("schemas", False),
    ("findings", False),
    (STATE_DIR, True),
)


@dataclass(frozen=True)
class _Entry:
    staged: Path
    dest: Path
    kind: str  # "file" or "folder"


class Unit:
    """Files and folders that appear together or not at all (see the module docstring).

    ``with Unit(project.root, "validate referrals") as unit:`` holds the project lock for the
    block; `file`, `write_bytes`, `write_text` and `folder` give temporary places to write each
    output; leaving the block commits them all, and an exception discards them all.
    """

    def __init__(self, root: str | Path, what: str = "") -> None:
        self.root = Path(root)
        self.what = what
        self.token = new_token()
        self._entries: list[_Entry] = []
        self._remove: list[Path] = []
        self._lock: Any = None
        self._done = False

    # -- the with block ---------------------------------------------------------------------
    def __enter__(self) -> Unit:
        from expedition._lock import project_lock

        self._lock = project_lock(self.root, self.what)
        self._lock.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self.commit()
            else:
                self.abort()
        finally:
            lock, self._lock = self._lock, None
            if lock is not None:
                lock.__exit__(kind, exc, tb)

    # -- staging ----------------------------------------------------------------------------
    def file(self, dest: str | Path, *, stage_in: str | Path | None = None) -> Path:
        """A temporary path to write *dest*'s new content to (in *stage_in*, default beside
        *dest*; it must be on the same file system)."""
        dest = Path(dest)
        folder = Path(stage_in) if stage_in is not None else dest.parent
        folder.mkdir(parents=True, exist_ok=True)
        staged = folder / temp_path(dest, self.token).name
        self._add(_Entry(staged, dest, "file"))
        return staged

    def write_bytes(self, dest: str | Path, data: bytes) -> Path:
        staged = self.file(dest)
        write_new_file(staged, data)
        return staged

    def write_text(self, dest: str | Path, text: str) -> Path:
        return self.write_bytes(dest, text.encode("utf-8"))

    def folder(self, dest: str | Path) -> Path:
        """A new temporary folder whose content replaces the folder *dest* on commit."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staged = temp_path(dest, self.token)
        self._add(_Entry(staged, dest, "folder"))
        make_dir(staged)
        return staged

    def remove(self, dest: str | Path) -> None:
        """Remove *dest* (a file or folder) as part of the commit."""
        self._remove.append(Path(dest))

    def _add(self, entry: _Entry) -> None:
        if self._done:
            raise RuntimeError("this unit was already committed or discarded")
        if any(e.dest == entry.dest for e in self._entries):
            raise ValueError(f"{entry.dest} is written twice in one unit")
        self._entries.append(entry)

    # -- ending -----------------------------------------------------------------------------
    def commit(self) -> None:
        """Make every staged output current, as one step a kill cannot split."""
        if self._done:
            return
        self._done = True
        try:
            missing = [e.staged for e in self._entries if not e.staged.exists()]
            if missing:
                raise FileNotFoundError(f"nothing was written to {missing[0]}")
            for entry in self._entries:
                if entry.kind == "file":
                    fsync_path(entry.staged)
            journal = {
                "what": self.what,
                "token": self.token,
                "entries": [
                    {"staged": self._rel(e.staged), "dest": self._rel(e.dest), "kind": e.kind}
                    for e in self._entries
                ],
                "remove": [self._rel(p) for p in self._remove],
            }
            path = journal_dir(self.root) / f"{self.token}.json"
            atomic_write_text(path, json.dumps(journal, indent=1) + "\n", durable=True)
            fsync_path(path.parent)
        except BaseException:
            self._discard()
            raise
        _apply(self.root, journal)
        path.unlink()

    def abort(self) -> None:
        """Discard every staged output; the project keeps its old state."""
        if self._done:
            return
        self._done = True
        self._discard()

    def _discard(self) -> None:
        for entry in self._entries:
            remove_path(entry.staged)

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path.absolute())


def journal_dir(root: str | Path) -> Path:
    return Path(root) / STATE_DIR / JOURNAL_DIR


def _resolve(root: Path, text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else root / path


def _apply(root: Path, journal: dict[str, Any]) -> None:
    """Rename each staged output to its destination; safe to repeat after an interruption."""
    token = journal["token"]
    parents: set[Path] = set()
    olds: list[Path] = []
    for item in journal["entries"]:
        staged, dest = _resolve(root, item["staged"]), _resolve(root, item["dest"])
        parents.add(dest.parent)
        if item["kind"] == "folder":
            old = temp_path(dest, token, "old")
            olds.append(old)
            if staged.exists():
                if (dest.exists() or dest.is_symlink()) and not old.exists():
                    os.rename(dest, old)
                elif dest.exists():
                    remove_path(dest)
                os.rename(staged, dest)
        elif staged.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, dest)
    for text in journal.get("remove", []):
        path = _resolve(root, text)
        parents.add(path.parent)
        remove_path(path)
    for old in olds:
        remove_path(old)
    for parent in parents:
        fsync_path(parent)


def recover(root: str | Path, *, sweep: bool = True) -> list[str]:
    """Finish the commits killed commands left half-done, then (with *sweep*) remove their
    temporary files and folders. Call it holding the project lock. Returns what it did."""
    root = Path(root)
    done: list[str] = []
    folder = journal_dir(root)
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        names = []
    for name in names:
        path = folder / name
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            # written atomically, so a damaged journal was never committed: nothing to finish
            path.unlink()
            continue
        _apply(root, journal)
        path.unlink()
        done.append(f"finished {journal.get('what') or 'a commit'} ({len(journal['entries'])} files)")
    if sweep:
        done += _sweep(root)
    return done


def _sweep(root: Path) -> list[str]:
    removed: list[str] = []
    for rel, deep in _SWEEP:
        top = root / rel
        if not top.is_dir():
            continue
        for folder, names in _walk(top, deep):
            found = [(n, TEMP_NAME.match(n)) for n in names]
            found = [(n, m) for n, m in found if m is not None and not owner_alive(int(m["pid"]))]
            # a folder waiting to be installed first, then what is left
            for name, match in sorted(found, key=lambda item: item[1]["kind"] != "new"):
                path = folder / name
                if not (path.exists() or path.is_symlink()):
                    continue  # handled with its folder
                if match["kind"] == "new":
                    finish_install(path)
                    removed.append(f"installed {_shown(root, folder / match['name'])}")
                elif match["kind"] == "old" and not (folder / match["name"]).exists():
                    os.rename(path, folder / match["name"])  # a switch stopped half-way: undo it
                    removed.append(f"restored {_shown(root, folder / match['name'])}")
                else:
                    remove_path(path)
                    removed.append(f"removed {_shown(root, path)}")
    return removed


def _walk(top: Path, deep: bool):
    """(folder, entry names) for *top* and, when *deep*, every folder below it that is not
    itself a temporary one."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        yield folder, names
        if deep:
            for name in names:
                path = folder / name
                if TEMP_NAME.match(name) is None and path.is_dir() and not path.is_symlink():
                    stack.append(path)


def _shown(root: Path, path: Path) -> str:
    with contextlib.suppress(ValueError):
        return path.relative_to(root).as_posix()
    return str(path)


def has_journal(root: str | Path) -> bool:
    """Whether a commit was left half-done (cheap: one folder listing)."""
    try:
        return any(n.endswith(".json") and not n.startswith(".") for n in os.listdir(journal_dir(root)))
    except OSError:
        return False
