"""The project lock: concurrent commands wait (or fail saying why) and never lose each other's work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from _text import flat

from expedition._io import TEMP_NAME, sha256_file
from expedition._lock import holder_info, info_path, project_lock
from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import ConfigError, ProjectBusyError
from expedition.project import Project


def expedition(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "expedition", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})}, **kwargs,
    )


def deliveries(root: Path, dataset: str) -> list:
    return Project.load(root).config.datasets[dataset].deliveries


def small_files(folder: Path, count: int) -> list[Path]:
    """*count* different small deliveries with the same columns."""
    files = []
    for i in range(count):
        path = folder / f"delivery-{i}.csv"
        path.write_text("id,value\n" + "".join(f"{i}-{j},{j * (i + 1)}\n" for j in range(50)))
        files.append(path)
    return files


@pytest.mark.slow
def test_six_data_adds_at_once_are_all_registered(project_dir, tmp_path):
    files = small_files(tmp_path, 6)
    procs = [expedition("data", "add", str(f), "--name", "referrals", "--project", str(project_dir))
             for f in files]
    results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 6, [err for _, _, err in results]
    registered = deliveries(project_dir, "referrals")
    assert sorted(d.version for d in registered) == [1, 2, 3, 4, 5, 6]
    assert sorted(d.sha256 for d in registered) == sorted(sha256_file(f) for f in files)
    for d in registered:
        assert sha256_file(project_dir / d.file) == d.sha256
    assert not [p for p in project_dir.rglob("*") if TEMP_NAME.match(p.name)]
    assert not info_path(project_dir).exists()


def test_threads_adding_at_once_lose_nothing(project, tmp_path):
    files = small_files(tmp_path, 5)
    errors: list[BaseException] = []

    def add(path: Path) -> None:
        try:
            add_dataset(project, path, "referrals")  # each thread holds the same stale Project
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(d.version for d in deliveries(project.root, "referrals")) == [1, 2, 3, 4, 5]


def test_config_changes_from_stale_copies_are_all_kept(project):
    def declare(name: str):
        def change(doc):
            doc.setdefault("datasets", {})
            doc["datasets"][name] = {"description": name, "deliveries": []}
        return change

    threads = [threading.Thread(target=update_config, args=(project.config_path, declare(f"d{i}")))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(Project.load(project.root).config.datasets) == sorted(f"d{i}" for i in range(8))


HOLD = textwrap.dedent(
    """
    import sys
    from expedition._lock import project_lock
    with project_lock(sys.argv[1], "holding the lock in a test"):
        print("held", flush=True)
        sys.stdin.readline()  # until the test says to let go (or kills this process)
    """
)


def hold_lock(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".expedition" not in p.parts}


def test_a_busy_project_fails_clearly_and_changes_nothing(project_dir, referrals_csv):
    holder = hold_lock(project_dir)
    try:
        before = tree(project_dir)
        busy = expedition("data", "add", str(referrals_csv), "--project", str(project_dir),
                          env={"EXPEDITION_LOCK_TIMEOUT": "0.5", "COLUMNS": "200"})
        _, err = busy.communicate(timeout=120)
        assert busy.returncode == 2, err
        assert f"process {holder.pid}" in flat(err) and "holding the lock in a test" in flat(err)
        assert "EXPEDITION_LOCK_TIMEOUT" in flat(err) and "Traceback" not in err
        assert tree(project_dir) == before
        assert holder_info(project_dir)["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_command_says_whom_it_waits_for_then_succeeds(project_dir, referrals_csv):
    holder = hold_lock(project_dir)
    waiting = expedition("data", "add", str(referrals_csv), "--name", "referrals",
                         "--project", str(project_dir), env={"COLUMNS": "200"})
    notice = ""
    while "writing to this expedition" not in flat(notice):  # printed once it finds the lock held
        line = waiting.stderr.readline()
        assert line, notice
        notice += line
    assert "Waiting for" in notice and f"process {holder.pid}" in flat(notice)
    assert "referrals" not in Project.load(project_dir).config.datasets  # it waits: nothing yet
    holder.communicate("go\n", timeout=60)  # the holder lets go
    _, err = waiting.communicate(timeout=180)
    assert waiting.returncode == 0, notice + err
    assert len(deliveries(project_dir, "referrals")) == 1


def test_a_killed_holder_frees_the_lock_and_its_mess_is_cleaned(project_dir, referrals_csv):
    holder = hold_lock(project_dir)
    leftover = project_dir / "data" / "interim" / f".x.parquet.{holder.pid}-0123abcd.tmp"
    leftover.write_bytes(b"half a file")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert info_path(project_dir).exists()  # it died holding the lock
    with project_lock(project_dir, "after a crash", timeout=5):
        assert not leftover.exists()
    assert not info_path(project_dir).exists()


def test_the_lock_is_reentrant_and_released(project_dir):
    with project_lock(project_dir, "outer"):
        with project_lock(project_dir, "inner"):
            assert holder_info(project_dir)["pid"] == os.getpid()
        assert info_path(project_dir).exists()
    assert not info_path(project_dir).exists()
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys; from expedition._lock import project_lock\n"
         "with project_lock(sys.argv[1], 'probe', timeout=0): print('free')", str(project_dir)],
        capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip() == "free", probe.stderr


def test_timeout_zero_gives_up_at_once(project_dir):
    holder = hold_lock(project_dir)
    try:
        started = time.monotonic()
        with pytest.raises(ProjectBusyError, match=f"process {holder.pid}"):
            with project_lock(project_dir, "impatient", timeout=0):
                pass
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()


def test_a_bad_timeout_setting_is_a_configuration_error(project_dir, monkeypatch):
    monkeypatch.setenv("EXPEDITION_LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="EXPEDITION_LOCK_TIMEOUT"):
        with project_lock(project_dir, "x"):
            pass


def test_the_holder_record_names_the_command(project_dir, referrals_csv):
    holder = hold_lock(project_dir)
    try:
        info = json.loads(info_path(project_dir).read_text())
        assert info["pid"] == holder.pid and info["command"].startswith("holding the lock")
    finally:
        holder.kill()
        holder.wait()
