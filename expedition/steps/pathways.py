"""`pathways`: how cases move through a service, from an event log."""

from __future__ import annotations

import math
import warnings
from typing import Any

from pydantic import Field

from expedition.errors import StepError
from expedition.steps import (
    Cell,
    Chart,
    Count,
    Derived,
    Finding,
    Keys,
    Step,
    StepContext,
    StepParams,
    Table,
    Value,
    say,
)
from expedition.steps._eventlog import END, START, case_sequences, read_log, transitions
from expedition.steps._plot import PALETTE, SUPPRESSED_COLOUR, Drawing, drawing

ARROW = " → "
OTHER = "Other pathways"


class PathwaysParams(StepParams):
    case: str | None = Field(
        None, description="the case id column (default: the contract's identifier, or a column named case or case_id)"
    )
    activity: str | None = Field(
        None, description="the activity or state of each event (default: a column named activity, state or stage)"
    )
    time: str | None = Field(
        None, description="when each event happened (default: the contract's date column, or timestamp, time or date)"
    )
    start: list[str] | None = Field(
        None, description="activities a complete pathway starts with (default: any); cases starting "
        "elsewhere began before the log and their pathways are incomplete"
    )
    end: list[str] | None = Field(
        None, description="activities that end a case (default: those that are the case's last event in at least half of their stays); a case "
        "whose last event is elsewhere is still open, and its last stay is counted as censored"
    )
    outcome: str | None = Field(None, description="a case attribute to compare across pathways (yes/no)")
    outcome_value: str | None = Field(None, description="the value of outcome that counts as yes")
    max_variants: int = Field(10, ge=1, le=50, description="the commonest pathways tabled one by one")


class Pathways(Step):
    """Case pathways from an event log: transitions, time in each activity, variants and loops.

    Each event (a case, an activity or state, a time) starts a stay in its activity that lasts until
    the case's next event. Transitions count the moves from each activity to the next, with a
    "(start)" row for where cases begin and "(end)" for where complete cases finish; each move's
    share of the known moves out of its activity has a 95% Wilson interval. A case whose last
    event is not an end activity is still open: where it goes next is unknown, so its last stay is
    left out of the shares and counted as censored in the durations, which are Kaplan-Meier
    estimates (median and quartiles, in days; statsmodels SurvfuncRight). Variants are the
    complete pathways (from a start activity, when given, to an end activity) as sequences of
    activities; pathways taken by fewer cases than the disclosure threshold are pooled as "Other
    pathways". Loops count the cases that came back to an activity they had left, and
    re-entries the cases that came back after reaching an end activity. With an outcome, the
    share of cases with it is given for each variant. Case ids are never published.
    """

    name = "pathways"
    summary = "Case pathways from an event log: transitions, durations, variants, loops."
    version = "1"
    Params = PathwaysParams
    outputs = {
        "transitions": "moves between activities (from, to, cases, share with 95% interval)",
        "durations": "days spent in each activity: Kaplan-Meier median and quartiles, open cases censored",
        "variants": "the commonest complete pathways with their shares of complete cases",
        "loops": "cases that came back to an activity they had left, per activity",
        "outcomes": "the share of cases with the outcome, per pathway (with outcome)",
        "figure map": "the pathway map: activities joined by arrows as wide as each move's share",
    }
    yaml_example = """
        - id: case-pathways
          step: pathways
          dataset: events
          params:
            case: case_id          # default: the contract's identifier
            activity: activity
            time: timestamp        # default: the contract's date column
            start: [referral]
            end: [close]
            outcome: outcome
            outcome_value: improved
    """

    @classmethod
    def example(cls) -> tuple[Any, dict[str, Any]]:
        from expedition.examples.pathways import generate

        return generate(days=150, per_day=4.0, seed=5).lazy(), {
            "case": "case_id", "activity": "activity", "time": "timestamp", "start": ["referral"],
            "end": ["close"], "outcome": "outcome", "outcome_value": "improved",
        }

    def run(self, frame: Any, params: PathwaysParams, ctx: StepContext) -> Finding:
        import polars as pl

        data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
        if data.height == 0:
            raise StepError("the event log has no rows", "check the delivery")
        log = read_log(data, case=params.case, activity=params.activity, time=params.time, start=params.start,
                       end=params.end, roles=ctx.roles, step=self.name)
        ctx.report(0.2, "transitions")
        m = ctx.min_count
        cases = case_sequences(log)
        tables = {
            "transitions": _transitions_table(log),
            "durations": _durations_table(log),
            "variants": _variants_table(cases, params.max_variants, m),
            "loops": _loops_table(log),
        }
        ctx.report(0.7, "variants and outcomes")
        if params.outcome:
            tables["outcomes"] = _outcomes_table(data, log, cases, params, tables["variants"], m)
        return _finding(self, params, ctx, log, cases, tables)


