"""Reusing a step's stored finding when nothing that shaped it has changed.

A step's result is identified by the hash of everything that determines it: the step's name and
version, its parameters, the identity of the data it reads (the ``fingerprint`` of
`expedition.runner.load_input`: dataset, delivery and content hashes, contract), the project's
seed and disclosure rules, the title given in ``expedition.yaml``, and the versions of Python,
expedition and the libraries whose behaviour shapes results. The key is stored in the finding's
provenance; `expedition run` skips a step whose stored key matches, and ``--force`` runs it anyway.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from expedition.finding import FINDING_FORMAT, Finding, load_finding


def cache_key(
    *,
    step: str,
    step_version: str,
    params: dict[str, Any],
    fingerprint: dict[str, Any],
    seed: int,
    disclosure: dict[str, Any],
    title: str | None,
    packages: dict[str, str],
    recode: bool = True,
    subject: tuple[str, str] | None = None,
) -> str:
    """SHA-256 of the canonical JSON of everything that determines a step's finding."""
    record = {
        "step": step,
        "step_version": step_version,
        "params": params,
        "data": fingerprint,
        "seed": seed,
        "disclosure": disclosure,
        "title": title,
        "packages": packages,
        "recode": recode,
        "format": FINDING_FORMAT,
    }
    if subject is not None:  # only when set, so the keys of findings made before it stay valid
        record["subject"] = list(subject)
    text = json.dumps(record, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_key(folder: Path) -> str | None:
    """The cache key recorded with the finding stored in *folder* (reads finding.json only)."""
    path = folder / "finding.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (record.get("provenance") or {}).get("cache_key")


def cached_finding(folder: Path, key: str) -> Finding | None:
    """The stored finding when its key is *key*, else None (a damaged copy counts as absent)."""
    if stored_key(folder) != key:
        return None
    try:
        return load_finding(folder)
    except Exception:
        return None
