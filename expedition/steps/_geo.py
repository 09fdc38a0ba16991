"""Geography for the `hotspots` step: projection, checks on points, grids, sparse neighbourhoods,
local Getis–Ord Gi* and false-discovery control.

Why Gi* is written here rather than taken from PySAL's esda: the statistic is a few lines of
sparse algebra (``W @ x``), while esda and libpysal now pull in geopandas, shapely and pyogrio with
a bundled GDAL — a large install for one formula. The z-scores are checked in the tests against
the textbook formula (Ord & Getis 1995) and against the values esda documents for its own example.
Neighbourhoods are always scipy sparse matrices: a dense cells-by-cells matrix is never built.

Projection to metres is British National Grid (EPSG:27700) through pyproj, whose bundled PROJ
uses the standard Helmert transformation from WGS84 (accurate to a few metres, far finer than the
grid cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Where British National Grid is defined: [west, south, east, north] in degrees.
GREAT_BRITAIN = (-8.75, 49.75, 2.0, 61.0)

_OFFSET = 1 << 20  # keeps grid indices positive inside the integer cell key
_STRIDE = 1 << 22


@lru_cache(maxsize=2)
def _transformer(source: str, target: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(source, target, always_xy=True)


def to_bng(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS84 longitude/latitude (degrees) to British National Grid easting/northing (metres)."""
    return _transformer("EPSG:4326", "EPSG:27700").transform(lon, lat)


def from_bng(x: Any, y: Any) -> tuple[Any, Any]:
    """British National Grid easting/northing (metres) to WGS84 longitude/latitude (degrees)."""
    return _transformer("EPSG:27700", "EPSG:4326").transform(x, y)


@dataclass
class Located:
    """Points checked and projected. ``keep`` marks the input rows that are used."""

    x: Any
    y: Any
    keep: Any
    missing: int = 0
    swapped: int = 0
    outside: int = 0
    far: int = 0

    @property
    def flagged(self) -> int:
        return self.swapped + self.outside + self.far


def _inside(lon: Any, lat: Any, box: tuple[float, float, float, float]) -> Any:
    west, south, east, north = box
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def locate_lonlat(lon: Any, lat: Any, study_area: tuple[float, float, float, float] | None) -> Located:
    """Check points given in degrees and project the good ones to metres.

    A point is *missing* without both coordinates; *swapped* when it lies outside the study area
    but would lie inside with latitude and longitude exchanged; *outside* when it lies outside
    the study area (Great Britain by default); and *far* when no study area was given and it lies
    more than half the points' own extent beyond the 0.5th–99.5th percentile box of the rest.
    """
    import numpy as np

    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    finite = np.isfinite(lon) & np.isfinite(lat)
    box = tuple(study_area) if study_area else GREAT_BRITAIN
    inside = finite & _inside(lon, lat, box)
    swapped = finite & ~inside & _inside(lat, lon, box)
    outside = finite & ~inside & ~swapped
    far = np.zeros_like(inside)
    if study_area is None and inside.sum() >= 20:
        far = _far_from_the_rest(lon, lat, inside)
        inside &= ~far
    x = np.full(lon.shape, np.nan)
    y = np.full(lon.shape, np.nan)
    if inside.any():
        x[inside], y[inside] = to_bng(lon[inside], lat[inside])
    return Located(
        x=x,
        y=y,
        keep=inside,
        missing=int((~finite).sum()),
        swapped=int(swapped.sum()),
        outside=int(outside.sum()),
        far=int(far.sum()),
    )


