"""`forecast`: how much demand to expect, how sure that is, and what changes would do to it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from expedition.errors import StepError
from expedition.steps import (
    Cell,
    Chart,
    Count,
    Derived,
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
)
from expedition.steps._forecast_models import BENCHMARKS, DEFAULT_MODELS, LABELS, MODELS, SEASONAL_ONLY, SHORT
from expedition.steps._plot import (
    PALETTE,
    Drawing,
    drawing,
    mark_suppressed_spans,
    small_multiples,
    suppressed_patch,
)

DATE_NAMES = ("date", "month", "period", "week")
DEFAULT_HORIZON = {"week": 13, "month": 12, "quarter": 4}
LEVELS = (0.8, 0.95)
MIN_PERIODS = 6
OTHER = "Other units"
#: columns of the scenarios table a scenario may not be named after
RESERVED = {"unit", "period", "baseline", "smallest_count", "smallest_period"}
#: the forecast's statistics, each suppressed with the counts of its unit
FORECAST_COLUMNS = ("backtest", "forecast", "lower80", "upper80", "lower95", "upper95")
SCORE_COLUMNS = ("mase", "smape", "mae", "coverage80", "coverage95")


class Scenario(BaseModel):
    """A named change to the forecast from a period on: a relative change, an addition, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, description="what the scenario is, e.g. 'Threshold change'")
    change: float | None = Field(
        None, ge=-1, le=10, description="relative change, e.g. -0.10 for 10% fewer"
    )
    add: float | None = Field(None, description="events added (or, if negative, removed) per period")
    start: str | date = Field(
        validation_alias=AliasChoices("from", "start"),
        description='first period it applies to, e.g. "2025-04"',
    )
    end: str | date | None = Field(
        None, validation_alias=AliasChoices("until", "end"), description="last period (default: none)"
    )
    unit: str | None = Field(None, description="the one unit it applies to (default: every unit)")

    @model_validator(mode="after")
    def _something(self) -> Scenario:
        if self.change is None and self.add is None:
            raise ValueError("a scenario needs change (e.g. -0.1) or add (e.g. 40)")
        return self

    def describe(self) -> str:
        parts = []
        if self.change is not None:
            parts.append(f"{self.change:+.0%}")
        if self.add is not None:
            parts.append(f"{self.add:+,g} a period")
        when = f"from {self.start}" + (f" to {self.end}" if self.end else "")
        where = f" in {self.unit}" if self.unit else ""
        return f"{' and '.join(parts)} {when}{where}"


class ForecastParams(StepParams):
    date: str | None = Field(
        None,
        description="the event date, or the period of each count (default: a column named date, "
        "month, period or week)",
    )
    count: str | None = Field(
        None, description="a column of counts per row (default: each row is one event)"
    )
    unit: str | None = Field(None, description="a column of units (teams, districts) to forecast separately")
    units: list[str] | None = Field(None, description="forecast only these units")
    max_units: int = Field(
        12, ge=1, le=500, description="the largest units forecast one by one; the rest are summed"
    )
    frequency: Literal["week", "month", "quarter"] = Field(
        "month", description="count events per week, month or quarter"
    )
    horizon: int | None = Field(
        None, ge=1, le=104, description="periods to forecast (default: 12 months, 13 weeks or 4 quarters)"
    )
    models: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MODELS),
        description="candidate models: seasonal_naive, naive, mean (benchmarks), ets, regression, sarima",
    )
    folds: int = Field(3, ge=1, le=12, description="rolling-origin backtests (each one horizon long)")
    min_gain: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="a fitted model is chosen only if its backtest MASE beats the best benchmark's by this share",
    )
    scenarios: list[Scenario] = Field(
        default_factory=list,
        description='named changes, e.g. {name: "Threshold change", change: -0.1, from: "2025-04"}',
    )
    drop_incomplete: bool = Field(
        True, description="leave out a last period that the event dates do not cover completely"
    )
    trim_small_start: bool = Field(
        True,
        description="start a unit's history after its last count below the disclosure threshold "
        "when two years and a horizon remain (a forecast rests on every count it uses, so one "
        "resting on a count too small to publish is withheld); false: always use the whole history",
    )

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
        if not value:
            raise ValueError("give at least one model")
        return list(dict.fromkeys(value))

    @field_validator("scenarios")
    @classmethod
    def _names(cls, value: list[Scenario]) -> list[Scenario]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError("scenario names must differ")
        if "baseline" in {n.lower() for n in names}:
            raise ValueError("'baseline' is the forecast itself; name the scenario differently")
        taken = sorted(n for n in names if n in RESERVED)
        if taken:
            raise ValueError(f"{', '.join(taken)} name columns of the scenarios table; name the scenario differently")
        return value


@dataclass
class UnitResult:
    unit: str
    periods: list[date]
    y: Any
    seasonal: bool
    backtest: dict[str, dict[str, float]]
    backtest_paths: dict[str, Any]  # model -> forecasts over the backtest window (NaN elsewhere)
    folds: int
    fold_length: int
    chosen: str
    benchmark: str | None
    forecast: Any  # Prediction
    future: list[date]
    notes: list[str] = field(default_factory=list)


