"""`evaluate`: did a change work? Difference-in-differences and interrupted time series."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from datetime import date as _Date
from typing import Any, Literal

from pydantic import Field, model_validator

from expedition.errors import StepError
from expedition.steps import (
    Chart,
    Count,
    Finding,
    Keys,
    Step,
    StepContext,
    StepParams,
    Table,
    Value,
    require_columns,
    say,
)
from expedition.steps._plot import PALETTE, Drawing, drawing, mark_suppressed_spans, suppressed_patch
from expedition.steps._text import fmt_num, fmt_p

LEVEL = 0.95
#: the fewest periods an interrupted time series needs before and after the change
MIN_PRE, MIN_POST = 6, 3
#: Fourier pairs used for weekly seasonality (52 dummies would swamp a few years of weeks)
WEEK_HARMONICS = 3
EFFECT_COLUMNS = ("estimate", "std_error", "ci_low", "ci_high", "p_value", "relative_change")
#: the relative change's 95% interval, beside the columns the issue names
RELATIVE_CI = ("relative_ci_low", "relative_ci_high")

YAML_EXAMPLE = """\
steps:
  - id: did-incinerator        # difference-in-differences
    step: evaluate
    dataset: houses
    params:
      method: did
      outcome: rprice
      treated: nearinc         # yes/no column, or {district: North}
      post: y81                # yes/no column, or date: and start:
      covariates: [age, area]
      cluster: nbh             # cluster-robust standard errors
  - id: its-triage             # interrupted time series
    step: evaluate
    dataset: demand
    where: "unit = 'West Essex'"
    params:
      method: its
      outcome: demand          # leave out to count rows per period
      date: month
      start: "2023-04"         # the first period after the change
      frequency: month
      log: true                # effects as percentage changes"""


class EvaluateParams(StepParams):
    method: Literal["did", "its"] = Field(
        description="did: difference-in-differences (treated against comparison, before and after); "
        "its: interrupted time series (one series, before and after)",
    )
    outcome: str | None = Field(
        None,
        description="the outcome column (did: required; its: a count or value per row, summed or "
        "averaged per period — leave out to count rows, i.e. events, per period)",
    )
    treated: str | dict[str, Any] | None = Field(
        None,
        description="did: a yes/no column marking the treated group, or {column: value} (or a list "
        "of values) naming the treated values of a column, e.g. {district: North}",
    )
    post: str | None = Field(
        None, description="did: a yes/no column marking rows after the change (or give date and start)"
    )
    date: str | None = Field(
        None, description="the date (or period) of each row: its periods for its, and for did the periods of the "
        "group-and-period fixed effects and the event study",
    )
    start: str | _Date | None = Field(
        None, description='when the change took effect, e.g. "2023-04" (the first period after it)'
    )
    covariates: list[str] = Field(default_factory=list, description="did: numeric columns to adjust for")
    cluster: str | None = Field(
        None, description="did: a column of clusters (areas, people) for cluster-robust standard errors"
    )
    frequency: Literal["week", "month", "quarter"] = Field(
        "month", description="periods of the date: week, month or quarter"
    )
    aggregate: Literal["sum", "mean"] = Field(
        "sum", description="its: how the outcome's rows are combined per period (sum for counts, mean for values)"
    )
    seasonality: bool = Field(
        True, description="its: period-of-year terms (months or quarters; Fourier terms for weeks) when the "
        "series covers two years",
    )
    log: bool = Field(
        False, description="model the logarithm of the outcome, so effects are percentage changes "
        "(its; did with a positive outcome)",
    )

    @model_validator(mode="after")
    def _design(self) -> EvaluateParams:
        if self.method == "did":
            if self.outcome is None:
                raise ValueError("did needs outcome: the column the change should move")
            if self.treated is None:
                raise ValueError("did needs treated: a yes/no column, or {column: value}")
            if isinstance(self.treated, dict) and len(self.treated) != 1:
                raise ValueError("treated as a mapping names one column, e.g. {district: North}")
            if self.post is None and (self.date is None or self.start is None):
                raise ValueError("did needs post (a yes/no column) or date and start")
        else:
            if self.date is None or self.start is None:
                raise ValueError("its needs date (each row's date or period) and start (when the change took effect)")
            unused = [p for p in ("treated", "post", "cluster") if getattr(self, p) is not None]
            if unused or self.covariates:
                raise ValueError(f"{', '.join(unused + (['covariates'] if self.covariates else []))} "
                                 "apply to did only; leave them out for its")
        return self


class Evaluate(Step):
    """Did a change work: difference-in-differences or an interrupted time series, with checks.

    Difference-in-differences (``method: did``) compares the treated group's change in the outcome
    from before to after with the comparison group's change over the same time, by ordinary
    least squares (statsmodels): with a yes/no ``post`` column and no dates, outcome ~ treated +
    post + treated×post (+ covariates), the textbook two-period model; with ``date`` and ``start``,
    group and period fixed effects (the treated column's groups, each period) and the
    treated×after term, plus an event study — the treated-comparison gap in each period relative
    to the last period before the change — whose leads (the periods before) are tested jointly as
    the check of parallel pre-trends. Standard errors are the classical ones, or cluster-robust
    with ``cluster``. Interrupted time series (``method: its``) counts events (or sums or
    averages the outcome) per week, month or quarter and fits a segmented regression — a trend,
    period-of-year terms, and a change of level and of trend at ``start`` — with
    heteroskedasticity- and autocorrelation-consistent (Newey–West HAC) standard errors; a
    structural time-series model (statsmodels UnobservedComponents: a local level, seasonal terms
    and a level shift at ``start``, fitted by maximum likelihood) is the second view. The
    counterfactual is the segmented model without the change. With ``log``, the outcome's
    logarithm is modelled and effects are percentage changes; otherwise the relative change is
    the estimate over what the model expects without the change. Published counts (rows per
    group and period, events per period) pass the disclosure gate like every other count, and the
    means and fitted values resting on a suppressed count are suppressed with it.
    """

    name = "evaluate"
    summary = "Did a change work: difference-in-differences or interrupted time series, with checks."
    version = "1"
    Params = EvaluateParams
    yaml_example = YAML_EXAMPLE
    outputs = {
        "effects": "the estimated effect of the change per method: method, estimate, std_error, "
        "ci_low, ci_high, p_value, relative_change",
        "checks": "assumption checks and their results (parallel pre-trends, autocorrelation, periods, clusters)",
        "groups": "did: rows and the outcome's mean per group (treated, comparison) and period",
        "event_study": "did with dates: the treated-comparison gap per period relative to the change, with 95% CIs",
        "series": "its: the outcome per period, the fitted series, the counterfactual and the structural model's counterfactual",
        "figure trends": "did: the outcome's mean per period for each group, and the event study",
        "figure series": "its: the observed series with the fitted series and the counterfactual beside it",
    }

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.demand import generate

        frame = generate(seed=7)
        return frame.lazy(), {
            "method": "did", "outcome": "demand", "treated": {"unit": "West Essex"},
            "date": "month", "start": "2023-04", "cluster": "unit", "log": True,
        }

    def run(self, frame: Any, params: EvaluateParams, ctx: StepContext) -> Finding:
        import polars as pl

        lazy = frame if isinstance(frame, pl.LazyFrame) else frame.lazy()
        columns = lazy.collect_schema().names()
        wanted = {
            "outcome": [params.outcome], "post": [params.post], "date": [params.date],
            "cluster": [params.cluster], "covariates": params.covariates,
            "treated": [params.treated if isinstance(params.treated, str) else
                        next(iter(params.treated)) if params.treated else None],
        }
        for param, named in wanted.items():
            require_columns(columns, named, param=param, step="evaluate")
        used = list(dict.fromkeys(c for named in wanted.values() for c in named if c is not None))
        data = lazy.select(used).collect()  # only the columns the model uses
        if data.height == 0:
            raise StepError("step 'evaluate': the dataset has no rows", "check the delivery and any where: condition")
        if params.method == "did":
            return _did(self, data, params, ctx)
        return _its(self, data, params, ctx)


