"""`forecast`: how much demand to expect, how sure that is, and what changes would do to it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from expedition.disclosure import safe_table
from expedition.errors import StepError
from expedition.finding import Figure, Finding, Table
from expedition.steps import Step, StepContext, StepParams, require_columns
from expedition.steps._forecast_models import BENCHMARKS, DEFAULT_MODELS, LABELS, MODELS, SEASONAL_ONLY, SHORT
from expedition.steps._plot import PALETTE, small_multiples, to_figure

DATE_NAMES = ("date", "month", "period", "week")
DEFAULT_HORIZON = {"week": 13, "month": 12, "quarter": 4}
LEVELS = (0.8, 0.95)
MIN_PERIODS = 6
OTHER = "Other units"


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
    """

    name = "forecast"
    summary = "Demand forecasts chosen by rolling-origin backtests, with intervals and scenarios."
    version = "1"
    Params = ForecastParams

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
        prepared = _prepare(data, params)
        m = _season_length(params.frequency)
        horizon = params.horizon or DEFAULT_HORIZON[params.frequency]
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
    caveats: list[str]
    date_column: str
    first: date
    last: date


def _season_length(frequency: str) -> int:
    from expedition.steps._time import PERIODS

    return PERIODS[frequency][1]


def _prepare(data: Any, params: ForecastParams) -> Prepared:
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
    caveats: list[str] = []
    dates = _time.to_dates(data[date_col])
    unreadable = int((dates.is_null() & data[date_col].is_not_null()).sum())
    missing = int(data[date_col].is_null().sum())
    if dates.is_null().all():
        raise StepError(
            f"no value of {date_col} could be read as a date",
            'dates must look like 2024-03-31, 31/03/2024 or (for months) 2024-03',
        )
    if unreadable or missing:
        caveats.append(
            f"{unreadable + missing:,} rows have no readable {date_col} and are left out."
        )
    today = date.today()
    future = (dates > today).fill_null(False)
    if future.any():
        k = int(future.sum())
        caveats.append(
            f"{k:,} rows are dated after today ({today:%Y-%m-%d}); they are left out — check {date_col}."
        )
    if params.count:
        values = data[params.count].cast(pl.Float64, strict=False)
        if (values < 0).fill_null(False).any():
            raise StepError(
                f"{params.count} has negative counts",
                "counts must be zero or more; fix the delivery or choose another column",
            )
        bad = values.is_null() & data[params.count].is_not_null()
        if bad.any():
            caveats.append(f"{int(bad.sum()):,} values of {params.count} are not numbers and are left out.")
    else:
        values = pl.Series(np.ones(data.height))
    units = (
        data[params.unit].cast(pl.String) if params.unit else pl.Series([None] * data.height, dtype=pl.String)
    )
    if params.unit and units.is_null().any():
        caveats.append(f"{int(units.is_null().sum()):,} rows have no {params.unit} and are left out.")
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
        keep = order[: params.max_units - 1] if params.max_units > 1 else []
        rest = order[len(keep):]
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
        totals = pl.concat([totals.filter(pl.col("unit").is_in(keep)), other])
        order = keep + [OTHER]
    first = totals["period"].min()
    series = {}
    filled = 0
    short = []
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
    if not series:
        raise StepError(
            f"no series has {MIN_PERIODS} or more {params.frequency}s of data",
            "a forecast needs a longer history (or a shorter frequency)",
        )
    return Prepared(
        units=list(series), series=series, caveats=caveats, date_column=date_col, first=first, last=last
    )


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

    rules = ctx.disclosure
    caveats = list(prepared.caveats)
    for r in results:
        caveats.extend(r.notes)
    freq = params.frequency
    series = safe_table(_series_table(results), rules)
    backtest = _backtest_table(results)
    tables = {"series": series, "backtest": backtest}
    figures = {"forecast": _draw_forecasts(series, results, freq)}

    first_future = results[0].future[0]
    last_future = results[0].future[-1]
    headlines = [
        f"{_time.label(prepared.first, freq)} to {_time.label(prepared.last, freq)}: "
        f"{freq}ly counts for {_units_text(results)}; forecasts for "
        f"{_time.label(first_future, freq)} to {_time.label(last_future, freq)}."
    ]
    metrics: dict[str, float] = {"units": float(len(results)), "horizon": float(horizon)}
    skills = []
    for r in results[:6]:
        line = _unit_headline(r, freq, horizon)
        headlines.append(line[0].upper() + line[1:])
    for r in results:
        if r.benchmark and r.chosen in r.backtest and r.benchmark in r.backtest:
            skills.append(1 - r.backtest[r.chosen]["mase"] / r.backtest[r.benchmark]["mase"])
        if "seasonal_naive" in r.backtest and r.chosen in r.backtest:
            metrics[f"mase_ratio_to_seasonal_naive[{r.unit}]"] = (
                r.backtest[r.chosen]["mase"] / r.backtest["seasonal_naive"]["mase"]
            )
    if len(results) > 6:
        headlines.append(f"The other {len(results) - 6} units are in the tables.")
    coverage = [r.backtest[r.chosen]["coverage95"] for r in results if r.chosen in r.backtest]
    if coverage:
        metrics["backtest_coverage95"] = float(np.mean(coverage))
        headlines.append(
            f"In the backtests the 95% prediction intervals held {np.mean(coverage):.0%} of the actual "
            f"{freq}ly counts{' (too narrow: treat them with caution)' if np.mean(coverage) < 0.85 else ''}."
        )
    if skills:
        metrics["mean_skill_over_benchmark"] = float(np.mean(skills))
    metrics["fitted_model_chosen"] = float(sum(r.chosen not in BENCHMARKS for r in results))

    if scenarios:
        table, totals, lines = _scenario_tables(results, scenarios, freq)
        tables["scenarios"] = table
        tables["scenario_totals"] = totals
        figures["scenarios"] = _draw_scenarios(table, [s.name for s, _, _ in scenarios], freq)
        headlines.extend(lines)
    caveats.append(
        "A forecast assumes the future behaves like the backtested past: a change in policy, "
        "thresholds or recording breaks it — the scenarios show the size of such changes."
    )
    method = " ".join(line.strip() for line in (step.__doc__ or "").split("\n\n", 1)[1].strip().splitlines())
    method += (
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


def _units_text(results: list[UnitResult]) -> str:
    if len(results) == 1:
        return "one series" if results[0].unit == "All" else f"one unit ({results[0].unit})"
    return f"{len(results)} units"


def _unit_headline(r: UnitResult, freq: str, horizon: int) -> str:
    import numpy as np

    who = "" if r.unit == "All" else f"{r.unit}: "
    total = float(np.sum(r.forecast.mean))
    recent = float(np.sum(r.y[-horizon:])) if len(r.y) >= horizon else None
    change = ""
    if recent:
        change = f" against {recent:,.0f} in the last {horizon} ({(total / recent - 1):+.1%})"
    expected = f"{total:,.0f} expected over the next {horizon} {freq}s{change}"
    if not r.backtest:
        return f"{who}{LABELS[r.chosen]} forecast (no backtest possible); {expected}."
    if r.chosen in BENCHMARKS:
        return (
            f"{who}no fitted model beat the simple benchmarks in {r.folds} backtest"
            f"{'s' if r.folds != 1 else ''}, so the forecast is the {LABELS[r.chosen]}; {expected}."
        )
    base = r.benchmark
    against = (
        f" against {r.backtest[base]['mase']:.2f} for the {SHORT[base]}" if base in r.backtest else ""
    )
    return (
        f"{who}the {LABELS[r.chosen]} forecast best in {r.folds} backtest{'s' if r.folds != 1 else ''} "
        f"(MASE {r.backtest[r.chosen]['mase']:.2f}{against}); {expected}."
    )


def _series_table(results: list[UnitResult]) -> Table:
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
        "backtest": pl.Float64,
        "forecast": pl.Float64,
        "lower80": pl.Float64,
        "upper80": pl.Float64,
        "lower95": pl.Float64,
        "upper95": pl.Float64,
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
            "without seeing that period), and the forecast with 80% and 95% prediction intervals."
        ),
    )