def locate_metres(x: Any, y: Any, study_area: tuple[float, float, float, float] | None) -> Located:
    """Check points already in metres (British National Grid eastings and northings)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    finite = np.isfinite(x) & np.isfinite(y)
    # the grid covers eastings 0–700 km and northings 0–1,300 km
    inside = finite & (x >= 0) & (x <= 700_000) & (y >= 0) & (y <= 1_300_000)
    swapped = finite & ~inside & (y >= 0) & (y <= 700_000) & (x >= 0) & (x <= 1_300_000)
    outside = finite & ~inside & ~swapped
    far = np.zeros_like(inside)
    if study_area is not None and inside.any():
        lon, lat = from_bng(x[inside], y[inside])
        ok = _inside(np.asarray(lon), np.asarray(lat), tuple(study_area))
        out_of_area = np.zeros_like(inside)
        out_of_area[np.flatnonzero(inside)[~ok]] = True
        outside |= out_of_area
        inside &= ~out_of_area
    elif inside.sum() >= 20:
        far = _far_from_the_rest(x, y, inside)
        inside &= ~far
    return Located(
        x=np.where(inside, x, np.nan),
        y=np.where(inside, y, np.nan),
        keep=inside,
        missing=int((~finite).sum()),
        swapped=int(swapped.sum()),
        outside=int(outside.sum()),
        far=int(far.sum()),
    )


def _far_from_the_rest(a: Any, b: Any, ok: Any) -> Any:
    import numpy as np

    far = np.zeros_like(ok)
    for values in (a, b):
        good = values[ok]
        low, high = np.percentile(good, [0.5, 99.5])
        margin = max(high - low, 1e-9) * 0.5
        far |= ok & ((values < low - margin) | (values > high + margin))
    return far


# --------------------------------------------------------------------------- grids


@dataclass
class Grid:
    """The occupied cells of a square grid aligned to the origin of the coordinates."""

    cell: float
    keys: Any  # sorted, unique int64 cell keys
    ix: Any
    iy: Any

    @property
    def size(self) -> int:
        return len(self.keys)

    def centres(self) -> tuple[Any, Any]:
        return (self.ix + 0.5) * self.cell, (self.iy + 0.5) * self.cell


def cell_key(ix: Any, iy: Any) -> Any:
    import numpy as np

    return (np.asarray(ix, dtype=np.int64) + _OFFSET) * _STRIDE + (np.asarray(iy, dtype=np.int64) + _OFFSET)


def grid_of(x: Any, y: Any, cell: float) -> tuple[Grid, Any]:
    """The grid of cells holding the points, and each point's cell index."""
    import numpy as np

    ix = np.floor(np.asarray(x) / cell).astype(np.int64)
    iy = np.floor(np.asarray(y) / cell).astype(np.int64)
    keys, inverse = np.unique(cell_key(ix, iy), return_inverse=True)
    gx = keys // _STRIDE - _OFFSET
    gy = keys % _STRIDE - _OFFSET
    return Grid(cell=cell, keys=keys, ix=gx, iy=gy), inverse


def _offsets(reach: float) -> list[tuple[int, int]]:
    """Integer cell offsets whose centres lie within *reach* cells (the cell itself included)."""
    r = int(reach)
    return [
        (dx, dy)
        for dx in range(-r, r + 1)
        for dy in range(-r, r + 1)
        if dx * dx + dy * dy <= reach * reach + 1e-9
    ]


def _offset_pairs(grid: Grid, offsets: list[tuple[int, int]]) -> tuple[Any, Any]:
    import numpy as np

    rows, cols = [], []
    index = np.arange(grid.size)
    for dx, dy in offsets:
        target = grid.keys + dx * _STRIDE + dy
        pos = np.searchsorted(grid.keys, target)
        pos = np.minimum(pos, grid.size - 1)
        hit = grid.keys[pos] == target
        rows.append(index[hit])
        cols.append(pos[hit])
    return np.concatenate(rows), np.concatenate(cols)


def grid_weights(grid: Grid, distance: float) -> Any:
    """Binary distance-band weights between cells (centres within *distance*), self included.

    Built from integer cell offsets and a sorted-key lookup: O(cells × neighbours), sparse.
    """
    import numpy as np
    from scipy import sparse

    rows, cols = _offset_pairs(grid, _offsets(distance / grid.cell))
    data = np.ones(len(rows), dtype=np.float64)
    return sparse.csr_matrix((data, (rows, cols)), shape=(grid.size, grid.size))


def grid_adjacency(grid: Grid) -> Any:
    """Cells touching at an edge or a corner (for joining hot cells into hot spots)."""
    import numpy as np
    from scipy import sparse

    offsets = [(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)]
    rows, cols = _offset_pairs(grid, offsets)
    return sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(grid.size, grid.size)
    )


def knn_weights(x: Any, y: Any, k: int) -> Any:
    """Binary weights to each place's *k* nearest others, self included (for areas)."""
    import numpy as np
    from scipy import sparse
    from scipy.spatial import cKDTree

    n = len(x)
    k = min(k, n - 1)
    points = np.column_stack([x, y])
    _, idx = cKDTree(points).query(points, k=k + 1)
    idx = idx.reshape(n, k + 1)
    rows = np.repeat(np.arange(n), k + 1)
    cols = idx.ravel()
    w = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    w = w + sparse.identity(n, format="csr")  # self always in (ties may have displaced it)
    w.data[:] = 1.0  # binary, however often a pair was listed
    return w.tocsr()


def points_weights(x: Any, y: Any, distance: float) -> Any:
    """Binary distance-band weights between points (within *distance*), self included."""
    import numpy as np
    from scipy import sparse
    from scipy.spatial import cKDTree

    n = len(x)
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(distance, output_type="ndarray")
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


# --------------------------------------------------------------------------- Gi*


