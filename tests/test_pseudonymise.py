"""Keyed pseudonymisation at intake: `expedition data add FILE --pseudonymise COL`."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _text import flat


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPEDITION_KEY", raising=False)


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from expedition.examples.registers import write

    return write(tmp_path_factory.mktemp("registers"), people=300, shared=120, police_only=80, seed=5)


def _grep(folder: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


def test_key_made_once_private_and_outside_the_project(project, signing_home: Path) -> None:
    from expedition.pseudonymise import expedition_key, key_file

    key = expedition_key("test-expedition", project=project.root)
    path = key_file("test-expedition")
    assert path.is_relative_to(signing_home)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = expedition_key("test-expedition", project=project.root)
    assert again.secret == key.secret and again.fingerprint == key.fingerprint
    assert key.secret.decode() not in repr(key)
    assert expedition_key("other-expedition").secret != key.secret


def test_environment_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from expedition.errors import ConfigError
    from expedition.pseudonymise import expedition_key, key_file

    monkeypatch.setenv("EXPEDITION_KEY", "k" * 32)
    key = expedition_key("x")
    assert key.source == "environment" and not key_file("x").exists()
    monkeypatch.setenv("EXPEDITION_KEY", "short")
    with pytest.raises(ConfigError, match="too short"):
        expedition_key("x")


@settings(max_examples=60, deadline=None)
@given(value=st.text(min_size=1, max_size=30), secret=st.binary(min_size=16, max_size=40))
def test_pseudonyms_deterministic_normalised_and_keyed(value: str, secret: bytes) -> None:
    from expedition.pseudonymise import PseudonymKey, normalise

    key = PseudonymKey(secret, "test")
    other = PseudonymKey(secret + b"!", "test")
    p = key.pseudonym(value)
    if normalise(value) is None:
        assert p is None
        return
    assert p == key.pseudonym(f"  {value.upper()} ") or value.upper().casefold() != value.casefold()
    assert p == key.pseudonym(value) and len(p) == 64
    assert p != other.pseudonym(value)
    assert normalise(value) not in p or len(normalise(value)) < 3


def test_add_pseudonymised_records_and_never_writes_originals(cli, project, registers, signing_home) -> None:
    care = pl.read_csv(registers["social_care"], infer_schema=False)
    result = cli("data", "add", str(registers["social_care"]), "--name", "social_care",
                 "--pseudonymise", "nhs_number", "--pseudonymise", "case_ref", "--project", str(project.root))
    assert result.exit_code == 0, result.output
    assert "pseudonymised nhs_number, case_ref" in flat(result.output)
    from expedition.project import Project

    proj = Project.load(project.root)
    delivery = proj.config.datasets["social_care"].latest
    assert delivery.pseudonymised is not None
    assert delivery.pseudonymised.columns == ["nhs_number", "case_ref"]
    from expedition._io import sha256_file
    from expedition.pseudonymise import expedition_key

    key = expedition_key(proj.config.expedition.slug)
    assert delivery.pseudonymised.original_sha256 == sha256_file(registers["social_care"])
    assert delivery.pseudonymised.key_fingerprint == key.fingerprint
    copy = pl.read_csv(proj.root / delivery.file, infer_schema=False)
    assert copy["case_ref"].to_list() == [key.pseudonym(v) for v in care["case_ref"]]
    assert copy["given_name"].to_list() == care["given_name"].to_list()  # other columns unchanged
    # the attacker: neither the key nor any original identifier is anywhere in the project
    needles = [key.secret, key.secret.hex().encode()]
    needles += [v.encode() for v in care["nhs_number"].drop_nulls().to_list()[:200]]
    needles += [v.encode() for v in care["case_ref"].to_list()[:200]]
    assert _grep(proj.root, needles) == []
    # the same file again is recognised
    again = cli("data", "add", str(registers["social_care"]), "--name", "social_care",
                "--pseudonymise", "nhs_number", "--pseudonymise", "case_ref", "--project", str(project.root))
    assert "Already registered" in flat(again.output)


def test_same_identifier_same_pseudonym_across_datasets(project, registers) -> None:
    from expedition.datasets import add_dataset

    add_dataset(project, registers["social_care"], "social_care", pseudonymise=["nhs_number"])
    add_dataset(project.reload(), registers["police"], "police", pseudonymise=["nhs_number"])
    proj = project.reload()
    read = {n: pl.read_csv(proj.root / proj.config.datasets[n].latest.file, infer_schema=False)
            for n in ("social_care", "police")}
    truth = pl.read_csv(registers["truth"], infer_schema=False)
    care_raw = pl.read_csv(registers["social_care"], infer_schema=False)
    police_raw = pl.read_csv(registers["police"], infer_schema=False)
    joined_raw = care_raw.join(police_raw, on="nhs_number").select("case_ref", "person_ref")
    joined = read["social_care"].join(read["police"], on="nhs_number").select("case_ref", "person_ref")
    assert joined.sort("case_ref").equals(joined_raw.sort("case_ref"))
    assert joined.height > 50 and set(joined.rows()) <= set(truth.rows())


def test_unknown_column_is_a_clear_error(cli, project, registers) -> None:
    result = cli("data", "add", str(registers["police"]), "--pseudonymise", "nhs_numbr",
                 "--project", str(project.root))
    assert result.exit_code != 0
    text = flat(result.output)
    assert "'nhs_numbr' is not a column" in text and "nhs_number" in text
    assert "Traceback" not in result.output
    assert [p for p in (project.root / "data" / "raw").rglob("*") if p.is_file() and p.name != ".gitkeep"] == []
