"""Profiling a delivery on Spark: the aggregates a table too large for one machine can give.

``profile_spark(path_or_uri)`` reads a CSV or TSV delivery on Spark as the Spark validation
engine reads it (every value as text, exact row numbers not needed) and computes, in one Spark
job: rows; per column the missing values (empty), the distinct values *approximately*
(HyperLogLog++, ``approx_count_distinct``, relative standard deviation 5%), and for columns whose values are
numbers (at least 99% of those present parse as Polars parses numbers) the minimum, maximum,
mean and the quartiles *approximately* (``percentile_approx``). The document says which figures
are approximate. It is not the full profile (`expedition.profile.profile`: semantic types,
alerts, personal data), which reads the file on this machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from expedition.reading import ReadOptions

#: Share of present values that must parse as numbers for number statistics.
NUMERIC_SHARE = 0.99
QUANTILES = (0.25, 0.5, 0.75)
#: percentile_approx's accuracy (its default: a relative error of about 1/10,000).
ACCURACY = 10_000


def profile_spark(source: str | Path, *, options: ReadOptions | None = None,
                  spark: SparkSession | None = None, name: str | None = None) -> dict[str, Any]:
    """The Spark profile of a CSV or TSV delivery (a local path or a URI Spark reads)."""
    from pyspark.sql import functions as F

    from expedition.validation import spark as engine

    engine.require_pyspark()
    spark = spark or engine.session()
    src = engine._source(source, options)
    try:
        frame, columns = engine._read(spark, src, multiline=False)
    except Exception as exc:  # noqa: BLE001 - Spark's own exception types
        raise engine._unreadable(exc, src) from None
    aggregates = [F.count(F.lit(1)).alias("rows")]
    for i, column in enumerate(columns):
        value = engine._name(column)
        number = F.when(engine._strip(value).rlike(engine._FLOAT),
                        engine._strip(value).try_cast("double"))
        aggregates += [
            F.count(value).alias(f"present{i}"),
            F.approx_count_distinct(value).alias(f"distinct{i}"),
            F.count(number).alias(f"numbers{i}"),
            F.min(number).alias(f"min{i}"),
            F.max(number).alias(f"max{i}"),
            F.avg(number).alias(f"mean{i}"),
            F.percentile_approx(number, list(QUANTILES), ACCURACY).alias(f"quantiles{i}"),
        ]
    try:
        row = frame.agg(*aggregates).collect()[0]
    except Exception as exc:  # noqa: BLE001 - a file Spark cannot read fails here, lazily
        raise engine._unreadable(exc, src) from None
    rows = int(row["rows"])
    described = []
    for i, column in enumerate(columns):
        present = int(row[f"present{i}"])
        numbers = int(row[f"numbers{i}"])
        entry: dict[str, Any] = {
            "name": column,
            "missing": rows - present,
            "missing_share": round((rows - present) / rows, 6) if rows else 0.0,
            "distinct_approx": int(row[f"distinct{i}"]),
            "numeric": bool(present) and numbers / present >= NUMERIC_SHARE,
        }
        if entry["numeric"]:
            quantiles = row[f"quantiles{i}"] or [None] * len(QUANTILES)
            entry.update({
                "min": row[f"min{i}"], "max": row[f"max{i}"], "mean": row[f"mean{i}"],
                "quantiles_approx": {f"p{int(q * 100)}": v for q, v in zip(QUANTILES, quantiles)},
            })
        described.append(entry)
    return {
        "engine": "spark",
        "source": name or str(source),
        "rows": rows,
        "approximate": {
            "distinct_approx": "HyperLogLog++ (approx_count_distinct), relative standard deviation 5%",
            "quantiles_approx": f"percentile_approx, accuracy {ACCURACY:,}",
        },
        "columns": described,
    }
