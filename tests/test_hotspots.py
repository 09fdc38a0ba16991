"""`hotspots`: Gi* against the textbook and esda, false-discovery control, planted hot spots."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import sparse, stats

from expedition.config import DisclosureConfig
from expedition.disclosure import apply
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps import _geo
from expedition.steps.hotspots import PERSISTENT, Hotspots

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))


def run(data: pl.DataFrame, **params):
    return Hotspots().run(data.lazy(), Hotspots.parse_params(params), CTX)


# --------------------------------------------------------------------------- the statistic


def test_gi_star_matches_the_values_esda_documents():
    # esda.getisord.G_Local docstring: DistanceBand(points, threshold=15), transform="B", star=True
    points = np.array([(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)], dtype=float)
    y = np.array([2, 3, 3.2, 5, 8, 7])
    w = _geo.points_weights(points[:, 0], points[:, 1], 15)
    z = _geo.gi_star(w, y)[:, 0]
    documented = [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331]
    np.testing.assert_allclose(z, documented, rtol=1e-7)


def test_gi_star_matches_the_textbook_formula_for_general_weights():
    rng = np.random.default_rng(3)
    n = 40
    dense = rng.random((n, n)) * (rng.random((n, n)) < 0.2)
    np.fill_diagonal(dense, 1.0)
    x = rng.poisson(4, size=(n, 3)).astype(float)
    z = _geo.gi_star(sparse.csr_matrix(dense), x)
    for t in range(3):
        xt = x[:, t]
        mean, s = xt.mean(), np.sqrt((xt**2).mean() - xt.mean() ** 2)
        for i in range(n):
            wi, w2 = dense[i].sum(), (dense[i] ** 2).sum()
            expected = (dense[i] @ xt - mean * wi) / (s * np.sqrt((n * w2 - wi**2) / (n - 1)))
            assert z[i, t] == pytest.approx(expected, rel=1e-10)


def test_grid_neighbourhoods_are_sparse_and_match_a_distance_band():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 5_000, 3_000), rng.uniform(0, 5_000, 3_000)
    grid, index = _geo.grid_of(x, y, 250)
    w = _geo.grid_weights(grid, 750)
    assert sparse.issparse(w) and w.nnz <= 29 * grid.size
    cx, cy = grid.centres()
    reference = _geo.points_weights(cx, cy, 750 + 1e-6)
    assert (w != reference).nnz == 0
    assert np.array_equal(np.bincount(index, minlength=grid.size).sum(), 3_000)


def test_pvalues_use_the_negative_binomial_of_the_neighbourhood_total():
    rng = np.random.default_rng(5)
    x = rng.negative_binomial(2, 0.3, size=400).astype(float)
    w = _geo.knn_weights(rng.random(400), rng.random(400), 6)
    z = _geo.gi_star(w, x)
    p, counts = _geo.gi_pvalues(w, x, z)
    assert counts.all()
    # the size k is the maximum-likelihood estimate: statsmodels' NB2 regression on a constant
    import statsmodels.api as sm

    nb2 = sm.NegativeBinomial(x, np.ones_like(x)).fit(disp=False)
    k = _geo.nb_size(x)
    assert k == pytest.approx(1 / nb2.params[1], rel=1e-3)
    assert np.exp(nb2.params[0]) == pytest.approx(x.mean(), rel=1e-6)
    mean = x.mean()
    sizes = np.asarray(w.sum(axis=1)).ravel()
    totals = w @ x
    for i in (0, 17, 123):
        dist = stats.nbinom(sizes[i] * k, k / (k + mean))
        expected = min(1.0, 2 * min(dist.sf(totals[i] - 1), dist.cdf(totals[i])))
        assert p[i, 0] == pytest.approx(expected, rel=1e-9)
    # rates use the normal approximation behind the z-score
    rates = x / 7.0
    p_rates, counts = _geo.gi_pvalues(w, rates, _geo.gi_star(w, rates))
    assert not counts.any()
    np.testing.assert_allclose(p_rates[:, 0], 2 * stats.norm.sf(np.abs(_geo.gi_star(w, rates)[:, 0])))


def test_benjamini_hochberg_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).uniform(0, 0.2, 300) ** 2
    for method, name in (("bh", "fdr_bh"), ("by", "fdr_by")):
        np.testing.assert_allclose(_geo.adjust(p, method), multipletests(p, method=name)[1])
    np.testing.assert_array_equal(_geo.adjust(p, "none"), p)


def test_bng_projection_round_trips_and_matches_a_known_point():
    # Chelmsford, roughly TL 709 068 on the Ordnance Survey grid
    x, y = _geo.to_bng(0.4691, 51.7356)
    assert x == pytest.approx(570_600, abs=300) and y == pytest.approx(206_900, abs=300)
    lon, lat = _geo.from_bng(x, y)
    assert lon == pytest.approx(0.4691, abs=1e-7) and lat == pytest.approx(51.7356, abs=1e-7)


# --------------------------------------------------------------------------- planted truth


@pytest.fixture(scope="module")
def incidents() -> pl.DataFrame:
    from expedition.examples.incidents import generate

    return generate(rows=14_000, seed=11)


@pytest.fixture(scope="module")
def incident_finding(incidents):
    from expedition.examples.incidents import STUDY_AREA

    return run(incidents, date="date", area="lsoa_code", study_area=STUDY_AREA)


def test_every_planted_persistent_hot_spot_is_found(incident_finding):
    from expedition.examples.incidents import ONE_OFF, PERSISTENT as PLANTED

    spots = incident_finding.tables["hot_spots"].frame
    persistent = spots.filter(pl.col("class") == PERSISTENT)
    sx, sy = persistent["easting"].to_numpy(), persistent["northing"].to_numpy()
    for name, (lon, lat, *_rest) in PLANTED.items():
        px, py = _geo.to_bng(lon, lat)
        assert np.hypot(sx - px, sy - py).min() < 300, f"{name} was not found as a persistent hot spot"
    assert persistent.height == len(PLANTED)
    # the one-off hot spots are hot, but not persistent
    hx, hy = spots["easting"].to_numpy(), spots["northing"].to_numpy()
    for name, (lon, lat, *_rest) in ONE_OFF.items():
        px, py = _geo.to_bng(lon, lat)
        nearest = int(np.argmin(np.hypot(hx - px, hy - py)))
        assert np.hypot(hx[nearest] - px, hy[nearest] - py) < 300, name
        assert spots["class"][nearest] == "intermittent hot spot", name
    headline = incident_finding.headlines[1]
    assert headline.startswith("3 persistent hot spots, hot in at least 9 of the last 12 months")


def test_planted_flaws_are_flagged(incidents, incident_finding):
    m = incident_finding.metrics
    assert m["missing_location"] == int(incidents.height * 0.001)
    assert m["swapped_coordinates"] == int(incidents.height * 0.0015)
    assert m["outside_study_area"] == int(incidents.height * 0.0005)
    text = " ".join(incident_finding.caveats)
    assert "swapped" in text and "outside the study area" in text and "no location" in text


def test_persistence_over_time_is_tabled(incident_finding):
    timeline = incident_finding.tables["hot_spot_periods"].frame
    h1 = timeline.filter(pl.col("hot_spot") == "H1")
    assert h1.height == 12 and h1["events"].min() > 0
    cells = incident_finding.tables["hot_cells"].frame
    assert cells.filter(pl.col("class") == PERSISTENT)["hot_periods"].min() >= 9


def test_areas_are_tested_too(incident_finding):
    areas = incident_finding.tables["areas"].frame
    assert areas.height > 900
    assert incident_finding.metrics["persistent_hot_areas"] > 0
    assert any(h.startswith("By area (lsoa_code") for h in incident_finding.headlines)


@pytest.mark.parametrize("dated", [False, True])
def test_uniform_background_gives_no_more_false_hot_cells_than_the_fdr_allows(dated):
    """Under the null (no hot spots) Benjamini–Hochberg at q bounds the chance of any false
    discovery per map by q, so over many maps the share with any hot cell stays near q."""
    maps_with_false, maps = 0, 0
    seeds = range(10) if not dated else range(4)
    for seed in seeds:
        rng = np.random.default_rng(100 + seed)
        n = 12_000
        frame = pl.DataFrame(
            {
                "x": rng.uniform(560_000, 580_000, n),
                "y": rng.uniform(200_000, 220_000, n),
                "date": [date(2024, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 366, n)],
            }
        )
        params = {"x": "x", "y": "y"} | ({"date": "date"} if dated else {})
        finding = run(frame if dated else frame.drop("date"), **params)
        hot = finding.metrics["hot_cells"] + finding.metrics["cold_cells"]
        maps += 13 if dated else 1
        maps_with_false += int(hot > 0)
        assert finding.metrics["persistent_hot_spots"] == 0
    assert maps_with_false / maps <= 0.1


def test_sparse_counts_do_not_make_false_hot_spots_that_the_normal_approximation_would():
    rng = np.random.default_rng(7)
    n = 1_500  # about one event per four cells: sparse
    frame = pl.DataFrame({"x": rng.uniform(560_000, 580_000, n), "y": rng.uniform(200_000, 220_000, n)})
    finding = run(frame, x="x", y="y")
    assert finding.metrics["hot_cells"] == 0


# --------------------------------------------------------------------------- disclosure, bad input


def test_cells_with_few_events_are_not_published_as_points(incident_finding):
    safe, log = apply(incident_finding.with_(id="hs"), DisclosureConfig(min_count=10))
    cells = safe.tables["hot_cells"].frame
    small = cells.filter(pl.col("events").is_null())
    assert small["easting"].null_count() == small.height
    assert cells.filter(pl.col("events").is_not_null())["events"].min() >= 10
    assert "map" in safe.figures, "the map is drawn from publishable cells, so it survives the gate"
    drawn = safe.tables["map"].frame.filter(pl.col("easting_km").is_not_null())
    assert drawn["events"].min() >= 10 or drawn.filter(pl.col("events") == 0).height == drawn.filter(pl.col("events") < 10).height
    assert incident_finding.tables["hot_cells"].kinds["events"] == "count"


def test_same_input_gives_identical_tables_and_figures(incidents):
    a = run(incidents.head(4_000), date="date")
    b = run(incidents.head(4_000), date="date")
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)
    for name in a.figures:
        assert a.figures[name].png == b.figures[name].png


def test_bad_input_gives_clear_errors_or_caveats():
    rng = np.random.default_rng(2)
    n = 400
    lat, lon = rng.uniform(51.6, 51.8, n), rng.uniform(0.4, 0.6, n)
    frame = pl.DataFrame({"latitude": lat, "longitude": lon, "date": ["2024-01-05"] * n})
    swapped = frame.with_columns(
        latitude=pl.when(pl.int_range(n) < 300).then(pl.col("longitude")).otherwise(pl.col("latitude")),
        longitude=pl.when(pl.int_range(n) < 300).then(pl.col("latitude")).otherwise(pl.col("longitude")),
    )
    with pytest.raises(StepError, match="outside the study area or look swapped"):
        run(swapped)
    with pytest.raises(StepError, match="400 with latitude and longitude swapped"):
        run(frame.with_columns(latitude=pl.col("longitude"), longitude=pl.col("latitude")))
    few = run(swapped.slice(280))
    assert few.metrics["swapped_coordinates"] == 20 and any("swapped" in c for c in few.caveats)
    with pytest.raises(StepError, match="no coordinate columns"):
        run(pl.DataFrame({"a": [1, 2]}))
    with pytest.raises(StepError, match="did you mean 'latitude'"):
        run(frame, lat="latitud")
    with pytest.raises(StepError, match="smaller than a cell"):
        run(frame, cell_size=500, distance=100)
    with pytest.raises(StepError, match="needs an area column"):
        run(frame.with_columns(n=pl.lit(1)), count="n")
    future = frame.with_columns(pl.when(pl.int_range(n) < 20).then(pl.lit("2999-01-01")).otherwise(pl.col("date")).alias("date"))
    finding = run(future)
    assert any("dated after today" in c for c in finding.caveats)
    assert finding.metrics["events_used"] == n - 20
    one_month = run(frame)
    assert any("single month" in c for c in one_month.caveats)


def test_area_counts_with_population_give_rates():
    rng = np.random.default_rng(4)
    areas = 60
    lon = 0.3 + rng.random(areas) * 0.5
    lat = 51.6 + rng.random(areas) * 0.3
    population = rng.integers(1_200, 2_000, areas)
    rows = []
    for month in range(1, 7):
        counts = rng.poisson(population / 100)
        for i in range(areas):
            rows.append({"lsoa": f"A{i:03d}", "month": f"2024-{month:02d}", "n": int(counts[i]),
                         "pop": int(population[i]) if i else 0, "lat": lat[i], "lon": lon[i]})
    frame = pl.DataFrame(rows)
    finding = run(frame, area="lsoa", count="n", population="pop", date="month")
    table = finding.tables["areas"].frame
    assert "rate_per_1000" in table.columns and table.height == areas - 1
    assert any("no positive pop" in c and "A000" in c for c in finding.caveats)
    row = table.filter(pl.col("area") == "A005").row(0, named=True)
    expected_events = frame.filter(pl.col("lsoa") == "A005")["n"].sum()
    assert row["events"] == expected_events
    assert row["rate_per_1000"] == pytest.approx(1000 * expected_events / population[5])
    assert "hot_spots" not in finding.tables  # counts per area are not placed on a grid


def test_the_step_runs_on_real_police_data(shared_data):
    folder = shared_data / "police-essex-street-2018"
    frame = pl.concat([pl.read_csv(p, infer_schema_length=0) for p in sorted(folder.glob("*.csv"))])
    finding = run(frame, date="month", area="lsoa_code", cell_size=500)
    m = finding.metrics
    assert m["missing_location"] == 19
    assert m["far_from_the_rest"] > 0  # the snap points far outside Essex
    assert m["hot_spots"] > 0 and m["periods"] == 3
    assert any("far from all the others" in c for c in finding.caveats)
