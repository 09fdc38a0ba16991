"""Personal-data scanning on hostile cells: every pattern must take time in proportion to the text.

    python bench/bench_pii.py                    # 25, 100 and 250 KB cells, old patterns at 25 KB
    python bench/bench_pii.py --sizes 250000 --repeat 1

For each kind of adversarial cell (long runs that almost make an e-mail address, a phone number,
an NHS number, a postcode, a name after a title, an obfuscated address, a date of birth, or
markup that never closes its tags), ``expedition.pii.scan`` and the markup reader
(``disclosure.text.scan_text(markup=True)``) are timed at each size. Printed per cell: the least
processor time of ``--repeat`` runs, the time per KB, and the growth from the smallest size to the largest
(a linear scan grows as the size does: 10x for 25 KB → 250 KB). As a baseline, measured in the
same run, the patterns this module had before (whose e-mail pattern took a minute on one 240 KB
cell) are timed on the same cells, at the smallest size only. The process's peak memory is
printed at the end.

Target: growth within 1.5x of the growth in size for every cell (no super-linear pattern), and
every 250 KB cell scanned in well under a second.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expedition.disclosure.text import scan_text  # noqa: E402
from expedition.pii import scan  # noqa: E402

#: the patterns before they were made linear, for the baseline
OLD = [
    re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"),
    re.compile(r"(?<![\w+.])(?:\+44 ?\(?0?\)? ?|\(?0)\d{2,4}\)?[ -]?\d{3,4}[ -]?\d{3,4}\b(?!\.\d)"),
    re.compile(r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2})\b", re.I),
    re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.? +[A-Z][a-z'’-]+(?: +[A-Z][a-z'’-]+)?"),
]


def cells(size: int) -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "letters then @": fill("a") + "@",
        "dots and @": fill("a.") + "@x",
        "@ chain": fill("a@"),
        "digits": fill("0"),
        "digit groups": fill("077 "),
        "digits, dots": fill("943.476."),
        "postcode-ish": fill("CM1 1A"),
        "titles": fill("Mr "),
        "title, names": fill("Mrs Sarah Smith-"),
        "capitals": fill("Sarah "),
        "at / dot words": fill("x dot x at "),
        "(at) brackets": fill("jo(at)nhs(dot)"),
        "born, digits": fill("born 1/"),
        "ordinary prose": fill("The child was seen at home on 3 April by the team. "),
    }


def markup_cells(size: int) -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "unclosed <": fill("<a"),
        "unclosed <style>": fill("<style>x"),
        "unclosed attribute": "<p title=\"" + fill("x"),
        "table cells": fill("<td>07700</td>"),
    }


def best(func, text: str, repeat: int) -> float:
    """The least processor time of *repeat* runs (processor time, not wall time, so other
    work on a shared machine does not count)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        func(text)
        times.append(time.process_time() - start)
    return min(times)


def old_scan(text: str) -> None:
    for pattern in OLD:
        for _ in pattern.finditer(text):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000, 250_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    scan("warm up Mr Smith 07700 900123")  # loads the name lists once

    def report(name: str, func, build) -> None:
        seconds = [best(func, build(size)[name], args.repeat) for size in sizes]
        growth = seconds[-1] / seconds[0] if len(sizes) > 1 and seconds[0] > 0 else float("nan")
        line = "  ".join(f"{s * 1000:9.1f} ms" for s in seconds)
        per_kb = seconds[-1] / (sizes[-1] / 1000) * 1000
        print(f"{name:<22} {line}   {per_kb:6.3f} ms/KB   growth {growth:5.1f}x "
              f"(size {sizes[-1] / sizes[0]:.0f}x)")

    print(f"cell sizes: {', '.join(f'{s // 1000} KB' for s in sizes)}")
    print("\nexpedition.pii.scan")
    for name in cells(sizes[0]):
        report(name, scan, cells)
    print("\ndisclosure.text.scan_text(markup=True)")
    for name in markup_cells(sizes[0]):
        report(name, lambda t: scan_text(t, markup=True), markup_cells)
    print(f"\nbaseline: the old patterns at {sizes[0] // 1000} KB (ours at the same size = 1.0x)")
    for name, text in cells(sizes[0]).items():
        ours = best(scan, text, args.repeat)
        old = best(old_scan, text, 1)
        print(f"{name:<22} old {old * 1000:9.1f} ms   ours {ours * 1000:8.1f} ms   old/ours {old / ours:8.1f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
