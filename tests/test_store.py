"""Several files as one unit: interrupted at any point, the project holds the old state or the
new one, never a mix; leftovers of dead processes go, a live process's work and the user's own
files stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition import _io, _store
from expedition._lock import project_lock
from expedition._store import Unit, recover


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def snapshot(root: Path) -> dict[str, bytes]:
    """The project's files, without the lock's own."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(".expedition/"):
            out[rel] = path.read_bytes()
    return out


def temp_names(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if _io.TEMP_NAME.match(p.name)]


names = st.sampled_from(["a.parquet", "b.json", "c.html", "sub/d.md", "sub/deeper/e.csv"])
contents = st.binary(min_size=0, max_size=64)


@st.composite
def states(draw):
    files = draw(st.dictionaries(names, contents, min_size=1, max_size=5))
    folder = draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(["x.txt", "y/z.txt"]), contents,
                                                       min_size=1, max_size=2)))
    return files, folder


def write_state(root: Path, files: dict[str, bytes], folder: dict[str, bytes] | None) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    if folder is not None:
        for rel, data in folder.items():
            (root / "pack" / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / "pack" / rel).write_bytes(data)


def expected(root: Path, old: dict, new: tuple) -> dict[str, bytes]:
    files, folder = new
    out = {k: v for k, v in old.items() if not (folder is not None and k.startswith("pack/"))}
    out.update(files)
    if folder is not None:
        out.update({f"pack/{k}": v for k, v in folder.items()})
    return out


def commit(root: Path, new: tuple) -> None:
    files, folder = new
    with Unit(root, "test") as unit:
        for rel, data in files.items():
            unit.write_bytes(root / rel, data)
        if folder is not None:
            staged = unit.folder(root / "pack")
            for rel, data in folder.items():
                (staged / rel).parent.mkdir(parents=True, exist_ok=True)
                (staged / rel).write_bytes(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=states(), new=states(), crash_at=st.integers(0, 12))
def test_a_commit_interrupted_at_any_rename_ends_old_or_new(tmp_path_factory, monkeypatch, old, new, crash_at):
    root = tmp_path_factory.mktemp("unit")
    write_state(root, *old)
    before = snapshot(root)
    after = expected(root, before, new)
    renames = {"n": 0}
    real_rename, real_replace = os.rename, os.replace

    def counting(real):
        def wrapper(src, dst):
            if "/journal/" not in os.fspath(dst) and ".expedition" not in os.fspath(dst):
                renames["n"] += 1
                if renames["n"] > crash_at:
                    raise Killed
            return real(src, dst)
        return wrapper

    monkeypatch.setattr(os, "rename", counting(real_rename))
    monkeypatch.setattr(os, "replace", counting(real_replace))
    try:
        commit(root, new)
        finished = True
    except Killed:
        finished = False
    monkeypatch.setattr(os, "rename", real_rename)
    monkeypatch.setattr(os, "replace", real_replace)
    if finished:
        assert snapshot(root) == after
    else:
        # the process died inside the commit (the journal was written): the next start finishes it
        assert _store.has_journal(root)
        recover(root)
        assert snapshot(root) == after
    assert temp_names(root) == [] and not _store.has_journal(root)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=states(), new=states())
def test_a_unit_that_fails_before_its_journal_keeps_the_old_state(tmp_path_factory, old, new):
    root = tmp_path_factory.mktemp("unit")
    write_state(root, *old)
    before = snapshot(root)
    files, folder = new
    with pytest.raises(RuntimeError):
        with Unit(root, "test") as unit:
            for rel, data in files.items():
                unit.write_bytes(root / rel, data)
            if folder is not None:
                unit.folder(root / "pack")
            raise RuntimeError("the step failed")
    assert snapshot(root) == before and temp_names(root) == []


def test_staged_outputs_of_a_dead_process_are_removed_and_the_old_state_kept(tmp_path):
    (tmp_path / "data" / "interim").mkdir(parents=True)
    kept = tmp_path / "data" / "interim" / "r.parquet"
    kept.write_bytes(b"old")
    pid = dead_pid()
    staged = tmp_path / "data" / "interim" / f".r.parquet.{pid}-0123abcd.tmp"
    staged.write_bytes(b"half")
    staged_dir = tmp_path / "findings" / f".pack-2026.{pid}-0123abcd.tmp"
    (staged_dir / "tables").mkdir(parents=True)
    with project_lock(tmp_path, "test"):
        pass
    assert kept.read_bytes() == b"old" and not staged.exists() and not staged_dir.exists()


def test_a_folder_switch_killed_half_way_is_finished(tmp_path):
    pid = dead_pid()
    dest = tmp_path / ".expedition" / "findings" / "overview"
    dest.mkdir(parents=True)
    (dest / "finding.json").write_text("old")
    new = dest.parent / f".overview.{pid}-0123abcd.new"
    new.mkdir()
    (new / "finding.json").write_text("new")
    os.rename(dest, dest.parent / f".overview.{pid}-0123abcd.old")  # killed right after this
    recover(tmp_path)
    assert (dest / "finding.json").read_text() == "new" and temp_names(tmp_path) == []


def test_a_live_process_and_the_users_files_are_left_alone(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "data").mkdir()
        theirs = tmp_path / "data" / f".r.parquet.{live.pid}-0123abcd.tmp"
        mine = [tmp_path / "data" / n for n in (".notes.tmp", "r.parquet.1-0123abcd.tmp",
                                                  ".r.parquet.12-xyz.tmp", ".hidden")]
        for path in [theirs, *mine]:
            path.write_bytes(b"keep me")
        recover(tmp_path)
        assert theirs.exists() and all(p.exists() for p in mine)
    finally:
        live.kill()
        live.wait()


def test_a_damaged_journal_was_never_committed(tmp_path):
    journal = _store.journal_dir(tmp_path)
    journal.mkdir(parents=True)
    (journal / "1-0123abcd.json").write_text('{"entries": [')
    (tmp_path / "a.txt").write_text("old")
    recover(tmp_path)
    assert (tmp_path / "a.txt").read_text() == "old" and not _store.has_journal(tmp_path)


def test_a_unit_writes_each_destination_once(tmp_path):
    with pytest.raises(ValueError, match="twice"):
        with Unit(tmp_path, "test") as unit:
            unit.write_bytes(tmp_path / "a", b"1")
            unit.write_bytes(tmp_path / "a", b"2")
    assert not (tmp_path / "a").exists() and temp_names(tmp_path) == []
