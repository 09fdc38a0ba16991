"""Applying a saved risk model to a dataset: ``expedition score MODEL DATASET``.

MODEL is the id of a `risk` step in ``expedition.yaml`` whose stored finding holds the fitted
model (``.expedition/findings/<id>/artifacts/model.joblib``, written by ``expedition run``), or a
path to such a finding folder or ``.joblib`` file (a model made in another expedition). The model
is refused, with the reason, when it was made by versions of expedition, scikit-learn or NumPy
that cannot be trusted to read it the same way.

The dataset's data comes from the runner's `load_input` (what every step reads), and the scores
and tiers are written atomically to ``data/processed/<dataset>-scores-<model>.parquet`` with a
JSON record of what made them beside it. Scores are personal data about individuals: they stay in
the project's data folder and never enter a findings pack.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from expedition._io import atomic_write_bytes, atomic_write_text
from expedition._lock import locked
from expedition.errors import DataError, ModelError
from expedition.project import Project
from expedition.runner import load_input
from expedition.steps._models import MISSING_CATEGORY, RiskModel, incompatibilities, model_versions

MODEL_FILE = Path("artifacts") / "model.joblib"


@dataclass(frozen=True)
class ScoreResult:
    """Where the scores went, and what a user should know about them."""

    model: str
    dataset: str
    path: Path
    record: Path
    rows: int
    tiers: dict[str, int]
    id_column: str
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "path": str(self.path),
            "record": str(self.record),
            "rows": self.rows,
            "tiers": dict(self.tiers),
            "id_column": self.id_column,
            "warnings": list(self.warnings),
        }


def find_model(project: Project, model: str) -> tuple[Path, str, dict[str, Any]]:
    """The model file that *model* names, a short label for it, and its finding's provenance."""
    folder = project.results_dir / model
    if Path(model).name == model and (folder / MODEL_FILE).is_file():  # a step id
        return folder / MODEL_FILE, model, _provenance(folder)
    path = Path(model).expanduser()
    if path.is_dir() and (path / MODEL_FILE).is_file():
        return path / MODEL_FILE, path.name, _provenance(path)
    if path.is_file() and path.suffix == ".joblib":
        return path, path.stem, {}
    risk_steps = [s.id for s in project.config.steps if s.step == "risk"]
    stored = [s for s in risk_steps if (project.results_dir / s / MODEL_FILE).is_file()]
    if stored:
        fix = f"the stored models are: {', '.join(stored)}"
    elif risk_steps:
        fix = f"run the risk step first: `expedition run {risk_steps[0]}`"
    else:
        fix = "add a `risk` step to expedition.yaml (see `expedition steps show risk`) and run it"
    raise ModelError(
        f"no saved model called {model!r}: it is neither a step id with a stored model nor a "
        "model file or finding folder",
        fix,
    )


def _provenance(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "finding.json").read_text(encoding="utf-8")).get("provenance", {})
    except (OSError, ValueError):
        return {}


def load_model(path: str | Path) -> RiskModel:
    """Read a saved model, refusing one this environment cannot be trusted to apply."""
    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            obj = joblib.load(path)
        except Exception as exc:
            raise ModelError(
                f"{path} cannot be read by this version of expedition ({type(exc).__name__}: {exc})",
                "retrain the model here with `expedition run STEP_ID`, or read it with the versions "
                "it was made with",
                path=path,
            ) from None
    problems = incompatibilities(obj)
    for warning in caught:
        if issubclass(warning.category, InconsistentVersionWarning):
            problems.append(f"scikit-learn says: {warning.message}")
    if problems:
        made = getattr(obj, "versions", {}) or {}
        pins = " ".join(
            f"{p}=={made[p]}" for p in ("expedition", "scikit-learn", "numpy") if p in made
        )
        raise ModelError(
            "the model cannot be applied in this environment: " + "; ".join(problems),
            "retrain it here with `expedition run STEP_ID` (recommended), or use an environment "
            f"with the versions it was made with{': ' + pins if pins else ''}",
            path=path,
        )
    return obj