# --------------------------------------------------------------------------- shared


@dataclass
class Effect:
    method: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    relative_change: float
    rel_low: float = math.nan
    rel_high: float = math.nan


@dataclass
class Check:
    check: str
    result: str
    statistic: float = math.nan
    p_value: float = math.nan
    passed: str = "n/a"


def _yes_no(series: Any, name: str, param: str) -> Any:
    """A boolean series from a yes/no column (true/false, 1/0, yes/no, y/n)."""
    import polars as pl

    from expedition.vocabulary import FALSE_WORDS, TRUE_WORDS

    if series.dtype == pl.Boolean:
        return series
    text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
    text = text.str.replace(r"^(-?\d+)\.0+$", "$1")
    values = set(text.drop_nulls().unique().to_list())
    if not values <= set(TRUE_WORDS) | set(FALSE_WORDS):
        shown = ", ".join(sorted(values)[:8])
        raise StepError(
            f"step 'evaluate': parameter {param!r} names column {name!r}, which is not yes/no (values: {shown})",
            f"give {param} as a yes/no column" + (
                f", or name the treated values: treated: {{{name}: {sorted(values)[0]!r}}}" if param == "treated" else
                ", or give date and start instead"),
        )
    return pl.select(pl.when(text.is_null()).then(None).otherwise(text.is_in(list(TRUE_WORDS)))
                     .alias(name)).to_series()


def _numeric(series: Any, name: str, param: str) -> Any:
    import polars as pl

    if series.dtype == pl.Boolean:
        return series.cast(pl.Float64)
    values = series.cast(pl.Float64, strict=False)
    if values.is_null().sum() > series.is_null().sum():
        raise StepError(
            f"step 'evaluate': parameter {param!r} names column {name!r}, which is not numeric",
            "choose a numeric column (a count, amount or 0/1 flag)",
        )
    return values


def _periods(data: Any, params: EvaluateParams) -> Any:

    from expedition.steps import _time

    dates = _time.to_dates(data[params.date])
    if dates.is_null().all():
        raise StepError(
            f"step 'evaluate': no value of {params.date} could be read as a date",
            "dates must look like 2024-03-31, 31/03/2024 or (for months) 2024-03",
        )
    return _time.period_start(dates, params.frequency).alias("__period")


def _start(params: EvaluateParams, periods: Any) -> date:
    from expedition.steps import _time

    start = _time.parse_period(params.start, params.frequency, where="step 'evaluate': parameter 'start'")
    first, last = periods.min(), periods.max()
    if not (first < start <= last):
        raise StepError(
            f"step 'evaluate': start {_time.label(start, params.frequency)} is outside the data "
            f"({_time.label(first, params.frequency)} to {_time.label(last, params.frequency)})",
            "set start to the first period after the change, with periods of data before and after it",
        )
    return start


def _interval(estimate: float, se: float, df: float | None) -> tuple[float, float]:
    from scipy import stats

    q = stats.t.ppf(0.5 + LEVEL / 2, df) if df else stats.norm.ppf(0.5 + LEVEL / 2)
    return estimate - q * se, estimate + q * se


def _effect(method: str, fit: Any, i: int, *, log: bool, baseline: float | None) -> Effect:
    """The effect in column *i* of a statsmodels fit; relative to *baseline* on the level scale."""
    estimate, se, p = float(fit.params[i]), float(fit.bse[i]), float(fit.pvalues[i])
    low, high = (float(v) for v in fit.conf_int(alpha=1 - LEVEL)[i])
    if log:
        rel, rlo, rhi = math.expm1(estimate), math.expm1(low), math.expm1(high)
    elif baseline:
        rel, rlo, rhi = estimate / baseline, low / baseline, high / baseline
    else:
        rel = rlo = rhi = math.nan
    return Effect(method, estimate, se, low, high, p, rel, rlo, rhi)


def _effects_table(effects: list[Effect], outcome: str, log: bool) -> Table:
    import polars as pl

    frame = pl.DataFrame(
        {
            "method": [e.method for e in effects],
            **{c: [float(getattr(e, c)) for e in effects] for c in EFFECT_COLUMNS},
            "relative_ci_low": [float(min(e.rel_low, e.rel_high)) for e in effects],
            "relative_ci_high": [float(max(e.rel_low, e.rel_high)) for e in effects],
        },
        schema={"method": pl.String, **{c: pl.Float64 for c in EFFECT_COLUMNS + RELATIVE_CI}},
    ).with_columns(pl.col(EFFECT_COLUMNS + RELATIVE_CI).fill_nan(None))
    scale = f"log {outcome}" if log else outcome
    return Table(
        frame,
        {"method": "label", **{c: "statistic" for c in EFFECT_COLUMNS + RELATIVE_CI}},
        title="Estimated effect of the change",
        description=(
            f"The change's effect on {scale} by each method, with its standard error, 95% "
            "confidence interval and p-value; relative_change is the effect as a share of what "
            "was expected without the change" + (" (exp(estimate) − 1)" if log else "")
            + ", with its 95% interval (relative_ci_low, relative_ci_high)."
        ),
    )


def _checks_table(checks: list[Check]) -> Table:
    import polars as pl

    frame = pl.DataFrame(
        {
            "check": [c.check for c in checks],
            "statistic": [c.statistic for c in checks],
            "p_value": [c.p_value for c in checks],
            "passed": [c.passed for c in checks],
            "result": [c.result for c in checks],
        },
        schema={"check": pl.String, "statistic": pl.Float64, "p_value": pl.Float64, "passed": pl.String,
                "result": pl.String},
    ).with_columns(pl.col("statistic", "p_value").fill_nan(None))
    return Table(
        frame,
        {"check": "label", "statistic": "statistic", "p_value": "statistic", "passed": "label", "result": "text"},
        title="Assumption checks",
        description="What the design assumes, how it was checked and the result.",
    )


