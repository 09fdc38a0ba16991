"""`expedition demo` end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from expedition.manifest import file_hashes


def test_demo_builds_a_verified_pack(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("demo", "--rows", "1500")
    assert result.exit_code == 0, result.output
    root = tmp_path / "expedition-demo"
    packs = [p for p in (root / "findings").iterdir() if p.is_dir()]
    assert len(packs) == 1
    pack = packs[0]
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["files"] == file_hashes(pack, exclude=("manifest.json", "manifest.sig"))
    assert "index.html" in manifest["files"]
    assert "Findings pack" in result.stdout
    # the public summary reads at Flesch reading ease 60 or above; every dataset has a datasheet
    from expedition.pack.public import reading_ease

    public = (pack / "public-summary.md").read_text()
    assert reading_ease(public) >= 60, public
    assert "## What we found" in public and "- " in public.split("## What we found")[1]
    assert {p.name for p in (pack / "datasheets").iterdir()} >= {"referrals.md", "incidents.md", "demand.md"}

    # a second run reuses the demo expedition and rebuilds the pack
    again = cli("demo", "--rows", "1500", "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["delivery"]["status"] == "unchanged"
    assert cli("pack", "verify", report["pack"]["path"]).exit_code == 0


def test_demo_refuses_a_folder_it_did_not_make(cli, tmp_path):
    (tmp_path / "mine").mkdir()
    result = cli("demo", str(tmp_path / "mine"))
    assert result.exit_code == 2 and "not a demo expedition" in result.stderr


def test_demo_through_the_console_script(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "expedition", "demo", "--rows", "500", "-q", str(tmp_path / "d")],
        capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d" / "expedition.yaml").is_file()
