"""`simulate`: how long cases wait when stages have limited capacity, and what changes would do."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from expedition.errors import StepError
from expedition.steps import Cell, Chart, Count, Finding, Keys, Step, StepContext, StepParams, Table, Value, say
from expedition.steps._plot import PALETTE, Drawing, drawing

DISTRIBUTIONS = ("exponential", "gamma", "lognormal", "deterministic")
#: the distributions fitted to observed stays (`service_days: {from: events}`)
FITTED = ("exponential", "gamma", "lognormal")
BASELINE = "baseline"
LEVEL = 0.95


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ServiceSpec(_Spec):
    """How long one case occupies a server at a stage, in days."""

    distribution: Literal["exponential", "gamma", "lognormal", "deterministic"] = Field(
        "exponential", description="exponential, gamma, lognormal or deterministic"
    )
    mean: float | None = Field(None, gt=0, description="the mean time in days")
    sd: float | None = Field(None, gt=0, description="the standard deviation in days (gamma and lognormal)")
    source: Literal["events"] | None = Field(
        None, validation_alias=AliasChoices("from", "source"),
        description="'events': fit exponential, gamma and lognormal to the event log's stays and use the best",
    )

    @model_validator(mode="after")
    def _complete(self) -> ServiceSpec:
        if self.source is None and self.mean is None:
            raise ValueError("give a mean (e.g. {distribution: exponential, mean: 1}) or {from: events}")
        if self.source is None and self.distribution in ("gamma", "lognormal") and self.sd is None:
            raise ValueError(f"a {self.distribution} distribution needs sd as well as mean")
        return self


class StageSpec(_Spec):
    name: str = Field(min_length=1, description="the stage (an activity of the event log, for {from: events})")
    servers: int = Field(ge=1, le=10_000, description="servers at the stage: workers, beds or slots")
    service_days: ServiceSpec = Field(description="service time: {distribution, mean, sd} or {from: events}")
    next: dict[str, float | str] = Field(
        default_factory=dict,
        description="shares moving on to other stages, e.g. {plan: 0.3} (the rest leave); {from: events} for the log's",
    )

    @field_validator("next")
    @classmethod
    def _next(cls, value: dict[str, float | str]) -> dict[str, float | str]:
        if "from" in value:
            if value != {"from": "events"}:
                raise ValueError("write next: {from: events}, or shares such as {plan: 0.3}")
            return value
        bad = {k: v for k, v in value.items() if isinstance(v, str) or not 0 <= v <= 1}
        if bad:
            raise ValueError(f"shares must be numbers from 0 to 1 (got {bad})")
        if sum(value.values()) > 1 + 1e-9:
            raise ValueError(f"the shares moving on sum to {sum(value.values()):g}, more than 1")
        return value

    @property
    def from_events(self) -> bool:
        return self.next == {"from": "events"}


class ArrivalSpec(_Spec):
    per_day: float | None = Field(None, gt=0, description="cases arriving per day")
    source: Literal["events"] | None = Field(
        None, validation_alias=AliasChoices("from", "source"), description="'events': the event log's rate"
    )
    forecast: str | None = Field(
        None, description="the id of an earlier forecast step: its mean daily demand over the horizon, "
        "and each of its scenarios as a scenario here"
    )

    @model_validator(mode="after")
    def _one(self) -> ArrivalSpec:
        given = [x for x in (self.per_day, self.source, self.forecast) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of per_day (e.g. 9), from: events, or forecast: STEP-ID")
        return self


class StageChange(_Spec):
    servers: int | None = Field(None, ge=1, le=10_000, description="servers in this scenario")
    service_days: ServiceSpec | None = Field(None, description="service time in this scenario")
    next: dict[str, float] | None = Field(None, description="shares moving on in this scenario")


class ScenarioSpec(_Spec):
    name: str = Field(min_length=1, description="what the scenario is, e.g. 'one more worker'")
    stages: dict[str, StageChange] = Field(default_factory=dict, description="changes per stage")
    demand: float | None = Field(None, gt=0, le=100, description="arrivals multiplied by this, e.g. 1.1 for 10% more")


class SimulateParams(StepParams):
    arrivals: ArrivalSpec = Field(description="{per_day: 9} or {from: events}")
    stages: list[StageSpec] = Field(min_length=1, description="the stages in order; cases enter at the first")
    days: float = Field(365.0, gt=0, le=100_000, description="days simulated in each replication")
    warmup_days: float = Field(
        30.0, ge=0, description="days at the start left out of the results (the service fills up)"
    )
    replications: int = Field(10, ge=2, le=200, description="independent runs, for 95% confidence intervals")
    scenarios: list[ScenarioSpec] = Field(default_factory=list, description="named changes to servers, demand or routing")
    case: str | None = Field(None, description="the event log's case id column (for from: events)")
    activity: str | None = Field(None, description="the event log's activity column (for from: events)")
    time: str | None = Field(None, description="the event log's time column (for from: events)")

    @model_validator(mode="after")
    def _consistent(self) -> SimulateParams:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("stage names must differ")
        if self.warmup_days >= self.days:
            raise ValueError(f"warmup_days ({self.warmup_days:g}) must be less than days ({self.days:g})")
        for stage in self.stages:
            unknown = [k for k in stage.next if k not in names and not stage.from_events]
            if unknown:
                raise ValueError(f"stage {stage.name!r}: next names {', '.join(map(repr, unknown))}, "
                                 f"not a stage (the stages are {', '.join(names)})")
        seen = [s.name for s in self.scenarios]
        if len(set(seen)) != len(seen) or BASELINE in {n.lower() for n in seen}:
            raise ValueError("scenario names must differ, and 'baseline' is taken")
        for scenario in self.scenarios:
            unknown = [k for k in scenario.stages if k not in names]
            if unknown:
                raise ValueError(f"scenario {scenario.name!r} names stage {', '.join(map(repr, unknown))}, "
                                 f"which is not a stage (the stages are {', '.join(names)})")
            for stage, change in scenario.stages.items():
                if change.next is not None:
                    bad = [k for k in change.next if k not in names]
                    total = sum(change.next.values())
                    if bad or total > 1 + 1e-9 or any(not 0 <= v <= 1 for v in change.next.values()):
                        raise ValueError(f"scenario {scenario.name!r}, stage {stage!r}: next must give "
                                         "shares from 0 to 1 of known stages, summing to 1 or less")
        return self


@dataclass
class Model:
    """One scenario's network, resolved: everything ciw needs."""

    name: str
    stages: list[str]
    entry: list[float]          # arrivals per day entering at each stage
    servers: list[int]
    service: list[tuple[str, float, float | None]]  # distribution, mean, sd
    routing: list[list[float]]
    change: str = ""
    changed: tuple[str, ...] = ()

    def load(self) -> list[float]:
        """Offered load per server (utilisation in the long run) from the traffic equations."""
        import numpy as np

        p = np.asarray(self.routing, dtype=float)
        rates = np.linalg.solve(np.eye(len(self.stages)) - p.T, np.asarray(self.entry, dtype=float))
        return [float(r * s[1] / c) for r, s, c in zip(rates, self.service, self.servers)]


