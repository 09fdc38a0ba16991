"""Build the public-data example expedition from downloaded files, end to end.

    python examples/public-data/setup.py FOLDER [--out DIR]

FOLDER holds the downloaded files (searched recursively, see README.md):
``2018-01-essex-street.csv`` … ``2018-03-essex-street.csv`` (any number of months),
``2018-12-metropolitan-stop-and-search.csv``, ``fms_all_reports_lad_monthly.csv`` and
``fms_flytipping_lad_monthly.csv``. The script makes ``DIR/public-data`` (default: the current
folder) with `expedition new`, declares the datasets, derived datasets and steps of this
folder's ``expedition.yaml``, then runs — printing each command — `data add` (the monthly
files with ``--combine all``), `schema infer`, `validate`, `prepare`, `run`, `pack` and
`pack verify`. The files are copied into the expedition's ``data/raw`` and never changed.

Street files downloaded from data.police.uk itself have headers such as ``Crime type``; the
snake_case copies named in README.md have ``crime_type``. Either works: the step parameters
and the ``where:`` condition are written with the names the files have.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = {  # dataset: (pattern, several files combined as periods)
    "crimes": ("*-essex-street.csv", True),
    "stops": ("*-metropolitan-stop-and-search.csv", False),
    "all_reports": ("fms_all_reports_lad_monthly.csv", False),
    "flytipping": ("fms_flytipping_lad_monthly.csv", False),
}
#: the snake_case names this folder's expedition.yaml uses, as data.police.uk writes them
POLICE_UK = {"crime_type": "Crime type", "month": "Month", "last_outcome_category": "Last outcome category"}


def expedition() -> list[str]:
    script = Path(sys.executable).parent / "expedition"
    return [str(script)] if script.exists() else [sys.executable, "-m", "expedition"]


def run(*args: str, ok: tuple[int, ...] = (0,)) -> None:
    print("$ expedition " + " ".join(shlex.quote(a) for a in args), flush=True)
    done = subprocess.run([*expedition(), *args])
    if done.returncode not in ok:
        sys.exit(f"stopped: `expedition {args[0]}` exited with {done.returncode}")


def find(folder: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    missing = []
    for name, (pattern, several) in FILES.items():
        paths = sorted(folder.rglob(pattern))
        if not paths:
            missing.append(pattern)
        found[name] = paths if several else paths[:1]
    if missing:
        sys.exit(f"not found in {folder}: {', '.join(missing)} (see examples/public-data/README.md)")
    return found


def headers(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return f.readline().rstrip("\r\n").split(",")


def declare(root: Path, street_header: list[str]) -> None:
    """This folder's datasets, derived datasets and steps, in the new expedition."""
    from expedition.config import read_document, update_config

    example = read_document(HERE / "expedition.yaml")
    rename = {} if "crime_type" in street_header else POLICE_UK
    for step in example["steps"]:
        if step["dataset"] != "crimes" or not rename:
            continue
        params = step.get("params") or {}
        if "variables" in params:
            params["variables"] = [rename.get(v, v) for v in params["variables"]]
        if step.get("where"):
            step["where"] = step["where"].replace("crime_type", '"Crime type"')

    def change(document) -> None:
        for key in ("title", "question", "partners"):
            document["expedition"][key] = example["expedition"][key]
        document["datasets"] = example["datasets"]
        document["derived"] = example["derived"]
        document["steps"] = example["steps"]

    update_config(root, change)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the folder holding the downloaded files")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to make public-data/")
    parser.add_argument("--force", action="store_true", help="replace an existing public-data/")
    args = parser.parse_args()

    files = find(args.folder.resolve())
    out = args.out.resolve()
    root = out / "public-data"
    if root.exists():
        if not args.force:
            sys.exit(f"{root} exists: remove it or pass --force")
        shutil.rmtree(root)
    run("new", "public-data", "--no-input", "--output-dir", str(out))
    declare(root, headers(files["crimes"][0]))
    p = ["-p", str(root)]
    for name, paths in files.items():
        for path in paths:
            run("data", "add", str(path), "--name", name, *(["--combine", "all"] if FILES[name][1] else []), "-q", *p)
        run("schema", "infer", name, "-q", *p)
    # exit 1 means rows were quarantined beyond --max-invalid: the report says which and why
    run("validate", *p, ok=(0, 1))
    run("prepare", *p)
    run("run", *p)
    run("pack", *p)
    packs = sorted((root / "findings").glob("public-data-*/index.html"))
    if packs:
        run("pack", "verify", str(packs[-1].parent))
        print(f"\nOpen {packs[-1]}")


if __name__ == "__main__":
    main()
