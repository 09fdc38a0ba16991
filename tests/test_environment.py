"""A full disk, a refused permission, a read-only folder or a terminal that cannot show the output
is the machine's problem, not a bug: exit 2 with what to do, and no partial file left behind."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _text import flat
from hypothesis import given
from hypothesis import strategies as st

from expedition._io import TEMP_NAME
from expedition.errors import EXIT_USAGE, EnvironmentProblem, environment_error
from expedition.project import Project

# --------------------------------------------------------------------------- the mapping

MAPPED = {
    errno.ENOSPC: "disk is full",
    errno.EDQUOT: "disk is full",
    errno.EFBIG: "file-size limit",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
}


@given(code=st.sampled_from(sorted(MAPPED)), name=st.text(min_size=1, max_size=30))
def test_each_environment_errno_becomes_exit_2_with_a_fix(code, name):
    problem = environment_error(OSError(code, os.strerror(code), name))
    assert isinstance(problem, EnvironmentProblem) and problem.exit_code == EXIT_USAGE
    assert MAPPED[code] in problem.what and problem.fix
    assert problem.path == Path(name)  # the file the system named, as a path


@given(code=st.sampled_from(sorted(MAPPED)))
def test_polars_reports_of_the_same_errors_are_recognised(code):
    import polars as pl

    raised = pl.exceptions.ComputeError(f"parquet: underlying IO error: {os.strerror(code)} (os error {code})")
    problem = environment_error(raised)
    assert problem is not None and MAPPED[code] in problem.what


@given(code=st.sampled_from([errno.ENOENT, errno.EINVAL, errno.EBADF, errno.EISDIR, errno.ENOTDIR]))
def test_other_os_errors_stay_bugs(code):
    assert environment_error(OSError(code, os.strerror(code))) is None


def test_an_environment_error_behind_another_is_found():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("writing failed") from exc
    except RuntimeError as outer:
        assert environment_error(outer) is not None


def test_a_unicode_error_that_is_not_about_output_stays_a_bug():
    try:
        "café".encode("ascii")
    except UnicodeEncodeError as exc:
        encodings = {getattr(s, "encoding", "") for s in (sys.stdout, sys.stderr)}
        if not any("ascii" in (e or "").lower() for e in encodings):
            assert environment_error(exc) is None


# --------------------------------------------------------------------------- through the CLI


def project_files(root: Path) -> dict[str, bytes]:
    """Every file of the project with its bytes, but the lock's own and the figure cache (whose
    files are each complete or absent)."""
    return {
        rel: p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and (rel := p.relative_to(root).as_posix()) != ".expedition/lock"
        and not rel.startswith(".expedition/cache/")
    }


def temp_names(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if TEMP_NAME.match(p.name)]


def test_permission_denied_mid_command_is_exit_2_not_a_bug(cli, project_dir, referrals_csv, monkeypatch):
    import expedition.datasets

    def refused(source, dest):
        Path(dest).write_bytes(b"partial")
        raise PermissionError(errno.EACCES, "Permission denied", str(dest))

    monkeypatch.setattr(expedition.datasets, "copy_hashing", refused)
    before = project_files(project_dir)
    result = cli("data", "add", str(referrals_csv), "-p", str(project_dir))
    assert result.exit_code == 2, result.output
    assert "permission denied" in flat(result.stderr) and "chmod" in flat(result.stderr)
    assert "bug" not in result.stderr
    assert project_files(project_dir) == before and temp_names(project_dir) == []


def test_a_full_disk_while_writing_valid_rows_keeps_the_old_outputs(cli, project_dir, tmp_path, monkeypatch):
    import polars as pl

    from expedition.examples.referrals import write

    p = str(project_dir)
    assert cli("data", "add", str(write(tmp_path / "v1.csv", rows=300, seed=1)), "--name", "r", "-p", p).exit_code == 0
    assert cli("schema", "infer", "r", "-p", p).exit_code == 0
    assert cli("validate", "r", "-p", p).exit_code == 0
    assert cli("data", "add", str(write(tmp_path / "v2.csv", rows=500, seed=2)), "--name", "r", "-p", p).exit_code == 0
    before = project_files(project_dir)
    real = pl.collect_all

    def disk_fills(queries, *args, **kwargs):
        """The streaming pass that writes the valid and quarantined rows runs, then the disk
        fills: the valid rows' file is left cut short, as a full disk leaves it."""
        done = real(queries, *args, **kwargs)
        staged = [f for f in (project_dir / "data" / "interim").glob("*.tmp") if f.stat().st_size]
        if staged:
            staged[0].write_bytes(staged[0].read_bytes()[: staged[0].stat().st_size // 2])
            raise pl.exceptions.ComputeError(
                "parquet: underlying IO error: No space left on device (os error 28)")
        return done

    monkeypatch.setattr(pl, "collect_all", disk_fills)
    result = cli("validate", "r", "-p", p)
    assert result.exit_code == 2, result.output
    assert "disk is full" in flat(result.stderr) and "free some space" in flat(result.stderr)
    after = project_files(project_dir)
    assert {k: v for k, v in after.items() if k != ".expedition/history.jsonl"} == {
        k: v for k, v in before.items() if k != ".expedition/history.jsonl"}
    assert temp_names(project_dir) == []


LIMITED = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    sys.argv = ["expedition", *sys.argv[2:]]
    from expedition.cli import main
    main()
    """
)


def run_limited(limit: int, *args: str) -> subprocess.CompletedProcess:
    """The CLI in a process that may write no file larger than *limit* bytes."""
    return subprocess.run([sys.executable, "-c", LIMITED, str(limit), *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.slow
def test_file_size_limits_leave_no_partial_file(tmp_path):
    """A real limit, enforced by the kernel part-way through each write: data add (the raw
    copy), validate (the Parquet files) and pack (the pack's files and zip)."""
    from _packs import make_packable

    from expedition.examples.referrals import write
    from expedition.scaffold import new_project
    from expedition.contract import draft_contract

    root = new_project("limited", output_dir=tmp_path, no_input=True)
    big = write(tmp_path / "big.csv", rows=20_000, seed=4)  # about 5 MB
    small = write(tmp_path / "small.csv", rows=3_000, seed=5)
    project = make_packable(Project.load(root), small)
    draft_contract(project, "referrals")

    for limit, args in [
        (1 << 20, ["data", "add", str(big), "--name", "big"]),
        (64 << 10, ["validate", "referrals"]),
        (8 << 10, ["pack"]),
    ]:
        before = project_files(root)
        done = run_limited(limit, *args, "-p", str(root))
        assert done.returncode == 2, (args, done.stderr)
        assert "file-size limit" in flat(done.stderr) and "bug" not in done.stderr, done.stderr
        after = project_files(root)
        assert {k: v for k, v in after.items() if k != ".expedition/history.jsonl"} == {
            k: v for k, v in before.items() if k != ".expedition/history.jsonl"}, args
        assert temp_names(root) == [], args


# --------------------------------------------------------------------------- a real small disk

IN_NAMESPACE = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys
    disk, base, big = sys.argv[1:4]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk], check=True)
    root = os.path.join(disk, "project")
    shutil.copytree(base, root)
    env = {**os.environ, "COLUMNS": "200"}
    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "expedition", *args, "-p", root],
                              capture_output=True, text=True, env=env)
        return {"code": done.returncode, "stderr": done.stderr}
    def files():
        out = []
        for folder, dirs, names in os.walk(root):
            out += [os.path.relpath(os.path.join(folder, n), root) for n in dirs + names]
        return sorted(out)
    report = {"before": files(), "add": cli("data", "add", big, "--name", "big")}
    report["after_add"] = files()
    report["yaml_unchanged"] = open(os.path.join(root, "expedition.yaml")).read() == open(os.path.join(base, "expedition.yaml")).read()
    subprocess.run(["mount", "-o", "remount,ro", disk], check=True)
    report["validate"] = cli("validate", "referrals")
    report["status"] = cli("status")
    report["after_ro"] = files()
    print(json.dumps(report))
    """
)


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _namespaces_work(), reason="needs `unshare -m` to mount a small private disk")
def test_a_really_full_disk_and_a_read_only_one(tmp_path):
    """A 4 MiB file system of its own (a private mount namespace): adding a bigger delivery fills
    it; then the same file system mounted read-only refuses validation but shows the status."""
    from expedition.datasets import add_dataset
    from expedition.examples.referrals import write
    from expedition.scaffold import new_project
    from expedition.contract import draft_contract

    root = new_project("full", output_dir=tmp_path, no_input=True)
    add_dataset(Project.load(root), write(tmp_path / "r.csv", rows=500, seed=1), "referrals")
    draft_contract(Project.load(root), "referrals")
    big = write(tmp_path / "big.csv", rows=30_000, seed=2)  # about 7 MB: more than the disk holds
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["unshare", "-m", sys.executable, "-c", IN_NAMESPACE, str(disk), str(root), str(big)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["add"]["code"] == 2, report["add"]["stderr"]
    assert "disk is full" in flat(report["add"]["stderr"])
    grown = set(report["after_add"]) - set(report["before"])
    assert grown <= {".expedition/lock"}, grown  # nothing half-written, not even a temporary file
    assert report["yaml_unchanged"]
    assert report["validate"]["code"] == 2 and "read-only file system" in flat(report["validate"]["stderr"])
    assert report["status"]["code"] == 0, report["status"]["stderr"]
    assert report["after_ro"] == report["after_add"]


# --------------------------------------------------------------------------- the terminal


def ascii_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "expedition", *args], capture_output=True,
                          text=True, timeout=300, env=env, encoding="ascii", errors="replace")


@pytest.mark.slow
def test_an_ascii_terminal_gets_a_fix_and_the_work_is_kept(project_dir, referrals_csv):
    done = ascii_cli("data", "add", str(referrals_csv), "--name", "referrals", "-p", str(project_dir))
    assert done.returncode == 2, done.stderr
    assert "PYTHONIOENCODING=utf-8" in flat(done.stderr) and "bug" not in done.stderr
    assert len(Project.load(project_dir).config.datasets["referrals"].deliveries) == 1
    listed = ascii_cli("data", "list", "--json", "-p", str(project_dir))
    assert listed.returncode == 0 and json.loads(listed.stdout)["referrals"]["deliveries"]


@pytest.mark.slow
def test_an_error_message_an_ascii_terminal_cannot_show_is_still_shown(project_dir, tmp_path):
    missing = tmp_path / "référence.csv"
    done = ascii_cli("data", "add", str(missing), "-p", str(project_dir))
    assert done.returncode == 2, done.stderr
    assert "does not exist" in flat(done.stderr) and "r\\xe9f\\xe9rence.csv" in flat(done.stderr)