@dataclass
class Fitted:
    stage: str
    distribution: str
    mean: float
    sd: float | None
    ks_p: float | None
    stays: int | None
    source: str


@dataclass
class Results:
    model: Model
    waits: Any          # replications x stages
    utilisation: Any
    queue: Any
    throughput: Any
    weeks: Any          # week numbers (after the warm-up)
    queue_t: Any        # stages x weeks, mean over replications
    backlog_t: Any
    notes: list[str] = field(default_factory=list)


class Simulate(Step):
    """A discrete-event simulation of cases moving through stages with limited servers (ciw).

    Cases arrive as a Poisson process (a rate given, the event log's rate of cases entering the
    stages from outside them — new cases and cases coming back, or a
    forecast step's mean daily demand over its horizon, each of its scenarios simulated as a
    change of demand) at the
    first stage (or, from the event log, where its cases start), wait first-come first-served
    for one of the stage's servers, are served for a time drawn from the stage's distribution
    (given, or fitted to the event log's completed stays by maximum likelihood: exponential,
    gamma or lognormal, the one with the lowest AIC, stays still open when the log ends censored; with a Kolmogorov-Smirnov check on
    the stays that began long enough before the end that none was cut short), then move
    to another stage with the given shares (or the event log's) or leave. The network is
    simulated with ciw, a discrete-event simulation library for open queueing networks, for
    the given days; the warm-up at the start is left out. Each scenario is run with the same
    random numbers as the baseline (common random numbers, seeded from the expedition's seed),
    so that differences between them are not chance. Replications give 95% confidence intervals
    (Student t across replications) for each stage's mean wait before service. Utilisation is
    the share of server time busy, mean queue the mean number waiting (Little's law) and
    throughput the cases served per day.
    """

    name = "simulate"
    summary = "Discrete-event simulation of demand and capacity through stages, with scenarios."
    version = "1"
    Params = SimulateParams
    outputs = {
        "stages": "per scenario and stage: mean wait (days, 95% CI), utilisation, mean queue, throughput",
        "over_time": "per scenario, stage and week: mean number waiting and in the stage (backlog)",
        "service": "each stage's service-time distribution, given or fitted to the event log (with a KS test)",
        "figure waits": "mean waits by stage and scenario with 95% confidence intervals",
        "figure backlog": "cases waiting or in service, by week and scenario",
    }
    yaml_example = """
        - id: capacity
          step: simulate
          dataset: events
          params:
            arrivals: {per_day: 9}            # or {from: events}
            stages:
              - name: assessment
                servers: 10
                service_days: {distribution: exponential, mean: 1}   # or {from: events}
                next: {plan: 0.3}             # the rest leave; or {from: events}
              - name: plan
                servers: 4
                service_days: {distribution: gamma, mean: 3, sd: 2}
            days: 4000
            warmup_days: 400
            replications: 8
            scenarios:
              - name: one more worker
                stages: {assessment: {servers: 11}}
              - name: ten per cent more demand
                demand: 1.1
    """

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.pathways import generate

        return generate(days=120, per_day=3.0, seed=5).lazy(), {
            "arrivals": {"from": "events"},
            "stages": [
                {"name": "referral", "servers": 3, "service_days": {"from": "events"}, "next": {"from": "events"}},
                {"name": "assessment", "servers": 12, "service_days": {"distribution": "exponential", "mean": 3},
                 "next": {"from": "events"}},
            ],
            "days": 120, "warmup_days": 20, "replications": 3,
            "scenarios": [{"name": "one more worker", "stages": {"referral": {"servers": 4}}}],
        }

    @classmethod
    def reads(cls, params: Any) -> list[str]:
        return [params.arrivals.forecast] if params.arrivals.forecast else []

    def run(self, frame: Any, params: SimulateParams, ctx: StepContext) -> Finding:
        import polars as pl

        needs_log = (params.arrivals.source is not None or any(s.from_events or s.service_days.source
                                                                for s in params.stages))
        log = None
        if needs_log:
            from expedition.steps._eventlog import read_log

            data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
            if data.height == 0:
                raise StepError("the event log has no rows", "check the delivery, or give arrivals and service times")
            log = read_log(data, case=params.case, activity=params.activity, time=params.time, start=None, end=None,
                           roles=ctx.roles, step=self.name)
            known = set(log.stays["activity"].unique().to_list())
            missing = [s.name for s in params.stages if (s.from_events or s.service_days.source) and s.name not in known]
            if missing:
                raise StepError(
                    f"step 'simulate': stage {', '.join(map(repr, missing))} is not an activity in {log.activity!r}",
                    f"name stages after the activities ({', '.join(sorted(known)[:20])}), or give their service times and shares",
                )
        fitted = [_service(s, log) for s in params.stages]
        demand = forecast_demand(ctx, params.arrivals.forecast) if params.arrivals.forecast else None
        base = _baseline(params, log, fitted, demand)
        scenarios = list(params.scenarios)
        if demand is not None:
            taken = {s.name for s in scenarios}
            scenarios += [ScenarioSpec(name=name, demand=ratio) for name, ratio in demand.scenarios.items()
                          if name not in taken]
        models = [base] + [_scenario(base, params, s) for s in scenarios]
        results = []
        for i, model in enumerate(models):
            ctx.report(0.05 + 0.85 * i / len(models), f"simulating {model.name}")
            results.append(simulate_model(model, days=params.days, warmup=params.warmup_days,
                                          replications=params.replications, seed=ctx.seed))
        ctx.report(0.92, "tables and figures")
        return _finding(self, params, ctx, results, fitted, log, demand)


