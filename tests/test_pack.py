"""The findings pack: contents, disclosure, data quality, transparency, review, zip, verify."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date

import pytest

from _packs import district_finding, make_packable, model_finding, tiny_png, write_quality
from expedition.errors import PackError
from expedition.finding import Figure, save_finding
from expedition.manifest import REQUIRED_PROVENANCE, file_hashes
from expedition.pack import build_pack, verify_pack
from expedition.review import review_status, sign_off

WHEN = date(2026, 12, 1)


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n3,Maldon,12\n")
    return make_packable(project, csv_path)


def read_csv(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_the_pack_holds_every_part(packable):
    write_quality(packable)
    result = build_pack(packable, when=WHEN)
    pack = result.path
    assert pack.name == "test-expedition-2026-12-01" and result.zip == pack.with_name(pack.name + ".zip")
    for rel in ["index.html", "summary.md", "findings.json", "manifest.json", "transparency.md", "ETHICS.md",
                "tables/by-district__counts.csv", "tables/by-district__outcome.csv",
                "figures/risk-model__calibration.png", "model-cards/risk-model.md",
                "documents/risk-model__notes.md", "data-quality/referrals/validation.csv",
                "data-quality/referrals/failed_checks.csv", "data-quality/referrals/alerts.csv"]:
        assert (pack / rel).is_file(), rel
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["files"] == file_hashes(pack, exclude=("manifest.json", "manifest.sig"))
    assert manifest["signer"]["fingerprint"] == result.signer and result.signer.startswith("SHA256:")
    assert manifest["pack"]["status"] == "draft" and manifest["review"] is None
    entry = manifest["findings"][0]
    assert all(key in entry["provenance"] for key in REQUIRED_PROVENANCE)
    assert entry["provenance_missing"] == []
    # every suppression is logged with its reason, and never with the value it hid
    log = manifest["disclosure"]["log"]
    rules = {e["rule"] for e in log}
    assert {"primary", "secondary", "derived", "withheld", "redacted"} <= rules
    primary = next(e for e in log if e["rule"] == "primary")
    assert primary["labels"] == {"district": "Braintree"} and "4" not in primary["reason"]

    counts = read_csv(pack / "tables/by-district__counts.csv")
    assert [r["n"] for r in counts] == ["120", "c", "35", "60", "c"]
    assert [r["share"] for r in counts][1] == "c"
    records = json.loads((pack / "findings.json").read_text())
    first = records["findings"][0]
    assert first["figures"] == {} and first["figures_withheld"] == ["bars"]
    assert first["headlines"][1] == "Ms [NAME] in Harlow called [PHONE]."
    assert records["findings"][1]["document_files"] == {
        "model_card": "model-cards/risk-model.md", "notes": "documents/risk-model__notes.md"}

    html = (pack / "index.html").read_text()
    assert html.index('id="summary"') < html.index('id="finding-by-district"') < html.index('id="data-quality"')
    for section in ["methods", "ethics", "transparency", "review", "reproducibility"]:
        assert f'id="{section}"' in html
    assert "default-src 'none'" in html and "<script" not in html
    assert "DRAFT" in html and "data:image/png;base64," in html
    assert "790 valid + 10 quarantined" in html
    assert "07700" not in html and "alert(1)" not in html and "https://example.org/x.png" not in html
    assert packable.last("pack")["zip_sha256"] == result.zip_sha256
    assert verify_pack(pack).ok and verify_pack(result.zip).ok


def test_data_quality_files_are_published_safely(packable):
    """The team's own reports (with examples, row numbers, contact details) never reach the
    pack: it publishes gated tables built from them, and a report it cannot read is left out."""
    folder = write_quality(packable)
    result = build_pack(packable, when=WHEN)
    quality = result.path / "data-quality" / "referrals"
    for raw in ("profile.json", "profile.html", "validation.json", "validation.html", "feedback.md"):
        assert not (quality / raw).exists()
    published = "\n".join(p.read_text() for p in quality.iterdir())
    published += (result.path / "index.html").read_text()
    for secret in ("07700", "jo@example.org", "Smith", "alert(1)", "example.org/x.png"):
        assert secret not in published
    assert (quality / "validation.csv").read_text().splitlines() == ["status,rows", "valid,790", "quarantined,10"]
    assert "age is 0-17" in (quality / "failed_checks.csv").read_text()
    (folder / "profile.json").write_text("{not json")
    again = build_pack(packable, when=WHEN, replace=True)
    assert any("profile.json could not be read" in w for w in again.warnings)
    assert verify_pack(again.path).ok


def test_missing_quality_reports_and_ethics_are_reported_not_fatal(packable):
    (packable.root / "ETHICS.md").unlink()
    result = build_pack(packable, when=WHEN)
    assert not (result.path / "data-quality").exists()
    assert any("ETHICS.md is missing" in w for w in result.warnings)
    html = (result.path / "index.html").read_text()
    assert "the ethics checklist was not completed" in html
    assert "No data-quality reports for referrals" in html
    assert verify_pack(result.path).ok


def test_bad_findings_get_clear_warnings(packable):
    broken = district_finding(packable, "broken", tables={}, figures={
        "empty": Figure("A figure that failed", b"", None),
        "garbled": Figure("Garbled", b"not a png at all", b"<nope>"),
    })
    project = make_packable_again(packable, [broken])
    result = build_pack(project, when=WHEN)
    text = "\n".join(result.warnings)
    assert "finding broken has no tables" in text
    assert "figure 'empty' failed to render" in text and "figure 'garbled' failed to render" in text
    html = (result.path / "index.html").read_text()
    assert "could not be rendered and are left out: empty, garbled" in html


def make_packable_again(project, findings):
    from expedition.config import update_config

    def declare(doc):
        doc["steps"] = [{"id": f.id, "step": "eda", "dataset": "referrals"} for f in findings]

    update_config(project.config_path, declare)
    project = project.reload()
    for finding in findings:
        save_finding(finding, project.results_dir / finding.id)
    return project


def test_the_zip_is_reproducible(packable):
    first = build_pack(packable, when=WHEN)
    bytes_one = first.zip.read_bytes()
    again = build_pack(packable, when=WHEN, replace=True)
    assert again.zip.read_bytes() == bytes_one
    with zipfile.ZipFile(again.zip) as archive:
        names = archive.namelist()
        assert names == sorted(names) and all(n.startswith(f"{first.path.name}/") for n in names)
        assert {i.date_time for i in archive.infolist()} == {(2026, 12, 1, 0, 0, 0)}
    assert [p.name for p in packable.findings_dir.iterdir() if p.name.startswith(".")] == [".gitkeep"]


def test_pack_refuses_an_existing_pack_and_no_findings(packable):
    build_pack(packable, when=WHEN)
    with pytest.raises(PackError, match="already exists"):
        build_pack(packable, when=WHEN)
    with pytest.raises(PackError, match="no findings"):
        build_pack(packable, [], when=WHEN)


# --------------------------------------------------------------------------- review


def test_final_needs_a_sign_off_that_still_covers_the_findings(packable):
    with pytest.raises(PackError, match="needs a review sign-off"):
        build_pack(packable, when=WHEN, final=True)
    review = sign_off(packable, "Dr Jane Smith", role="peer reviewer", note="Checked the district tables.")
    assert set(review.findings) == {"by-district", "risk-model"}
    assert review_status(packable).signed
    result = build_pack(packable, when=WHEN, final=True)
    assert result.status == "final"
    pack = result.path
    for page in ["index.html", "summary.md", "transparency.md"]:
        text = (pack / page).read_text()
        assert "FINAL — signed off by Dr Jane Smith (peer reviewer)" in text, page
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["review"][0]["by"] == "Dr Jane Smith"
    assert verify_pack(pack).ok  # the reviewer's name is public, not personal data to redact

    # a finding that changes after the review is no longer covered
    changed = district_finding(packable, headlines=["Something new."])
    save_finding(changed, packable.results_dir / changed.id)
    status = review_status(packable)
    assert not status.signed and status.uncovered == ["by-district"]
    with pytest.raises(PackError, match="changed or added since the last review"):
        build_pack(packable, when=WHEN, final=True, replace=True)


# --------------------------------------------------------------------------- transparency


def test_transparency_record_lists_gaps_and_fills_what_it_can(packable):
    from expedition.config import update_config

    update_config(packable.config_path, lambda doc: doc["datasets"]["referrals"].pop("agreement"))
    packable = packable.reload()
    result = build_pack(packable, when=WHEN)
    record = (result.path / "transparency.md").read_text()
    assert "## Tier 1: summary" in record and "## Tier 2: owner and responsibility" in record
    gaps = record.split("## Gaps", 1)[1]
    for field in ["Contact", "Senior responsible owner", "Data-sharing agreement", "Impact assessments (DPIA)"]:
        assert field in gaps
    assert "Trained on one county's records" in record  # from the model card
    assert result.gaps > 0

    ethics = packable.root / "ETHICS.md"
    text = ethics.read_text()
    text = text.replace("- [ ] Who benefits from the answer, and how?",
                        "- [x] Who benefits from the answer, and how? Families: fewer repeat referrals.")
    text = text.replace("(DPIA) has been done or judged unnecessary, by:",
                        "(DPIA) has been done or judged unnecessary, by: DPIA 2026/14 approved by the DPO")
    ethics.write_text(text)
    sharing = packable.root / "DATA_SHARING.md"
    sharing.write_text(sharing.read_text().replace(
        "| Agreement (title, reference, date signed) | |",
        "| Agreement (title, reference, date signed) | DSA-2026-07, signed 2026-11-01 |"))
    update_config(packable.config_path, lambda doc: doc.__setitem__(
        "transparency", {"contact": "insight@example.gov.uk", "team": "Insight team",
                         "senior_responsible_owner": "Director of Children's Services"}))
    project = packable.reload()
    filled = build_pack(project, when=WHEN, replace=True)
    record = (filled.path / "transparency.md").read_text()
    gaps = record.split("## Gaps", 1)[1]
    assert "insight@example.gov.uk" in record and "DSA-2026-07" in record
    assert "DPIA 2026/14 approved by the DPO" in record
    for field in ["Contact", "Senior responsible owner", "Data-sharing agreement", "Impact assessments"]:
        assert field not in gaps
    assert filled.gaps < result.gaps
    assert verify_pack(filled.path).ok  # the published contact address is not flagged


# --------------------------------------------------------------------------- verify


def old_seal(manifest):
    """The unkeyed self-hash packs used to carry: anyone can compute it."""
    import hashlib

    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return {**body, "manifest_sha256": hashlib.sha256(canonical).hexdigest()}


def reseal(pack):
    """Recompute a pack's manifest as a careless (or dishonest) tool would."""
    path = pack / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = file_hashes(pack, exclude=("manifest.json", "manifest.sig"))
    path.write_text(json.dumps(old_seal(manifest), indent=2))


