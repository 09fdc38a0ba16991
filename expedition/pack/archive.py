"""The pack as files: a reproducible zip, and reading a pack from a folder or a zip.

The zip holds the pack folder under its own name, entries sorted, every timestamp set to the
pack's date and every permission to 0644, so the same pack gives the same bytes. Reading a zip
never extracts it: entries are read in memory, and an entry that would escape the pack's
folder (an absolute path, ``..``, a backslash, a link) is refused and reported.
"""

from __future__ import annotations

import stat
import zipfile
from datetime import date
from pathlib import Path, PurePosixPath

from expedition.errors import PackError

_STORED = {".png", ".zip", ".gz", ".jpg", ".jpeg", ".parquet"}


def write_zip(folder: Path, dest: Path, root: str, when: date) -> None:
    """Zip *folder* into *dest* with every entry under ``root/``, reproducibly."""
    stamp = (max(when.year, 1980), when.month, when.day, 0, 0, 0)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(dest, "w") as archive:
        for rel in files:
            info = zipfile.ZipInfo(f"{root}/{rel}", date_time=stamp)
            info.create_system = 3
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            stored = PurePosixPath(rel).suffix.lower() in _STORED
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, (folder / rel).read_bytes(), compresslevel=None if stored else 6)


class PackSource:
    """A pack's files, relative to its folder, from a folder or a zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def files(self) -> list[str]:
        raise NotImplementedError

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def has(self, rel: str) -> bool:
        return rel in set(self.files())


class FolderSource(PackSource):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._files = sorted(
            p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and not p.is_symlink()
        )
        for link in sorted(p for p in path.rglob("*") if p.is_symlink()):
            self.problems.append(f"{link.relative_to(path).as_posix()}: a link, not a file (refused)")

    def files(self) -> list[str]:
        return list(self._files)

    def read(self, rel: str) -> bytes:
        return (self.path / rel).read_bytes()


class ZipSource(PackSource):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._archive = zipfile.ZipFile(path)
        entries: dict[str, zipfile.ZipInfo] = {}
        safe = []
        for info in self._archive.infolist():
            name = info.filename
            why = _unsafe(name, info)
            if why:
                self.problems.append(
                    f"zip entry {name!r} {why}: refused (nothing in the zip was extracted)"
                )
                continue
            if not name.endswith("/"):
                safe.append(info)
        roots = {PurePosixPath(i.filename).parts[0] for i in safe}
        root = roots.pop() if len(roots) == 1 and all(len(PurePosixPath(i.filename).parts) > 1 for i in safe) else ""
        for info in safe:
            rel = info.filename[len(root) + 1 :] if root else info.filename
            if rel in entries:
                self.problems.append(f"zip entry {info.filename!r} appears twice")
            entries[rel] = info
        self.root = root
        self._entries = entries

    def files(self) -> list[str]:
        return sorted(self._entries)

    def read(self, rel: str) -> bytes:
        return self._archive.read(self._entries[rel])

    def close(self) -> None:
        self._archive.close()


def _unsafe(name: str, info: zipfile.ZipInfo) -> str | None:
    if "\\" in name:
        return "has a backslash in its path"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if any(part == ".." for part in name.split("/")):
        return "escapes the pack folder with '..'"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    return None


def open_pack(path: str | Path) -> PackSource:
    """The pack at *path*: a folder written by `expedition pack`, or its zip."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path)
    if path.is_file():
        if zipfile.is_zipfile(path):
            try:
                return ZipSource(path)
            except zipfile.BadZipFile as exc:
                raise PackError(f"{path} is a damaged zip ({exc})", "rebuild it with `expedition pack`", path=path) from None
        raise PackError(
            f"{path} is neither a pack folder nor a zip",
            "pass the folder or the .zip written by `expedition pack`",
            path=path,
        )
    raise PackError(
        f"{path} does not exist", "pass the folder or the .zip written by `expedition pack`", path=path
    )
