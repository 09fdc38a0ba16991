"""Quality-assurance review and sign-off, after the UK Government's Aqua Book.

The Aqua Book's three roles sign off, each against its own checklist (`ROLE_CHECKS`): the
commissioner (the question, scope and limitations), the analyst (the plan, assumptions, own
checks and documentation) and the assurer (the independent quality assurance below, which a
final pack needs). ``expedition review --by NAME --as commissioner|analyst|assurer``.

``sign_off(project, by="A. Reviewer")`` records that a named reviewer has assured the stored
findings: assumptions checked, methods reviewed, numbers verified, the analysis validated against
the question, and the outputs checked for disclosure. The record goes into the expedition's
history (``.expedition/history.jsonl``) with a fingerprint of each finding it covers, so a
finding that changes afterwards (re-run with other data or parameters) is no longer covered.

``expedition pack --final`` refuses to build unless every finding it packs is covered by a
sign-off; every pack shows whether it is a draft or final, and who signed it off.

A sign-off's note and role are published in the pack, so personal data in them is redacted
(`expedition.disclosure.text`) when the sign-off is recorded, and again when sign-offs are read
(a history written before that still publishes nothing identifying). The names the project
declares public (the lead, partners, reviewers, ``disclosure.public_names``) are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expedition._io import sha256_file
from expedition.disclosure.text import redact
from expedition.errors import ExpeditionError
from expedition.project import Project

#: What a reviewer attests, after the Aqua Book's quality-assurance activities.
AQUA_BOOK_CHECKS: tuple[tuple[str, str], ...] = (
    ("assumptions", "The assumptions are recorded, and have been checked and challenged."),
    ("methods", "The methods suit the question and the data, and have been reviewed."),
    ("verification", "The numbers have been checked: the analysis does what it says it does."),
    ("validation", "The analysis answers the question asked, within the limitations stated."),
    ("disclosure", "The published outputs have been checked for small counts and personal data."),
)

#: The Aqua Book's roles that sign an analysis off, and what each attests. The assurer's
#: sign-off is the one ``pack --final`` needs; the commissioner's and the analyst's are recorded
#: and shown beside it.
ROLE_CHECKS: dict[str, tuple[tuple[str, str], ...]] = {
    "commissioner": (
        ("question", "The question is the one the decision needs, and the analysis answers it."),
        ("scope", "The scope, timing and the quality needed were agreed with the analysts."),
        ("limitations", "The limitations and uncertainty are understood, and the findings are used within them."),
    ),
    "analyst": (
        ("plan", "The analysis was done as planned, and changes to the plan are recorded."),
        ("assumptions", "The assumptions and the data's limitations are recorded in the pack."),
        ("checks", "The analyst's own checks were done: the numbers reproduce from the data and the code."),
        ("documentation", "The methods, parameters and data are documented so another analyst could repeat the work."),
    ),
    "assurer": AQUA_BOOK_CHECKS,
}
AQUA_ROLES = tuple(ROLE_CHECKS)

#: Provenance that changes with every run without changing a result.
_VOLATILE = ("started", "finished", "command")


class ReviewError(ExpeditionError):
    """A review cannot be recorded."""


@dataclass(frozen=True)
class Review:
    """A reviewer's sign-off of a set of findings."""

    by: str
    role: str
    time: str
    findings: dict[str, str]
    checks: list[str] = field(default_factory=lambda: [k for k, _ in AQUA_BOOK_CHECKS])
    note: str = ""
    aqua_role: str = "assurer"  # commissioner | analyst | assurer (the Aqua Book's roles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "as": self.aqua_role,
            "role": self.role,
            "time": self.time,
            "findings": dict(self.findings),
            "checks": list(self.checks),
            "note": self.note,
        }

    @property
    def date(self) -> str:
        return self.time[:10]

    @property
    def attested(self) -> list[str]:
        text = dict(ROLE_CHECKS.get(self.aqua_role, AQUA_BOOK_CHECKS))
        return [text.get(key, key) for key in self.checks]


def finding_fingerprint(folder: str | Path) -> str:
    """A digest of what a stored finding publishes (timestamps and command line left out)."""
    folder = Path(folder)
    record = json.loads((folder / "finding.json").read_text(encoding="utf-8"))
    provenance = {
        k: v for k, v in (record.get("provenance") or {}).items() if k not in _VOLATILE
    }
    record["provenance"] = provenance
    digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode("utf-8"))
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == "finding.json" or rel.startswith("artifacts/"):
            continue
        digest.update(rel.encode("utf-8") + b"\0" + sha256_file(path).encode("ascii"))
    return digest.hexdigest()


def stored_fingerprints(project: Project, ids: Sequence[str] | None = None) -> dict[str, str]:
    """Fingerprints of the stored findings (all steps in expedition.yaml by default)."""
    wanted = list(ids) if ids is not None else [s.id for s in project.config.steps]
    out = {}
    for finding_id in wanted:
        folder = project.results_dir / finding_id
        if (folder / "finding.json").is_file():
            out[finding_id] = finding_fingerprint(folder)
    return out