def _change_sentence(e: Effect, subject: str, *, beyond: str, log: bool, outcome: str) -> Any:
    """'After the change, X fell by 21% (95% CI 17% to 25%; p < 0.001), beyond what ... predicted.'"""
    moved = "fell" if e.estimate < 0 else "rose"
    slots: dict[str, Any] = {"subject": subject, "moved": moved, "beyond": beyond, "p": fmt_p(e.p_value)}
    if math.isfinite(e.relative_change):
        lo, hi = sorted((e.rel_low, e.rel_high), key=lambda v: v if e.estimate >= 0 else -v)
        # whole percentages, or one decimal when the largest of them is under 10%
        pct = ".0%" if max(abs(e.relative_change), abs(lo), abs(hi)) >= 0.095 else ".1%"
        slots.update(rel=Value(abs(e.relative_change), pct), lo=Value(abs(lo), pct), hi=Value(abs(hi), pct))
        if (lo < 0) != (hi < 0):
            template = ("After the change, {subject} {moved} by {rel} (95% CI from a {rise} of {lo_abs} to a {fall} "
                        "of {hi_abs}; {p}), {beyond}.")
            slots.pop("lo"), slots.pop("hi")
            rise, fall = ("fall", "rise") if e.estimate >= 0 else ("rise", "fall")
            slots.update(rise=rise, fall=fall, lo_abs=Value(abs(lo), pct), hi_abs=Value(abs(hi), pct))
        else:
            template = "After the change, {subject} {moved} by {rel} (95% CI {lo} to {hi}; {p}), {beyond}."
    else:
        slots.update(est=Value(abs(e.estimate), ",.4g"), lo=Value(e.ci_low, ",.4g"), hi=Value(e.ci_high, ",.4g"))
        template = "After the change, {subject} {moved} by {est} (95% CI {lo} to {hi}; {p}), {beyond}."
    return say(template, **slots)


# --------------------------------------------------------------------------- difference-in-differences


@dataclass
class DidData:
    y: Any
    treated: Any  # bool numpy
    post: Any  # bool numpy
    group: Any  # group labels (numpy str): the treated column's groups
    period: Any | None  # Date values (numpy) or None for two periods from post
    covariates: Any  # 2-D float numpy
    cluster: Any | None
    treated_name: str
    post_name: str
    dropped: int
    start: date | None = None
    caveats: list[Any] = field(default_factory=list)


def _did_data(data: Any, params: EvaluateParams) -> DidData:
    import numpy as np
    import polars as pl

    caveats: list[Any] = []
    y = _numeric(data[params.outcome], params.outcome, "outcome")
    if isinstance(params.treated, dict):
        column, wanted = next(iter(params.treated.items()))
        values = wanted if isinstance(wanted, list) else [wanted]
        text = data[column].cast(pl.String)
        present = set(text.drop_nulls().unique().to_list())
        missing = [str(v) for v in values if str(v) not in present]
        if missing:
            raise StepError(
                f"step 'evaluate': treated value(s) {', '.join(repr(m) for m in missing)} do not occur in column {column!r}",
                f"the values are: {', '.join(sorted(present)[:20])}",
            )
        treated = text.is_in([str(v) for v in values])
        treated = pl.select(pl.when(text.is_null()).then(None).otherwise(treated)).to_series()
        group = text
        treated_name = f"{column}: {', '.join(str(v) for v in values)}"
    else:
        column = params.treated
        treated = _yes_no(data[column], column, "treated")
        group = pl.select(pl.when(treated).then(pl.lit("treated")).otherwise(pl.lit("comparison"))).to_series()
        treated_name = column
    period = None
    start = None
    if params.date:
        period = _periods(data, params)
    if params.post:
        post = _yes_no(data[params.post], params.post, "post")
        post_name = params.post
    else:
        start = _start(params, period.drop_nulls())
        post = pl.select(pl.when(period.is_null()).then(None).otherwise(period >= start)).to_series()
        post_name = f"{params.date} from {params.start}"
    columns = {"__y": y, "__treated": treated, "__post": post, "__group": group}
    if period is not None:
        columns["__period"] = period
    for i, c in enumerate(params.covariates):
        columns[f"__x{i}"] = _numeric(data[c], c, "covariates")
    if params.cluster:
        columns["__cluster"] = data[params.cluster].cast(pl.String)
    work = pl.DataFrame(columns)
    complete = work.drop_nulls()
    if params.log:
        if (complete["__y"] <= 0).any():
            raise StepError(
                f"step 'evaluate': log is set but {params.outcome} has values of zero or less",
                "leave log out, or choose a positive outcome",
            )
    dropped = work.height - complete.height
    # one order whatever the rows' order, so results do not depend on it
    complete = complete.sort(complete.columns)
    cells = complete.group_by("__treated", "__post").len()
    if cells.height < 4:
        have = {(t, p) for t, p in cells.select("__treated", "__post").iter_rows()}
        lacking = [f"{'treated' if t else 'comparison'} {'after' if p else 'before'}"
                   for t in (True, False) for p in (False, True) if (t, p) not in have]
        raise StepError(
            f"step 'evaluate': there are no rows for the {' and '.join(lacking)} the change",
            "difference-in-differences needs treated and comparison rows both before and after; "
            "check treated, post (or date and start) and any where: condition",
        )
    return DidData(
        y=complete["__y"].to_numpy().astype(float),
        treated=complete["__treated"].to_numpy().astype(bool),
        post=complete["__post"].to_numpy().astype(bool),
        group=complete["__group"].to_numpy(),
        period=complete["__period"].to_numpy() if period is not None else None,
        covariates=(np.column_stack([complete[f"__x{i}"].to_numpy().astype(float) for i in range(len(params.covariates))])
                    if params.covariates else np.empty((complete.height, 0))),
        cluster=complete["__cluster"].to_numpy() if params.cluster else None,
        treated_name=treated_name,
        post_name=post_name,
        dropped=dropped,
        start=start,
        caveats=caveats,
    )


def _dummies(values: Any, drop_first: bool = True) -> tuple[Any, list[Any]]:
    """Indicator columns of each distinct value (the first left out), and the values."""
    import numpy as np

    levels, codes = np.unique(values, return_inverse=True)
    matrix = np.zeros((len(values), len(levels)), dtype=float)
    matrix[np.arange(len(values)), codes] = 1.0
    return (matrix[:, 1:], list(levels[1:])) if drop_first else (matrix, list(levels))


