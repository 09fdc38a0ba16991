"""Objects a step keeps beside its finding (a fitted model), stored so that reading them runs no code.

A pickle — what joblib writes — is a program: reading one runs whatever it says, so a crafted
``model.joblib`` could run a command before any check. Artifacts are stored with skops
(``skops.io``, scikit-learn's secure persistence format) instead: a zip of a JSON schema and NumPy
arrays, read without pickle, that builds only objects of types it is told to trust and refuses a
file naming any other type before it builds anything.

`TRUSTED_TYPES` are exactly the types expedition's own models hold beyond those skops trusts by
itself (scikit-learn's estimators, NumPy arrays, Python's plain values): the risk model and its
feature spec, the text redaction function its pipelines call, the segment step's encoder, and the
scikit-learn internals its pipelines use. A test checks the list against models the steps fit.

Gradient boosting keeps its trees as arrays of node indices that scikit-learn follows without
bounds checks (which is why skops does not trust ``TreePredictor`` by itself); a loaded model's
trees are checked here — every index in range and pointing forward, every category code a byte —
before anything predicts with them.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from expedition.errors import ModelError

#: The suffix of an artifact file (``artifacts/<name>.skops``).
SUFFIX = ".skops"
#: The suffix artifacts had when they were pickled with joblib; such files are never read.
LEGACY_SUFFIX = ".joblib"

#: A file that would unpack to more than this is refused unread (a model is a few MiB).
MAX_UNPACKED = 2**30

#: Types expedition's own models use that skops does not trust by default, by their full names.
TRUSTED_TYPES: tuple[str, ...] = (
    # the risk model (`expedition score` applies it) and what it holds
    "expedition.steps._models.RiskModel",
    "expedition.steps._models.FeatureSpec",
    "expedition.steps._models.redact_for_model",
    # the segment step's encoder
    "expedition.steps.segment.Encoder",
    # scikit-learn internals in the pipelines: dtypes kept by the imputer, gradient boosting's
    # input check (a partial of check_array), its trees, and chi-squared term selection
    "numpy.dtype",
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.feature_selection._univariate_selection.chi2",
)


def sha256(source: str | Path | bytes) -> str:
    """The SHA-256 of a file (or of bytes already read), in hex."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read(path: str | Path) -> bytes:
    """A stored model's bytes, read once: whoever checks its hash then loads those same bytes
    (the file could change in between). A file larger than `MAX_UNPACKED` is not read."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_UNPACKED:
        raise ModelError(
            f"{path.name} is {size / 2**20:,.0f} MiB, far more than any model expedition makes, "
            "so it is not read",
            "use a model saved by expedition's own steps",
            path=path,
        )
    return path.read_bytes()


def dump(obj: Any, path: str | Path) -> None:
    """Write *obj* to *path* with skops."""
    import skops.io as sio

    try:
        # deflate at level 1: the JSON schema shrinks ten-fold for a few per cent more time
        sio.dump(obj, Path(path), compression=zipfile.ZIP_DEFLATED, compresslevel=1)
    except (TypeError, ValueError) as exc:  # skops names what it cannot persist
        raise ModelError(
            f"the artifact {Path(path).stem!r} cannot be stored safely: {exc}",
            "keep only scikit-learn estimators, NumPy arrays and plain values in a step's "
            "artifacts",
        ) from None


def load(path: str | Path, *, data: bytes | None = None, rerun: str = "re-run the step that made it") -> Any:
    """Read an artifact written by `dump`, building only trusted types.

    A file that is not a skops file is refused without being read further (a pickle is never
    unpickled); a file that names any type outside skops' defaults and `TRUSTED_TYPES` is refused
    with those types named, before any object is built. *data*, when given, are the file's bytes
    as already read (see `read`); *rerun* says how to make the file again.
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    path = Path(path)
    if path.suffix == LEGACY_SUFFIX:
        raise _not_skops(path, rerun)
    try:
        buffer = io.BytesIO(read(path) if data is None else data)
    except OSError as exc:
        raise _unreadable(path, exc, rerun) from None
    if not zipfile.is_zipfile(buffer):
        raise _not_skops(path, rerun)
    try:
        with zipfile.ZipFile(buffer) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED:
            raise ModelError(
                f"{path.name} would unpack to {unpacked / 2**20:,.0f} MiB, far more than any model "
                "expedition makes, so it is not read",
                rerun,
                path=path,
            )
        # skops audits every type in the file before it builds any object
        obj = sio.loads(buffer.getvalue(), trusted=list(TRUSTED_TYPES))
    except ModelError:
        raise
    except UntrustedTypesFoundException:
        untrusted = sorted(set(sio.get_untrusted_types(data=buffer.getvalue())) - set(TRUSTED_TYPES))
        raise ModelError(
            f"{path.name} holds types that expedition's models never use, so it is not loaded: "
            f"{', '.join(untrusted)}",
            "use a model saved by expedition's own steps; " + rerun,
            path=path,
        ) from None
    except Exception as exc:  # a damaged or crafted zip: skops' own errors vary
        raise _unreadable(path, exc, rerun) from None
    try:
        problems = list(_tree_problems(obj))
    except Exception as exc:  # anything a check cannot even look at is damaged too
        problems = [f"its trees cannot be checked ({type(exc).__name__})"]
    if problems:
        raise ModelError(
            f"{path.name} holds a gradient-boosting model whose trees are damaged: "
            + "; ".join(problems[:3]),
            "do not use this file; " + rerun,
            path=path,
        )
    return obj


