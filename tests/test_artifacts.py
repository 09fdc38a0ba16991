"""Artifacts (fitted models) are stored with skops: reading one builds only the types expedition's
models use, a pickle is never read, and a gradient-boosting model with damaged trees is refused."""

from __future__ import annotations

import importlib
import pickle
import zipfile

import numpy as np
import polars as pl
import pytest
import skops.io as sio
from hypothesis import given, settings
from hypothesis import strategies as st

from expedition import _artifacts
from expedition.errors import ModelError
from expedition.finding import Finding, load_finding, save_finding


def test_every_trusted_type_exists():
    """A renamed class or function in the steps would leave a stale name here."""
    for name in _artifacts.TRUSTED_TYPES:
        module, _, attribute = name.rpartition(".")
        assert hasattr(importlib.import_module(module), attribute), name


@pytest.fixture(scope="module")
def fitted(referrals_csv):
    """The artifacts of the built-in steps that keep one: risk (both model kinds, with text,
    categories and dates) and segment."""
    from expedition.steps import StepContext
    from expedition.steps.risk import Risk
    from expedition.steps.segment import Segment

    frame = pl.scan_csv(referrals_csv, try_parse_dates=True)
    out = {}
    for kind in ("logistic", "boosting"):
        params = Risk.parse_params({
            "outcome": "rereferred_12m", "outcome_value": "yes", "date": "closure_date",
            "id_column": "referral_id", "text": ["referral_note"], "protected": ["sex"],
            "features": ["district", "referral_source", "age", "prior_referrals", "referral_date"],
            "models": [kind], "bootstrap": 20,
        })
        out[kind] = Risk().run(frame, params, StepContext(seed=3, dataset="referrals")).artifacts["model"]
    params = Segment.parse_params({"variables": ["age", "prior_referrals", "district"]})
    out["segment"] = Segment().run(frame, params, StepContext(seed=3, dataset="referrals")).artifacts
    return out


def test_the_trusted_types_are_exactly_those_the_built_in_models_use(fitted, tmp_path):
    needed = set()
    for name, obj in fitted.items():
        _artifacts.dump(obj, tmp_path / f"{name}.skops")
        needed |= set(sio.get_untrusted_types(file=tmp_path / f"{name}.skops"))
    assert needed == set(_artifacts.TRUSTED_TYPES)


def test_models_read_back_and_predict_the_same(fitted, referrals_csv, tmp_path):
    frame = pl.read_csv(referrals_csv, try_parse_dates=True)
    for kind in ("logistic", "boosting"):
        path = tmp_path / f"{kind}.skops"
        _artifacts.dump(fitted[kind], path)
        assert zipfile.is_zipfile(path)
        back = _artifacts.load(path)
        assert type(back) is type(fitted[kind]) and back.spec == fitted[kind].spec
        assert np.array_equal(back.predict(frame), fitted[kind].predict(frame))


def test_a_finding_stores_its_artifacts_as_skops_and_reads_them_back(tmp_path, fitted):
    finding = Finding(step="risk", title="t", headlines=["h"], id="r", artifacts={"model": fitted["logistic"]})
    folder = save_finding(finding, tmp_path / "r")
    assert sorted(p.name for p in (folder / "artifacts").iterdir()) == ["model.skops"]
    assert load_finding(folder).artifacts == {}
    assert load_finding(folder, artifacts=True).artifacts["model"].spec == fitted["logistic"].spec


class Marker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))

    def __setstate__(self, state):
        open(state["path"], "w").close()


def test_a_finding_never_unpickles(tmp_path):
    finding = Finding(step="risk", title="t", headlines=["h"], id="r", artifacts={"model": [1]})
    folder = save_finding(finding, tmp_path / "r")
    marker = tmp_path / "ran"
    (folder / "artifacts" / "model.skops").write_bytes(pickle.dumps(Marker(marker)))
    with pytest.raises(ModelError, match="not a file expedition stores models in"):
        load_finding(folder, artifacts=True)
    (folder / "artifacts" / "model.skops").unlink()
    (folder / "artifacts" / "model.joblib").write_bytes(pickle.dumps(Marker(marker)))
    with pytest.raises(ModelError, match="expedition run r --force"):
        load_finding(folder, artifacts=True)
    sio.dump([Marker(marker)], folder / "artifacts" / "model.skops")
    with pytest.raises(ModelError, match="test_artifacts.Marker"):
        load_finding(folder, artifacts=True)
    assert not marker.exists()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400), keep=st.integers(0, 10_000))
def test_damaged_or_arbitrary_bytes_are_refused_cleanly(tmp_path_factory, fitted, data, keep):
    """Random bytes, and a real model file cut short or with bytes changed, give a ModelError."""
    folder = tmp_path_factory.mktemp("bytes")
    good = folder / "good.skops"
    if not good.exists():
        _artifacts.dump(fitted["segment"], good)
    blob = good.read_bytes()
    for candidate in (data, blob[:keep] + data, blob[: len(blob) // 2] + data + blob[len(blob) // 2 + len(data):]):
        path = folder / "x.skops"
        path.write_bytes(candidate)
        try:
            obj = _artifacts.load(path)
        except ModelError as exc:
            assert exc.fix and "x.skops" in exc.what
            continue
        # only bytes skops does not read (zip timestamps, say) may change: the content is whole
        assert sorted(obj) == sorted(fitted["segment"])


def boosting(fitted):
    return fitted["boosting"].pipeline.named_steps["model"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda nodes: nodes["left"].__setitem__(0, 10**6), "outside it"),
        (lambda nodes: nodes["right"].__setitem__(0, 0), "back up the tree"),
        (lambda nodes: nodes["feature_idx"].__setitem__(0, 10**6), "feature the model does not read"),
        (lambda nodes: nodes["feature_idx"].__setitem__(0, -1), "feature the model does not read"),
    ],
)
def test_a_boosting_model_with_damaged_trees_is_refused(fitted, tmp_path, damage, message):
    import copy

    model = copy.deepcopy(fitted["boosting"])
    tree = model.pipeline.named_steps["model"]._predictors[3][0]
    assert tree.nodes["is_leaf"][0] == 0
    damage(tree.nodes)
    path = tmp_path / "m.skops"
    _artifacts.dump(model, path)
    with pytest.raises(ModelError, match=message):
        _artifacts.load(path)


def test_category_codes_outside_a_byte_are_refused(fitted, tmp_path):
    import copy

    model = copy.deepcopy(fitted["boosting"])
    mapper = boosting({"boosting": model})._bin_mapper
    first = int(np.flatnonzero(mapper.is_categorical_)[0])
    mapper.bin_thresholds_[first] = np.asarray([1.0, 10_000.0])
    _artifacts.dump(model, tmp_path / "m.skops")
    with pytest.raises(ModelError, match="category codes outside 0-255"):
        _artifacts.load(tmp_path / "m.skops")


def test_what_skops_cannot_store_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="cannot be stored safely"):
        _artifacts.dump((i for i in range(3)), tmp_path / "g.skops")


def test_a_file_that_would_unpack_to_too_much_is_not_read(fitted, tmp_path, monkeypatch):
    path = tmp_path / "m.skops"
    _artifacts.dump(fitted["segment"], path)
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    assert unpacked > path.stat().st_size  # stored deflated
    monkeypatch.setattr(_artifacts, "MAX_UNPACKED", unpacked - 1)
    with pytest.raises(ModelError, match="would unpack to"):
        _artifacts.load(path)
    monkeypatch.setattr(_artifacts, "MAX_UNPACKED", unpacked)
    assert sorted(_artifacts.load(path)) == sorted(fitted["segment"])
