"""`hotspots`: where events concentrate, whether that is more than chance, and whether it lasts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator

from expedition.errors import StepError
from expedition.steps import (
    RECORDED,
    Cell,
    Chart,
    Count,
    Finding,
    Items,
    Keys,
    Step,
    StepContext,
    StepParams,
    Table,
    Value,
    require_columns,
    say,
    share,
)
from expedition.steps._plot import (
    PALETTE,
    SUPPRESSED_COLOUR,
    Drawing,
    drawing,
    mark_suppressed,
    new_figure,
    small_multiples,
    suppressed_patch,
)
from expedition.vocabulary import EASTING_NAMES, LATITUDE_NAMES, LONGITUDE_NAMES, NORTHING_NAMES

LAT_NAMES = LATITUDE_NAMES
LON_NAMES = LONGITUDE_NAMES
X_NAMES = EASTING_NAMES
Y_NAMES = NORTHING_NAMES
DATE_NAMES = ("date", "month")

PERSISTENT = "persistent hot spot"
INTERMITTENT = "intermittent hot spot"
HOT = "hot spot"
COLD = "cold spot"
NOT_SIGNIFICANT = "not significant"
CLASS_COLOURS = {PERSISTENT: "#b2182b", INTERMITTENT: "#f4a261", HOT: "#e76f51", COLD: "#2166ac"}
CLASS_ORDER = {PERSISTENT: 0, INTERMITTENT: 1, HOT: 2, COLD: 3, NOT_SIGNIFICANT: 4}

#: why a row is left out of the map (the values of `REASON`)
NO_LOCATION = "no location"
SWAPPED = "latitude and longitude swapped"
OUTSIDE = "outside the study area"
FAR = "far from all the others"
FUTURE = "dated after today"
NO_COUNT = "no valid count"
#: the variable the rows left out are counted by
REASON = "why left out of the map (hotspots)"
COORDINATES = ("easting", "northing", "latitude", "longitude")


class HotspotsParams(StepParams):
    lat: str | None = Field(
        None, description="latitude column in degrees (default: a column named latitude or lat)"
    )
    lon: str | None = Field(
        None, description="longitude column in degrees (default: longitude, lon, lng or long)"
    )
    x: str | None = Field(
        None, description="easting column in metres (British National Grid), instead of lat/lon"
    )
    y: str | None = Field(None, description="northing column in metres, with x")
    date: str | None = Field(
        None,
        description="date or month column; gives persistence over periods "
        "(default: a column named date or month)",
    )
    area: str | None = Field(
        None, description="area code column (e.g. LSOA): hot spots by area as well as by grid cell"
    )
    count: str | None = Field(
        None,
        description="a count column: each row is an area (and period) with this many events, "
        "instead of one row per event; needs area",
    )
    population: str | None = Field(
        None, description="a population column per area: hot spots of the rate instead of the count"
    )
    cell_size: float = Field(250, ge=25, le=10_000, description="grid cell size in metres")
    distance: float | None = Field(
        None, gt=0, description="neighbourhood distance in metres (default: three cells)"
    )
    neighbours: int = Field(
        8, ge=2, le=50, description="for areas: how many nearest areas form each neighbourhood"
    )
    period: Literal["week", "month", "quarter"] = Field(
        "month", description="the period for persistence: week, month or quarter"
    )
    periods: int = Field(12, ge=2, le=120, description="persistence is judged over the latest periods")
    min_hot_periods: int | None = Field(
        None,
        ge=1,
        description="hot in at least this many of the latest periods makes a hot spot persistent "
        "(default: three quarters of them)",
    )
    fdr: float = Field(
        0.05, gt=0, lt=0.5, description="false discovery rate allowed among hot and cold places"
    )
    correction: Literal["bh", "by", "none"] = Field(
        "bh",
        description="correction for testing every place: bh (Benjamini–Hochberg), by "
        "(Benjamini–Yekutieli) or none",
    )
    study_area: list[float] | None = Field(
        None,
        description="[west, south, east, north] in degrees; points outside are flagged and left "
        "out (default: Great Britain, and points far from all the others)",
    )

    @field_validator("study_area")
    @classmethod
    def _box(cls, value: list[float] | None) -> list[float] | None:
        if value is None:
            return value
        if len(value) != 4:
            raise ValueError("give four numbers: [west, south, east, north]")
        west, south, east, north = value
        if not (west < east and south < north):
            raise ValueError("west must be less than east and south less than north")
        return value


@dataclass
class MapResult:
    """Gi* over one set of places: the whole period, and each of the latest periods."""

    z: Any
    p: Any
    q: Any
    hot_periods: Any
    classes: Any


class Hotspots(Step):
    """Hot and cold spots: local Getis–Ord Gi* on grid cells (and areas), with false-discovery
    control and persistence over time.

    Points given in degrees are projected to British National Grid (EPSG:27700) with pyproj and
    counted on a square grid aligned to the national grid; only cells holding at least one event
    are analysed, since without a boundary an empty cell cannot be told from the sea. Points with
    no location, outside the study area, far from all the others or with latitude and longitude
    swapped are left out and counted. Each cell's neighbourhood is every cell whose centre lies
    within the neighbourhood distance, itself included, held as a sparse matrix. Gi* is the
    z-score of the neighbourhood's total against the whole map (Ord & Getis 1995). For counts its
    p-value compares the neighbourhood total with the total of as many counts from a negative
    binomial fitted to the map by maximum likelihood (Poisson when the counts vary no more than
    that), because the normal approximation overstates significance for sparse counts and a
    spread estimated from all cells is inflated by the hot spots themselves; the p-values are
    then adjusted for the number of cells (Benjamini–Hochberg by default), and a cell
    is hot or cold when its adjusted p-value is below the false discovery rate. The same test is
    run for each of the latest periods: a cell hot in at least the set number of them is a
    persistent hot spot, one hot in fewer an intermittent one. Touching hot cells are joined into
    hot spots. With an area column, areas are tested the same way with each area's nearest areas
    (by the centre of its events, or of the given coordinates) as its neighbourhood.

    Every count is published through the disclosure gate: the events of each cell, hot spot,
    area and coarse map square, of each hot spot in each period, and the rows left out. A cell or
    area with too few events keeps its class but loses its count and, when its position is the
    centre of its own events, its position too; no table or figure holds the exact position of
    any event. The map shows every square of all events, hatched where its count is suppressed,
    with the hot and cold cells on top.
    """

    name = "hotspots"
    summary = "Hot spots of points or areas: Getis–Ord Gi* with false-discovery control, persistence, maps."
    version = "2"
    Params = HotspotsParams
    outputs = {
        "hot_cells": "every significantly hot or cold grid cell: its events, persistence, Gi*, p and q, centre",
        "hot_spots": "touching hot (H) or cold (C) cells joined: cells, events, persistence, centre",
        "hot_spot_periods": "events per period in each hot spot (with dates)",
        "map": "events per coarse map square (the map's backdrop)",
        "left_out": "rows left out of the map, by reason",
        "areas": "every area with its events (or rate), Gi*, persistence and centre (with area)",
        "figure map": "hot and cold cells over all events by square, suppressed squares hatched",
        "figure hot_spot_periods": "events per period in up to nine hot spots",
        "figure areas": "area centres coloured by class",
    }

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.incidents import STUDY_AREA, generate

        return generate(rows=2_000, seed=5).lazy(), {"date": "date", "area": "lsoa_code", "study_area": list(STUDY_AREA)}

    def run(self, frame: Any, params: HotspotsParams, ctx: StepContext) -> Finding:
        import polars as pl

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        if data.height == 0:
            raise StepError("the dataset has no rows", "check the delivery")
        places = _read(data, params, ctx)
        ctx.report(0.2, "counting events")
        caveats = list(places.caveats)
        tables: dict[str, Table] = {}
        figures: dict[str, Chart] = {}
        headlines: list[Any] = []
        used = float(places.events.sum())
        metrics: dict[str, Any] = {
            "rows": Count(places.rows),
            "events_used": _used_count(used, params),
            "missing_location": _left_out_count(NO_LOCATION, places.left_out.get(NO_LOCATION, 0), params),
            "swapped_coordinates": _left_out_count(SWAPPED, places.left_out.get(SWAPPED, 0), params),
            "outside_study_area": _left_out_count(OUTSIDE, places.left_out.get(OUTSIDE, 0), params),
            "far_from_the_rest": _left_out_count(FAR, places.left_out.get(FAR, 0), params),
        }
        if places.left_out:
            tables["left_out"] = _left_out_table(places, params)
        min_hot = _min_hot(params, places, caveats)

        if places.mode == "points":
            ctx.report(0.3, "grid cells")
            grid_part = _grid_analysis(places, params, ctx, min_hot)
            tables.update(grid_part["tables"])
            figures.update(grid_part["figures"])
            headlines.extend(grid_part["headlines"])
            metrics.update(grid_part["metrics"])
            caveats.extend(grid_part["caveats"])
        if params.area:
            ctx.report(0.7, "areas")
            area_part = _area_analysis(places, params, ctx, min_hot)
            tables.update(area_part["tables"])
            figures.update(area_part["figures"])
            headlines.extend(area_part["headlines"])
            metrics.update(area_part["metrics"])
            caveats.extend(area_part["caveats"])
        caveats.append(
            "Gi* compares each neighbourhood with the whole study area: a hot spot is where events "
            "concentrate, not necessarily where the risk per resident or visitor is highest"
            + (" (rates per resident are used for areas)." if params.population else ".")
        )
        if places.mode == "points":
            caveats.append(
                "If locations were anonymised before delivery (police.uk moves each crime to one "
                "of a fixed set of map points), cells smaller than a few hundred metres inherit "
                "that error; results by area (the area parameter) do not."
            )
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title="Hot spots",
            headlines=headlines,
            method=_method(self, params, places, min_hot),
            tables=tables,
            figures=figures,
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


# --------------------------------------------------------------------------- what the counts count


def _coarse(params: HotspotsParams) -> float:
    """The side of the map's backdrop squares, in metres."""
    return max(5_000.0, 10 * params.cell_size)


