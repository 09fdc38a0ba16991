"""Data-quality evidence for the findings pack, through the same disclosure gate as the findings.

`expedition profile` and `expedition validate` leave their reports in
``.expedition/quality/<dataset>/`` (``profile.json``, ``validation.json``, and HTML and feedback
for the team). Those reports are for the team: they hold exact counts of rare values, extremes,
coordinates and row numbers. The pack publishes none of them. Instead `quality_findings` turns
each dataset's reports into a finding of tables whose counts are keyed like any step's
(`expedition.finding.Keys`), so `expedition pack` gates them together with the findings: a count
suppressed in a finding is suppressed in the data-quality tables too, and the other way round.

What a dataset's data-quality finding holds:

* ``columns`` — each column's type, how many values are recorded and missing, and how many
  distinct values it has;
* ``top_values`` — the most common values of categorical columns, with their counts; values
  seen fewer times than the threshold are not listed at all, and no values are listed for
  columns that are identifiers, personal data, coordinates or free text;
* ``numbers`` — mean and quartiles of numeric columns (never the minimum or maximum, which are
  single records; nothing for coordinates or identifiers);
* ``alerts`` — what the profile flagged, by kind (its messages quote counts and examples, so
  they stay in the project);
* ``validation`` — rows valid and quarantined, and ``failed_checks``, the rows each check
  failed; no examples or row numbers.

A report the pack cannot parse is left out with a warning, never a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expedition.finding import RECORDED, Cell, Count, Finding, Keys, Table, say
from expedition.project import Project

QUALITY_STEP = "data-quality"

#: semantic types whose values are never listed and whose numbers are never summarised
_UNLISTED_TYPES = {"identifier", "text", "uk_postcode", "latitude", "longitude", "email", "phone",
                   "nhs_number", "ni_number", "other", "empty"}
_SUMMARISED_TYPES = {"numeric"}
ALERT_WORDS = {
    "no_rows": "no rows",
    "column_names": "a blank or repeated column name was renamed",
    "read_as_text": "changed type part-way through the file and was read as text",
    "quotes_in_values": "double quotes are characters in the values",
    "empty_column": "every value is missing",
    "high_missingness": "20% or more of values missing",
    "suspected_personal_data": "may hold personal data (values never shown)",
    "constant": "the same value in every row",
    "high_cardinality": "a category with very many distinct values",
    "imbalanced": "one value makes up 90% or more",
    "skewed": "a very skewed distribution",
    "stored_as_text": "numbers or dates stored as text",
    "mixed_types": "mostly numbers or dates, with some other text",
    "mixed_date_formats": "dates written in more than one layout",
    "implausible_dates": "dates before 1900 or in the future",
    "duplicate_rows": "rows that repeat an earlier row exactly",
    "high_correlation": "very highly correlated with another column",
}


@dataclass
class DatasetQuality:
    """What the pack shows about one dataset's quality (every count after the gate)."""

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
    #: with combine: all, each delivery's accounting as gated: {"label", "valid", "quarantined", "read"}
    by_delivery: list[dict[str, Any]] = field(default_factory=list)
    combined: bool = False
    feedback_html: str | None = None
    validation_html: str | None = None
    redactions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    finding: Finding | None = None
    symbol: str = "c"
    #: (name, view, file) of each gated table, for index.html
    tables: list[Any] = field(default_factory=list)

    @property
    def accounted(self) -> bool | None:
        if None in (self.read, self.valid, self.quarantined):
            return None
        return self.read == self.valid + self.quarantined  # type: ignore[operator]

    @property
    def has_reports(self) -> bool:
        return self.finding is not None and bool(self.finding.params.get("reports"))

    def show(self, value: Any) -> str:
        """A count as the pack prints it: the suppression symbol when it was withheld."""
        if value is None:
            return self.symbol
        return f"{value:,}" if isinstance(value, int) else str(value)

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
                **({"by_delivery": self.by_delivery} if self.combined else {}),
            },
        }


