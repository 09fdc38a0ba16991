from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps.segment import Segment

CTX = StepContext(seed=3, disclosure=DisclosureConfig(min_count=10))


def run(data: pl.DataFrame, **params):
    params.setdefault("bootstrap", 5)
    return Segment().run(data.lazy(), Segment.parse_params(params), CTX)


def blobs(sizes=(300, 200, 100), seed=0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    centres = [(0.0, 0.0, "red"), (6.0, 6.0, "blue"), (0.0, 8.0, "green")]
    parts = []
    for (cx, cy, colour), n in zip(centres, sizes):
        parts.append(
            pl.DataFrame(
                {
                    "x": rng.normal(cx, 1.0, n),
                    "y": rng.normal(cy, 1.0, n),
                    "colour": np.where(rng.random(n) < 0.9, colour, "grey"),
                }
            )
        )
    return pl.concat(parts)


def test_finds_planted_segments_and_reports_their_profiles():
    data = blobs()
    finding = run(data, k_max=6)
    assert finding.metrics["k"] == 3
    scores = finding.tables["k_scores"].frame
    assert scores["k"].to_list() == ["2", "3", "4", "5", "6"]
    chosen = scores.filter(pl.col("chosen") == "yes")
    assert chosen["silhouette"].item() == scores["silhouette"].max()
    segments = finding.tables["segments"].frame
    assert sorted(segments["n"].to_list()) == [100, 200, 300]
    assert segments["n"].to_list() == [300, 200, 100]  # largest first
    assert segments["share"].sum() == pytest.approx(1.0)
    assert finding.metrics["stability_ari"] > 0.95
    assert all(j > 0.9 for j in segments["stability"].to_list())
    profiles = finding.tables["numeric_profiles"].frame
    overall = profiles.filter(pl.col("variable") == "x")["overall_mean"].unique().item()
    assert overall == pytest.approx(data["x"].mean())
    # every segment's size-weighted mean of x gives back the overall mean
    part = profiles.filter(pl.col("variable") == "x")
    assert (part["mean"] * part["n"]).sum() / part["n"].sum() == pytest.approx(data["x"].mean())
    cats = finding.tables["category_profiles"].frame
    complete = cats.group_by("segment").agg(pl.col("share").sum(), pl.col("n").null_count().alias("hidden"))
    assert complete.filter(pl.col("hidden") == 0)["share"].to_list() == pytest.approx([1.0, 1.0])
    assert {"k_scores", "projection", "profiles"} <= set(finding.figures)
    assert any("stable when the data are resampled" in h for h in finding.headlines)
    assert any(h.startswith("Segment 1 (50% of records)") for h in finding.headlines)


def test_gaussian_mixture_and_a_fixed_k():
    finding = run(blobs(), method="gmm", k=3)
    assert finding.metrics["k"] == 3
    assert finding.tables["k_scores"].frame.columns == ["k", "chosen", "silhouette", "bic"]
    assert sorted(finding.tables["segments"].frame["n"].to_list()) == [100, 200, 300]


def test_large_data_are_fitted_on_a_sample_and_all_records_assigned():
    data = blobs((3000, 2000, 1000), seed=1)
    finding = run(data, sample_size=1000, k=3, bootstrap=0)
    assert finding.metrics["fitted_on"] == 1000 and finding.metrics["records"] == 6000
    assert finding.tables["segments"].frame["n"].sum() == 6000
    assert any("random sample of 1,000" in c for c in finding.caveats)
    assert "stability_ari" not in finding.metrics


def test_same_seed_same_segments():
    a, b = run(blobs(seed=4)), run(blobs(seed=4))
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)


def test_awkward_data_gets_caveats_or_clear_errors():
    data = blobs().with_columns(
        pl.lit(1.0).alias("constant"),
        pl.lit(None, dtype=pl.Float64).alias("empty"),
        pl.Series("many", [f"id-{i % 10_000}" for i in range(600)]),
        pl.when(pl.int_range(pl.len()) < 3).then(1e12).otherwise(pl.col("x")).alias("x"),
    )
    finding = run(data, variables=["x", "y", "colour", "constant", "empty", "many"], k_max=5)
    text = " ".join(finding.caveats)
    assert "only one value): constant" in text and "all values missing): empty" in text
    assert "many has 600 distinct values" in text and "'Other'" in text
    # the extreme values are clipped at the 99th percentile: they do not make a segment of their own
    assert min(finding.tables["segments"].frame["n"].to_list()) > 3
    with pytest.raises(StepError, match="no column can be used"):
        run(pl.DataFrame({"a": [1.0] * 50}))
    with pytest.raises(StepError, match="too few"):
        run(pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}), k=5)
    with pytest.raises(StepError, match="k_max"):
        Segment.parse_params({"k_min": 5, "k_max": 3})


def test_small_segments_are_suppressed_and_not_described():
    ctx = StepContext(seed=3, disclosure=DisclosureConfig(min_count=150))
    finding = Segment().run(blobs().lazy(), Segment.parse_params({"k": 3, "bootstrap": 0}), ctx)
    segments = finding.tables["segments"].frame
    # the 100-record segment is below the threshold, and the next smallest is hidden too so that
    # the total cannot reveal it
    hidden = segments.filter(pl.col("n").is_null())
    assert hidden["segment"].to_list() == ["2", "3"]
    assert hidden["share"].to_list() == [None, None] and hidden["description"].to_list() == [None, None]
    assert [h for h in finding.headlines if h.startswith("Segment ")][0].startswith("Segment 1 ")
    assert len([h for h in finding.headlines if h.startswith("Segment ")]) == 1
    # a segment hidden in one table is hidden in every table (else the total would reveal it)
    for name in ("numeric_profiles", "category_profiles", "projection"):
        frame = finding.tables[name].frame.filter(pl.col("segment").is_in(["2", "3"]))
        assert frame["n"].null_count() == frame.height, name
