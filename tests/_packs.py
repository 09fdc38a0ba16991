"""Small hand-made expeditions for the pack tests: stored findings without running any step."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.finding import Figure, Finding, Table, save_finding
from expedition.project import Project


def tiny_png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (31, 95, 139)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>bars</text></svg>\n'


def provenance(project: Project, step: str = "eda") -> dict:
    delivery = project.config.datasets["referrals"].latest
    return {
        "step": step,
        "step_version": "1",
        "dataset": "referrals",
        "delivery": delivery.version,
        "data_file": delivery.file,
        "data_sha256": delivery.sha256,
        "contract": None,
        "seed": 42,
        "params": {},
        "packages": {"python": "3", "polars": pl.__version__},
        "command": "expedition run",
        "started": "2026-11-24T10:00:00+00:00",
        "finished": "2026-11-24T10:00:01+00:00",
    }


def district_finding(project: Project, finding_id: str = "by-district", **changes) -> Finding:
    counts = pl.DataFrame(
        {
            "district": ["Basildon", "Braintree", "Colchester", "Harlow", "Maldon"],
            "n": [120, 4, 35, 60, 22],
        }
    ).with_columns((pl.col("n") / 241).alias("share"))
    table = Table(
        counts,
        {"district": "label", "n": "count", "share": "rate"},
        title="Referrals by district",
        denominators={"share": "n"},
    )
    cross = pl.DataFrame(
        {
            "district": [d for d in ["Basildon", "Braintree", "Colchester"] for _ in range(2)],
            "outcome": ["yes", "no"] * 3,
            "n": [40, 80, 3, 1, 15, 20],
        }
    )
    two_way = Table(cross, {"district": "label", "outcome": "label", "n": "count"}, title="Outcome by district")
    finding = Finding(
        step="eda",
        title="Where referrals come from",
        headlines=["Basildon has the most referrals (120).", "Ms Taylor in Harlow called 07700 900123."],
        id=finding_id,
        method="Counts of referrals by district.",
        tables={"counts": table, "outcome": two_way},
        figures={"bars": Figure("Referrals by district", tiny_png(), SVG, alt="Bar chart", data="counts")},
        caveats=["Districts are where the referral was recorded."],
        params={},
        provenance=provenance(project),
    )
    return finding.with_(**changes) if changes else finding


def model_finding(project: Project, finding_id: str = "risk-model") -> Finding:
    scores = pl.DataFrame({"tier": ["low", "medium", "high"], "n": [500, 300, 200],
                           "rate": [0.1, 0.25, 0.5]})
    card = (
        "# Model card: re-referral risk\n\n## Intended use\n\nTo help a team prioritise case "
        "reviews; never to decide about a family on its own.\n\n## Limitations\n\nTrained on one "
        "county's records from 2021-2024; calibration may drift.\n\n## Fairness\n\nDiscrimination "
        "checked across sex and ethnicity; gaps under 3 points.\n"
    )
    return Finding(
        step="risk",
        title="Who is likely to be re-referred",
        headlines=["A calibrated model separates high- and low-risk cases (AUC 0.74)."],
        id=finding_id,
        method="Logistic regression with a temporal split.",
        tables={"tiers": Table(scores, {"tier": "label", "n": "count", "rate": "rate"},
                               denominators={"rate": "n"})},
        figures={"calibration": Figure("Calibration", tiny_png(80, 60), None, data="tiers")},
        documents={"model_card": card, "notes": "Threshold chosen with the partner."},
        params={"model": "logistic"},
        provenance=provenance(project, "risk"),
    )


#: a data-sharing agreement for the synthetic referrals (a final pack needs one per dataset)
AGREEMENT = {"reference": "DSA-TEST-001", "provider": "Example County Council",
             "lawful_basis": "UK GDPR Article 6(1)(e) public task", "retain_until": "2099-12-31"}


def make_packable(project: Project, csv: Path, findings=None) -> Project:
    """Register a dataset, declare steps for the findings and store them."""
    add_dataset(project, csv, "referrals")
    project = project.reload()
    findings = findings or [district_finding(project), model_finding(project)]

    def declare(doc):
        doc["steps"] = [{"id": f.id, "step": "eda", "dataset": "referrals"} for f in findings]
        doc["datasets"]["referrals"]["agreement"] = AGREEMENT

    update_config(project.config_path, declare)
    project = project.reload()
    for finding in findings:
        save_finding(finding, project.results_dir / finding.id)
    return project


def write_quality(project: Project, dataset: str = "referrals") -> Path:
    import json

    folder = project.quality_dir(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profile.json").write_text(json.dumps({
        "rows": 800, "columns": ["a", "b", "c"],
        "alerts": [{"column": "notes", "kind": "pii", "message": "possible phone numbers"}, "age is skewed"],
        "columns_detail": {"notes": {"examples": ["call 07700 900123"]}},
    }))
    (folder / "profile.html").write_text("<html><body><h1>Profile</h1><p>Contact jo@example.org</p></body></html>")
    (folder / "validation.json").write_text(json.dumps({
        "dataset": dataset, "validated_at": "2026-11-24T09:00:00+00:00",
        "report": {"passed": True, "rows": {"read": 800, "valid": 790, "quarantined": 10},
                   "checks": [{"id": "age_range", "column": "age", "description": "age is 0-17",
                               "failed": 10, "examples": [{"row": 3, "age": 19}]},
                              {"id": "ok", "column": "sex", "description": "sex is known", "failed": 0}]},
    }))
    (folder / "validation.html").write_text(
        '<div class="validation"><h4>Validation</h4><p>10 rows quarantined.</p>'
        '<script>alert(1)</script><img src="https://example.org/x.png">'
        '<p onclick="x()">Ring 07700 900123</p></div>'
    )
    (folder / "feedback.md").write_text("# Feedback\n\n- 10 ages over 17. Contact Mr Smith on 07700 900456.\n")
    return folder
