"""`expedition.profile`: statistics checked against numpy/scipy, types, personal data, alerts."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
import scipy.stats

import expedition
from expedition.profile import _engine


def strip_run(document: dict) -> dict:
    document = dict(document)
    document.pop("run", None)
    return document


@pytest.fixture
def mixed() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 3_000
    amount = rng.lognormal(3, 1, n)
    amount[::97] = np.nan  # NaN is counted apart and left out of the moments
    return pl.DataFrame(
        {
            "case_id": [f"C{i:06d}" for i in range(n)],
            "district": rng.choice(["Harlow", "Maldon", "Tendring"], n, p=[0.5, 0.3, 0.2]),
            "age": pl.Series(rng.integers(0, 18, n)).scatter(range(0, n, 10), None),
            "amount": amount,
            "score": rng.normal(50, 10, n),
            "linked": rng.normal(50, 10, n),
            "opened": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 1, 1) + pl.duration(days=n - 1), eager=True),
            "flag": rng.random(n) < 0.3,
            "source": np.where(rng.random(n) < 0.95, "MASH", "Other"),
        }
    ).with_columns((pl.col("score") * 2 + 1).alias("linked"))


def test_numeric_statistics_match_numpy_and_scipy(mixed):
    p = expedition.profile(mixed)
    col = p.column("score")
    x = mixed["score"].to_numpy()
    num = col["numeric"]
    assert num["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert num["std"] == pytest.approx(x.std(ddof=1), rel=1e-12)
    assert num["skewness"] == pytest.approx(scipy.stats.skew(x, bias=False), abs=1e-6)
    assert num["min"] == x.min() and num["max"] == x.max()
    for key, q in {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}.items():
        assert num["quantiles"][key] == pytest.approx(np.quantile(x, q), rel=1e-12)
    assert num["quantiles_exact"] is True
    q1, q3 = np.quantile(x, [0.25, 0.75])
    outside = ((x < q1 - 1.5 * (q3 - q1)) | (x > q3 + 1.5 * (q3 - q1))).sum()
    assert num["iqr_outliers"]["count"] == outside
    assert sum(num["histogram"]["counts"]) == len(x)


def test_missing_nan_and_integers(mixed):
    p = expedition.profile(mixed)
    age = p.column("age")
    assert age["missing"] == 300 and age["count"] == 2_700
    assert age["missing_share"] == pytest.approx(0.1)
    values = mixed["age"].drop_nulls().to_numpy()
    assert age["numeric"]["mean"] == pytest.approx(values.mean())
    assert age["numeric"]["histogram"]["kind"] == "values"
    assert sum(age["numeric"]["histogram"]["counts"]) == 2_700
    amount = p.column("amount")
    finite = mixed["amount"].to_numpy()
    finite = finite[np.isfinite(finite)]
    assert amount["numeric"]["nan"] == 31
    assert amount["numeric"]["mean"] == pytest.approx(finite.mean())
    assert amount["numeric"]["skewness"] == pytest.approx(scipy.stats.skew(finite, bias=False), abs=1e-6)


def test_correlations_and_cramers_v_match_scipy(mixed):
    p = expedition.profile(mixed).to_dict()
    corr = p["correlations"]
    i, j = corr["columns"].index("score"), corr["columns"].index("amount")
    x, y = mixed["score"].to_numpy(), mixed["amount"].to_numpy()
    keep = np.isfinite(y)
    assert corr["pearson"][i][j] == pytest.approx(scipy.stats.pearsonr(x[keep], y[keep]).statistic, abs=1e-4)
    assert corr["spearman"][i][j] == pytest.approx(scipy.stats.spearmanr(x[keep], y[keep]).statistic, abs=1e-4)
    # every pair, with and without gaps (age has missing values, amount NaN), on the rows where
    # both are present
    for i, a_name in enumerate(corr["columns"]):
        for j, b_name in enumerate(corr["columns"]):
            if i == j:
                continue
            x = mixed[a_name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            y = mixed[b_name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            keep = np.isfinite(x) & np.isfinite(y)
            assert corr["pearson"][i][j] == pytest.approx(scipy.stats.pearsonr(x[keep], y[keep]).statistic, abs=1e-4)
            assert corr["spearman"][i][j] == pytest.approx(scipy.stats.spearmanr(x[keep], y[keep]).statistic, abs=1e-4)
    assoc = p["associations"]
    a, b = assoc["columns"].index("district"), assoc["columns"].index("source")
    table = (
        pl.DataFrame({"a": mixed["district"], "b": mixed["source"]})
        .pivot(on="b", index="a", values="b", aggregate_function="len")
        .fill_null(0)
        .drop("a")
        .to_numpy()
    )
    expected = scipy.stats.contingency.association(table, method="cramer")
    assert assoc["cramers_v"][a][b] == pytest.approx(expected, abs=1e-4)
    kinds = {a["kind"] for a in p["alerts"] if a["column"] == "score"}
    assert "high_correlation" in kinds  # linked = 2·score + 1


def test_semantic_types_keys_and_alerts(mixed):
    p = expedition.profile(mixed).to_dict()
    types = {c["name"]: c["semantic_type"] for c in p["columns"]}
    assert types == {
        "case_id": "identifier", "district": "categorical", "age": "numeric", "amount": "numeric",
        "score": "numeric", "linked": "numeric", "opened": "date", "flag": "boolean", "source": "categorical",
    }
    assert p["dataset"]["candidate_keys"] == ["case_id"]
    assert p["dataset"]["duplicate_rows"] == 0
    alerts = {(a["kind"], a["column"]) for a in p["alerts"]}
    assert ("imbalanced", "source") in alerts
    assert ("skewed", "amount") in alerts
    district = next(c for c in p["columns"] if c["name"] == "district")
    assert [v["value"] for v in district["top_values"]] == ["Harlow", "Maldon", "Tendring"]
    assert sum(v["count"] for v in district["top_values"]) == 3_000
    case = next(c for c in p["columns"] if c["name"] == "case_id")
    assert case["values_masked"] and all(v["value"] == "‹masked›" for v in case["top_values"])
    opened = next(c for c in p["columns"] if c["name"] == "opened")["temporal"]
    assert opened["min"] == "2020-01-01" and opened["months_without_records"] == 0
    assert sum(r["count"] for r in opened["records"]) == 3_000


def test_personal_data_is_flagged_and_never_printed():
    rows = 200
    frame = pl.DataFrame(
        {
            "postcode": [f"CM{i % 9 + 1} {i % 10}AB" for i in range(rows)],
            "contact": [f"j{i}@example.org" for i in range(rows)],
            "nhs": ["943 476 5919"] * rows,
            "note": [f"Seen by Mr Smith{i}, call 07700 900{i % 1000:03d}" if i % 2 else "no concerns" for i in range(rows)],
            "first_name": ["Riley", "Jamie"] * (rows // 2),
            "district": ["Harlow"] * rows,
        }
    )
    p = expedition.profile(frame)
    doc = p.to_dict()
    types = {c["name"]: c["semantic_type"] for c in doc["columns"]}
    assert types["postcode"] == "uk_postcode" and types["contact"] == "email" and types["nhs"] == "nhs_number"
    flagged = {a["column"]: a for a in doc["alerts"] if a["kind"] == "suspected_personal_data"}
    assert set(flagged) == {"postcode", "contact", "nhs", "note", "first_name"}
    assert "pattern 'postcode'" in flagged["postcode"]["message"]
    assert set(flagged["note"]["detail"]["patterns"]) >= {"name", "phone"}
    assert flagged["first_name"]["detail"]["name_hint"] == "name"
    outputs = p.to_json() + p.to_html() + p._repr_html_()
    for secret in ["CM1 0AB", "j1@example.org", "943 476 5919", "Smith1", "07700", "Riley", "Jamie"]:
        assert secret not in outputs
    assert "Harlow" in outputs  # ordinary values are shown
    nhs = next(c for c in doc["columns"] if c["name"] == "nhs")
    assert nhs["numeric"] is None and nhs["top_values"][0]["value"] == "‹masked›"


def test_numbers_and_dates_stored_as_text():
    frame = pl.DataFrame(
        {
            "cost": ["1,234", "£2,000.50", "7", "N/A", "12"] * 40,
            "when": ["2020-01-05", "06/02/2020", "2020-03-01", "unknown", "2020-04-01"] * 40,
            "clean": ["1,000", "2,500", "300", "4", "5"] * 40,
        }
    )
    doc = expedition.profile(frame).to_dict()
    cost = next(c for c in doc["columns"] if c["name"] == "cost")
    assert cost["stored_as_text"]["parsed"] == 160 and cost["stored_as_text"]["not_parsed"] == 40
    assert cost["stored_as_text"]["examples_not_parsed"] == ["N/A"]
    assert cost["numeric"]["max"] == 2000.5 and cost["numeric"]["sum"] == pytest.approx(40 * (1234 + 2000.5 + 7 + 12))
    when = next(c for c in doc["columns"] if c["name"] == "when")
    assert when["stored_as_text"]["formats"] == {"%Y-%m-%d": 120, "%d/%m/%Y": 40}
    assert when["temporal"]["min"] == "2020-01-05" and when["temporal"]["max"] == "2020-04-01"
    clean = next(c for c in doc["columns"] if c["name"] == "clean")
    assert clean["semantic_type"] == "numeric"
    kinds = {(a["kind"], a["column"]) for a in doc["alerts"]}
    assert {("mixed_types", "cost"), ("mixed_date_formats", "when"), ("mixed_types", "when"),
            ("stored_as_text", "clean")} <= kinds


def assert_close(a, b, path="") -> None:
    """Equal documents, floats to 1e-9 relative (merging batches changes the last bits)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def test_batches_merge_to_the_single_pass_result(mixed, monkeypatch):
    whole = strip_run(expedition.profile(mixed).to_dict())
    monkeypatch.setattr(_engine, "BATCH_CELLS", 1)  # 1,000-row batches
    batched = strip_run(expedition.profile(mixed).to_dict())
    batched["dataset"]["memory_bytes"] = whole["dataset"]["memory_bytes"]
    assert_close(batched, whole)


