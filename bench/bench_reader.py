"""The one reader (`expedition.reading`) against plain ``polars.read_csv``, with peak memory.

    python bench/bench_reader.py                       # 5M rows, 5 rounds
    python bench/bench_reader.py --rows 1000000 --repeat 3
    python bench/bench_reader.py --utf16               # also a UTF-16 copy (Excel "Unicode text")

The data are the 5M-row, 20-column synthetic CSV that ``bench_profile.py`` generates (seeded;
kept in ``bench/.work/`` between runs). Each command runs in a fresh process, in rounds (every
command once per round, so a slow spell of the shared machine falls on all of them alike), and
every ratio is to ``polars.read_csv`` measured in the same run:

* ``polars.read_csv`` — the baseline: Polars reading the file with its own defaults (and,
  for the text read below, ``infer_schema=False``: every value as text);
* ``reader: open, typed`` — ``open_dataset(path).frame.collect()``: sniffing (encoding, line
  endings, delimiter, quoting, header names), types from the first rows, date columns parsed —
  what the profile and ``scan_dataset`` read;
* ``reader: open, typed, recorded options`` — the same with the options ``data add`` recorded,
  so nothing is sniffed: what every stage after ``data add`` pays;
* ``reader: open, text`` — every value as text, what validation and ``schema infer`` read;
* ``reader: survey (data add)`` — the whole-file read ``data add`` makes once: options
  confirmed on every value, bare CRs looked for, rows counted, short rows found;
* ``reader: short rows, one pass over the lines`` — finding every row short of fields (forced
  here; a delivery pays it only when its last column has gaps, or when it has short rows);
* with ``--utf16``: the same file as UTF-16 with a byte-order mark, opened typed (copied to
  UTF-8 in a stream first), against ``polars.read_csv`` of the UTF-8 original.

Target: a typed read within 1.3x of ``polars.read_csv`` (sniffing and date parsing are the
difference), peak memory within 1.2x.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
sys.path.insert(0, str(HERE))

from _measure import Measurement, measure_rounds, report  # noqa: E402


def prepare(rows: int, utf16: bool) -> tuple[Path, Path | None]:
    """The data file (and its UTF-16 copy), made in a child process: a child forked from a
    large parent would report the parent's memory as its own peak (Linux keeps the peak
    resident set across exec)."""
    import subprocess

    code = (
        "import sys; sys.path.insert(0, {here!r}); from bench_profile import data_file; "
        "from bench_reader import utf16_copy; p = data_file({rows}, 'csv'); "
        "print('@data', p); print('@utf16', utf16_copy(p) if {utf16} else '')"
    ).format(here=str(HERE), rows=rows, utf16=utf16)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    found = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith("@"))
    return Path(found["@data"]), (Path(found["@utf16"]) if found.get("@utf16") else None)


def utf16_copy(path: Path) -> Path:
    """The CSV as UTF-16 little-endian with a byte-order mark, written in pieces."""
    target = path.with_name(path.stem + "-utf16.csv")
    if target.exists():
        return target
    print(f"writing {target.name} ...", flush=True)
    tmp = target.with_suffix(".tmp")
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as source, open(tmp, "wb") as out:
        out.write(codecs.BOM_UTF16_LE)
        for block in iter(lambda: source.read(1 << 20), b""):
            out.write(decoder.decode(block).encode("utf-16-le"))
    os.replace(tmp, target)
    return target


def commands(path: Path, utf16: Path | None) -> list[tuple[str, list[str]]]:
    py = sys.executable
    p = repr(str(path))
    recorded = (
        "from expedition.reading import survey, open_dataset; import pickle, sys; "
        "sys.stdout.buffer.write(pickle.dumps(survey({p}).options))"
    )
    options_file = WORK / f"{path.stem}.options.pickle"
    if not options_file.exists():
        import subprocess

        options_file.write_bytes(subprocess.run([py, "-c", recorded.format(p=p)], check=True,
                                                capture_output=True).stdout)
    o = repr(str(options_file))
    out = [
        ("polars.read_csv", [py, "-c", f"import polars as pl; pl.read_csv({p})"]),
        ("polars.read_csv, every value as text", [py, "-c",
         f"import polars as pl; pl.read_csv({p}, infer_schema=False)"]),
        ("reader: open, typed", [py, "-c",
         f"from expedition.reading import open_dataset; open_dataset({p}).frame.collect()"]),
        ("reader: open, typed, recorded options", [py, "-c",
         "import pickle; from expedition.reading import open_dataset; "
         f"open_dataset({p}, pickle.load(open({o}, 'rb'))).frame.collect()"]),
        ("reader: open, text", [py, "-c",
         f"from expedition.reading import open_dataset; open_dataset({p}, text=True).frame.collect()"]),
        ("reader: survey (data add)", [py, "-c",
         f"from expedition.reading import survey; survey({p})"]),
        ("reader: short rows, one pass over the lines", [py, "-c",
         "import pickle; from expedition.reading import find_short_rows; "
         f"find_short_rows({p}, pickle.load(open({o}, 'rb')))"]),
    ]
    if utf16 is not None:
        out.append(("reader: open, typed, UTF-16 copy", [py, "-c",
                    f"from expedition.reading import open_dataset; open_dataset({str(utf16)!r}).frame.collect()"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--utf16", action="store_true", help="also read a UTF-16 copy of the file")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    print("preparing the data (generated once, kept in bench/.work/) ...", flush=True)
    path, utf16 = prepare(args.rows, args.utf16)
    measured: list[Measurement] = measure_rounds(commands(path, utf16), args.repeat)
    by_label = {m.label: m for m in measured}
    baseline = by_label["polars.read_csv"]
    size = path.stat().st_size / 2**20
    report(f"{args.rows:,} rows × 20 columns, CSV ({size:,.0f} MiB); baseline = polars.read_csv",
           measured, baseline)
    typed = by_label["reader: open, typed"]
    recorded = by_label["reader: open, typed, recorded options"]
    text, text_floor = by_label["reader: open, text"], by_label["polars.read_csv, every value as text"]
    print(f"\nText read against polars.read_csv(infer_schema=False): {text.median / text_floor.median:.2f}x, "
          f"peak {text.peak_mib:,.0f} MiB against {text_floor.peak_mib:,.0f} MiB")
    print("\nTargets")
    for label, m in (("typed read", typed), ("typed read, recorded options", recorded)):
        ratio = m.median / baseline.median
        memory = m.peak_mib / baseline.peak_mib
        print(f"  {label}: within 1.3x of polars.read_csv — {'met' if ratio <= 1.3 else 'NOT met'} "
              f"({ratio:.2f}x); peak memory within 1.2x — {'met' if memory <= 1.2 else 'NOT met'} "
              f"({m.peak_mib:,.0f} MiB against {baseline.peak_mib:,.0f} MiB)")


if __name__ == "__main__":
    main()
