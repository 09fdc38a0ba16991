"""The project lock: one command at a time writes to an expedition.

Every write to ``expedition.yaml`` and to the project's stores (``data/``, ``schemas/``,
``findings/``, ``.expedition/``) happens while the writing process holds ``.expedition/lock``,
an operating-system file lock taken with the `filelock` library (``flock`` on POSIX). The kernel
releases it when the process ends, however it ends, so a killed command never leaves the
project locked. A second command waits for the lock (saying whom it waits for), and gives up
with `ProjectBusyError` after ``EXPEDITION_LOCK_TIMEOUT`` seconds (default 600; 0 gives up at
once, a negative number waits for ever): concurrent commands wait or fail, and none reports
success after losing another's work.

While it holds the lock a process names itself in ``.expedition/lock.json`` (process id, host,
command, start time) and removes that file when it lets go. Finding the file when the lock is
taken means the last holder died while writing: the project is then repaired before anything
else happens (`expedition._store.recover`: a multi-file commit it left half-done is finished,
its temporary files are removed). The lock is re-entrant within a process, so a library call
that locks may call another that locks.

filelock provides the lock itself; the re-entrancy across threads, the holder's record, the
waiting notice and the repair after a crash are the project's own, because they depend on what
the project stores.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from expedition._io import atomic_write_text, current_umask
from expedition.errors import ProjectBusyError

STATE_DIR = ".expedition"
LOCK_FILE = "lock"
INFO_FILE = "lock.json"
DEFAULT_TIMEOUT = 600.0
TIMEOUT_VARIABLE = "EXPEDITION_LOCK_TIMEOUT"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Holder:
    """This process's hold on one project's lock."""

    lock: Any
    threads: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    repaired: bool = False


_holders: dict[str, _Holder] = {}
_holders_guard = threading.Lock()
_wait_notice: Callable[[str], None] | None = None


def set_wait_notice(callback: Callable[[str], None] | None) -> None:
    """Call *callback* with a sentence when a command starts waiting for the lock (the CLI
    prints it on stderr)."""
    global _wait_notice
    _wait_notice = callback


def lock_timeout() -> float:
    """Seconds to wait for the lock: ``EXPEDITION_LOCK_TIMEOUT``, else 600; negative = for ever."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        return float(text)
    except ValueError:
        from expedition.errors import ConfigError

        raise ConfigError(
            f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds",
            f"set {TIMEOUT_VARIABLE} to a number (e.g. 60; 0 gives up at once, -1 waits for ever)",
        ) from None


def lock_path(root: str | Path) -> Path:
    return Path(root) / STATE_DIR / LOCK_FILE


def info_path(root: str | Path) -> Path:
    return Path(root) / STATE_DIR / INFO_FILE


def holder_info(root: str | Path) -> dict[str, Any] | None:
    """The record of the process that holds (or, if it died, last held) the lock, or None."""
    try:
        return json.loads(info_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "another expedition command"
    text = f"`{info.get('command') or 'expedition'}` (process {info.get('pid', '?')}"
    if info.get("host") and info["host"] != socket.gethostname():
        text += f" on {info['host']}"
    if info.get("started"):
        text += f", started {info['started']}"
    return text + ")"


def _key(root: Path) -> str:
    return str(root.resolve())


def _holder(root: Path) -> _Holder:
    key = _key(root)
    with _holders_guard:
        holder = _holders.get(key)
        if holder is None:
            from filelock import FileLock

            holder = _Holder(
                FileLock(str(lock_path(root)), mode=0o666 & ~current_umask(), thread_local=False)
            )
            _holders[key] = holder
        return holder


def holds_lock(root: str | Path) -> bool:
    """Whether this process (in any thread) holds *root*'s lock."""
    holder = _holders.get(_key(Path(root)))
    return holder is not None and holder.depth > 0


@contextlib.contextmanager
def project_lock(root: str | Path, what: str = "", *, timeout: float | None = None) -> Iterator[None]:
    """Hold the project lock of the expedition at *root* for the ``with`` block.

    *what* names the command for others who wait (default: this process's command line).
    Raises `ProjectBusyError` when the lock is not free within *timeout* seconds (default
    `lock_timeout()`).
    """
    root = Path(root)
    wait = lock_timeout() if timeout is None else timeout
    holder = _holder(root)
    if not holder.threads.acquire(timeout=wait if wait >= 0 else -1):
        raise _busy(root, wait, holder_info(root))
    try:
        if holder.depth == 0:
            _take(holder, root, what, wait)
        holder.depth += 1
        try:
            yield
        finally:
            holder.depth -= 1
            if holder.depth == 0:
                _let_go(holder, root)
    finally:
        holder.threads.release()


def locked(what: str) -> Callable[[F], F]:
    """Decorate ``fn(project, ...)`` to run holding *project*'s lock, on the configuration as
    it is on disk once the lock is held (another command may have changed it meanwhile)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(project: Any, *args: Any, **kwargs: Any) -> Any:
            with project_lock(project.root, what):
                return fn(project.reload(), *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _command(what: str) -> str:
    """How others waiting for the lock see this process: ``expedition data add`` from the
    command line, else *what* the library call does."""
    argv = list(sys.argv) if sys.argv else []
    if argv and Path(argv[0]).name in {"expedition", "__main__.py"}:
        words = [a for a in argv[1:] if not a.startswith("-")][:2]
        return " ".join(["expedition", *words])
    return f"{what or 'a write'} (from Python)"


def _take(holder: _Holder, root: Path, what: str, wait: float) -> None:
    from filelock import Timeout

    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    try:
        holder.lock.acquire(timeout=0)
    except Timeout:
        info = holder_info(root)
        if wait == 0:
            raise _busy(root, wait, info) from None
        if _wait_notice is not None:
            _wait_notice(f"Waiting for {describe_holder(info)} to finish writing to this expedition…")
        try:
            holder.lock.acquire(timeout=wait, poll_interval=0.05)
        except Timeout:
            raise _busy(root, wait, holder_info(root)) from None
    try:
        crashed = info_path(root).exists()
        atomic_write_text(
            info_path(root),
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": _command(what),
                    "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
                }
            )
            + "\n",
        )
        from expedition import _store

        _store.recover(root, sweep=crashed or not holder.repaired)
        holder.repaired = True
    except BaseException:
        with contextlib.suppress(OSError):
            info_path(root).unlink()
        holder.lock.release()
        raise


def _let_go(holder: _Holder, root: Path) -> None:
    try:
        with contextlib.suppress(FileNotFoundError):
            info_path(root).unlink()
    finally:
        holder.lock.release()


def _busy(root: Path, wait: float, info: dict[str, Any] | None) -> ProjectBusyError:
    waited = "is" if wait == 0 else f"was still writing after {wait:g} s"
    return ProjectBusyError(
        f"{describe_holder(info)} {waited} writing to this expedition, so this command did not "
        "start (nothing was changed)",
        f"wait for it to finish and run this command again; to wait longer, set "
        f"{TIMEOUT_VARIABLE}=SECONDS (-1 waits for as long as it takes)",
        path=lock_path(root),
    )
