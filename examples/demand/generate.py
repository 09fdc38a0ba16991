"""Write the synthetic demand dataset: python examples/demand/generate.py --out FILE."""

from __future__ import annotations

import argparse

from expedition.examples.demand import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--months", type=int, default=72, help="months from January 2019")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    parser.add_argument("--out", default="demand.csv", help="CSV or .parquet file to write")
    args = parser.parse_args()
    path = write(args.out, months=args.months, seed=args.seed)
    print(f"wrote {args.months} months of synthetic demand for five units to {path}")


if __name__ == "__main__":
    main()
