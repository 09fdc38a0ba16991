"""Comparing two deliveries of a dataset: what changed, and whether it changed materially.

Columns are matched by name. For each column present in both: the stored and semantic types,
the share of missing values, the number of distinct values and, for the distribution, the
population stability index (PSI) and, for numbers and dates, the two-sample
Kolmogorov–Smirnov test:

* PSI = Σ (new − old) · ln(new / old) over the shares of each category (the 20 most common
  across both deliveries, the rest pooled) or of each decile bin of the old delivery's numbers;
  shares are floored at 0.0001 so an empty bin does not give infinity. By convention below 0.1
  is stable, 0.1–0.25 a moderate shift and 0.25 or more a major shift.
* KS: scipy.stats.ks_2samp on the two samples (missing values left out). With samples this
  large almost any difference is "significant", so the alert uses the statistic D (the largest
  gap between the two cumulative distributions) and flags D ≥ 0.1 with p < 0.001.

Category shares come from the exact value counts when both profiles have them (columns with at
most 1,000 distinct values), and from the samples otherwise.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from expedition.profile import Profile

COMPARISON_SCHEMA_VERSION = 1
CHANGE_THRESHOLDS = {
    "missing_share_change": 0.05,  # absolute change in the share missing (5 percentage points)
    "psi_moderate": 0.10,
    "psi_major": 0.25,
    "ks_statistic": 0.10,
    "ks_pvalue": 0.001,
    "distinct_ratio": 1.5,  # distinct values grew or shrank by this factor (categoricals)
    "row_change": 0.20,  # relative change in rows
}
_EPS = 1e-4
_CATEGORIES = 20


@dataclass
class Comparison:
    """The comparison of two profiles; ``to_dict()`` is the JSON document."""

    document: dict[str, Any]

    @property
    def changed(self) -> bool:
        """Whether any change is material (any alert of severity "warning")."""
        return any(a["severity"] == "warning" for a in self.document["alerts"])

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [dict(a) for a in self.document["alerts"]]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.document))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.document, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"

    def to_html(self, *, fragment: bool = False) -> str:
        from expedition.profile._html import render_comparison

        return render_comparison(self.document, fragment=fragment)

    def _repr_html_(self) -> str:
        return self.to_html(fragment=True)

    def __repr__(self) -> str:
        d = self.document
        return f"<Comparison {d['old']['label']} → {d['new']['label']}: {len(d['alerts'])} alerts>"


def _label(profile: Profile) -> str:
    source = profile._document["source"]
    if source.get("dataset") and source.get("delivery"):
        return f"{source['dataset']}@v{source['delivery']}"
    return str(source.get("path") or source.get("name"))


def _psi(old: list[float], new: list[float]) -> float:
    total = 0.0
    for a, b in zip(old, new):
        a, b = max(a, _EPS), max(b, _EPS)
        total += (b - a) * math.log(b / a)
    return total


def _shares(counts: dict[Any, int], keys: list[Any]) -> list[float]:
    total = sum(counts.values())
    if not total:
        return [0.0] * (len(keys) + 1)
    shown = [counts.get(k, 0) / total for k in keys]
    return [*shown, max(0.0, 1.0 - sum(shown))]


def _counts(profile: Profile, name: str) -> tuple[dict[Any, int], bool]:
    """Value counts of a column: exact from the profile's table, else from its sample."""
    tables = getattr(profile, "_tables", {}) or {}
    if name in tables:
        table = tables[name]
        return dict(zip(table.get_column("value").to_list(), table.get_column("n").to_list())), True
    sample = profile.sample
    if sample is None or name not in sample.columns:
        return {}, False
    counts = sample.get_column(name).drop_nulls().rename("value").value_counts(name="n")
    return dict(zip(counts.get_column("value").to_list(), counts.get_column("n").to_list())), False


def _numbers(profile: Profile, name: str, col: dict[str, Any]) -> pl.Series | None:
    import polars as pl

    from expedition.profile._engine import number_expr

    sample = profile.sample
    if sample is None or name not in sample.columns:
        return None
    values = sample.get_column(name)
    if values.dtype.is_numeric():
        x = values.cast(pl.Float64)
    elif values.dtype in (pl.Date,) or isinstance(values.dtype, pl.Datetime):
        x = values.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64)
    elif values.dtype == pl.String and col.get("stored_as_text") and col["stored_as_text"]["kind"] == "number":
        x = values.to_frame("v").select(number_expr(pl.col("v"))).to_series()
    else:
        return None
    return x.filter(x.is_finite())


