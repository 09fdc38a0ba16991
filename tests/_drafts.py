"""The deliveries `schema infer` is checked on: each makes its data in a folder and returns what
its draft is (the contract's YAML, or for a draft in a project the file `schema infer` wrote).

Used by tests/test_schema_infer_golden.py, which compares each draft with the one recorded in
tests/data/drafts/NAME.yaml (recorded before the draft was made from the profile's pass).
"""

from __future__ import annotations

import codecs
import json
import os
import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "data" / "drafts"
SHARED_DATA = Path(
    os.environ.get("EXPEDITION_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


def _infer(data, **kwargs) -> str:
    from expedition.contract import infer_schema

    return infer_schema(data, **kwargs).to_yaml()


# --------------------------------------------------------------------------- files and frames


def referrals_800(folder: Path) -> str:
    from expedition.examples.referrals import write

    return _infer(write(folder / "referrals.csv", rows=800, seed=7), dataset="referrals")


def referrals_bad_rows(folder: Path) -> str:
    from expedition.examples.referrals import write

    return _infer(write(folder / "referrals.csv", rows=3000, seed=3, bad_rows=True))


def referrals_large(folder: Path) -> str:
    """More rows than the profile's sample and its batches, so nothing is decided from one batch."""
    from expedition.examples.referrals import write

    return _infer(write(folder / "referrals.csv", rows=260_000, seed=11), dataset="referrals")


def referrals_parquet(folder: Path) -> str:
    from expedition.examples.referrals import write

    return _infer(write(folder / "referrals.parquet", rows=2000, seed=5))


def demand(folder: Path) -> str:
    from expedition.examples.demand import write

    return _infer(write(folder / "demand.csv"), dataset="demand")


def incidents(folder: Path) -> str:
    from expedition.examples.incidents import write

    return _infer(write(folder / "incidents.csv", rows=20_000), dataset="incidents")


def pathways(folder: Path) -> str:
    from expedition.examples.pathways import write

    return _infer(write(folder / "pathways.csv"), dataset="pathways")


def registers(folder: Path) -> str:
    from expedition.examples.registers import write

    files = write(folder)
    return "".join(f"# ---- {name}\n" + _infer(files[name], dataset=name) for name in sorted(files))


def seatbelts(folder: Path) -> str:
    return _infer(HERE / "data" / "seatbelts.csv", dataset="seatbelts")


def pii_corpus(folder: Path) -> str:
    return _infer(HERE / "data" / "pii_corpus.csv")


def bad_values(folder: Path) -> str:
    import polars as pl

    return _infer(pl.DataFrame({
        "count": [str(i) for i in range(500)] + ["12a"],
        "code": ["007", "012", "123"] * 167,
        "when": ["03/02/2024"] * 500 + ["31/02/2024"],
        "amount": ["1.5"] * 499 + ["NA", "2"],
        "flag": ["true", "false"] * 250 + ["TRUE"],
    }))


def uk_formats(folder: Path) -> str:
    import polars as pl

    return _infer(pl.DataFrame({
        "postcode": ["CM1 1AA", "CO4 3SQ", "SS14 2PZ"] * 10,
        "nhs_number": ["943 476 5919", "401 023 2137", "999 000 0001"] * 10,
        "email": [f"person{i}@example.org" for i in range(30)],
        "lsoa_code": ["E01000001", "E01021999", "W01000002"] * 10,
        "first_name": ["Sam", "Alex", "Jo"] * 10,
        "lsoa_name": ["Colchester 001A", "Harlow 002B", "Maldon 003C"] * 10,
    }))


def infinities(folder: Path) -> str:
    out = []
    for value in ["inf", "-inf", "nan", "1e309", "-1e309", "Infinity"]:
        path = folder / f"x-{value}.csv"
        path.write_text("id,x\n" + "".join(f"{i},{i * 1.5}\n" for i in range(40)) + f"40,{value}\n")
        out.append(f"# ---- {value}\n" + _infer(path))
    return "".join(out)


def only_infinities(folder: Path) -> str:
    import polars as pl

    return _infer(pl.DataFrame({"x": [float("inf"), float("-inf"), None], "y": [1.7e308, -1.7e308, 0.0]}))


def count_columns(folder: Path) -> str:
    import polars as pl

    return _infer(pl.DataFrame({"n": list(range(3000)) * 2, "count": ["a", "b"] * 3000,
                                "value": [True, False] * 3000}))


def unicode_text(folder: Path) -> str:
    rows = [("id", "name", "age", "town")] + [
        (str(i), f"Zoë Ó'Brien {i}", str(20 + i % 50), ["Chelmsford", "Colchester", "Harlow"][i % 3])
        for i in range(1, 51)
    ]
    path = folder / "unicode.txt"
    text = "\r\n".join("\t".join(row) for row in rows) + "\r\n"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    return _infer(path)


def typed_frame(folder: Path) -> str:
    """Typed columns (as Parquet or a frame gives them), with nulls, booleans, dates, date-times."""
    from datetime import datetime, timedelta

    import polars as pl

    rng = random.Random(4)
    n = 400
    start = datetime(2023, 1, 1, 8, 30)
    frame = pl.DataFrame({
        "visit_id": list(range(1000, 1000 + n)),
        "seen": [rng.random() < 0.4 if i % 17 else None for i in range(n)],
        "arrived": [start + timedelta(hours=rng.randint(0, 5000)) for _ in range(n)],
        "visit_date": [date(2023, 1, 1) + timedelta(days=rng.randint(0, 400)) for _ in range(n)],
        "weight": [round(rng.uniform(40, 120), 1) if i % 9 else None for i in range(n)],
        "kind": [rng.choice(["a", "b", "c"]) for _ in range(n)],
        "flags": [[rng.randint(0, 3)] for _ in range(n)],
        "gender": [rng.choice(["F", "M", None]) for _ in range(n)],
        "lat": [rng.uniform(51.5, 52.0) for _ in range(n)],
        "lng": [rng.uniform(0.0, 1.5) for _ in range(n)],
        "small": pl.Series([rng.randint(-5, 5) for _ in range(n)], dtype=pl.Int8),
        "empty": pl.Series([None] * n, dtype=pl.String),
    })
    return _infer(frame, dataset="visits")


def text_shapes(folder: Path) -> str:
    """Text written by people: null tokens, date-times, months, hex ids, codes, free text,
    yes/no, numbers with stray values, spaces around values."""
    rng = random.Random(9)
    n = 600
    words = "the client was seen at home and said that the support had helped a lot".split()
    lines = ["ref,hash,stamp,month,spend,reply,note,score,team,ward_code,opened,closed,outcome,latitude"]
    for i in range(n):
        stamp = f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} {rng.randint(10, 23)}:{rng.randint(10, 59)}:0{rng.randint(0, 9)}"
        spend = rng.choice(["NA", "N/A", ""]) if i % 23 == 0 else f"{rng.uniform(0, 900):.2f}"
        note = " ".join(rng.choice(words) for _ in range(rng.randint(6, 14)))
        score = "n/a" if i % 31 == 0 else (" 12a" if i == 5 else f" {rng.randint(0, 100)} ")
        opened = date(2024, 1, 1).toordinal() + rng.randint(0, 300)
        closed = opened + rng.randint(0, 90)
        lines.append(",".join([
            f"AB-{i:05d}",
            f"{rng.getrandbits(40):010x}",
            stamp,
            f"2024-{rng.randint(1, 12):02d}",
            spend,
            rng.choice(["yes", "no", "Yes", "NO"]),
            note,
            score,
            rng.choice(["north", "south", "east", "west", "null"]),
            rng.choice(["E05000001", "E05000002", "W05000003"]),
            date.fromordinal(opened).strftime("%d/%m/%Y"),
            date.fromordinal(closed).strftime("%d/%m/%Y") if i % 5 else "",
            rng.choice(["0", "1", "2"]),
            f"{rng.uniform(51, 52):.5f}",
        ]))
    path = folder / "shapes.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _infer(path, dataset="shapes")


def jsonl_nested(folder: Path) -> str:
    path = folder / "events.jsonl"
    rows = [{"id": i, "kind": ["open", "close"][i % 2], "tags": ["x", "y"][: i % 3],
             "meta": {"n": i % 4}, "when": f"2024-03-{1 + i % 28:02d}"} for i in range(120)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return _infer(path, dataset="events")


def police_essex(folder: Path) -> str | None:
    files = sorted((SHARED_DATA / "police-essex-street-2018").glob("*.csv"))
    if not files:
        return None
    return _infer(files[0], dataset="street")


# --------------------------------------------------------------------------- drafts in a project


def _project(folder: Path):
    from expedition.project import Project
    from expedition.scaffold import new_project

    root = new_project("drafts", output_dir=folder, no_input=True, today=date(2026, 11, 24))
    return Project.load(root)


def project_referrals(folder: Path) -> str:
    from expedition.datasets import add_dataset
    from expedition.examples.referrals import write
    from expedition.contract import draft_contract

    project = _project(folder)
    add_dataset(project, write(folder / "referrals.csv", rows=800, seed=7), "referrals")
    result = draft_contract(project.reload(), "referrals")
    return result.path.read_text(encoding="utf-8")


def project_combined(folder: Path) -> str:
    """`combine: all`: drafted from every delivery together."""
    import polars as pl

    from expedition.datasets import add_dataset
    from expedition.contract import draft_contract

    project = _project(folder)
    rng = random.Random(3)
    for i, n in enumerate((120, 90, 150), start=1):
        ages = [rng.randint(18, 80) for _ in range(n)]
        if i == 2:
            ages[:1] = [-5]
        path = folder / f"2024-0{i}.csv"
        pl.DataFrame({
            "incident_id": [f"I{i}{k:05d}" for k in range(n)],
            "month": [f"2024-0{i}-01"] * n,
            "kind": [rng.choice(["Noise", "Litter", "Vehicle"]) for _ in range(n)],
            "age": ages,
        }).write_csv(path)
        add_dataset(project.reload(), path, "incidents", combine="all")
    result = draft_contract(project.reload(), "incidents")
    return result.path.read_text(encoding="utf-8")


def project_short_rows(folder: Path) -> str:
    from expedition.datasets import add_dataset
    from expedition.contract import draft_contract

    project = _project(folder)
    path = folder / "short.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n4,5\n\n7,8,9\n")
    add_dataset(project, path, "short")
    return draft_contract(project.reload(), "short").path.read_text(encoding="utf-8")


FIXTURES: dict[str, Callable[[Path], str | None]] = {
    "referrals-800": referrals_800,
    "referrals-bad-rows": referrals_bad_rows,
    "referrals-260000": referrals_large,
    "referrals-parquet": referrals_parquet,
    "demand": demand,
    "incidents": incidents,
    "pathways": pathways,
    "registers": registers,
    "seatbelts": seatbelts,
    "pii-corpus": pii_corpus,
    "bad-values": bad_values,
    "uk-formats": uk_formats,
    "infinities": infinities,
    "only-infinities": only_infinities,
    "count-columns": count_columns,
    "unicode-text": unicode_text,
    "typed-frame": typed_frame,
    "text-shapes": text_shapes,
    "jsonl-nested": jsonl_nested,
    "police-essex-2018": police_essex,
    "project-referrals": project_referrals,
    "project-combined": project_combined,
    "project-short-rows": project_short_rows,
}