def test_sketches_and_sample_are_labelled_approximate(monkeypatch):
    rng = np.random.default_rng(5)
    n = 4_000
    frame = pl.DataFrame({"x": rng.normal(size=n), "code": [f"K{i}" for i in rng.permutation(n)],
                          "group": rng.choice(list("abc"), n)})
    monkeypatch.setattr(_engine, "EXACT_VALUES", 500)
    monkeypatch.setattr(_engine, "KMV_K", 256)
    monkeypatch.setattr(_engine, "BATCH_CELLS", 1)
    doc = expedition.profile(frame, sample_rows=1_000).to_dict()
    x = next(c for c in doc["columns"] if c["name"] == "x")
    assert x["distinct_exact"] is False
    assert abs(x["distinct"] - n) / n < 0.25  # k = 256: about ±6% standard error
    assert x["numeric"]["quantiles_exact"] is False and x["numeric"]["histogram"]["exact"] is False
    assert x["numeric"]["mean"] == pytest.approx(frame["x"].mean())  # still exact
    code = next(c for c in doc["columns"] if c["name"] == "code")
    assert code["unique"] and code["unique_exact"] and code["distinct"] == n  # exact by hashes
    group = next(c for c in doc["columns"] if c["name"] == "group")
    assert group["distinct_exact"] and sum(v["count"] for v in group["top_values"]) == n
    assert doc["sample"] == {**doc["sample"], "rows": 1_000, "all_rows": False}
    assert "quantiles" in doc["statistics"]["approximate"]