# --------------------------------------------------------------------------- tables


def _wilson(k: Any, n: Any) -> tuple[list[float | None], list[float | None]]:
    import numpy as np

    from expedition.steps._stats import wilson_interval

    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    low, high = wilson_interval(k, np.maximum(n, 1))
    ok = n > 0
    return ([float(v) if o else None for v, o in zip(np.atleast_1d(low), ok)],
            [float(v) if o else None for v, o in zip(np.atleast_1d(high), ok)])


def _transitions_table(log: Any) -> Table:
    import polars as pl

    moves = transitions(log)
    low, high = _wilson(moves["moves"], moves["out"])
    frame = pl.DataFrame({
        "from": moves["from"], "to": moves["to"], "cases": moves["moves"],
        "share": (moves["moves"] / moves["out"]).cast(pl.Float64),
        "share_low": pl.Series(low, dtype=pl.Float64), "share_high": pl.Series(high, dtype=pl.Float64),
    })
    return Table(
        frame,
        {"from": "label", "to": "label", "cases": "count", "share": "rate", "share_low": "rate", "share_high": "rate"},
        title="Moves between activities",
        description=(
            f"Each move from one activity to the next ({START} is where a case began, {END} where a "
            "complete case finished); cases counts moves, so a case that loops counts once per move. "
            "share is the move's share of the known moves out of its activity (open cases' last "
            "stays, whose next step is unknown, are left out), with a 95% Wilson interval."
        ),
        denominators={"share": "cases", "share_low": "cases", "share_high": "cases"},
        dimensions=["from", "to"],
        keys=Keys(variables={"from": f"previous {log.activity}", "to": log.activity}, counts={"cases": {}}),
        derived={c: Derived(("cases",), ("from",)) for c in ("share", "share_low", "share_high")},
    )


def durations(log: Any) -> list[dict[str, Any]]:
    """Kaplan-Meier summaries of the days spent in each activity that is not an end activity."""
    import numpy as np
    import polars as pl
    from statsmodels.duration.survfunc import SurvfuncRight

    rows = []
    stays = log.stays.filter(~pl.col("activity").is_in(list(log.ends)))
    for (activity,), part in stays.group_by("activity", maintain_order=False):
        days = np.maximum(part["days"].to_numpy().astype(float), 0.0)
        closed = (~part["open"]).to_numpy().astype(int)
        row = {"activity": activity, "stays": part.height, "open": int((1 - closed).sum()),
               "median_days": None, "q1_days": None, "q3_days": None, "median_low": None, "median_high": None,
               "mean_days": float(days[closed == 1].mean()) if closed.any() else None}
        if closed.any():
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                sf = SurvfuncRight(days, closed)
                _quantiles(sf, row)
        rows.append(row)
    return sorted(rows, key=lambda r: r["activity"])


def _quantiles(sf: Any, row: dict[str, Any]) -> None:
    """The quartiles and the median's 95% interval from a fitted Kaplan-Meier curve (None where
    the curve does not fall that far)."""
    import numpy as np

    for key, p in (("q1_days", 0.25), ("median_days", 0.5), ("q3_days", 0.75)):
        value = sf.quantile(p)
        row[key] = float(value) if value is not None and np.isfinite(value) else None
    try:
        lo, hi = sf.quantile_ci(0.5)
    except Exception:  # too few events for an interval
        return
    row["median_low"] = float(lo) if lo is not None and np.isfinite(lo) else None
    row["median_high"] = float(hi) if hi is not None and np.isfinite(hi) else None


