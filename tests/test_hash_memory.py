"""Hashes remembered between commands (`expedition._io.sha256_remembered`): a large validated or
derived file is not re-hashed by every command, yet any edit is still seen — even one that puts
back the file's size and modification time, since the kernel's change time cannot be put back."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from _text import flat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition import _io
from expedition.datasets import add_dataset


@pytest.fixture
def counted(monkeypatch):
    """How many times a file's bytes were hashed."""
    calls = []
    real = _io.sha256_file

    def sha256_file(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(_io, "sha256_file", sha256_file)
    return calls


def settle(monkeypatch):
    """Files count as settled at once (instead of two seconds after their last change); a pause
    lets the file system's clock move on before the next edit."""
    monkeypatch.setattr(_io, "_RACY_SECONDS", 0.0)
    time.sleep(0.05)


def edit_keeping_size_and_time(path, change) -> str:
    before = os.stat(path)
    os.chmod(path, 0o644)
    data = change(path.read_bytes())
    path.write_bytes(data)
    os.chmod(path, before.st_mode)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    return hashlib.sha256(data).hexdigest()


def test_a_settled_file_is_hashed_once(tmp_path, counted, monkeypatch):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 5000)
    settle(monkeypatch)
    first = _io.sha256_remembered(path, tmp_path / "state")
    assert first == hashlib.sha256(b"x" * 5000).hexdigest()
    assert _io.sha256_remembered(path, tmp_path / "state") == first
    assert len(counted) == 1
    store = json.loads((tmp_path / "state" / "cache" / "hashes.json").read_text())
    assert list(store.values())[0]["sha256"] == first  # hashes and file stats only


def test_a_file_changed_just_now_is_hashed_every_time(tmp_path, counted):
    path = tmp_path / "data.bin"
    path.write_bytes(b"fresh")
    for _ in range(2):
        _io.sha256_remembered(path, tmp_path / "state")
    assert len(counted) == 2
    assert not (tmp_path / "state" / "cache" / "hashes.json").exists()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=200), at=st.integers(0, 199))
def test_an_edit_that_keeps_size_and_time_is_seen(tmp_path_factory, monkeypatch, data, at):
    folder = tmp_path_factory.mktemp("f")
    path = folder / "data.bin"
    path.write_bytes(data)
    settle(monkeypatch)
    assert _io.sha256_remembered(path, folder) == hashlib.sha256(data).hexdigest()
    at %= len(data)
    time.sleep(0.02)
    edited = edit_keeping_size_and_time(path, lambda raw: raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:])
    assert _io.sha256_remembered(path, folder) == edited


def test_a_damaged_store_is_ignored(tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    path.write_bytes(b"abc")
    (tmp_path / "cache").mkdir()
    for damage in ("{not json", "[1, 2]", json.dumps({str(path.resolve()): {"stat": "x"}})):
        (tmp_path / "cache" / "hashes.json").write_text(damage)
        assert _io.sha256_remembered(path, tmp_path) == hashlib.sha256(b"abc").hexdigest()


def test_validated_data_edited_after_a_remembered_check_is_refused(cli, project, referrals_csv,
                                                                   validated, monkeypatch):
    """The attack: let a command remember the validated file's hash, then edit the file and put
    back its size and modification time. The next command still refuses it."""
    add_dataset(project, referrals_csv, "referrals")
    project = validated(project.reload(), "referrals")
    config = project.config_path
    config.write_text(config.read_text().replace(
        "steps: []", "steps:\n  - {id: overview, step: eda, dataset: referrals,"
        " params: {outcome: rereferred_12m, outcome_value: 'yes'}}"))
    settle(monkeypatch)
    p = str(project.root)
    assert cli("run", "-q", "-p", p).exit_code == 0
    record = json.loads((project.quality_dir("referrals") / "validation.json").read_text())
    valid = project.root / record["outputs"]["valid"]["file"]
    assert str(valid.resolve()) in (project.state_dir / "cache" / "hashes.json").read_text()
    time.sleep(0.02)

    def change(raw: bytes) -> bytes:  # same bytes count: a value flipped inside the file
        i = raw.index(b"PAR1", 4) - 64
        return raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1:]

    edit_keeping_size_and_time(valid, change)
    result = cli("run", "--force", "-p", p)
    assert result.exit_code != 0, result.output
    assert "changed after validation" in flat(result.stderr)
    assert "Traceback" not in result.output
