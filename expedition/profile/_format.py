"""How profile numbers are written for people (the terminal summary and the HTML page)."""

from __future__ import annotations

import math
from typing import Any


def number(value: Any, digits: int = 4) -> str:
    """A number for people: thousands separators, at most *digits* significant decimals."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value == 0:
            return "0"
        magnitude = abs(value)
        if magnitude >= 1e15 or magnitude < 1e-4:
            return f"{value:.{digits - 1}e}"
        if float(value).is_integer() and magnitude < 1e15:
            return f"{int(value):,}"
        decimals = max(0, digits - 1 - int(math.floor(math.log10(magnitude))))
        text = f"{value:,.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def share(value: Any) -> str:
    if value is None:
        return "—"
    if value and abs(value) < 0.001:
        return "<0.1%"
    return f"{value:.1%}"


def column_summary(col: dict[str, Any]) -> str:
    """One line saying what a column holds, for the overview table."""
    if col["values_masked"] == "suspected personal data":
        return "values masked (suspected personal data)"
    numeric = col.get("numeric")
    if numeric and col["semantic_type"] not in {"identifier"}:
        return f"{number(numeric['min'])} to {number(numeric['max'])}, mean {number(numeric['mean'])}"
    temporal = col.get("temporal")
    if temporal:
        return f"{str(temporal['min'])[:10]} to {str(temporal['max'])[:10]}"
    if col.get("boolean"):
        return f"{share(col['boolean']['true_share'])} true"
    if col["top_values"] and not col["values_masked"]:
        top = col["top_values"][0]
        return f"most common: {top['value']} ({share(top['share'])})"
    if col.get("text"):
        return f"{number(col['text']['mean_length'], 3)} characters on average"
    return ""
