"""Shared by the benchmarks: time a command in a child process and read its peak memory.

Each measurement runs the command as a fresh process and reads its own resource usage with
os.wait4, so the peak RSS is that of the command alone. Absolute times vary between runs on a
shared machine; compare the ratios printed by one run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    label: str
    seconds: list[float]
    peak_mib: float
    #: CPU seconds (user + system) of each run: steadier than wall time on a busy machine
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")


def run_once(cmd: Sequence[str], cwd: str | Path | None = None, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one run of *cmd*; raises if it fails."""
    seconds, mib, _ = run_once_cpu(cmd, cwd=cwd, env=env)
    return seconds, mib


def run_once_cpu(cmd: Sequence[str], cwd: str | Path | None = None,
                 env: dict | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MiB, CPU seconds) of one run of *cmd*; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    if proc.stderr:
        proc.stderr.close()
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def measure(label: str, cmd: Sequence[str], repeat: int = 5, setup=None, **kwargs) -> Measurement:
    times, peak = [], 0.0
    for _ in range(repeat):
        if setup is not None:
            setup()
        seconds, mib = run_once(cmd, **kwargs)
        times.append(seconds)
        peak = max(peak, mib)
    return Measurement(label, times, peak)


def measure_rounds(commands: Sequence[tuple[str, Sequence[str]]], repeat: int = 5) -> list[Measurement]:
    """Each command once per round, *repeat* rounds: a slow spell of a shared machine then falls
    on every command alike, instead of on whichever happened to be measured during it."""
    times: dict[str, list[float]] = {label: [] for label, _ in commands}
    cpu: dict[str, list[float]] = {label: [] for label, _ in commands}
    peaks: dict[str, float] = dict.fromkeys(times, 0.0)
    for _ in range(repeat):
        for label, cmd in commands:
            seconds, mib, used = run_once_cpu(cmd)
            times[label].append(seconds)
            cpu[label].append(used)
            peaks[label] = max(peaks[label], mib)
    return [Measurement(label, times[label], peaks[label], cpu[label]) for label, _ in commands]


def expedition_cmd() -> list[str]:
    """The installed console script next to this Python, else `python -m expedition`."""
    script = Path(sys.executable).parent / "expedition"
    return [str(script)] if script.exists() else [sys.executable, "-m", "expedition"]


def report(title: str, rows: list[Measurement], baseline: Measurement) -> None:
    print(f"\n{title}")
    print(f"{'what':<44} {'median s':>9} {'x baseline':>11} {'peak MiB':>9}")
    for m in rows:
        print(f"{m.label:<44} {m.median:>9.3f} {m.median / baseline.median:>11.2f} {m.peak_mib:>9.0f}")


def show_cap_bites(cap: list[str], path: Path) -> None:
    """Print whether reading *path* whole with Polars fails under the heap cap *cap* (a
    ``prlimit`` prefix), which shows the cap is real."""
    try:
        run_once([*cap, sys.executable, "-c", f"import polars as pl; pl.read_csv({str(path)!r})"])
        print("  pl.read_csv under the same cap: completed (the cap did not bite)")
    except RuntimeError:
        print("  pl.read_csv under the same cap: fails (the whole file does not fit), as expected")