def _load(path: Path, warnings: list[str], label: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.append(f"{label} could not be read ({exc}); left out")
        return None
    return data if isinstance(data, dict) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _deliveries(project: Project, name: str) -> list[dict[str, Any]]:
    """The deliveries as the pack lists them; file names are redacted like any text, since a
    delivered file can be named after a person."""
    from expedition.disclosure.text import redact

    dataset = project.config.datasets[name]
    return [
        {"version": d.version, "source": redact(d.source)[0], "file": redact(d.file)[0], "sha256": d.sha256,
         "rows": d.rows, "columns": len(d.columns), "added": d.added.date().isoformat()}
        for d in dataset.deliveries
    ]


def quality_findings(project: Project, min_count: int) -> tuple[list[Finding], list[str]]:
    """A data-quality finding for each dataset with a stored profile or validation report
    (before the gate), and warnings about reports that could not be read."""
    findings: list[Finding] = []
    warnings: list[str] = []
    for name in project.config.datasets:
        folder = project.quality_dir(name)
        profile = _load(folder / "profile.json", warnings, f"{name}/profile.json")
        validation = _load(folder / "validation.json", warnings, f"{name}/validation.json")
        deliveries = _deliveries(project, name)
        if profile is None and validation is None and not deliveries:
            continue
        population = _population(name, validation, deliveries)
        tables: dict[str, Table] = {}
        headlines: list[Any] = []
        metrics: dict[str, Any] = {}
        latest = deliveries[-1] if deliveries else None
        combined = project.config.datasets[name].combine == "all" and len(deliveries) > 1
        if latest is not None:
            read = _int((((validation or {}).get("report") or {}).get("rows") or {}).get("read"))
            rows = Count(read if read is not None else latest["rows"], {"validation": RECORDED}) if validation \
                else Count(latest["rows"])
            metrics["delivery_rows"] = rows
            which = (f"Deliveries v{deliveries[0]['version']} to v{latest['version']} of {{name}}, combined"
                     if combined else "Delivery v{version} of {name}")
            headlines.append(say(
                which + ": {rows} rows and {columns} columns.",
                version=str(latest["version"]), name=name, rows=rows, columns=str(latest["columns"]),
                fallback=say(which + ": {columns} columns.", version=str(latest["version"]),
                             name=name, columns=str(latest["columns"])),
            ))
        if profile is not None:
            tables.update(_profile_tables(profile, min_count))
        if validation is not None:
            tables.update(_validation_tables(validation))
            if "validation" in tables:
                headlines.append(say(
                    "Validation: {valid} rows valid and {quarantined} quarantined.",
                    valid=Cell("validation", "rows", {"status": "valid"}),
                    quarantined=Cell("validation", "rows", {"status": "quarantined"}),
                    fallback="Validation: the numbers of valid and quarantined rows are suppressed (too few to publish).",
                ))
        if not tables and not headlines:
            continue
        findings.append(Finding(
            step=QUALITY_STEP,
            title=f"Data quality: {name}",
            headlines=headlines or [f"Data quality of {name}."],
            id=f"quality-{name}",
            tables=tables,
            metrics=metrics,
            population=population,
            params={"dataset": name, "reports": profile is not None or validation is not None},
        ))
    return findings, warnings


def _population(name: str, validation: dict[str, Any] | None, deliveries: list[dict[str, Any]]) -> str:
    """The profile counts the delivered rows; when validation quarantined none of them, those are
    exactly the rows the steps read, so the counts link to the steps' (see `StepInput.population`)."""
    outputs = (validation or {}).get("outputs") or {}
    valid = outputs.get("valid") or {}
    quarantined = _int(((validation or {}).get("report") or {}).get("rows", {}).get("quarantined"))
    if valid.get("sha256") and quarantined == 0:
        return f"{name}@{str(valid['sha256'])[:16]}"
    sha = str(deliveries[-1]["sha256"]) if deliveries else ""
    return f"{name}@raw:{sha[:16]}"


def _profile_tables(profile: dict[str, Any], min_count: int) -> dict[str, Table]:
    import polars as pl

    columns = [c for c in profile.get("columns") or [] if isinstance(c, dict) and c.get("name") is not None]
    tables: dict[str, Table] = {}
    if columns:
        frame = pl.DataFrame(
            {
                "column": [str(c["name"]) for c in columns],
                "type": [str(c.get("semantic_type") or "") for c in columns],
                "recorded": [_int(c.get("count")) for c in columns],
                "missing": [_int(c.get("missing")) for c in columns],
                "distinct": [None if c.get("values_masked") else _int(c.get("distinct")) for c in columns],
            },
            schema={"column": pl.String, "type": pl.String, "recorded": pl.Int64, "missing": pl.Int64,
                    "distinct": pl.Int64},
        )
        tables["columns"] = Table(
            frame,
            {"column": "label", "type": "label", "recorded": "count", "missing": "count", "distinct": "statistic"},
            title="Columns",
            description="Each column's type, how many values are recorded and missing, and how many distinct values it has.",
            dimensions=[],
            keys=Keys(subject="column", variables={"column": None, "type": None},
                      counts={"recorded": {"@": RECORDED}, "missing": {"@": None}}),
        )
    top_rows = []
    for c in columns:
        if c.get("values_masked") or c.get("semantic_type") in _UNLISTED_TYPES or c.get("personal"):
            continue
        for item in c.get("top_values") or []:
            count = _int(item.get("count")) if isinstance(item, dict) else None
            if count is None or count < min_count or item.get("value") is None:
                continue  # a rare value is not listed: its existence alone could identify someone
            top_rows.append((str(c["name"]), str(item["value"]), count))
    if top_rows:
        tables["top_values"] = Table(
            pl.DataFrame(top_rows, schema={"column": pl.String, "value": pl.String, "count": pl.Int64}, orient="row"),
            {"column": "label", "value": "label", "count": "count"},
            title="Most common values",
            description=f"The most common values of each categorical column (values seen fewer than {min_count} times are not listed).",
            dimensions=[],
            keys=Keys(pairs=("column", "value"), counts={"count": {}}),
        )
    number_rows = []
    for c in columns:
        numeric = c.get("numeric")
        if not isinstance(numeric, dict) or c.get("values_masked") or c.get("semantic_type") not in _SUMMARISED_TYPES:
            continue
        quantiles = numeric.get("quantiles") or {}
        number_rows.append((str(c["name"]), _int(c.get("count")), _float(numeric.get("mean")),
                            _float(quantiles.get("p25")), _float(quantiles.get("p50")), _float(quantiles.get("p75"))))
    if number_rows:
        tables["numbers"] = Table(
            pl.DataFrame(number_rows, schema={"column": pl.String, "recorded": pl.Int64, "mean": pl.Float64,
                                              "p25": pl.Float64, "median": pl.Float64, "p75": pl.Float64},
                         orient="row"),
            {"column": "label", "recorded": "count", "mean": "statistic", "p25": "statistic",
             "median": "statistic", "p75": "statistic"},
            title="Numeric columns",
            description="Mean and quartiles of each numeric column (the minimum and maximum are single records and are not shown).",
            denominators={c: "recorded" for c in ("mean", "p25", "median", "p75")},
            dimensions=[],
            keys=Keys(subject="column", variables={"column": None}, counts={"recorded": {"@": RECORDED}}),
        )
    alert_rows = []
    for alert in profile.get("alerts") or []:
        if isinstance(alert, dict) and alert.get("kind"):
            alert_rows.append((str(alert.get("column") or "(the whole file)"),
                               ALERT_WORDS.get(str(alert["kind"]), str(alert["kind"]).replace("_", " "))))
    if alert_rows:
        tables["alerts"] = Table(
            pl.DataFrame(alert_rows, schema={"column": pl.String, "alert": pl.String}, orient="row"),
            {"column": "label", "alert": "label"},
            title="What the profile flagged",
            description="Each alert of the profile, by kind (the profile itself, with examples, stays in the project).",
        )
    return tables


def _validation_tables(validation: dict[str, Any]) -> dict[str, Table]:
    import polars as pl

    report = validation.get("report") or {}
    rows = report.get("rows") or {}
    tables: dict[str, Table] = {}
    valid, quarantined = _int(rows.get("valid")), _int(rows.get("quarantined"))
    if valid is not None and quarantined is not None:
        tables["validation"] = Table(
            pl.DataFrame({"status": ["valid", "quarantined"], "rows": [valid, quarantined]}),
            {"status": "label", "rows": "count"},
            title="Validation",
            description="Rows that passed every check of the data contract, and rows quarantined.",
            dimensions=["status"],
            keys=Keys(variables={"status": "validation"}, counts={"rows": {}}),
        )
    parts = [d for d in validation.get("deliveries") or [] if isinstance(d, dict)]
    if validation.get("combine") == "all" and parts:
        from expedition.disclosure.text import redact

        by = [(redact(str(d.get("label")))[0], status, _int((d.get("rows") or {}).get(status)))
              for d in parts for status in ("valid", "quarantined")]
        tables["validation_by_delivery"] = Table(
            pl.DataFrame(by, schema={"delivery": pl.String, "status": pl.String, "rows": pl.Int64}, orient="row"),
            {"delivery": "label", "status": "label", "rows": "count"},
            title="Validation of each delivery",
            description="The rows of each delivery that passed every check of the data contract, and those "
                        "quarantined; the dataset is the valid rows of every delivery together.",
            dimensions=["delivery", "status"],
            keys=Keys(variables={"delivery": "delivery", "status": "validation"}, counts={"rows": {}}),
        )
    failed = []
    for check in report.get("checks") or []:
        if not isinstance(check, dict):
            continue
        n = _int(check.get("failed"))
        if n:
            failed.append((str(check.get("description") or check.get("check") or check.get("id") or "check"),
                           str(check.get("column") or ""), n))
    if failed:
        tables["failed_checks"] = Table(
            pl.DataFrame(failed, schema={"check": pl.String, "column": pl.String, "rows": pl.Int64}, orient="row"),
            {"check": "label", "column": "label", "rows": "count"},
            title="Checks that failed",
            description="Each check of the data contract that some rows failed, and how many (a row may fail several).",
            dimensions=[],
        )
    return tables


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_quality(project: Project, gated: dict[str, Any], symbol: str, warnings: list[str] = ()) -> list[DatasetQuality]:
    """What the pack shows of every dataset, from its gated data-quality finding (if any)."""
    out = []
    for name in project.config.datasets:
        deliveries = _deliveries(project, name)
        quality = DatasetQuality(name=name, deliveries=deliveries, symbol=symbol)
        quality.warnings = [w for w in warnings if w.startswith(f"{name}/")]
        finding = gated.get(name)
        if finding is not None:
            _fill(quality, finding, _load_validation_facts(project, name))
        out.append(quality)
    return out


def _load_validation_facts(project: Project, name: str) -> dict[str, Any]:
    data = _load(project.quality_dir(name) / "validation.json", [], "") or {}
    report = data.get("report") or {}
    return {"passed": report.get("passed"), "validated_at": data.get("validated_at")}


def _fill(quality: DatasetQuality, finding: Finding, facts: dict[str, Any]) -> None:
    quality.finding = finding
    rows = finding.metrics.get("delivery_rows")
    quality.rows = None if rows is None else int(rows)
    if quality.deliveries:
        quality.deliveries[-1] = {**quality.deliveries[-1], "rows": quality.rows}
        for d in quality.deliveries[:-1]:
            d["rows"] = None  # earlier deliveries' sizes are not gated: not published
        if "validation_by_delivery" in finding.tables:  # combined: each delivery's rows, as gated
            for d in quality.deliveries:
                d["rows"] = None

    columns = finding.tables.get("columns")
    quality.columns = columns.frame.height if columns is not None else (
        quality.deliveries[-1]["columns"] if quality.deliveries else None)
    alerts = finding.tables.get("alerts")
    if alerts is not None:
        quality.alerts = [f"{c}: {a}" for c, a in alerts.frame.select("column", "alert").iter_rows()]
    validation = finding.tables.get("validation")
    if validation is not None:
        by_status = dict(validation.frame.select("status", "rows").iter_rows())
        quality.valid, quality.quarantined = by_status.get("valid"), by_status.get("quarantined")
        quality.read = quality.rows
        quality.passed = facts.get("passed") if isinstance(facts.get("passed"), bool) else None
    by_delivery = finding.tables.get("validation_by_delivery")
    if by_delivery is not None:
        quality.combined = True
        counts: dict[str, dict[str, Any]] = {}
        for label, status, n in by_delivery.frame.select("delivery", "status", "rows").iter_rows():
            counts.setdefault(str(label), {"label": label})[status] = n
        for entry in counts.values():
            valid, quarantined = entry.get("valid"), entry.get("quarantined")
            entry["read"] = None if valid is None or quarantined is None else valid + quarantined
        quality.by_delivery = list(counts.values())
        quality.validated_at = str(facts["validated_at"]) if facts.get("validated_at") else None
    failed = finding.tables.get("failed_checks")
    if failed is not None:
        quality.failed_checks = [
            {"check": check, "column": column or None, "failed": n}
            for check, column, n in failed.frame.select("check", "column", "rows").iter_rows()
        ]
