"""`expedition schema infer` against `expedition profile` on the same delivery.

    flock /work/bench.lock python bench/bench_infer.py                   # 5M rows, 3 rounds
    python bench/bench_infer.py --rows 1000000 --repeat 5
    python bench/bench_infer.py --data bench/.work/bench-5000000.csv      # a file already made

The delivery is bench_validate's 20-column synthetic referrals (identifiers, dates, counts,
amounts, coordinates, categories, postcodes, free text), generated once under ``bench/.work/``
and registered as dataset 'bench' of an expedition there. Both commands run as a user runs them,
each in a fresh process (start-up included), in rounds (each command once per round, so a slow
spell of a shared machine falls on both alike): ``expedition profile bench`` (one streaming pass,
the profile written) and ``expedition schema infer bench --force`` (one streaming pass of the
same engine collecting what the draft needs, the contract written). Medians of ``--repeat``
rounds and the ratio of the two measured in this run; peak memory is each process's own
maximum resident set. Target: schema infer at most 2x profile.

``--heap-cap MiB`` also drafts the contract in a child whose heap is capped with ``prlimit
--data`` (as bench_profile does for the profile), to show the draft needs bounded memory;
``--capped-data FILE`` drafts a larger file under the cap (bench_validate's 20M-row file, 2.7 GiB,
with ``--heap-cap 2048``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _measure import expedition_cmd, measure_rounds, report, run_once_cpu

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"


def ensure_data(rows: int, path: Path | None) -> Path:
    if path is not None:
        return path
    path = WORK / f"bench-{rows}.csv"
    if not path.exists():
        print(f"generating {rows:,} rows → {path} …", flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, str(HERE / "bench_validate.py"), "--worker", "generate",
                        "--rows", str(rows), "--path", str(path)], check=True)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def ensure_project(data: Path) -> Path:
    """An expedition with *data* registered as dataset 'bench' (made once, kept)."""
    root = WORK / f"infer-{data.stem}"
    if not (root / "expedition.yaml").exists():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([*expedition_cmd(), "new", root.name, "--no-input", "--output-dir", str(WORK)],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*expedition_cmd(), "data", "add", str(data), "--name", "bench", "-q",
                        "--project", str(root)], check=True)
    return root


def capped(project: Path, mib: int) -> None:
    """Draft the contract with the heap capped at *mib* MiB."""
    if shutil.which("prlimit") is None:
        print("prlimit is not available: skipping the capped run")
        return
    cmd = ["prlimit", f"--data={mib * 2**20}", *expedition_cmd(), "schema", "infer", "bench", "--force",
           "-q", "--project", str(project)]
    try:
        seconds, peak, _ = run_once_cpu(cmd)
    except RuntimeError as exc:
        print(f"\nschema infer with the heap capped at {mib:,} MiB: failed: {str(exc)[-300:]}")
        return
    print(f"\nschema infer with the heap capped at {mib:,} MiB: drafted in {seconds:.1f} s, "
          f"peak resident {peak:,.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, help="a delivery already generated (bench_validate's generator)")
    parser.add_argument("--heap-cap", type=int, default=0, help="also draft under this heap cap (MiB)")
    parser.add_argument("--capped-data", type=Path,
                        help="the delivery drafted under the cap (default: the one timed), e.g. a 20M-row file")
    args = parser.parse_args()

    WORK.mkdir(exist_ok=True)
    data = ensure_data(args.rows, args.data)
    project = ensure_project(data)
    run = [*expedition_cmd()]
    commands = [
        ("expedition profile", [*run, "profile", "bench", "--project", str(project)]),
        ("expedition schema infer", [*run, "schema", "infer", "bench", "--force", "-q", "--project", str(project)]),
    ]
    profile, infer = measure_rounds(commands, repeat=args.repeat)
    size = data.stat().st_size / 2**20
    report(f"Drafting a contract, {data.name} ({size:,.0f} MiB; baseline: expedition profile)",
           [profile, infer], profile)
    for m in (profile, infer):
        runs = ", ".join(f"{s:.1f}" for s in m.seconds)
        print(f"  {m.label}: runs {runs} s; CPU median {m.cpu_median:.1f} s")
    ratio = infer.median / profile.median
    print(f"\nschema infer / profile = {ratio:.2f}x (fastest runs {min(infer.seconds) / min(profile.seconds):.2f}x, "
          f"CPU {infer.cpu_median / profile.cpu_median:.2f}x); target ≤ 2x: {'met' if ratio <= 2 else 'NOT met'}")
    if args.heap_cap:
        big = args.capped_data or data
        print(f"\n{big.name}: {big.stat().st_size / 2**20:,.0f} MiB")
        capped(ensure_project(big) if args.capped_data else project, args.heap_cap)


if __name__ == "__main__":
    main()
