"""A synthetic event log of cases moving through a service, with planted pathways.

Every row is drawn from a seeded random number generator; no real case is behind any of them.
One row per event: ``case_id``, ``activity``, ``timestamp`` (when the case entered the
activity), and two case attributes, ``team`` and ``outcome``.

Cases arrive as a Poisson process (`PER_DAY` a day) from `START` for `DAYS` days. Each case
starts at ``referral`` and moves between activities with the planted shares in `ROUTES`, staying
in each activity for an exponential time with the mean in `MEAN_DAYS`:

* referral → assessment 70%, referral → close 30%;
* assessment → plan 35%, assessment → close 55%, assessment → assessment 10% (a loop: the
  assessment is done again);
* plan → review always; review → plan 25% (another loop), review → close 75%;
* close → referral 8% (a re-entry: the case comes back), else the case ends at close.

The log is cut at the end of the last day, so cases still in progress then are *open*: their
last stay is censored. ``outcome`` is "improved" with a chance that depends on the pathway
(higher after a plan). The `pathways` step should recover these shares within its intervals, and
`simulate` can be fed the log's arrivals, durations and routing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from expedition.examples import write_frame

if TYPE_CHECKING:
    import polars as pl

START = datetime(2023, 1, 2)
DAYS = 730
PER_DAY = 4.0
#: activity -> list of (next activity, share); None ends the case
ROUTES: dict[str, list[tuple[str | None, float]]] = {
    "referral": [("assessment", 0.70), ("close", 0.30)],
    "assessment": [("plan", 0.35), ("close", 0.55), ("assessment", 0.10)],
    "plan": [("review", 1.0)],
    "review": [("plan", 0.25), ("close", 0.75)],
    "close": [("referral", 0.08), (None, 0.92)],
}
MEAN_DAYS = {"referral": 2.0, "assessment": 10.0, "plan": 40.0, "review": 7.0, "close": 30.0}
TEAMS = ("North", "South", "East", "West")


def generate(days: int = DAYS, per_day: float = PER_DAY, seed: int = 2026) -> pl.DataFrame:
    """The event log, sorted by case and time. Identical for one seed."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    end = START + timedelta(days=days)
    n = int(rng.poisson(per_day * days))
    arrivals = np.sort(rng.uniform(0, days, n))
    cases, activities, stamps, teams, outcomes = [], [], [], [], []
    for i, t0 in enumerate(arrivals):
        case = f"C{i + 1:06d}"
        team = TEAMS[int(rng.integers(len(TEAMS)))]
        t, activity, planned = float(t0), "referral", False
        rows = []
        while activity is not None and t < days:
            rows.append((activity, t))
            planned |= activity == "plan"
            stay = float(rng.exponential(MEAN_DAYS[activity]))
            choices, shares = zip(*ROUTES[activity])
            nxt = choices[int(rng.choice(len(choices), p=np.asarray(shares)))]
            t += stay if nxt is not None or activity != "close" else 0.0
            activity = nxt
        improved = rng.random() < (0.65 if planned else 0.40)
        for activity_name, when in rows:
            cases.append(case)
            activities.append(activity_name)
            stamps.append(START + timedelta(days=when))
            teams.append(team)
            outcomes.append("improved" if improved else "not improved")
    frame = pl.DataFrame(
        {"case_id": cases, "activity": activities, "timestamp": stamps, "team": teams, "outcome": outcomes},
        schema={"case_id": pl.String, "activity": pl.String, "timestamp": pl.Datetime("us"),
                "team": pl.String, "outcome": pl.String},
    )
    frame = frame.with_columns(pl.col("timestamp").dt.truncate("1m"))
    assert frame["timestamp"].max() < end
    return frame.sort("case_id", "timestamp", maintain_order=True)


def write(path: str | Path, *, days: int = DAYS, seed: int = 2026) -> Path:
    """Write the event log to CSV (or Parquet when *path* ends in .parquet)."""
    return write_frame(generate(days=days, seed=seed), path)
