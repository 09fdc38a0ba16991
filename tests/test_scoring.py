"""`expedition score MODEL DATASET`: a stored model scores the latest delivery, and a model from
incompatible versions is refused with a clear message."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import DataError, ModelError, StepError
from expedition.project import Project
from expedition.runner import load_input, run
from expedition import _artifacts
from expedition.scoring import load_model, score

from _text import flat

RISK = {
    "id": "case-risk",
    "step": "risk",
    "dataset": "referrals",
    "params": {
        "outcome": "rereferred_12m",
        "outcome_value": "yes",
        "date": "closure_date",
        "id_column": "referral_id",
        "features": ["district", "referral_source", "age", "prior_referrals", "closure_reason"],
        "text": ["referral_note"],
        "protected": ["sex", "disability"],
        "models": ["logistic"],
        "bootstrap": 30,
    },
}


MODEL = "artifacts/model.skops"


@pytest.fixture
def trained(project, referrals_csv, validated):
    add_dataset(project, referrals_csv, "referrals")
    update_config(project.config_path, lambda doc: doc.__setitem__("steps", [RISK]))
    project = validated(project.reload(), "referrals")
    run(project)
    return project


def test_score_writes_scores_and_tiers_that_match_the_model(trained, cli):
    result = cli("score", "case-risk", "referrals", "--project", str(trained.root), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    scores = pl.read_parquet(report["path"])
    assert scores.columns == ["referral_id", "risk_score", "risk_tier"]
    assert scores.height == report["rows"] == 800
    assert sum(report["tiers"].values()) == 800
    assert set(scores["risk_tier"].unique()) <= {"low", "medium", "high"}
    model = load_model(trained.results_dir / "case-risk" / MODEL)
    frame = load_input(trained, "referrals").frame.collect()
    assert np.allclose(scores["risk_score"].to_numpy(), model.predict(frame))
    assert scores["referral_id"].to_list() == frame["referral_id"].to_list()
    record = json.loads(open(report["record"]).read())
    assert record["model"] == "case-risk" and record["made_with"]["scikit-learn"]
    assert any("the delivery the model was trained" in w for w in report["warnings"])
    leftovers = [p.name for p in trained.processed_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert trained.last("score")["rows"] == 800


def test_the_python_call_matches_the_command(trained, cli):
    api = score(trained, "case-risk", "referrals").to_dict()
    cmd = json.loads(cli("score", "case-risk", "referrals", "--project", str(trained.root), "--json").stdout)
    assert api == cmd


def test_a_model_from_other_versions_is_refused(trained, cli, tmp_path):
    model = _artifacts.load(trained.results_dir / "case-risk" / MODEL)
    model.versions["scikit-learn"] = "0.24.2"
    old = tmp_path / "old-model.skops"
    _artifacts.dump(model, old)
    result = cli("score", str(old), "referrals", "--project", str(trained.root), "--trust")
    assert result.exit_code == 2
    assert "made with scikit-learn 0.24.2" in flat(result.stderr) and "retrain" in result.stderr
    assert "Traceback" not in result.output
    model.versions["scikit-learn"] = load_model(trained.results_dir / "case-risk" / MODEL).versions["scikit-learn"]
    model.format = 0
    _artifacts.dump(model, old)
    with pytest.raises(ModelError, match="format 0"):
        score(trained, str(old), "referrals", trust=True)
    _artifacts.dump({"weights": [1, 2]}, old)
    with pytest.raises(ModelError, match="not a risk model"):
        score(trained, str(old), "referrals", trust=True)
    old.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a file expedition stores models in"):
        score(trained, str(old), "referrals", trust=True)



def test_a_finding_folder_also_names_a_model(trained):
    result = score(trained, str(trained.results_dir / "case-risk"), "referrals")
    assert result.rows == 800 and result.path.name == "referrals-scores-case-risk.parquet"


def test_unknown_models_datasets_and_missing_columns_are_clear(trained, cli, referrals_csv, tmp_path,
                                                               validated):
    result = cli("score", "no-such-model", "referrals", "--project", str(trained.root))
    assert result.exit_code == 2 and "the stored models are: case-risk" in result.stderr
    with pytest.raises(DataError, match="no dataset called 'other'"):
        score(trained, "case-risk", "other")
    slim = tmp_path / "slim.csv"
    pl.read_csv(referrals_csv).drop("referral_note").write_csv(slim)
    add_dataset(trained, slim, "slim")
    with pytest.raises(StepError, match="not been validated"):  # only validated data is scored
        score(Project.load(trained.root), "case-risk", "slim")
    trained = validated(Project.load(trained.root), "slim")
    with pytest.raises(DataError, match="lacks column\\(s\\) the model needs: referral_note"):
        score(trained, "case-risk", "slim")


def test_unseen_categories_and_missing_values_are_reported(trained, referrals_csv, tmp_path, validated):
    new = tmp_path / "new.csv"
    frame = pl.read_csv(referrals_csv).head(50)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 5).then(pl.lit("Thurrock")).otherwise(pl.col("district")).alias("district"),
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("age")).alias("age"),
    )
    frame.write_csv(new)
    add_dataset(trained, new, "new")
    result = score(validated(Project.load(trained.root), "new"), "case-risk", "new")
    text = " ".join(result.warnings)
    assert "5 records have a value of district the model never saw" in text
    assert "3 records have no age" in text
    assert result.rows == 50


# --------------------------------------------------------------------------- which files are trusted


class Payload:
    """Creates a marker file when an unpickler or a loader that trusts it rebuilds it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # what pickle (and so joblib) runs on load
        return (open, (self.marker, "w"))

    def __setstate__(self, state):  # what a loader that built this type would run
        open(state["marker"], "w").close()


