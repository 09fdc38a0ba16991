"""Event logs shared by `pathways` and `simulate`: one row per event (case, activity, time).

An event log is read into *stays*: each event is a stay in its activity from its time until the
case's next event. A stay with no next event ends the case when its activity is an end activity
(the ``end`` parameter, or by default the activities that end at least half of their stays); otherwise the
case is still *open* at the end of the log and the stay is censored there. A case whose first
activity is not a ``start`` activity (when given) began before the log: its pathway is incomplete.

Polars is imported inside the functions, like every heavy library in the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from expedition.errors import StepError

CASE_NAMES = ("case", "case_id", "caseid", "case_ref", "id")
ACTIVITY_NAMES = ("activity", "state", "stage", "event", "status", "step")
TIME_NAMES = ("timestamp", "time", "datetime", "date", "event_time", "event_date")
START = "(start)"
END = "(end)"


@dataclass(frozen=True)
class EventLog:
    """Stays, one per event, in case and time order.

    ``stays`` has columns case, activity, t (days since the log's first event), next (the next
    activity, `END` when the case ended there, None when it is still open), days (the stay's
    length; to the end of the log when open), open (the stay is censored), first (the case's
    first event), seq (its position in the case).
    """

    stays: Any
    case: str
    activity: str
    time: str
    ends: tuple[str, ...]
    starts: tuple[str, ...]
    span_days: float
    first_time: Any
    last_time: Any
    dropped: int


def _pick(columns: list[str], wanted: str | None, roles: list[str], names: tuple[str, ...], param: str,
          step: str, what: str) -> str:
    from expedition.steps import require_columns

    if wanted is not None:
        require_columns(columns, [wanted], param=param, step=step)
        return wanted
    for column in roles:
        if column in columns:
            return column
    lowered = {c.lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    raise StepError(
        f"step '{step}': no {what} column found",
        f"set {param} to the column holding {what}; the columns are: {', '.join(columns)}",
    )


def read_log(data: Any, *, case: str | None, activity: str | None, time: str | None, start: list[str] | None,
             end: list[str] | None, roles: dict[str, str], step: str) -> EventLog:
    """The event log in *data* as stays (see `EventLog`); bad columns are a StepError."""
    import polars as pl

    from expedition.steps import _time

    columns = list(data.columns)
    by_role = lambda r: [c for c, role in roles.items() if role == r]  # noqa: E731
    case = _pick(columns, case, by_role("identifier"), CASE_NAMES, "case", step, "each event's case id")
    activity = _pick(columns, activity, [], ACTIVITY_NAMES, "activity", step, "each event's activity or state")
    time = _pick(columns, time, by_role("date"), TIME_NAMES, "time", step, "each event's time")
    if len({case, activity, time}) < 3:
        raise StepError(f"step '{step}': case, activity and time must be three different columns",
                        f"they are {case!r}, {activity!r} and {time!r}")
    raw = data[time]
    if raw.dtype == pl.Datetime or isinstance(raw.dtype, pl.Datetime):
        stamps = raw.cast(pl.Datetime("us"))
    elif raw.dtype == pl.Date:
        stamps = raw.cast(pl.Datetime("us"))
    else:
        text = raw.cast(pl.String).str.strip_chars()
        stamps = text.str.to_datetime(strict=False, time_unit="us")
        stamps = stamps.fill_null(_time.to_dates(raw).cast(pl.Datetime("us")))
    work = pl.DataFrame({
        "case": data[case].cast(pl.String),
        "activity": data[activity].cast(pl.String),
        "ts": stamps,
    }).with_row_index("row")
    kept = work.filter(pl.col("case").is_not_null() & pl.col("activity").is_not_null() & pl.col("ts").is_not_null())
    dropped = work.height - kept.height
    if kept.height == 0:
        raise StepError(
            f"step '{step}': no event has a case, an activity and a readable time",
            f"check the columns {case!r}, {activity!r} and {time!r} (times like 2024-03-31 or 2024-03-31 14:05)",
        )
    known = set(kept["activity"].unique().to_list())
    for param, values in (("start", start), ("end", end)):
        unknown = [v for v in (values or []) if v not in known]
        if unknown:
            raise StepError(
                f"step '{step}': parameter {param!r} names {', '.join(repr(u) for u in unknown)}, "
                f"which {'is' if len(unknown) == 1 else 'are'} not an activity in {activity!r}",
                f"the activities are: {', '.join(sorted(known)[:30])}",
            )
    first_time, last_time = kept["ts"].min(), kept["ts"].max()
    day = 86_400_000_000  # microseconds
    stays = (
        kept.sort("case", "ts", "row")
        .with_columns(t=(pl.col("ts") - first_time).dt.total_microseconds() / day)
        .with_columns(
            next=pl.col("activity").shift(-1).over("case"),
            next_t=pl.col("t").shift(-1).over("case"),
            seq=pl.int_range(pl.len()).over("case"),
        )
    )
    span = (last_time - first_time).total_seconds() / 86_400
    if end:
        ends = tuple(dict.fromkeys(end))
    else:
        last = stays.group_by("activity").agg(pl.col("next").is_null().mean().alias("last"))
        ends = tuple(sorted(last.filter(pl.col("last") >= 0.5)["activity"].to_list()))
    ended = pl.col("next").is_null() & pl.col("activity").is_in(list(ends))
    stays = stays.with_columns(
        open=pl.col("next").is_null() & ~pl.col("activity").is_in(list(ends)),
        first=pl.col("seq") == 0,
    ).with_columns(
        next=pl.when(ended).then(pl.lit(END)).otherwise(pl.col("next")),
        days=pl.when(pl.col("next_t").is_not_null()).then(pl.col("next_t") - pl.col("t"))
        .when(pl.col("open")).then(pl.lit(span) - pl.col("t")).otherwise(None),
    ).select("case", "activity", "t", "next", "days", "open", "first", "seq")
    return EventLog(stays, case, activity, time, ends, tuple(start or ()), span, first_time, last_time, dropped)


def transitions(log: EventLog) -> Any:
    """Moves between activities: from, to, moves, out (every known move out of *from*), with a
    `START` row per case start and an `END` row per case ending (open cases' last stays, whose
    next activity is unknown, are left out)."""
    import polars as pl

    stays = log.stays
    starts = stays.filter(pl.col("first")).select(pl.lit(START).alias("from"), pl.col("activity").alias("to"))
    moves = stays.filter(pl.col("next").is_not_null()).select(pl.col("activity").alias("from"), pl.col("next").alias("to"))
    both = pl.concat([starts, moves])
    counted = both.group_by("from", "to").agg(pl.len().cast(pl.Int64).alias("moves"))
    counted = counted.with_columns(out=pl.col("moves").sum().over("from"))
    return counted.sort(["from", "moves", "to"], descending=[False, True, False])


def routing(log: EventLog, stages: list[str]) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """What a simulation through *stages* needs from the log: the moves into each stage from
    outside them (a case's start, or an activity that is not a stage, such as a re-entry after
    closing), and from each stage the share of its known moves going to each other stage (the
    rest leave)."""
    import polars as pl

    moves = transitions(log)
    entry: dict[str, int] = {}
    route: dict[str, dict[str, float]] = {s: {} for s in stages}
    for row in moves.filter(pl.col("to").is_in(stages)).iter_rows(named=True):
        if row["from"] in route:
            route[row["from"]][row["to"]] = row["moves"] / row["out"]
        else:
            entry[row["to"]] = entry.get(row["to"], 0) + int(row["moves"])
    return entry, route


def case_sequences(log: EventLog) -> Any:
    """One row per case: its activities in order (a list), whether it is complete (started at a
    start activity, when given, and ended), and whether it came back to an activity."""
    import polars as pl

    stays = log.stays
    per_case = stays.group_by("case", maintain_order=True).agg(
        pl.col("activity").alias("path"),
        pl.col("open").any().alias("open"),
        pl.col("activity").first().alias("first_activity"),
        (pl.col("activity").is_in(list(log.ends)) & pl.col("next").ne(END)).any().alias("reentered"),
    )
    started = pl.col("first_activity").is_in(list(log.starts)) if log.starts else pl.lit(True)
    return per_case.with_columns(
        complete=~pl.col("open") & started,
        looped=pl.col("path").list.len() > pl.col("path").list.unique().list.len(),
    )