def test_verify_catches_every_tampering(packable):
    pack = build_pack(packable, when=WHEN).path
    assert verify_pack(pack).ok
    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["findings"][0]["provenance"]["seed"] = 7
    (pack / "manifest.json").write_text(json.dumps(manifest))
    (pack / "summary.md").write_text("edited\n")
    (pack / "notes.txt").write_text("added\n")
    (pack / "tables/by-district__outcome.csv").unlink()
    problems = "\n".join(verify_pack(pack).problems)
    assert "manifest.json: changed since it was signed" in problems
    assert "summary.md: content changed" in problems
    assert "notes.txt: not listed in the manifest" in problems
    assert "by-district__outcome.csv: listed in the manifest but missing" in problems


def test_verify_finds_small_counts_identifiers_personal_data_and_gaps(packable):
    pack = build_pack(packable, when=WHEN).path
    table = pack / "tables/by-district__counts.csv"
    table.write_text(table.read_text().replace("120,", "3,", 1))
    records_path = pack / "findings.json"
    records = json.loads(records_path.read_text())
    records["findings"][0]["tables"]["counts"]["kinds"]["nhs_number"] = "identifier"
    records_path.write_text(json.dumps(records))
    outcome = pack / "tables/by-district__outcome.csv"
    outcome.write_text(outcome.read_text().replace("district,", "nhs_number,", 1))
    (pack / "summary.md").write_text("Call Jamie on 07700 900123 about NHS 943 476 5919.\n")
    manifest = json.loads((pack / "manifest.json").read_text())
    del manifest["findings"][1]["provenance"]["data_sha256"]
    (pack / "manifest.json").write_text(json.dumps(manifest))
    reseal(pack)
    report = verify_pack(pack)
    problems = "\n".join(report.problems)
    assert not report.ok
    assert "by-district__counts.csv line 2: count 'n' is below the threshold of 10" in problems
    assert "column 'nhs_number' looks like a personal identifier" in problems
    assert "summary.md: looks like personal data (UK phone number)" in problems
    assert "summary.md: looks like personal data (NHS number)" in problems
    assert "finding risk-model: provenance incomplete (no data_sha256)" in problems
    assert "07700" not in problems  # the report never repeats the personal data it found