class Forecast(Step):
    """Demand forecasts chosen by rolling-origin backtests, with prediction intervals and scenarios.

    Events are counted per week, month or quarter (from an event date, or a period and a count
    column), per unit if a unit column is given; periods with no rows count as zero, from each
    unit's first period to the last. A last period the dates do not cover completely is left out.
    Candidate models are three simple benchmarks — seasonal naive (the same period last year),
    naive (the last value) and the historical mean — and fitted models: exponential smoothing
    (statsmodels ETS, additive errors, damped additive trend, additive seasonality), a regression
    on a linear trend and period-of-year effects, and optionally seasonal ARIMA. Seasonal terms
    are used only with at least two years of data. Each model is backtested from several origins
    (rolling origin): fitted on the data up to the origin and scored on the following periods by
    MASE (mean absolute error scaled by the in-sample seasonal naive error) and sMAPE. The fitted
    model with the lowest MASE is chosen only if it beats the best benchmark by the set margin;
    otherwise that benchmark is the forecast, so a series with nothing to learn gets a simple
    forecast. The chosen model is refitted on all the data and gives 80% and 95% prediction
    intervals (from statsmodels for fitted models, from the residuals for benchmarks), which are
    checked against the backtests. Named scenarios change the forecast from a period on by a
    share, an amount per period, or both, and are tabled beside it.

    A forecast, its intervals and its backtests rest on every count of the unit's history (a
    seasonal naive forecast repeats last year's counts), so they are published only with those
    counts: when any of them is too small to publish, so is the unit's forecast. A unit's history
    therefore starts after its last count below the disclosure threshold when two years and a
    horizon remain after it (a service that was starting up); the periods before are left out
    and named in a caveat. Each unit's series stands alone, so a small unit never costs a large
    one its counts.
    """

    name = "forecast"
    summary = "Demand forecasts chosen by rolling-origin backtests, with intervals and scenarios."
    version = "2"
    Params = ForecastParams
    outputs = {
        "series": "per unit and period: the count, the chosen model's backtest forecast, and the "
        "forecast with 80% and 95% prediction intervals",
        "backtest": "backtest scores of every model tried, per unit (MASE, sMAPE, MAE, interval coverage)",
        "scenarios": "the forecast and each named scenario per unit and period (with scenarios)",
        "scenario_totals": "totals over the horizon per unit, with and without each scenario",
        "figure forecast": "history, backtests and forecasts per unit, suppressed stretches hatched",
        "figure scenarios": "the forecast and each scenario per unit",
    }

    @classmethod
    def recode_columns(cls, params: Any, columns: list[str]) -> list[str]:
        """Units with fewer events than the threshold are combined before counting (not when
        each row is a count: its rows are not records)."""
        return [params.unit] if params.unit and not params.count else []

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.demand import generate

        frame = generate(months=36, seed=7)
        first_two = sorted(frame["unit"].unique().to_list())[:2]
        return frame.lazy(), {
            "date": "month", "count": "demand", "unit": "unit", "units": first_two,
            "horizon": 6, "folds": 1, "models": ["seasonal_naive", "naive", "regression"],
        }

    def run(self, frame: Any, params: ForecastParams, ctx: StepContext) -> Finding:
        import polars as pl

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        if data.height == 0:
            raise StepError("the dataset has no rows", "check the delivery")
        m = _season_length(params.frequency)
        horizon = params.horizon or DEFAULT_HORIZON[params.frequency]
        prepared = _prepare(data, params, ctx, keep=2 * m + horizon)
        scenarios = _check_scenarios(params, prepared.units)
        results = []
        for i, unit in enumerate(prepared.units):
            ctx.report(0.05 + 0.85 * i / max(len(prepared.units), 1), f"backtesting {unit}")
            periods, y = prepared.series[unit]
            results.append(_forecast_unit(unit, periods, y, m, horizon, params))
        ctx.report(0.92, "tables and figures")
        return _finding(self, params, ctx, prepared, results, scenarios, horizon)


# --------------------------------------------------------------------------- data


@dataclass
class Prepared:
    units: list[str]
    series: dict[str, tuple[list[date], Any]]
    caveats: list[str | Any]
    date_column: str
    first: date
    last: date
    #: the variable the series' periods are keyed by (see `_period_variable`)
    period_variable: str = ""


def _season_length(frequency: str) -> int:
    from expedition.steps._time import PERIODS

    return PERIODS[frequency][1]