def crafted_pickle(path, marker):
    import joblib

    joblib.dump(Payload(marker), path)
    return path


def test_the_crafted_files_are_live(tmp_path):
    """The payloads below are real: unpickled, or loaded by skops trusting their type, they run."""
    import joblib
    import skops.io as sio

    marker = tmp_path / "ran"
    joblib.load(crafted_pickle(tmp_path / "evil.joblib", marker))
    assert marker.exists()
    marker.unlink()
    sio.dump({"x": Payload(marker)}, tmp_path / "evil.skops")
    sio.load(tmp_path / "evil.skops", trusted=sio.get_untrusted_types(file=tmp_path / "evil.skops"))
    assert marker.exists()


def test_a_crafted_pickle_never_runs(trained, cli, tmp_path):
    marker = tmp_path / "ran"
    for name in ("model.joblib", "model.skops", "model.pkl"):
        evil = crafted_pickle(tmp_path / name, marker)
        for trust in ([], ["--trust"]):
            result = cli("score", str(evil), "referrals", "--project", str(trained.root), *trust)
            assert result.exit_code == 2 and "Traceback" not in result.output
            assert not marker.exists()
            if name.endswith(".joblib") or trust:
                assert "pickle" in flat(result.stderr), (name, trust)
            else:  # a file from outside is refused before it is opened at all
                assert "--trust" in flat(result.stderr) and "SHA-256" in flat(result.stderr)
            assert not list(trained.processed_dir.glob("*-scores-*"))
        with pytest.raises(ModelError, match="pickle"):
            score(trained, str(evil), "referrals", trust=True)
    assert not marker.exists()


def test_a_pickled_model_stored_by_an_older_version_is_refused_never_read(trained, cli, tmp_path):
    from expedition.finding import load_finding

    marker = tmp_path / "ran"
    artifacts = trained.results_dir / "case-risk" / "artifacts"
    (artifacts / "model.skops").unlink()
    crafted_pickle(artifacts / "model.joblib", marker)
    result = cli("score", "case-risk", "referrals", "--project", str(trained.root))
    assert result.exit_code == 2
    assert "expedition run case-risk --force" in flat(result.stderr)
    with pytest.raises(ModelError, match="not a file expedition stores models in"):
        load_finding(trained.results_dir / "case-risk", artifacts=True)
    folder = cli("score", str(trained.results_dir / "case-risk"), "referrals", "--project", str(trained.root))
    assert folder.exit_code == 2 and "pickle" in flat(folder.stderr)
    assert not marker.exists()


