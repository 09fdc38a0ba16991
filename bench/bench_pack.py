"""`expedition pack` on the demo expedition and on a large synthetic one (50 findings, 200 figures).

    python bench/bench_pack.py [--repeat 3] [--findings 50] [--figures-per-finding 4]

Each measurement is a fresh `expedition pack --force` process (disclosure control, rendering,
self-verification and the reproducible zip), first with an empty figure cache (a first build)
and then with it warm (a rebuild, e.g. the final pack after the draft). The baseline is the
floor for writing the same bytes: a Python process that copies the finished pack folder and its
zip. The report gives median times, the ratio to that baseline, peak memory, the size of
index.html and the zip, and, when Chromium is installed, how long headless Chromium takes to
open index.html against an empty page. Every synthetic figure is distinct, as in a real pack.

``--save FILE`` keeps the page's size and Chromium's load time as JSON; ``--against FILE``
prints them beside those of an earlier run (e.g. of the main branch: the page's size and load
time against today's). ``--demo-only`` skips the large synthetic expedition.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from _measure import Measurement, expedition_cmd, measure, report


def make_figures(count: int) -> list[tuple[bytes, bytes]]:
    """Distinct, realistic matplotlib figures (a third of them large, to exercise downsampling)."""
    import numpy as np

    from expedition.steps._plot import new_figure, to_figure

    rng = np.random.default_rng(7)
    out = []
    for i in range(count):
        width, height = (14, 9) if i % 3 == 0 else (7, 4)
        fig, ax = new_figure(width, height)
        x = np.arange(40)
        for k in range(3):
            ax.plot(x, rng.normal(50 + 10 * k, 8, size=40).cumsum() / 10, label=f"series {k}")
        ax.bar(x, rng.integers(5, 60, size=40), alpha=0.3)
        ax.set_title(f"Synthetic figure {i}")
        ax.legend()
        figure = to_figure(fig, f"Figure {i}")
        out.append((figure.png, figure.svg))
    return out


def make_synthetic(root: Path, findings: int, per_finding: int) -> Path:
    import numpy as np
    import polars as pl

    from expedition.config import update_config
    from expedition.datasets import add_dataset
    from expedition.finding import Figure, Finding, Table, save_finding

    try:  # keys exist since the gate plans a whole pack; earlier versions are benchmarked too
        from expedition.finding import Keys
    except ImportError:
        Keys = None
    from expedition.project import Project
    from expedition.scaffold import new_project

    project_dir = new_project("synthetic-pack", output_dir=root, no_input=True, today=date(2026, 11, 24))
    data = root / "data.csv"
    data.write_text("id,area\n" + "\n".join(f"{i},a{i % 7}" for i in range(200)) + "\n")
    project = Project.load(project_dir)
    add_dataset(project, data, "cases")
    project = project.reload()
    ids = [f"finding-{n:02d}" for n in range(findings)]
    update_config(project.config_path, lambda doc: doc.__setitem__(
        "steps", [{"id": i, "step": "eda", "dataset": "cases"} for i in ids]))
    project = project.reload()
    delivery = project.config.datasets["cases"].latest
    pictures = make_figures(findings * per_finding)
    rng = np.random.default_rng(11)
    base_counts = rng.choice([3, 7, 12, 25, 40, 90, 150], size=12)  # one data set: the same areas throughout
    base_cross = rng.choice([0, 2, 6, 15, 30, 60], size=24)
    for n, finding_id in enumerate(ids):
        areas = [f"Area {k}" for k in range(12)]
        counts = base_counts
        one_way = pl.DataFrame({"area": areas, "n": counts}).with_columns(
            (pl.col("n") / int(counts.sum())).alias("share"))
        cross = pl.DataFrame({
            "area": [a for a in areas[:6] for _ in range(4)],
            "group": [f"g{k}" for _ in range(6) for k in range(4)],
            "n": base_cross,
        })
        stats = pl.DataFrame({"variable": [f"v{k}" for k in range(8)], "n": rng.integers(50, 500, size=8),
                              "mean": rng.normal(10, 3, size=8), "sd": rng.uniform(1, 4, size=8)})
        # every finding publishes the same areas' counts, keyed so that the gate plans them
        # together across the pack (the cross-table work a real pack of many steps needs)
        linked = {"keys": Keys(counts={"n": {}})} if Keys is not None else {}
        tables = {
            "by_area": Table(one_way, {"area": "label", "n": "count", "share": "rate"},
                             title="Cases by area", denominators={"share": "n"}, **linked),
            "by_area_group": Table(cross, {"area": "label", "group": "label", "n": "count"},
                                   title="Cases by area and group", **linked),
            "summary": Table(stats, {"variable": "label", "n": "count", "mean": "statistic", "sd": "statistic"},
                             title="Summary statistics", denominators={"mean": "n", "sd": "n"}),
        }
        figures = {}
        for k in range(per_finding):
            png, svg = pictures[n * per_finding + k]
            figures[f"figure_{k}"] = Figure(f"Figure {k} of {finding_id}", png, svg, alt="A synthetic chart",
                                            data="summary")
        finding = Finding(
            step="eda", title=f"Synthetic finding {n}", id=finding_id,
            headlines=[f"Headline {k} of finding {n}: {int(counts[k])} cases." for k in range(3)],
            method="A synthetic finding for benchmarking the pack.", tables=tables, figures=figures,
            caveats=["Synthetic."], params={"n": n},
            provenance={"step": "eda", "step_version": "1", "dataset": "cases", "delivery": 1,
                        "data_file": delivery.file, "data_sha256": delivery.sha256, "contract": None,
                        "seed": 42, "params": {"n": n}, "packages": {"python": sys.version.split()[0]},
                        "command": "expedition run", "started": "2026-11-24T10:00:00+00:00",
                        "finished": "2026-11-24T10:00:01+00:00"},
        )
        save_finding(finding, project.results_dir / finding_id)
    return project_dir


def browser_open(index: Path, work: Path, repeat: int) -> tuple[Measurement, Measurement] | None:
    """Headless Chromium loading index.html, against loading an empty page."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    blank = work / "blank.html"
    blank.write_text("<!DOCTYPE html><title>blank</title>")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--dump-dom"]

    def command(page: Path, label: str) -> list[str]:
        return [chromium, *flags, f"--user-data-dir={work / ('profile-' + label)}", page.as_uri()]

    empty = measure("headless Chromium opens an empty page", command(blank, "blank"), repeat)
    full = measure("headless Chromium opens index.html", command(index, "index"), repeat)
    return empty, full


