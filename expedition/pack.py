"""Building the findings pack from stored findings.

``build_pack(project)`` passes every finding through the disclosure gate, then writes
``findings/<slug>-<date>/`` atomically (into a temporary folder, renamed at the end):
``index.html`` (self-contained: figures embedded, no network requests), ``summary.md``,
``findings.json``, ``tables/*.csv``, ``figures/*.png|svg`` and ``manifest.json`` holding the
SHA-256 of every other file, the provenance of every finding and the disclosure log.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from expedition import disclosure
from expedition._io import atomic_dir
from expedition.errors import PackError
from expedition.finding import Finding, Table
from expedition.manifest import command_line, dumps, file_hashes, package_versions
from expedition.project import Project
from expedition.runner import stored_findings

PACK_FORMAT = 1
MAX_HTML_ROWS = 60


@dataclass(frozen=True)
class PackResult:
    path: Path
    findings: list[str]
    files: int
    suppressions: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "findings": self.findings,
            "files": self.files,
            "suppressions": self.suppressions,
            "warnings": self.warnings,
        }


def pack_name(project: Project, when: date | None = None) -> str:
    when = when or date.today()
    return f"{project.config.expedition.slug}-{when.isoformat()}"


def build_pack(
    project: Project,
    findings: list[Finding] | None = None,
    *,
    when: date | None = None,
    replace: bool = False,
) -> PackResult:
    """Write the findings pack for *project* and return where it is."""
    findings = stored_findings(project) if findings is None else findings
    if not findings:
        raise PackError(
            "there are no findings to pack",
            "run the steps first with `expedition run`",
        )
    dest = project.findings_dir / pack_name(project, when)
    if dest.exists() and not replace:
        raise PackError(
            f"the pack {project.relative(dest)} already exists",
            "use `expedition pack --force` to rebuild it, or move the old one away",
            path=dest,
        )
    rules = project.config.disclosure
    safe: list[Finding] = []
    log: list[disclosure.Suppression] = []
    for finding in findings:
        cleaned, entries = disclosure.apply(finding, rules)
        safe.append(cleaned)
        log.extend(entries)

    built = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with atomic_dir(dest, replace=replace) as tmp:
        records = _write_findings(tmp, safe)
        (tmp / "findings.json").write_text(
            json.dumps({"format": PACK_FORMAT, "findings": records}, indent=2, default=str) + "\n",
            encoding="utf-8",
        )
        (tmp / "summary.md").write_text(_summary_md(project, safe), encoding="utf-8")
        html = _render_html(project, safe, records, log, built)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        files = file_hashes(tmp)
        manifest = {
            "format": PACK_FORMAT,
            "expedition": project.config.expedition.model_dump(mode="json"),
            "built": built,
            "command": command_line(),
            "packages": package_versions(),
            "disclosure": {
                "rules": rules.model_dump(mode="json"),
                "log": [entry.to_dict() for entry in log],
            },
            "findings": [
                {"id": f.id, "step": f.step, "title": f.title, "provenance": f.provenance}
                for f in safe
            ],
            "files": files,
        }
        (tmp / "manifest.json").write_text(dumps(manifest), encoding="utf-8")
    project.record("pack", path=project.relative(dest), findings=[f.id for f in safe])
    return PackResult(
        path=dest,
        findings=[f.id for f in safe],
        files=len(files) + 1,
        suppressions=len(log),
    )


def _write_findings(root: Path, findings: list[Finding]) -> list[dict[str, Any]]:
    (root / "tables").mkdir()
    (root / "figures").mkdir()
    records = []
    for finding in findings:
        record = finding.to_dict()
        for name, table in finding.tables.items():
            rel = f"tables/{finding.id}__{name}.csv"
            table.frame.write_csv(root / rel, null_value="")
            record["tables"][name]["file"] = rel
        for name, figure in finding.figures.items():
            files = []
            (root / f"figures/{finding.id}__{name}.png").write_bytes(figure.png)
            files.append(f"figures/{finding.id}__{name}.png")
            if figure.svg is not None:
                (root / f"figures/{finding.id}__{name}.svg").write_bytes(figure.svg)
                files.append(f"figures/{finding.id}__{name}.svg")
            record["figures"][name]["files"] = files
        records.append(record)
    return records


def _summary_md(project: Project, findings: list[Finding]) -> str:
    info = project.config.expedition
    lines = [f"# {info.title}", ""]
    if info.question:
        lines += [f"**Question:** {info.question}", ""]
    for finding in findings:
        lines.append(f"## {finding.title}")
        lines.append("")
        lines += [f"- {h}" for h in finding.headlines]
        lines.append("")
    lines.append(
        f"Counts below {project.config.disclosure.min_count} are suppressed. "
        "Full tables, figures, methods and provenance are in index.html and manifest.json."
    )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML


def _format_cell(value: Any, kind: str) -> str:
    if value is None:
        return "c" if kind in {"count", "rate"} else "–"
    if isinstance(value, float):
        if value != value:
            return "–"
        if kind == "rate":
            return f"{value:.1%}"
        if kind == "count":
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, int) and kind == "count":
        return f"{value:,}"
    return str(value)


def _table_view(table: Table) -> dict[str, Any]:
    frame = table.frame.head(MAX_HTML_ROWS)
    columns = list(frame.columns)
    rows = [
        [_format_cell(v, table.kinds[c]) for c, v in zip(columns, row)] for row in frame.iter_rows()
    ]
    return {
        "title": table.title,
        "description": table.description,
        "columns": columns,
        "numeric": [table.kinds[c] in {"count", "rate", "statistic"} for c in columns],
        "rows": rows,
        "more": max(table.frame.height - MAX_HTML_ROWS, 0),
    }


def _render_html(
    project: Project,
    findings: list[Finding],
    records: list[dict[str, Any]],
    log: list[disclosure.Suppression],
    built: str,
) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("expedition", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    sections = []
    for finding, record in zip(findings, records):
        sections.append(
            {
                "finding": finding,
                "tables": [
                    (name, _table_view(table), record["tables"][name]["file"])
                    for name, table in finding.tables.items()
                ],
                "figures": [
                    (
                        figure,
                        "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii"),
                    )
                    for figure in finding.figures.values()
                ],
            }
        )
    datasets = [
        {"name": name, "deliveries": ds.deliveries}
        for name, ds in project.config.datasets.items()
        if ds.deliveries
    ]
    reasons: dict[str, int] = {}
    for entry in log:
        key = entry.reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    template = env.get_template("index.html.j2")
    return template.render(
        info=project.config.expedition,
        rules=project.config.disclosure,
        seed=project.config.seed,
        sections=sections,
        datasets=datasets,
        reasons=sorted(reasons.items()),
        suppressions=len(log),
        built=built,
        packages=package_versions(),
        commands=sorted({f.provenance.get("command", "") for f in findings} - {""}),
    )


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "checked": self.checked, "problems": self.problems}


def verify_pack(path: str | Path) -> VerifyReport:
    """Check a pack folder against its manifest: every file present, unchanged, and listed."""
    from expedition.manifest import check_hashes

    path = Path(path)
    manifest_path = path / "manifest.json"
    if not path.is_dir():
        raise PackError(f"{path} is not a pack folder", "pass the folder written by `expedition pack`", path=path)
    if not manifest_path.is_file():
        raise PackError(
            "the folder has no manifest.json, so it cannot be verified",
            "pass the folder written by `expedition pack`",
            path=path,
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = dict(manifest["files"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        return VerifyReport(path, 0, [f"manifest.json is unreadable or damaged ({exc})"])
    problems = check_hashes(path, expected)
    present = set(file_hashes(path, exclude=("manifest.json",)))
    for extra in sorted(present - set(expected)):
        problems.append(f"{extra}: not listed in the manifest (added after the pack was built)")
    return VerifyReport(path, len(expected), problems)
