"""Write the synthetic registers: python examples/registers/generate.py --out DIR."""

from __future__ import annotations

import argparse

from expedition.examples.registers import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=2000, help="people in the social care register")
    parser.add_argument("--shared", type=int, default=800, help="of them, also in the police register")
    parser.add_argument("--police-only", type=int, default=700, help="people only in the police register")
    parser.add_argument("--seed", type=int, default=2026, help="random seed")
    parser.add_argument("--out", default=".", help="folder for social_care.csv, police.csv and truth.csv")
    args = parser.parse_args()
    files = write(args.out, people=args.people, shared=args.shared, police_only=args.police_only, seed=args.seed)
    print("wrote " + ", ".join(str(p) for p in files.values()))


if __name__ == "__main__":
    main()
