"""Synthetic monthly service demand per unit, with trend and seasonality.

Every count is drawn from a seeded random number generator; nothing here is a real service's
demand. Each unit's expected demand in month *t* (counting from 0) is

    base × (1 + growth × t / 12) × (1 + amplitude × cos(2π (month − peak) / 12))

and the count is Poisson with that mean. The units (`UNITS`) are set so that the `forecast`
step has something to find, and something not to find:

* North, Mid, South and West Essex grow by 2–8% a year with a seasonal swing of 12–25%
  (peaks in spring or autumn, troughs in August and December): a model that follows trend and
  season should beat the seasonal naive forecast.
* Out of Hours has no trend and no season — pure noise around a level — so no model should beat
  the simple benchmarks there.

And a change for the `evaluate` step to find (`INTERVENTION`): from April 2023 West Essex's
demand falls by 20% (a new triage service, say), on top of its trend and season. The other
units' counts are exactly those drawn without it; West Essex's later counts are its counts
without the change thinned binomially (each contact kept with probability 0.8, from a second
seeded generator), which is again Poisson, with mean 0.8 times the expected demand.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from expedition.examples import write_frame

if TYPE_CHECKING:
    import polars as pl

UNITS = {
    # unit: (base per month, yearly growth, seasonal amplitude, peak month)
    "North Essex": (420.0, 0.06, 0.20, 10),
    "Mid Essex": (360.0, 0.04, 0.18, 3),
    "South Essex": (510.0, 0.08, 0.25, 10),
    "West Essex": (280.0, 0.02, 0.12, 4),
    "Out of Hours": (150.0, 0.0, 0.0, 1),
}
START = date(2019, 1, 1)
#: the planted change: unit, first month it applies to, relative change of expected demand
INTERVENTION = ("West Essex", date(2023, 4, 1), -0.20)


def expected(unit: str, months: int, *, planted: bool = True) -> list[float]:
    """The planted expected demand of *unit* for each of *months* months from `START` (without
    the `INTERVENTION` when *planted* is false)."""
    import math

    base, growth, amplitude, peak = UNITS[unit]
    out = []
    for t in range(months):
        month = (START.month - 1 + t) % 12 + 1
        season = 1 + amplitude * math.cos(2 * math.pi * (month - peak) / 12)
        change = 1.0
        if planted and unit == INTERVENTION[0] and _month(t) >= INTERVENTION[1]:
            change += INTERVENTION[2]
        out.append(base * (1 + growth * t / 12) * season * change)
    return out


def _month(t: int) -> date:
    total = START.year * 12 + START.month - 1 + t
    return date(total // 12, total % 12 + 1, 1)


def generate(months: int = 72, seed: int = 2026) -> pl.DataFrame:
    """One row per unit and month: month (first day), unit, demand. Identical for one seed."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    thin = np.random.default_rng([seed, 1])
    rows = {"month": [], "unit": [], "demand": []}
    for unit in UNITS:
        means = np.array(expected(unit, months, planted=False))
        counts = rng.poisson(means)
        if unit == INTERVENTION[0]:
            after = np.array([_month(t) >= INTERVENTION[1] for t in range(months)])
            counts = np.where(after, thin.binomial(counts, 1 + INTERVENTION[2]), counts)
        for t in range(months):
            rows["month"].append(_month(t))
            rows["unit"].append(unit)
            rows["demand"].append(int(counts[t]))
    return pl.DataFrame(rows).sort("month", "unit")


def write(path: str | Path, months: int = 72, seed: int = 2026) -> Path:
    """Write the synthetic demand to CSV (or Parquet, by extension)."""
    frame = generate(months, seed)
    return write_frame(frame, path)
