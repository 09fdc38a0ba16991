from __future__ import annotations

import json

import pytest

from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import PackError, StepError
from expedition.manifest import file_hashes
from expedition.pack import build_pack, verify_pack
from expedition.project import Project
from expedition.runner import plan, publish_finding, run, stored_findings


def with_steps(project: Project, steps: list[dict]) -> Project:
    def change(doc):
        doc["steps"] = steps

    update_config(project.config_path, change)
    return project.reload()


@pytest.fixture
def ready(project, referrals_csv, validated) -> Project:
    add_dataset(project, referrals_csv, "referrals")
    return with_steps(
        validated(project.reload(), "referrals"),
        [{"id": "overview", "step": "eda", "dataset": "referrals",
          "params": {"outcome": "rereferred_12m", "outcome_value": "yes"}}],
    )


def test_run_stores_findings_with_provenance(ready):
    events = []
    findings = run(ready, on_progress=lambda e, s, d: events.append((e, s)))
    assert [f.id for f in findings] == ["overview"]
    prov = findings[0].provenance
    delivery = ready.config.datasets["referrals"].latest
    assert prov["data_sha256"] == delivery.sha256
    assert prov["seed"] == 42 and prov["step"] == "eda" and prov["packages"]["polars"]
    assert prov["params"]["outcome"] == "rereferred_12m"
    assert ("start", "overview") in events and ("done", "overview") in events
    stored = stored_findings(ready)
    republished = publish_finding(ready, stored[0])  # stored before the gate, as the step returned it
    assert republished.headlines == findings[0].headlines
    for name, table in findings[0].tables.items():
        assert republished.tables[name].frame.equals(table.frame)
    assert ready.last("run")["steps"] == ["overview"]


def test_every_step_is_checked_before_any_runs(ready):
    project = with_steps(
        ready,
        [
            {"id": "good", "step": "eda", "dataset": "referrals"},
            {"id": "typo", "step": "eda", "dataset": "referrals", "params": {"bins": "many"}},
        ],
    )
    with pytest.raises(StepError, match="typo"):
        run(project)
    assert not (project.results_dir / "good").exists()


def test_unknown_ids_and_steps(ready):
    with pytest.raises(StepError, match="the step ids are: overview"):
        plan(ready, ["nope"])
    project = with_steps(ready, [{"id": "x", "step": "edaa", "dataset": "referrals"}])
    with pytest.raises(StepError, match="did you mean 'eda'"):
        plan(project)


def test_no_steps_and_no_delivery(project):
    with pytest.raises(StepError, match="lists no steps"):
        run(project)

    def declare(doc):
        doc["datasets"] = {"empty": {"deliveries": []}}
        doc["steps"] = [{"id": "a", "step": "eda", "dataset": "empty"}]

    update_config(project.config_path, declare)
    with pytest.raises(Exception, match="no deliveries"):
        run(project.reload())


def test_pack_has_index_and_a_manifest_whose_checksums_match(ready):
    findings = run(ready)
    result = build_pack(ready, findings)
    pack = result.path
    assert pack.parent == ready.findings_dir
    assert pack.name.startswith("test-expedition-")
    for rel in ["index.html", "summary.md", "findings.json", "manifest.json"]:
        assert (pack / rel).is_file()
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["files"] == file_hashes(pack, exclude=("manifest.json", "manifest.sig"))
    assert manifest["findings"][0]["provenance"]["data_sha256"]
    records = json.loads((pack / "findings.json").read_text())["findings"]
    for name, meta in records[0]["tables"].items():
        assert (pack / meta["file"]).is_file()
        assert meta["kinds"]
    html = (pack / "index.html").read_text()
    assert "Executive summary" in html and "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from the network
    assert verify_pack(pack).ok


def test_pack_never_publishes_small_counts_or_identifiers(ready):
    import polars as pl

    result = build_pack(ready, run(ready))
    records = json.loads((result.path / "findings.json").read_text())["findings"]
    for meta in records[0]["tables"].values():
        frame = pl.read_csv(result.path / meta["file"], infer_schema_length=0)
        for column, kind in meta["kinds"].items():
            assert kind != "identifier"
            if kind == "count":
                values = [int(float(v)) for v in frame[column].drop_nulls().to_list() if v not in ("", "c")]
                assert all(v == 0 or v >= 10 for v in values), column


def test_verify_catches_tampering(ready):
    pack = build_pack(ready, run(ready)).path
    (pack / "summary.md").write_text("edited\n")
    (pack / "extra.txt").write_text("sneaked in\n")
    (pack / "tables").joinpath(next(iter(sorted((pack / "tables").iterdir()))).name).unlink()
    report = verify_pack(pack)
    assert not report.ok
    text = "\n".join(report.problems)
    assert "summary.md" in text and "extra.txt" in text and "missing" in text


def test_pack_refuses_to_overwrite_and_needs_findings(ready):
    with pytest.raises(PackError, match="no findings"):
        build_pack(ready, [])
    findings = run(ready)
    first = build_pack(ready, findings)
    with pytest.raises(PackError, match="already exists"):
        build_pack(ready, findings)
    again = build_pack(ready, findings, replace=True)
    assert again.path == first.path and verify_pack(again.path).ok
    leftovers = [p.name for p in ready.findings_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [".gitkeep"]


def test_findings_round_trip_with_artifacts_kept_out_of_the_pack(tmp_path, ready):
    from sklearn.linear_model import LogisticRegression

    from expedition.finding import load_finding, save_finding

    finding = run(ready)[0].with_(artifacts={"model": LogisticRegression(C=0.5)})
    folder = save_finding(finding, tmp_path / "f")
    assert load_finding(folder).artifacts == {}
    assert load_finding(folder, artifacts=True).artifacts["model"].C == 0.5
    pack = build_pack(ready, [finding]).path
    assert not any("joblib" in p.name for p in pack.rglob("*"))
