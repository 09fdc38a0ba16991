"""Small file-system helpers shared by every layer: atomic writes, hashing, the tool's temp names.

Nothing here knows about expeditions. Every output the tool writes goes through these so a failed
command never leaves a half-written file or folder behind:

- a file is written under a temporary name beside its destination and renamed into place;
- a folder is built under a temporary name and switched into place in a way a later run can
  finish when the process is killed half-way (`atomic_dir`, `finish_install`);
- every temporary name is ``.NAME.PID-TOKEN.KIND`` (KIND ``tmp``, ``new`` or ``old``, see
  `TEMP_NAME`), so a later run can tell what a killed process left from a user's files and
  from the work of a process still running (`owner_alive`);
- files are created with mode 0666 and folders with 0777, less the user's umask, exactly as
  ``open()`` and ``mkdir`` do (``tempfile.mkstemp`` would make every file 0600, and a findings
  pack meant for sharing would be unreadable to the colleagues it is shared with).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20

#: The tool's temporary names: ``.NAME.PID-TOKEN.tmp`` (being written), ``.NAME.PID-TOKEN.new``
#: (a complete folder about to replace NAME) and ``.NAME.PID-TOKEN.old`` (the folder it replaced).
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-(?P<token>[0-9a-f]{8})\.(?P<kind>tmp|new|old)$")


def new_token() -> str:
    """``PID-RANDOM``: names this process's temporary files (see `TEMP_NAME`)."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def temp_path(dest: str | Path, token: str | None = None, kind: str = "tmp") -> Path:
    """The temporary name beside *dest* for *token* (a fresh one by default)."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.{token or new_token()}.{kind}"


def owner_alive(pid: int) -> bool:
    """Whether process *pid* (on this machine) still runs; this process counts as alive."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return True
    return True


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_only_mode() -> int:
    """0444 less the umask: how the tool leaves raw deliveries."""
    return 0o444 & ~current_umask()


def create_file(path: str | Path) -> int:
    """Create *path* (which must not exist) for writing; the umask decides its permissions."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk, where the system allows."""
    try:
        fd = os.open(path, os.O_RDONLY)  # folders too, on POSIX systems
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and folders on some systems) cannot be flushed this way
    finally:
        os.close(fd)


def remove_path(path: str | Path) -> None:
    """Remove a file or a folder tree; nothing when it is already gone."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


#: a file changed less than this long before it was hashed may change again within the file
#: system's timestamp resolution unseen: its hash is not remembered (git's "racily clean")
_RACY_SECONDS = 2.0


def sha256_remembered(path: str | Path, state_dir: str | Path) -> str:
    """`sha256_file`, remembered between commands for a file whose inode, size, modification
    and change times are all as they were when it was hashed.

    For files the tool checks on every command (a validated dataset, a derived one): re-hashing
    a large file each time costs more than the command's own work. The change time (``ctime``)
    is set by the kernel on every write, rename or ``touch`` and cannot be set back by a user, so
    an edit is always seen, even one that restores the size and modification time. A file
    hashed within two seconds of its last change is not remembered (an edit within the
    timestamp resolution could otherwise go unseen). Windows, whose ``st_ctime`` is the creation
    time, always re-hashes. The store (``.expedition/cache/hashes.json``) holds hashes only,
    never data; if it is damaged or missing the file is hashed again.
    """
    import json
    import time

    path = Path(path)
    if os.name == "nt":
        return sha256_file(path)
    info = path.stat()
    stamp = [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    store = Path(state_dir) / "cache" / "hashes.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    key = str(path.resolve())
    entry = known.get(key)
    if isinstance(entry, dict) and entry.get("stat") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = sha256_file(path)
    if time.time() - info.st_ctime_ns / 1e9 >= _RACY_SECONDS and path.stat().st_ctime_ns == info.st_ctime_ns:
        known = {k: v for k, v in known.items() if k != key and Path(k).exists()}
        known[key] = {"stat": stamp, "sha256": digest}
        with contextlib.suppress(OSError):
            store.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(store, json.dumps(known, indent=0) + "\n")
    return digest


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_hashing(source: str | Path, dest: str | Path) -> tuple[str, int]:
    """Copy *source* to the new file *dest* in 1 MiB pieces; return (SHA-256, bytes) of the copy.

    The hash is of the bytes written, so it describes the copy even if *source* changes while
    it is read. *dest* is removed again when the copy fails (a full disk leaves nothing behind).
    """
    digest = hashlib.sha256()
    size = 0
    fd = create_file(dest)
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as out:
            for block in iter(lambda: src.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
                size += len(block)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        raise
    return digest.hexdigest(), size


def write_new_file(path: str | Path, data: bytes, *, durable: bool = False) -> None:
    """Write *data* to the new file *path*; on any failure remove what was written."""
    fd = create_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = False) -> Path:
    """Write *data* to a temporary file beside *path*, then rename it into place.

    With *durable* the data reach the disk before the rename, so a power cut leaves the old
    file or the new one, never an empty one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    write_new_file(tmp, data, durable=durable)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | Path, text: str, *, durable: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def make_dir(path: str | Path) -> Path:
    """Create the new folder *path*; the umask decides its permissions."""
    os.mkdir(path, 0o777)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(dest: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside *dest*; on success switch it into place as *dest*.

    Unless *replace* is true, *dest* must not exist. On any failure the temporary folder is
    removed, so *dest* either appears complete or keeps its old content. When the process is
    killed while the folder is being switched, the next run finishes the switch
    (`finish_install`), so *dest* then holds the new content whole.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    token = new_token()
    tmp = make_dir(temp_path(dest, token))
    try:
        yield tmp
        if dest.exists() and not replace:
            raise FileExistsError(dest)
        new = temp_path(dest, token, "new")
        os.rename(tmp, new)  # from here on the new content is complete and will be installed
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finish_install(new)


def finish_install(new: str | Path) -> Path:
    """Put the complete folder *new* (``.NAME.PID-TOKEN.new``) in place of ``NAME``.

    Safe to repeat after being interrupted at any point: the old folder is first renamed to
    ``.NAME.PID-TOKEN.old``, the new one renamed to NAME, then the old one removed.
    """
    new = Path(new)
    match = TEMP_NAME.match(new.name)
    if match is None or match["kind"] != "new":
        raise ValueError(f"{new} is not a folder waiting to be installed")
    dest = new.parent / match["name"]
    old = new.parent / f".{match['name']}.{match['pid']}-{match['token']}.old"
    if dest.exists() or dest.is_symlink():
        if old.exists():
            remove_path(old)  # an earlier attempt stopped after moving it: this is a newer copy
        os.rename(dest, old)
    os.rename(new, dest)
    remove_path(old)
    return dest
