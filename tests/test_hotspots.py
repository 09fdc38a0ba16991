"""`hotspots`: Gi* against the textbook and esda, false-discovery control, planted hot spots."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse, stats

from expedition.config import DisclosureConfig
from expedition.errors import StepError
from expedition.steps import StepContext
from expedition.steps import _geo
from expedition.steps.hotspots import PERSISTENT, Hotspots
from expedition.testing import attack, publish

CTX = StepContext(seed=1, disclosure=DisclosureConfig(min_count=10))


def run(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as published: tables, sentences and figures through the gate."""
    return publish(raw(data, ctx, **params), ctx.disclosure)


def raw(data: pl.DataFrame, ctx: StepContext = CTX, **params):
    """The finding as the step returns it, before the gate."""
    return Hotspots().run(data.lazy(), Hotspots.parse_params(params), ctx)


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
def incident_raw(incidents):
    from expedition.examples.incidents import STUDY_AREA

    return raw(incidents, date="date", area="lsoa_code", study_area=STUDY_AREA)


@pytest.fixture(scope="module")
def incident_finding(incident_raw):
    return publish(incident_raw, CTX.disclosure)


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


def test_planted_flaws_are_flagged(incidents, incident_raw, incident_finding):
    counted = {k: v.value for k, v in incident_raw.metrics.items() if k in
               ("missing_location", "swapped_coordinates", "outside_study_area")}
    assert counted == {
        "missing_location": int(incidents.height * 0.001),
        "swapped_coordinates": int(incidents.height * 0.0015),
        "outside_study_area": int(incidents.height * 0.0005),
    }
    text = " ".join(incident_finding.caveats)
    assert "swapped" in text and "outside the study area" in text and "no location" in text
    # 7 rows outside the study area are too few to publish; the 14 with no location are hidden
    # too, or the 14,000 rows less the events mapped would give the 7 away
    m = incident_finding.metrics
    assert m["outside_study_area"] is None and m["missing_location"] is None
    assert m["swapped_coordinates"] == 21
    left_out = incident_finding.tables["left_out"].frame
    assert left_out["rows"].to_list() == [None, 21, None]
    assert "7 rows" not in text and "14 rows" not in text


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


def test_cells_with_few_events_are_not_published_as_points(incident_raw, incident_finding):
    cells = incident_finding.tables["hot_cells"].frame
    small = cells.filter(pl.col("events").is_null())
    assert small.height and small["easting"].null_count() == small.height
    assert small["latitude"].null_count() == small.height
    assert cells.filter(pl.col("events").is_not_null())["events"].min() >= 10
    assert set(incident_finding.figures) == {"map", "hot_spot_periods", "areas"}
    # the backdrop's coarse squares keep their place when their count is suppressed: drawn hatched
    squares = incident_finding.tables["map"].frame
    assert squares["events"].null_count() > 0 and squares["easting_km"].null_count() == 0
    assert squares["events"].drop_nulls().min() >= 10
    assert incident_raw.tables["hot_cells"].kinds["events"] == "count"


def test_every_published_position_rests_on_a_published_count_or_is_coarse(incident_finding):
    """No table holds the exact position of an event: a cell's or area's centre is published
    only with a count of at least the threshold, and the map's squares are 5 km across."""
    for name in ("hot_cells", "hot_spots", "areas"):
        frame = incident_finding.tables[name].frame
        placed = frame.filter(pl.col("latitude").is_not_null())
        assert placed["events"].null_count() == 0 and placed["events"].min() >= 10, name
    assert set(incident_finding.tables["map"].frame["size_km"].to_list()) == {5.0}


def test_the_map_hatches_suppressed_squares_and_the_timeline_marks_suppressed_periods(incident_raw):
    from expedition.disclosure import apply_detailed
    from expedition.steps._plot import Drawing
    from expedition.steps.hotspots import draw_map, draw_timeline

    gated = apply_detailed(incident_raw, CTX.disclosure)
    tables, suppressed = gated.finding.tables, gated.suppressed
    fig = draw_map(Drawing(incident_raw.figures["map"], tables, suppressed, CTX.disclosure))
    ax = fig.axes[0]
    hatched = [c for c in ax.collections if c.get_hatch()]
    hidden = sum(suppressed["map"]["events"])
    assert hatched and len(hatched[0].get_paths()) == hidden
    assert any("suppressed" in t.get_text() for t in ax.get_legend().get_texts())
    timeline = draw_timeline(Drawing(incident_raw.figures["hot_spot_periods"], tables, suppressed, CTX.disclosure))
    marks = [t for a in timeline.axes for t in a.texts if t.get_text() == CTX.disclosure.symbol]
    assert len(marks) == sum(suppressed["hot_spot_periods"]["events"])