def did_design(d: DidData) -> tuple[Any, list[str]]:
    """The design matrix of the difference-in-differences model and its column names.

    Two periods from a post column: const, treated, post, treated×post (+ covariates), the
    textbook model. With periods: const, treated×post, group and period fixed effects
    (+ covariates)."""
    import numpy as np

    n = len(d.y)
    did = (d.treated & d.post).astype(float)
    if d.period is None:
        columns = [np.ones(n), d.treated.astype(float), d.post.astype(float), did]
        names = ["const", "treated", "post", "treated x post"]
    else:
        columns = [np.ones(n), did]
        names = ["const", "treated x post"]
        groups, glevels = _dummies(d.group)
        periods, plevels = _dummies(d.period)
        columns += [groups[:, j] for j in range(groups.shape[1])] + [periods[:, j] for j in range(periods.shape[1])]
        names += [f"group {g}" for g in glevels] + [f"period {p}" for p in plevels]
    columns += [d.covariates[:, j] for j in range(d.covariates.shape[1])]
    return np.column_stack(columns), names


def _fit(y: Any, X: Any, cluster: Any | None) -> Any:
    import numpy as np
    import statsmodels.api as sm

    model = sm.OLS(y, X, hasconst=True)  # the design always has its constant (skips a costly check)
    if cluster is not None:
        _, codes = np.unique(cluster, return_inverse=True)
        return model.fit(cov_type="cluster", cov_kwds={"groups": codes})
    return model.fit()


def _did(step: Evaluate, data: Any, params: EvaluateParams, ctx: StepContext) -> Finding:
    import numpy as np


    d = _did_data(data, params)
    ctx.report(0.2, "fitting the difference-in-differences model")
    y = np.log(d.y) if params.log else d.y
    X, names = did_design(d)
    _drop_collinear_covariates(X, names, params)
    fit = _fit(y, X, d.cluster)
    i = names.index("treated x post")
    treated_after = d.treated & d.post
    baseline = float(np.mean(d.y[treated_after])) - float(fit.params[i]) if not params.log else None
    effect = _effect("difference-in-differences", fit, i, log=params.log, baseline=baseline)
    effects = [effect]
    checks: list[Check] = []
    event = None
    if d.period is not None:
        ctx.report(0.5, "event study of the periods around the change")
        event, check = _event_study(d, y, params)
        checks.append(check)
    clusters = len(np.unique(d.cluster)) if d.cluster is not None else None
    checks.append(_balance_check(d))
    if clusters is not None:
        # the number is given only when large: a few clusters may be a few people
        checks.append(Check(
            "clusters", f"{clusters} clusters of {params.cluster}" if clusters >= 30 else
            f"fewer than 30 clusters of {params.cluster}, so cluster-robust standard errors may be too small",
            float(clusters) if clusters >= 30 else math.nan, passed="yes" if clusters >= 30 else "no",
        ))
    tables = {
        "effects": _effects_table(effects, params.outcome, params.log),
        "checks": _checks_table(checks),
        "groups": _groups_table(d, params),
    }
    figures: dict[str, Chart] = {}
    if event is not None:
        tables["event_study"] = event
        figures["trends"] = Chart(
            "Trends of the treated and comparison groups",
            "evaluate.trends",
            "groups",
            alt=(f"Left: the mean of {params.outcome} per {params.frequency} for the treated and comparison "
                 "groups, the change marked by a vertical line. Right: the event study — the gap between "
                 "the groups in each period relative to the last period before the change, with 95% "
                 "confidence intervals; before the change the gaps should sit around zero."),
            options={"start": d.start.isoformat() if d.start else None, "outcome": params.outcome,
                     "frequency": params.frequency, "log": params.log},
            also=("event_study",),
        )
    subject = f"{params.outcome} in the treated group ({d.treated_name})"
    headlines: list[Any] = [_change_sentence(
        effect, subject, beyond="beyond the change in the comparison group", log=params.log, outcome=params.outcome)]
    if not params.log and math.isfinite(effect.relative_change):
        headlines.append(say(
            "That is a difference-in-differences of {est} (95% CI {lo} to {hi}) in {outcome}.",
            est=Value(effect.estimate, ",.4g"), lo=Value(effect.ci_low, ",.4g"), hi=Value(effect.ci_high, ",.4g"),
            outcome=params.outcome,
        ))
    headlines.append(_verdict(effect))
    caveats: list[Any] = list(d.caveats)
    if d.dropped:
        caveats.append(say(
            "{k} rows with a missing outcome, group, period, covariate or cluster are left out.",
            k=Count(d.dropped, {"evaluate (a complete row)": "no"}),
            fallback="A few rows with a missing outcome, group, period, covariate or cluster are left out.",
        ))
    for c in checks:
        if c.passed == "no":
            headlines.append(f"Check: {c.result}.")
    caveats += [
        "Difference-in-differences assumes the treated group would have changed as the comparison "
        "group did had there been no change (parallel trends); a test of the periods before cannot "
        "prove that, only find evidence against it.",
        "It cannot rule out something else that changed at the same time for the treated group only, "
        "people moving between the groups because of the change, or effects spilling over to the "
        "comparison group.",
    ]
    if d.cluster is None:
        caveats.append("Standard errors assume independent rows; when rows of one area or person are "
                       "related, set cluster for cluster-robust standard errors.")
    metrics = _metrics(effect)
    metrics["rows"] = Count(len(d.y), {"evaluate (a complete row)": "yes"})
    settings = (f" Settings: {'log ' if params.log else ''}{params.outcome}; treated {d.treated_name}; after "
                f"{d.post_name}" + (f"; covariates {', '.join(params.covariates)}" if params.covariates else "")
                + (f"; clustered by {params.cluster}" if params.cluster else "") + ".")
    if d.period is not None:
        settings += f" Periods: {params.frequency}ly, {len(set(d.period.tolist()))} of them."
    ctx.report(1.0, "done")
    return Finding(
        step=step.name,
        title=f"Did the change move {params.outcome}? (difference-in-differences)",
        headlines=headlines,
        method=step.method_text() + settings,
        tables=tables,
        figures=figures,
        metrics=metrics,
        caveats=caveats,
        params=params.model_dump(mode="json"),
    )


def _drop_collinear_covariates(X: Any, names: list[str], params: EvaluateParams) -> None:
    import numpy as np

    norms = np.sqrt((X * X).sum(axis=0))
    scaled = X / np.where(norms > 0, norms, 1.0)
    if np.linalg.matrix_rank(scaled.T @ scaled, tol=1e-10) < X.shape[1]:
        raise StepError(
            "step 'evaluate': the model's terms are collinear (a covariate, or the groups, repeat "
            "another term)",
            "leave out covariates that are fixed within a group or period, or that repeat treated or post",
        )


def _verdict(e: Effect) -> str:
    if e.p_value < 0.05:
        return (f"The effect is statistically significant at the 5% level ({fmt_p(e.p_value)}): chance alone "
                "would rarely give one this large.")
    return (f"The effect is not statistically significant ({fmt_p(e.p_value)}): the data are consistent "
            "with no effect at all.")