def _durations_table(log: Any) -> Table:
    import polars as pl

    stats = ("median_days", "median_low", "median_high", "q1_days", "q3_days", "mean_days")
    schema = {"activity": pl.String, "stays": pl.Int64, "open": pl.Int64, **{s: pl.Float64 for s in stats}}
    frame = pl.DataFrame(durations(log), schema=schema).select(
        "activity", "stays", "open", "median_days", "median_low", "median_high", "q1_days", "q3_days", "mean_days")
    return Table(
        frame,
        {"activity": "label", "stays": "count", "open": "count", **{s: "statistic" for s in stats}},
        title="Days spent in each activity",
        description=(
            "Kaplan-Meier estimates of the days from entering an activity to the case's next event: "
            "the median (with its 95% interval) and quartiles; open stays (cases still in the "
            "activity when the log ends) are censored. mean_days is the mean of completed stays only "
            "(biased low when many are open). End activities are left out."
        ),
        denominators={s: "stays" for s in stats},
        dimensions=["activity"],
        keys=Keys(variables={"activity": log.activity},
                  counts={"stays": {}, "open": {"open at the end of the log": "yes"}}),
    )


def pooled_variants(cases: Any, max_variants: int, min_count: int) -> list[tuple[str, int, float]]:
    """(variant, cases, steps) of complete cases, commonest first; the rest, and any variant with
    fewer cases than *min_count*, pooled as `OTHER` (grown until it is not small itself)."""
    import polars as pl

    complete = cases.filter(pl.col("complete")).with_columns(variant=pl.col("path").list.join(ARROW))
    counted = (complete.group_by("variant").agg(pl.len().alias("n"), pl.col("path").list.len().first().alias("steps"))
               .sort(["n", "variant"], descending=[True, False]))
    rows = [(r["variant"], int(r["n"]), float(r["steps"])) for r in counted.iter_rows(named=True)]
    kept = [r for r in rows[:max_variants] if r[1] >= min_count]
    rest = [r for r in rows if r not in kept]
    while rest and sum(r[1] for r in rest) < min_count and kept:
        rest.append(kept.pop())
    out = list(kept)
    if rest:
        n = sum(r[1] for r in rest)
        out.append((OTHER, n, sum(r[1] * r[2] for r in rest) / n))
    return out


def _variants_table(cases: Any, max_variants: int, min_count: int) -> Table:
    import polars as pl

    rows = pooled_variants(cases, max_variants, min_count)
    total = sum(r[1] for r in rows)
    low, high = _wilson([r[1] for r in rows], [total] * len(rows))
    frame = pl.DataFrame({
        "variant": [r[0] for r in rows], "steps": [r[2] for r in rows], "cases": [r[1] for r in rows],
        "share": [r[1] / total for r in rows], "share_low": low, "share_high": high,
    }, schema={"variant": pl.String, "steps": pl.Float64, "cases": pl.Int64, "share": pl.Float64,
               "share_low": pl.Float64, "share_high": pl.Float64})
    return Table(
        frame,
        {"variant": "label", "steps": "statistic", "cases": "count", "share": "rate", "share_low": "rate",
         "share_high": "rate"},
        title="The commonest complete pathways",
        description=(
            "Complete pathways (variants) as sequences of activities, with the number of complete "
            "cases that took each, its share of them (95% Wilson interval) and its number of steps "
            "(the mean, for the pooled rest). Pathways taken by few cases are pooled."
        ),
        denominators={"share": "cases", "share_low": "cases", "share_high": "cases", "steps": "cases"},
        dimensions=["variant"],
        keys=Keys(population="cases", variables={"variant": "complete pathway"}, counts={"cases": {}}),
        derived={c: Derived(("cases",)) for c in ("share", "share_low", "share_high")},
    )


def _loops_table(log: Any) -> Table:
    import polars as pl

    visits = log.stays.group_by("case", "activity").agg(pl.len().alias("visits"))
    per = (visits.group_by("activity").agg(pl.len().cast(pl.Int64).alias("visited"),
                                           (pl.col("visits") > 1).sum().cast(pl.Int64).alias("returned"))
           .sort("activity"))
    low, high = _wilson(per["returned"], per["visited"])
    frame = per.with_columns(
        share=(pl.col("returned") / pl.col("visited")).cast(pl.Float64),
        share_low=pl.Series(low, dtype=pl.Float64), share_high=pl.Series(high, dtype=pl.Float64),
    )
    return Table(
        frame,
        {"activity": "label", "visited": "count", "returned": "count", "share": "rate", "share_low": "rate",
         "share_high": "rate"},
        title="Cases that came back to an activity",
        description=(
            "Per activity: the cases that were ever in it, those that came back to it after leaving "
            "(a loop, or a re-entry after an end activity), and their share (95% Wilson interval)."
        ),
        denominators={"share": "visited", "share_low": "visited", "share_high": "visited"},
        dimensions=[],
        keys=Keys(population="cases", variables={"activity": "activity visited"},
                  counts={"visited": {}, "returned": {"came back": "yes"}}),
    )


