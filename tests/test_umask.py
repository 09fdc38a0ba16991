"""Written files follow the user's umask, as `open()` and `mkdir` do: a pack meant for sharing is
readable by whoever the umask allows, and raw copies stay read-only."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from expedition._io import atomic_dir, atomic_write_text
from expedition.project import Project


@pytest.fixture(params=[0o022, 0o027, 0o077, 0o002], ids=lambda m: f"umask-{m:03o}")
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writes_follow_the_umask(tmp_path, umask):
    written = atomic_write_text(tmp_path / "a.txt", "x")
    assert mode(written) == 0o666 & ~umask
    with atomic_dir(tmp_path / "folder") as tmp:
        (tmp / "inner.txt").write_text("y")
    assert mode(tmp_path / "folder") == 0o777 & ~umask


def test_project_outputs_follow_the_umask(project_dir, tmp_path, umask, validated):
    from expedition.datasets import add_dataset
    from expedition.examples.referrals import write

    project = Project.load(project_dir)
    add_dataset(project, write(tmp_path / "r.csv", rows=200, seed=3), "referrals")
    project = validated(project.reload(), "referrals")
    delivery = project.config.datasets["referrals"].latest
    assert mode(project.root / delivery.file) == 0o444 & ~umask  # read-only, as the umask allows
    assert mode(project.config_path) == 0o666 & ~umask
    for path in (project.interim_dir / "referrals.parquet", project.quarantine_dir / "referrals.parquet",
                 project.quality_dir("referrals") / "validation.json",
                 project.quality_dir("referrals") / "validation.html"):
        assert mode(path) == 0o666 & ~umask, path
    assert mode(project.quality_dir("referrals")) == 0o777 & ~umask


def test_a_pack_follows_the_umask(project_dir, referrals_csv, umask):
    from _packs import make_packable

    from expedition.pack import build_pack

    project = make_packable(Project.load(project_dir), referrals_csv)
    result = build_pack(project)
    assert mode(result.zip) == 0o666 & ~umask
    assert mode(result.path) == 0o777 & ~umask
    for path in result.path.rglob("*"):
        assert mode(path) == (0o777 if path.is_dir() else 0o666) & ~umask, path
    with zipfile.ZipFile(result.zip) as archive:  # inside the zip: 0644 always, for reproducibility
        assert {(i.external_attr >> 16) & 0o777 for i in archive.infolist()} == {0o644}