# --------------------------------------------------------------------------- the model


def _days(value: float | None) -> str:
    """A format for a number of days: two decimals below 10, one below 1,000, none above."""
    if value is None or not math.isfinite(value) or abs(value) < 10:
        return ".2f"
    return ".1f" if abs(value) < 1000 else ",.0f"


def _dist_text(kind: str, mean: float, sd: float | None) -> str:
    return f"{kind}, mean {mean:.3g} days" + (f", sd {sd:.3g}" if sd is not None and kind in ("gamma", "lognormal") else "")


def _service(stage: StageSpec, log: Any) -> Fitted:
    spec = stage.service_days
    if spec.source is None:
        return Fitted(stage.name, spec.distribution, float(spec.mean), spec.sd, None, None, "given")
    return fit_service(stage.name, log)


def fit_service(stage: str, log: Any) -> Fitted:
    """Fit exponential, gamma and lognormal to the stays at *stage* by maximum likelihood
    (location 0; stays still open when the log ends are right-censored, so long stays are not
    lost), keep the lowest AIC and check it against the completed stays with Kolmogorov-Smirnov."""
    import warnings

    import numpy as np
    import polars as pl
    from scipy import stats

    stays = log.stays.filter((pl.col("activity") == stage) & pl.col("days").is_not_null())
    days = stays["days"].to_numpy().astype(float)
    open_ = stays["open"].to_numpy()
    done, censored = days[~open_ & (days > 0)], days[open_ & (days > 0)]
    if len(done) < 5:
        raise StepError(
            f"step 'simulate': stage {stage!r} has {len(done)} completed stays with a length, too few to fit a distribution",
            "give its service_days as {distribution: exponential, mean: DAYS}",
        )
    data = stats.CensoredData(uncensored=done, right=censored) if len(censored) else done
    best = None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for kind, family, k in (("exponential", stats.expon, 1), ("gamma", stats.gamma, 2),
                                ("lognormal", stats.lognorm, 2)):
            dist = family(*family.fit(data, floc=0))
            loglik = float(np.sum(dist.logpdf(done)) + np.sum(dist.logsf(censored)))
            aic = 2 * k - 2 * loglik
            if np.isfinite(aic) and (best is None or aic < best[0] - 1e-9):
                best = (aic, kind, dist)
        _, kind, dist = best
        # checked on the stays that began long enough before the log ends (the fitted 99th
        # percentile) that none of them can have been cut short: a plain KS test is valid there
        early = days[stays["t"].to_numpy() <= log.span_days - float(dist.ppf(0.99))]
        early = early[early > 0]
        ks_p = float(stats.kstest(early, dist.cdf).pvalue) if len(early) >= 20 else None
    mean, sd = float(dist.mean()), float(dist.std())
    return Fitted(stage, kind, mean, None if kind == "exponential" else sd, ks_p, len(done) + len(censored),
                  "fitted")