def test_same_input_gives_identical_tables_and_figures(incidents):
    a = run(incidents.head(4_000), date="date")
    b = run(incidents.head(4_000), date="date")
    for name in a.tables:
        assert a.tables[name].frame.equals(b.tables[name].frame)
    assert a.figures and set(a.figures) == set(b.figures)
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
    before = raw(frame, date="month", area="lsoa_code", cell_size=500)
    assert before.metrics["missing_location"].value == 19
    assert before.metrics["far_from_the_rest"].value > 0  # the snap points far outside Essex
    finding = publish(before, CTX.disclosure)
    m = finding.metrics
    assert m["hot_spots"] > 0 and m["periods"] == 3
    assert any("far from all the others" in c for c in finding.caveats)
    assert attack([before.with_(id="hs", population="p")], CTX.disclosure) == []


# --------------------------------------------------------------------------- the attacker


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(1, 9),  # a lone group of events in an area of its own
    st.integers(1, 9),  # rows with no location
    st.integers(0, 9),  # events of the hot spot in its quietest month
    st.booleans(),  # areas as well as cells
    st.integers(0, 10_000),
)
def test_planted_small_groups_cannot_be_read_from_anything_published(lone, unlocated, quiet, areas, seed):
    """A hot spot, a background, a lone group of 1-9 events in an area of its own, 1-9 rows
    without a location and a quiet month: no published table, sentence or metric holds a small
    count or lets the auditor pin one, the lone events' position is published nowhere, and the
    hot spot keeps its count."""
    rng = np.random.default_rng(seed)
    months = [date(2024, m, 1) for m in range(1, 7)]
    background = 1_500
    x = list(rng.uniform(560_000, 575_000, background))
    y = list(rng.uniform(200_000, 215_000, background))
    when = list(rng.choice(months, background))
    # the hot spot: 50 events a month, except `quiet` in March
    for month in months:
        k = quiet if month == date(2024, 3, 1) else 50
        x += list(rng.normal(567_000, 120, k))
        y += list(rng.normal(207_000, 120, k))
        when += [month] * k
    area = [f"A{int(a // 2_500)}{int(b // 2_500)}" for a, b in zip(x, y)]
    lone_x, lone_y = 574_321.0, 201_234.0
    x += [lone_x + 3 * i for i in range(lone)]
    y += [lone_y] * lone
    when += [date(2024, 5, 1)] * lone
    area += ["LONE"] * lone
    x += [None] * unlocated
    y += [None] * unlocated
    when += [date(2024, 2, 1)] * unlocated
    area += ["A00"] * unlocated
    frame = pl.DataFrame({"x": x, "y": y, "date": when, "area": area},
                         schema={"x": pl.Float64, "y": pl.Float64, "date": pl.Date, "area": pl.String})
    params = {"x": "x", "y": "y", "date": "date"} | ({"area": "area"} if areas else {})
    before = raw(frame, **params)
    assert attack([before.with_(id="hs", population="p")], CTX.disclosure) == []
    finding = publish(before, CTX.disclosure)
    text = " ".join([*finding.headlines, *finding.caveats])
    assert f"{unlocated} rows" not in text
    assert finding.metrics["missing_location"] is None
    for name, table in finding.tables.items():
        frame = table.frame
        for a, b in (("easting", "northing"), ("easting_km", "northing_km")):
            if a in frame.columns:
                scale = 1000 if a.endswith("km") else 1
                placed = frame.filter(pl.col(a).is_not_null())
                near = placed.filter(((pl.col(a) * scale - lone_x).abs() < 60) & ((pl.col(b) * scale - lone_y).abs() < 60))
                assert near.height == 0, name
    if areas:
        row = finding.tables["areas"].frame.filter(pl.col("area") == "LONE").row(0, named=True)
        assert row["events"] is None and row["easting_km"] is None and row["latitude"] is None
    spots = finding.tables["hot_spots"].frame.filter(pl.col("class") != "cold spot")
    assert spots.height >= 1 and spots["events"][0] is not None and spots["events"][0] >= 250


def test_a_hot_spot_total_cannot_give_away_a_small_cell_within_it():
    """A hot spot's events are the sum of its cells: with one cell small, another of the same
    hot spot is hidden too, so the hot spot's published total leaves the small one uncertain."""
    rng = np.random.default_rng(21)
    x = list(rng.uniform(560_000, 575_000, 1_500)) + list(rng.normal(567_000, 150, 400))
    y = list(rng.uniform(200_000, 215_000, 1_500)) + list(rng.normal(207_000, 150, 400))
    before = raw(pl.DataFrame({"x": x, "y": y}), x="x", y="y")
    cells = before.tables["hot_cells"].frame
    assert cells.filter(pl.col("events") < 10).height and cells.filter(pl.col("events") >= 10).height
    finding = publish(before, CTX.disclosure)
    published = finding.tables["hot_cells"].frame
    totals = dict(finding.tables["hot_spots"].frame.select("hot_spot", "events").iter_rows())
    checked = 0
    for spot in published["hot_spot"].unique().to_list():
        part = published.filter(pl.col("hot_spot") == spot)
        if part["events"].null_count() == 1:  # the total would give the one hidden cell away
            assert totals[spot] is None, spot
        checked += part["events"].null_count() >= 2 and totals[spot] is not None
    assert checked, "some hot spot publishes its total with two or more of its cells hidden"
    assert attack([before.with_(id="hs", population="p")], CTX.disclosure) == []