def _mapped(params: HotspotsParams) -> str:
    """The variable each row's backdrop square is: missing for the rows left out of the map, so
    "any square" counts the events mapped."""
    return f"{_coarse(params) / 1000:g} km square (hotspots)"


def _signature(params: HotspotsParams, distance: float, t: int) -> str:
    """What hot spot and cell names (H1, H1.2) depend on, so names from other settings differ."""
    return (f"{params.cell_size:g} m cells, {distance:g} m, fdr {params.fdr:g} {params.correction}, "
            f"{t} periods, {params.min_hot_periods or 'default'} hot")


def _measure(params: HotspotsParams) -> dict[str, Any]:
    """What an event count is: records, or the sum of the count column (counts per area)."""
    return {"sum of": params.count} if params.count else {}


def _used_count(used: float, params: HotspotsParams) -> Count:
    return Count(used, {_mapped(params): RECORDED, **_measure(params)})


def _left_out_table(places: Places, params: HotspotsParams) -> Table:
    import polars as pl

    reasons = list(places.left_out)
    frame = pl.DataFrame({"reason": reasons, "rows": [places.left_out[r] for r in reasons]},
                         schema={"reason": pl.String, "rows": pl.Int64})
    return Table(
        frame,
        {"reason": "label", "rows": "count"},
        title="Rows left out of the map",
        description="Rows that could not be placed on the map, by reason (see the caveats).",
        dimensions=["reason"],
        keys=Keys(variables={"reason": REASON}, counts={"rows": {_mapped(params): None}}),
    )


@dataclass
class Places:
    mode: str  # "points" or "areas"
    located: Any
    x: Any  # metres, used rows only
    y: Any
    events: Any  # events per used row (1 for points)
    period_index: Any  # per used row: index into periods, -1 outside the window, or None
    periods: list[date]
    area: Any  # area code per used row, or None
    population: dict[str, float] | None
    caveats: list[Any]
    rows: int = 0
    #: rows left out, by reason (see `LEFT_OUT`)
    left_out: dict[str, int] = field(default_factory=dict)
    date_column: str | None = None
    #: whether the areas' coordinates were given (counts per area) or are the mean of its events
    centroids_given: bool = False