def _prepare(data: Any, params: ForecastParams, ctx: StepContext, *, keep: int) -> Prepared:
    """Count per unit and period; *keep* is the history a trimmed series must still have."""
    import numpy as np
    import polars as pl

    from expedition.steps import _time

    columns = data.columns
    for param in ("date", "count", "unit"):
        require_columns(columns, [getattr(params, param)], param=param, step="forecast")
    date_col = params.date
    if date_col is None:
        lowered = {c.lower(): c for c in columns}
        date_col = next((lowered[n] for n in DATE_NAMES if n in lowered), None)
    if date_col is None:
        raise StepError(
            "no date column found",
            f"set date to the column with each event's date (or each count's period); the columns are: {', '.join(columns)}",
        )
    caveats: list[Any] = []
    dates = _time.to_dates(data[date_col])
    unreadable = int((dates.is_null() & data[date_col].is_not_null()).sum())
    missing = int(data[date_col].is_null().sum())
    if dates.is_null().all():
        raise StepError(
            f"no value of {date_col} could be read as a date",
            'dates must look like 2024-03-31, 31/03/2024 or (for months) 2024-03',
        )
    if unreadable or missing:
        caveats.append(say(
            "{k} rows have no readable {column} and are left out.",
            k=Count(unreadable + missing, {f"{date_col} (read as a date)": "no"}), column=date_col,
            fallback=say("A few rows have no readable {column} and are left out.", column=date_col),
        ))
    today = date.today()
    future = (dates > today).fill_null(False)
    dropped_after = bool(future.any())
    if future.any():
        k = int(future.sum())
        caveats.append(say(
            "{k} rows are dated after today ({today}); they are left out — check {column}.",
            k=Count(k, {f"{date_col} (dated after today)": "yes"}), today=f"{today:%Y-%m-%d}", column=date_col,
            fallback=say("A few rows are dated after today ({today}); they are left out — check {column}.",
                         today=f"{today:%Y-%m-%d}", column=date_col),
        ))
    if params.count:
        values = data[params.count].cast(pl.Float64, strict=False)
        if (values < 0).fill_null(False).any():
            raise StepError(
                f"{params.count} has negative counts",
                "counts must be zero or more; fix the delivery or choose another column",
            )
        bad = values.is_null() & data[params.count].is_not_null()
        if bad.any():
            caveats.append(say(
                "{k} values of {column} are not numbers and are left out.",
                k=Count(int(bad.sum()), {f"{params.count} (a number)": "no"}), column=params.count,
                fallback=say("A few values of {column} are not numbers and are left out.", column=params.count),
            ))
    else:
        values = pl.Series(np.ones(data.height))
    units = (
        data[params.unit].cast(pl.String) if params.unit else pl.Series([None] * data.height, dtype=pl.String)
    )
    if params.unit and units.is_null().any():
        caveats.append(say(
            "{k} rows have no {column} and are left out.",
            k=Count(int(units.is_null().sum()), {params.unit: None}), column=params.unit,
            fallback=say("A few rows have no {column} and are left out.", column=params.unit),
        ))
    work = pl.DataFrame(
        {
            "unit": units if params.unit else pl.Series(["All"] * data.height),
            "date": dates,
            "value": values,
        }
    ).filter(pl.col("date").is_not_null() & ~future & pl.col("value").is_not_null() & pl.col("unit").is_not_null())
    if work.height == 0:
        raise StepError("no rows are left to count", "check the date, count and unit columns")
    work = work.with_columns(_time.period_start(pl.col("date"), params.frequency).alias("period"))
    last = work["period"].max()
    day_level = bool((work["date"] != work["period"]).any())
    if params.drop_incomplete and not params.count and day_level:
        last_date = work["date"].max()
        if last_date < _time.period_end(last, params.frequency):
            caveats.append(
                f"The data end on {last_date:%Y-%m-%d}, part-way through {_time.label(last, params.frequency)}; "
                "that period is left out so it does not look like a fall in demand."
            )
            work = work.filter(pl.col("period") < last)
            dropped_after = True
            if work.height == 0:
                raise StepError("the data cover less than one whole period", "use a shorter frequency")
            last = work["period"].max()
    totals = work.group_by("unit", "period").agg(pl.col("value").sum()).sort("unit", "period")
    names = totals.group_by("unit").agg(pl.col("value").sum().alias("total"))
    if params.units:
        known = set(names["unit"].to_list())
        unknown = [u for u in params.units if u not in known]
        if unknown:
            raise StepError(
                f"unit(s) {', '.join(repr(u) for u in unknown)} do not occur in {params.unit}",
                f"the units are: {', '.join(sorted(known)[:30])}",
            )
        totals = totals.filter(pl.col("unit").is_in(params.units))
        names = names.filter(pl.col("unit").is_in(params.units))
    names = names.sort(["total", "unit"], descending=[True, False])
    order = names["unit"].to_list()
    if len(order) > params.max_units:
        kept = order[: params.max_units - 1] if params.max_units > 1 else []
        rest = order[len(kept):]
        caveats.append(
            f"{len(rest)} smaller units are forecast together as '{OTHER}' (max_units is "
            f"{params.max_units}); list the ones you need in units to see them separately."
        )
        other = (
            totals.filter(pl.col("unit").is_in(rest))
            .group_by("period")
            .agg(pl.col("value").sum())
            .with_columns(pl.lit(OTHER).alias("unit"))
            .select("unit", "period", "value")
        )
        totals = pl.concat([totals.filter(pl.col("unit").is_in(kept)), other])
        order = kept + [OTHER]
    first = totals["period"].min()
    series = {}
    filled = 0
    short = []
    trimmed = []
    for unit in order:
        part = totals.filter(pl.col("unit") == unit)
        start = part["period"].min()
        periods = _time.period_range(start, last, params.frequency)
        lookup = dict(zip(part["period"].to_list(), part["value"].to_list()))
        y = np.array([float(lookup.get(p, 0.0)) for p in periods])
        filled += len(periods) - len(lookup)
        if len(periods) < MIN_PERIODS:
            short.append(unit)
            continue
        cut = _small_start(y, ctx, keep) if params.trim_small_start else 0
        if cut:
            trimmed.append((unit, cut, periods[cut - 1]))
            periods, y = periods[cut:], y[cut:]
        series[unit] = (periods, y)
    if params.count and filled:
        caveats.append(
            f"{filled:,} {params.frequency}s with no row were counted as zero (some sources, such as "
            "FixMyStreet, leave out periods with no reports)."
        )
    if short:
        caveats.append(
            f"Not forecast, with fewer than {MIN_PERIODS} {params.frequency}s of data: {', '.join(short)}."
        )
    freq = params.frequency
    for unit, cut, end in trimmed:
        who = "The series" if unit == "All" else unit
        caveats.append(
            f"{who}: the first {cut} {freq}s (to {_time.label(end, freq)}) are left out of the history "
            f"and the forecast: some of their counts are below the disclosure threshold "
            f"({ctx.min_count}), and a forecast resting on a count too small to publish would be "
            "withheld (set trim_small_start: false to use them)."
        )
    if not series:
        raise StepError(
            f"no series has {MIN_PERIODS} or more {params.frequency}s of data",
            "a forecast needs a longer history (or a shorter frequency)",
        )
    return Prepared(
        units=list(series), series=series, caveats=caveats, date_column=date_col, first=first, last=last,
        period_variable=_period_variable(date_col, freq, last, trimmed=bool(trimmed), cut_after=dropped_after),
    )


def _small_start(y: Any, ctx: StepContext, keep: int) -> int:
    """How many leading periods to leave out: up to and including the last count the disclosure
    rules would suppress, when at least *keep* periods remain after it (else none)."""
    import numpy as np

    rules = ctx.disclosure
    small = (y > 0) & (y < rules.min_count)
    if rules.zeros_disclosive:
        small |= y == 0
    hits = np.flatnonzero(small)
    if not len(hits):
        return 0
    cut = int(hits[-1]) + 1
    return cut if len(y) - cut >= keep else 0


def _period_variable(date_col: str, freq: str, last: date, *, trimmed: bool, cut_after: bool) -> str:
    """The variable the series' counts are keyed by: the period of *date_col*, named so that
    "any period" means exactly the periods the table holds (each unit's total along the
    periods is then a true count): narrowed to each unit's modelled history when some were
    trimmed, and to the last period when later rows were left out (future or incomplete)."""
    from expedition.steps import _time

    name = f"{date_col} ({freq})"
    extra = []
    if trimmed:
        extra.append("from each unit's modelled start")
    if cut_after:
        extra.append(f"to {_time.label(last, freq)}")
    return name + (f", {', '.join(extra)}" if extra else "")


