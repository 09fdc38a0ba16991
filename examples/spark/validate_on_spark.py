"""Validate a delivery on Spark: the worked example of the README's "Running on Spark".

Run it locally (PySpark and Java 17+: ``pip install "expedition[spark]"``):

    python examples/spark/validate_on_spark.py

It writes 100,000 synthetic referrals (with a few bad rows) to a CSV, validates them against the
repo's referrals contract on a local Spark and with the Polars engine, checks that both engines
give the same outcome, and writes the valid and quarantined rows as Parquet.

On a cluster, give it the delivery's URI and folders for the outputs; the session is the
cluster's (``spark-submit`` and Databricks provide one):

    spark-submit examples/spark/validate_on_spark.py \\
        --data s3a://bucket/referrals-2026-11.csv \\
        --contract examples/referrals/schemas/referrals.yaml \\
        --out s3a://bucket/validated/referrals
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTRACT = HERE.parent / "referrals" / "schemas" / "referrals.yaml"


def sample(folder: Path, rows: int = 100_000) -> Path:
    """Synthetic referrals as CSV, with one bad value in every 1,000th row."""
    import polars as pl

    from expedition.examples.referrals import write

    path = write(folder / "referrals.csv", rows=rows, seed=7)
    frame = pl.read_csv(path, infer_schema=False)
    bad = pl.int_range(pl.len()) % 1000 == 999
    frame = frame.with_columns(
        pl.when(bad).then(pl.lit("2024-02-30")).otherwise(pl.col("referral_date")).alias("referral_date"))
    frame.write_csv(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Validate a delivery on Spark.")
    parser.add_argument("--data", help="a CSV delivery: a local path or a URI Spark reads "
                                       "(default: 100,000 synthetic referrals)")
    parser.add_argument("--contract", default=str(CONTRACT), help="the data contract (YAML)")
    parser.add_argument("--out", help="a folder or URI for valid/ and quarantine/ "
                                      "(default: a temporary folder)")
    args = parser.parse_args()

    from expedition.contract import load_contract
    from expedition.validation import spark as spark_engine

    contract = load_contract(args.contract)
    work = Path(tempfile.mkdtemp(prefix="expedition-spark-"))
    data = args.data or str(sample(work))
    out = args.out or str(work)

    result = spark_engine.validate(data, contract)   # the active session, or a local one
    report = result.report
    print(report.summary())
    for check in report.failed_checks:
        print(f"  {check.id}: {check.failed:,} rows ({check.failure}), e.g. {check.examples[:1]}")
    if "://" in out:  # a cluster's storage: Parquet folders
        result.valid.write_parquet(f"{out}/valid")
        result.quarantine.write_parquet(f"{out}/quarantine")
    else:  # a local folder: one Parquet file each, typed as the Polars engine types them
        result.valid.write_parquet(Path(out) / "valid.parquet")
        result.quarantine.write_parquet(Path(out) / "quarantine.parquet")
    print(f"valid and quarantined rows written to {out}")

    if args.data is None:  # locally: the Polars engine gives the same outcome
        from expedition.validation.engine import validate

        polars = validate(data, contract).report
        same = (polars.rows_valid, polars.rows_quarantined, [(c.id, c.failed) for c in polars.checks]) == (
            report.rows_valid, report.rows_quarantined, [(c.id, c.failed) for c in report.checks])
        print(json.dumps({"same_outcome_as_polars": same}))
    else:  # a job: fail it when the delivery fails its contract
        raise SystemExit(report.exit_code)


if __name__ == "__main__":
    main()
