"""The findings pack: what a project lead opens, trusts and shares.

``build_pack(project)`` passes every finding through the disclosure gate and writes
``findings/<slug>-<date>/`` atomically (a temporary folder, checked by ``verify_pack``, then
renamed) and ``findings/<slug>-<date>.zip`` (reproducible: the same inputs give the same bytes):

* ``index.html`` — self-contained (figures embedded; a Content-Security-Policy forbids every
  network request), readable on a phone and in print, draft or final on every page: executive
  summary, a section per finding, data quality, methods and limitations, the ethics checklist,
  the transparency record, the review sign-off and a reproducibility appendix;
* ``summary.md``, ``findings.json``, ``tables/*.csv``, ``figures/*.png|svg``, ``model-cards/``,
  ``documents/``, ``data-quality/``, ``transparency.md``, ``ETHICS.md``;
* ``manifest.json`` — the SHA-256 of every file; the provenance of every finding; the disclosure
  rules and the log of every suppression with its reason; signed with the team's Ed25519 key in
  ``manifest.sig`` (see `expedition.signing`).

``verify_pack(path)`` checks a folder or zip again from scratch (see `expedition.pack.verify`).
"""

from __future__ import annotations

from expedition.pack.build import PACK_FORMAT, PackResult, build_pack, pack_name
from expedition.pack.verify import VerifyReport, verify_pack

__all__ = ["PACK_FORMAT", "PackResult", "VerifyReport", "build_pack", "pack_name", "verify_pack"]