def test_a_skops_file_with_a_type_expedition_never_uses_is_refused_even_with_trust(trained, cli, tmp_path):
    import skops.io as sio

    marker = tmp_path / "ran"
    model = _artifacts.load(trained.results_dir / "case-risk" / MODEL)
    model.params["extra"] = Payload(marker)  # hidden inside a real risk model
    evil = tmp_path / "model.skops"
    sio.dump(model, evil)
    result = cli("score", str(evil), "referrals", "--project", str(trained.root), "--trust")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "test_scoring.Payload" in flat(result.stderr) and "never use" in flat(result.stderr)
    sio.dump({"run": __import__("os").system}, evil)
    result = cli("score", str(evil), "referrals", "--project", str(trained.root), "--trust")
    assert result.exit_code == 2 and "system" in flat(result.stderr)
    assert not marker.exists()


def test_a_copy_of_a_model_of_this_expedition_is_accepted_by_its_hash(trained, tmp_path):
    import shutil

    copy = tmp_path / "elsewhere.skops"
    shutil.copyfile(trained.results_dir / "case-risk" / MODEL, copy)
    result = score(trained, str(copy), "referrals")
    assert result.trusted == "hash" and result.model == "case-risk"
    assert result.model_sha256 == _artifacts.sha256(copy)
    # the finding it matches gives its provenance: this is the delivery it was trained on
    assert any("the delivery the model was trained" in w for w in result.warnings)
    assert score(trained, "case-risk", "referrals").trusted == "finding"


def test_a_model_from_outside_is_refused_with_its_hash_unless_trusted(trained, cli, tmp_path):
    import shutil

    model = _artifacts.load(trained.results_dir / "case-risk" / MODEL)
    model.tier_thresholds = [t * 0.9 for t in model.tier_thresholds]  # not a model made here
    other = tmp_path / "other-expedition" / "case-risk"
    shutil.copytree(trained.results_dir / "case-risk", other)
    _artifacts.dump(model, other / MODEL)
    digest = _artifacts.sha256(other / MODEL)
    for target in (other / MODEL, other):  # the file, or another expedition's finding folder
        result = cli("score", str(target), "referrals", "--project", str(trained.root))
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert digest in flat(result.stderr) and "--trust" in flat(result.stderr)
        assert not list(trained.processed_dir.glob("*-scores-*"))
    with pytest.raises(ModelError, match=digest):
        score(trained, str(other / MODEL), "referrals")
    trusted = cli("score", str(other), "referrals", "--project", str(trained.root), "--trust", "--json")
    assert trusted.exit_code == 0, trusted.output
    report = json.loads(trusted.stdout)
    assert report["trusted"] == "--trust" and report["model_sha256"] == digest
    record = json.loads(open(report["record"]).read())
    assert record["model_sha256"] == digest and record["trusted"] == "--trust"
    shown = cli("score", str(other / MODEL), "referrals", "--project", str(trained.root), "--trust")
    assert digest in flat(shown.stdout) and "outside this expedition" in flat(shown.stdout)
    assert trained.last("score")["model_sha256"] == digest


@pytest.mark.parametrize("model", ["../case-risk", ".", "..", "case-risk/../case-risk"])
def test_a_step_id_cannot_walk_out_of_the_findings(trained, model):
    with pytest.raises(ModelError):
        score(trained, model, "referrals")


def test_the_bytes_whose_hash_was_checked_are_the_bytes_loaded(trained, tmp_path):
    """A file swapped after its hash matched is not what gets loaded."""
    import shutil

    from expedition.scoring import find_model

    copy = tmp_path / "copy.skops"
    shutil.copyfile(trained.results_dir / "case-risk" / MODEL, copy)
    source = find_model(trained, str(copy))
    assert source.trusted == "hash"
    marker = tmp_path / "ran"
    crafted_pickle(copy, marker)  # swapped in after the check
    model = load_model(source.path, data=source.data)
    assert model.spec == load_model(trained.results_dir / "case-risk" / MODEL).spec
    with pytest.raises(ModelError, match="pickle"):
        load_model(copy)
    assert not marker.exists()
