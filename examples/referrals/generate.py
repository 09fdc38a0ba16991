"""Write the synthetic referrals dataset: python examples/referrals/generate.py --out FILE."""

from __future__ import annotations

import argparse

from expedition.examples.referrals import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000, help="closed cases to generate")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    parser.add_argument("--out", default="referrals.csv", help="CSV or .parquet file to write")
    parser.add_argument("--bad-rows", action="store_true",
                        help="plant five bad rows for validation to quarantine (as the demo does)")
    args = parser.parse_args()
    path = write(args.out, rows=args.rows, seed=args.seed, bad_rows=args.bad_rows)
    print(f"wrote {args.rows:,} synthetic referrals to {path}")


if __name__ == "__main__":
    main()