def _not_skops(path: Path, rerun: str) -> ModelError:
    return ModelError(
        f"{path.name} is not a file expedition stores models in (skops); it may be a pickle "
        "(joblib), which can run code when read, so it is not read at all",
        f"{rerun} to store it as {path.stem}{SUFFIX}",
        path=path,
    )


def _unreadable(path: Path, exc: Exception, rerun: str) -> ModelError:
    return ModelError(
        f"{path.name} cannot be read as a stored model ({type(exc).__name__}: {exc})",
        rerun,
        path=path,
    )


def save_artifacts(artifacts: dict[str, Any], folder: str | Path) -> None:
    """Write each artifact to ``folder/<name>.skops`` (the folder is created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in artifacts.items():
        dump(obj, folder / f"{name}{SUFFIX}")


def load_artifacts(folder: str | Path, names: Iterable[str]) -> dict[str, Any]:
    """Read the artifacts *names* from *folder* (see `load`)."""
    folder = Path(folder)
    rerun = f"re-run the step with `expedition run {folder.parent.name} --force`"
    return {name: load(_artifact_path(folder, name), rerun=rerun) for name in names}


def _artifact_path(folder: Path, name: str) -> Path:
    path = folder / f"{name}{SUFFIX}"
    legacy = folder / f"{name}{LEGACY_SUFFIX}"
    if not path.exists() and legacy.exists():
        return legacy  # refused by `load`, with how to store it again
    return path


# --------------------------------------------------------------------------- tree checks


def _objects(obj: Any, depth: int = 0) -> Iterator[Any]:
    """*obj* and the objects inside it: containers, dataclasses and estimators' parameters."""
    yield obj
    if depth > 12:
        return
    if isinstance(obj, dict):
        children: Iterable[Any] = obj.values()
    elif isinstance(obj, (list, tuple)):
        children = obj
    elif hasattr(obj, "get_params"):
        try:
            children = [*obj.get_params(deep=False).values(), getattr(obj, "transformers_", None)]
        except Exception:
            return
    elif hasattr(obj, "__dataclass_fields__"):
        children = [getattr(obj, name, None) for name in obj.__dataclass_fields__]
    else:
        return
    for child in children:
        yield from _objects(child, depth + 1)


def _tree_problems(obj: Any) -> Iterator[str]:
    """What is wrong with the trees of any gradient-boosting model inside *obj*."""
    for item in _objects(obj):
        if hasattr(item, "_predictors") and hasattr(item, "_bin_mapper"):
            yield from _boosting_problems(item)


def _boosting_problems(model: Any) -> Iterator[str]:
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    n_features = int(getattr(model, "n_features_in_", -1))
    mapper = model._bin_mapper
    categorical = np.asarray(getattr(mapper, "is_categorical_", ()), dtype=bool).ravel()
    if categorical.size != n_features:
        yield f"its binning describes {categorical.size} features, the model reads {n_features}"
        return
    thresholds = getattr(mapper, "bin_thresholds_", None)
    for f in np.flatnonzero(categorical):
        values = np.asarray(thresholds[f] if thresholds is not None and f < len(thresholds) else [0.5])
        if not np.all((values >= 0) & (values <= 255) & (values == np.round(values))):
            yield f"feature {f} has category codes outside 0-255"
    for iteration in model._predictors:
        for tree in iteration:
            nodes = tree.nodes
            if nodes.dtype != PREDICTOR_RECORD_DTYPE or nodes.ndim != 1 or len(nodes) == 0:
                yield "a tree's nodes are not in scikit-learn's layout"
                continue
            index = np.arange(len(nodes))
            inner = nodes["is_leaf"] == 0
            left, right = nodes["left"][inner].astype(np.int64), nodes["right"][inner].astype(np.int64)
            if np.any(left <= index[inner]) or np.any(right <= index[inner]) or np.any(left >= len(nodes)) \
                    or np.any(right >= len(nodes)):
                yield "a tree points at a node outside it (or back up the tree)"
            features = nodes["feature_idx"][inner]
            if np.any(features < 0) or np.any(features >= n_features):
                yield "a tree splits on a feature the model does not read"
            cat = inner & (nodes["is_categorical"] != 0)
            bitsets = [getattr(tree, "raw_left_cat_bitsets", None), getattr(tree, "binned_left_cat_bitsets", None)]
            if np.any(cat):
                if any(b is None or b.ndim != 2 or b.shape[1] != 8 for b in bitsets):
                    yield "a tree's category sets are not in scikit-learn's layout"
                elif np.any(nodes["bitset_idx"][cat] >= min(len(b) for b in bitsets)):
                    yield "a tree names a category set it does not hold"
                elif not np.all(categorical[nodes["feature_idx"][cat]]):
                    yield "a tree treats a number as a category"
