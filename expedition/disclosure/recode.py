"""Global recoding: rare categories combined before any table is made.

Suppressing a small category cell hides it and, through secondary suppression, cells of other
categories too: four records of one gender can hide every figure for another. Statistical
offices avoid this by recoding before tabulating (sdcMicro's ``globalRecode`` and
``localSuppression``; the ONS and ACRO guidance): the categories of a label column with fewer
records than the threshold are combined into one category, "Other (fewer than N each)"; when
even together they stay below the threshold, they are treated as not recorded (set missing),
where they join the records whose value was never recorded. Either way no published table has a
category below the threshold to begin with, and the big categories keep their counts.

The runner applies it to the columns a step tabulates (`expedition.steps.Step.recode_columns`),
unless ``disclosure.recode_labels`` is false for the project or ``recode: false`` for the step.
What was recoded is logged (how many categories and records, never which values).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl


def other_label(min_count: int) -> str:
    return f"Other (fewer than {min_count} each)"


@dataclass(frozen=True)
class Recoding:
    """What recoding did to one column."""

    column: str
    categories: int
    combined: bool  # True: into "Other (...)"; False: set missing

    def describe(self, min_count: int) -> str:
        if self.combined:
            return (f"{self.column}: {self.categories} categories with fewer than {min_count} records "
                    f"each were combined into \"{other_label(min_count)}\"")
        return (f"{self.column}: {self.categories} categor{'y' if self.categories == 1 else 'ies'} with "
                f"fewer than {min_count} records together were treated as not recorded")

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "categories": self.categories, "combined": self.combined}


def recode_labels(
    frame: pl.DataFrame, columns: Iterable[str], min_count: int, *, keep: Iterable[Any] = ()
) -> tuple[pl.DataFrame, list[Recoding]]:
    """Combine the rare categories of each text or categorical column in *columns*.

    Values in *keep* (e.g. the outcome value a step compares against) are never recoded.
    """
    import polars as pl

    keep_values = {str(v) for v in keep}
    done: list[Recoding] = []
    updates = []
    for column in dict.fromkeys(columns):
        if column not in frame.columns:
            continue
        dtype = frame.schema[column]
        if dtype not in (pl.String, pl.Categorical, pl.Enum) and not isinstance(dtype, (pl.Categorical, pl.Enum)):
            continue
        counts = frame.select(pl.col(column).cast(pl.String).value_counts(sort=True)).unnest(column)
        value_col, count_col = counts.columns
        rare = [
            v for v, n in counts.iter_rows()
            if v is not None and 0 < n < min_count and v not in keep_values
        ]
        if not rare:
            continue
        total = int(counts.filter(pl.col(value_col).is_in(rare))[count_col].sum())
        combined = total >= min_count and len(rare) >= 2
        replacement = pl.lit(other_label(min_count)) if combined else pl.lit(None, dtype=pl.String)
        updates.append(
            pl.when(pl.col(column).cast(pl.String).is_in(rare)).then(replacement)
            .otherwise(pl.col(column).cast(pl.String)).alias(column)
        )
        done.append(Recoding(column, len(rare), combined))
    if updates:
        frame = frame.with_columns(updates)
    return frame, done