def _backtest_table(results: list[UnitResult]) -> Table:
    import polars as pl

    rows = []
    for r in results:
        for model, scores in r.backtest.items():
            rows.append(
                {
                    "unit": r.unit,
                    "model": model,
                    "chosen": "yes" if model == r.chosen else "no",
                    "folds": r.folds,
                    "mase": scores["mase"],
                    "smape": scores["smape"],
                    "mae": scores["mae"],
                    "coverage80": scores["coverage80"],
                    "coverage95": scores["coverage95"],
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "unit": pl.String,
            "model": pl.String,
            "chosen": pl.String,
            "folds": pl.Int64,
            "mase": pl.Float64,
            "smape": pl.Float64,
            "mae": pl.Float64,
            "coverage80": pl.Float64,
            "coverage95": pl.Float64,
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
        },
        title="Backtest scores by model",
        description=(
            "Rolling-origin backtests: MASE (below 1 beats the in-sample seasonal naive error), "
            "sMAPE (0–200), mean absolute error, and the share of actual counts inside the 80% "
            "and 95% prediction intervals."
        ),
    )


def _scenario_tables(
    results: list[UnitResult], scenarios: list[tuple[Scenario, date, date | None]], freq: str
) -> tuple[Table, Table, list[str]]:
    import numpy as np
    import polars as pl

    from expedition.steps import _time

    wide: dict[str, list] = {"unit": [], "period": [], "baseline": []}
    for scenario, _, _ in scenarios:
        wide[scenario.name] = []
    totals = []
    grand = {s.name: 0.0 for s, _, _ in scenarios}
    grand_base = 0.0
    for r in results:
        base = np.asarray(r.forecast.mean, dtype=float)
        wide["unit"].extend([r.unit] * len(r.future))
        wide["period"].extend(r.future)
        wide["baseline"].extend(base.tolist())
        grand_base += float(base.sum())
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
            grand[scenario.name] += float(values.sum())
            totals.append(
                {
                    "unit": r.unit,
                    "scenario": scenario.name,
                    "baseline_total": float(base.sum()),
                    "scenario_total": float(values.sum()),
                    "difference": float(values.sum() - base.sum()),
                }
            )
    frame = pl.DataFrame(wide, schema_overrides={"period": pl.Date})
    kinds = {c: "statistic" for c in frame.columns}
    kinds.update({"unit": "label", "period": "date"})
    table = Table(
        frame,
        kinds,
        title="Scenarios beside the forecast",
        description="The forecast (baseline) and each scenario, per unit and period.",
    )
    totals_frame = pl.DataFrame(
        totals,
        schema={
            "unit": pl.String,
            "scenario": pl.String,
            "baseline_total": pl.Float64,
            "scenario_total": pl.Float64,
            "difference": pl.Float64,
        },
    )
    totals_table = Table(
        totals_frame,
        {"unit": "label", "scenario": "label", "baseline_total": "statistic", "scenario_total": "statistic", "difference": "statistic"},
        title="Scenario totals over the horizon",
        description="Forecast totals over the whole horizon, per unit, with and without each scenario.",
    )
    horizon_text = f"{_time.label(results[0].future[0], freq)} to {_time.label(results[0].future[-1], freq)}"
    lines = []
    for scenario, start, end in scenarios:
        diff = grand[scenario.name] - grand_base
        lines.append(
            f"Scenario '{scenario.name}' ({scenario.describe()}): {grand[scenario.name]:,.0f} over "
            f"{horizon_text}, {abs(diff):,.0f} {'more' if diff >= 0 else 'fewer'} than the forecast "
            f"({grand_base:,.0f})."
        )
        if end is not None and end < results[0].future[0] or start > results[0].future[-1]:
            lines[-1] = lines[-1][:-1] + " — it falls outside the forecast horizon, so it changes nothing."
    return table, totals_table, lines


