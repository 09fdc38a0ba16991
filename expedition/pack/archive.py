"""The pack as files: a reproducible zip, and reading a pack from a folder or a zip.

The zip holds the pack folder under its own name, entries sorted, every timestamp set to the
pack's date and every permission to 0644, so the same pack gives the same bytes. Reading a zip
never extracts it: entries are read in memory, and an entry that would escape the pack's
folder (an absolute path, ``..``, a backslash, a link) is refused and reported. Reading is
bounded (`ReadLimits`): the number of entries, each entry's size and the total, counted as the
bytes are inflated rather than taken from the zip's headers, so a zip bomb is refused.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import IO

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


@dataclass(frozen=True)
class ReadLimits:
    """How much reading a pack may take: entries (files), bytes per entry, bytes in all.

    A pack is a few hundred files and tens of MiB; these bounds are far above that and far
    below what would exhaust a machine, so a zip bomb (an entry that inflates a thousandfold, or
    a million tiny entries) is refused instead of read.
    """

    entries: int = 10_000
    entry_bytes: int = 256 * 2**20
    total_bytes: int = 2**30

    @property
    def directory_bytes(self) -> int:
        """The largest zip central directory read (512 bytes an entry is ample for a pack's names)."""
        return self.entries * 512


DEFAULT_LIMITS = ReadLimits()
_CHUNK = 1 << 20
_BOMB_FIX = (
    "a findings pack is far smaller than this; the file is damaged or was made to exhaust the "
    "memory of whoever opens it (a zip bomb): do not extract it, and ask for the pack again"
)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n >= 2**20 else f"{n:,} bytes"


class PackSource:
    """A pack's files, relative to its folder, from a folder or a zip, read within `ReadLimits`."""

    def __init__(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        self.problems: list[str] = []
        self.bytes_read = 0

    def files(self) -> list[str]:
        raise NotImplementedError

    def read(self, rel: str) -> bytes:
        raise NotImplementedError

    def has(self, rel: str) -> bool:
        return rel in set(self.files())

    def _too_many(self, count: int) -> None:
        if count > self.limits.entries:
            raise PackError(
                f"{self.path} holds {count:,} files, more than the {self.limits.entries:,} a pack may have",
                _BOMB_FIX, path=self.path,
            )

    def _check_sizes(self, sizes: dict[str, int]) -> None:
        """Refuse before reading when the sizes known up front are already too big."""
        for rel, size in sizes.items():
            if size > self.limits.entry_bytes:
                raise PackError(
                    f"{rel} in {self.path} is {_mib(size)}, more than the {_mib(self.limits.entry_bytes)} "
                    "a file in a pack may be", _BOMB_FIX, path=self.path,
                )
        total = sum(sizes.values())
        if total > self.limits.total_bytes:
            raise PackError(
                f"the files in {self.path} come to {_mib(total)}, more than the "
                f"{_mib(self.limits.total_bytes)} a pack may hold", _BOMB_FIX, path=self.path,
            )

    def _read_bounded(self, rel: str, stream: IO[bytes]) -> bytes:
        """*stream* read in chunks, counting what it yields (never trusting a declared size)."""
        out = bytearray()
        limit = self.limits.entry_bytes
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                return bytes(out)
            out += chunk
            self.bytes_read += len(chunk)
            if len(out) > limit:
                raise PackError(
                    f"{rel} in {self.path} inflates to more than {_mib(limit)}, the most a file in a "
                    "pack may be (whatever its header says)", _BOMB_FIX, path=self.path,
                )
            if self.bytes_read > self.limits.total_bytes:
                raise PackError(
                    f"reading {self.path} has produced more than {_mib(self.limits.total_bytes)}, the "
                    "most a pack may hold (whatever its headers say)", _BOMB_FIX, path=self.path,
                )


class FolderSource(PackSource):
    def __init__(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> None:
        super().__init__(path, limits)
        self._files = sorted(
            p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() and not p.is_symlink()
        )
        for link in sorted(p for p in path.rglob("*") if p.is_symlink()):
            self.problems.append(f"{link.relative_to(path).as_posix()}: a link, not a file (refused)")
        self._too_many(len(self._files))
        self._check_sizes({rel: (path / rel).stat().st_size for rel in self._files})

    def files(self) -> list[str]:
        return list(self._files)

    def read(self, rel: str) -> bytes:
        with open(self.path / rel, "rb") as stream:
            return self._read_bounded(rel, stream)


class ZipSource(PackSource):
    def __init__(self, path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> None:
        super().__init__(path, limits)
        _check_directory(path, limits)
        self._archive = zipfile.ZipFile(path)
        infos = self._archive.infolist()
        try:
            self._too_many(len(infos))
            self._check_sizes({i.filename: i.file_size for i in infos})
        except PackError:
            self._archive.close()
            raise
        entries: dict[str, zipfile.ZipInfo] = {}
        safe = []
        for info in infos:
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
        info = self._entries[rel]
        try:
            with self._archive.open(info) as stream:
                return self._read_bounded(info.filename, stream)
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
            raise PackError(
                f"zip entry {info.filename!r} in {self.path} cannot be read ({exc}): the zip is "
                "damaged, or its headers do not describe its contents",
                "rebuild the zip with `expedition pack`, or ask for the pack again",
                path=self.path,
            ) from None

    def close(self) -> None:
        self._archive.close()


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")


def _check_directory(path: Path, limits: ReadLimits) -> None:
    """Refuse a zip whose central directory is too big before `zipfile` reads it all.

    `zipfile` parses the whole central directory into memory when it opens an archive and has no
    public way to ask for its size first, so the end record (and its Zip64 form) is read here: a
    zip declaring more entries, or a larger directory, than a pack may have is refused. A record
    that cannot be found is left for `zipfile` to report.
    """
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        start = max(size - (1 << 16) - _EOCD.size, 0)
        handle.seek(start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            return
        _, _, _, _, entries, directory, _, _ = _EOCD.unpack_from(tail, at)
        counts, sizes = [entries], [directory]
        locator = at - _EOCD64_LOCATOR.size
        if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
            record = start + locator - _EOCD64.size
            if record >= 0:
                handle.seek(record)
                data = handle.read(_EOCD64.size)
                if len(data) == _EOCD64.size and data[:4] == b"PK\x06\x06":
                    fields = _EOCD64.unpack(data)
                    counts.append(fields[7])
                    sizes.append(fields[8])
    if max(counts) > limits.entries:
        raise PackError(
            f"{path} declares {max(counts):,} entries, more than the {limits.entries:,} a pack may have",
            _BOMB_FIX, path=path,
        )
    if max(sizes) > limits.directory_bytes:
        raise PackError(
            f"{path} has a {_mib(max(sizes))} list of entries (central directory), more than a pack of "
            f"at most {limits.entries:,} files needs", _BOMB_FIX, path=path,
        )


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


def open_pack(path: str | Path, limits: ReadLimits = DEFAULT_LIMITS) -> PackSource:
    """The pack at *path*: a folder written by `expedition pack`, or its zip, read within *limits*."""
    path = Path(path)
    if path.is_dir():
        return FolderSource(path, limits)
    if path.is_file():
        if zipfile.is_zipfile(path):
            try:
                return ZipSource(path, limits)
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