def _outcomes_table(data: Any, log: Any, cases: Any, params: PathwaysParams, variants: Table, m: int) -> Table:
    import polars as pl

    from expedition.steps import require_columns
    from expedition.steps._columns import binary_outcome

    require_columns(data.columns, [params.outcome], param="outcome", step="pathways")
    flags, positive = binary_outcome(data[params.outcome], params.outcome_value, params.outcome)
    per_case = (pl.DataFrame({"case": data[log.case].cast(pl.String), "y": flags})
                .drop_nulls().group_by("case").agg(pl.col("y").last()))
    named = set(variants.frame["variant"].to_list()) - {OTHER}
    joined = (cases.filter(pl.col("complete")).with_columns(variant=pl.col("path").list.join(ARROW))
              .with_columns(variant=pl.when(pl.col("variant").is_in(list(named))).then(pl.col("variant"))
                            .otherwise(pl.lit(OTHER)))
              .join(per_case, on="case", how="inner"))
    order = {v: i for i, v in enumerate(variants.frame["variant"].to_list())}
    per = (joined.group_by("variant").agg(pl.len().cast(pl.Int64).alias("cases"),
                                          pl.col("y").sum().cast(pl.Int64).alias("with_outcome"))
           .with_columns(pl.col("variant").replace_strict(order, default=len(order)).alias("_o"))
           .sort("_o").drop("_o"))
    low, high = _wilson(per["with_outcome"], per["cases"])
    frame = per.with_columns(
        rate=(pl.col("with_outcome") / pl.col("cases")).cast(pl.Float64),
        rate_low=pl.Series(low, dtype=pl.Float64), rate_high=pl.Series(high, dtype=pl.Float64),
    )
    return Table(
        frame,
        {"variant": "label", "cases": "count", "with_outcome": "count", "rate": "rate", "rate_low": "rate",
         "rate_high": "rate"},
        title=f"{params.outcome} = {positive} by pathway",
        description=(
            f"Complete cases with a recorded {params.outcome}, per pathway: how many, how many with "
            f"{params.outcome} = {positive} (the case's last recorded value), and that share (95% Wilson interval)."
        ),
        denominators={c: ["cases", "with_outcome"] for c in ("rate", "rate_low", "rate_high")},
        dimensions=["variant"],
        keys=Keys(population="cases", variables={"variant": "complete pathway"},
                  counts={"cases": {params.outcome: "*recorded*"}, "with_outcome": {params.outcome: positive}}),
    )


# --------------------------------------------------------------------------- the finding


