"""Synthetic example data: generators with planted signal, and no real person behind any row."""

from __future__ import annotations

GENERATORS = {
    "referrals": "expedition.examples.referrals",
    "incidents": "expedition.examples.incidents",
    "demand": "expedition.examples.demand",
}
