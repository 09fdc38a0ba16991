"""Synthetic police incident points in Essex, with planted hot spots.

Every row is generated from a seeded random number generator: no real incident, person or
address lies behind any of them. The county outline is a rough hand-drawn polygon; the area codes
look like LSOA codes but start with ``X01`` so they can never be mistaken for real ones (areas are
the Voronoi cells of random seed points).

What is planted, so the `hotspots` step can be checked against the truth:

* **Background** (the rest of the rows), where people are: 80% spread around twenty towns (a
  normal spread of 2.5 km), 20% uniform over the county. The 1,000 areas are drawn the same way,
  so that, like real LSOAs of similar population, each expects a similar number of events.
* **Persistent hot spots** (`PERSISTENT`): three town centres, each with 5% of the rows spread
  evenly over every month, within about 150 m of its centre.
* **One-off hot spots** (`ONE_OFF`): two events, each with 1.5% of the rows packed into three days
  of a single month.
* **Flaws, like real deliveries**: 0.1% of rows have no location, 0.15% have latitude and
  longitude swapped, and 0.05% sit far outside Essex (a default location in Scotland).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from expedition.examples import write_frame

if TYPE_CHECKING:
    import polars as pl

#: A rough outline of Essex (with Southend and Thurrock), longitude and latitude, clockwise.
OUTLINE = [
    (0.02, 52.06), (0.20, 52.09), (0.40, 52.07), (0.55, 52.05), (0.73, 52.03), (0.90, 51.97),
    (1.10, 51.95), (1.28, 51.95), (1.27, 51.87), (1.16, 51.78), (1.03, 51.78), (0.96, 51.77),
    (0.90, 51.72), (0.95, 51.66), (0.88, 51.61), (0.82, 51.53), (0.68, 51.535), (0.57, 51.51),
    (0.45, 51.50), (0.36, 51.45), (0.22, 51.48), (0.26, 51.56), (0.22, 51.62), (0.10, 51.62),
    (0.03, 51.63), (-0.01, 51.68), (0.00, 51.75), (0.10, 51.80), (0.16, 51.84), (0.17, 51.92),
    (0.09, 51.96),
]
#: [west, south, east, north] around the outline, for the study_area parameter.
STUDY_AREA = [-0.05, 51.40, 1.35, 52.15]

TOWNS = {
    # name: (longitude, latitude, weight)
    "Chelmsford": (0.4713, 51.7356, 1.6),
    "Colchester": (0.9027, 51.8892, 1.6),
    "Southend-on-Sea": (0.7077, 51.5459, 1.8),
    "Basildon": (0.4586, 51.5761, 1.4),
    "Harlow": (0.1116, 51.7727, 1.1),
    "Braintree": (0.5527, 51.8784, 0.7),
    "Clacton-on-Sea": (1.1555, 51.7898, 0.8),
    "Brentwood": (0.3054, 51.6210, 0.6),
    "Grays": (0.3253, 51.4755, 0.9),
    "Witham": (0.6372, 51.8007, 0.4),
    "Saffron Walden": (0.2426, 52.0225, 0.3),
    "Maldon": (0.6781, 51.7318, 0.3),
    "Rayleigh": (0.6037, 51.5862, 0.5),
    "Canvey Island": (0.5806, 51.5195, 0.5),
    "Loughton": (0.0551, 51.6494, 0.5),
    "Epping": (0.1093, 51.6982, 0.2),
    "Harwich": (1.2847, 51.9416, 0.3),
    "Billericay": (0.4189, 51.6281, 0.4),
    "Wickford": (0.5228, 51.6110, 0.4),
    "Great Dunmow": (0.3607, 51.8727, 0.2),
}

#: Planted persistent hot spots: (longitude, latitude, spread in metres, share of rows).
PERSISTENT = {
    "Chelmsford city centre": (0.4700, 51.7330, 110.0, 0.05),
    "Southend seafront": (0.7150, 51.5355, 130.0, 0.05),
    "Colchester town centre": (0.8985, 51.8895, 110.0, 0.05),
}
#: Planted one-off hot spots: (longitude, latitude, spread in metres, share of rows, month number).
ONE_OFF = {
    "Harlow summer festival": (0.0960, 51.7640, 140.0, 0.015, 7),
    "Clacton air show": (1.1600, 51.7850, 140.0, 0.015, 8),
}

CRIME_TYPES = {
    # name: (share in the background, share in hot spots)
    "Anti-social behaviour": (0.30, 0.42),
    "Violence and sexual offences": (0.28, 0.25),
    "Criminal damage and arson": (0.10, 0.06),
    "Shoplifting": (0.07, 0.12),
    "Public order": (0.07, 0.08),
    "Vehicle crime": (0.07, 0.02),
    "Burglary": (0.05, 0.01),
    "Other theft": (0.04, 0.03),
    "Drugs": (0.02, 0.01),
}

START = date(2024, 1, 1)
AREAS = 1000
TOWN_SHARE = 0.8
FAR_AWAY = (-4.04, 54.95)  # a default location far outside Essex, as real deliveries have


def _outline_path():
    import numpy as np
    from matplotlib.path import Path as MplPath

    from expedition.steps._geo import to_bng

    lon, lat = zip(*OUTLINE)
    x, y = to_bng(np.array(lon), np.array(lat))
    return MplPath(np.column_stack([x, y]))


def _uniform_in_county(rng, n: int, path) -> tuple:
    import numpy as np

    xmin, ymin = path.vertices.min(axis=0)
    xmax, ymax = path.vertices.max(axis=0)
    xs, ys = [], []
    got = 0
    while got < n:
        x = rng.uniform(xmin, xmax, 2 * (n - got) + 16)
        y = rng.uniform(ymin, ymax, 2 * (n - got) + 16)
        inside = path.contains_points(np.column_stack([x, y]))
        xs.append(x[inside])
        ys.append(y[inside])
        got += int(inside.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _around(rng, n: int, lon: float, lat: float, spread: float, path, keep_inside: bool = True) -> tuple:
    import numpy as np

    from expedition.steps._geo import to_bng

    cx, cy = to_bng(lon, lat)
    xs, ys = [], []
    got = 0
    while got < n:
        x = cx + rng.normal(0, spread, 2 * (n - got) + 16)
        y = cy + rng.normal(0, spread, 2 * (n - got) + 16)
        ok = path.contains_points(np.column_stack([x, y])) if keep_inside else np.ones(len(x), bool)
        xs.append(x[ok])
        ys.append(y[ok])
        got += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _background(rng, n: int, path) -> tuple:
    """Where people are: TOWN_SHARE around the towns, the rest uniform over the county."""
    import numpy as np

    towns = list(TOWNS.values())
    weights = np.array([t[2] for t in towns])
    n_town = int(round(n * TOWN_SHARE))
    which = rng.choice(len(towns), size=n_town, p=weights / weights.sum())
    xs, ys = [], []
    for i, (lon, lat, _) in enumerate(towns):
        k = int((which == i).sum())
        if k:
            x, y = _around(rng, k, lon, lat, 2_500.0, path)
            xs.append(x)
            ys.append(y)
    ux, uy = _uniform_in_county(rng, n - n_town, path)
    return np.concatenate(xs + [ux]), np.concatenate(ys + [uy])


def generate(rows: int = 20_000, seed: int = 2026, months: int = 12, start: date = START) -> pl.DataFrame:
    """A synthetic incidents table of *rows* points over *months* months, identical for one seed."""
    import numpy as np
    import polars as pl
    from scipy.spatial import cKDTree

    from expedition.steps._geo import from_bng

    if months < max([m for *_, m in ONE_OFF.values()]):
        raise ValueError(f"months must be at least {max(m for *_, m in ONE_OFF.values())}")
    rng = np.random.default_rng(seed)
    path = _outline_path()
    days = (_add_months(start, months) - start).days

    parts = []  # (x, y, day offsets, is hot spot)
    planted = 0
    for lon, lat, spread, share in PERSISTENT.values():
        k = int(round(rows * share))
        x, y = _around(rng, k, lon, lat, spread, path, keep_inside=False)
        parts.append((x, y, rng.integers(0, days, k), np.ones(k, bool)))
        planted += k
    for lon, lat, spread, share, month in ONE_OFF.values():
        k = int(round(rows * share))
        x, y = _around(rng, k, lon, lat, spread, path, keep_inside=False)
        first = (_add_months(start, month - 1) - start).days + 10
        parts.append((x, y, first + rng.integers(0, 3, k), np.ones(k, bool)))
        planted += k
    rest = rows - planted
    bx, by = _background(rng, rest, path)
    day_weight = 1.0 + 0.15 * np.sin(2 * np.pi * (np.arange(days) - 90) / 365.25)
    day_p = day_weight / day_weight.sum()
    parts.append((bx, by, rng.choice(days, rest, p=day_p), np.zeros(rest, bool)))

    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    day = np.concatenate([p[2] for p in parts])
    hot = np.concatenate([p[3] for p in parts])
    n = len(x)

    # LSOA-like areas: Voronoi cells of seed points drawn like the background, so that (as
    # with real LSOAs of similar population) each area expects a similar number of events
    seeds = np.column_stack(_background(rng, AREAS, path))
    order = np.lexsort((seeds[:, 0], -seeds[:, 1]))  # number areas north to south
    seeds = seeds[order]
    _, area = cKDTree(seeds).query(np.column_stack([x, y]))
    codes = np.array([f"X01{i + 1:06d}" for i in range(AREAS)])[area]

    names = list(CRIME_TYPES)
    background_p = np.array([v[0] for v in CRIME_TYPES.values()])
    hot_p = np.array([v[1] for v in CRIME_TYPES.values()])
    crime = np.where(
        hot,
        np.array(names)[rng.choice(len(names), n, p=hot_p / hot_p.sum())],
        np.array(names)[rng.choice(len(names), n, p=background_p / background_p.sum())],
    )

    lon, lat = from_bng(x, y)
    lon = np.round(np.asarray(lon), 5)
    lat = np.round(np.asarray(lat), 5)
    shuffle = rng.permutation(n)
    lon, lat, day, crime, codes = lon[shuffle], lat[shuffle], day[shuffle], crime[shuffle], codes[shuffle]
    lat_out = lat.astype(object)
    lon_out = lon.astype(object)
    flaws = rng.permutation(n)
    n_missing, n_swapped, n_far = int(n * 0.001), int(n * 0.0015), int(n * 0.0005)
    for i in flaws[:n_missing]:
        lat_out[i] = lon_out[i] = None
    for i in flaws[n_missing : n_missing + n_swapped]:
        lat_out[i], lon_out[i] = lon[i], lat[i]
    for i in flaws[n_missing + n_swapped : n_missing + n_swapped + n_far]:
        lon_out[i], lat_out[i] = FAR_AWAY
    dates = [start + timedelta(days=int(d)) for d in day]
    frame = pl.DataFrame(
        {
            "incident_id": [f"I{i:07d}" for i in rng.permutation(n) + 1_000_000],
            "date": dates,
            "month": [f"{d:%Y-%m}" for d in dates],
            "crime_type": crime,
            "latitude": pl.Series(lat_out.tolist(), dtype=pl.Float64),
            "longitude": pl.Series(lon_out.tolist(), dtype=pl.Float64),
            "lsoa_code": codes,
        }
    )
    return frame.sort("date", "incident_id")


def _add_months(start: date, months: int) -> date:
    total = start.year * 12 + start.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def write(path: str | Path, rows: int = 20_000, seed: int = 2026, months: int = 12) -> Path:
    """Write the synthetic incidents to CSV (or Parquet, by extension)."""
    frame = generate(rows, seed, months)
    return write_frame(frame, path)