def _finding(step: Pathways, params: PathwaysParams, ctx: StepContext, log: Any, cases: Any,
             tables: dict[str, Table]) -> Finding:
    import polars as pl

    n_cases, n_events = cases.height, log.stays.height
    complete = int(cases["complete"].sum())
    still_open = int(cases["open"].sum())
    headlines: list[Any] = [say(
        "{cases} cases with {events} events from {first} to {last}: {complete} complete pathways, {open} still open "
        "when the log ends.",
        cases=Count(n_cases, population="cases"), events=Count(n_events),
        first=f"{log.first_time:%Y-%m-%d}", last=f"{log.last_time:%Y-%m-%d}",
        complete=Count(complete, {"complete pathway": "*recorded*"}, population="cases"),
        open=Count(still_open, {"open at the end of the log": "yes"}, population="cases"),
        fallback=say("{cases} cases from {first} to {last}.", cases=Count(n_cases, population="cases"),
                     first=f"{log.first_time:%Y-%m-%d}", last=f"{log.last_time:%Y-%m-%d}"),
    )]
    variants = tables["variants"].frame
    named = variants.filter(pl.col("variant") != OTHER)
    if named.height:
        top = named.row(0, named=True)
        cell = Cell("variants", "cases", {"variant": top["variant"]})
        headlines.append(say(
            "The commonest pathway, {path}, was taken by {share} of complete cases ({n}; 95% interval {low} to {high}).",
            path=top["variant"], share=Value(top["share"], ".0%", (cell,)), n=cell,
            low=Value(top["share_low"], ".0%", (cell,)), high=Value(top["share_high"], ".0%", (cell,)),
            fallback=say("The commonest pathway was {path}.", path=Value(top["variant"], sources=(cell,))),
        ))
    moves = tables["transitions"].frame.filter((pl.col("from") != START) & (pl.col("to") != END))
    if moves.height:
        busiest = moves.sort(["cases", "from", "to"], descending=[True, False, False]).row(0, named=True)
        cell = Cell("transitions", "cases", {"from": busiest["from"], "to": busiest["to"]})
        headlines.append(say(
            "The busiest move is {a} → {b}: {share} of the known moves out of {a} (95% interval {low} to {high}).",
            a=busiest["from"], b=busiest["to"], share=Value(busiest["share"], ".0%", (cell,)),
            low=Value(busiest["share_low"], ".0%", (cell,)), high=Value(busiest["share_high"], ".0%", (cell,)),
        ))
    durations = tables["durations"].frame.filter(pl.col("median_days").is_not_null())
    if durations.height:
        longest = durations.sort(["median_days", "activity"], descending=[True, False]).row(0, named=True)
        cell = Cell("durations", "stays", {"activity": longest["activity"]})
        headlines.append(say(
            "Cases spend longest in {a}: a median of {median} days (quartiles {q1} to {q3}), counting stays still open as censored.",
            a=longest["activity"], median=Value(longest["median_days"], ".1f", (cell,)),
            q1=Value(longest["q1_days"], ".1f", (cell,)),
            q3=Value(longest["q3_days"] if longest["q3_days"] is not None else math.nan, ".1f", (cell,)),
        ))
    looped = int(cases["looped"].sum())
    reentered = int(cases["reentered"].sum())
    loop_n = Count(looped, {"came back to an activity": "yes"}, population="cases")
    headlines.append(say(
        "{k} cases ({share}) came back to an activity they had left; {r} came back after reaching an end activity ({ends}).",
        k=loop_n, share=Value(looped / n_cases if n_cases else math.nan, ".0%", (loop_n,)),
        r=Count(reentered, {"came back after an end activity": "yes"}, population="cases"),
        ends=", ".join(log.ends),
        fallback="Few cases came back to an activity they had left (too few to publish the number).",
    ))
    if "outcomes" in tables:
        rates = tables["outcomes"].frame.filter(pl.col("variant") != OTHER)
        if rates.height >= 2:
            best = rates.sort(["rate", "variant"], descending=[True, False]).row(0, named=True)
            worst = rates.sort(["rate", "variant"]).row(0, named=True)
            c1 = Cell("outcomes", "cases", {"variant": best["variant"]})
            c2 = Cell("outcomes", "cases", {"variant": worst["variant"]})
            headlines.append(say(
                "{hi} of cases whose pathway was {p1} had {outcome}, against {lo} for {p2}.",
                outcome=tables["outcomes"].title.removesuffix(" by pathway"), hi=Value(best["rate"], ".0%", (c1,)), p1=best["variant"],
                lo=Value(worst["rate"], ".0%", (c2,)), p2=worst["variant"],
            ))
    metrics: dict[str, Any] = {
        "cases": Count(n_cases, population="cases"),
        "events": Count(n_events),
        "activities": float(log.stays["activity"].n_unique()),
        "span_days": float(round(log.span_days, 3)),
    }
    caveats: list[Any] = [
        "Shares of moves rest on the cases' recorded events: an activity that is not recorded, or "
        "recorded late, changes the pathways. Open cases' next steps are unknown and left out of the shares."
    ]
    if log.dropped:
        caveats.append(say(
            "{k} events with no case, activity or readable time are left out.",
            k=Count(log.dropped, {"event (readable)": "no"}),
            fallback="A few events with no case, activity or readable time are left out.",
        ))
    figures = {"map": Chart(
        "Pathway map", "pathways.map", "transitions",
        alt=("A directed graph of the activities: an arrow for each move between them, as wide as the "
             "move's share of the moves out of its activity and labelled with that share; moves too "
             "few to publish are drawn thin, grey and dashed."),
        options={"ends": list(log.ends)},
    )}
    ctx.report(1.0, "done")
    return Finding(
        step=step.name, title="Case pathways", headlines=headlines, tables=tables, figures=figures,
        metrics=metrics, caveats=caveats, params=params.model_dump(mode="json"),
        method=step.method_text() + f" Columns: case {log.case}, activity {log.activity}, time {log.time}; "
        f"end activities: {', '.join(log.ends)}" + (f"; start activities: {', '.join(log.starts)}." if log.starts else "."),
    )


