"""`expedition score MODEL DATASET`: a stored model scores the latest delivery, and a model from
incompatible versions is refused with a clear message."""

from __future__ import annotations

import json

import joblib
import numpy as np
import polars as pl
import pytest

from expedition.config import update_config
from expedition.datasets import add_dataset
from expedition.errors import DataError, ModelError, StepError
from expedition.project import Project
from expedition.runner import load_input, run
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
    model = load_model(trained.results_dir / "case-risk" / "artifacts" / "model.joblib")
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
    model = joblib.load(trained.results_dir / "case-risk" / "artifacts" / "model.joblib")
    model.versions["scikit-learn"] = "0.24.2"
    old = tmp_path / "old-model.joblib"
    joblib.dump(model, old)
    result = cli("score", str(old), "referrals", "--project", str(trained.root))
    assert result.exit_code == 2
    assert "made with scikit-learn 0.24.2" in flat(result.stderr) and "retrain" in result.stderr
    assert "Traceback" not in result.output
    model.versions["scikit-learn"] = load_model(trained.results_dir / "case-risk" / MODEL).versions["scikit-learn"]
    model.format = 0
    joblib.dump(model, old)
    with pytest.raises(ModelError, match="format 0"):
        score(trained, str(old), "referrals")
    joblib.dump({"weights": [1, 2]}, old)
    with pytest.raises(ModelError, match="not a risk model"):
        score(trained, str(old), "referrals")
    old.write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match="cannot be read"):
        score(trained, str(old), "referrals")


MODEL = "artifacts/model.joblib"


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