def _distribution(old: Profile, new: Profile, name: str, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """PSI (and KS for numbers and dates) between the two deliveries of one column."""
    import numpy as np

    numeric_types = {"numeric", "date", "datetime", "latitude", "longitude"}
    if a["semantic_type"] in numeric_types and b["semantic_type"] in numeric_types:
        x, y = _numbers(old, name, a), _numbers(new, name, b)
        if x is not None and y is not None and x.len() and y.len():
            from scipy.stats import ks_2samp

            xs, ys = x.to_numpy(), y.to_numpy()
            edges = np.unique(np.quantile(xs, np.linspace(0, 1, 11))[1:-1])
            old_bins = np.bincount(np.searchsorted(edges, xs, side="right"), minlength=len(edges) + 1)
            new_bins = np.bincount(np.searchsorted(edges, ys, side="right"), minlength=len(edges) + 1)
            psi = _psi(list(old_bins / old_bins.sum()), list(new_bins / new_bins.sum()))
            test = ks_2samp(xs, ys)
            return {
                "psi": round(psi, 4),
                "psi_basis": f"{len(edges) + 1} bins at the old delivery's deciles, on the samples",
                "ks_statistic": round(float(test.statistic), 4),
                "ks_pvalue": float(test.pvalue),
                "new_categories": None,
            }
    old_counts, old_exact = _counts(old, name)
    new_counts, new_exact = _counts(new, name)
    if not old_counts or not new_counts:
        return {"psi": None, "psi_basis": None, "ks_statistic": None, "ks_pvalue": None, "new_categories": None}
    combined: dict[Any, float] = {}
    old_total, new_total = sum(old_counts.values()), sum(new_counts.values())
    for counts, total in ((old_counts, old_total), (new_counts, new_total)):
        for k, n in counts.items():
            combined[k] = combined.get(k, 0.0) + n / total
    keys = sorted(combined, key=lambda k: (-combined[k], str(k)))[:_CATEGORIES]
    psi = _psi(_shares(old_counts, keys), _shares(new_counts, keys))
    appeared = [k for k in new_counts if k not in old_counts]
    exact = old_exact and new_exact
    return {
        "psi": round(psi, 4),
        "psi_basis": f"{len(keys)} most common categories and the rest pooled"
        + ("" if exact else ", on the samples"),
        "ks_statistic": None,
        "ks_pvalue": None,
        "new_categories": len(appeared) if exact else None,
        "_appeared": sorted(appeared, key=lambda k: (-new_counts[k], str(k)))[:5],
    }


def _alert(kind: str, column: str | None, message: str, severity: str = "warning", **detail: Any) -> dict[str, Any]:
    return {"kind": kind, "column": column, "severity": severity, "message": message, "detail": detail}


def compare_profiles(old: Profile, new: Profile) -> Comparison:
    """Compare *old* with *new* (see the module docstring for the measures and thresholds)."""
    from expedition.profile._infer import _clean, display

    a_doc, b_doc = old._document, new._document
    a_cols = {c["name"]: c for c in a_doc["columns"]}
    b_cols = {c["name"]: c for c in b_doc["columns"]}
    added = [n for n in b_cols if n not in a_cols]
    removed = [n for n in a_cols if n not in b_cols]
    alerts: list[dict[str, Any]] = []
    rows_old, rows_new = a_doc["dataset"]["rows"], b_doc["dataset"]["rows"]
    if rows_old and abs(rows_new - rows_old) / rows_old >= CHANGE_THRESHOLDS["row_change"]:
        alerts.append(
            _alert("row_count_changed", None,
                   f"The new delivery has {rows_new:,} rows against {rows_old:,} ({(rows_new - rows_old) / rows_old:+.0%}).",
                   severity="info", old=rows_old, new=rows_new)
        )
    for name in removed:
        alerts.append(_alert("column_removed", name, f"'{name}' is no longer in the delivery."))
    for name in added:
        alerts.append(_alert("column_added", name, f"'{name}' is new in this delivery."))
    columns = []
    for name, a in a_cols.items():
        if name not in b_cols:
            continue
        b = b_cols[name]
        masked = bool(a["values_masked"] or b["values_masked"])
        dist = _distribution(old, new, name, a, b)
        appeared = dist.pop("_appeared", [])
        entry = {
            "name": name,
            "physical_type": {"old": a["physical_type"], "new": b["physical_type"]},
            "semantic_type": {"old": a["semantic_type"], "new": b["semantic_type"]},
            "type_changed": a["physical_type"] != b["physical_type"] or a["semantic_type"] != b["semantic_type"],
            "missing_share": {"old": a["missing_share"], "new": b["missing_share"],
                              "change": _clean((b["missing_share"] or 0) - (a["missing_share"] or 0))},
            "distinct": {"old": a["distinct"], "new": b["distinct"]},
            "mean": {"old": (a["numeric"] or {}).get("mean"), "new": (b["numeric"] or {}).get("mean")},
            **dist,
            "material": False,
            "reasons": [],
        }
        q = f"'{name}'"
        if entry["type_changed"]:
            entry["reasons"].append("type changed")
            alerts.append(
                _alert("type_changed", name,
                       f"{q} changed from {a['semantic_type']} ({a['physical_type']}) to "
                       f"{b['semantic_type']} ({b['physical_type']}).")
            )
        change = entry["missing_share"]["change"] or 0.0
        if abs(change) >= CHANGE_THRESHOLDS["missing_share_change"]:
            entry["reasons"].append("missing values changed")
            alerts.append(
                _alert("missingness_changed", name,
                       f"{q} is missing in {(b['missing_share'] or 0):.1%} of rows, against "
                       f"{(a['missing_share'] or 0):.1%} before ({change * 100:+.1f} points).", change=change)
            )
        if (
            a["semantic_type"] in {"categorical", "boolean"}
            and a["distinct"] and b["distinct"]
            and abs(b["distinct"] - a["distinct"]) >= 5
            and max(a["distinct"], b["distinct"]) / min(a["distinct"], b["distinct"]) >= CHANGE_THRESHOLDS["distinct_ratio"]
        ):
            entry["reasons"].append("number of categories changed")
            alerts.append(
                _alert("distinct_changed", name, f"{q} has {b['distinct']:,} distinct values, against {a['distinct']:,} before.")
            )
        psi = entry["psi"]
        ks = entry["ks_statistic"]
        shifted_ks = ks is not None and ks >= CHANGE_THRESHOLDS["ks_statistic"] and (entry["ks_pvalue"] or 1.0) < CHANGE_THRESHOLDS["ks_pvalue"]
        if psi is not None and (psi >= CHANGE_THRESHOLDS["psi_moderate"] or shifted_ks):
            major = psi >= CHANGE_THRESHOLDS["psi_major"] or shifted_ks
            entry["reasons"].append("distribution shifted")
            what = f"PSI {psi:.2f}" + (f", KS D = {ks:.2f}" if ks is not None else "")
            extra = ""
            if appeared and not masked:
                extra = "; new values include " + ", ".join(f"'{display(v)}'" for v in appeared[:3])
            alerts.append(
                _alert("distribution_shift", name,
                       f"{q} has a {'major' if major else 'moderate'} shift in its distribution ({what}){extra}.",
                       severity="warning" if major else "info", psi=psi, ks_statistic=ks)
            )
        entry["material"] = bool(entry["reasons"]) and any(
            al["severity"] == "warning" for al in alerts if al["column"] == name
        )
        columns.append(entry)
    document = {
        "schema_version": COMPARISON_SCHEMA_VERSION,
        "kind": "comparison",
        "old": {"label": _label(old), "rows": rows_old, "columns": len(a_cols), "source": a_doc["source"]},
        "new": {"label": _label(new), "rows": rows_new, "columns": len(b_cols), "source": b_doc["source"]},
        "added_columns": added,
        "removed_columns": removed,
        "columns": columns,
        "alerts": alerts,
        "changed_materially": any(al["severity"] == "warning" for al in alerts),
        "thresholds": dict(CHANGE_THRESHOLDS),
    }
    return Comparison(document)