@dataclass
class Demand:
    """Arrivals from a forecast finding: the mean per day over its horizon, and each of its
    scenarios as a ratio to that."""

    step: str
    per_day: float
    first: Any
    last: Any
    scenarios: dict[str, float]
    withheld: list[str] = field(default_factory=list)


def forecast_demand(ctx: StepContext, step_id: str) -> Demand:
    """The mean daily demand a `forecast` finding expects over its horizon (all units together)."""
    import polars as pl

    from expedition.steps import _time

    if ctx.finding is None:
        raise StepError(f"step 'simulate': arrivals from forecast {step_id!r} need the expedition's findings",
                        "run it with `expedition run` (or give arrivals: {per_day: N})")
    finding = ctx.finding(step_id)
    if finding.step != "forecast" or "series" not in finding.tables:
        raise StepError(f"step 'simulate': arrivals: forecast names step {step_id!r}, which is a "
                        f"{finding.step!r} step, not a forecast", "name the id of a forecast step")
    from expedition import disclosure

    # the forecast as published: a unit's forecast withheld there (it rests on small counts) must
    # not be recoverable from a total here, so it is left out
    published, _ = disclosure.apply(finding, ctx.disclosure)
    everything = finding.tables["series"].frame.filter(pl.col("forecast").is_not_null())
    series = published.tables["series"].frame.filter(pl.col("forecast").is_not_null())
    withheld = sorted(set(everything["unit"].to_list()) - set(series["unit"].to_list()))
    per_period = series.group_by("period").agg(pl.col("forecast").sum()).sort("period")
    if per_period.height == 0:
        raise StepError(f"step 'simulate': forecast {step_id!r} has no forecast periods", "check that step's finding")
    frequency = str(finding.params.get("frequency") or "month")
    first, last = per_period["period"][0], _time.period_end(per_period["period"][-1], frequency)
    days = (last - first).days + 1
    scenarios = {}
    if "scenario_totals" in finding.tables:
        totals = finding.tables["scenario_totals"].frame.group_by("scenario", maintain_order=True).agg(
            pl.col("scenario_total").sum(), pl.col("baseline_total").sum())
        for row in totals.iter_rows(named=True):
            if row["baseline_total"]:
                scenarios[f"forecast: {row['scenario']}"] = max(row["scenario_total"] / row["baseline_total"], 1e-6)
    if withheld:
        scenarios = {}  # their totals include the withheld units
    return Demand(step_id, float(per_period["forecast"].sum()) / days, first, last, scenarios, withheld)


def _baseline(params: SimulateParams, log: Any, fitted: list[Fitted], demand: Demand | None = None) -> Model:
    names = [s.name for s in params.stages]
    index = {n: i for i, n in enumerate(names)}
    entry_share = [1.0] + [0.0] * (len(names) - 1)
    if demand is not None:
        rate = demand.per_day
    elif params.arrivals.per_day is not None:
        rate = float(params.arrivals.per_day)
    else:
        from expedition.steps._eventlog import routing

        if log.span_days <= 0:
            raise StepError("step 'simulate': the event log covers less than a day", "give arrivals: {per_day: N}")
        entries, _ = routing(log, names)  # new cases, and cases coming back from outside the stages
        total = sum(entries.values())
        if total == 0:
            raise StepError(f"step 'simulate': no case in the log enters any of the stages ({', '.join(names)})",
                            "name the stages after the log's activities, or give arrivals: {per_day: N}")
        rate = total / log.span_days
        entry_share = [entries.get(n, 0) / total for n in names]
    route = [[0.0] * len(names) for _ in names]
    if any(s.from_events for s in params.stages):
        from expedition.steps._eventlog import routing

        _, shares = routing(log, names)
    for i, stage in enumerate(params.stages):
        nxt = shares[stage.name] if stage.from_events else stage.next
        for target, share in nxt.items():
            route[i][index[target]] = float(share)
    model = Model(BASELINE, names, [rate * s for s in entry_share], [s.servers for s in params.stages],
                  [(f.distribution, f.mean, f.sd) for f in fitted], route)
    _check_routing(model)
    return model


