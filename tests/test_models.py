"""The shared model helpers: ranking metrics against scikit-learn, intervals against statsmodels,
fairness against hand counts, the redaction screen against `pii.scan`."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from expedition.pii import CANDIDATE, redact, scan
from expedition.steps import _models as m


def sample(n=400, ties=False, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.random(n) + 0.4 * y
    if ties:
        s = np.round(s * 5) / 5
    return s, y


@pytest.mark.parametrize("ties", [False, True])
def test_ranked_metrics_match_scikit_learn_with_and_without_weights(ties):
    s, y = sample(ties=ties)
    ranked = m.Ranked(s, y)
    assert ranked.auc() == pytest.approx(roc_auc_score(y, s))
    assert ranked.average_precision() == pytest.approx(average_precision_score(y, s))
    w = np.bincount(np.random.default_rng(1).integers(0, len(y), len(y)), minlength=len(y)).astype(float)
    assert ranked.auc(w) == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert ranked.average_precision(w) == pytest.approx(average_precision_score(y, s, sample_weight=w))
    assert m.brier(s.clip(0, 1), y, w) == pytest.approx(brier_score_loss(y, s.clip(0, 1), sample_weight=w))


def test_bootstrap_intervals_cover_the_estimate_and_pair_the_differences():
    s, y = sample(n=600)
    noise = np.random.default_rng(5).random(len(y))
    perf, gains = m.bootstrap_metrics(
        {"model": s.clip(0, 1), "noise": noise, "flat": np.full(len(y), y.mean())},
        y,
        replicates=200,
        seed=3,
        reference="model",
        rankings=("noise",),
    )
    auc = perf["model"]["auc"]
    assert auc.low < auc.estimate < auc.high
    assert auc.estimate == pytest.approx(roc_auc_score(y, s))
    assert perf["flat"]["auc"].estimate == 0.5
    assert math.isnan(perf["noise"]["brier"].estimate)  # a ranking is not a probability
    assert perf["noise"]["auc"].low < 0.5 < perf["noise"]["auc"].high
    assert gains["noise"].low > 0  # the model is clearly better than noise
    again, _ = m.bootstrap_metrics({"model": s.clip(0, 1)}, y, replicates=200, seed=3)
    assert again["model"]["auc"] == perf["model"]["auc"]


def test_wilson_matches_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    low, high = m.wilson([3, 40, 0], [10, 100, 0])
    lo, hi = proportion_confint(40, 100, method="wilson")
    assert low[1] == pytest.approx(lo) and high[1] == pytest.approx(hi)
    assert math.isnan(low[2])


def test_calibration_of_a_calibrated_model_is_near_ideal():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 0.6, 20_000)
    y = (rng.random(p.size) < p).astype(int)
    fit = m.calibration_fit(y, p)
    assert fit["calibration_slope_low"] < 1 < fit["calibration_slope_high"]
    assert fit["calibration_intercept_low"] < 0 < fit["calibration_intercept_high"]
    extreme = 1 / (1 + np.exp(-2 * np.log(p / (1 - p))))  # twice the log-odds: too extreme
    assert m.calibration_fit(y, extreme)["calibration_slope"] == pytest.approx(0.5, abs=0.05)
    assert m.calibration_fit(y, np.full(y.size, 0.3)) == {}


def test_top_share_and_review_order_break_ties_in_a_fixed_order():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    order = m.review_order(scores, np.array([0, 0.3, 0.1, 0.2, 0]))
    assert order.tolist() == [0, 2, 3, 1, 4]
    assert m.top_share(order, 0.4).tolist() == [True, False, True, False, False]
    assert m.top_share(order, 1.0).all()


def test_fairness_rates_match_fairlearns_metric_frame():
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    rng = np.random.default_rng(8)
    n = 3000
    group = rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05])
    y = (rng.random(n) < np.where(group == "b", 0.4, 0.2)).astype(int)
    scores = rng.random(n) * 0.5 + 0.3 * y
    flags = m.top_share(m.review_order(scores, rng.random(n)), 0.2)
    ours = m.fairness_frame(y, scores, flags, {"g": group}, min_count=10)
    reference = MetricFrame(
        metrics={
            "n": count,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "precision": precision_score,
        },
        y_true=y,
        y_pred=flags.astype(int),
        sensitive_features=group,
    ).by_group
    for row in ours.iter_rows(named=True):
        expected = reference.loc[row["group"]]
        assert row["n"] == expected["n"]
        for metric in ("selection_rate", "tpr", "fpr", "precision"):
            assert row[metric] == pytest.approx(expected[metric]), (row["group"], metric)


def test_fairness_frame_counts_match_hand_counts_and_small_groups_are_not_judged():
    rng = np.random.default_rng(4)
    n = 600
    group = np.where(np.arange(n) < 8, "tiny", np.where(rng.random(n) < 0.6, "big", "mid"))
    y = (rng.random(n) < 0.3).astype(int)
    scores = rng.random(n)
    flags = scores > 0.8
    frame = m.fairness_frame(y, scores, flags, {"g": group}, min_count=10)
    big = frame.filter(pl.col("group") == "big").row(0, named=True)
    member = group == "big"
    assert big["n"] == member.sum()
    assert big["flagged"] == flags[member].sum()
    assert big["tpr"] == pytest.approx(flags[member & (y == 1)].mean())
    assert big["fpr"] == pytest.approx(flags[member & (y == 0)].mean())
    assert big["precision"] == pytest.approx(y[member & flags].mean())
    assert big["auc"] == pytest.approx(roc_auc_score(y[member], scores[member]))
    assert big["selection_rate_ratio"] == 1.0 and big["reference_group"] == "big"
    mid = frame.filter(pl.col("group") == "mid").row(0, named=True)
    assert mid["selection_rate_ratio"] == pytest.approx(mid["selection_rate"] / big["selection_rate"])
    tiny = frame.filter(pl.col("group") == "tiny").row(0, named=True)
    assert tiny["selection_rate"] is None and tiny["tpr"] is None
    assert "too small to judge" in tiny["note"]
    assert frame["group"].to_list()[0] == "big"  # the largest group first


def test_redact_series_matches_redact_and_counts_documents():
    texts = [
        "Mother Ms Smith can be reached on 07700 900123.",
        "Nothing personal here.",
        None,
        "Child called Jamie lives at CM1 2AB. Call 07700 900456 or 07700 900789.",
    ]
    cleaned, counts = m.redact_series(pl.Series(texts))
    expected = ["" if t is None else redact(t)[0] for t in texts]
    assert cleaned.to_list() == [
        e.replace("[NAME]", "redacted_NAME").replace("[PHONE]", "redacted_PHONE").replace("[POSTCODE]", "redacted_POSTCODE")
        for e in expected
    ]
    assert counts == {"name": 2, "phone": 2, "postcode": 1}
    assert "Smith" not in " ".join(cleaned.to_list())


_pieces = st.sampled_from(
    ["Mr", "Ms", "Dr.", "called", "named", "known as", "Smith", "Jamie", "07700 900123", "CM1 2AB",
     "SS14 1QT", "943 476 5919", "AB123456C", "a@b.co.uk", "DOB 01/02/2010", "born on 3rd May 2015",
     "visit", "home", "the", "@", "0", "+44", " ", ".", ",", "\n", "é"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=12).map(" ".join) | st.text(max_size=60))
def test_the_quick_screen_passes_every_text_scan_would_redact(text):
    if scan(text):
        assert pl.Series([text]).str.contains(CANDIDATE)[0]


def test_term_vectorizer_drops_numbers_and_keeps_negations():
    vectorizer = m.term_vectorizer(min_docs=1, max_terms=100, ngrams=2, tfidf=False)
    vectorizer.fit(["no concerns at 12 Hill Road", "not known redacted_phone"])
    terms = set(vectorizer.get_feature_names_out())
    assert {"no", "no concerns", "not", "redacted_phone"} <= terms
    assert not any(ch.isdigit() for t in terms for ch in t)


def test_incompatibilities_name_the_versions():
    model = m.RiskModel(
        pipeline=None, kind="logistic", spec=m.FeatureSpec(numeric=["x"]), outcome="y", outcome_value="1",
        id_column=None, tier_names=["low", "high"], tier_thresholds=[0.5], params={}, training={},
        versions=dict(m.model_versions()), step_version="1",
    )
    assert m.incompatibilities(model) == []
    model.versions["scikit-learn"] = "0.24.2"
    model.format = 99
    problems = " ".join(m.incompatibilities(model))
    assert "scikit-learn 0.24.2" in problems and "format 99" in problems
    assert m.incompatibilities({"not": "a model"})[0].startswith("the file holds a dict")
    assert model.tiers(np.array([0.2, 0.5, 0.9])) == ["low", "high", "high"]
