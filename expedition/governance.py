"""Data-sharing agreements, held to: what each dataset was received under, until when, and the
purge once that date has passed.

Each dataset in ``expedition.yaml`` may name its agreement::

    datasets:
      referrals:
        agreement:
          reference: DSA-2026-014
          provider: Essex County Council
          lawful_basis: UK GDPR Article 6(1)(e) public task; Article 9(2)(g)
          retain_until: 2027-03-31
          dpia: DPIA-2026-009          # optional

- `data add` warns when a dataset has none (`expedition.datasets`); ``pack --final`` is refused while a dataset with
  deliveries has none or is past its ``retain_until`` (`agreement_problems`);
- `expedition status` shows the days left to each retention date (`retention`);
- ``DATA_SHARING.md``'s dataset table (between its ``expedition:datasets`` markers) and the
  pack's transparency record are filled from the agreements (`fill_data_sharing`);
- `expedition data purge` deletes every delivery of a dataset past its date and everything made
  from it — raw files, validated and quarantined rows, derived datasets, links and scores,
  stored findings, quality reports and caches — and records what went (dataset, delivery, hashes,
  date, user) in the project history. Packs already built are listed, not deleted: they passed
  disclosure control and belong to whoever they were shared with.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from expedition.errors import ConfigError
from expedition.project import Project

MARK_START = "<!-- expedition:datasets (filled from expedition.yaml; edits here are replaced) -->"
MARK_END = "<!-- /expedition:datasets -->"


# --------------------------------------------------------------------------- checking


def agreement_problems(project: Project, today: date | None = None) -> list[str]:
    """What stops a final pack: each dataset with deliveries that has no agreement, or whose
    agreement's ``retain_until`` has passed."""
    today = today or date.today()
    problems = []
    for name, ds in project.config.datasets.items():
        if not ds.deliveries:
            continue
        if ds.agreement is None:
            problems.append(f"dataset {name!r} has no data-sharing agreement")
        elif ds.agreement.retain_until < today:
            problems.append(f"dataset {name!r} is past its retention date ({ds.agreement.retain_until}, "
                            f"agreement {ds.agreement.reference}): it must be deleted, not published")
    return problems


def require_agreements(project: Project, today: date | None = None) -> None:
    """A ConfigError naming each dataset without an agreement or past its retention date."""
    problems = agreement_problems(project, today)
    if problems:
        raise ConfigError(
            "a final pack needs every dataset's data-sharing agreement: " + "; ".join(problems),
            "record each under the dataset in expedition.yaml — agreement: {reference, provider, "
            "lawful_basis, retain_until, dpia} — and delete data past its date with `expedition "
            "data purge`",
            path=project.config_path,
        )


@dataclass(frozen=True)
class Retention:
    dataset: str
    reference: str | None
    retain_until: date | None
    days_left: int | None

    def describe(self) -> str:
        if self.retain_until is None:
            return "no agreement recorded"
        if self.days_left is not None and self.days_left < 0:
            return f"{-self.days_left} days past {self.retain_until}: run `expedition data purge`"
        return f"{self.days_left} days left (until {self.retain_until}, {self.reference})"

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "agreement": self.reference,
                "retain_until": self.retain_until.isoformat() if self.retain_until else None,
                "days_left": self.days_left}


def retention(project: Project, today: date | None = None) -> list[Retention]:
    today = today or date.today()
    out = []
    for name, ds in project.config.datasets.items():
        a = ds.agreement
        out.append(Retention(name, a.reference if a else None, a.retain_until if a else None,
                             (a.retain_until - today).days if a else None))
    return out


# --------------------------------------------------------------------------- DATA_SHARING.md


def data_sharing_rows(project: Project) -> list[str]:
    rows = []
    for name, ds in project.config.datasets.items():
        a = ds.agreement
        received = ", ".join(f"v{d.version} {d.added.date() if d.added else '?'}" for d in ds.deliveries) or "—"
        clause = (f"{a.reference}; {a.lawful_basis}; retain until {a.retain_until}"
                  + (f"; DPIA {a.dpia}" if a.dpia else "")) if a else "no agreement recorded"
        cells = [name, ds.description or "", a.provider if a else "", received, clause]
        rows.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return rows


def data_sharing_text(project: Project) -> str | None:
    """DATA_SHARING.md with its dataset table (between the markers) filled from expedition.yaml,
    or None when it needs no change or has no markers (an older project: left as it is)."""
    path = project.root / "DATA_SHARING.md"
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start < 0 or end < start:
        return None
    head = ("| dataset | what it holds | from whom | received | agreement (reference; lawful basis; "
            "retention) |\n| --- | --- | --- | --- | --- |\n")
    body = "\n".join(data_sharing_rows(project)) or "| | | | | |"
    new = text[: start + len(MARK_START)] + "\n" + head + body + "\n" + text[end:]
    return new if new != text else None


