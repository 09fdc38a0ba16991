"""Review notes, reviewer roles and transparency facts are published in a pack, so personal
data in them is redacted, and the names the project declares public are kept."""

from __future__ import annotations

import json

import pytest

from _packs import make_packable
from expedition.config import update_config
from expedition.pack import build_pack, verify_pack
from expedition.review import public_names, reviews, sign_off

NOTE = "Checked with Mrs McDonald (07700 900123, jo.bloggs(at)nhs.net) and Jane Lead; NHS 943 476 5919."


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("id,district,age\n1,Basildon,4\n2,Harlow,7\n")

    def lead(doc):
        doc["expedition"]["lead"] = "Jane Lead"

    update_config(project.config_path, lead)
    return make_packable(project.reload(), csv_path)


def test_a_review_note_is_redacted_when_recorded_and_the_public_names_stay(packable):
    review = sign_off(packable, "Dr Sam Patel", role="assurer for Sarah-Jane O'Neil", note=NOTE)
    for secret in ("McDonald", "07700", "bloggs", "943 476", "O'Neil"):
        assert secret not in review.note + review.role
    assert "Jane Lead" in review.note and "Mrs [NAME]" in review.note
    history = packable.history_path.read_text(encoding="utf-8")
    assert "McDonald" not in history and "07700" not in history


def test_a_note_recorded_before_redaction_is_redacted_when_read(packable):
    packable.record("review", by="A. Reviewer", role="peer reviewer", note=NOTE, findings={}, checks=[])
    (old,) = reviews(packable)
    assert "McDonald" not in old.note and "[PHONE]" in old.note and "Jane Lead" in old.note


def test_the_cli_records_and_prints_the_redacted_note(cli, packable):
    signed = cli("review", "--by", "A. Reviewer", "--note", NOTE, "--yes", "--json", "-p", str(packable.root))
    assert signed.exit_code == 0, signed.output
    note = json.loads(signed.stdout)["note"]
    assert "McDonald" not in note and "07700" not in note and note.startswith("Checked with Mrs [NAME]")


def test_review_notes_and_transparency_facts_never_reach_the_pack(packable):
    def facts(doc):
        doc["transparency"] = {
            "contact": "expeditions@essex.gov.uk",
            "team": "Insight team (Jo Bloggs, 07700 900456)",
            "senior_responsible_owner": "Director of Children's Services, CM1 1QH",
            "organisation": "Essex County Council",
        }
        doc["disclosure"]["public_names"] = ["Jo Bloggs"]

    update_config(packable.config_path, facts)
    project = packable.reload()
    sign_off(project, "A. Reviewer", note=NOTE)
    assert "Jo Bloggs" in public_names(project) and "expeditions@essex.gov.uk" in public_names(project)
    result = build_pack(project)
    assert verify_pack(result.path).ok
    everything = "\n".join(
        p.read_text(encoding="utf-8") for p in result.path.rglob("*") if p.suffix in {".md", ".json", ".html"}
    )
    for secret in ("McDonald", "07700 900123", "07700 900456", "jo.bloggs(at)", "943 476 5919", "CM1 1QH"):
        assert secret not in everything, secret
    transparency = (result.path / "transparency.md").read_text(encoding="utf-8")
    # public: the contact address, a team member named in disclosure.public_names, the lead
    assert "expeditions@essex.gov.uk" in transparency and "Jo Bloggs" in transparency
    assert "Jane Lead" in transparency
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    assert "McDonald" not in manifest["review"][0]["note"]


def resign(pack):
    """Re-hash and re-sign an edited pack with the team's own key, so that only the content
    checks stand between the edit and a reader."""
    from expedition.manifest import SIGNATURE_FILE, file_hashes, sign_manifest
    from expedition.signing import signing_key

    manifest = json.loads((pack / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = file_hashes(pack, exclude=("manifest.json", SIGNATURE_FILE))
    data, signature = sign_manifest(manifest, signing_key(create=False))
    (pack / "manifest.json").write_bytes(data)
    (pack / SIGNATURE_FILE).write_bytes(signature)


ISSUE_EXAMPLES = {
    "Seen by Mrs McDonald.": "person's name", "MR SMITH attended.": "person's name",
    "Sarah-Jane McDonald was seen.": "person's name", "Call 07700.900.123 now.": "UK phone number",
    "NHS 943.476.5919 seen.": "NHS number", "DOB: 2011-04-03 noted.": "date of birth",
    "Write to jo.bloggs(at)nhs.net today.": "e-mail address", "Lives at CM1  1AA now.": "UK postcode",
}


@pytest.mark.parametrize("text", sorted(ISSUE_EXAMPLES))
def test_pack_verify_no_longer_passes_the_issues_examples(packable, text):
    """Each example, written into a finished pack's summary, makes `pack verify` fail with the
    kind, without repeating the value."""
    pack = build_pack(packable).path
    (pack / "summary.md").write_text(f"# Summary\n\n{text}\n", encoding="utf-8")
    resign(pack)
    report = verify_pack(pack)
    problems = "\n".join(report.problems)
    assert f"summary.md: looks like personal data ({ISSUE_EXAMPLES[text]})" in problems
    value = text.split(" ", 1)[1].rstrip(".")
    assert value not in problems


@pytest.mark.parametrize("label", ["SMITH, John", "Sarah-Jane McDonald", "McDonald"])
def test_pack_verify_finds_a_label_that_is_a_name(packable, label):
    pack = build_pack(packable).path
    table = pack / "tables" / "by-district__counts.csv"
    quoted = f'"{label}"' if "," in label else label
    table.write_text(table.read_text(encoding="utf-8").replace("Basildon", quoted, 1), encoding="utf-8")
    resign(pack)
    problems = verify_pack(pack).problems
    assert "tables/by-district__counts.csv: looks like personal data (person's name) on line 2" in problems
