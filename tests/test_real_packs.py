"""Packs of real public data, end to end, as issue 13 asks: the Metropolitan Police's stop and
search records for December 2018 (15,521 searches; gender: 14,281 male, 1,057 female, 4 other,
179 not recorded).

Four "Other" records used to hide every Female figure (secondary suppression had to take a
cell from another gender to protect them). With rare categories recoded before the steps
tabulate, the pack keeps the Female and Male counts, publishes nothing below the threshold,
and passes `pack verify`, whose auditor finds nothing to work out.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MET = "police-met-stop-and-search-2018-12/2018-12-metropolitan-stop-and-search.csv"


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_met_stop_and_search_keeps_its_big_groups_and_verifies(cli, tmp_path, shared_data):
    source = shared_data / MET
    if not source.exists():
        pytest.skip(f"{MET} is not in the shared data")
    made = cli("new", "met-searches", "--no-input", "--output-dir", str(tmp_path))
    assert made.exit_code == 0, made.output
    root = tmp_path / "met-searches"
    p = str(root)
    assert cli("data", "add", str(source), "--name", "searches", "-p", p).exit_code == 0
    assert cli("schema", "infer", "searches", "-q", "-p", p).exit_code == 0
    validated = cli("validate", "searches", "-q", "--max-invalid", "100", "-p", p)
    assert validated.exit_code in (0, 1), validated.output
    config = root / "expedition.yaml"
    config.write_text(config.read_text().replace(
        "steps: []",
        "steps:\n"
        "  - id: searches-overview\n    step: eda\n    dataset: searches\n"
        "  - id: by-gender\n    step: significance\n    dataset: searches\n"
        "    params: {group: Gender, variables: [Age range, Object of search, Outcome]}\n",
    ))
    ran = cli("run", "-p", p)
    assert ran.exit_code == 0, ran.output
    built = cli("pack", "--json", "-p", p)
    assert built.exit_code == 0, built.output
    pack = Path(json.loads(built.stdout)["path"])
    checked = cli("pack", "verify", str(pack))
    assert checked.exit_code == 0, checked.output
    # a public summary a resident can read, and a datasheet that shows no value of the data
    from expedition.pack.public import reading_ease

    public = (pack / "public-summary.md").read_text()
    assert reading_ease(public) >= 60, public
    sheet = (pack / "datasheets" / "searches.md").read_text()
    assert "Officer-defined ethnicity" in sheet and "Controlled drugs" not in sheet

    findings = json.loads((pack / "findings.json").read_text())
    published_counts = []
    for record in [*findings["findings"], *findings.get("data_quality", [])]:
        for meta in record["tables"].values():
            counts = [c for c, k in meta["kinds"].items() if k == "count"]
            for row in rows_of(pack / meta["file"]):
                for c in counts:
                    if row.get(c) not in (None, "", "c"):
                        published_counts.append(float(row[c]))
    assert published_counts and all(v == 0 or v >= 10 for v in published_counts)

    # the Female and Male rows of the crosstab keep their counts: only categories with a
    # count below the threshold lose theirs, with the fewest cells beside them that protect them
    crosstab = next(meta for name, meta in next(
        r for r in findings["findings"] if r["id"] == "by-gender")["tables"].items() if name == "crosstab")
    rows = rows_of(pack / crosstab["file"])
    assert {row["group"] for row in rows} == {"Female", "Male"}
    truth: dict[tuple[str, str, str], int] = {}
    for record in rows_of(source):
        for variable in ("Age range", "Object of search", "Outcome"):
            if record["Gender"] in {"Female", "Male"} and record[variable]:
                k = (variable, record[variable], record["Gender"])
                truth[k] = truth.get(k, 0) + 1
    hidden = {(row["variable"], row["category"], row["group"]) for row in rows if row["n"] == "c"}
    listed = {(row["variable"], row["category"]) for row in rows}  # rare categories were recoded
    small = {k for k, v in truth.items() if 0 < v < 10 and k[:2] in listed}
    assert small <= hidden
    for row in rows:
        k = (row["variable"], row["category"], row["group"])
        if row["n"] != "c":
            assert int(row["n"]) == truth.get(k, 0)
    assert not any(k[0] == "Age range" for k in hidden)  # no small cell there, nothing hidden
    assert len(hidden) <= 3 * len(small), (len(hidden), len(small))
    published_female = [row for row in rows if row["group"] == "Female" and row["n"] != "c"]
    assert len(published_female) >= len([r for r in rows if r["group"] == "Female"]) * 0.6