def fill_data_sharing(project: Project) -> bool:
    """Rewrite DATA_SHARING.md's dataset table now; False when nothing changed."""
    from expedition._io import atomic_write_text

    new = data_sharing_text(project)
    if new is None:
        return False
    atomic_write_text(project.root / "DATA_SHARING.md", new)
    return True


# --------------------------------------------------------------------------- purging


@dataclass
class Purged:
    dataset: str
    reference: str
    retain_until: date
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "agreement": self.reference,
                "retain_until": self.retain_until.isoformat(), "deliveries": self.deliveries,
                "files": self.files}


@dataclass
class PurgeResult:
    purged: list[Purged]  # what is past its date (deleted unless dry_run or not confirmed)
    packs: list[str]
    dry_run: bool
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "deleted": self.deleted,
                "purged": [p.to_dict() for p in self.purged], "packs_kept": self.packs}


def purge(project: Project, *, today: date | None = None, dry_run: bool = False,
          confirm: Callable[[PurgeResult], bool] | None = None) -> PurgeResult:
    """Delete every dataset past its agreement's ``retain_until`` and everything made from it.

    *confirm* is asked with the plan before anything is deleted (False: nothing is). The
    deletion is recorded in ``.expedition/history.jsonl`` with each delivery's hash.
    """
    from expedition._io import remove_path
    from expedition._lock import project_lock
    from expedition.config import update_config

    today = today or date.today()
    expired = [(n, ds) for n, ds in project.config.datasets.items()
               if ds.agreement is not None and ds.agreement.retain_until < today and ds.deliveries]
    plan = [Purged(n, ds.agreement.reference, ds.agreement.retain_until,  # type: ignore[union-attr]
                   [{"version": d.version, "file": d.file, "sha256": d.sha256} for d in ds.deliveries],
                   [project.relative(p) for p in _made_from(project, n)]) for n, ds in expired]
    packs = sorted(project.relative(p) for p in project.findings_dir.glob("*")
                   if p.name != ".gitkeep") if plan and project.findings_dir.exists() else []
    result = PurgeResult(plan, packs, dry_run)
    if dry_run or not plan or (confirm is not None and not confirm(result)):
        return result
    with project_lock(project.root, "data purge"):
        for item in plan:
            for rel in item.files:
                path = project.root / rel
                if path.exists():
                    _writable(path)
                    remove_path(path)

        def forget(doc: Any) -> None:
            for item in plan:
                doc["datasets"][item.dataset]["deliveries"] = []

        update_config(project.config_path, forget)
    result.deleted = True
    user = _user()
    for item in plan:
        project.record("purge", dataset=item.dataset, agreement=item.reference,
                       retain_until=item.retain_until.isoformat(), deliveries=item.deliveries,
                       files=item.files, user=user, date=today.isoformat())
    return result


def _made_from(project: Project, dataset: str) -> list[Path]:
    """Every file and folder in the project made from *dataset*'s deliveries."""
    root = project.root
    found: list[Path] = [root / "data" / "raw" / dataset, project.quality_dir(dataset)]
    for folder in ("interim", "quarantine"):
        found.extend((root / "data" / folder).glob(f"{dataset}.*"))
        found.extend((root / "data" / folder).glob(f"{dataset}-*"))
    downstream = _downstream(project, dataset)
    for name in downstream:
        found.append(root / "data" / "processed" / f"{name}.parquet")
        found.append(project.state_dir / "derived" / f"{name}.json")
        found.extend((project.state_dir / "links").glob(f"{name}.*"))
        found.extend((project.state_dir / "links").glob(f"{name}-*"))
    found.extend((root / "data" / "processed").glob(f"{dataset}-scores-*"))
    readers = {dataset, *downstream}
    for step in project.config.steps:
        if step.dataset in readers:
            found.append(project.results_dir / step.id)
    found.append(project.state_dir / "cache")
    return sorted({p for p in found if p.exists()})


def _downstream(project: Project, dataset: str) -> list[str]:
    """Derived datasets and links that read *dataset*, directly or through another one."""
    from expedition.prepare import inputs_of

    reads: dict[str, list[str]] = {n: list(spec.datasets) for n, spec in project.config.links.items()}
    for name in project.config.derived:
        try:
            reads[name] = inputs_of(project, name)
        except ConfigError:
            continue
    out: list[str] = []
    changed = True
    while changed:
        changed = False
        for name, inputs in reads.items():
            if name not in out and (dataset in inputs or any(i in out for i in inputs)):
                out.append(name)
                changed = True
    return out


def _writable(path: Path) -> None:
    """Raw deliveries are read-only files in read-only folders: make them deletable."""
    import os
    import stat

    targets = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in targets:
        try:
            mode = os.stat(p).st_mode
            os.chmod(p, mode | stat.S_IWUSR | (stat.S_IXUSR if stat.S_ISDIR(mode) else 0))
        except OSError:
            pass
    if path.parent.exists():
        os.chmod(path.parent, os.stat(path.parent).st_mode | stat.S_IWUSR)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on this machine
        return "unknown"