def gi_star(w: Any, values: Any) -> Any:
    """Local Getis–Ord Gi* z-scores for each column of *values* (places × maps).

        Gi* = (Σ_j w_ij x_j − x̄ Σ_j w_ij) / (S √[(n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)])

    with x̄ and S the mean and (population) standard deviation of x over all n places and w_ii
    included (Ord & Getis 1995; the ArcGIS and esda ``G_Local(star=True)`` z-score). A map with no
    variation gives z = 0.
    """
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    wi = np.asarray(w.sum(axis=1)).ravel()
    w2i = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    mean = x.mean(axis=0)
    s = np.sqrt(np.maximum((x * x).mean(axis=0) - mean * mean, 0.0))
    lag = np.asarray(w @ x)
    spread = np.sqrt(np.maximum(n * w2i - wi * wi, 0.0) / max(n - 1, 1))
    numerator = lag - wi[:, None] * mean[None, :]
    denominator = spread[:, None] * s[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(denominator > 0, numerator / denominator, 0.0)
    return z


def gi_pvalues(w: Any, values: Any, z: Any) -> tuple[Any, Any]:
    """Two-sided p-values for Gi*, and for each map whether they came from counts.

    For whole-number counts with binary weights, a place's neighbourhood total (|N| places) is
    compared with the distribution of the total of |N| independent counts from a negative
    binomial fitted to the map's counts by maximum likelihood (a sum of such counts is negative
    binomial again; Poisson when the counts vary no more than Poisson counts would). The normal
    approximation behind the z-score overstates significance where counts are sparse (a total
    of a few small counts has a long right tail), and moment estimates of the spread are
    inflated by the very hot spots being looked for; the fitted negative binomial avoids both.
    Rates, weighted neighbourhoods and maps without variation use the normal approximation.
    """
    import numpy as np
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    z = np.asarray(z).reshape(x.shape)
    p = np.minimum(1.0, 2.0 * stats.norm.sf(np.abs(z)))
    binary = w.nnz == 0 or bool(np.all(w.data == 1.0))
    whole = bool(np.all(x >= 0)) and bool(np.all(np.equal(np.mod(x, 1), 0)))
    counts = np.zeros(x.shape[1], dtype=bool)
    if not (binary and whole):
        return p, counts
    sizes = np.asarray(w.sum(axis=1)).ravel()
    totals = np.rint(np.asarray(w @ x))
    for t in range(x.shape[1]):
        column = x[:, t]
        mean = column.mean()
        counts[t] = True
        if mean == 0:
            p[:, t] = 1.0
            continue
        s = totals[:, t]
        k = nb_size(column)
        if k is None:
            dist = stats.poisson(sizes * mean)
        else:
            dist = stats.nbinom(sizes * k, k / (k + mean))
        upper = dist.sf(s - 1)  # P(total >= s)
        lower = dist.cdf(s)  # P(total <= s)
        p[:, t] = np.clip(2.0 * np.minimum(upper, lower), 0.0, 1.0)
    return p, counts


def nb_size(counts: Any, *, poisson_above: float = 1e4) -> float | None:
    """The maximum-likelihood negative binomial size k for *counts* (mean fixed at the sample
    mean, its maximum-likelihood estimate), or None when the counts look Poisson."""
    import numpy as np
    from scipy import optimize, special

    counts = np.asarray(counts, dtype=float)
    mean = counts.mean()
    if counts.var() <= mean:
        return None
    values, freq = np.unique(counts, return_counts=True)

    def negative_log_likelihood(log_k: float) -> float:
        k = np.exp(log_k)
        ll = (
            special.gammaln(values + k)
            - special.gammaln(k)
            + k * np.log(k / (k + mean))
            + values * np.log(mean / (k + mean))
        )
        return -float((freq * ll).sum())

    found = optimize.minimize_scalar(
        negative_log_likelihood, bounds=(-10.0, np.log(poisson_above)), method="bounded",
        options={"xatol": 1e-6},
    )
    k = float(np.exp(found.x))
    return None if k >= poisson_above * 0.99 else k


def adjust(p: Any, method: str) -> Any:
    """p-values adjusted for the number of places: Benjamini–Hochberg, Benjamini–Yekutieli or none."""
    import numpy as np
    from scipy import stats

    p = np.asarray(p, dtype=float)
    if method == "none" or p.size == 0:
        return p.copy()
    return stats.false_discovery_control(p, method=method)


def components(adjacency: Any, members: Any) -> Any:
    """Connected groups among the *members* (a boolean mask); -1 for places outside them."""
    import numpy as np
    from scipy.sparse.csgraph import connected_components

    labels = np.full(adjacency.shape[0], -1, dtype=np.int64)
    index = np.flatnonzero(members)
    if len(index) == 0:
        return labels
    sub = adjacency[index][:, index]
    _, found = connected_components(sub, directed=False)
    labels[index] = found
    return labels
