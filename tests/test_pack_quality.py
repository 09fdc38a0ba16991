"""Data quality in the pack passes the same disclosure gate as the findings (issue 13, item 5).

The attacker reads the data-quality section beside the findings: top values with counts of 3
and 7, exact coordinates of individual records, the minimum and maximum of quasi-identifiers,
and "(1 row)" in the feedback must not be there, and a count suppressed in a finding must not be
published in the data-quality tables (or the other way round).
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from _packs import make_packable, provenance

from expedition.finding import Finding, Keys, Table
from expedition.pack import build_pack, verify_pack

WHEN = date(2026, 12, 1)


@pytest.fixture
def packable(project, tmp_path):
    csv_path = tmp_path / "referrals.csv"
    csv_path.write_text("referral_id,district\nR1,North\n")
    return make_packable(project, csv_path)


def profile_document() -> dict:
    return {
        "schema_version": 1,
        "dataset": {"rows": 1012},
        "columns": [
            {"name": "team", "semantic_type": "categorical", "count": 1012, "missing": 0, "distinct": 4,
             "top_values": [{"value": "North", "count": 600, "share": 0.59}, {"value": "South", "count": 402, "share": 0.4},
                            {"value": "Hamlet", "count": 7, "share": 0.007}, {"value": "Isle", "count": 3, "share": 0.003}]},
            {"name": "latitude", "semantic_type": "latitude", "count": 1012, "missing": 0, "distinct": 1012,
             "top_values": [{"value": "51.7356", "count": 2}],
             "numeric": {"min": 51.5012, "max": 51.9987, "mean": 51.7, "quantiles": {"p25": 51.6, "p50": 51.73, "p75": 51.8}}},
            {"name": "age", "semantic_type": "numeric", "count": 1010, "missing": 2, "distinct": 90,
             "numeric": {"min": 0, "max": 104, "mean": 41.2, "quantiles": {"p25": 25.0, "p50": 40.0, "p75": 57.0}}},
        ],
        "alerts": [{"kind": "high_missingness", "column": "age", "severity": "warning",
                    "message": "'age' is missing in 2 rows (e.g. row 17)", "detail": {}}],
    }


def test_small_counts_coordinates_and_extremes_never_reach_the_pack(packable):
    folder = packable.quality_dir("referrals")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profile.json").write_text(json.dumps(profile_document()))
    (folder / "validation.json").write_text(json.dumps({
        "report": {"passed": False, "rows": {"read": 1012, "valid": 1011, "quarantined": 1},
                   "checks": [{"id": "age", "column": "age", "description": "age is 0-17", "failed": 1,
                               "examples": [{"row": 3}]}]},
    }))
    (folder / "feedback.md").write_text("- age over 17 (1 row)\n")
    result = build_pack(packable, when=WHEN)
    pack = result.path
    everything = "\n".join(p.read_text(errors="replace") for p in pack.rglob("*") if p.suffix in {".csv", ".html", ".md", ".json"})
    quality = "\n".join(p.read_text() for p in (pack / "data-quality" / "referrals").iterdir())
    for gone in ("Hamlet", "Isle", "51.7356", "51.5012", "51.9987", "104", "(1 row)", "row 17"):
        assert gone not in quality, gone
    assert "(1 row)" not in everything and "51.7356" not in everything
    top = pl.read_csv(pack / "data-quality" / "referrals" / "top_values.csv")
    assert top["value"].to_list() == ["North", "South"]
    numbers = pl.read_csv(pack / "data-quality" / "referrals" / "numbers.csv")
    assert numbers["column"].to_list() == ["age"] and "min" not in numbers.columns and "max" not in numbers.columns
    validation = pl.read_csv(pack / "data-quality" / "referrals" / "validation.csv", infer_schema=False)
    assert validation["rows"].to_list() == ["c", "c"]  # 1 quarantined: hidden, and valid with it
    columns = pl.read_csv(pack / "data-quality" / "referrals" / "columns.csv", infer_schema=False)
    age = columns.filter(pl.col("column") == "age")
    assert age["missing"].item() == "c" and age["recorded"].item() == "c"  # 1,012 rows − recorded = 2
    assert verify_pack(pack).ok


def test_a_category_suppressed_in_a_finding_is_not_published_by_the_profile(packable):
    """The profile's top values and a finding's category counts are the same numbers when no row
    was quarantined: hidden in one, hidden in the other."""
    folder = packable.quality_dir("referrals")
    folder.mkdir(parents=True, exist_ok=True)
    document = profile_document()
    document["columns"][0]["top_values"] = [
        {"value": "North", "count": 600}, {"value": "South", "count": 404}, {"value": "Isle", "count": 8}]
    (folder / "profile.json").write_text(json.dumps(document))
    valid_sha = "ab" * 32
    (folder / "validation.json").write_text(json.dumps({
        "outputs": {"valid": {"sha256": valid_sha}},
        "report": {"rows": {"read": 1012, "valid": 1012, "quarantined": 0}, "checks": []},
    }))
    counts = Table(pl.DataFrame({"team": ["Isle", "North", "South"], "n": [8, 600, 404]}),
                   {"team": "label", "n": "count"}, dimensions=["team"], keys=Keys(counts={"n": {}}))
    finding = Finding(step="eda", title="Teams", headlines=["Teams."], id="teams", tables={"counts": counts},
                      population=f"referrals@{valid_sha[:16]}", provenance=provenance(packable))
    result = build_pack(packable, [finding], when=WHEN)
    published = pl.read_csv(result.path / "tables" / "teams__counts.csv", infer_schema=False)
    top = pl.read_csv(result.path / "data-quality" / "referrals" / "top_values.csv", infer_schema=False)
    hidden_in_finding = set(published.filter(pl.col("n") == "c")["team"])
    shown_in_profile = set(top.filter(pl.col("count") != "c")["value"])
    assert "Isle" in hidden_in_finding
    assert not (hidden_in_finding & shown_in_profile), (hidden_in_finding, shown_in_profile)


# --------------------------------------------------------------------------- `pack verify` as the attacker


def _resign(pack):
    """Re-hash and re-sign a pack with the team's own key, as a careless (or hostile) editor
    with the key could: only the disclosure checks stand between the edit and a reader."""
    from expedition.manifest import SIGNATURE_FILE, file_hashes, sign_manifest
    from expedition.signing import signing_key

    manifest = json.loads((pack / "manifest.json").read_text())
    manifest["files"] = file_hashes(pack, exclude=("manifest.json", SIGNATURE_FILE))
    data, signature = sign_manifest(manifest, signing_key(create=False))
    (pack / "manifest.json").write_bytes(data)
    (pack / SIGNATURE_FILE).write_bytes(signature)


def _teams_pack(packable):
    counts = Table(pl.DataFrame({"team": ["Isle", "North", "South"], "n": [8, 600, 404]}),
                   {"team": "label", "n": "count"}, dimensions=["team"], keys=Keys(counts={"n": {}}))
    finding = Finding(step="eda", title="Teams", headlines=["Teams."], id="teams", tables={"counts": counts},
                      population="referrals@x", provenance=provenance(packable))
    return build_pack(packable, [finding], when=WHEN).path


def test_verify_finds_a_suppressed_cell_that_the_published_cells_give_away(packable):
    pack = _teams_pack(packable)
    assert verify_pack(pack).ok
    table = pack / "tables" / "teams__counts.csv"
    frame = pl.read_csv(table, infer_schema=False)
    hidden = frame.filter(pl.col("n") == "c")["team"].to_list()
    assert "Isle" in hidden and len(hidden) == 2
    # publish the secondary cell again: the total then gives Isle's 8 away
    other = [t for t in hidden if t != "Isle"][0]
    value = {"North": "600", "South": "404"}[other]
    table.write_text(table.read_text().replace(f"{other},c", f"{other},{value}"))
    findings = json.loads((pack / "findings.json").read_text())
    findings["findings"][0]["published_counts"].append(
        {"where": "headline 1", "key": ["referrals@x", [["team", "*recorded*"]]], "value": 1012})
    (pack / "findings.json").write_text(json.dumps(findings))
    _resign(pack)
    report = verify_pack(pack)
    assert any("disclosure by differencing" in p and "team=Isle" in p for p in report.problems), report.problems


def test_verify_finds_a_suppressed_cell_missing_from_the_log(packable):
    pack = _teams_pack(packable)
    table = pack / "tables" / "teams__counts.csv"
    frame = pl.read_csv(table, infer_schema=False)
    shown = frame.filter(pl.col("n") != "c")["team"].to_list()[0]
    value = frame.filter(pl.col("team") == shown)["n"].item()
    table.write_text(table.read_text().replace(f"{shown},{value}", f"{shown},c"))
    _resign(pack)
    report = verify_pack(pack)
    assert any("suppressed cell(s) missing from the disclosure log" in p for p in report.problems)
