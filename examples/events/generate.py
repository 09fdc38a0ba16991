"""Write the synthetic event log: python examples/events/generate.py --out FILE."""

from __future__ import annotations

import argparse

from expedition.examples.pathways import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=730, help="days of arrivals from 2 January 2023")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    parser.add_argument("--out", default="events.csv", help="CSV or .parquet file to write")
    args = parser.parse_args()
    path = write(args.out, days=args.days, seed=args.seed)
    print(f"wrote a synthetic event log of {args.days} days of cases to {path}")


if __name__ == "__main__":
    main()