@locked("score")
def score(project: Project, model: str, dataset: str) -> ScoreResult:
    """Score the latest data of *dataset* with *model*; write scores and tiers atomically."""
    import numpy as np
    import polars as pl

    if dataset not in project.config.datasets:
        raise DataError(
            f"there is no dataset called {dataset!r} in this expedition",
            f"the datasets are: {', '.join(project.config.datasets) or '(none yet)'}",
        )
    path, label, provenance = find_model(project, model)
    risk = load_model(path)
    data = load_input(project, dataset)
    frame = data.frame.collect() if isinstance(data.frame, pl.LazyFrame) else data.frame
    missing = [c for c in risk.columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"dataset {dataset!r} lacks column(s) the model needs: {', '.join(missing)}",
            f"the model reads {', '.join(risk.columns)}; score a dataset with those columns",
        )
    notes: list[str] = []
    if frame.height == 0:
        raise DataError(f"dataset {dataset!r} has no rows to score", "check the delivery")
    trained_on = provenance.get("data_sha256")
    if trained_on and trained_on == data.fingerprint.get("data_sha256"):
        notes.append(
            "This is the delivery the model was trained and tested on: its scores are not a "
            "test of the model."
        )
    for column, seen in (risk.training.get("categories") or {}).items():
        values = frame[column].cast(pl.String).fill_null(MISSING_CATEGORY)
        unseen = int((~values.is_in(seen)).sum())
        if unseen:
            notes.append(
                f"{unseen:,} records have a value of {column} the model never saw in training; "
                "it treats them like the rarer values."
            )
    for column in risk.spec.structured:
        nulls = frame[column].null_count()
        if nulls:
            notes.append(f"{nulls:,} records have no {column}; the model fills it in as it learnt to.")

    scores = risk.predict(frame)
    tiers = risk.tiers(scores)
    id_column = risk.id_column if risk.id_column in frame.columns else None
    if id_column is None:
        ids = [c for c in (data.roles or {}) if (data.roles or {})[c] == "identifier" and c in frame.columns]
        id_column = ids[0] if ids else None
    if id_column is None:
        ident = pl.Series("row", np.arange(1, frame.height + 1), dtype=pl.Int64)
        id_name = "row"
        notes.append("No identifier column is known, so records are numbered by their row in the delivery.")
    else:
        ident = frame[id_column]
        id_name = id_column
    out = pl.DataFrame(
        [ident, pl.Series("risk_score", scores, dtype=pl.Float64), pl.Series("risk_tier", tiers, dtype=pl.String)]
    )
    buffer = io.BytesIO()
    out.write_parquet(buffer)
    target = project.processed_dir / f"{dataset}-scores-{_slug(label)}.parquet"
    record_path = target.with_suffix(".json")
    counts = {name: tiers.count(name) for name in risk.tier_names}
    record = {
        "model": label,
        "model_file": project.relative(path),
        "model_kind": risk.kind,
        "outcome": f"{risk.outcome} = {risk.outcome_value}",
        "trained_on": risk.training,
        "made_with": risk.versions,
        "scored_with": model_versions(),
        "data": data.fingerprint,
        "rows": frame.height,
        "tiers": counts,
        "tier_thresholds": dict(zip(risk.tier_names[1:], risk.tier_thresholds)),
        "warnings": notes,
        "scored": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_bytes(target, buffer.getvalue())
    atomic_write_text(record_path, json.dumps(record, indent=2, default=str) + "\n")
    project.record("score", model=label, dataset=dataset, path=project.relative(target), rows=frame.height)
    return ScoreResult(
        model=label,
        dataset=dataset,
        path=target,
        record=record_path,
        rows=frame.height,
        tiers=counts,
        id_column=id_name,
        warnings=notes,
    )


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


__all__ = ["ScoreResult", "find_model", "load_model", "score"]
