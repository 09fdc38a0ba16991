"""The Spark engine against the Polars engine: the same delivery and contract, both outputs written.

    python bench/bench_validate_spark.py                    # 1M and 5M rows, 2 runs each
    python bench/bench_validate_spark.py --sizes 200000 --repeat 1   # a quick look

The data and contract are `bench_validate.py`'s (20 columns, 0.1% of rows corrupted). Each run is
a fresh process that validates the CSV and writes the valid and quarantined rows to Parquet:
``polars`` calls `expedition.validation.engine.validate` and writes both frames; ``spark`` calls
`expedition.validation.spark.validate` on a local Spark (``local[*]``, Spark's shuffle partitions,
2 GB driver) and writes both as single Parquet files typed as the Polars engine types them.
Start-up counts for both (for Spark: the JVM and the session, about 5 s here). Peak memory is
the largest resident size of the whole process tree (Python and, for Spark, its JVM), sampled
every 50 ms. Each run also prints its counts, which must agree between the engines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_validate  # noqa: E402  (its generate() and contract_yaml(), unchanged)


def _tree_rss(pid: int) -> int:
    """Resident bytes of *pid* and every process below it."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        p = int(entry)
        children.setdefault(int(fields[1]), []).append(p)
        rss[p] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def run(cmd: list[str]) -> tuple[float, float, dict]:
    """(wall seconds, peak MiB of the process tree, the JSON the worker printed)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return elapsed, peak / 2**20, json.loads(out.strip().splitlines()[-1])


def worker(engine: str, path: str, contract: str, out: str) -> None:
    from expedition.contract import load_contract

    c = load_contract(contract)
    if engine == "polars":
        from expedition.validation.engine import validate

        result = validate(path, c)
        result.valid.write_parquet(Path(out) / "valid.parquet", compression="lz4", statistics=False)
        result.quarantine.write_parquet(Path(out) / "quarantine.parquet", compression="lz4",
                                        statistics=False)
    else:
        from expedition.validation.spark import validate

        result = validate(path, c)
        result.valid.write_parquet(Path(out) / "valid.parquet")
        result.quarantine.write_parquet(Path(out) / "quarantine.parquet")
    r = result.report
    print(json.dumps({"read": r.rows_read, "valid": r.rows_valid,
                      "quarantined": r.rows_quarantined,
                      "failed": {c.id: c.failed for c in r.checks if c.failed}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--worker", nargs=4, metavar=("ENGINE", "PATH", "CONTRACT", "OUT"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    bench_validate.WORK.mkdir(parents=True, exist_ok=True)
    contract = bench_validate.WORK / "bench-contract.yaml"
    contract.write_text(bench_validate.contract_yaml(), encoding="utf-8")
    print(f"{'rows':>10} {'engine':<7} {'median s':>9} {'min s':>7} {'peak MiB':>9}  counts")
    for rows in args.sizes:
        data = bench_validate.ensure_data(rows)
        results: dict[str, tuple[list[float], float, dict]] = {}
        for _ in range(args.repeat):
            for engine in ("polars", "spark"):  # taking turns: a busy spell hits both
                with tempfile.TemporaryDirectory(prefix="bench-spark-") as out:
                    seconds, peak, counts = run([sys.executable, __file__, "--worker", engine,
                                                 str(data), str(contract), out])
                times, old_peak, _ = results.get(engine, ([], 0.0, {}))
                results[engine] = (times + [seconds], max(old_peak, peak), counts)
        for engine, (times, peak, counts) in results.items():
            print(f"{rows:>10,} {engine:<7} {statistics.median(times):>9.2f} {min(times):>7.2f} "
                  f"{peak:>9.0f}  {counts['read']:,} = {counts['valid']:,} + {counts['quarantined']:,}",
                  flush=True)
        same = results["polars"][2] == results["spark"][2]
        ratio = statistics.median(results["spark"][0]) / statistics.median(results["polars"][0])
        print(f"{rows:>10,} spark / polars time: {ratio:.1f}x; counts identical: {same}", flush=True)


if __name__ == "__main__":
    main()
