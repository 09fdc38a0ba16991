"""`expedition pack key` and `expedition pack verify --key` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _packs import make_packable
from _text import flat
from expedition.manifest import SIGNATURE_FILE
from expedition.pack import verify_pack
from expedition.signing import signing_key


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n")
    return make_packable(project, csv_path)


def test_pack_key_makes_the_key_once_and_prints_what_to_publish(cli, signing_home, tmp_path):
    first = cli("pack", "key")
    assert first.exit_code == 0, first.output
    key = signing_key(create=False)
    assert "Made a new signing key" in flat(first.stderr) + flat(first.stdout)
    assert f"Fingerprint: {key.public.fingerprint}" in first.stdout
    assert f"Public key:  {key.public.openssh}" in first.stdout  # one line, never wrapped

    again = cli("pack", "key", "--json")
    assert json.loads(again.stdout) == {**key.to_dict(), "created": False}
    assert "PRIVATE KEY" not in again.stdout  # the private key is never printed

    pem = cli("pack", "key", "--pem")
    assert pem.stdout == key.public.pem
    (tmp_path / "team.pem").write_text(pem.stdout)
    assert len(list((signing_home / "expedition").iterdir())) == 1


def test_pack_prints_its_signer_and_verify_prints_and_pins_it(cli, packable, tmp_path):
    built = cli("pack", "-p", str(packable.root))
    assert built.exit_code == 0, built.output
    fingerprint = signing_key(create=False).public.fingerprint
    assert f"signed by {fingerprint}" in flat(built.stdout)
    assert "a new signing key was made" in flat(built.stderr)
    pack = Path(packable.last("pack")["path"])
    pack = packable.root / pack if not pack.is_absolute() else pack

    plain = cli("pack", "verify", str(pack))
    assert plain.exit_code == 0 and f"Signed by {fingerprint}" in flat(plain.stdout)
    assert "pin it with --key" in flat(plain.stdout)

    (tmp_path / "team.pem").write_text(cli("pack", "key", "--pem").stdout)
    for given in (fingerprint, str(tmp_path / "team.pem")):
        pinned = cli("pack", "verify", str(pack), "--key", given)
        assert pinned.exit_code == 0 and "the key you asked for" in flat(pinned.stdout)
    as_json = json.loads(cli("pack", "verify", str(pack), "--key", fingerprint, "--json").stdout)
    assert as_json == verify_pack(pack, key=fingerprint).to_dict()
    assert as_json["signature"] == {**as_json["signature"], "status": "valid", "fingerprint": fingerprint,
                                    "expected": fingerprint, "pinned": True}

    stranger = "SHA256:" + "A" * 43
    wrong = cli("pack", "verify", str(pack), "--key", stranger)
    assert wrong.exit_code == 1 and f"not by the expected key {stranger}" in flat(wrong.stderr)
    junk = cli("pack", "verify", str(pack), "--key", "not-a-key")
    assert junk.exit_code == 2 and "does not name a signing key" in flat(junk.stderr)
    assert "Traceback" not in junk.output


def test_an_unsigned_pack_warns_and_a_pinned_check_of_it_fails(cli, packable):
    out = json.loads(cli("pack", "--json", "-p", str(packable.root)).stdout)
    pack = Path(out["path"])
    assert out["signer"].startswith("SHA256:")
    manifest = json.loads((pack / "manifest.json").read_text())
    del manifest["signer"]
    (pack / "manifest.json").write_text(json.dumps(manifest))
    (pack / SIGNATURE_FILE).unlink()

    unsigned = cli("pack", "verify", str(pack))
    assert unsigned.exit_code == 0
    assert "the pack is not signed" in flat(unsigned.stderr)
    as_json = json.loads(cli("pack", "verify", str(pack), "--json").stdout)
    assert as_json["ok"] and as_json["signature"]["status"] == "unsigned" and as_json["warnings"]

    pinned = cli("pack", "verify", str(pack), "--key", out["signer"])
    assert pinned.exit_code == 1 and "cannot be shown to be signed" in flat(pinned.stderr)


def test_a_bad_signing_key_stops_pack_with_exit_2(cli, packable, monkeypatch):
    monkeypatch.setenv("EXPEDITION_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----")
    out = cli("pack", "-p", str(packable.root))
    assert out.exit_code == 2
    assert "cannot be read" in flat(out.stderr) and "Traceback" not in out.output
    assert not any(p.suffix == ".zip" for p in packable.findings_dir.iterdir())