def _metrics(e: Effect) -> dict[str, Any]:
    return {
        "estimate": e.estimate, "std_error": e.std_error, "ci_low": e.ci_low, "ci_high": e.ci_high,
        "p_value": e.p_value, "relative_change": e.relative_change,
    }


def _balance_check(d: DidData) -> Check:
    """Both groups are observed before and after (the step stops otherwise); the numbers are in
    the groups table, where the disclosure gate sees them."""
    return Check("observed before and after", "the treated and comparison groups both have rows before and "
                 "after the change (rows per group and period are in the groups table)", passed="yes")


def _did_keys(d: DidData, params: EvaluateParams) -> tuple[str, str, str]:
    """(population, treated variable, period variable) of the rows the counts count: the
    complete rows, named apart from all the step's rows when some were left out."""
    population = "evaluate: rows with every variable of the model" if d.dropped else ""
    treated_var = f"{d.treated_name} (treated)"
    if d.period is not None:
        period_var = f"{params.date} ({params.frequency})"
    else:
        period_var = f"{params.post} (after the change)"
    return population, treated_var, period_var


def _event_study(d: DidData, y: Any, params: EvaluateParams) -> tuple[Table | None, Check]:
    """Treated×period terms for every period but the last before the change, with group and
    period fixed effects; the leads' joint Wald test checks parallel pre-trends."""
    import numpy as np
    import polars as pl

    import statsmodels.api as sm

    periods = np.unique(d.period)
    start = np.datetime64(d.start) if d.start is not None else None
    if start is None:
        # post from a column, periods from dates: the change starts at the first period with a
        # treated row after it
        start = d.period[d.treated & d.post].min()
    before = periods[periods < start]
    if len(before) < 2:
        return None, Check("parallel pre-trends", "not tested: fewer than two periods before the change")
    reference = before[-1]
    n = len(y)
    groups, _ = _dummies(d.group)
    dummies, _ = _dummies(d.period)
    terms = [p for p in periods if p != reference]
    lead_lag = np.column_stack([(d.treated & (d.period == p)).astype(float) for p in terms])
    X = np.column_stack([np.ones(n), lead_lag, groups, dummies, d.covariates])
    fit = _fit(y, X, d.cluster)
    leads = [j for j, p in enumerate(terms) if p < start]
    R = np.zeros((len(leads), X.shape[1]))
    for row, j in enumerate(leads):
        R[row, 1 + j] = 1.0
    tested, how = fit, ""
    if d.cluster is not None and len(np.unique(d.cluster)) - 1 < len(leads):
        # a clustered covariance has rank below the number of clusters: too few for a joint
        # test of every lead, which then uses heteroskedasticity-robust errors instead
        tested = sm.OLS(y, X, hasconst=True).fit(cov_type="HC1")
        how = "; heteroskedasticity-robust, as there are too few clusters for a clustered joint test"
    wald = tested.wald_test(R, scalar=True, use_f=True)
    stat, pvalue = float(np.squeeze(wald.statistic)), float(np.squeeze(wald.pvalue))
    ci = fit.conf_int(alpha=1 - LEVEL)
    rows = {"period": [], "relative_period": [], "estimate": [], "ci_low": [], "ci_high": []}
    position = {p: i for i, p in enumerate(periods)}
    for j, p in enumerate(terms):
        rows["period"].append(p)
        rows["relative_period"].append(float(position[p] - position[start] if start in position else 0))
        rows["estimate"].append(float(fit.params[1 + j]))
        rows["ci_low"].append(float(ci[1 + j][0]))
        rows["ci_high"].append(float(ci[1 + j][1]))
    rows["period"].append(reference)
    rows["relative_period"].append(float(position[reference] - position.get(start, position[reference] + 1)))
    rows["estimate"].append(0.0)
    rows["ci_low"].append(0.0)
    rows["ci_high"].append(0.0)
    rows["treated_rows"] = [int(np.sum(d.treated & (d.period == p))) for p in rows["period"]]
    rows["comparison_rows"] = [int(np.sum(~d.treated & (d.period == p))) for p in rows["period"]]
    rows["period"] = pl.Series("period", np.array(rows["period"], dtype="datetime64[D]")).cast(pl.Date)
    frame = pl.DataFrame(rows).sort("period")
    population, treated_var, period_var = _did_keys(d, params)
    counts = ["treated_rows", "comparison_rows"]
    table = Table(
        frame,
        {"period": "date", "relative_period": "statistic", "estimate": "statistic", "ci_low": "statistic",
         "ci_high": "statistic", "treated_rows": "count", "comparison_rows": "count"},
        title="Event study",
        description=(
            f"The gap in {'log ' if params.log else ''}{params.outcome} between the treated and comparison groups "
            "in each period, relative to the last period before the change (0 by construction), with 95% "
            "confidence intervals; relative_period counts periods from the change. A period's gap is "
            "suppressed with either group's count of rows in it."
        ),
        denominators={"estimate": counts, "ci_low": counts, "ci_high": counts},
        keys=Keys(population=population, variables={"period": period_var},
                  counts={"treated_rows": {treated_var: "treated"}, "comparison_rows": {treated_var: "comparison"}}),
    )
    passed = pvalue >= 0.05
    result = (f"the {len(leads)} periods before the change jointly show no gap beyond chance "
              f"(F = {fmt_num(stat)}, {fmt_p(pvalue)}{how})" if passed else
              f"the groups were already diverging before the change (F = {fmt_num(stat)}, {fmt_p(pvalue)}{how}): "
              "parallel trends are doubtful, so read the estimate with care")
    return table, Check("parallel pre-trends (event-study leads jointly zero)", result, stat, pvalue,
                        "yes" if passed else "no")


def _groups_table(d: DidData, params: EvaluateParams) -> Table:
    import polars as pl


    frame = pl.DataFrame({
        "group": pl.Series(["treated" if t else "comparison" for t in d.treated]),
        "__post": d.post,
        "__y": d.y,
    })
    if d.period is not None:
        frame = frame.with_columns(pl.Series("period", d.period).cast(pl.Date))
        by = ["group", "period"]
    else:
        frame = frame.with_columns(pl.when(pl.col("__post")).then(pl.lit("after")).otherwise(pl.lit("before"))
                                   .alias("period"))
        by = ["group", "period"]
    table = (frame.group_by(by).agg(pl.len().cast(pl.Int64).alias("rows"), pl.col("__y").mean().alias("mean"))
             .sort(["group", "period"], descending=[True, False]))
    kinds = {"group": "label", "period": "date" if d.period is not None else "label", "rows": "count",
             "mean": "statistic"}
    population, treated_var, period_var = _did_keys(d, params)
    keys = Keys(population=population, variables={"group": treated_var, "period": period_var}, counts={"rows": {}})
    return Table(
        table,
        kinds,
        title="Rows and mean outcome per group and period",
        description=(f"The number of rows and the mean of {params.outcome} for the treated and comparison groups "
                     "in each period; a mean resting on a suppressed count is suppressed with it."),
        denominators={"mean": "rows"},
        dimensions=["group", "period"],
        keys=keys,
    )