def _check_scenarios(params: ForecastParams, units: list[str]) -> list[tuple[Scenario, date, date | None]]:
    from expedition.steps import _time

    checked = []
    for scenario in params.scenarios:
        start = _time.parse_period(scenario.start, params.frequency, where=f"scenario {scenario.name!r}")
        end = (
            _time.parse_period(scenario.end, params.frequency, where=f"scenario {scenario.name!r}")
            if scenario.end
            else None
        )
        if end is not None and end < start:
            raise StepError(
                f"scenario {scenario.name!r} ends ({scenario.end}) before it starts ({scenario.start})",
                "swap from and until",
            )
        if scenario.unit is not None and scenario.unit not in units:
            raise StepError(
                f"scenario {scenario.name!r} names unit {scenario.unit!r}, which is not forecast",
                f"the units are: {', '.join(units)}",
            )
        checked.append((scenario, start, end))
    return checked


# --------------------------------------------------------------------------- models


def _forecast_unit(unit: str, periods: list[date], y: Any, m: int, horizon: int, params: ForecastParams) -> UnitResult:
    import numpy as np

    from expedition.steps import _forecast_models as _models
    from expedition.steps import _time

    n = len(y)
    seasonal = n >= 2 * m
    notes = []
    candidates = [c for c in params.models if seasonal or c not in SEASONAL_ONLY]
    if not seasonal:
        notes.append(
            f"{unit}: only {n} {params.frequency}s of data, fewer than two years, so no seasonal "
            "model was tried — the forecast cannot anticipate seasonal peaks."
        )
        if not candidates:
            candidates = ["naive", "mean"]
    min_train = 2 * m if seasonal else max(MIN_PERIODS - 2, 4)
    length = horizon
    folds = min(params.folds, (n - min_train) // length) if n > min_train else 0
    if folds == 0 and n - min_train >= 1:
        length, folds = n - min_train, 1
    backtest: dict[str, dict[str, float]] = {}
    paths: dict[str, Any] = {}
    failed: dict[str, str] = {}
    if folds:
        origins = [n - (folds - f) * length for f in range(folds)]
        for model in candidates:
            errors, scaled, smapes, inside = [], [], [], {lv: [] for lv in LEVELS}
            path = np.full(n, np.nan)
            try:
                for origin in origins:
                    train, test = y[:origin], y[origin : origin + length]
                    pred = _models.predict(model, train, len(test), m, seasonal, LEVELS)
                    scale = _models.mase_scale(train, m)
                    errors.append(np.abs(test - pred.mean))
                    scaled.append(float(np.mean(np.abs(test - pred.mean)) / scale) if math.isfinite(scale) else math.nan)
                    smapes.append(_models.smape(test, pred.mean))
                    for lv in LEVELS:
                        inside[lv].append((test >= pred.lower[lv]) & (test <= pred.upper[lv]))
                    path[origin : origin + length] = pred.mean
            except Exception as exc:  # a model that cannot be fitted drops out, with a note
                failed[model] = f"{type(exc).__name__}: {exc}"
                continue
            backtest[model] = {
                "mase": float(np.nanmean(scaled)) if not all(math.isnan(s) for s in scaled) else math.nan,
                "smape": float(np.mean(np.concatenate(smapes))),
                "mae": float(np.mean(np.concatenate(errors))),
                "coverage80": float(np.mean(np.concatenate(inside[0.8]))),
                "coverage95": float(np.mean(np.concatenate(inside[0.95]))),
            }
            paths[model] = path
    for model, reason in failed.items():
        notes.append(f"{unit}: {LABELS[model]} could not be fitted ({reason}) and was left out.")
    chosen, benchmark = _choose(backtest, candidates, params.min_gain)
    if not folds:
        notes.append(
            f"{unit}: too short for a backtest ({n} {params.frequency}s); the forecast is "
            f"{LABELS[chosen]} and has not been checked against the past."
        )
    future = _time.period_range(
        periods[-1], _add_periods(periods[-1], horizon, params.frequency), params.frequency
    )[1:]
    try:
        prediction = _models.predict(chosen, y, horizon, m, seasonal, LEVELS)
    except Exception as exc:
        notes.append(f"{unit}: {LABELS[chosen]} failed on the full series ({type(exc).__name__}); the seasonal naive or mean forecast is used.")
        chosen = "seasonal_naive" if seasonal else "mean"
        prediction = _models.predict(chosen, y, horizon, m, seasonal, LEVELS)
    return UnitResult(
        unit=unit,
        periods=periods,
        y=y,
        seasonal=seasonal,
        backtest=backtest,
        backtest_paths=paths,
        folds=folds,
        fold_length=length if folds else 0,
        chosen=chosen,
        benchmark=benchmark,
        forecast=prediction,
        future=future,
        notes=notes,
    )


def _choose(backtest: dict[str, dict[str, float]], candidates: list[str], min_gain: float) -> tuple[str, str | None]:
    """The chosen model and the best benchmark it was compared with."""

    def score(model: str) -> float:
        mase = backtest[model]["mase"]
        return mase if math.isfinite(mase) else backtest[model]["smape"]

    scored = [c for c in candidates if c in backtest]
    if not scored:
        preferred = [c for c in ("ets", "seasonal_naive", "mean", "naive") if c in candidates]
        return (preferred or candidates)[0], None
    benchmarks = sorted((c for c in scored if c in BENCHMARKS), key=lambda c: (score(c), scored.index(c)))
    fitted = sorted((c for c in scored if c not in BENCHMARKS), key=lambda c: (score(c), scored.index(c)))
    best_benchmark = benchmarks[0] if benchmarks else None
    if fitted and (best_benchmark is None or score(fitted[0]) <= (1 - min_gain) * score(best_benchmark)):
        return fitted[0], best_benchmark
    return best_benchmark or fitted[0], best_benchmark


def _add_periods(start: date, k: int, frequency: str) -> date:
    from expedition.steps._time import offset

    return offset(start, k, frequency)


# --------------------------------------------------------------------------- the finding


def _finding(
    step: Forecast,
    params: ForecastParams,
    ctx: StepContext,
    prepared: Prepared,
    results: list[UnitResult],
    scenarios: list[tuple[Scenario, date, date | None]],
    horizon: int,
) -> Finding:
    import numpy as np

    from expedition.steps import _time

    freq = params.frequency
    caveats: list[Any] = list(prepared.caveats)
    for r in results:
        caveats.extend(r.notes)
    keys = SeriesKeys.of(params, prepared)
    zeros = ctx.disclosure.zeros_disclosive
    tables = {
        "series": _series_table(results, keys),
        "backtest": _backtest_table(results, keys, zeros),
    }
    shown = [r.unit for r in results][:9]
    figures: dict[str, Chart] = {
        "forecast": Chart(
            "History, backtests and forecasts",
            "forecast.series",
            "series",
            alt=(
                f"Line charts per unit of the {freq}ly counts, the chosen model's backtest forecasts "
                "(dashed) and the forecast with shaded 80% and 95% prediction intervals. Counts too "
                "small to publish, and forecasts that rest on them, are hatched."
            ),
            options={"frequency": freq, "units": shown, "last": prepared.last.isoformat()},
        )
    }

    first_future, last_future = results[0].future[0], results[0].future[-1]
    headlines: list[Any] = [say(
        "{first} to {last}: {freq}ly counts for {units}; forecasts for {start} to {end}.",
        first=_time.label(prepared.first, freq), last=_time.label(prepared.last, freq), freq=freq,
        units=_units_text(results), start=_time.label(first_future, freq), end=_time.label(last_future, freq),
    )]
    metrics: dict[str, Any] = {"units": float(len(results)), "horizon": float(horizon)}
    for r in results[:6]:
        headlines.append(_unit_headline(r, freq, horizon))
    skills = []
    for r in results:
        if r.benchmark and r.chosen in r.backtest and r.benchmark in r.backtest:
            skill = 1 - _ratio(r.backtest[r.chosen]["mase"], r.backtest[r.benchmark]["mase"])
            skills.append((skill, (_score_cell(r, r.chosen), _score_cell(r, r.benchmark))))
        if "seasonal_naive" in r.backtest and r.chosen in r.backtest:
            metrics[f"mase_ratio_to_seasonal_naive[{r.unit}]"] = Value(
                _ratio(r.backtest[r.chosen]["mase"], r.backtest["seasonal_naive"]["mase"]),
                ".4g",
                (_score_cell(r, r.chosen), _score_cell(r, "seasonal_naive")),
            )
    if len(results) > 6:
        headlines.append(f"The other {len(results) - 6} units are in the tables.")
    coverage = [(r.backtest[r.chosen]["coverage95"], _score_cell(r, r.chosen, "coverage95"))
                for r in results if r.chosen in r.backtest]
    if coverage:
        mean = float(np.mean([c for c, _ in coverage]))
        cells = tuple(cell for _, cell in coverage)
        metrics["backtest_coverage95"] = Value(mean, ".4g", cells)
        headlines.append(say(
            "In the backtests the 95% prediction intervals held {coverage} of the actual {freq}ly "
            "counts" + (" (too narrow: treat them with caution)" if mean < 0.85 else "") + ".",
            coverage=Value(mean, ".0%", cells), freq=freq,
            fallback=say(
                "In the backtests the 95% prediction intervals held these shares of the actual {freq}ly counts: {units}.",
                units=Items(
                    tuple(Value(f"{c:.0%} for {r.unit}", sources=(_score_cell(r, r.chosen, "coverage95"),))
                          for r in results[:6] if r.chosen in r.backtest for c in [r.backtest[r.chosen]["coverage95"]]),
                    "withheld for {n} more (counts too small to publish)",
                ),
                freq=freq,
                fallback="The backtests' interval coverage is withheld: it rests on counts too small to publish.",
            ),
        ))
    if skills:
        metrics["mean_skill_over_benchmark"] = Value(
            float(np.nanmean([s for s, _ in skills])) if any(math.isfinite(s) for s, _ in skills) else math.nan,
            ".4g", tuple(c for _, pair in skills for c in pair),
        )
    metrics["fitted_model_chosen"] = float(sum(r.chosen not in BENCHMARKS for r in results))

    if scenarios:
        table, totals, lines = _scenario_tables(results, scenarios, freq, keys, zeros)
        tables["scenarios"] = table
        tables["scenario_totals"] = totals
        figures["scenarios"] = Chart(
            "Scenarios beside the forecast",
            "forecast.scenarios",
            "scenarios",
            alt="Line charts per unit of the forecast and each named scenario over the forecast "
            "horizon; units whose forecast is withheld are hatched.",
            options={"frequency": freq, "units": shown, "scenarios": [s.name for s, _, _ in scenarios]},
        )
        headlines.extend(lines)
    caveats.append(
        "A forecast assumes the future behaves like the backtested past: a change in policy, "
        "thresholds or recording breaks it — the scenarios show the size of such changes."
    )
    method = step.method_text() + (
        f" Settings: {freq}ly counts, horizon {horizon}, up to {params.folds} backtests, "
        f"models {', '.join(params.models)}, margin {params.min_gain:.0%}."
    )
    ctx.report(1.0, "done")
    return Finding(
        step=step.name,
        title="Demand forecast",
        headlines=headlines,
        method=method,
        tables=tables,
        figures=figures,
        metrics=metrics,
        caveats=caveats,
        params=params.model_dump(mode="json"),
    )


@dataclass(frozen=True)
class SeriesKeys:
    """What the series' counts count: records (or the sum of the count column) of a unit in a
    period, so the same count is linked wherever the pack publishes it."""

    unit: str | None
    period: str
    counts: dict[str, Any]

    @classmethod
    def of(cls, params: ForecastParams, prepared: Prepared) -> SeriesKeys:
        return cls(
            unit=params.unit,
            period=prepared.period_variable,
            counts={"sum of": params.count} if params.count else {},
        )

    def series(self) -> Keys:
        return Keys(variables={"unit": self.unit, "period": self.period}, counts={"actual": dict(self.counts)})

    def carried(self, *others: str) -> Keys:
        """Keys for a table that carries each unit's smallest count (see `_smallest`)."""
        variables: dict[str, str | None] = {"unit": self.unit, "smallest_period": self.period}
        variables.update({o: None for o in others})
        return Keys(variables=variables, counts={"smallest_count": dict(self.counts)})


def _smallest(r: UnitResult, zeros_disclosive: bool) -> tuple[int, date]:
    """The count of the unit's history that the disclosure rules would suppress first: the
    smallest above zero (or a zero, where zeros are disclosive). Tables without the series
    carry it, so that what rests on the unit's counts is suppressed with it.

    Why: `Table.derived` suppresses statistics with counts of the same table only, and a
    backtest score or scenario total rests on all of a unit's counts. Any suppressed count of
    a unit's series is a small one, or hidden to protect a small one in the same series, so the
    smallest stands for all of them.
    """
    import numpy as np

    y = np.asarray(r.y, dtype=float)
    candidates = np.flatnonzero(y == 0) if zeros_disclosive else np.array([], dtype=int)
    if not len(candidates):
        positive = np.flatnonzero(y > 0)
        candidates = positive[np.argsort(y[positive], kind="stable")][:1] if len(positive) else np.array([0])
    i = int(candidates[0])
    return int(round(y[i])), r.periods[i]


def _ratio(a: float, b: float) -> float:
    """a / b, or NaN when b is zero or either is not a number (a perfect benchmark has MASE 0)."""
    return a / b if b and math.isfinite(a) and math.isfinite(b) else math.nan


def _score_cell(r: UnitResult, model: str, column: str = "mase") -> Cell:
    return Cell("backtest", column, {"unit": r.unit, "model": model}, format=".2f")


def _units_text(results: list[UnitResult]) -> str:
    if len(results) == 1:
        return "one series" if results[0].unit == "All" else f"one unit ({results[0].unit})"
    return f"{len(results)} units"


def _unit_headline(r: UnitResult, freq: str, horizon: int) -> Any:
    """One unit's forecast in a sentence whose numbers are withheld with the unit's counts."""
    import numpy as np

    anchor = (Cell("series", "forecast", {"unit": r.unit, "period": r.future[0]}),)
    total = float(np.sum(r.forecast.mean))
    slots: dict[str, Any] = {
        "who": "" if r.unit == "All" else f"{r.unit}: ",
        "model": LABELS[r.chosen],
        "total": Value(total, ",.0f", anchor),
        "h": f"{horizon}",
        "freq": freq,
    }
    expected = "{total} expected over the next {h} {freq}s"
    if len(r.y) >= horizon:
        recent = float(np.sum(r.y[-horizon:]))
        counts = tuple(Cell("series", "actual", {"unit": r.unit, "period": p}) for p in r.periods[-horizon:])
        slots["recent"] = Value(recent, ",.0f", counts)
        if recent:
            slots["change"] = Value(total / recent - 1, "+.1%", anchor + counts)
            expected += " against {recent} in the last {h} ({change})"
        else:
            expected += " against {recent} in the last {h}"
    capital = slots["who"] == ""
    if not r.backtest:
        template = "{who}{model} forecast (no backtest possible); " + expected + "."
        if capital:
            slots["model"] = slots["model"][0].upper() + slots["model"][1:]
    elif r.chosen in BENCHMARKS:
        slots["folds"] = f"{r.folds} backtest{'s' if r.folds != 1 else ''}"
        template = ("{who}" + ("No" if capital else "no") + " fitted model beat the simple benchmarks in "
                    "{folds}, so the forecast is the {model}; " + expected + ".")
    else:
        slots["folds"] = f"{r.folds} backtest{'s' if r.folds != 1 else ''}"
        slots["mase"] = _score_cell(r, r.chosen)
        against = ""
        if r.benchmark in r.backtest:
            slots["base"] = _score_cell(r, r.benchmark)
            slots["short"] = SHORT[r.benchmark]
            against = " against {base} for the {short}"
        template = ("{who}" + ("The" if capital else "the") + " {model} forecast best in {folds} (MASE {mase}"
                    + against + "); " + expected + ".")
    fallback = say(
        "{who}" + ("Its" if capital else "its") + " forecast is withheld: it rests on counts too small to publish.",
        who=slots["who"],
    )
    return say(template, fallback=fallback, **slots)


def _series_table(results: list[UnitResult], keys: SeriesKeys) -> Table:
    import numpy as np
    import polars as pl

    rows = []
    for r in results:
        path = r.backtest_paths.get(r.chosen)
        for i, period in enumerate(r.periods):
            rows.append(
                {
                    "unit": r.unit,
                    "period": period,
                    "actual": int(round(r.y[i])),
                    "backtest": None if path is None or np.isnan(path[i]) else float(path[i]),
                    "forecast": None,
                    "lower80": None,
                    "upper80": None,
                    "lower95": None,
                    "upper95": None,
                }
            )
        f = r.forecast
        for i, period in enumerate(r.future):
            rows.append(
                {
                    "unit": r.unit,
                    "period": period,
                    "actual": None,
                    "backtest": None,
                    "forecast": float(f.mean[i]),
                    "lower80": float(f.lower[0.8][i]),
                    "upper80": float(f.upper[0.8][i]),
                    "lower95": float(f.lower[0.95][i]),
                    "upper95": float(f.upper[0.95][i]),
                }
            )
    schema = {
        "unit": pl.String,
        "period": pl.Date,
        "actual": pl.Int64,
        **{c: pl.Float64 for c in FORECAST_COLUMNS},
    }
    frame = pl.DataFrame(rows, schema=schema)
    kinds = {c: "statistic" for c in schema}
    kinds.update({"unit": "label", "period": "date", "actual": "count"})
    return Table(
        frame,
        kinds,
        title="History, backtests and forecasts",
        description=(
            "Per unit and period: the actual count, the chosen model's backtest forecast (made "
            "without seeing that period), and the forecast with 80% and 95% prediction intervals. "
            "A unit's backtests and forecasts are suppressed with any of its counts."
        ),
        dimensions=["period"],
        keys=keys.series(),
        derived={c: Derived(("actual",), ("unit",)) for c in FORECAST_COLUMNS},
    )


def _backtest_table(results: list[UnitResult], keys: SeriesKeys, zeros: bool) -> Table:
    import polars as pl

    rows = []
    for r in results:
        smallest, when = _smallest(r, zeros)
        for model, scores in r.backtest.items():
            rows.append(
                {
                    "unit": r.unit,
                    "model": model,
                    "chosen": "yes" if model == r.chosen else "no",
                    "folds": r.folds,
                    **{c: scores[c] for c in SCORE_COLUMNS},
                    "smallest_count": smallest,
                    "smallest_period": when,
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "unit": pl.String,
            "model": pl.String,
            "chosen": pl.String,
            "folds": pl.Int64,
            **{c: pl.Float64 for c in SCORE_COLUMNS},
            "smallest_count": pl.Int64,
            "smallest_period": pl.Date,
        },
    )
    return Table(
        frame,
        {
            "unit": "label",
            "model": "label",
            "chosen": "label",
            "folds": "statistic",
            "mase": "statistic",
            "smape": "statistic",
            "mae": "statistic",
            "coverage80": "rate",
            "coverage95": "rate",
            "smallest_count": "count",
            "smallest_period": "date",
        },
        title="Backtest scores by model",
        description=(
            "Rolling-origin backtests: MASE (below 1 beats the in-sample seasonal naive error), "
            "sMAPE (0–200), mean absolute error, and the share of actual counts inside the 80% "
            "and 95% prediction intervals. The scores rest on every count of the unit, so they "
            "are suppressed with its smallest count (shown with its period)."
        ),
        dimensions=[],
        keys=keys.carried("model", "chosen"),
        derived={c: Derived(("smallest_count",), ("unit",)) for c in SCORE_COLUMNS},
    )


def _scenario_tables(
    results: list[UnitResult],
    scenarios: list[tuple[Scenario, date, date | None]],
    freq: str,
    keys: SeriesKeys,
    zeros: bool,
) -> tuple[Table, Table, list[Any]]:
    import numpy as np
    import polars as pl

    from expedition.steps import _time

    names = [s.name for s, _, _ in scenarios]
    wide: dict[str, list] = {"unit": [], "period": [], "baseline": []}
    for name in names:
        wide[name] = []
    wide["smallest_count"], wide["smallest_period"] = [], []
    totals = []
    for r in results:
        smallest, when = _smallest(r, zeros)
        base = np.asarray(r.forecast.mean, dtype=float)
        wide["unit"].extend([r.unit] * len(r.future))
        wide["period"].extend(r.future)
        wide["baseline"].extend(base.tolist())
        wide["smallest_count"].extend([smallest] * len(r.future))
        wide["smallest_period"].extend([when] * len(r.future))
        for scenario, start, end in scenarios:
            values = base.copy()
            if scenario.unit is None or scenario.unit == r.unit:
                active = np.array([p >= start and (end is None or p <= end) for p in r.future])
                if scenario.change is not None:
                    values = np.where(active, values * (1 + scenario.change), values)
                if scenario.add is not None:
                    values = np.where(active, values + scenario.add, values)
                values = np.maximum(values, 0.0)
            wide[scenario.name].extend(values.tolist())
            totals.append(
                {
                    "unit": r.unit,
                    "scenario": scenario.name,
                    "baseline_total": float(base.sum()),
                    "scenario_total": float(values.sum()),
                    "difference": float(values.sum() - base.sum()),
                    "smallest_count": smallest,
                    "smallest_period": when,
                }
            )
    frame = pl.DataFrame(
        wide,
        schema={"unit": pl.String, "period": pl.Date, "baseline": pl.Float64, **{n: pl.Float64 for n in names},
                "smallest_count": pl.Int64, "smallest_period": pl.Date},
    )
    values = ["baseline", *names]
    kinds = {c: "statistic" for c in values}
    kinds.update({"unit": "label", "period": "date", "smallest_count": "count", "smallest_period": "date"})
    table = Table(
        frame,
        kinds,
        title="Scenarios beside the forecast",
        description="The forecast (baseline) and each scenario, per unit and period; suppressed "
        "with the unit's smallest count, as the forecast is.",
        dimensions=[],
        keys=keys.carried("period"),
        derived={c: Derived(("smallest_count",), ("unit",)) for c in values},
    )
    totals_frame = pl.DataFrame(
        totals,
        schema={
            "unit": pl.String,
            "scenario": pl.String,
            "baseline_total": pl.Float64,
            "scenario_total": pl.Float64,
            "difference": pl.Float64,
            "smallest_count": pl.Int64,
            "smallest_period": pl.Date,
        },
    )
    sums = ("baseline_total", "scenario_total", "difference")
    totals_table = Table(
        totals_frame,
        {"unit": "label", "scenario": "label", **{c: "statistic" for c in sums},
         "smallest_count": "count", "smallest_period": "date"},
        title="Scenario totals over the horizon",
        description="Forecast totals over the whole horizon, per unit, with and without each "
        "scenario; suppressed with the unit's smallest count, as the forecast is.",
        dimensions=[],
        keys=keys.carried("scenario"),
        derived={c: Derived(("smallest_count",), ("unit",)) for c in sums},
    )
    horizon_text = f"{_time.label(results[0].future[0], freq)} to {_time.label(results[0].future[-1], freq)}"
    lines = []
    outside_text = " — it falls outside the forecast horizon, so it changes nothing"
    for scenario, start, end in scenarios:
        rows = [t for t in totals if t["scenario"] == scenario.name]
        grand = sum(t["scenario_total"] for t in rows)
        grand_base = sum(t["baseline_total"] for t in rows)
        diff = grand - grand_base
        cells = tuple(Cell("scenario_totals", "scenario_total", {"unit": t["unit"], "scenario": scenario.name})
                      for t in rows)
        outside = (end is not None and end < results[0].future[0]) or start > results[0].future[-1]
        tail = outside_text if outside else ""
        per_unit = Items(
            tuple(
                Value(
                    f"{abs(t['difference']):,.0f} {'more' if t['difference'] >= 0 else 'fewer'} in {t['unit']}",
                    sources=(Cell("scenario_totals", "difference", {"unit": t["unit"], "scenario": scenario.name}),),
                )
                for t in rows
            ),
            "withheld for {n} more (counts too small to publish)",
        )
        lines.append(say(
            "Scenario '{name}' ({what}): {total} over {span}, {diff} {direction} than the forecast ({base})"
            + tail + ".",
            name=scenario.name, what=scenario.describe(), span=horizon_text,
            total=Value(grand, ",.0f", cells), diff=Value(abs(diff), ",.0f", cells),
            direction=Value("more" if diff >= 0 else "fewer", sources=cells), base=Value(grand_base, ",.0f", cells),
            fallback=say(
                "Scenario '{name}' ({what}) over {span}, against the forecast: {units}" + tail + ".",
                name=scenario.name, what=scenario.describe(), span=horizon_text, units=per_unit,
                fallback=say(
                    "Scenario '{name}' ({what}): the forecasts it changes are withheld, as they rest on "
                    "counts too small to publish.", name=scenario.name, what=scenario.describe(),
                ),
            ),
        ))
    return table, totals_table, lines


# --------------------------------------------------------------------------- figures


def _floor(ax: Any, values: list[float]) -> None:
    """Start the y axis at zero; a panel with nothing published gets no scale at all."""
    if all(math.isnan(v) for v in values):
        ax.set_ylim(0, 1)
        ax.set_yticks([])
    else:
        ax.set_ylim(bottom=0)


def _panel_title(unit: str) -> str:
    return unit if unit != "All" else "All events"


@drawing("forecast.series")
def draw_series(d: Drawing) -> Any:
    """History (a line broken where counts are suppressed, those stretches hatched), the chosen
    model's backtests (dashed) and the forecast with its intervals, per unit; a withheld
    forecast is a hatched stretch over the horizon."""
    import polars as pl

    o = d.options
    last = date.fromisoformat(o["last"])
    units = [u for u in o["units"] if u in set(d.frame["unit"].to_list())]
    frame = d.frame.with_row_index("__row")
    actual_hidden, forecast_hidden = d.hidden("actual"), d.hidden("forecast")
    fig, axes = small_multiples(len(units), columns=min(3, max(len(units), 1)), panel=(4.2, 2.6))
    marked = False
    for ax, unit in zip(axes, units):
        part = frame.filter(pl.col("unit") == unit)
        rows = part["__row"].to_list()
        periods = part["period"].to_list()
        history = [i for i, p in enumerate(periods) if p <= last]
        ahead = [i for i, p in enumerate(periods) if p > last]
        actual, backtest = d.values("actual", frame=part), d.values("backtest", frame=part)
        hx = [periods[i] for i in history]
        ax.plot(hx, [actual[i] for i in history], color=PALETTE[0], lw=1.1, label="actual")
        if any(not math.isnan(backtest[i]) for i in history):
            ax.plot(hx, [backtest[i] for i in history], color=PALETTE[1], lw=1.0, ls="--", label="backtest")
        fx = [periods[i] for i in ahead]
        withheld = any(forecast_hidden[rows[i]] for i in ahead)
        if fx and not withheld:
            values = {c: d.values(c, frame=part) for c in ("forecast", "lower80", "upper80", "lower95", "upper95")}
            pick = {c: [v[i] for i in ahead] for c, v in values.items()}
            ax.fill_between(fx, pick["lower95"], pick["upper95"], color=PALETTE[2], alpha=0.15, lw=0, label="95% interval")
            ax.fill_between(fx, pick["lower80"], pick["upper80"], color=PALETTE[2], alpha=0.3, lw=0, label="80% interval")
            ax.plot(fx, pick["forecast"], color=PALETTE[2], lw=1.4, label="forecast")
        _floor(ax, [actual[i] for i in history])
        marked |= mark_suppressed_spans(ax, hx, [actual_hidden[rows[i]] for i in history], symbol=d.rules.symbol)
        if fx and withheld:
            marked |= mark_suppressed_spans(ax, fx, [True] * len(fx), symbol=d.rules.symbol)
        ax.set_title(_panel_title(unit) + (" (forecast withheld)" if withheld else ""), fontsize=9)
        ax.set_ylabel(f"per {o['frequency']}")
        ax.tick_params(axis="x", labelsize=7)
    _legend(axes, marked, d.rules.symbol)
    return fig


def _legend(axes: list[Any], marked: bool, symbol: str) -> None:
    """The first panel's legend, with the suppressed mark when any panel shows it."""
    if not axes:
        return
    handles, labels = axes[0].get_legend_handles_labels()
    if marked:
        handles.append(suppressed_patch(symbol))
        labels.append(handles[-1].get_label())
    if handles:
        axes[0].legend(handles, labels, fontsize=6, loc="lower left")


@drawing("forecast.scenarios")
def draw_scenarios(d: Drawing) -> Any:
    """The forecast and each scenario per unit; a unit whose forecast is withheld is hatched."""
    import polars as pl

    o = d.options
    frame = d.frame.with_row_index("__row")
    units = [u for u in o["units"] if u in set(frame["unit"].to_list())]
    hidden = d.hidden("baseline")
    fig, axes = small_multiples(len(units), columns=min(3, max(len(units), 1)), panel=(4.2, 2.6))
    marked = False
    for ax, unit in zip(axes, units):
        part = frame.filter(pl.col("unit") == unit)
        dates = part["period"].to_list()
        withheld = any(hidden[i] for i in part["__row"].to_list())
        if not withheld:
            ax.plot(dates, d.values("baseline", frame=part), color="#333333", lw=1.6, label="forecast")
            for i, name in enumerate(o["scenarios"]):
                ax.plot(dates, d.values(name, frame=part), color=PALETTE[(i + 1) % len(PALETTE)], lw=1.2,
                        ls="--", label=name)
        _floor(ax, [] if withheld else d.values("baseline", frame=part))
        if withheld:
            marked |= mark_suppressed_spans(ax, dates, [True] * len(dates), symbol=d.rules.symbol)
        ax.set_title(_panel_title(unit) + (" (withheld)" if withheld else ""), fontsize=9)
        ax.set_ylabel(f"per {o['frequency']}")
        ax.tick_params(axis="x", labelsize=7)
    _legend(axes, marked, d.rules.symbol)
    return fig
