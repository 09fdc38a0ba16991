"""Synthetic example data: generators with planted signal, and no real person behind any row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GENERATORS = {
    "referrals": "expedition.examples.referrals",
    "incidents": "expedition.examples.incidents",
    "demand": "expedition.examples.demand",
    "events": "expedition.examples.pathways",
}


def write_frame(frame: Any, path: str | Path) -> Path:
    """Write a generated Polars frame to CSV, or Parquet when *path* ends in .parquet."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return path
