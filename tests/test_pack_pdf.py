"""`expedition pack --pdf` (issue 16, part 6): the pack printed to PDF by headless Chromium,
beside the pack (never inside its signed files); without Chromium a short error and exit 2."""

from __future__ import annotations

import json

import pytest

from _packs import make_packable
from expedition.pack import verify_pack
from expedition.pack.pdf import find_chromium


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n3,Maldon,12\n")
    return make_packable(project, csv_path)


def test_pack_pdf_prints_beside_the_pack(cli, packable):
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    done = cli("pack", "--pdf", "--json", "-p", str(packable.root))
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    pdf = packable.root / result["pdf"] if not result["pdf"].startswith("/") else __import__("pathlib").Path(result["pdf"])
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    assert pdf.parent == packable.findings_dir and pdf.name == f"{result['path'].rsplit('/', 1)[1]}.pdf"
    assert verify_pack(result["path"]).ok  # the pack itself is unchanged and still verifies


def test_pack_pdf_without_chromium_says_how_to_get_it(cli, packable, monkeypatch):
    monkeypatch.setenv("EXPEDITION_CHROMIUM", str(packable.root / "no-such-chromium"))
    monkeypatch.setenv("PATH", "/nonexistent")
    done = cli("pack", "--pdf", "-p", str(packable.root))
    assert done.exit_code == 2
    assert "Chromium is not installed" in done.output and "apt-get install chromium" in done.output
    assert "Traceback" not in done.output
