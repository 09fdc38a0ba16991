"""Commands killed with SIGKILL part-way leave the last complete state, old or new, and the next
run cleans up and succeeds.

Each command runs as a real process on a mid-size generated delivery (tens of thousands of rows)
through ``_slowfs.py``, which slows every rename down and can kill the process between any two
of them; other runs are killed after a random (seeded) delay instead. The state is then read as
every command reads it (`Project.load`), checked to be one whole state, and the command is run
again to completion.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from expedition._io import TEMP_NAME, sha256_file
from expedition.project import Project

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).with_name("_slowfs.py")
KILLED = -signal.SIGKILL


def run(args: list[str], *, delay: float = 0.0, die_after_journal: int = -1,
        env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `expedition ARGS` through the slow-disk harness and wait for it."""
    return subprocess.run(
        [sys.executable, str(HARNESS), str(delay), str(die_after_journal), *args],
        capture_output=True, text=True, timeout=300, env=env,
    )


def run_killed_after(args: list[str], seconds: float, *, delay: float = 0.0) -> int:
    """Start `expedition ARGS`, SIGKILL it after *seconds* (if still running); its exit code."""
    proc = subprocess.Popen(
        [sys.executable, str(HARNESS), str(delay), "-1", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


def timed(args: list[str], *, delay: float = 0.0) -> float:
    started = time.perf_counter()
    done = run(args, delay=delay)
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - started


def leftovers(root: Path) -> list[str]:
    """Anything a killed command may leave: temporary names, journals, a holder record."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if TEMP_NAME.match(name) or rel.startswith(".expedition/journal/") or rel == ".expedition/lock.json":
                found.append(rel)
    return sorted(found)


def copy_project(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest, symlinks=True)
    return dest


def kill_points(seed: int, span: float, count: int) -> list[float]:
    rng = random.Random(seed)
    return sorted(rng.uniform(0.2, span) for _ in range(count))


# --------------------------------------------------------------------------- validate


@pytest.fixture(scope="module")
def validate_base(tmp_path_factory) -> Path:
    """v1 (40,000 rows) validated; v2 (50,000 rows, five bad ones) added but not validated."""
    from expedition.datasets import add_dataset
    from expedition.examples.referrals import write
    from expedition.scaffold import new_project
    from expedition.contract import draft_contract
    from expedition.validation import validate_dataset

    folder = tmp_path_factory.mktemp("kill-validate")
    root = new_project("killed", output_dir=folder, no_input=True)
    v1 = write(folder / "v1.csv", rows=40_000, seed=1)
    v2 = write(folder / "v2.csv", rows=50_000, seed=2, bad_rows=True)
    project = Project.load(root)
    add_dataset(project, v1, "referrals")
    draft_contract(project, "referrals")
    validate_dataset(project, "referrals")
    add_dataset(project, v2, "referrals")
    return root


def validation_state(root: Path) -> int:
    """The delivery whose validation outputs the project holds, having checked that valid
    rows, quarantine, record and report all come from that one validation."""
    Project.load(root)  # as every command does first: finishes an interrupted commit
    record = json.loads((root / ".expedition/quality/referrals/validation.json").read_text())
    version = record["delivery"]["version"]
    outputs = record["outputs"]
    assert sha256_file(root / outputs["valid"]["file"]) == outputs["valid"]["sha256"]
    assert sha256_file(root / outputs["quarantine"]["file"]) == outputs["quarantine"]["sha256"]
    html = (root / ".expedition/quality/referrals/validation.html").read_text()
    assert f"Delivery v{version} (" in html
    assert f"{record['report']['rows']['read']:,} rows read" in html
    return version


VALIDATE = ["validate", "referrals", "--max-invalid", "100", "--project"]


@pytest.mark.parametrize("die_after_journal", [0, 1, 3])
def test_validate_killed_between_renames(validate_base, tmp_path, die_after_journal):
    root = copy_project(validate_base, tmp_path / "p")
    done = run([*VALIDATE, str(root)], delay=0.05, die_after_journal=die_after_journal)
    assert done.returncode == KILLED, done.stderr
    # the journal is the commit: before it the old outputs stay, after it the new ones appear
    assert validation_state(root) == (1 if die_after_journal == 0 else 2)
    if die_after_journal == 0:
        assert leftovers(root), "the killed run left its staged outputs for the next run to remove"
    again = run([*VALIDATE, str(root)])
    assert again.returncode == 0, again.stderr
    assert validation_state(root) == 2
    assert leftovers(root) == []


def test_validate_killed_at_random_points(validate_base, tmp_path):
    span = timed([*VALIDATE, str(copy_project(validate_base, tmp_path / "timing"))], delay=0.1)
    for i, seconds in enumerate(kill_points(14, span, 2)):
        root = copy_project(validate_base, tmp_path / f"p{i}")
        code = run_killed_after([*VALIDATE, str(root)], seconds, delay=0.1)
        assert code in (KILLED, 0)
        assert validation_state(root) in (1, 2)
        again = run([*VALIDATE, str(root)])
        assert again.returncode == 0, again.stderr
        assert validation_state(root) == 2 and leftovers(root) == []


# --------------------------------------------------------------------------- pack


@pytest.fixture(scope="module")
def pack_base(tmp_path_factory) -> Path:
    """A packed expedition whose findings then changed: the next pack differs from the last."""
    from _packs import district_finding, make_packable, model_finding

    from expedition.examples.referrals import write
    from expedition.finding import save_finding
    from expedition.pack import build_pack
    from expedition.scaffold import new_project

    folder = tmp_path_factory.mktemp("kill-pack")
    root = new_project("killed", output_dir=folder, no_input=True)
    csv = write(folder / "referrals.csv", rows=20_000, seed=3)
    project = make_packable(Project.load(root), csv)
    build_pack(project)
    changed = district_finding(project).with_(title="Where referrals come from, revised")
    save_finding(changed, project.results_dir / changed.id)
    save_finding(model_finding(project), project.results_dir / "risk-model")
    return root


def pack_state(root: Path) -> str:
    """"old" or "new": which build the pack folder and zip both come from (checked equal)."""
    from expedition.pack import verify_pack

    Project.load(root)
    packs = [p for p in (root / "findings").iterdir() if not p.name.startswith(".")]  # leftovers
    folders = [p for p in packs if p.is_dir()]
    zips = [p for p in packs if p.suffix == ".zip"]
    assert len(folders) == 1 and len(zips) == 1, sorted(p.name for p in (root / "findings").iterdir())
    folder_manifest = (folders[0] / "manifest.json").read_bytes()
    with zipfile.ZipFile(zips[0]) as archive:
        zip_manifest = archive.read(f"{folders[0].name}/manifest.json")
    assert folder_manifest == zip_manifest, "the pack folder and its zip come from different builds"
    assert verify_pack(folders[0]).ok and verify_pack(zips[0]).ok
    return "new" if b"revised" in folder_manifest else "old"


PACK = ["pack", "--force", "--project"]


@pytest.mark.parametrize("die_after_journal", [0, 2, 3])
def test_pack_killed_between_renames(pack_base, tmp_path, die_after_journal):
    root = copy_project(pack_base, tmp_path / "p")
    done = run([*PACK, str(root)], delay=0.05, die_after_journal=die_after_journal)
    assert done.returncode == KILLED, done.stderr
    assert pack_state(root) == ("old" if die_after_journal == 0 else "new")
    if die_after_journal == 0:
        assert leftovers(root), "the killed run left its staged outputs for the next run to remove"
    again = run([*PACK, str(root)])
    assert again.returncode == 0, again.stderr
    assert pack_state(root) == "new" and leftovers(root) == []


def test_pack_killed_at_random_points(pack_base, tmp_path):
    span = timed([*PACK, str(copy_project(pack_base, tmp_path / "timing"))], delay=0.15)
    for i, seconds in enumerate(kill_points(7, span, 2)):
        root = copy_project(pack_base, tmp_path / f"p{i}")
        code = run_killed_after([*PACK, str(root)], seconds, delay=0.15)
        assert code in (KILLED, 0)
        assert pack_state(root) in ("old", "new")
        again = run([*PACK, str(root)])
        assert again.returncode == 0, again.stderr
        assert pack_state(root) == "new" and leftovers(root) == []


# --------------------------------------------------------------------------- data add


@pytest.fixture(scope="module")
def add_base(tmp_path_factory) -> tuple[Path, Path]:
    """An expedition with one delivery, and a mid-size second delivery to add."""
    from expedition.datasets import add_dataset
    from expedition.examples.referrals import write
    from expedition.scaffold import new_project

    folder = tmp_path_factory.mktemp("kill-add")
    root = new_project("killed", output_dir=folder, no_input=True)
    add_dataset(Project.load(root), write(folder / "v1.csv", rows=2_000, seed=1), "referrals")
    return root, write(folder / "v2.csv", rows=100_000, seed=2)


def registration_state(root: Path, delivery: Path) -> str:
    """"old" (v2 not registered, no copy of it in data/raw) or "new" (registered, and its
    read-only copy holds exactly the registered bytes)."""
    project = Project.load(root)
    deliveries = project.config.datasets["referrals"].deliveries
    copies = sorted(
        p.relative_to(root).as_posix()
        for p in (root / "data/raw").rglob("*")
        if p.is_file() and not TEMP_NAME.match(p.name) and p.name != ".gitkeep"
    )
    if len(deliveries) == 1:
        assert copies == [deliveries[0].file]
        return "old"
    assert [d.version for d in deliveries] == [1, 2]
    assert copies == [d.file for d in deliveries]
    assert sha256_file(root / deliveries[1].file) == deliveries[1].sha256 == sha256_file(delivery)
    assert not os.stat(root / deliveries[1].file).st_mode & 0o222
    return "new"


@pytest.mark.parametrize("die_after_journal", [0, 1, 2])
def test_data_add_killed_between_renames(add_base, tmp_path, die_after_journal):
    base, delivery = add_base
    root = copy_project(base, tmp_path / "p")
    args = ["data", "add", str(delivery), "--name", "referrals", "--project", str(root)]
    done = run(args, delay=0.05, die_after_journal=die_after_journal)
    assert done.returncode == KILLED, done.stderr
    assert registration_state(root, delivery) == ("old" if die_after_journal == 0 else "new")
    if die_after_journal == 0:
        assert leftovers(root), "the killed run left its staged copy for the next run to remove"
    again = run(args)
    assert again.returncode == 0, again.stderr
    assert registration_state(root, delivery) == "new" and leftovers(root) == []
    assert re.search(r"Already registered|New version", again.stdout)


def test_data_add_killed_at_random_points(add_base, tmp_path):
    base, delivery = add_base
    args = ["data", "add", str(delivery), "--name", "referrals", "--project"]
    span = timed([*args, str(copy_project(base, tmp_path / "timing"))], delay=0.1)
    for i, seconds in enumerate(kill_points(3, span, 2)):
        root = copy_project(base, tmp_path / f"p{i}")
        code = run_killed_after([*args, str(root)], seconds, delay=0.1)
        assert code in (KILLED, 0)
        assert registration_state(root, delivery) in ("old", "new")
        again = run([*args, str(root)])
        assert again.returncode == 0, again.stderr
        assert registration_state(root, delivery) == "new" and leftovers(root) == []