def _check_routing(model: Model) -> None:
    import numpy as np

    p = np.asarray(model.routing, dtype=float)
    if np.max(np.abs(np.linalg.eigvals(p))) >= 1 - 1e-9:
        raise StepError(
            f"{model.name}: the shares moving between stages send some cases round for ever (nobody leaves a loop)",
            "make sure every stage, or a stage it leads to, has shares summing to less than 1",
        )


def _scenario(base: Model, params: SimulateParams, spec: ScenarioSpec) -> Model:
    import copy

    model = copy.deepcopy(base)
    model.name = spec.name
    index = {n: i for i, n in enumerate(model.stages)}
    parts = []
    if spec.demand is not None:
        model.entry = [r * spec.demand for r in model.entry]
        parts.append(f"demand × {spec.demand:g}")
    for stage, change in spec.stages.items():
        i = index[stage]
        if change.servers is not None:
            parts.append(f"{stage}: {change.servers} servers instead of {base.servers[i]}")
            model.servers[i] = change.servers
        if change.service_days is not None:
            if change.service_days.source is not None:
                raise StepError(f"scenario {spec.name!r}: service_days from events is the baseline's",
                                "give the scenario's service time as {distribution, mean}")
            s = change.service_days
            model.service[i] = (s.distribution, float(s.mean), s.sd)
            parts.append(f"{stage}: service {_dist_text(s.distribution, float(s.mean), s.sd)}")
        if change.next is not None:
            model.routing[i] = [float(change.next.get(n, 0.0)) for n in model.stages]
            parts.append(f"{stage}: next {', '.join(f'{k} {v:.0%}' for k, v in change.next.items()) or 'none'}")
    model.change = "; ".join(parts) or "no change"
    model.changed = tuple(spec.stages)
    _check_routing(model)
    return model


def _ciw_dist(kind: str, mean: float, sd: float | None) -> Any:
    import ciw

    if kind == "exponential":
        return ciw.dists.Exponential(rate=1.0 / mean)
    if kind == "deterministic":
        return ciw.dists.Deterministic(value=mean)
    if kind == "gamma":
        return ciw.dists.Gamma(shape=mean**2 / sd**2, scale=sd**2 / mean)
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return ciw.dists.Lognormal(mean=math.log(mean) - sigma2 / 2, sd=math.sqrt(sigma2))


def network(model: Model) -> Any:
    """The model as a ciw network."""
    import ciw

    return ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=r) if r > 0 else None for r in model.entry],
        service_distributions=[_ciw_dist(*s) for s in model.service],
        routing=[list(row) for row in model.routing],
        number_of_servers=list(model.servers),
    )


def simulate_model(model: Model, *, days: float, warmup: float, replications: int, seed: int) -> Results:
    """Run *model* in ciw *replications* times (replication r seeded seed·1000 + r, the same in
    every scenario) and summarise each stage after the warm-up."""
    import ciw
    import numpy as np

    k = len(model.stages)
    window = days - warmup
    weeks = np.arange(math.ceil(warmup / 7) * 7, days + 1e-9, 7.0)
    waits, util, queue, thru = (np.full((replications, k), np.nan) for _ in range(4))
    queue_t, backlog_t = np.zeros((k, len(weeks))), np.zeros((k, len(weeks)))
    for r in range(replications):
        ciw.seed(seed * 1000 + r)
        sim = ciw.Simulation(network(model))
        sim.simulate_until_max_time(days)
        recs = sim.get_all_records()
        if recs:
            arr = np.array([(x.node, x.arrival_date, x.waiting_time, x.service_start_date, x.service_end_date)
                            for x in recs if x.record_type == "service"], dtype=float).reshape(-1, 5)
        else:
            arr = np.zeros((0, 5))
        waiting = []  # (node, arrival, start or inf, end inf) of cases still in the system at the end
        for node in sim.transitive_nodes:
            for ind in node.all_individuals:
                start = ind.service_start_date if ind.server else math.inf
                waiting.append((node.id_number, ind.arrival_date, math.nan, start if start is not False else math.inf, math.inf))
        left = np.array(waiting, dtype=float).reshape(-1, 5)
        everyone = np.vstack([arr, left])
        for i in range(k):
            mine = arr[arr[:, 0] == i + 1]
            after = mine[mine[:, 1] >= warmup]
            still = left[(left[:, 0] == i + 1) & (left[:, 1] >= warmup)]
            # cases still waiting at the end have waited at least until then: counted so, not dropped
            partial = np.minimum(days - still[:, 1], np.where(np.isfinite(still[:, 3]), still[:, 3] - still[:, 1], days - still[:, 1]))
            w = np.concatenate([after[:, 2], partial])
            waits[r, i] = float(w.mean()) if len(w) else math.nan
            busy = np.clip(np.minimum(mine[:, 4], days) - np.maximum(mine[:, 3], warmup), 0, None).sum()
            in_service = left[(left[:, 0] == i + 1) & np.isfinite(left[:, 3])]
            busy += np.clip(days - np.maximum(in_service[:, 3], warmup), 0, None).sum()
            util[r, i] = busy / (model.servers[i] * window)
            arrived = np.sum(everyone[everyone[:, 0] == i + 1][:, 1] >= warmup)
            queue[r, i] = arrived / window * (waits[r, i] if len(w) else 0.0)
            thru[r, i] = np.sum((mine[:, 4] >= warmup) & (mine[:, 4] <= days)) / window
            node_all = everyone[everyone[:, 0] == i + 1]
            a, s, e = np.sort(node_all[:, 1]), np.sort(node_all[:, 3]), np.sort(node_all[:, 4])
            n_in = np.searchsorted(a, weeks, side="right")
            queue_t[i] += (n_in - np.searchsorted(s, weeks, side="right")) / replications
            backlog_t[i] += (n_in - np.searchsorted(e, weeks, side="right")) / replications
    return Results(model, waits, util, queue, thru, weeks, queue_t, backlog_t)