# --------------------------------------------------------------------------- interrupted time series


@dataclass
class Series:
    periods: list[date]
    y: Any  # float numpy, per period (NaN where no value)
    start: date
    kind: str  # "count" or "statistic"
    counted: str  # what the values are, in words
    caveats: list[Any]


def _its_series(data: Any, params: EvaluateParams) -> Series:
    import numpy as np
    import polars as pl

    from expedition.steps import _time

    caveats: list[Any] = []
    period = _periods(data, params)
    unreadable = int(period.is_null().sum())
    if unreadable:
        caveats.append(say(
            "{k} rows have no readable {column} and are left out.",
            k=Count(unreadable, {f"{params.date} (read as a date)": "no"}), column=params.date,
            fallback=say("A few rows have no readable {column} and are left out.", column=params.date),
        ))
    if params.outcome:
        values = _numeric(data[params.outcome], params.outcome, "outcome")
        work = pl.DataFrame({"period": period, "value": values}).drop_nulls()
        agg = pl.col("value").sum() if params.aggregate == "sum" else pl.col("value").mean()
        per = work.group_by("period").agg(agg).sort("period")
        kind = "count" if params.aggregate == "sum" else "statistic"
        counted = params.outcome if params.aggregate == "sum" else f"mean {params.outcome}"
    else:
        dates = _time.to_dates(data[params.date])
        work = pl.DataFrame({"period": period, "date": dates}).drop_nulls()
        per = work.group_by("period").agg(pl.len().cast(pl.Float64).alias("value")).sort("period")
        kind, counted = "count", "records"
        if per.height and bool((work["date"] != work["period"]).any()):
            per, note = _whole_periods(per, work["date"].min(), work["date"].max(), params)
            caveats += note
    if per.height == 0:
        raise StepError("step 'evaluate': no rows are left to count", "check the date and outcome columns")
    start = _start(params, per["period"])
    every = _time.period_range(per["period"].min(), per["period"].max(), params.frequency)
    full = pl.DataFrame({"period": every}).join(per, on="period", how="left")
    if kind == "count":
        full = full.with_columns(pl.col("value").fill_null(0.0))
    y = full["value"].to_numpy().astype(float)
    periods = full["period"].to_list()
    pre = sum(1 for p, v in zip(periods, y) if p < start and np.isfinite(v))
    post = sum(1 for p, v in zip(periods, y) if p >= start and np.isfinite(v))
    if pre < MIN_PRE or post < MIN_POST:
        raise StepError(
            f"step 'evaluate': too few periods around the change ({pre} before and {post} from "
            f"{_time.label(start, params.frequency)}; an interrupted time series needs at least {MIN_PRE} "
            f"before and {MIN_POST} after)",
            "move start, use a shorter frequency (week instead of month), or add more history",
        )
    if params.log and (y[np.isfinite(y)] <= 0).any():
        raise StepError(
            f"step 'evaluate': log is set but {counted} is zero (or less) in some periods",
            "leave log out, or use a longer frequency so every period has events",
        )
    return Series(periods, y, start, kind, counted, caveats)


def _whole_periods(per: Any, first: date, last: date, params: EvaluateParams) -> tuple[Any, list[str]]:
    """Leave out a first or last period that the event dates cover only in part (it would look
    like a fall in the number of events), saying so."""
    import polars as pl

    from expedition.steps import _time

    notes = []
    start, end = per["period"].min(), per["period"].max()
    if first > start:
        notes.append(f"The data start on {first:%Y-%m-%d}, part-way through {_time.label(start, params.frequency)}; "
                     "that period is left out so it does not look like a change in the number of records.")
        per = per.filter(pl.col("period") > start)
    if last < _time.period_end(end, params.frequency):
        notes.append(f"The data end on {last:%Y-%m-%d}, part-way through {_time.label(end, params.frequency)}; "
                     "that period is left out so it does not look like a change in the number of records.")
        per = per.filter(pl.col("period") < end)
    return per, notes