def test_same_input_and_seed_give_the_same_document(mixed):
    a = strip_run(expedition.profile(mixed, sample_rows=500).to_dict())
    assert strip_run(expedition.profile(mixed, sample_rows=500).to_dict()) == a
    b = strip_run(expedition.profile(mixed.lazy(), sample_rows=500).to_dict())
    b["dataset"]["memory_bytes"] = a["dataset"]["memory_bytes"]
    assert_close(b, a)  # streamed in other batches: the same up to rounding
    c = strip_run(expedition.profile(mixed, sample_rows=500, seed=7).to_dict())
    assert c["columns"][4]["numeric"]["quantiles"] != a["columns"][4]["numeric"]["quantiles"]


def test_duplicates_constant_and_empty_columns():
    frame = pl.DataFrame({"a": [1, 2, 2, 3, 3, 3], "b": ["x", "y", "y", "z", "z", "z"],
                          "c": ["k"] * 6, "d": [None] * 6}, schema_overrides={"d": pl.String})
    doc = expedition.profile(frame).to_dict()
    assert doc["dataset"]["duplicate_rows"] == 3
    kinds = {(a["kind"], a["column"]) for a in doc["alerts"]}
    assert {("duplicate_rows", None), ("constant", "c"), ("empty_column", "d")} <= kinds
    d = next(c for c in doc["columns"] if c["name"] == "d")
    assert d["semantic_type"] == "empty" and d["count"] == 0 and d["missing"] == 6


