"""What the project lock costs `data add`: the same adds with the lock and with it switched off.

    python bench/bench_lock.py [--rounds 5] [--small 20] [--rows 100000] [--mid 4]

"With the lock" is `add_dataset` as shipped: the file lock (filelock), the holder's record in
.expedition/lock.json, the check for a half-done commit and the sweep for leftovers when a
process first takes the lock. "Without" replaces the lock with a no-op in the same process, so
the difference is the lock and nothing else (both write the copy and expedition.yaml as one
unit). Each variant runs in a fresh process per round, rounds alternating, and times the adds
alone (not Python's start-up); the peak memory is that of the whole process. Small deliveries
show the lock's fixed cost per add; mid-size ones (a generated referrals file) show it beside
the copying and hashing that dominate a real add.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def child(mode: str, files: list[str], work: str) -> None:
    import time

    from expedition import _lock, project
    from expedition.datasets import add_dataset
    from expedition.project import Project
    from expedition.scaffold import new_project

    if mode == "without":
        @contextlib.contextmanager
        def no_lock(root, what="", *, timeout=None):
            yield

        _lock.project_lock = no_lock
        project.project_lock = no_lock
    root = new_project("bench", output_dir=work, no_input=True)
    expedition = Project.load(root)
    seconds = []
    for i, path in enumerate(files):
        started = time.perf_counter()
        add_dataset(expedition, path, f"d{i}")
        seconds.append(time.perf_counter() - started)
    cycles = []
    if mode == "with":  # the lock alone: taken and let go on an idle project
        for _ in range(200):
            started = time.perf_counter()
            with _lock.project_lock(root, "bench"):
                pass
            cycles.append(time.perf_counter() - started)
    print(json.dumps({"seconds": seconds, "cycles": cycles}))


def run_child(mode: str, files: list[Path]) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", mode, "--work", work, *map(str, files)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        out, err = proc.stdout.read(), proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(err)
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", type=int, default=20, help="small deliveries per round")
    parser.add_argument("--mid", type=int, default=4, help="mid-size deliveries per round")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of a mid-size delivery")
    parser.add_argument("--child")
    parser.add_argument("--work")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.files, args.work)
        return

    from expedition.examples.referrals import write

    with tempfile.TemporaryDirectory() as data:
        folder = Path(data)
        small = []
        for i in range(args.small):
            path = folder / f"small-{i}.csv"
            path.write_text("id,value\n" + "".join(f"{i}-{j},{j}\n" for j in range(50)))
            small.append(path)
        mid = [write(folder / f"mid-{i}.csv", rows=args.rows, seed=i) for i in range(args.mid)]
        size = mid[0].stat().st_size / (1 << 20) if mid else 0
        results: dict[tuple[str, str], list[float]] = {}
        peaks: dict[tuple[str, str], float] = {}
        cycles: list[float] = []
        for _ in range(args.rounds):
            for kind, files in (("small", small), ("mid", mid)):
                for mode in ("without", "with"):
                    measured, peak = run_child(mode, files)
                    results.setdefault((kind, mode), []).extend(measured["seconds"])
                    cycles += measured["cycles"]
                    peaks[(kind, mode)] = max(peaks.get((kind, mode), 0.0), peak)

    print("\n`data add` with and without the project lock (median per add)")
    print(f"{'what':<46} {'median ms':>10} {'x without':>10} {'peak MiB':>9}")
    for kind, label in (("small", "a 50-row CSV"), ("mid", f"a {args.rows:,}-row CSV ({size:.0f} MiB)")):
        base = statistics.median(results[(kind, "without")])
        for mode in ("without", "with"):
            median = statistics.median(results[(kind, mode)])
            print(f"{label + ', ' + mode + ' the lock':<46} {median * 1000:>10.1f} "
                  f"{median / base:>10.3f} {peaks[(kind, mode)]:>9.0f}")
    print(f"taking and letting go of the lock alone: median {statistics.median(cycles) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