def sign_off(
    project: Project,
    by: str,
    *,
    role: str = "analytical assurer",
    note: str = "",
    ids: Sequence[str] | None = None,
    aqua_role: str = "assurer",
) -> Review:
    """Record *by*'s sign-off of the stored findings (or those in *ids*) in one of the Aqua
    Book's roles: the assurer's quality-assurance sign-off (the default, which ``pack --final``
    needs), or the commissioner's or the analyst's, each attesting its own checklist."""
    if aqua_role not in ROLE_CHECKS:
        raise ReviewError(f"{aqua_role!r} is not one of the Aqua Book's roles",
                          f"sign off as one of: {', '.join(AQUA_ROLES)} (e.g. --as commissioner)")
    by = " ".join(by.split())
    if not by:
        raise ReviewError(
            "a sign-off needs the reviewer's name",
            "pass it with --by, e.g. `expedition review --by \"A. Reviewer\"`",
        )
    prints = stored_fingerprints(project, ids)
    missing = [i for i in (ids or []) if i not in prints]
    if missing:
        raise ReviewError(
            f"no stored finding for {', '.join(missing)}",
            "run those steps first with `expedition run`, or review all findings",
        )
    if not prints:
        raise ReviewError(
            "there are no findings to review",
            "run the steps first with `expedition run`, then review what they found",
        )
    checks = [key for key, _ in ROLE_CHECKS[aqua_role]]
    allow = public_names(project, [by])
    project.record(
        "review",
        by=by,
        **{"as": aqua_role},
        role=redact(" ".join(role.split()), allow)[0],
        note=redact(note.strip(), allow)[0],
        findings=prints,
        checks=checks,
    )
    entry = project.last("review") or {}
    return _from_entry(entry)


def public_names(project: Project, reviewers: Sequence[str] = ()) -> list[str]:
    """The names a project publishes on purpose: its lead, partners and organisation, its
    contact address, ``disclosure.public_names`` and the reviewers.

    The team and the senior responsible owner are published too, but as facts that are
    themselves scanned: they name a team and a role, and a person named in them is kept only
    when listed in ``disclosure.public_names``.
    """
    config = project.config
    facts = config.transparency
    names = [config.expedition.lead, *config.expedition.partners, facts.contact, facts.organisation,
             *config.disclosure.public_names, *reviewers]
    return sorted({n.strip() for n in names if n and n.strip()})


def _from_entry(entry: dict[str, Any], allow: list[str] | None = None) -> Review:
    note, role = str(entry.get("note", "")), str(entry.get("role", ""))
    if allow is not None:
        note, role = redact(note, allow)[0], redact(role, allow)[0]
    return Review(
        by=str(entry.get("by", "")),
        role=role,
        time=str(entry.get("time", "")),
        findings=dict(entry.get("findings") or {}),
        checks=list(entry.get("checks") or []),
        note=note,
        aqua_role=str(entry.get("as") or "assurer"),
    )


def reviews(project: Project) -> list[Review]:
    """Every sign-off recorded in the expedition, oldest first (notes and roles redacted)."""
    entries = [e for e in project.history("review") if e.get("by")]
    allow = public_names(project, [str(e["by"]) for e in entries])
    return [_from_entry(e, allow) for e in entries]


@dataclass(frozen=True)
class ReviewStatus:
    """Whether a set of findings is covered by a sign-off."""

    reviews: list[Review]
    covering: list[Review]
    uncovered: list[str]
    #: the latest commissioner's and analyst's sign-offs (shown beside the assurer's)
    roles: list[Review] = field(default_factory=list)

    @property
    def signed(self) -> bool:
        return bool(self.covering) and not self.uncovered

    @property
    def latest(self) -> Review | None:
        return self.reviews[-1] if self.reviews else None

    def describe(self) -> str:
        if self.signed:
            names = ", ".join(sorted({f"{r.by} ({r.role})" for r in self.covering}))
            return f"signed off by {names} on {self.covering[-1].date}"
        if not self.reviews:
            return "not yet reviewed"
        return (
            f"not signed off: {len(self.uncovered)} finding(s) changed or added since the last "
            f"review ({', '.join(self.uncovered)})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "signed": self.signed,
            "status": self.describe(),
            "uncovered": list(self.uncovered),
            "reviews": [r.to_dict() for r in self.covering],
            "roles": [r.to_dict() for r in self.roles],
            "latest": self.latest.to_dict() if self.latest else None,
        }


def review_status(project: Project, ids: Sequence[str] | None = None) -> ReviewStatus:
    """Which of the stored findings (all, or *ids*) the recorded sign-offs still cover.

    A finding is covered by the latest review that fingerprinted it, if its stored content
    has not changed since.
    """
    signed = reviews(project)
    everything = [r for r in signed if r.aqua_role == "assurer"]
    roles = [next(r for r in reversed(signed) if r.aqua_role == role)
             for role in ("commissioner", "analyst") if any(r.aqua_role == role for r in signed)]
    prints = stored_fingerprints(project, ids)
    wanted = list(ids) if ids is not None else list(prints)
    covering: dict[int, Review] = {}
    uncovered = []
    for finding_id in wanted:
        current = prints.get(finding_id)
        hit = None
        for n in range(len(everything) - 1, -1, -1):
            if finding_id in everything[n].findings:
                hit = n if everything[n].findings[finding_id] == current and current else None
                break
        if hit is None:
            uncovered.append(finding_id)
        else:
            covering[hit] = everything[hit]
    return ReviewStatus(everything, [covering[n] for n in sorted(covering)], uncovered, roles)
