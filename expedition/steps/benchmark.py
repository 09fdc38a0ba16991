"""`benchmark`: which units really differ from the rest once chance is allowed for (funnel plots)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

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
)
from expedition.steps._plot import PALETTE, Drawing, drawing, new_figure

INNER, OUTER = 0.95, 0.998
MIN_UNITS_FOR_DISPERSION = 20
ABOVE_OUTER = "above 99.8% limit"
ABOVE_INNER = "above 95% limit"
WITHIN = "within limits"
BELOW_INNER = "below 95% limit"
BELOW_OUTER = "below 99.8% limit"
POSITION_COLOURS = {
    ABOVE_OUTER: "#b2182b",
    ABOVE_INNER: "#f4a261",
    WITHIN: PALETTE[0],
    BELOW_INNER: "#67a9cf",
    BELOW_OUTER: "#2166ac",
}


class BenchmarkParams(StepParams):
    unit: str = Field(description="the column naming each unit (district, team, school)")
    outcome: str | None = Field(
        None, description="a yes/no column: the rate is the share of records with the outcome"
    )
    outcome_value: str | None = Field(
        None, description="the value of the outcome that counts as 'yes' (default: 1/true/yes)"
    )
    events: str | None = Field(
        None, description="instead of outcome: a column of event counts per row (summed per unit)"
    )
    denominator: str | None = Field(
        None, description="with events: the column of denominators (cases, population) per row"
    )
    measure: Literal["proportion", "rate"] = Field(
        "proportion",
        description="proportion (events out of cases: binomial limits) or rate (events per "
        "person-years or population: Poisson limits)",
    )
    per: float = Field(1000, gt=0, description="rates are shown per this many of the denominator")
    target: float | None = Field(
        None, ge=0, description="the value units are compared with (default: the overall rate)"
    )
    overdispersion: Literal["auto", "none", "multiplicative", "additive"] = Field(
        "auto",
        description="widen the limits when units vary more than chance allows: auto (additive "
        "random effects when a test finds over-dispersion), none, multiplicative or additive",
    )
    trim: float = Field(
        0.1, ge=0, lt=0.5, description="share of z-scores winsorised at each end when estimating over-dispersion"
    )


@dataclass
class Limits:
    """Control limits as functions of the denominator, on the scale of the measure."""

    target: float
    measure: str
    method: str  # "exact", "multiplicative" or "additive"
    phi: float = 1.0
    tau2: float = 0.0

    def at(self, n: Any, level: float) -> tuple[Any, Any]:
        import numpy as np
        from scipy import stats

        n = np.asarray(n, dtype=float)
        if self.method == "exact":
            if self.measure == "proportion":
                return binomial_limits(n, self.target, level)
            return poisson_limits(n, self.target, level)
        z = stats.norm.ppf(0.5 + level / 2)
        var = self.target * (1 - self.target) / n if self.measure == "proportion" else self.target / n
        if self.method == "multiplicative":
            half = z * np.sqrt(self.phi * var)
        else:
            half = z * np.sqrt(var + self.tau2)
        lower = self.target - half
        upper = self.target + half
        if self.measure == "proportion":
            upper = np.minimum(upper, 1.0)
        return np.maximum(lower, 0.0), upper


def binomial_limits(n: Any, p: float, level: float) -> tuple[Any, Any]:
    """Exact binomial control limits for a proportion: the quantiles ``binom.ppf(q, n, p) / n``
    for q = (1 − level)/2 and (1 + level)/2.

    A unit with r events lies above the upper limit exactly when an exact one-sided binomial test
    gives P(R ≥ r) < (1 − level)/2, and below the lower one when P(R ≤ r) < (1 − level)/2, so
    the picture and the test agree. (Interpolating between whole counts, as some tools do to
    smooth the funnel, would flag units the exact test does not.)
    """
    import numpy as np
    from scipy import stats

    n = np.asarray(n, dtype=float)
    dist = stats.binom(n, p)
    return dist.ppf((1 - level) / 2) / n, dist.ppf((1 + level) / 2) / n


def poisson_limits(exposure: Any, rate: float, level: float) -> tuple[Any, Any]:
    """Exact Poisson control limits for a rate per unit of exposure: ``poisson.ppf(q, E·rate) / E``."""
    import numpy as np
    from scipy import stats

    exposure = np.asarray(exposure, dtype=float)
    dist = stats.poisson(exposure * rate)
    return dist.ppf((1 - level) / 2) / exposure, dist.ppf((1 + level) / 2) / exposure


def overdispersion(z: Any, trim: float) -> float:
    """Spiegelhalter's winsorised estimate of the over-dispersion factor φ: the mean squared
    z-score after the *trim* share at each end is pulled in to the trim quantiles."""
    import numpy as np

    z = np.asarray(z, dtype=float)
    if trim > 0:
        low, high = np.quantile(z, [trim, 1 - trim])
        z = np.clip(z, low, high)
    return float(np.mean(z**2))


def additive_tau2(z: Any, s: Any, phi: float) -> float:
    """Between-unit variance τ² of the additive random-effects method (a DerSimonian–Laird
    moment estimate from the winsorised φ): max(0, (Iφ − (I − 1)) / (Σw − Σw²/Σw)), w = 1/s²."""
    import numpy as np

    w = 1.0 / np.asarray(s, dtype=float) ** 2
    units = len(w)
    denominator = w.sum() - (w**2).sum() / w.sum()
    if denominator <= 0:
        return 0.0
    return max(0.0, (units * phi - (units - 1)) / denominator)


class Benchmark(Step):
    """Funnel plots: each unit's rate against its size, with 95% and 99.8% control limits.

    Units (districts, teams, schools) are compared on a proportion (events out of cases) or a
    rate (events per person-year or resident) with the overall value, or a given target. The
    control limits around the target show how far a unit of each size can stray by chance:
    exact binomial (proportions) or Poisson (rates) quantiles, so small units are judged fairly
    and a unit is outside a limit exactly when a one-sided exact test at that level says so
    (Spiegelhalter 2005, without the interpolation some tools use to smooth the funnel). When units vary more than
    chance allows — the winsorised mean squared z-score φ is tested against a chi-squared
    distribution — the limits can be widened by the multiplicative method (variance × φ) or the
    additive random-effects method (variance + τ²); with overdispersion set to auto, the additive
    method is used when the test finds over-dispersion among twenty or more units (with fewer,
    a few genuinely different units would be absorbed into the spread they stand out from). Units are listed
    alphabetically with their position against the limits, never ranked: a league table orders
    units even when their differences are chance. Units with a zero denominator are left out
    and named, and counts below the disclosure threshold are suppressed before the funnel is drawn.
    """

    name = "benchmark"
    summary = "Compare units on a rate with funnel plots and 95%/99.8% control limits (no league tables)."
    version = "1"
    Params = BenchmarkParams

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.referrals import generate

        frame = generate(400, seed=11).select("district", "rereferred_12m")
        return frame.lazy(), {"unit": "district", "outcome": "rereferred_12m", "outcome_value": "yes"}

    def run(self, frame: Any, params: BenchmarkParams, ctx: StepContext) -> Finding:
        import numpy as np
        import polars as pl

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        if data.height == 0:
            raise StepError("the dataset has no rows", "check the delivery")
        units, r, n, caveats, what, label = _per_unit(data, params)
        ctx.report(0.3, "control limits")
        c = compare(units, r, n, params)
        target, k, phi, chi_p, dispersed, method, tau2, limits = (
            c.target, len(units), c.phi, c.chi_p, c.dispersed, c.method, c.tau2, c.limits
        )
        y, position = c.y, c.position
        total_r, total_n = float(r.sum()), float(n.sum())
        scale = 1.0 if params.measure == "proportion" else params.per
        value_name = "rate" if params.measure == "proportion" else f"rate_per_{params.per:g}"
        limit_cols = ["lower95", "upper95", "lower998", "upper998"]
        units_table = units_table_of(c, params, what, label)
        ctx.report(0.6, "funnel")
        grid = _funnel_grid(n, params.measure)
        g_lo_in, g_hi_in = limits.at(grid, INNER)
        g_lo_out, g_hi_out = limits.at(grid, OUTER)
        funnel = Table(
            pl.DataFrame(
                {
                    "denominator": grid,
                    "target": np.full(len(grid), target * scale),
                    "lower95": g_lo_in * scale,
                    "upper95": g_hi_in * scale,
                    "lower998": g_lo_out * scale,
                    "upper998": g_hi_out * scale,
                }
            ),
            {col: _value_kind(params) for col in ("target", *limit_cols)} | {"denominator": "statistic"},
            title="Funnel control limits",
            description="The target and the 95% and 99.8% limits across denominators (the funnel's lines).",
        )
        chart = Chart(
            f"Funnel plot by {params.unit}",
            "benchmark.funnel",
            "units",
            alt=(
                f"Funnel plot: each {params.unit}'s rate against its size, with the target line and 95% "
                "and 99.8% control limits narrowing as units grow. Units with too few records to "
                "publish are not drawn."
            ),
            options={
                "value": value_name, "unit": params.unit, "measure": params.measure, "per": params.per,
                "xlabel": f"{params.denominator or 'cases'} per {params.unit}",
                "ylabel": params.outcome or params.events or "rate", "method": limits.method,
            },
            also=("funnel",),
        )

        # headlines: every count in a slot, so the gate sees it -------------------------------
        fmt = ".1%" if params.measure == "proportion" else ",.3g"
        total_events, total_cases = _total_counts(params, total_r, total_n, label)
        overall = Value(target * scale, fmt, (total_events, total_cases) if params.target is None else ())
        per = "" if params.measure == "proportion" else f" per {params.per:,g}"
        base = "overall" if params.target is None else "the target"
        if params.target is None and params.measure == "proportion":
            first = say(
                "{k} units ({unit}) compared on {what}; " + base + " {overall} ({r} of {n}).",
                k=Value(k, ",.0f"), unit=params.unit, what=what, overall=overall, r=total_events, n=total_cases,
                fallback=say("{k} units ({unit}) compared on {what}.", k=Value(k, ",.0f"), unit=params.unit, what=what),
            )
        else:
            first = say("{k} units ({unit}) compared on {what}; " + base + " {overall}" + per + ".",
                        k=Value(k, ",.0f"), unit=params.unit, what=what, overall=overall)
        headlines: list[Any] = [first]
        order = sorted(range(k), key=lambda i: units[i])

        def named(i: int, text: str) -> Value:
            # a unit's position rests on its counts: withheld (not named) when they are
            row = {"unit": units[i]}
            return Value(text, sources=(Cell("units", "events", row), Cell("units", "denominator", row)))

        outer = [named(i, f"{units[i]} ({'above' if y[i] > target else 'below'})") for i in order
                 if position[i] in (ABOVE_OUTER, BELOW_OUTER)]
        inner = [named(i, str(units[i])) for i in order if position[i] in (ABOVE_INNER, BELOW_INNER)]
        chance = f"{(1 - OUTER) * k:.2g}"
        if outer:
            headlines.append(say(
                "Outside the 99.8% limits: {units} — further out than chance alone would put a unit "
                "(about {chance} of {k} units would fall outside by chance).",
                units=Items(tuple(outer), "{n} more with too few records to name"), chance=chance, k=f"{k}",
                fallback="Some units lie outside the 99.8% limits, but each has too few records to be named.",
            ))
        else:
            headlines.append("No unit lies outside the 99.8% limits.")
        if inner:
            headlines.append(say(
                "Outside the 95% but within the 99.8% limits: {units} (chance alone would put about "
                "{chance} of {k} units outside the 95% limits; a warning to look at, not a finding).",
                units=Items(tuple(inner), "{n} more with too few records to name"), chance=f"{0.05 * k:.1f}", k=f"{k}",
                fallback="Some units lie outside the 95% limits, but each has too few records to be named.",
            ))
        if method == "additive":
            headlines.append(
                f"Units vary more than chance allows (over-dispersion φ = {phi:.2f}, p = {chi_p:.2g}), "
                f"so the limits include the between-unit spread (additive random effects, τ = "
                f"{math.sqrt(tau2) * scale:.3g}{'' if params.measure == 'proportion' else ' per ' + format(params.per, ',g')}): "
                "flagged units stand out beyond the usual variation."
            )
        elif method == "multiplicative":
            headlines.append(f"The limits are widened by the over-dispersion factor φ = {phi:.2f} (multiplicative method).")
        elif dispersed:
            why = (
                f"with only {k} units the spread cannot be estimated apart from the units that stand out, "
                "so the exact limits are kept"
                if params.overdispersion == "auto"
                else "with overdispersion set to none the exact limits are kept"
            )
            headlines.append(
                f"Units vary more than chance alone allows (over-dispersion φ = {phi:.2f}, p = "
                f"{chi_p:.2g}); {why}: some of the units flagged may differ for reasons shared by "
                "many units (such as case-mix)."
            )
        caveats.append(
            "A funnel plot compares like with like only if the units serve similar people: "
            "differences in need or case-mix are not adjusted for, and a unit outside the limits "
            "is a question to ask, not a verdict on its performance."
        )
        metrics = {
            "units": float(k),
            "target": overall,
            "outside_998": float(len(outer)),
            "outside_95_only": float(len(inner)),
            "phi": phi,
            "overdispersion_p": chi_p,
            "tau2": float(tau2),
        }
        ctx.report(1.0, "done")
        return Finding(
            step=self.name,
            title="How units compare",
            headlines=headlines,
            method=self.method_text()
            + f" Limits used: {method}{'' if method == 'exact' else ' (normal approximation around the target)'}.",
            tables={"units": units_table, "funnel": funnel},
            figures={"funnel": chart},
            metrics=metrics,
            caveats=caveats,
            params=params.model_dump(),
        )


def _total_counts(params: BenchmarkParams, total_r: float, total_n: float, label: str | None) -> tuple[Count, Count]:
    """The overall events and cases as the gate keys them (the units table's totals)."""
    keys = _count_keys(params, label)
    return (
        Count(total_r, {params.unit: RECORDED, **keys["events"]}),
        Count(total_n, {params.unit: RECORDED, **keys["denominator"]}),
    )


@dataclass
class Comparison:
    """Units against the target: rates, z-scores, over-dispersion, limits and positions."""

    units: list[str]
    r: Any
    n: Any
    y: Any
    z: Any
    target: float
    phi: float
    chi_p: float
    dispersed: bool
    method: str
    tau2: float
    limits: Limits
    lower: dict[float, Any]
    upper: dict[float, Any]
    position: Any


def compare(units: list[str], r: Any, n: Any, params: BenchmarkParams) -> Comparison:
    """Compare each unit's events *r* out of *n* with the target, allowing for chance."""
    import numpy as np
    from scipy import stats

    total_r, total_n = float(r.sum()), float(n.sum())
    target = params.target if params.target is not None else total_r / total_n
    if params.measure == "proportion" and target > 1:
        raise StepError(f"target {target} is not a proportion", "give a target between 0 and 1")
    if target <= 0 or (params.measure == "proportion" and target >= 1):
        raise StepError(
            f"the {'target' if params.target is not None else 'overall rate'} is {target:g}, "
            "so no unit can differ from it by chance",
            "choose an outcome that happens in some but not all cases, or set target",
        )
    y = r / n
    s = np.sqrt(target * (1 - target) / n) if params.measure == "proportion" else np.sqrt(target / n)
    z = (y - target) / s
    k = len(units)
    phi = overdispersion(z, params.trim)
    chi_p = float(stats.chi2.sf(k * phi, k - 1)) if k > 1 else 1.0
    dispersed = chi_p < 0.05
    enough = k >= MIN_UNITS_FOR_DISPERSION
    method = {"none": "exact", "multiplicative": "multiplicative", "additive": "additive"}.get(
        params.overdispersion, "additive" if dispersed and enough else "exact"
    )
    tau2 = additive_tau2(z, s, phi) if method == "additive" else 0.0
    limits = Limits(target=target, measure=params.measure, method=method, phi=phi, tau2=tau2)
    lower, upper = {}, {}
    for level in (INNER, OUTER):
        lower[level], upper[level] = limits.at(n, level)
    position = np.full(k, WITHIN, dtype=object)
    position[y < lower[INNER]] = BELOW_INNER
    position[y > upper[INNER]] = ABOVE_INNER
    position[y < lower[OUTER]] = BELOW_OUTER
    position[y > upper[OUTER]] = ABOVE_OUTER
    return Comparison(units, r, n, y, z, target, phi, chi_p, dispersed, method, tau2, limits, lower, upper, position)


def _value_kind(params: BenchmarkParams) -> str:
    return "rate" if params.measure == "proportion" else "statistic"


def units_table_of(c: Comparison, params: BenchmarkParams, what: str, label: str | None = None) -> Table:
    """The units table, alphabetical, every column with its kind (before disclosure control)."""
    import numpy as np
    import polars as pl

    scale = 1.0 if params.measure == "proportion" else params.per
    value_kind = _value_kind(params)
    value_name = "rate" if params.measure == "proportion" else f"rate_per_{params.per:g}"
    order = np.argsort(np.array(c.units, dtype=object), kind="stable")
    whole = params.measure == "proportion" or _whole(c.n)
    frame = pl.DataFrame(
        {
            "position": c.position[order].tolist(),
            "unit": [c.units[i] for i in order],
            "events": np.rint(c.r[order]).astype(np.int64),
            "denominator": np.rint(c.n[order]).astype(np.int64) if whole else c.n[order],
            value_name: c.y[order] * scale,
            "z": c.z[order],
            "lower95": c.lower[INNER][order] * scale,
            "upper95": c.upper[INNER][order] * scale,
            "lower998": c.lower[OUTER][order] * scale,
            "upper998": c.upper[OUTER][order] * scale,
        },
        schema_overrides={"position": pl.String, "unit": pl.String},
    )
    limit_cols = ["lower95", "upper95", "lower998", "upper998"]
    return Table(
        frame,
        {
            "position": "label",
            "unit": "label",
            "events": "count",
            "denominator": "count",
            value_name: value_kind,
            "z": "statistic",
            **{col: value_kind for col in limit_cols},
        },
        title=f"Units against the control limits ({params.unit})",
        description=(
            f"Each unit's {what}, its z-score against the target, and the 95% and 99.8% "
            "limits for a unit of its size; alphabetical, not ranked."
        ),
        denominators={
            value_name: ["events", "denominator"],
            "z": ["events", "denominator"],
            "position": ["events", "denominator"],
            **{col: "denominator" for col in limit_cols},
        },
        dimensions=["unit"],
        keys=Keys(variables={"unit": params.unit, "position": None}, counts=_count_keys(params, label)),
    )


def _count_keys(params: BenchmarkParams, label: str | None) -> dict[str, dict[str, Any]]:
    if params.outcome:
        return {"events": {params.outcome: label}, "denominator": {params.outcome: RECORDED}}
    return {"events": {"sum of": params.events}, "denominator": {"sum of": params.denominator}}


def _whole(values: Any) -> bool:
    import numpy as np

    return bool(np.all(np.equal(np.mod(values, 1), 0)))


def _per_unit(data: Any, params: BenchmarkParams) -> tuple[list[str], Any, Any, list[str], str, str | None]:
    import polars as pl

    from expedition.steps._columns import binary_outcome

    columns = data.columns
    for param in ("unit", "outcome", "events", "denominator"):
        require_columns(columns, [getattr(params, param)], param=param, step="benchmark")
    caveats: list[str] = []
    label: str | None = None
    if params.outcome and (params.events or params.denominator):
        raise StepError("give either outcome, or events and denominator — not both", "remove one of them")
    unit = data[params.unit].cast(pl.String)
    if unit.is_null().any():
        caveats.append(f"{int(unit.is_null().sum()):,} rows have no {params.unit} and are left out.")
    if params.outcome:
        if params.measure != "proportion":
            raise StepError("an outcome gives a proportion", "set measure: proportion, or use events and denominator")
        outcome, label = binary_outcome(data[params.outcome], params.outcome_value, params.outcome)
        if outcome.is_null().any():
            caveats.append(f"{int(outcome.is_null().sum()):,} rows have no {params.outcome} and are left out.")
        work = pl.DataFrame({"unit": unit, "r": outcome.cast(pl.Float64)}).drop_nulls()
        grouped = work.group_by("unit").agg(pl.col("r").sum(), pl.len().cast(pl.Float64).alias("n"))
        what = f"the share with {params.outcome} = {label}"
    else:
        if not (params.events and params.denominator):
            raise StepError(
                "benchmark needs an outcome column, or events and denominator columns",
                "set outcome (a yes/no column), or events and denominator",
            )
        r = data[params.events].cast(pl.Float64, strict=False)
        n = data[params.denominator].cast(pl.Float64, strict=False)
        work = pl.DataFrame({"unit": unit, "r": r, "n": n})
        bad = work.filter(pl.col("r").is_null() | pl.col("n").is_null())
        if bad.height:
            caveats.append(f"{bad.height:,} rows have no number for {params.events} or {params.denominator} and are left out.")
        work = work.drop_nulls()
        negative = work.filter((pl.col("r") < 0) | (pl.col("n") < 0))
        if negative.height:
            raise StepError(
                f"negative values in {params.events} or {params.denominator} "
                f"(units: {', '.join(sorted(set(negative['unit'].drop_nulls().to_list()))[:5])})",
                "counts and denominators must be zero or more",
            )
        grouped = work.group_by("unit").agg(pl.col("r").sum(), pl.col("n").sum())
        what = (
            f"{params.events} out of {params.denominator}"
            if params.measure == "proportion"
            else f"{params.events} per {params.per:,g} {params.denominator}"
        )
        if params.measure == "proportion":
            over = grouped.filter(pl.col("r") > pl.col("n"))
            if over.height:
                raise StepError(
                    f"{params.events} exceeds {params.denominator} for "
                    f"{', '.join(sorted(over['unit'].to_list())[:5])}",
                    "a proportion needs events ≤ denominator; use measure: rate for events per exposure",
                )
            if not (_whole(grouped["r"].to_numpy()) and _whole(grouped["n"].to_numpy())):
                raise StepError(
                    "a proportion needs whole-number events and denominators",
                    "use measure: rate for events per exposure (e.g. per 1,000 residents)",
                )
    grouped = grouped.sort("unit")
    zero = grouped.filter(pl.col("n") <= 0)
    if zero.height:
        named = ", ".join(zero["unit"].to_list()[:8]) + (" …" if zero.height > 8 else "")
        caveats.append(f"{zero.height} unit(s) with a zero denominator are left out: {named}.")
        grouped = grouped.filter(pl.col("n") > 0)
    if grouped.height < 2:
        raise StepError(
            f"{grouped.height} unit(s) with a denominator above zero; a comparison needs two or more",
            f"check {params.unit} and the denominators",
        )
    return (
        grouped["unit"].to_list(),
        grouped["r"].to_numpy().astype(float),
        grouped["n"].to_numpy().astype(float),
        caveats,
        what,
        label,
    )


def _funnel_grid(n: Any, measure: str) -> Any:
    import numpy as np

    low = max(float(n.min()) * 0.8, 1.0)
    high = float(n.max()) * 1.1
    grid = np.geomspace(low, max(high, low + 1), 200)
    if measure == "proportion":
        grid = np.unique(np.ceil(grid))
    return grid


@drawing("benchmark.funnel")
def draw_funnel(d: Drawing) -> Any:
    """Units as points against the funnel's limit lines; units whose counts are suppressed
    cannot be placed, so they are counted in a note instead of drawn."""
    import polars as pl

    o = d.options
    value = o["value"]
    fig, ax = new_figure(7.0, 4.6)
    f = d.tables["funnel"].frame
    x = f["denominator"].to_list()
    ax.plot(x, f["target"].to_list(), color="#333333", lw=1.0, label="target")
    steps = {"drawstyle": "steps-post"}  # exact limits move in whole counts
    ax.plot(x, f["lower95"].to_list(), color="#888888", lw=0.9, ls="--", label="95% limits", **steps)
    ax.plot(x, f["upper95"].to_list(), color="#888888", lw=0.9, ls="--", **steps)
    ax.plot(x, f["lower998"].to_list(), color="#444444", lw=1.0, label="99.8% limits", **steps)
    ax.plot(x, f["upper998"].to_list(), color="#444444", lw=1.0, **steps)
    units = d.frame
    frame = units.filter(pl.col(value).is_not_null() & pl.col("denominator").is_not_null()
                         & pl.col("position").is_not_null())
    for position, colour in POSITION_COLOURS.items():
        part = frame.filter(pl.col("position") == position)
        if part.height:
            ax.scatter(part["denominator"].to_list(), part[value].to_list(), s=22, color=colour, label=position, zorder=3)
    outside = frame.filter(pl.col("position").is_in([ABOVE_OUTER, BELOW_OUTER]))
    if outside.height <= 15:
        for unit, xv, yv in outside.select("unit", "denominator", value).iter_rows():
            ax.annotate(str(unit)[:20], (xv, yv), xytext=(4, 3), textcoords="offset points", fontsize=7)
    missing = units.height - frame.height
    if missing:
        ax.text(0.01, 0.98, f"{missing} unit(s) not drawn: their counts are suppressed ({d.rules.symbol})",
                transform=ax.transAxes, va="top", fontsize=7, color="#555555")
    if float(max(x)) / max(float(min(x)), 1.0) > 50:
        ax.set_xscale("log")
    ax.set_xlabel(o["xlabel"])
    if o["measure"] == "proportion":
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_ylabel(o["ylabel"])
    else:
        ax.set_ylabel(f"per {o['per']:,g}")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"Funnel plot by {o['unit']}" + ("" if o["method"] == "exact" else f" ({o['method']} over-dispersion)"))
    return fig