def _pick(columns: list[str], given: str | None, names: tuple[str, ...]) -> str | None:
    if given:
        return given
    lowered = {c.lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _read(data: Any, params: HotspotsParams, ctx: StepContext) -> Places:
    import numpy as np
    import polars as pl

    from expedition.steps import _geo, _time

    columns = data.columns
    step = "hotspots"
    for param in ("lat", "lon", "x", "y", "date", "area", "count", "population"):
        require_columns(columns, [getattr(params, param)], param=param, step=step)
    caveats: list[Any] = []
    use_metres = bool(params.x or params.y)
    if use_metres and not (params.x and params.y):
        raise StepError("give both x and y (eastings and northings in metres)", "or give lat and lon")
    if use_metres:
        xcol, ycol = params.x, params.y
        latcol = loncol = None
    else:
        latcol = _pick(columns, params.lat, LAT_NAMES)
        loncol = _pick(columns, params.lon, LON_NAMES)
        xcol = ycol = None
        if not (latcol and loncol):
            xcol = _pick(columns, None, X_NAMES)
            ycol = _pick(columns, None, Y_NAMES)
    has_coordinates = bool((latcol and loncol) or (xcol and ycol))
    mode = "areas" if params.count else "points"
    if mode == "areas" and not params.area:
        raise StepError(
            "the count parameter needs an area column (each row is an area's count)",
            "set area to the column of area codes, e.g. area: lsoa_code",
        )
    if params.population and not params.area:
        raise StepError("the population parameter needs an area column", "set area, e.g. area: lsoa_code")
    if not has_coordinates:
        what = "each area's location (its centroid)" if mode == "areas" else "the points' locations"
        raise StepError(
            f"no coordinate columns found for {what}",
            "set lat and lon (degrees), or x and y (British National Grid metres); the columns "
            f"are: {', '.join(columns)}",
        )

    def numbers(column: str) -> Any:
        return data[column].cast(pl.Float64, strict=False).to_numpy()

    box = tuple(params.study_area) if params.study_area else None
    if latcol and loncol:
        located = _geo.locate_lonlat(numbers(loncol), numbers(latcol), box)
    else:
        located = _geo.locate_metres(numbers(xcol), numbers(ycol), box)
    n = data.height
    flagged = located.flagged
    if located.keep.sum() == 0:
        raise StepError(
            f"none of the {n:,} rows has a usable location "
            f"({located.missing:,} missing, {located.outside:,} outside the study area, "
            f"{located.swapped:,} with latitude and longitude swapped)",
            "check the coordinate columns (lat/lon in degrees, or x/y in metres) and study_area",
        )
    if flagged > 0.5 * (n - located.missing):
        raise StepError(
            f"{flagged:,} of {n - located.missing:,} located rows lie outside the study area or "
            "look swapped — the map would be wrong",
            "check that lat/lon (or x/y) name the right columns and that study_area covers the data",
        )
    left_out = {
        NO_LOCATION: located.missing,
        SWAPPED: located.swapped,
        OUTSIDE: located.outside,
        FAR: located.far,
    }
    keep = located.keep

    if mode == "areas":
        counts = data[params.count].cast(pl.Float64, strict=False).to_numpy()
        bad = ~np.isfinite(counts) | (counts < 0)
        if bad[keep].any():
            left_out[NO_COUNT] = int(bad[keep].sum())
            keep = keep & ~bad
        events = np.where(keep, counts, 0.0)
    else:
        events = np.ones(n)

    # periods ---------------------------------------------------------------------------
    date_col = params.date or _pick(columns, None, DATE_NAMES)
    period_index = None
    periods: list[date] = []
    if date_col:
        dates = _time.to_dates(data[date_col])
        unreadable = int((dates.is_null() & data[date_col].is_not_null()).sum())
        starts = _time.period_start(dates, params.period)
        today = date.today()
        future = (dates > today).fill_null(False).to_numpy()
        if future[keep].any():
            left_out[FUTURE] = int(future[keep].sum())
            keep = keep & ~future
        known = starts.is_not_null().to_numpy() & keep
        if unreadable:
            caveats.append(say(
                "{k} values of {column} could not be read as dates; those rows count towards the "
                "whole-period map only.",
                k=Count(unreadable, {f"{date_col} (read as a date)": "no"}), column=date_col,
                fallback=say("A few values of {column} could not be read as dates; those rows count "
                             "towards the whole-period map only.", column=date_col),
            ))
        if known.any():
            used = starts.filter(pl.Series(known))
            last = used.max()
            first_wanted = _time.offset(last, -(params.periods - 1), params.period)
            first = max(first_wanted, used.min())
            periods = _time.period_range(first, last, params.period)
            # days since 1970 for each row's period and for each period in the window
            row_days = starts.to_physical().fill_null(-(10**9)).to_numpy().astype(np.int64)
            window = pl.Series(periods, dtype=pl.Date).to_physical().to_numpy().astype(np.int64)
            pos = np.clip(np.searchsorted(window, row_days), 0, len(window) - 1)
            period_index = np.where(known & (window[pos] == row_days), pos, -1).astype(np.int64)
            if len(periods) < 2:
                caveats.append(
                    f"The data cover a single {params.period}, so persistence over time cannot be "
                    "judged."
                )
                periods, period_index = [], None
    else:
        caveats.append(
            "No date column was given (or found), so persistence over time is not assessed."
        )

    rows = np.flatnonzero(keep)
    area = None
    if params.area:
        area = data[params.area].cast(pl.String).to_numpy()[rows]
        missing_area = np.array([a is None for a in area])
        if missing_area.any():
            caveats.append(say(
                "{k} located rows have no {column}; they count in the grid but not in the areas.",
                k=Count(int(missing_area.sum()), {_mapped(params): RECORDED, params.area: None}), column=params.area,
                fallback=say("A few located rows have no {column}; they count in the grid but not in the "
                             "areas.", column=params.area),
            ))
    population = None
    if params.population:
        pop = data[params.population].cast(pl.Float64, strict=False).to_numpy()[rows]
        population = {}
        for code, value in zip(area, pop):
            if code is not None and np.isfinite(value) and code not in population:
                population[code] = float(value)
    return Places(
        mode=mode,
        located=located,
        x=located.x[rows],
        y=located.y[rows],
        events=events[rows],
        period_index=None if period_index is None else period_index[rows],
        periods=periods,
        area=area,
        population=population,
        caveats=[*_left_out_caveats(left_out, n, date_col, params), *caveats],
        rows=n,
        left_out={k: v for k, v in left_out.items() if v},
        date_column=date_col,
        centroids_given=mode == "areas",
    )


def _left_out_caveats(left_out: dict[str, int], n: int, date_col: str | None, params: HotspotsParams) -> list[Any]:
    """One sentence per reason rows were left out, its numbers in slots."""
    whole = Count(n)
    words = {
        NO_LOCATION: ("have no location and are left out.", "Some rows have no location and are left out."),
        SWAPPED: ("look like latitude and longitude were swapped; they are left out — ask the data owner "
                  "to correct them.", "Some rows look like latitude and longitude were swapped; they are "
                  "left out — ask the data owner to correct them."),
        OUTSIDE: ("lie outside the study area and are left out.", "Some rows lie outside the study area and "
                  "are left out."),
        FAR: ("lie far from all the others (for example a default or mistyped location) and are left out; "
              "set study_area to choose the area.", "Some rows lie far from all the others (for example a "
              "default or mistyped location) and are left out; set study_area to choose the area."),
        FUTURE: (f"are dated after today ({date.today():%Y-%m-%d}) and are left out — check {date_col}.",
                 f"Some rows are dated after today ({date.today():%Y-%m-%d}) and are left out — check {date_col}."),
        NO_COUNT: (f"have no valid (non-negative) {params.count} and are left out.",
                   f"Some rows have no valid (non-negative) {params.count} and are left out."),
    }
    out: list[Any] = []
    for reason, (text, fallback) in words.items():
        k = left_out.get(reason, 0)
        if not k:
            continue
        count = _left_out_count(reason, k, params)
        out.append(say("{k} rows ({share}) {text}", k=count, share=_share(count, whole), text=text,
                       fallback=fallback))
    return out


def _left_out_count(reason: str, k: int, params: HotspotsParams) -> Count:
    """Rows left out for *reason*: they have no square on the map (see `_mapped`)."""
    return Count(k, {_mapped(params): None, REASON: reason})


def _share(part: Count, whole: Count) -> Value:
    """The share *part* is of *whole*, withheld with either ("under 0.1%" when it is)."""
    value = part.value / whole.value if whole.value else 0.0
    if value < 0.001:
        return Value("under 0.1%", sources=(part, whole))
    return share(part, whole, value)


def _min_hot(params: HotspotsParams, places: Places, caveats: list[Any]) -> int:
    t = len(places.periods)
    if t == 0:
        return 0
    wanted = params.min_hot_periods or math.ceil(0.75 * t)
    if wanted > t:
        caveats.append(
            f"min_hot_periods is {wanted} but the data cover only {t} {params.period}s; a hot spot "
            f"is called persistent when hot in all {t}."
        )
        wanted = t
    if t < params.periods:
        caveats.append(
            f"Persistence is judged over {t} {params.period}s, fewer than the {params.periods} asked "
            "for, because the data cover no more."
        )
    return wanted


# --------------------------------------------------------------------------- statistics


def _counts(index: Any, places: Places, weights: Any, n: int) -> tuple[Any, Any]:
    """Whole-period totals per place, and per-period counts (places × periods) or None."""
    import numpy as np

    total = np.bincount(index, weights=weights, minlength=n)
    if places.period_index is None:
        return total, None
    t = len(places.periods)
    inside = places.period_index >= 0
    flat = index[inside] * t + places.period_index[inside]
    per = np.bincount(flat, weights=weights[inside], minlength=n * t).reshape(n, t)
    return total, per


def _analyse(w: Any, total: Any, per: Any, params: HotspotsParams, min_hot: int) -> MapResult:
    import numpy as np

    from expedition.steps import _geo

    z = _geo.gi_star(w, total)[:, 0]
    p, _ = _geo.gi_pvalues(w, total, z)
    p = p[:, 0]
    q = _geo.adjust(p, params.correction)
    significant = q < params.fdr
    hot_overall = significant & (z > 0)
    cold_overall = significant & (z < 0)
    if per is not None:
        zt = _geo.gi_star(w, per)
        pt, _ = _geo.gi_pvalues(w, per, zt)
        qt = np.column_stack([_geo.adjust(pt[:, i], params.correction) for i in range(pt.shape[1])])
        hot_periods = ((qt < params.fdr) & (zt > 0)).sum(axis=1)
    else:
        hot_periods = np.zeros(len(z), dtype=np.int64)
    classes = np.full(len(z), NOT_SIGNIFICANT, dtype=object)
    classes[cold_overall & (hot_periods == 0)] = COLD
    classes[hot_overall & (hot_periods == 0)] = HOT
    if per is not None:
        classes[(hot_periods >= 1) & (hot_periods < min_hot)] = INTERMITTENT
        classes[hot_periods >= min_hot] = PERSISTENT
    return MapResult(z=z, p=p, q=q, hot_periods=hot_periods, classes=classes)


def _hot_spots(result: MapResult, adjacency: Any, events: Any) -> tuple[Any, list[str], list[str]]:
    """Join touching hot (and cold) places: a name per place ("" if none), names and classes."""
    import numpy as np

    from expedition.steps import _geo

    names = np.full(len(result.z), "", dtype=object)
    order_names: list[str] = []
    order_classes: list[str] = []
    for prefix, members in (
        ("H", np.isin(result.classes, [PERSISTENT, INTERMITTENT, HOT])),
        ("C", result.classes == COLD),
    ):
        labels = _geo.components(adjacency, members)
        groups = []
        for label in np.unique(labels[labels >= 0]):
            idx = np.flatnonzero(labels == label)
            best = min(result.classes[idx], key=lambda c: CLASS_ORDER[c])
            groups.append((CLASS_ORDER[best], -float(events[idx].sum()), int(idx.min()), idx, best))
        groups.sort(key=lambda g: g[:3])
        for number, (_, _, _, idx, best) in enumerate(groups, start=1):
            names[idx] = f"{prefix}{number}"
            order_names.append(f"{prefix}{number}")
            order_classes.append(best)
    return names, order_names, order_classes


# --------------------------------------------------------------------------- grid


def _grid_analysis(places: Places, params: HotspotsParams, ctx: StepContext, min_hot: int) -> dict:
    import numpy as np
    import polars as pl

    from expedition.steps import _geo

    cell = params.cell_size
    distance = params.distance or 3 * cell
    if distance < cell:
        raise StepError(
            f"the neighbourhood distance ({distance:g} m) is smaller than a cell ({cell:g} m)",
            "set distance to at least cell_size (three cells is a good start)",
        )
    grid, index = _geo.grid_of(places.x, places.y, cell)
    w = _geo.grid_weights(grid, distance)
    total, per = _counts(index, places, places.events, grid.size)
    result = _analyse(w, total, per, params, min_hot)
    names, spot_names, spot_classes = _hot_spots(result, _geo.grid_adjacency(grid), total)
    cx, cy = grid.centres()
    lon, lat = _geo.from_bng(cx, cy)
    lon, lat = np.asarray(lon), np.asarray(lat)
    t = len(places.periods)
    signature = _signature(params, distance, t)
    spot_var, cell_var = f"hot or cold spot ({signature})", f"hot or cold cell ({signature})"

    # every hot or cold cell --------------------------------------------------------------
    chosen = np.flatnonzero(names != "")
    order = sorted(chosen, key=lambda i: (_spot_rank(names[i]), -result.z[i], int(i)))
    within: dict[str, int] = {}
    cell_labels = []
    for i in order:
        within[names[i]] = within.get(names[i], 0) + 1
        cell_labels.append(f"{names[i]}.{within[names[i]]}")
    idx = np.array(order, dtype=np.int64)
    cells_frame = pl.DataFrame(
        {
            "class": [result.classes[i] for i in idx],
            "hot_spot": [names[i] for i in idx],
            "cell": cell_labels,
            "events": total[idx].astype(np.int64),
            "hot_periods": result.hot_periods[idx].astype(np.int64),
            "z": result.z[idx],
            "p": result.p[idx],
            "q": result.q[idx],
            "easting": cx[idx].round(0),
            "northing": cy[idx].round(0),
            "latitude": lat[idx].round(5),
            "longitude": lon[idx].round(5),
        },
        schema_overrides={"class": pl.String, "hot_spot": pl.String, "cell": pl.String},
    )
    hot_cells = Table(
        cells_frame,
        {
            # the class is a property of the cell, not a condition on its events (text, so it does
            # not split the cells of a hot spot into separate tables for the gate)
            "class": "text",
            "hot_spot": "label",
            "cell": "label",
            "events": "count",
            "hot_periods": "statistic",
            "z": "statistic",
            "p": "statistic",
            "q": "statistic",
            **{c: "statistic" for c in COORDINATES},
        },
        title=f"Hot and cold cells ({cell:g} m grid)",
        description=(
            f"Every {cell:g} m cell that is significantly hot or cold: its events over the whole "
            "period, the number of the latest periods in which it was hot, the Gi* z-score, the "
            "p-value and the p-value adjusted for the number of cells (q). Coordinates are the "
            "cell's centre; they are withheld with the count when it is suppressed. A hot spot's "
            "cells add up to its events (table hot_spots)."
        ),
        denominators={c: "events" for c in COORDINATES},
        dimensions=["cell"],
        keys=Keys(variables={"hot_spot": spot_var, "cell": cell_var}, counts={"events": _measure(params)}),
    )

    # hot spots (touching cells) ------------------------------------------------------------
    spot_rows = []
    for name, klass in zip(spot_names, spot_classes):
        members = np.flatnonzero(names == name)
        ev = total[members]
        weights = ev if ev.sum() > 0 else np.ones(len(members))
        ex = float(np.average(cx[members], weights=weights))
        ny = float(np.average(cy[members], weights=weights))
        slon, slat = _geo.from_bng(ex, ny)
        spot_rows.append(
            {
                "class": klass,
                "hot_spot": name,
                "cells": len(members),
                "events": int(ev.sum()),
                "hot_periods": int(result.hot_periods[members].max()),
                "peak_z": float(result.z[members].max() if name.startswith("H") else result.z[members].min()),
                "easting": round(ex, -1),
                "northing": round(ny, -1),
                "latitude": round(float(slat), 4),
                "longitude": round(float(slon), 4),
            }
        )
    spots_frame = pl.DataFrame(
        spot_rows,
        schema={
            "class": pl.String,
            "hot_spot": pl.String,
            "cells": pl.Int64,
            "events": pl.Int64,
            "hot_periods": pl.Int64,
            "peak_z": pl.Float64,
            **{c: pl.Float64 for c in COORDINATES},
        },
    )
    hot_spots = Table(
        spots_frame,
        {
            "class": "text",
            "hot_spot": "label",
            "cells": "statistic",
            "events": "count",
            "hot_periods": "statistic",
            "peak_z": "statistic",
            **{c: "statistic" for c in COORDINATES},
        },
        title="Hot spots (touching hot cells joined)",
        description=(
            "Groups of touching hot cells (H) and cold cells (C): the number of cells, their events, "
            f"the most of the latest {t} periods in which any of them was hot, the largest |Gi*| and "
            "the centre of their events (withheld with the count)."
            if t
            else "Groups of touching hot cells (H) and cold cells (C): the number of cells, their "
            "events, the largest |Gi*| and the centre of their events (withheld with the count)."
        ),
        denominators={c: "events" for c in COORDINATES},
        dimensions=[],  # the hot spots are not the parts of any published total
        keys=Keys(variables={"hot_spot": spot_var}, counts={"events": {cell_var: RECORDED, **_measure(params)}}),
    )

    # the map's backdrop: all events by coarse square -------------------------------------------
    coarse = _coarse(params)
    square_grid, square_index = _geo.grid_of(places.x, places.y, coarse)
    square_events = np.bincount(square_index, weights=places.events, minlength=square_grid.size)
    sx, sy = square_grid.centres()
    map_frame = pl.DataFrame(
        {
            "square": [f"S{i + 1}" for i in range(square_grid.size)],
            "events": np.rint(square_events).astype(np.int64),
            "size_km": [coarse / 1000] * square_grid.size,
            "easting_km": sx / 1000,
            "northing_km": sy / 1000,
        },
        schema_overrides={"square": pl.String},
    )
    map_table = Table(
        map_frame,
        {"square": "label", "events": "count", "size_km": "statistic", "easting_km": "statistic",
         "northing_km": "statistic"},
        title="Events by map square",
        description=(
            f"What the hot spot map draws behind the cells: events in each {coarse / 1000:g} km square "
            "holding any, at its centre in British National Grid kilometres. The squares add up to "
            "the events mapped."
        ),
        dimensions=["square"],
        keys=Keys(variables={"square": _mapped(params)}, counts={"events": _measure(params)}),
    )
    tables = {"hot_spots": hot_spots, "hot_cells": hot_cells, "map": map_table}
    figures = {
        "map": Chart(
            "Hot and cold spots",
            "hotspots.map",
            "map",
            alt=(
                "Map in British National Grid kilometres: grey squares show how many events each "
                f"{coarse / 1000:g} km square holds (hatched where the count is suppressed), coloured "
                "squares the cells that are significantly hot or cold"
                + (f"; persistent means hot in at least {min_hot} of the last {t} {params.period}s" if t else "")
                + ". Cells with too few events to publish are not placed."
            ),
            options={"cell_km": cell / 1000, "distance": distance, "periods": t, "min_hot": min_hot,
                     "period": params.period},
            also=("hot_cells", "hot_spots"),
        )
    }

    if per is not None and spot_names:
        tables["hot_spot_periods"] = _timeline(names, spot_names, spot_classes, per, places, params, spot_var)
        figures["hot_spot_periods"] = Chart(
            f"Events per {params.period} in each hot spot",
            "hotspots.timeline",
            "hot_spot_periods",
            alt=f"Bar charts of events per {params.period} in up to nine hot spots; persistent hot spots "
            "stay busy every period, intermittent ones spike. Counts too small to publish are hatched.",
            options={"period": params.period},
        )

    # headlines ----------------------------------------------------------------------------
    n_hot_cells = int(np.isin(result.classes, [PERSISTENT, INTERMITTENT, HOT]).sum())
    n_cold_cells = int((result.classes == COLD).sum())
    counts_by_class = {c: spot_classes.count(c) for c in (PERSISTENT, INTERMITTENT, HOT, COLD)}
    events = float(total.sum())
    grid_text = {"cells": _count(grid.size, "cell"), "cell": f"{cell:g}", "distance": f"{distance:g}"}
    headlines: list[Any] = [say(
        "{events} " + ("event falls" if events == 1 else "events fall") + " in {cells} of a {cell} m grid; "
        "each cell is compared with its neighbours within {distance} m.",
        events=_used_count(events, params), **grid_text,
        fallback=say("The events fall in {cells} of a {cell} m grid; each cell is compared with its "
                     "neighbours within {distance} m.", **grid_text),
    )]
    if t:
        headlines.append(
            f"{_n(counts_by_class[PERSISTENT], 'persistent hot spot')}, hot in at least {min_hot} of "
            f"the last {t} {params.period}s; {_n(counts_by_class[INTERMITTENT], 'intermittent hot spot').replace('No ', 'no ')} "
            f"(hot in fewer){_also_hot(counts_by_class[HOT])}."
        )
    else:
        headlines.append(
            f"{_n(counts_by_class[HOT], 'hot spot')} and {_n(counts_by_class[COLD], 'cold spot').replace('No ', 'no ')} "
            f"at a false discovery rate of {params.fdr:g}."
        )
    hot_rows = [r for r in spot_rows if r["hot_spot"].startswith("H")]
    if hot_rows:
        headlines.append(_leading_spot(hot_rows[0], t, params.period))
    metrics = {
        "cells": float(grid.size),
        "hot_cells": float(n_hot_cells),
        "cold_cells": float(n_cold_cells),
        "persistent_hot_spots": float(counts_by_class[PERSISTENT]),
        "intermittent_hot_spots": float(counts_by_class[INTERMITTENT]),
        "hot_spots": float(sum(counts_by_class[c] for c in (PERSISTENT, INTERMITTENT, HOT))),
        "cold_spots": float(counts_by_class[COLD]),
        "periods": float(t),
        "min_hot_periods": float(min_hot),
    }
    return {"tables": tables, "figures": figures, "headlines": headlines, "metrics": metrics, "caveats": []}


def _leading_spot(row: dict[str, Any], t: int, period: str) -> Any:
    """The leading hot spot, its place and events in slots (withheld with its count)."""
    at = {"hot_spot": row["hot_spot"]}
    size = f"{row['cells']} cell{'s' if row['cells'] != 1 else ''}"
    when = f", hot in {row['hot_periods']} of {t} {period}s" if t else ""
    words = {"name": row["hot_spot"], "klass": row["class"], "size": size, "when": when}
    return say(
        "The leading hot spot, {name} ({klass}), is centred near {lat}, {lon} (easting {e}, northing "
        "{n}): {size}, {events} events{when}.",
        lat=Cell("hot_spots", "latitude", at, ".4f"), lon=Cell("hot_spots", "longitude", at, ".4f"),
        e=Cell("hot_spots", "easting", at, ",.0f"), n=Cell("hot_spots", "northing", at, ",.0f"),
        events=Cell("hot_spots", "events", at), **words,
        fallback=say(
            "The leading hot spot, {name} ({klass}): {size}{when}; its events and location are withheld, "
            "as it holds too few events to publish.", **words,
        ),
    )


def _spot_rank(name: str) -> tuple[int, int]:
    return (0 if name.startswith("H") else 1, int(name[1:]))


def _count(k: int, noun: str) -> str:
    return f"{k:,} {noun}{'' if k == 1 else 's'}"


def _n(k: int, noun: str) -> str:
    return f"No {noun}s" if k == 0 else f"{k} {noun}{'' if k == 1 else 's'}"


def _also_hot(k: int) -> str:
    return f"; {k} more hot over the whole period only" if k else ""


def _timeline(
    names: Any, spot_names: list[str], spot_classes: list[str], per: Any, places: Places,
    params: HotspotsParams, spot_var: str,
) -> Table:
    import numpy as np
    import polars as pl

    from expedition.steps import _time

    rows = []
    for name, klass in zip(spot_names, spot_classes):
        if not name.startswith("H"):
            continue
        members = np.flatnonzero(names == name)
        sums = per[members].sum(axis=0)
        for period, value in zip(places.periods, sums):
            rows.append({"hot_spot": name, "class": klass, "period": period, "events": int(round(value))})
    frame = pl.DataFrame(
        rows, schema={"hot_spot": pl.String, "class": pl.String, "period": pl.Date, "events": pl.Int64}
    )
    first, last = places.periods[0], places.periods[-1]
    period_var = (f"{places.date_column} ({params.period}, {_time.label(first, params.period)} to "
                  f"{_time.label(last, params.period)})")
    return Table(
        frame.select("class", "hot_spot", "period", "events"),
        {"class": "text", "hot_spot": "label", "period": "date", "events": "count"},
        title="Events per period in each hot spot",
        description="Events in each hot spot's cells in each of the latest periods.",
        dimensions=["period"],
        keys=Keys(variables={"hot_spot": spot_var, "period": period_var}, counts={"events": _measure(params)}),
    )


# --------------------------------------------------------------------------- areas


def _area_analysis(places: Places, params: HotspotsParams, ctx: StepContext, min_hot: int) -> dict:
    import numpy as np
    import polars as pl

    from expedition.steps import _geo

    known = np.array([a is not None for a in places.area], dtype=bool)
    codes, index = np.unique(places.area[known].astype(str), return_inverse=True)
    n = len(codes)
    if n < 3:
        raise StepError(
            f"only {n} area(s) in {params.area}; hot spots by area need at least three",
            "use the grid (leave out area) or give a finer area column",
        )
    sub = Places(
        mode=places.mode,
        located=places.located,
        x=places.x[known],
        y=places.y[known],
        events=places.events[known],
        period_index=None if places.period_index is None else places.period_index[known],
        periods=places.periods,
        area=None,
        population=None,
        caveats=[],
    )
    rows_per = np.bincount(index, minlength=n).astype(float)
    ax = np.bincount(index, weights=sub.x, minlength=n) / rows_per
    ay = np.bincount(index, weights=sub.y, minlength=n) / rows_per
    total, per = _counts(index, sub, sub.events, n)
    caveats: list[Any] = []
    values_total, values_per = total, per
    rate_per = None
    if places.population is not None:
        pop = np.array([places.population.get(c, np.nan) for c in codes])
        bad = ~np.isfinite(pop) | (pop <= 0)
        if bad.any():
            named = ", ".join(codes[bad][:5]) + (" …" if bad.sum() > 5 else "")
            caveats.append(
                f"{int(bad.sum())} area(s) have no positive {params.population} and are left out of "
                f"the area rates: {named}."
            )
        keep = ~bad
        if keep.sum() < 3:
            raise StepError(
                f"fewer than three areas have a positive {params.population}",
                "check the population column",
            )
        codes, ax, ay, total, pop = codes[keep], ax[keep], ay[keep], total[keep], pop[keep]
        per = per[keep] if per is not None else None
        n = len(codes)
        rate_per = 1000.0
        values_total = total / pop
        values_per = None if per is None else per / pop[:, None]
    # the areas the table holds: all of them, or those with a population (the rest are missing)
    area_var = params.area if rate_per is None or not bad.any() else f"{params.area} (with a positive {params.population})"
    w = _geo.knn_weights(ax, ay, params.neighbours)
    result = _analyse(w, values_total, values_per, params, min_hot)
    alon, alat = _geo.from_bng(ax, ay)
    order = sorted(range(n), key=lambda i: (CLASS_ORDER[result.classes[i]], -result.z[i], codes[i]))
    idx = np.array(order, dtype=np.int64)
    data = {
        "class": [result.classes[i] for i in idx],
        "area": codes[idx].tolist(),
        "events": np.rint(total[idx]).astype(np.int64),
    }
    kinds = {"class": "text", "area": "label", "events": "count"}
    denominators: dict[str, Any] = {}
    counts: dict[str, dict[str, Any]] = {"events": {_mapped(params): RECORDED, **_measure(params)}}
    if rate_per is not None:
        data["population"] = np.rint(pop[idx]).astype(np.int64)
        data["rate_per_1000"] = values_total[idx] * rate_per
        kinds.update({"population": "count", "rate_per_1000": "statistic"})
        denominators["rate_per_1000"] = ["events", "population"]
        counts["population"] = {"value of": params.population}
    data.update(
        {
            "hot_periods": result.hot_periods[idx].astype(np.int64),
            "z": result.z[idx],
            "p": result.p[idx],
            "q": result.q[idx],
            "easting_km": (ax[idx] / 1000).round(1),
            "northing_km": (ay[idx] / 1000).round(1),
            "latitude": np.asarray(alat)[idx].round(3),
            "longitude": np.asarray(alon)[idx].round(3),
        }
    )
    positions = ("easting_km", "northing_km", "latitude", "longitude")
    kinds.update({c: "statistic" for c in ("hot_periods", "z", "p", "q", *positions)})
    if not places.centroids_given:
        # the centre of an area's own events is withheld with their count
        for c in positions:
            denominators[c] = "events"
    frame = pl.DataFrame(data, schema_overrides={"class": pl.String, "area": pl.String})
    what = "rate per 1,000" if rate_per else "events"
    centre = "the given coordinates" if places.centroids_given else "its events, withheld with their count"
    areas = Table(
        frame,
        kinds,
        title=f"Hot and cold areas ({params.area})",
        description=(
            f"Every area with its {what}, the Gi* z-score over it and its {params.neighbours} "
            f"nearest areas, p-values (q adjusted for the number of areas), the number of the "
            f"latest periods in which it was hot, and its centre (the mean of {centre})."
        ),
        denominators=denominators,
        dimensions=["area"],
        keys=Keys(variables={"area": area_var}, counts=counts),
    )
    t = len(places.periods)
    classes = {c: int((result.classes == c).sum()) for c in (PERSISTENT, INTERMITTENT, HOT, COLD)}
    leading = [codes[i] for i in idx if result.classes[i] in (PERSISTENT, HOT)][:5]
    _, group_names, group_classes = _hot_spots(result, w, values_total)
    groups = group_classes.count(PERSISTENT) if t else group_classes.count(HOT)
    in_groups = f" in {groups} group{'s' if groups != 1 else ''} of neighbouring areas" if groups else ""
    rates = ", rates per resident" if rate_per else ""
    if t:
        text = (
            "By area ({column}, {n} areas" + rates + "): "
            + f"{_n(classes[PERSISTENT], 'persistent hot area').replace('No', 'no')}{in_groups} (hot in at least "
            f"{min_hot} of {t} {params.period}s) and {classes[INTERMITTENT]} intermittent"
        )
    else:
        text = "By area ({column}, {n} areas" + rates + "): " + f"{classes[HOT]} hot{in_groups} and {classes[COLD]} cold"
    slots: dict[str, Any] = {"column": params.area, "n": f"{n:,}"}
    if leading:
        named = Items(
            tuple(Value(str(code), sources=(Cell("areas", "events", {"area": str(code)}),)) for code in leading),
            "{n} more with too few events to name",
        )
        headline = say(text + "; the leading ones: {leading}.", leading=named, fallback=say(text + ".", **slots), **slots)
    else:
        headline = say(text + ".", **slots)
    metrics = {
        "areas": float(n),
        "persistent_hot_areas": float(classes[PERSISTENT]),
        "intermittent_hot_areas": float(classes[INTERMITTENT]),
        "hot_areas": float(classes[HOT] + classes[PERSISTENT] + classes[INTERMITTENT]),
        "cold_areas": float(classes[COLD]),
        "hot_area_groups": float(groups),
    }
    figure = Chart(
        f"Hot and cold areas ({params.area})",
        "hotspots.areas",
        "areas",
        alt="Map of area centres in British National Grid kilometres coloured by hot or cold class; "
        "areas whose count is suppressed are marked, and those whose centre is withheld with it are "
        "counted, not drawn.",
        options={"area": params.area},
    )
    return {
        "tables": {"areas": areas},
        "figures": {"areas": figure},
        "headlines": [headline],
        "metrics": metrics,
        "caveats": caveats,
    }


# --------------------------------------------------------------------------- figures


@drawing("hotspots.map")
def draw_map(d: Drawing) -> Any:
    """All events by coarse square (grey, hatched where suppressed), the hot and cold cells that
    can be placed on top, and the leading hot spots ringed and named."""
    import numpy as np
    import polars as pl
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch, Rectangle

    o = d.options
    squares = d.frame
    cells = d.tables["hot_cells"].frame
    spots = d.tables["hot_spots"].frame
    fig, ax = new_figure(7.0, _map_height(squares["easting_km"].to_list(), squares["northing_km"].to_list()))
    hidden = d.hidden("events")
    values = d.values("events")
    shown = [i for i, v in enumerate(values) if not math.isnan(v)]
    withheld = [i for i, flag in enumerate(hidden) if flag]
    xs, ys, sizes = squares["easting_km"].to_list(), squares["northing_km"].to_list(), squares["size_km"].to_list()

    def rects(rows: list[int]) -> list[Any]:
        return [Rectangle((xs[i] - sizes[i] / 2, ys[i] - sizes[i] / 2), sizes[i], sizes[i]) for i in rows]

    handles = []
    if shown:
        numbers = np.array([values[i] for i in shown])
        collection = PatchCollection(rects(shown), cmap="Greys", alpha=0.45, linewidth=0,
                                     norm=LogNorm(vmin=max(numbers.min(), 1), vmax=max(numbers.max(), 2)))
        collection.set_array(numbers)
        ax.add_collection(collection)
        bar = fig.colorbar(collection, ax=ax, shrink=0.6, pad=0.01)
        bar.set_label(f"events per {sizes[0]:g} km square")
    if withheld:
        ax.add_collection(PatchCollection(rects(withheld), facecolor=SUPPRESSED_COLOUR, hatch="///",
                                          edgecolor="#8c8c8c", linewidth=0.3, alpha=0.8))
        handles.append(suppressed_patch(d.rules.symbol, "square's count suppressed"))
    placed = cells.filter(pl.col("easting").is_not_null() & pl.col("northing").is_not_null())
    size = o["cell_km"]
    for klass in (COLD, INTERMITTENT, HOT, PERSISTENT):
        part = placed.filter(pl.col("class") == klass)
        if not part.height:
            continue
        patches = [Rectangle((x / 1000 - size / 2, y / 1000 - size / 2), size, size)
                   for x, y in zip(part["easting"], part["northing"])]
        ax.add_collection(PatchCollection(patches, facecolor=CLASS_COLOURS[klass], edgecolor=CLASS_COLOURS[klass],
                                          linewidth=0.6))
        handles.append(Patch(color=CLASS_COLOURS[klass], label=klass))
    unplaced = cells.height - placed.height
    if unplaced:
        ax.text(0.01, 0.99, f"{unplaced} hot or cold cell(s) with counts too small to publish are not "
                f"placed ({d.rules.symbol})", transform=ax.transAxes, va="top", fontsize=7, color="#555555")
    ringed = spots.filter(pl.col("hot_spot").str.starts_with("H") & pl.col("easting").is_not_null())
    for name, x, y in ringed.select("hot_spot", "easting", "northing").iter_rows():
        if int(name[1:]) <= 12:  # ring and name the leading hot spots, which are tiny at this scale
            ax.scatter([x / 1000], [y / 1000], s=140, facecolors="none", edgecolors="#333333", linewidths=0.8)
            ax.annotate(name, (x / 1000, y / 1000), xytext=(0, 7), textcoords="offset points", ha="center",
                        fontsize=7, color="#333333")
    if squares.height:
        ax.set_xlim(min(xs) - sizes[0], max(xs) + sizes[0])
        ax.set_ylim(min(ys) - sizes[0], max(ys) + sizes[0])
    ax.set_aspect("equal")
    ax.set_xlabel("easting (km, British National Grid)")
    ax.set_ylabel("northing (km)")
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=True)
    ax.set_title(f"Hot and cold spots ({o['cell_km'] * 1000:g} m cells, {o['distance']:g} m neighbourhoods)")
    return fig


