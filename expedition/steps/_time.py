"""Dates and periods shared by the place and demand steps (`hotspots`, `forecast`).

Polars is imported inside the functions, like every heavy library in the steps.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from expedition.vocabulary import DATE_FORMATS

#: period name -> (Polars truncation interval, seasonal periods per year)
PERIODS = {"week": ("1w", 52), "month": ("1mo", 12), "quarter": ("1q", 4)}


def to_dates(series: Any) -> Any:
    """A Date series from dates, datetimes or text (ISO dates, "YYYY-MM" months, UK d/m/Y).

    Values that cannot be read become null; the caller counts them.
    """
    import polars as pl

    dtype = series.dtype
    if dtype == pl.Date:
        return series
    if isinstance(dtype, pl.Datetime):
        return series.dt.date()
    text = series.cast(pl.String).str.strip_chars()
    frame = pl.DataFrame({"t": text})
    month_only = pl.col("t").str.contains(r"^\d{4}-\d{1,2}$")
    filled = pl.when(month_only).then(pl.col("t") + "-01").otherwise(pl.col("t"))
    attempts = [filled.str.to_date(fmt, strict=False) for fmt in DATE_FORMATS]
    # date-times written as text: keep the date part
    attempts.append(filled.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
    return frame.select(pl.coalesce(attempts).alias(series.name)).to_series()


def period_start(dates: Any, period: str) -> Any:
    """The first day of each date's week (Monday), month or quarter."""
    return dates.dt.truncate(PERIODS[period][0])


def period_range(first: date, last: date, period: str) -> list[date]:
    """Every period start from *first* to *last* inclusive (both already period starts)."""
    import polars as pl

    return pl.date_range(first, last, interval=PERIODS[period][0], eager=True).to_list()


def offset(start: date, k: int, period: str) -> date:
    """*start* moved by *k* periods (negative for earlier)."""
    import polars as pl

    return pl.Series([start]).dt.offset_by(f"{k}{PERIODS[period][0][1:]}").item()


def period_end(start: date, period: str) -> date:
    """The last day of the period that starts on *start*."""
    return date.fromordinal(offset(start, 1, period).toordinal() - 1)


def label(start: date, period: str) -> str:
    """A short name for a period: 2024-03, 2024 Q1 or the week's Monday."""
    if period == "month":
        return f"{start:%Y-%m}"
    if period == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return f"w/c {start:%Y-%m-%d}"


def parse_period(value: str | date, period: str, *, where: str) -> date:
    """A period start from "2025-04", "2025-04-01" or a date (for scenario and parameter values)."""
    import polars as pl

    from expedition.errors import StepError

    if isinstance(value, date):
        parsed: date | None = value
    else:
        parsed = to_dates(pl.Series([str(value)])).item()
    if parsed is None:
        raise StepError(
            f"{where}: {value!r} is not a date",
            'write a month as "2025-04" or a date as "2025-04-01"',
        )
    return pl.Series([parsed]).dt.truncate(PERIODS[period][0]).item()