def test_json_is_strict_and_html_is_self_contained(mixed):
    p = expedition.profile(mixed)
    doc = json.loads(p.to_json())  # allow_nan=False: no NaN or Infinity in the document
    assert doc["schema_version"] == 1
    html = p.to_html()
    assert html.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in html
    assert "<svg" in html and "http://" not in html and "https://" not in html and "<script" not in html
    assert not p._repr_html_().startswith("<!DOCTYPE")


def test_pandas_frames_and_the_callable_module(mixed):
    import expedition.profile as module

    assert callable(module) and module.compare is expedition.profile.compare
    import pandas as pd

    p = module(pd.DataFrame({c: mixed[c].to_list() for c in ["case_id", "district", "score"]}))
    assert p.rows == 3_000 and repr(p).startswith("<Profile")
    assert p.column("district")["top_values"][0]["value"] == "Harlow"
    with pytest.raises(expedition.ExpeditionError, match="cannot profile a list"):
        expedition.profile([1, 2, 3])


def test_compare_finds_material_changes():
    rng = np.random.default_rng(9)
    n = 3_000
    old = pl.DataFrame({"district": rng.choice(["A", "B", "C"], n), "x": rng.normal(0, 1, n),
                        "gone": np.arange(n), "y": rng.normal(0, 1, n)})
    new = pl.DataFrame({"district": rng.choice(["A", "B", "C", "D"], n, p=[0.1, 0.1, 0.1, 0.7]),
                        "x": rng.normal(0.6, 1, n), "added": np.arange(n),
                        "y": pl.Series(rng.normal(0, 1, n)).scatter(range(0, n, 4), None)})
    result = expedition.profile.compare(expedition.profile(old), expedition.profile(new))
    doc = result.to_dict()
    assert result.changed and doc["changed_materially"]
    assert doc["added_columns"] == ["added"] and doc["removed_columns"] == ["gone"]
    kinds = {(a["kind"], a["column"]) for a in doc["alerts"]}
    assert {("distribution_shift", "district"), ("distribution_shift", "x"),
            ("missingness_changed", "y"), ("column_added", "added"), ("column_removed", "gone")} <= kinds
    x = next(c for c in doc["columns"] if c["name"] == "x")
    ks = scipy.stats.ks_2samp(old["x"].to_numpy(), new["x"].to_numpy())
    assert x["ks_statistic"] == pytest.approx(ks.statistic, abs=1e-4)
    district = next(c for c in doc["columns"] if c["name"] == "district")
    shares_old = old["district"].value_counts(normalize=True).sort("district")["proportion"].to_list() + [1e-4]
    shares_new = new["district"].value_counts(normalize=True).sort("district")["proportion"].to_list()
    expected = sum((b - a) * math.log(b / a) for a, b in zip(shares_old, shares_new))
    assert district["psi"] == pytest.approx(expected, abs=1e-3)
    assert district["new_categories"] == 1
    same = expedition.profile.compare(expedition.profile(old), expedition.profile(old.clone()))
    assert not same.changed and same.alerts == []
    assert "<svg" not in same.to_html() and same.to_html().startswith("<!DOCTYPE html>")


