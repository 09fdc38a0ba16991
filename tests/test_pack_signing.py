"""Signed packs: the manifest's Ed25519 signature, where the key lives, and an attacker who
edits a pack and re-hashes, re-seals or re-signs it."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _packs import make_packable
from expedition.manifest import SIGNATURE_FILE, file_hashes, sign_manifest
from expedition.pack import build_pack, verify_pack
from expedition.signing import (
    ENV_KEY,
    SigningError,
    expected_fingerprint,
    public_key_from_text,
    signing_key,
)

WHEN = date(2026, 12, 1)


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n3,Maldon,12\n")
    return make_packable(project, csv_path)


@pytest.fixture
def pack(packable):
    return build_pack(packable, when=WHEN).path


def other_key(tmp_path: Path):
    """A second signer: someone else's key, made in a folder of its own."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from expedition.signing import SigningKey, _public_of

    private = Ed25519PrivateKey.generate()
    return SigningKey(private, _public_of(private), str(tmp_path / "other"))


def old_seal(manifest: dict) -> dict:
    """The unkeyed self-hash packs used to carry: anyone can recompute it."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return {**body, "manifest_sha256": hashlib.sha256(canonical).hexdigest()}


def edit_a_number(pack: Path) -> None:
    table = pack / "tables/by-district__counts.csv"
    text = table.read_text()
    assert "120," in text
    table.write_text(text.replace("120,", "130,", 1))


def rehash(pack: Path) -> dict:
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"] = file_hashes(pack, exclude=("manifest.json", SIGNATURE_FILE))
    return manifest


def problems(report) -> str:
    return "\n".join(report.problems)


# --------------------------------------------------------------------------- signing


def test_a_pack_is_signed_with_a_key_kept_outside_the_project(packable, signing_home):
    result = build_pack(packable, when=WHEN)
    key_file = signing_home / "expedition" / "signing-key.pem"
    assert key_file.is_file() and not str(key_file).startswith(str(packable.root))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert any("a new signing key was made" in w and result.signer in w for w in result.warnings)

    key = signing_key(create=False)
    signature = json.loads((result.path / SIGNATURE_FILE).read_text())
    assert signature["public_key"] == key.public.openssh and signature["fingerprint"] == key.public.fingerprint
    manifest_bytes = (result.path / "manifest.json").read_bytes()
    assert key.public.verify(base64.b64decode(signature["signature"]), manifest_bytes)
    assert json.loads(manifest_bytes)["signer"]["fingerprint"] == key.public.fingerprint
    assert "manifest_sha256" not in json.loads(manifest_bytes)  # the unkeyed seal is gone
    assert result.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()

    for path in (result.path, result.zip):
        report = verify_pack(path)
        assert report.ok and report.warnings == []
        assert report.signature.status == "valid" and report.signature.fingerprint == key.public.fingerprint
        assert report.to_dict()["signature"]["fingerprint"] == key.public.fingerprint
        assert verify_pack(path, key=key.public.fingerprint).signature.pinned

    # the private key is in no file of the pack or its zip
    from cryptography.hazmat.primitives import serialization

    secret = key.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())
    pem = key_file.read_bytes()
    blobs = [p.read_bytes() for p in result.path.rglob("*") if p.is_file()] + [result.zip.read_bytes()]
    with zipfile.ZipFile(result.zip) as archive:
        blobs += [archive.read(n) for n in archive.namelist()]
    for blob in blobs:
        assert secret not in blob and base64.b64encode(secret) not in blob and pem not in blob

    again = build_pack(packable, when=WHEN, replace=True)
    assert again.signer == result.signer and not any("signing key" in w for w in again.warnings)


def test_a_number_changed_and_the_manifest_rehashed_and_resealed_fails(pack):
    edit_a_number(pack)
    (pack / "manifest.json").write_text(json.dumps(old_seal(rehash(pack)), indent=2))
    report = verify_pack(pack)
    assert not report.ok and report.signature.status == "invalid"
    assert "manifest.json: changed since it was signed" in problems(report)
    assert "checksum differs" not in problems(report)  # the hashes were made to match; the signature was not


def test_a_tampered_zip_fails_too(packable, tmp_path):
    result = build_pack(packable, when=WHEN)
    copy = tmp_path / "copy"
    with zipfile.ZipFile(result.zip) as archive:
        archive.extractall(copy)
    inner = copy / result.path.name
    edit_a_number(inner)
    (inner / "manifest.json").write_text(json.dumps(old_seal(rehash(inner)), indent=2))
    evil = tmp_path / "evil.zip"
    from expedition.pack.archive import write_zip

    write_zip(inner, evil, result.path.name, WHEN)
    assert "manifest.json: changed since it was signed" in problems(verify_pack(evil))


def test_an_attacker_who_re_signs_with_their_own_key_is_caught_by_the_pinned_key(pack, tmp_path):
    team = signing_key(create=False).public.fingerprint
    attacker = other_key(tmp_path)
    edit_a_number(pack)
    manifest_bytes, signature = sign_manifest(rehash(pack), attacker)
    (pack / "manifest.json").write_bytes(manifest_bytes)
    (pack / SIGNATURE_FILE).write_bytes(signature)

    unpinned = verify_pack(pack)
    # a consistent forgery: only the fingerprint tells, which is why it is printed and pinnable
    assert unpinned.ok and unpinned.signature.fingerprint == attacker.public.fingerprint != team
    pinned = verify_pack(pack, key=team)
    assert not pinned.ok and not pinned.signature.pinned
    assert f"signed by {attacker.public.fingerprint}, not by the expected key {team}" in problems(pinned)


def test_another_key_signing_the_unchanged_manifest_is_caught_without_a_pin(pack, tmp_path):
    attacker = other_key(tmp_path)
    signature = json.loads((pack / SIGNATURE_FILE).read_text())
    manifest_bytes = (pack / "manifest.json").read_bytes()
    signature.update(public_key=attacker.public.openssh, fingerprint=attacker.public.fingerprint,
                     signature=base64.b64encode(attacker.sign(manifest_bytes)).decode())
    (pack / SIGNATURE_FILE).write_text(json.dumps(signature))
    report = verify_pack(pack)
    assert not report.ok
    assert f"signed by {attacker.public.fingerprint}, but manifest.json names" in problems(report)


def test_a_removed_signature_fails_and_a_never_signed_pack_warns(pack):
    team = signing_key(create=False).public.fingerprint
    (pack / SIGNATURE_FILE).unlink()
    report = verify_pack(pack)
    assert not report.ok and "the signature was removed" in problems(report)

    # the signer's name removed from the manifest too, and the old seal recomputed: unsigned
    manifest = rehash(pack)
    del manifest["signer"]
    (pack / "manifest.json").write_text(json.dumps(old_seal(manifest), indent=2))
    unsigned = verify_pack(pack)
    assert unsigned.ok and unsigned.signature.status == "unsigned"
    assert any("the pack is not signed" in w for w in unsigned.warnings)
    assert unsigned.to_dict()["warnings"] == unsigned.warnings
    pinned = verify_pack(pack, key=team)
    assert not pinned.ok and f"cannot be shown to be signed by {team}" in problems(pinned)


def test_a_signature_added_to_a_manifest_that_names_no_signer_fails(pack, tmp_path):
    manifest = json.loads((pack / "manifest.json").read_text())
    del manifest["signer"]
    data = json.dumps(manifest).encode()
    (pack / "manifest.json").write_bytes(data)
    attacker = other_key(tmp_path)
    signature = json.loads((pack / SIGNATURE_FILE).read_text())
    signature.update(public_key=attacker.public.openssh, fingerprint=attacker.public.fingerprint,
                     signature=base64.b64encode(attacker.sign(data)).decode())
    (pack / SIGNATURE_FILE).write_text(json.dumps(signature))
    assert "names no signer" in problems(verify_pack(pack))


def test_even_reformatting_the_manifest_breaks_the_signature(pack):
    path = pack / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))
    assert "changed since it was signed" in problems(verify_pack(pack))


@pytest.mark.parametrize("damage", [
    b"", b"not json", b"[]", b'{"algorithm": "RSA", "public_key": "x", "signature": "x"}',
    b'{"algorithm": "Ed25519", "signature": "AAAA"}',
    b'{"algorithm": "Ed25519", "public_key": "ssh-ed25519 AAAA", "signature": "AAAA"}',
    b'{"algorithm": "Ed25519", "public_key": "ssh-rsa AAAAB3NzaC1yc2E=", "signature": "AAAA"}',
])
def test_a_damaged_signature_file_is_a_problem_not_a_crash(pack, damage):
    (pack / SIGNATURE_FILE).write_bytes(damage)
    report = verify_pack(pack)
    assert not report.ok and report.signature.status == "invalid"
    assert f"{SIGNATURE_FILE}: unreadable or damaged" in problems(report)


def test_the_fingerprint_field_must_match_the_key(pack, tmp_path):
    signature = json.loads((pack / SIGNATURE_FILE).read_text())
    signature["fingerprint"] = other_key(tmp_path).public.fingerprint
    (pack / SIGNATURE_FILE).write_text(json.dumps(signature))
    assert "fingerprint field does not match its public key" in problems(verify_pack(pack))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bit=st.integers(min_value=0, max_value=511), junk=st.binary(max_size=200))
def test_any_flipped_bit_of_the_signature_and_any_junk_file_fails(pack, bit, junk):
    path = pack / SIGNATURE_FILE
    original = path.read_bytes()
    try:
        doc = json.loads(original)
        raw = bytearray(base64.b64decode(doc["signature"]))
        raw[bit // 8] ^= 1 << (bit % 8)
        path.write_text(json.dumps({**doc, "signature": base64.b64encode(bytes(raw)).decode()}))
        assert "changed since it was signed" in problems(verify_pack(pack))
        path.write_bytes(junk)
        report = verify_pack(pack)
        assert not report.ok and report.signature.status == "invalid"
    finally:
        path.write_bytes(original)


# --------------------------------------------------------------------------- the key


def test_the_key_comes_from_the_environment_as_pem_or_path(tmp_path, monkeypatch, signing_home):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    monkeypatch.setenv(ENV_KEY, pem.decode())
    from_text = signing_key()
    assert from_text.source == ENV_KEY and not from_text.created
    assert not (signing_home / "expedition").exists()  # nothing made in the config folder

    key_file = tmp_path / "team.pem"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    monkeypatch.setenv(ENV_KEY, str(key_file))
    from_file = signing_key()
    assert from_file.source == str(key_file) and from_file.public == from_text.public

    key_file.chmod(0o644)
    with pytest.raises(SigningError, match="can be read by other users") as caught:
        signing_key()
    assert "chmod 600" in caught.value.fix
    for missing in (str(tmp_path / "missing.pem"), "~no-such-user-here/key.pem"):
        monkeypatch.setenv(ENV_KEY, missing)
        with pytest.raises(SigningError, match="not a file"):
            signing_key()


def test_a_key_inside_the_project_is_refused(packable, monkeypatch):
    inside = packable.root / "signing.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    inside.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    inside.chmod(0o600)
    monkeypatch.setenv(ENV_KEY, str(inside))
    with pytest.raises(SigningError, match="inside the project folder"):
        build_pack(packable, when=WHEN)
    monkeypatch.delenv(ENV_KEY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(packable.root / ".config"))
    with pytest.raises(SigningError, match="inside the project folder"):
        build_pack(packable, when=WHEN)
    assert not (packable.root / ".config").exists()  # refused before anything was made
    assert not any(p.name.startswith("test-expedition") for p in packable.findings_dir.iterdir())


@pytest.mark.parametrize("content, message", [
    (b"garbage", "cannot be read"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot be read"),
    ("encrypted", "passphrase"),
    ("rsa", "not an Ed25519 key"),
])
def test_a_bad_key_file_gets_a_clear_message(signing_home, content, message):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if content == "encrypted":
        content = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"))
    elif content == "rsa":
        content = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    folder = signing_home / "expedition"
    folder.mkdir(mode=0o700)
    path = folder / "signing-key.pem"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(SigningError, match=message) as caught:
        signing_key()
    assert caught.value.fix and caught.value.exit_code == 2
    assert path.read_bytes() == content  # a bad key is reported, never replaced


def test_the_key_falls_back_to_home_and_is_made_once_under_a_race(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(SigningError, match="no signing key yet"):
        signing_key(create=False)
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: signing_key(), range(16)))
    assert len({k.public.fingerprint for k in keys}) == 1
    assert sum(k.created for k in keys) == 1
    folder = tmp_path / "home" / ".config" / "expedition"
    assert [p.name for p in folder.iterdir()] == ["signing-key.pem"]  # no temporary file left


def test_key_texts_name_the_same_fingerprint(tmp_path):
    key = signing_key()
    public = key.public
    raw64 = base64.b64encode(public.raw).decode()
    blob64 = public.openssh.split()[1]
    (tmp_path / "key.pub").write_text(public.openssh + " team@example\n")
    (tmp_path / "key.pem").write_text(public.pem)
    (tmp_path / "fingerprint.txt").write_text(public.fingerprint + "\n")
    for value in [public.fingerprint, public.fingerprint + "=", public.openssh, raw64, blob64, public.pem,
                  str(tmp_path / "key.pub"), tmp_path / "key.pem", str(tmp_path / "fingerprint.txt")]:
        assert expected_fingerprint(value) == public.fingerprint, value
    assert public_key_from_text(public.pem) == public_key_from_text(public.openssh) == public


def test_a_private_key_or_junk_given_as_the_expected_key_is_refused(tmp_path):
    key = signing_key()
    with pytest.raises(SigningError, match="that is a private key"):
        expected_fingerprint(Path(key.source).read_text())
    with pytest.raises(SigningError, match="does not name a signing key"):
        expected_fingerprint("SHA256:short")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SigningError, match=str(tmp_path / "binary")):
        expected_fingerprint(tmp_path / "binary")


@given(st.text(max_size=120))
def test_any_text_as_the_expected_key_is_a_fingerprint_or_a_clear_error(text):
    try:
        fingerprint = expected_fingerprint(text)
    except SigningError as exc:
        assert exc.fix
    else:
        assert fingerprint.startswith("SHA256:") and len(fingerprint) == 50


def test_verify_pins_with_a_key_file(pack, tmp_path):
    (tmp_path / "team.pem").write_text(signing_key(create=False).public.pem)
    assert verify_pack(pack, key=tmp_path / "team.pem").signature.pinned
    other = other_key(tmp_path)
    (tmp_path / "other.pub").write_text(other.public.openssh)
    assert not verify_pack(pack, key=str(tmp_path / "other.pub")).ok