def interval(values: Any, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t interval across replications."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


# --------------------------------------------------------------------------- the finding


def _stages_table(results: list[Results]) -> Table:
    import numpy as np
    import polars as pl

    rows = []
    for res in results:
        load = res.model.load()
        for i, stage in enumerate(res.model.stages):
            mean, low, high = interval(res.waits[:, i])
            low = max(low, 0.0) if math.isfinite(low) else low  # a wait is never negative
            rows.append({
                "scenario": res.model.name, "stage": stage, "servers": res.model.servers[i],
                "mean_wait_days": mean, "wait_low": low, "wait_high": high,
                "utilisation": float(np.nanmean(res.utilisation[:, i])), "offered_load": load[i],
                "mean_queue": float(np.nanmean(res.queue[:, i])), "throughput": float(np.nanmean(res.throughput[:, i])),
            })
    frame = pl.DataFrame(rows, schema={
        "scenario": pl.String, "stage": pl.String, "mean_wait_days": pl.Float64, "wait_low": pl.Float64,
        "wait_high": pl.Float64, "utilisation": pl.Float64, "mean_queue": pl.Float64, "throughput": pl.Float64,
        "servers": pl.Int64, "offered_load": pl.Float64,
    })
    stats_ = [c for c in frame.columns if c not in ("scenario", "stage")]
    return Table(
        frame,
        {"scenario": "label", "stage": "label", **{c: "statistic" for c in stats_}},
        title="Waits and use of capacity per stage, by scenario",
        description=(
            "Per scenario (the baseline first) and stage, after the warm-up, averaged over the "
            "replications: the mean wait for a server in days with its 95% confidence interval (a "
            "case still waiting when a run ends counts with its wait so far), "
            "servers, the share of server time busy (utilisation; offered_load is the long-run value "
            "from the traffic equations: 1 or more means the queue grows without limit), the mean "
            "number waiting, and cases served per day (throughput). Simulated, not counted: no "
            "number here is a count of people."
        ),
        dimensions=[],
    )


def _over_time_table(results: list[Results]) -> Table:
    import polars as pl

    parts = []
    for res in results:
        for i, stage in enumerate(res.model.stages):
            parts.append(pl.DataFrame({
                "scenario": [res.model.name] * len(res.weeks), "stage": [stage] * len(res.weeks),
                "week": (res.weeks // 7).astype(int), "day": res.weeks.astype(float),
                "queue": res.queue_t[i], "backlog": res.backlog_t[i],
            }, schema={"scenario": pl.String, "stage": pl.String, "week": pl.Int64, "day": pl.Float64,
                       "queue": pl.Float64, "backlog": pl.Float64}))
    frame = pl.concat(parts)
    return Table(
        frame,
        {"scenario": "label", "stage": "label", "week": "statistic", "day": "statistic", "queue": "statistic",
         "backlog": "statistic"},
        title="Queue and backlog by week",
        description=(
            "At the start of each week after the warm-up (week numbers count from the start of the "
            "simulation), the mean number of cases waiting at each stage (queue) and waiting or being "
            "served there (backlog), averaged over the replications."
        ),
        dimensions=[],
    )


def _service_table(fitted: list[Fitted], log: Any) -> Table:
    import polars as pl

    frame = pl.DataFrame([{
        "stage": f.stage, "source": f.source, "distribution": f.distribution, "mean_days": f.mean,
        "sd_days": f.sd, "ks_p": f.ks_p, "stays": f.stays,
    } for f in fitted], schema={"stage": pl.String, "source": pl.String, "distribution": pl.String,
                               "mean_days": pl.Float64, "sd_days": pl.Float64, "ks_p": pl.Float64, "stays": pl.Int64})
    activity = log.activity if log is not None else "stage"
    return Table(
        frame,
        {"stage": "label", "source": "label", "distribution": "label", "mean_days": "statistic",
         "sd_days": "statistic", "ks_p": "statistic", "stays": "count"},
        title="Service times per stage",
        description=(
            "Each stage's service-time distribution: given in the parameters, or fitted to the event "
            "log's stays (stays; those still open are censored; exponential, gamma or lognormal, lowest AIC) with the "
            "Kolmogorov-Smirnov p-value of the fit (a small value: the distribution fits poorly; "
            "with thousands of stays even a small misfit gives a small p-value)."
        ),
        denominators={"mean_days": "stays", "sd_days": "stays", "ks_p": "stays"},
        dimensions=[],
        keys=Keys(variables={"stage": activity, "source": None, "distribution": None}, counts={"stays": {}}),
    )


def _finding(step: Simulate, params: SimulateParams, ctx: StepContext, results: list[Results],
             fitted: list[Fitted], log: Any, demand: Demand | None = None) -> Finding:
    import numpy as np

    tables = {"stages": _stages_table(results), "over_time": _over_time_table(results),
              "service": _service_table(fitted, log)}
    base = results[0]
    headlines: list[Any] = []
    per_day = float(sum(base.model.entry))
    headlines.append(say(
        "{n} replications of {days} days ({warmup} warm-up) with {rate} cases a day arriving, through {stages}.",
        n=str(params.replications), days=f"{params.days:,.0f}", warmup=f"{params.warmup_days:,.0f}",
        rate=Value(per_day, ".3g"), stages=" → ".join(base.model.stages),
    ))
    if demand is not None:
        headlines.append(say(
            "Arrivals follow the forecast of step {step}: {rate} a day on average from {first} to {last}"
            + (", and its scenarios are simulated too." if demand.scenarios else "."),
            step=demand.step, rate=Value(demand.per_day, ".3g"), first=f"{demand.first:%Y-%m-%d}",
            last=f"{demand.last:%Y-%m-%d}",
        ))
        if demand.withheld:
            caveats_first = (f"The forecasts of {', '.join(demand.withheld)} are withheld (they rest on counts too "
                             "small to publish), so their demand is left out of the arrivals and of the scenarios.")
            headlines.append(caveats_first)
    frame = tables["stages"].frame
    b = frame.filter(frame["scenario"] == BASELINE)
    worst = int(np.nanargmax(b["mean_wait_days"].fill_nan(None).fill_null(-1).to_numpy()))
    row = b.row(worst, named=True)
    headlines.append(say(
        "In the baseline the longest mean wait is at {stage}: {wait} days (95% CI {low} to {high}), "
        "with {servers} servers busy {util} of the time.",
        stage=row["stage"], wait=Value(row["mean_wait_days"], _days(row["mean_wait_days"])), low=Value(row["wait_low"], _days(row["wait_low"])),
        high=Value(row["wait_high"], _days(row["wait_high"])), servers=str(row["servers"]), util=Value(row["utilisation"], ".0%"),
    ))
    caveats: list[Any] = []
    for res in results:
        over = [s for s, load in zip(res.model.stages, res.model.load()) if load >= 1]
        if over:
            caveats.append(
                f"{'The baseline' if res.model.name == BASELINE else 'Scenario ' + repr(res.model.name)}: "
                f"{', '.join(over)} cannot keep up (offered load 100% or more), so its queue grows for as long "
                "as the simulation runs; its mean wait depends on the days simulated."
            )
    for res in results[1:]:
        rows = frame.filter(frame["scenario"] == res.model.name)
        changed = [i for i, stage in enumerate(res.model.stages) if stage in res.model.changed]
        diffs = [(abs(rows["mean_wait_days"][i] - b["mean_wait_days"][i]), i) for i in (changed or range(rows.height))]
        _, i = max(diffs)
        before, after = b.row(i, named=True), rows.row(i, named=True)
        verb = "falls" if after["mean_wait_days"] < before["mean_wait_days"] else "rises"
        headlines.append(say(
            "With {name} ({change}), the mean wait at {stage} {verb} from {a} to {b} days (95% CI {low} to {high}).",
            name=res.model.name, change=res.model.change, stage=after["stage"], verb=verb,
            a=Value(before["mean_wait_days"], _days(before["mean_wait_days"])),
            b=Value(after["mean_wait_days"], _days(after["mean_wait_days"])),
            low=Value(after["wait_low"], _days(after["wait_low"])), high=Value(after["wait_high"], _days(after["wait_high"])),
        ))
    for f in fitted:
        if f.source == "fitted":
            stays = Cell("service", "stays", {"stage": f.stage})
            headlines.append(say(
                "Service at {stage} is fitted to {n} stays in the log: {dist} (Kolmogorov-Smirnov p {p}).",
                stage=f.stage, n=stays, dist=_dist_text(f.distribution, f.mean, f.sd),
                p=Value(f.ks_p, ".2g", (stays,)),
                fallback=say("Service at {stage} is fitted to the event log: {dist}.", stage=f.stage,
                             dist=_dist_text(f.distribution, f.mean, f.sd)),
            ))
            if f.ks_p is not None and f.ks_p < 0.01:
                caveats.append(f"The fitted service time at {f.stage} ({f.distribution}) fits the observed stays "
                               "poorly (KS p < 0.01); treat its waits as indicative.")
    caveats.append(
        "A simulation is as good as its inputs: arrivals are assumed to be a steady Poisson stream, "
        "servers always available and cases served first come, first served."
    )
    if any(f.source == "fitted" for f in fitted):
        caveats.append(
            "Fitted service times are the stays recorded in the log, which include any time a case "
            "waited: where cases queued they overstate service (set service_days where it is known)."
        )
    if log is not None:
        caveats.append(say(
            "Rates, shares and service times estimated from {events} events of the log.",
            events=Count(log.stays.height), fallback="Rates, shares and service times are estimated from the event log.",
        ))
    metrics: dict[str, Any] = {"arrivals_per_day": per_day, "replications": float(params.replications)}
    for i, stage in enumerate(base.model.stages):
        metrics[f"mean_wait_days[{stage}]"] = float(b["mean_wait_days"][i])
    names = [r.model.name for r in results]
    figures = {
        "waits": Chart("Mean waits by stage and scenario", "simulate.waits", "stages",
                       alt="Bars of the mean wait in days at each stage, one bar per scenario (the baseline "
                           "first), with 95% confidence intervals as error bars.",
                       options={"scenarios": names}),
        "backlog": Chart("Backlog by week and scenario", "simulate.backlog", "over_time",
                         alt="Lines of the number of cases waiting or being served, summed over the stages, "
                             "by week, one line per scenario.",
                         options={"scenarios": names}),
    }
    ctx.report(1.0, "done")
    return Finding(
        step=step.name, title="Demand and capacity simulation", headlines=headlines, tables=tables,
        figures=figures, metrics=metrics, caveats=caveats, params=params.model_dump(mode="json", by_alias=True),
        method=step.method_text() + f" Settings: {params.days:g} days, {params.warmup_days:g} warm-up, "
        f"{params.replications} replications, seed {ctx.seed}.",
    )


# --------------------------------------------------------------------------- figures


@drawing("simulate.waits")
def draw_waits(d: Drawing) -> Any:
    import numpy as np

    from expedition.steps._plot import new_figure

    frame = d.frame
    scenarios = d.options["scenarios"]
    stages = list(dict.fromkeys(frame["stage"].to_list()))
    fig, ax = new_figure(max(5.0, 1.2 * len(stages) * max(len(scenarios), 1) ** 0.5 + 2), 3.8)
    width = 0.8 / max(len(scenarios), 1)
    for j, name in enumerate(scenarios):
        part = frame.filter(frame["scenario"] == name)
        means = np.array(d.values("mean_wait_days", frame=part))
        lo, hi = np.array(d.values("wait_low", frame=part)), np.array(d.values("wait_high", frame=part))
        x = np.arange(len(stages)) + (j - (len(scenarios) - 1) / 2) * width
        err = np.vstack([np.clip(means - lo, 0, None), np.clip(hi - means, 0, None)])
        ax.bar(x, means, width=width * 0.95, color=PALETTE[j % len(PALETTE)], label=name,
               yerr=np.nan_to_num(err), capsize=2, error_kw={"lw": 0.8})
    ax.set_xticks(np.arange(len(stages)), stages)
    ax.set_ylabel("mean wait (days)")
    ax.legend(fontsize=7)
    return fig


@drawing("simulate.backlog")
def draw_backlog(d: Drawing) -> Any:
    import polars as pl

    from expedition.steps._plot import new_figure

    frame = d.frame.group_by("scenario", "day", maintain_order=True).agg(pl.col("backlog").sum())
    fig, ax = new_figure(7.0, 3.6)
    for j, name in enumerate(d.options["scenarios"]):
        part = frame.filter(pl.col("scenario") == name).sort("day")
        ax.plot(part["day"].to_list(), part["backlog"].to_list(), color=PALETTE[j % len(PALETTE)], lw=1.1, label=name)
    ax.set_xlabel("day of the simulation")
    ax.set_ylabel("cases waiting or in service")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    return fig