def bench(label: str, project_dir: Path, work: Path, repeat: int) -> tuple[list[Measurement], Measurement, dict]:
    pack_cmd = [*expedition_cmd(), "pack", "--force", "-q", "-p", str(project_dir)]
    cache = project_dir / ".expedition" / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    subprocess.run(pack_cmd, check=True)
    last = json.loads((project_dir / ".expedition" / "history.jsonl").read_text().splitlines()[-1])
    pack = project_dir / last["path"]
    archive = project_dir / last["zip"]
    copy = work / f"copy-{label}"

    def clean() -> None:
        shutil.rmtree(copy, ignore_errors=True)

    baseline = measure(
        f"{label}: copy the same bytes (baseline)",
        [sys.executable, "-c",
         "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[3]); shutil.copy(sys.argv[2], sys.argv[3] + '.zip')",
         str(pack), str(archive), str(copy)],
        repeat, setup=clean,
    )
    libraries = measure(
        f"{label}: start Python, import the libraries",
        [sys.executable, "-c", "import polars, jinja2, PIL.Image, scipy.optimize, nh3, markdown_it"],
        repeat,
    )
    cold = measure(f"{label}: pack, first build", pack_cmd, repeat,
                   setup=lambda: shutil.rmtree(cache, ignore_errors=True))
    warm = measure(f"{label}: pack again (figure cache warm)", pack_cmd, repeat)
    files = [p for p in pack.rglob("*") if p.is_file()]
    html = (pack / "index.html").read_text()
    sizes = {
        "index.html KiB": (pack / "index.html").stat().st_size / 1024,
        "zip MiB": archive.stat().st_size / 2**20,
        "pack MiB": sum(p.stat().st_size for p in files) / 2**20,
        "files": len(files),
        "figures embedded": html.count("data:image/png;base64,"),
    }
    return [baseline, libraries, cold, warm], baseline, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--findings", type=int, default=50)
    parser.add_argument("--figures-per-finding", type=int, default=4)
    parser.add_argument("--rows", type=int, default=5_000, help="rows in the demo expedition")
    parser.add_argument("--demo-only", action="store_true", help="skip the 50-finding synthetic expedition")
    parser.add_argument("--save", type=Path, help="write index.html's size and Chromium's load time here (JSON)")
    parser.add_argument("--against", type=Path, help="a --save file of an earlier run to compare with")
    parser.add_argument("--make-synthetic", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_synthetic:  # run in a child process so this one stays small (peak RSS)
        print(make_synthetic(args.make_synthetic, args.findings, args.figures_per_finding))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-pack-"))
    try:
        subprocess.run([*expedition_cmd(), "demo", str(work / "demo"), "--rows", str(args.rows), "-q"], check=True)
        runs = [("demo", "Packing the demo expedition", work / "demo")]
        if not args.demo_only:
            made = subprocess.run(
                [sys.executable, __file__, "--make-synthetic", str(work), "--findings", str(args.findings),
                 "--figures-per-finding", str(args.figures_per_finding)],
                check=True, capture_output=True, text=True,
            )
            runs.append(("synthetic", f"Packing {args.findings} findings with "
                         f"{args.findings * args.figures_per_finding} figures",
                         Path(made.stdout.strip().splitlines()[-1])))
        page: dict[str, dict[str, float]] = {}
        for label, title, project in runs:
            rows, baseline, sizes = bench(label, project, work, args.repeat)
            report(title, rows, baseline)
            print("  " + ", ".join(f"{k}: {v:,.1f}" if isinstance(v, float) else f"{k}: {v}" for k, v in sizes.items()))
            last = json.loads((project / ".expedition" / "history.jsonl").read_text().splitlines()[-1])
            opened = browser_open(project / last["path"] / "index.html", work, args.repeat)
            page[label] = {"index.html KiB": sizes["index.html KiB"]}
            if opened:
                report("  opening index.html", list(opened), opened[0])
                page[label]["Chromium load s"] = opened[1].median
                page[label]["Chromium load minus empty page s"] = opened[1].median - opened[0].median
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text(json.dumps(page, indent=2) + "\n")
        if args.against and args.against.is_file():
            before = json.loads(args.against.read_text())
            print(f"\nThe page against {args.against}:")
            for label, now in page.items():
                for key, value in now.items():
                    old = before.get(label, {}).get(key)
                    change = f" ({(value - old) / old:+.0%})" if old else ""
                    print(f"  {label}: {key}: {old if old is None else f'{old:,.2f}'} -> {value:,.2f}{change}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