def _map_height(xs: list[float], ys: list[float]) -> float:
    """A figure height that fits the map's shape at 7 inches wide (maps are drawn to scale)."""
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    ys = [y for y in ys if y is not None and not math.isnan(y)]
    if len(xs) < 2:
        return 6.0
    width = float(max(xs) - min(xs)) or 1.0
    height = float(max(ys) - min(ys)) or 1.0
    return min(max(6.0 * height / width + 1.0, 3.5), 9.0)


@drawing("hotspots.timeline")
def draw_timeline(d: Drawing) -> Any:
    """Events per period in up to nine hot spots; a suppressed count is a hatched stub with the
    symbol, never a bar of zero."""
    import polars as pl

    frame = d.frame.with_row_index("__row")
    hidden = d.hidden("events")
    spots = frame["hot_spot"].unique(maintain_order=True).to_list()[:9]
    fig, axes = small_multiples(len(spots), panel=(3.0, 2.0))
    for ax, name in zip(axes, spots):
        part = frame.filter(pl.col("hot_spot") == name)
        values = d.values("events", frame=part)
        klass = part["class"][0]
        colour = CLASS_COLOURS.get(klass, PALETTE[0])
        shown = [i for i, v in enumerate(values) if not math.isnan(v)]
        ax.bar(shown, [values[i] for i in shown], color=colour)
        ax.set_xlim(-0.6, len(values) - 0.4)
        if not shown:
            ax.set_ylim(0, 1)
            ax.set_yticks([])
        rows = part["__row"].to_list()
        mark_suppressed(ax, [i for i, r in enumerate(rows) if hidden[r]], symbol=d.rules.symbol)
        ticks = list(range(0, len(values), max(1, len(values) // 4)))
        ax.set_xticks(ticks, [f"{part['period'][i]:%Y-%m}" for i in ticks], fontsize=7, rotation=30, ha="right")
        ax.set_title(f"{name} ({klass})", fontsize=8)
        ax.set_ylabel("events")
    return fig


@drawing("hotspots.areas")
def draw_areas(d: Drawing) -> Any:
    """Area centres coloured by class; areas whose count is suppressed are marked with the
    symbol's hatch, and those whose centre is withheld with it are counted."""
    import polars as pl
    from matplotlib.patches import Patch

    frame = d.frame.with_row_index("__row")
    hidden = d.hidden("events")
    placed = frame.filter(pl.col("easting_km").is_not_null() & pl.col("northing_km").is_not_null())
    fig, ax = new_figure(7.0, _map_height(placed["easting_km"].to_list(), placed["northing_km"].to_list()))
    plain = placed.filter(pl.col("class") == NOT_SIGNIFICANT)
    ax.scatter(plain["easting_km"], plain["northing_km"], s=6, color="#bdbdbd", linewidths=0)
    handles = [Patch(color="#bdbdbd", label=NOT_SIGNIFICANT)]
    for klass in (COLD, INTERMITTENT, HOT, PERSISTENT):
        part = placed.filter(pl.col("class") == klass)
        if part.height:
            ax.scatter(part["easting_km"], part["northing_km"], s=22, color=CLASS_COLOURS[klass], linewidths=0)
            handles.append(Patch(color=CLASS_COLOURS[klass], label=klass))
    marked = placed.filter(pl.col("__row").is_in([i for i, flag in enumerate(hidden) if flag]))
    if marked.height:
        ax.scatter(marked["easting_km"], marked["northing_km"], s=30, facecolors="none", edgecolors="#555555",
                   hatch="///", linewidths=0.6)
        handles.append(suppressed_patch(d.rules.symbol, "count suppressed"))
    unplaced = frame.height - placed.height
    if unplaced:
        ax.text(0.01, 0.99, f"{unplaced} area(s) not drawn: their centre is withheld with their count "
                f"({d.rules.symbol})", transform=ax.transAxes, va="top", fontsize=7, color="#555555")
    ax.set_aspect("equal")
    ax.set_xlabel("easting (km, British National Grid)")
    ax.set_ylabel("northing (km)")
    ax.legend(handles=handles, loc="lower right", fontsize=7)
    ax.set_title(f"Hot and cold areas ({d.options['area']})")
    return fig


def _method(step: Hotspots, params: HotspotsParams, places: Places, min_hot: int) -> str:
    distance = params.distance or 3 * params.cell_size
    settings = (
        f" Settings: {params.cell_size:g} m cells, {distance:g} m neighbourhoods, false discovery "
        f"rate {params.fdr:g} ({params.correction})"
    )
    if places.periods:
        settings += (
            f", persistence over the last {len(places.periods)} {params.period}s "
            f"(persistent when hot in at least {min_hot})"
        )
    if params.area:
        settings += f", areas from {params.area} with {params.neighbours} nearest neighbours"
    return step.method_text() + settings + "."
