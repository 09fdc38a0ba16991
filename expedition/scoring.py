"""Applying a saved risk model to a dataset: ``expedition score MODEL DATASET [--trust]``.

MODEL is the id of a `risk` step in ``expedition.yaml`` whose stored finding holds the fitted
model (``.expedition/findings/<id>/artifacts/model.skops``, written by ``expedition run``), a
finding folder, or a model file. Models are stored with skops, which builds only the types
expedition's models use (see `expedition._artifacts`); a pickled ``model.joblib`` from an older
version is never read, since reading a pickle can run code.

Which files are trusted: a model stored by a finding of this expedition (named by its step id or
its folder); a file whose SHA-256 equals that of such a model; and, only when the user passes
``--trust`` after seeing its SHA-256, any other skops file — whose types skops still checks. The
model is refused, with the reason, when it was made by versions of expedition, scikit-learn or
NumPy that cannot be trusted to read it the same way.

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

from expedition import _artifacts
from expedition._io import atomic_write_bytes, atomic_write_text
from expedition._lock import locked
from expedition.config import name_problem
from expedition.errors import DataError, ModelError
from expedition.project import Project
from expedition.runner import load_input
from expedition.steps._models import MISSING_CATEGORY, RiskModel, incompatibilities, model_versions

MODEL_FILE = Path("artifacts") / f"model{_artifacts.SUFFIX}"
#: Where older versions pickled the model; such a file is refused, never read.
LEGACY_MODEL_FILE = Path("artifacts") / f"model{_artifacts.LEGACY_SUFFIX}"


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
    model_sha256: str = ""
    trusted: str = ""
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
            "model_sha256": self.model_sha256,
            "trusted": self.trusted,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ModelSource:
    """A model file, a short label for it, its finding's provenance, its SHA-256, and why it is
    trusted: ``finding`` (stored by a finding of this expedition), ``hash`` (the same bytes as
    one) or ``--trust`` (the user vouched for it)."""

    path: Path
    label: str
    provenance: dict[str, Any]
    sha256: str
    trusted: str
    #: the bytes that were hashed, which are the bytes loaded (the file may change meanwhile)
    data: bytes | None = field(default=None, repr=False)


def find_model(project: Project, model: str, *, trust: bool = False, dataset: str = "DATASET") -> ModelSource:
    """The model that *model* names, if it may be loaded (else a ModelError saying why not)."""
    results = project.results_dir
    folder = results / model
    is_step_id = name_problem("step id", model) is None
    if is_step_id and folder.is_dir() and _has_model(folder, model):
        return _ours(folder, model)
    path = Path(model).expanduser()
    if path.is_dir() and _has_model(path, path.name):
        if path.resolve().parent == results.resolve():
            return _ours(path, path.name)
        path = path / MODEL_FILE
    if path.is_file():
        if path.suffix == _artifacts.LEGACY_SUFFIX:
            _refuse_legacy(path, None)
        return _outside(project, path, f"{model} {dataset}", trust)
    risk_steps = [s.id for s in project.config.steps if s.step == "risk"]
    stored = [s for s in risk_steps if (results / s / MODEL_FILE).is_file()]
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


def _has_model(folder: Path, step_id: str) -> bool:
    if (folder / MODEL_FILE).is_file():
        return True
    if (folder / LEGACY_MODEL_FILE).is_file():
        _refuse_legacy(folder / LEGACY_MODEL_FILE, step_id)
    return False


def _refuse_legacy(path: Path, step_id: str | None) -> None:
    rerun = f"`expedition run {step_id} --force`" if step_id else "`expedition run STEP_ID --force`"
    raise ModelError(
        f"{path.name} was saved by an older version of expedition as a pickle (joblib), which "
        "can run code when it is read; expedition no longer reads such files",
        f"re-run the risk step that made it ({rerun}) to store the model as model.skops",
        path=path,
    )


def _ours(folder: Path, label: str) -> ModelSource:
    path = folder / MODEL_FILE
    data = _artifacts.read(path)
    return ModelSource(path, label, _provenance(folder), _artifacts.sha256(data), "finding", data)


def _outside(project: Project, path: Path, arguments: str, trust: bool) -> ModelSource:
    """A model file named by its path: trusted when a finding here stored the same bytes, or when
    the user passed --trust; otherwise refused, with the hash to check."""
    data = _artifacts.read(path)
    digest = _artifacts.sha256(data)
    for stored in sorted(project.results_dir.glob(f"*/{MODEL_FILE.as_posix()}")):
        if _artifacts.sha256(stored) == digest:
            finding = stored.parent.parent
            return ModelSource(path, finding.name, _provenance(finding), digest, "hash", data)
    if trust:
        label = path.parent.parent.name if path.parent.name == "artifacts" else path.stem
        return ModelSource(path, label, {}, digest, "--trust", data)
    raise ModelError(
        f"{path} is not a model of this expedition: no finding here stored a model with its "
        f"SHA-256, {digest}",
        "if you know where the file came from (check that hash with whoever made it), run the "
        f"command again with --trust: `expedition score {arguments} --trust`; or train the "
        "model here with `expedition run STEP_ID`",
        path=path,
    )


def _provenance(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "finding.json").read_text(encoding="utf-8")).get("provenance", {})
    except (OSError, ValueError):
        return {}


def load_model(path: str | Path, *, data: bytes | None = None) -> RiskModel:
    """Read a saved model, refusing one this environment cannot be trusted to apply.

    The file (or *data*, its bytes as `find_model` read and hashed them) is read with skops and
    only expedition's own model types are built (a pickle is never read); whether to read a file
    at all is `find_model`'s decision.
    """
    from sklearn.exceptions import InconsistentVersionWarning

    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        obj = _artifacts.load(path, data=data, rerun="retrain the model with `expedition run STEP_ID`")
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
def score(project: Project, model: str, dataset: str, *, trust: bool = False) -> ScoreResult:
    """Score the latest data of *dataset* with *model*; write scores and tiers atomically.

    A model file from outside this expedition is used only when its SHA-256 matches a model a
    finding here stored, or with ``trust=True`` (see `find_model`).
    """
    import numpy as np
    import polars as pl

    if dataset not in project.config.datasets:
        raise DataError(
            f"there is no dataset called {dataset!r} in this expedition",
            f"the datasets are: {', '.join(project.config.datasets) or '(none yet)'}",
        )
    source = find_model(project, model, trust=trust, dataset=dataset)
    path, label, provenance = source.path, source.label, source.provenance
    risk = load_model(path, data=source.data)
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
        "model_sha256": source.sha256,
        "trusted": source.trusted,
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
    project.record("score", model=label, dataset=dataset, path=project.relative(target), rows=frame.height,
                   model_sha256=source.sha256, trusted=source.trusted)
    return ScoreResult(
        model=label,
        dataset=dataset,
        path=target,
        record=record_path,
        rows=frame.height,
        tiers=counts,
        id_column=id_name,
        model_sha256=source.sha256,
        trusted=source.trusted,
        warnings=notes,
    )


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


__all__ = ["ModelSource", "ScoreResult", "find_model", "load_model", "score"]
