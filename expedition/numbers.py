"""Numbers for people: the one way expedition writes a number that a reader sees.

Headlines, table cells in ``index.html``, model cards and the pack's summary all use these
functions (the disclosure gate renders a sentence's numbers with `format_spec`, the pack's
template with the Jinja filters of the same names). None of them ever writes scientific
notation (``5.881e+05``), ``p = 0`` or ``0.0%`` for a share that is not zero: full precision
stays in the CSV files.

>>> number(588_100.4), number(0.000000427), number(-3.14159)
('588,100', '< 0.0001', '-3.14')
>>> pvalue(0.0), pvalue(0.0123), share(2 / 44_552), count(15521)
('p < 0.001', 'p = 0.012', 'fewer than 0.1%', '15,521')
"""

from __future__ import annotations

import math
import re
from typing import Any

#: Below this a number is written "< 0.0001" rather than as a string of zeros.
SMALLEST = 0.0001


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def number(value: Any, digits: int = 3, *, missing: str = "n/a") -> str:
    """*value* to *digits* significant figures (whole numbers in full), thousands separated."""
    v = _finite(value)
    if v is None:
        return missing
    if v == 0:
        return "0"
    digits = max(1, min(int(digits), 15))
    if abs(v) < SMALLEST:
        return f"< {SMALLEST:.4f}" if v > 0 else f"> -{SMALLEST:.4f}"
    magnitude = math.floor(math.log10(abs(v)))
    if magnitude >= digits - 1:
        return f"{v:,.0f}"
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{v:,.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in {"-0", ""} else text


def count(value: Any, *, missing: str = "n/a") -> str:
    """A number of records: '15,521' (a fractional count, e.g. a weighted one, to 3 figures)."""
    v = _finite(value)
    if v is None:
        return missing
    if v.is_integer():
        return f"{v:,.0f}"
    return number(v)


def share(value: Any, digits: int = 1, *, missing: str = "n/a") -> str:
    """A proportion (0 to 1) as a percentage with *digits* decimals; a share that rounds to 0%
    or 100% without being either says so: 'fewer than 0.1%', 'more than 99.9%'."""
    v = _finite(value)
    if v is None:
        return missing
    digits = max(0, min(int(digits), 6))
    step = 10.0 ** -digits  # in percent
    pct = v * 100
    if not math.isfinite(pct):  # a share near the largest float: its percentage overflows
        return missing
    if pct == 0:
        return "0%"
    if 0 < pct <= step / 2:  # at the half way, format() rounds to even: to 0
        return f"fewer than {step:.{digits}f}%"
    if 0 > pct >= -step / 2:
        return "just below 0%"
    if 100 - step / 2 <= pct < 100:
        return f"more than {100 - step:.{digits}f}%"
    if abs(pct) >= 10 ** 15:
        return f"{pct:,.0f}%"
    return f"{pct:,.{digits}f}%"


def short_hash(digest: Any, length: int = 12) -> str:
    """The start of a hex digest, as a reader is shown it: *length* characters, more when they
    would read as a number (all digits, or digits around one e, as in ``230594271e50``)."""
    text = str(digest or "")
    n = min(length, len(text))
    while n < len(text) and re.fullmatch(r"\d+(?:[eE]\d+)?", text[:n]):
        n += 1
    return text[:n]


def pvalue(p: Any, alpha: float = 0.05, *, prefix: bool = True) -> str:
    """'p < 0.001', or 'p = 0.012' (two significant figures, more when rounding would carry the
    value across *alpha*). Without *prefix*: '< 0.001', '0.012'."""
    v = _finite(p)
    if v is None:
        return "p not available" if prefix else "n/a"
    if v < 0.001:
        return "p < 0.001" if prefix else "< 0.001"
    if v >= 1:
        text = "1"
    else:
        digits = 2
        text = number(v, digits)
        while (float(text) < alpha) != (v < alpha) and digits < 6:
            digits += 1
            text = number(v, digits)
    return f"p = {text}" if prefix else text


_SPEC = re.compile(r"^(?P<head>.*?)(?P<comma>[,_])?(?:\.(?P<prec>\d+))?(?P<type>[bcdeEfFgGnosxX%])?$")


def format_spec(value: Any, spec: str = "") -> str:
    """*value* shown as the Python format *spec* asks (``",.0f"``, ``".1%"``, ``".3g"``), but
    for people: never in scientific notation, percentages as `share` writes them."""
    if isinstance(value, str):
        return value
    v = _finite(value)
    if v is None:
        return "n/a" if value is not None and not isinstance(value, bool) else str(value)
    m = _SPEC.match(spec or "")
    kind = (m.group("type") if m else None) or "g"
    prec = m.group("prec") if m else None
    if kind == "%":
        return share(v, int(prec) if prec is not None else 1)
    if kind in "fF":
        decimals = min(int(prec) if prec is not None else 6, 15)
        if v != 0 and abs(v) < 10.0 ** -decimals / 2:  # would read as zero: give its size instead
            return number(v, 1)
        text = f"{v:,.{decimals}f}"
        return "0" if text.lstrip("-").strip("0.") == "" else text
    if kind == "d" or (kind == "n" and v.is_integer()):
        return f"{v:,.0f}"
    digits = int(prec) if prec is not None else 6
    if kind in "gGn":
        return number(v, max(digits, 1))
    if kind in "eE":
        return number(v, max(digits + 1, 1))
    return number(v)


_SCIENTIFIC = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
_P_ZERO = re.compile(r"\bp\s*=\s*0(?:\.0+)?(?![\d.])")


def humane_text(text: str) -> str:
    """*text* with any number in scientific notation written out (`number`) and 'p = 0' as
    'p < 0.001': the last check on sentences a step wrote with its own formatting."""
    if not text or ("e" not in text and "E" not in text and "p" not in text):
        return text
    text = _SCIENTIFIC.sub(lambda m: number(float(m.group(0))), text)
    return _P_ZERO.sub("p < 0.001", text)


def has_scientific(text: str) -> bool:
    """True when *text* shows a number in scientific notation."""
    return bool(_SCIENTIFIC.search(text or ""))