def test_verify_a_zip_and_refuse_entries_that_escape(packable, tmp_path):
    result = build_pack(packable, when=WHEN)
    assert verify_pack(result.zip).ok
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(result.zip) as good, zipfile.ZipFile(evil, "w") as bad:
        for info in good.infolist():
            data = good.read(info)
            if info.filename.endswith("summary.md"):
                data = b"tampered\n"
            bad.writestr(info, data)
        bad.writestr("../outside.txt", b"escape")
        bad.writestr("/etc/evil", b"absolute")
    report = verify_pack(evil)
    problems = "\n".join(report.problems)
    assert "zip entry '../outside.txt' escapes the pack folder" in problems and "refused" in problems
    assert "zip entry '/etc/evil' has an absolute path" in problems
    assert "summary.md: content changed" in problems
    assert not (tmp_path.parent / "outside.txt").exists()


def test_verify_rejects_what_is_not_a_pack(tmp_path):
    with pytest.raises(PackError, match="does not exist"):
        verify_pack(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(PackError, match="neither a pack folder nor a zip"):
        verify_pack(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackError, match="no manifest.json"):
        verify_pack(tmp_path / "empty")


def test_a_pack_that_would_fail_verification_is_never_written(packable, monkeypatch):
    import expedition.pack.verify as verify_module

    # a personal-data pattern the gate does not redact (simulated) must stop the build
    monkeypatch.setattr(verify_module, "missing_provenance", lambda prov: ["seed"])
    with pytest.raises(PackError, match="failed its own checks"):
        build_pack(packable, when=WHEN)
    assert not any(p.name.startswith("test-expedition") for p in packable.findings_dir.iterdir())


def test_large_figures_are_downsampled_for_the_page(packable):
    big = model_finding(packable).with_(figures={"calibration": Figure("Big", tiny_png(3000, 2000), None, data="tiers")})
    project = make_packable_again(packable, [big])
    pack = build_pack(project, when=WHEN).path
    assert (pack / "figures/risk-model__calibration.png").read_bytes() == big.figures["calibration"].png
    html = (pack / "index.html").read_text()
    import base64
    import re

    from expedition.pack.markup import png_size

    uri = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    from expedition.pack.markup import MAX_EMBED_WIDTH

    assert png_size(base64.b64decode(uri))[0] == MAX_EMBED_WIDTH


def test_a_rerun_with_the_same_result_keeps_the_sign_off(packable):
    sign_off(packable, "A. Reviewer")
    same = district_finding(packable)
    provenance = {**same.provenance, "started": "2026-12-02T09:00:00+00:00",
                  "finished": "2026-12-02T09:00:02+00:00", "command": "expedition run by-district"}
    save_finding(same.with_(provenance=provenance), packable.results_dir / same.id)
    assert review_status(packable).signed
    assert build_pack(packable, when=WHEN, final=True).status == "final"


def test_personal_data_in_labels_and_pictures_never_reaches_the_pack(packable):
    import polars as pl

    from _packs import SVG
    from expedition.finding import Table

    frame = pl.DataFrame({"postcode": ["CM1 1AA", "CM2 9XY", "SS1 2AB"], "n": [3, 40, 55]})
    svg = SVG.replace(b"<text>bars</text>", b"<text>Mr Brown</text>")
    finding = district_finding(packable, "places", tables={"by_postcode": Table(frame, {"postcode": "label", "n": "count"})},
                               figures={"map": Figure("Map", tiny_png(), svg, data=None)})
    project = make_packable_again(packable, [finding])
    result = build_pack(project, when=WHEN)
    manifest = json.loads((result.path / "manifest.json").read_text())
    primary = next(e for e in manifest["disclosure"]["log"] if e["rule"] == "primary")
    assert primary["labels"] == {"postcode": "[POSTCODE]"}
    assert any(e["reason"] == "withheld: its picture contains personal data" for e in manifest["disclosure"]["log"])
    assert not list((result.path / "figures").glob("places__map*"))
    assert verify_pack(result.path).ok
