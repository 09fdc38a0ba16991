"""A raw delivery edited in place is refused by every stage that would use it, naming the file
and both hashes; the registered hash never stands for data nobody registered."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from _text import flat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expedition.datasets import add_dataset, check_delivery, delivery_path
from expedition.errors import DataError
from expedition.project import Project


@pytest.fixture
def delivered(project, tmp_path) -> Project:
    from expedition.examples.referrals import write

    add_dataset(project, write(tmp_path / "referrals.csv", rows=400, seed=11), "referrals")
    return project.reload()


def raw_file(project: Project) -> Path:
    return project.root / project.config.datasets["referrals"].latest.file


def edit_in_place(path: Path, change, *, keep_time: bool = False) -> str:
    """Change a read-only raw copy as a user with a text editor would; its new SHA-256."""
    before = os.stat(path)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = change(path.read_bytes())
    path.write_bytes(data)
    os.chmod(path, before.st_mode)
    if keep_time:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return hashlib.sha256(data).hexdigest()


def one_changed_digit(data: bytes) -> bytes:
    at = data.rindex(b"1")
    return data[:at] + b"2" + data[at + 1 :]


def assert_refused(result, path: Path, registered: str, current: str) -> None:
    assert result.exit_code == 2, result.output
    text = flat(result.stderr)
    assert path.name in text and registered in text and current in text
    assert "How to fix" in result.stderr and "new delivery" in text
    assert "Traceback" not in result.output


def test_the_delivery_records_size_and_time(delivered):
    delivery = delivered.config.datasets["referrals"].latest
    info = os.stat(raw_file(delivered))
    assert delivery.bytes == info.st_size and delivery.mtime_ns == info.st_mtime_ns
    assert check_delivery(delivered, delivery) == raw_file(delivered)


def test_every_stage_refuses_a_changed_delivery(cli, delivered, validated):
    project = validated(delivered, "referrals")
    config = project.config_path
    config.write_text(config.read_text().replace(
        "steps: []", "steps:\n  - {id: overview, step: eda, dataset: referrals,"
        " params: {outcome: rereferred_12m, outcome_value: 'yes'}}"))
    path = raw_file(project)
    registered = project.config.datasets["referrals"].latest.sha256
    current = edit_in_place(path, one_changed_digit)
    p = str(project.root)
    for args in (["validate", "referrals"], ["profile", "referrals"], ["schema", "infer", "referrals",
                 "--force"], ["run"], ["profile", "--compare", "referrals@v1", "referrals@v1"]):
        assert_refused(cli(*args, "-p", p), path, registered, current)
    assert not (project.root / ".expedition" / "findings" / "overview").exists()


def test_validate_hashes_even_when_size_and_time_match(cli, delivered):
    cli("schema", "infer", "referrals", "-p", str(delivered.root))
    path = raw_file(delivered)
    registered = delivered.config.datasets["referrals"].latest.sha256
    current = edit_in_place(path, one_changed_digit, keep_time=True)
    assert os.stat(path).st_size == delivered.config.datasets["referrals"].latest.bytes
    # size and time match what was registered, so the quick check lets profile through ...
    assert cli("profile", "referrals", "-q", "-p", str(delivered.root)).exit_code == 0
    # ... but validate always hashes
    assert_refused(cli("validate", "referrals", "-p", str(delivered.root)), path, registered, current)
    assert not (delivered.root / "data" / "interim" / "referrals.parquet").exists()


def test_a_touched_but_unchanged_delivery_is_accepted(delivered):
    path = raw_file(delivered)
    os.utime(path, ns=(1, 1))
    assert delivery_path(delivered, "referrals") == path


def test_a_missing_delivery_says_how_to_restore_it(delivered):
    path = raw_file(delivered)
    os.chmod(path.parent, 0o755)
    path.unlink()
    with pytest.raises(DataError, match="missing") as caught:
        delivery_path(delivered, "referrals")
    assert delivered.config.datasets["referrals"].latest.sha256 in caught.value.fix


def test_the_validation_record_holds_the_hash_of_what_was_read(cli, delivered):
    cli("schema", "infer", "referrals", "-p", str(delivered.root))
    assert cli("validate", "referrals", "-p", str(delivered.root)).exit_code in (0, 1)
    record = json.loads((delivered.quality_dir("referrals") / "validation.json").read_text())
    assert record["delivery"]["sha256"] == hashlib.sha256(raw_file(delivered).read_bytes()).hexdigest()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_edit_is_caught(delivered, data):
    """Whatever bytes change, are added or removed, and whatever the file's time says."""
    path = raw_file(delivered)
    original = path.read_bytes()
    at = data.draw(st.integers(0, len(original) - 1), label="at")
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "append"]), label="kind")
    extra = data.draw(st.binary(min_size=1, max_size=4), label="bytes")

    def change(raw: bytes) -> bytes:
        if kind == "flip":
            return raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]
        if kind == "insert":
            return raw[:at] + extra + raw[at:]
        if kind == "delete":
            return raw[:at] + raw[at + len(extra):]
        return raw + extra

    keep_time = data.draw(st.booleans(), label="keep_time")
    try:
        current = edit_in_place(path, change, keep_time=keep_time)
        delivery = delivered.config.datasets["referrals"].latest
        with pytest.raises(DataError) as caught:
            check_delivery(delivered, delivery, full=True)
        assert current in caught.value.what and delivery.sha256 in caught.value.what
        if not (keep_time and len(change(original)) == len(original)):
            with pytest.raises(DataError):
                check_delivery(delivered, delivery)  # the quick check notices too
    finally:
        edit_in_place(path, lambda _: original)
