"""Plain-English wording shared by the steps: numbers, p-values, lists and method text."""

from __future__ import annotations

from typing import Any

from expedition.numbers import number, pvalue
from expedition.numbers import share as _share


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number to *digits* significant figures, thousands separated, without scientific form
    (`expedition.numbers.number`)."""
    return number(value, digits)


def fmt_pct(share: float, digits: int = 1) -> str:
    """A share as a percentage ('fewer than 0.1%' rather than '0.0%'; `expedition.numbers.share`)."""
    return _share(share, digits)


def fmt_p(p: float | None, alpha: float = 0.05) -> str:
    """'p < 0.001', or 'p = 0.012' (two significant figures, more when rounding would carry
    the value across *alpha*; `expedition.numbers.pvalue`)."""
    return pvalue(p, alpha)


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
