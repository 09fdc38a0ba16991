"""Write the synthetic incidents dataset: python examples/incidents/generate.py --out FILE."""

from __future__ import annotations

import argparse

from expedition.examples.incidents import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000, help="incidents to generate")
    parser.add_argument("--months", type=int, default=12, help="months from January 2024")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    parser.add_argument("--out", default="incidents.csv", help="CSV or .parquet file to write")
    args = parser.parse_args()
    path = write(args.out, rows=args.rows, seed=args.seed, months=args.months)
    print(f"wrote {args.rows:,} synthetic incidents to {path}")


if __name__ == "__main__":
    main()