def its_design(s: Series, params: EvaluateParams) -> tuple[Any, list[str], bool]:
    """const, trend, level change, trend change (+ season terms): the segmented regression."""
    import numpy as np

    from expedition.steps._time import PERIODS

    n = len(s.periods)
    t = np.arange(n, dtype=float)
    t0 = s.periods.index(s.start)
    step = (t >= t0).astype(float)
    columns = [np.ones(n), t, step, step * (t - t0)]
    names = ["const", "trend", "level change", "trend change"]
    m = PERIODS[params.frequency][1]
    seasonal = params.seasonality and n >= 2 * m
    if seasonal:
        if params.frequency == "week":
            week = np.array([p.timetuple().tm_yday for p in s.periods], dtype=float) / 365.25
            for h in range(1, WEEK_HARMONICS + 1):
                columns += [np.sin(2 * np.pi * h * week), np.cos(2 * np.pi * h * week)]
                names += [f"sin{h}", f"cos{h}"]
        else:
            position = np.array([(p.month - 1) // (12 // m) for p in s.periods])
            for k in range(1, m):
                columns.append((position == k).astype(float))
                names.append(f"season {k + 1}")
    return np.column_stack(columns), names, seasonal


def hac_lags(n: int) -> int:
    """Newey and West's (1994) rule of thumb for the HAC lag length: floor(4 (n/100)^(2/9))."""
    return max(1, int(math.floor(4 * (n / 100) ** (2 / 9))))


def _its(step: Evaluate, data: Any, params: EvaluateParams, ctx: StepContext) -> Finding:
    import numpy as np
    import statsmodels.api as sm

    from expedition.steps import _time
    from expedition.steps._time import PERIODS

    s = _its_series(data, params)
    ctx.report(0.2, "fitting the segmented regression")
    X, names, seasonal = its_design(s, params)
    observed = np.isfinite(s.y)
    y = np.log(s.y) if params.log else s.y
    lags = hac_lags(int(observed.sum()))
    fit = sm.OLS(y[observed], X[observed], hasconst=True).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    beta = np.asarray(fit.params)
    fitted = X @ beta
    without = X.copy()
    without[:, [names.index("level change"), names.index("trend change")]] = 0.0
    counterfactual = without @ beta
    t0 = s.periods.index(s.start)
    after = np.arange(len(y)) >= t0
    if params.log:
        fitted_level, counter_level = np.exp(fitted), np.exp(counterfactual)
    else:
        fitted_level, counter_level = fitted, counterfactual
    baseline = float(counter_level[t0])
    level = _effect("segmented regression: level change", fit, names.index("level change"), log=params.log,
                    baseline=baseline if not params.log else None)
    slope = _effect("segmented regression: trend change per period", fit, names.index("trend change"),
                    log=params.log, baseline=baseline if not params.log else None)
    effects = [level, slope]
    ctx.report(0.5, "fitting the structural time-series model")
    structural, structural_counter, note = _structural(y, after, params, seasonal, baseline)
    if structural is not None:
        effects.append(structural)
    m = PERIODS[params.frequency][1]
    checks = _its_checks(fit, s, params, seasonal, lags, level, structural, m)
    caveats: list[Any] = list(s.caveats)
    if note:
        caveats.append(note)
    if params.seasonality and not seasonal:
        caveats.append(f"The series covers less than two years, so no seasonal terms were fitted; a "
                       f"seasonal swing around {_time.label(s.start, params.frequency)} could look like an effect.")
    tables = {
        "effects": _effects_table(effects, s.counted, params.log),
        "checks": _checks_table(checks),
        "series": _series_table(s, params, fitted_level, counter_level, structural_counter),
    }
    label = _time.label(s.start, params.frequency)
    figures = {"series": Chart(
        "Observed series and the counterfactual",
        "evaluate.series",
        "series",
        alt=(f"A line chart of {s.counted} per {params.frequency}: the observed values, the segmented "
             f"regression's fitted series, and from {label} the counterfactual — what the trend and "
             "season predicted without the change — as a dashed line; the change is marked by a "
             "vertical line. Counts too small to publish are hatched."),
        options={"start": s.start.isoformat(), "frequency": params.frequency, "outcome": s.counted},
    )}
    beyond = "beyond what the trend and season predicted" if seasonal else "beyond what the trend predicted"
    subject = s.counted if params.outcome else f"{s.counted} per {params.frequency}"
    headlines: list[Any] = [_change_sentence(level, subject, beyond=beyond, log=params.log, outcome=s.counted)]
    headlines.append(_verdict(level))
    if structural is not None and math.isfinite(structural.relative_change):
        headlines.append(say(
            "A structural time-series model with a level shift, the second view, puts the change at {rel} "
            "(95% CI {lo} to {hi}).",
            rel=Value(structural.relative_change, "+.0%"), lo=Value(structural.rel_low, "+.0%"),
            hi=Value(structural.rel_high, "+.0%"),
        ))
    elif structural is not None:
        headlines.append(say(
            "A structural time-series model with a level shift, the second view, puts the change at {est} "
            "(95% CI {lo} to {hi}).",
            est=Value(structural.estimate, "+,.4g"), lo=Value(structural.ci_low, "+,.4g"),
            hi=Value(structural.ci_high, "+,.4g"),
        ))
    for c in checks:
        if c.passed == "no":
            headlines.append(f"Check: {c.result}.")
    caveats += [
        "An interrupted time series assumes the trend and season before the change would have gone "
        "on without it; it cannot rule out anything else that changed at the same time (another "
        "policy, a change in recording or counting, an unusual event), and there is no comparison group.",
        "The segmented regression's confidence intervals allow for autocorrelation (HAC); with few "
        "periods before or after the change they are approximate.",
    ]
    metrics = _metrics(level)
    metrics["periods_before"] = float(t0)
    metrics["periods_after"] = float(len(y) - t0)
    if structural is not None:
        metrics["structural_relative_change"] = structural.relative_change
    settings = (f" Settings: {'log ' if params.log else ''}{s.counted} per {params.frequency}, "
                f"{_time.label(s.periods[0], params.frequency)} to {_time.label(s.periods[-1], params.frequency)}, "
                f"change from {label}; {'seasonal terms; ' if seasonal else ''}HAC lags {lags}.")
    ctx.report(1.0, "done")
    return Finding(
        step=step.name,
        title=f"Did the change move {s.counted}? (interrupted time series)",
        headlines=headlines,
        method=step.method_text() + settings,
        tables=tables,
        figures=figures,
        metrics=metrics,
        caveats=caveats,
        params=params.model_dump(mode="json"),
    )


def _structural(y: Any, after: Any, params: EvaluateParams, seasonal: bool,
                baseline: float) -> tuple[Effect | None, Any, str | None]:
    """UnobservedComponents: local level (+ seasonal) with the step as a regressor."""
    import warnings

    import numpy as np
    import statsmodels.api as sm

    from expedition.steps._time import PERIODS

    m = PERIODS[params.frequency][1]
    kwargs: dict[str, Any] = {"level": "llevel", "exog": after.astype(float)[:, None]}
    if seasonal:
        if params.frequency == "week":
            kwargs["freq_seasonal"] = [{"period": 52.18, "harmonics": WEEK_HARMONICS}]
        else:
            kwargs["seasonal"] = m
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sm.tsa.UnobservedComponents(y, **kwargs)
            result = model.fit(disp=False, maxiter=200)
    except Exception as exc:  # numerical failure: say so, keep the regression
        return None, None, f"The structural time-series model could not be fitted ({type(exc).__name__}); only the segmented regression is shown."
    i = list(model.param_names).index("beta.x1")
    estimate, se = float(result.params[i]), float(result.bse[i])
    if not (math.isfinite(estimate) and math.isfinite(se)):
        return None, None, "The structural time-series model did not give a usable estimate; only the segmented regression is shown."
    low, high = _interval(estimate, se, None)
    p = float(result.pvalues[i])
    if params.log:
        rel, rlo, rhi = math.expm1(estimate), math.expm1(low), math.expm1(high)
    elif baseline:
        rel, rlo, rhi = estimate / baseline, low / baseline, high / baseline
    else:
        rel = rlo = rhi = math.nan
    smoothed = np.asarray(result.smoothed_state)
    # the smoothed level and season, without the level shift: the structural counterfactual
    components = smoothed[0]
    if seasonal and "seasonal" in kwargs:
        components = components + smoothed[1]
    elif seasonal:
        components = components + np.asarray(result.freq_seasonal[0].smoothed)
    counter = np.exp(components) if params.log else components
    effect = Effect("structural time series: level shift", estimate, se, low, high, p, rel, rlo, rhi)
    return effect, counter, None


def _its_checks(fit: Any, s: Series, params: EvaluateParams, seasonal: bool, lags: int, level: Effect,
                structural: Effect | None, m: int) -> list[Check]:
    import numpy as np
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.stats.stattools import durbin_watson

    from expedition.steps import _time

    checks = []
    t0 = s.periods.index(s.start)
    checks.append(Check(
        "periods before and after", f"{t0} {params.frequency}s before {_time.label(s.start, params.frequency)} and "
        f"{len(s.periods) - t0} from it" + ("" if t0 >= 2 * m else f"; fewer than {2 * m} before, so the trend "
                                            "and season rest on little history"),
        float(t0), passed="yes" if t0 >= 2 * m else "no",
    ))
    resid = np.asarray(fit.resid)
    lag = min(m if seasonal else 6, max(1, len(resid) // 4))
    lb = acorr_ljungbox(resid, lags=[lag], return_df=True)
    q, p = float(lb["lb_stat"].iloc[0]), float(lb["lb_pvalue"].iloc[0])
    dw = float(durbin_watson(resid))
    checks.append(Check(
        "autocorrelation of the residuals (Ljung-Box)",
        (f"residuals are autocorrelated up to lag {lag} ({fmt_p(p)}; Durbin-Watson {dw:.2f}); the HAC standard "
         f"errors (lags {lags}) allow for it" if p < 0.05 else
         f"no evidence of autocorrelation up to lag {lag} ({fmt_p(p)}; Durbin-Watson {dw:.2f})"),
        q, p, passed="yes",
    ))
    if structural is not None:
        agree = (np.sign(structural.estimate) == np.sign(level.estimate))
        overlap = structural.ci_low <= level.ci_high and level.ci_low <= structural.ci_high
        checks.append(Check(
            "the two views agree",
            "the structural model's level shift has the same sign as the segmented regression's and their "
            "intervals overlap" if agree and overlap else
            "the structural model and the segmented regression disagree about the change: read both with care",
            passed="yes" if agree and overlap else "no",
        ))
    return checks


def _series_table(s: Series, params: EvaluateParams, fitted: Any, counter: Any, structural: Any) -> Table:
    import numpy as np
    import polars as pl

    after = [p >= s.start for p in s.periods]
    observed = [None if not np.isfinite(v) else (int(round(v)) if s.kind == "count" else float(v)) for v in s.y]
    frame = pl.DataFrame(
        {
            "period": s.periods,
            "observed": observed,
            "fitted": [float(v) for v in fitted],
            "counterfactual": [float(v) if a else None for v, a in zip(counter, after)],
            "structural_counterfactual": ([float(v) if a else None for v, a in zip(structural, after)]
                                          if structural is not None else [None] * len(after)),
        },
        schema={"period": pl.Date, "observed": pl.Int64 if s.kind == "count" else pl.Float64,
                "fitted": pl.Float64, "counterfactual": pl.Float64, "structural_counterfactual": pl.Float64},
    )
    kinds = {"period": "date", "observed": s.kind, "fitted": "statistic", "counterfactual": "statistic",
             "structural_counterfactual": "statistic"}
    keys = None
    denominators: dict[str, Any] = {}
    if s.kind == "count":
        counts = {"sum of": params.outcome} if params.outcome else {}
        keys = Keys(variables={"period": f"{params.date} ({params.frequency})"}, counts={"observed": counts})
        denominators = {"fitted": "observed"}
    return Table(
        frame,
        kinds,
        title="Observed, fitted and counterfactual series",
        description=(f"{s.counted} per {params.frequency}; the segmented regression's fitted series; and from the "
                     "change, the counterfactual (the same model without the change) and the structural model's "
                     "counterfactual (its smoothed level and season without the level shift)."),
        dimensions=["period"],
        keys=keys,
        denominators=denominators,
    )


# --------------------------------------------------------------------------- figures


@drawing("evaluate.series")
def draw_series(d: Drawing) -> Any:
    """Observed (a line broken where suppressed, those stretches hatched), fitted, and the
    counterfactual after the change (dashed), with the change marked."""
    from expedition.steps._plot import new_figure

    o = d.options
    fig, ax = new_figure(7.5, 3.8)
    periods = d.frame["period"].to_list()
    ax.plot(periods, d.values("observed"), color=PALETTE[0], lw=1.2, label="observed")
    ax.plot(periods, d.values("fitted"), color=PALETTE[1], lw=1.0, label="fitted (segmented regression)")
    ax.plot(periods, d.values("counterfactual"), color=PALETTE[2], lw=1.4, ls="--",
            label="counterfactual: without the change")
    structural = d.values("structural_counterfactual")
    if any(not math.isnan(v) for v in structural):
        ax.plot(periods, structural, color=PALETTE[3], lw=1.0, ls=":", label="structural model's counterfactual")
    start = date.fromisoformat(o["start"])
    ax.axvline(start, color="#333333", lw=0.8)
    ax.annotate("change", (start, 1.0), xycoords=("data", "axes fraction"), fontsize=7, ha="left", va="top")
    marked = mark_suppressed_spans(ax, periods, d.hidden("observed"), symbol=d.rules.symbol)
    ax.set_ylabel(f"{o['outcome']} per {o['frequency']}")
    handles, labels = ax.get_legend_handles_labels()
    if marked:
        handles.append(suppressed_patch(d.rules.symbol))
        labels.append(handles[-1].get_label())
    ax.legend(handles, labels, fontsize=7, loc="best")
    return fig


@drawing("evaluate.trends")
def draw_trends(d: Drawing) -> Any:
    """Means per period for each group (left) and the event study with 95% CIs (right)."""
    import polars as pl

    from expedition.steps._plot import new_figure

    o = d.options
    fig, (left, right) = new_figure(10.0, 3.8, ncols=2)
    frame = d.frame
    hidden = d.hidden("mean")
    for i, group in enumerate(("treated", "comparison")):
        rows = [j for j, g in enumerate(frame["group"].to_list()) if g == group]
        part = frame.filter(pl.col("group") == group)
        values = d.values("mean", frame=part)
        left.plot(part["period"].to_list(), values, color=PALETTE[i], lw=1.3, marker="o", ms=2.5, label=group)
        mark_suppressed_spans(left, part["period"].to_list(), [hidden[j] for j in rows], symbol=d.rules.symbol)
    if o.get("start"):
        left.axvline(date.fromisoformat(o["start"]), color="#333333", lw=0.8)
    if frame.schema["period"] == pl.Date:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        left.xaxis.set_major_locator(locator)
        left.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if all(hidden) or all(math.isnan(v) for v in d.values("mean")):
        left.set_yticks([])  # nothing published: no scale to read
    left.set_title("Mean per period" + (" (suppressed)" if all(hidden) else ""), fontsize=9)
    left.set_ylabel(o["outcome"])
    handles, labels = left.get_legend_handles_labels()
    if any(hidden):
        handles.append(suppressed_patch(d.rules.symbol))
        labels.append(handles[-1].get_label())
    left.legend(handles, labels, fontsize=7)
    event = d.tables["event_study"].frame
    x = event["relative_period"].to_list()
    est = d.values("estimate", table="event_study")
    lo, hi = d.values("ci_low", table="event_study"), d.values("ci_high", table="event_study")
    right.axhline(0, color="#999999", lw=0.8)
    right.axvline(-0.5, color="#333333", lw=0.8)
    right.errorbar(x, est, yerr=[[e - a for e, a in zip(est, lo)], [b - e for e, b in zip(est, hi)]],
                   fmt="o", ms=3, color=PALETTE[0], ecolor=PALETTE[5], elinewidth=0.8, capsize=0)
    right.set_title("Event study: the gap relative to the period before", fontsize=9)
    right.set_xlabel(f"{o['frequency']}s from the change")
    right.set_ylabel(f"treated − comparison, {'log ' if o.get('log') else ''}{o['outcome']}")
    return fig