# --------------------------------------------------------------------------- figures


def _draw_forecasts(series: Table, results: list[UnitResult], freq: str) -> Figure:
    import polars as pl

    shown = [r.unit for r in results][:9]
    fig, axes = small_multiples(len(shown), columns=min(3, len(shown)), panel=(4.2, 2.6))
    frame = series.frame
    for ax, unit in zip(axes, shown):
        part = frame.filter(pl.col("unit") == unit)
        history = part.filter(pl.col("forecast").is_null())
        ahead = part.filter(pl.col("forecast").is_not_null())
        actual = [v if v is not None else float("nan") for v in history["actual"].to_list()]
        ax.plot(history["period"].to_list(), actual, color=PALETTE[0], lw=1.1, label="actual")
        bt = history.filter(pl.col("backtest").is_not_null())
        if bt.height:
            ax.plot(bt["period"].to_list(), bt["backtest"].to_list(), color=PALETTE[1], lw=1.0, ls="--", label="backtest")
        if ahead.height:
            dates = ahead["period"].to_list()
            ax.fill_between(dates, ahead["lower95"].to_list(), ahead["upper95"].to_list(), color=PALETTE[2], alpha=0.15, lw=0, label="95% interval")
            ax.fill_between(dates, ahead["lower80"].to_list(), ahead["upper80"].to_list(), color=PALETTE[2], alpha=0.3, lw=0, label="80% interval")
            ax.plot(dates, ahead["forecast"].to_list(), color=PALETTE[2], lw=1.4, label="forecast")
        ax.set_title(unit if unit != "All" else "All events", fontsize=9)
        ax.set_ylabel(f"per {freq}")
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(bottom=0)
    if axes:
        axes[0].legend(fontsize=6, loc="upper left")
    return to_figure(
        fig,
        "History, backtests and forecasts",
        alt=(
            f"Line charts per unit of the {freq}ly counts, the chosen model's backtest forecasts "
            "(dashed) and the forecast with shaded 80% and 95% prediction intervals. Counts too "
            "small to publish are gaps."
        ),
        data="series",
    )


def _draw_scenarios(table: Table, names: list[str], freq: str) -> Figure:
    import polars as pl

    frame = table.frame
    units = frame["unit"].unique(maintain_order=True).to_list()[:9]
    fig, axes = small_multiples(len(units), columns=min(3, len(units)), panel=(4.2, 2.6))
    for ax, unit in zip(axes, units):
        part = frame.filter(pl.col("unit") == unit)
        dates = part["period"].to_list()
        ax.plot(dates, part["baseline"].to_list(), color="#333333", lw=1.6, label="forecast")
        for i, name in enumerate(names):
            ax.plot(dates, part[name].to_list(), color=PALETTE[(i + 1) % len(PALETTE)], lw=1.2, ls="--", label=name)
        ax.set_title(unit if unit != "All" else "All events", fontsize=9)
        ax.set_ylabel(f"per {freq}")
        ax.tick_params(axis="x", labelsize=7)
        ax.set_ylim(bottom=0)
    if axes:
        axes[0].legend(fontsize=6, loc="lower left")
    return to_figure(
        fig,
        "Scenarios beside the forecast",
        alt="Line charts per unit of the forecast and each named scenario over the forecast horizon.",
        data="scenarios",
    )
