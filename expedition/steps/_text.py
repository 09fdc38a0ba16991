"""Plain-English wording shared by the steps: numbers, p-values, lists and method text."""

from __future__ import annotations

import math
from typing import Any


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number to *digits* significant figures, thousands separated, without scientific form."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{value:,.0f}"
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_pct(share: float, digits: int = 1) -> str:
    return "n/a" if share is None or not math.isfinite(share) else f"{share:.{digits}%}"


def fmt_p(p: float | None, alpha: float = 0.05) -> str:
    """'p < 0.001', or 'p = 0.012' (two significant figures, more when rounding would carry
    the value across *alpha*)."""
    if p is None or not math.isfinite(p):
        return "p not available"
    if p < 0.001:
        return "p < 0.001"
    digits = 2
    text = fmt_num(p, digits)
    while (float(text) < alpha) != (p < alpha) and digits < 6:
        digits += 1
        text = fmt_num(p, digits)
    return f"p = {text}"


def join_names(names: list[str], limit: int = 8) -> str:
    """'a, b and c' (the first *limit*, then 'and N others')."""
    names = [str(n) for n in names]
    if len(names) > limit:
        rest = len(names) - limit
        return ", ".join(names[:limit]) + f" and {rest} other{'s' if rest != 1 else ''}"
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def method_text(step: Any) -> str:
    """The step's docstring after its first line, as one paragraph per blank-line block."""
    import inspect

    cls = step if isinstance(step, type) else type(step)
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""
    parts = doc.split("\n\n", 1)
    body = parts[1] if len(parts) > 1 else parts[0]
    return "\n\n".join(" ".join(block.split()) for block in body.split("\n\n"))