# --------------------------------------------------------------------------- figure


def _layers(frame: Any) -> dict[str, int]:
    """A layer per activity: its shortest number of moves from the start."""
    edges: dict[str, list[str]] = {}
    for a, b in zip(frame["from"].to_list(), frame["to"].to_list()):
        edges.setdefault(a, []).append(b)
    layer = {START: 0}
    queue = [START]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, [])):
            if nxt not in layer:
                layer[nxt] = layer[node] + 1
                queue.append(nxt)
    deepest = max(layer.values(), default=0)
    for node in sorted(set(edges) | {b for bs in edges.values() for b in bs}):
        layer.setdefault(node, deepest + 1)
    if END in layer:
        layer[END] = max(v for k, v in layer.items() if k != END) + 1
    return layer


@drawing("pathways.map")
def draw_map(d: Drawing) -> Any:
    """Activities in layers from left to right; each move an arrow as wide as its share."""
    from matplotlib.patches import FancyArrowPatch

    from expedition.steps._plot import new_figure

    frame = d.frame
    hidden = d.hidden("cases")
    layer = _layers(frame)
    columns: dict[int, list[str]] = {}
    for node, k in sorted(layer.items(), key=lambda kv: (kv[1], kv[0])):
        columns.setdefault(k, []).append(node)
    pos = {}
    for k, nodes in columns.items():
        for i, node in enumerate(nodes):
            pos[node] = (float(k), (len(nodes) - 1) / 2 - i)
    width = max(len(columns), 2) * 1.8
    height = max(max(len(v) for v in columns.values()), 2) * 1.3
    fig, ax = new_figure(width, height)
    shares = d.values("share")
    for i, (a, b) in enumerate(zip(frame["from"].to_list(), frame["to"].to_list())):
        if a not in pos or b not in pos:
            continue
        share = shares[i]
        suppressed = hidden[i] or math.isnan(share)
        lw = 0.6 if suppressed else 0.6 + 7 * share
        colour = SUPPRESSED_COLOUR if suppressed else PALETTE[0]
        same = a == b
        rad = 0.0 if pos[a][0] < pos[b][0] else 0.35
        if same:
            x, y = pos[a]
            arrow = FancyArrowPatch((x - 0.08, y + 0.12), (x + 0.08, y + 0.12), connectionstyle="arc3,rad=-1.8",
                                    arrowstyle="-|>", mutation_scale=10, lw=lw, color=colour,
                                    linestyle="--" if suppressed else "-")
            label_at = (x, y + 0.42)
        else:
            arrow = FancyArrowPatch(pos[a], pos[b], connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                    mutation_scale=10, lw=lw, color=colour, shrinkA=22, shrinkB=22,
                                    linestyle="--" if suppressed else "-", alpha=0.8)
            (x1, y1), (x2, y2) = pos[a], pos[b]
            # the middle of matplotlib's arc3 curve: halfway from the chord's middle to its control point
            label_at = ((x1 + x2) / 2 + rad * (y2 - y1) / 2, (y1 + y2) / 2 - rad * (x2 - x1) / 2 + (0 if rad else 0.08))
        ax.add_patch(arrow)
        text = d.rules.symbol if suppressed else f"{share:.0%}"
        ax.text(*label_at, text, ha="center", va="center", fontsize=7, color="#333333",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    for node, (x, y) in pos.items():
        pseudo = node in (START, END)
        ax.text(x, y, node, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.4", "fc": "#f2f2f2" if pseudo else "#dbe8f3",
                      "ec": "#8c8c8c" if pseudo else PALETTE[0]})
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.axis("off")
    ax.set_title("Moves between activities (arrow width: share of moves out)")
    return fig