def test_hash_memory_is_bounded_and_then_estimates_are_labelled(monkeypatch):
    n = 6_000
    frame = pl.DataFrame({"code": [f"K{i}" for i in range(n)], "v": [i % 50 for i in range(n)]})
    frame = pl.concat([frame, frame.head(300)])  # 300 duplicate rows
    monkeypatch.setattr(_engine, "EXACT_VALUES", 500)
    monkeypatch.setattr(_engine, "BATCH_CELLS", 1)
    exact = expedition.profile(frame).to_dict()
    assert exact["dataset"]["duplicate_rows"] == 300 and exact["dataset"]["duplicate_rows_exact"]
    monkeypatch.setattr(_engine, "HASH_BYTES", 8 * 2_500)  # room for 2,500 hashes only
    still_exact = expedition.profile(frame).to_dict()  # fewer distinct rows than the sketch holds
    assert still_exact["dataset"]["duplicate_rows"] == 300 and still_exact["dataset"]["duplicate_rows_exact"]
    monkeypatch.setattr(_engine, "KMV_K", 512)
    bounded = expedition.profile(frame).to_dict()
    assert bounded["dataset"]["duplicate_rows_exact"] is False
    assert bounded["dataset"]["duplicate_rows"] is None  # 300 is within the sketch's error of 0
    code = next(c for c in bounded["columns"] if c["name"] == "code")
    assert code["unique"] is False and code["unique_exact"] is False
    assert "duplicate rows and unique columns" in bounded["statistics"]["approximate"]
    # a whole-number column that only increases is unique, proved without keeping any hashes
    with_id = expedition.profile(frame.head(6_000).with_row_index("row_id")).to_dict()
    assert with_id["dataset"]["duplicate_rows"] == 0 and with_id["dataset"]["duplicate_rows_exact"]
    assert "row_id" in with_id["dataset"]["candidate_keys"]
    row_id = next(c for c in with_id["columns"] if c["name"] == "row_id")
    assert row_id["unique"] and row_id["unique_exact"]
    assert "duplicate rows and unique columns" in bounded["statistics"]["approximate"]


@pytest.mark.parametrize("source", ["frame", "csv"])
def test_rows_skipped_while_an_id_increased_are_hashed_when_it_stops(source, tmp_path, monkeypatch):
    # ids increase for the first 3,500 rows (several batches), so those rows are not hashed as
    # they stream past; then earlier rows come again, so the ids stop increasing and the first
    # rows must be read again: every duplicate row is still counted, exactly
    rng = np.random.default_rng(11)
    first = pl.DataFrame({"id": np.arange(3_500), "district": rng.choice(["a", "b", "c"], 3_500),
                          "amount": np.round(rng.normal(100, 20, 3_500), 2)})
    repeats = first.sample(400, seed=1)  # 400 rows that repeat rows among the first 3,500
    later = pl.DataFrame({"id": np.arange(3_500, 5_000), "district": rng.choice(["a", "b"], 1_500),
                          "amount": np.round(rng.normal(90, 20, 1_500), 2)})
    frame = pl.concat([first, repeats, later, later.head(25)])
    expected = frame.height - frame.n_unique()
    assert expected == 425
    monkeypatch.setattr(_engine, "BATCH_CELLS", 1)  # 1,000-row batches
    data: object = frame
    if source == "csv":
        data = tmp_path / "cases.csv"
        frame.write_csv(data)
    doc = expedition.profile(data).to_dict()
    assert doc["dataset"]["duplicate_rows"] == expected and doc["dataset"]["duplicate_rows_exact"]
    assert doc["dataset"]["rows"] == frame.height
    monkeypatch.setattr(_engine, "HASH_BYTES", 8 * 1_500)  # past the cap: the sketch takes them all
    bounded = expedition.profile(data).to_dict()
    assert bounded["dataset"]["duplicate_rows_exact"]  # fewer distinct rows than the sketch holds
    assert bounded["dataset"]["duplicate_rows"] == expected


def test_columns_named_like_the_profiles_own_count_columns():
    # more than EXACT_VALUES distinct values, so top values come from the sample's value counts
    frame = pl.DataFrame({"n": list(range(3000)) * 2, "count": ["a", "b"] * 3000, "value": [True, False] * 3000})
    result = expedition.profile(frame)
    assert [c["name"] for c in result.to_dict()["columns"]] == ["n", "count", "value"]
    assert result.to_dict()["dataset"]["rows"] == 6000
    assert expedition.profile.compare(result, expedition.profile(frame.head(4000))).to_dict()["columns"]
    from expedition.contract import infer_schema

    assert set(infer_schema(frame).columns) == {"n", "count", "value"}
