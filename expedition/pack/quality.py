"""Data-quality evidence for the findings pack, read from ``.expedition/quality/<dataset>/``.

`expedition profile` and `expedition validate` leave their reports there. The pack reads
whatever exists (a missing file is simply absent) and treats every file defensively: a report it
cannot parse is left out with a warning, never a failure.

Keys read (each optional; the first one present wins):

``profile.json``
    rows: ``rows`` | ``n_rows`` | ``table.rows`` | ``overview.rows`` | ``dataset.rows``;
    columns: ``columns`` | ``n_columns`` | ``table.columns`` | ``overview.columns`` |
    ``dataset.columns`` (a number, or a list/mapping whose length is taken);
    alerts: ``alerts`` | ``overview.alerts`` | ``table.alerts`` (strings, or mappings with
    ``column`` and ``message`` | ``reason`` | ``detail`` | ``kind`` | ``type``).
``validation.json``
    accounting: ``report.rows`` | ``rows`` with ``read``, ``valid``, ``quarantined``;
    ``report.passed`` | ``passed``; failed checks: ``report.checks`` | ``checks`` (mappings with
    ``description`` | ``check`` | ``id``, ``column`` and ``failed``); ``validated_at``;
    ``delivery.version``.
``validation.html``
    an HTML fragment, sanitised and embedded in index.html.
``profile.html``
    a page of its own, copied into ``data-quality/<dataset>/`` and linked.
``feedback.md``
    the summary for the data owner, rendered in index.html and copied.

Everything copied into the pack has personal data redacted; row-level examples (``examples``,
``sample``, ``samples`` keys in the JSON reports) are removed, since they are records about
individuals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expedition.disclosure.text import redact, redact_markup
from expedition.pack.markup import render_markdown, sanitize_fragment
from expedition.project import Project

QUALITY_FILES = ("profile.json", "profile.html", "validation.json", "validation.html", "feedback.md")
_ROW_LEVEL_KEYS = {"examples", "sample", "samples"}


def _first(data: Any, *paths: str) -> Any:
    for path in paths:
        node = data
        for part in path.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node is not None:
            return node
    return None


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, (list, dict)):
        return len(value)
    return None


def _alert_text(alert: Any) -> str:
    if isinstance(alert, str):
        return alert
    if isinstance(alert, dict):
        column = alert.get("column")
        message = next(
            (alert[k] for k in ("message", "reason", "detail", "kind", "type") if alert.get(k)), ""
        )
        return f"{column}: {message}" if column and message else str(message or column or "")
    return str(alert)


@dataclass
class DatasetQuality:
    """What the pack shows about one dataset's quality."""

    name: str
    deliveries: list[dict[str, Any]]
    files: dict[str, bytes] = field(default_factory=dict)
    rows: int | None = None
    columns: int | None = None
    alerts: list[str] = field(default_factory=list)
    read: int | None = None
    valid: int | None = None
    quarantined: int | None = None
    passed: bool | None = None
    validated_at: str | None = None
    failed_checks: list[dict[str, Any]] = field(default_factory=list)
    feedback_html: str | None = None
    validation_html: str | None = None
    redactions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> bool | None:
        if None in (self.read, self.valid, self.quarantined):
            return None
        return self.read == self.valid + self.quarantined

    @property
    def has_reports(self) -> bool:
        return bool(self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "files": sorted(self.files),
            "profile": {"rows": self.rows, "columns": self.columns, "alerts": self.alerts},
            "validation": {
                "read": self.read,
                "valid": self.valid,
                "quarantined": self.quarantined,
                "accounted": self.accounted,
                "passed": self.passed,
                "failed_checks": self.failed_checks,
            },
        }


def _scrub(value: Any, allow: list[str], kinds: list[str], removed: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _ROW_LEVEL_KEYS:
                removed.append(key)
                continue
            out[key] = _scrub(item, allow, kinds, removed)
        return out
    if isinstance(value, list):
        return [_scrub(item, allow, kinds, removed) for item in value]
    if isinstance(value, str):
        cleaned, found = redact(value, allow)
        kinds.extend(found)
        return cleaned
    return value


def read_quality(project: Project, allow: list[str]) -> list[DatasetQuality]:
    """The data-quality evidence of every dataset in the expedition, ready to publish."""
    out = []
    for name, dataset in project.config.datasets.items():
        quality = DatasetQuality(
            name=name,
            deliveries=[
                {
                    "version": d.version,
                    "source": d.source,
                    "file": d.file,
                    "sha256": d.sha256,
                    "rows": d.rows,
                    "columns": len(d.columns),
                    "added": d.added.date().isoformat(),
                }
                for d in dataset.deliveries
            ],
        )
        folder = project.quality_dir(name)
        for filename in QUALITY_FILES:
            path = folder / filename
            if path.is_file():
                _read_one(quality, path, allow)
        out.append(quality)
    return out


def _read_one(quality: DatasetQuality, path: Path, allow: list[str]) -> None:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        quality.warnings.append(f"{quality.name}/{name} could not be read ({exc}); left out")
        return
    kinds: list[str] = []
    if name.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            quality.warnings.append(f"{quality.name}/{name} is not valid JSON ({exc.msg}); left out")
            return
        removed: list[str] = []
        data = _scrub(data, allow, kinds, removed)
        if removed:
            quality.redactions.append(f"{name}: row-level examples removed")
        if name == "profile.json":
            _read_profile(quality, data)
        else:
            _read_validation(quality, data)
        content = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    elif name == "validation.html":
        content, kinds = redact_markup(text, allow)
        content = sanitize_fragment(content)
        quality.validation_html = content
    elif name.endswith(".html"):
        content, kinds = redact_markup(text, allow)
    else:
        content, kinds = redact(text, allow)
        quality.feedback_html = render_markdown(content)
    if kinds:
        quality.redactions.append(f"{name}: personal data redacted ({', '.join(sorted(set(kinds)))})")
    quality.files[name] = content.encode("utf-8")


def _read_profile(quality: DatasetQuality, data: Any) -> None:
    quality.rows = _number(_first(data, "rows", "n_rows", "table.rows", "overview.rows", "dataset.rows"))
    quality.columns = _number(
        _first(data, "columns", "n_columns", "table.columns", "overview.columns", "dataset.columns")
    )
    alerts = _first(data, "alerts", "overview.alerts", "table.alerts")
    if isinstance(alerts, list):
        quality.alerts = [t for t in (_alert_text(a) for a in alerts) if t]


def _read_validation(quality: DatasetQuality, data: Any) -> None:
    rows = _first(data, "report.rows", "rows")
    if isinstance(rows, dict):
        quality.read = _number(rows.get("read"))
        quality.valid = _number(rows.get("valid"))
        quality.quarantined = _number(rows.get("quarantined"))
    passed = _first(data, "report.passed", "passed")
    quality.passed = passed if isinstance(passed, bool) else None
    at = _first(data, "validated_at")
    quality.validated_at = str(at) if at else None
    checks = _first(data, "report.checks", "checks")
    if isinstance(checks, list):
        for check in checks:
            if not isinstance(check, dict):
                continue
            failed = _number(check.get("failed"))
            if failed:
                quality.failed_checks.append(
                    {
                        "check": str(
                            check.get("description") or check.get("check") or check.get("id") or "check"
                        ),
                        "column": check.get("column"),
                        "failed": failed,
                    }
                )
