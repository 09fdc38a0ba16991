"""Plain-English wording shared by the steps: numbers, p-values, lists and method text."""

from __future__ import annotations

import re
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


def reword(item: Any, subject: tuple[str, str], base: tuple[str, str] = ("case", "cases")) -> Any:
    """*item* (text or a `Sentence`, with its fallbacks) written about *subject* (singular,
    plural) instead of "case"/"cases", the word a step's built-in sentences use for one record.
    Slots are untouched: only the step's own words change."""
    from dataclasses import replace

    from expedition.finding import Sentence

    singular, plural = subject
    if (singular, plural) == tuple(base):
        return item
    pattern = re.compile(rf"\b([{base[0][0].upper()}{base[0][0]}])({re.escape(base[1][1:])}|{re.escape(base[0][1:])})\b")

    def words(text: str) -> str:
        def one(m: re.Match) -> str:
            word = plural if m.group(0).lower() == base[1] else singular
            return word[:1].upper() + word[1:] if m.group(1).isupper() else word

        text = pattern.sub(one, text)
        return re.sub(r"\ba (?=[aeiou])", "an ", text) if singular[:1].lower() in "aeiou" else text

    if isinstance(item, str):
        return words(item)
    if isinstance(item, Sentence):
        return replace(item, template=words(item.template),
                       fallback=None if item.fallback is None else reword(item.fallback, subject, base))
    return item


def reword_finding(finding: Any, subject: tuple[str, str], base: tuple[str, str] = ("case", "cases")) -> Any:
    """*finding* with its headlines, caveats, table titles and descriptions and chart titles and
    alternative text written about *subject* (see `reword`); charts get it as the option
    ``subject`` for their axis labels."""
    from dataclasses import replace

    from expedition.finding import Chart

    if tuple(subject) == tuple(base):
        return finding
    tables = {name: replace(t, title=reword(t.title, subject, base) if t.title else t.title,
                            description=reword(t.description, subject, base) if t.description else t.description)
              for name, t in finding.tables.items()}
    figures = {name: replace(f, title=reword(f.title, subject, base), alt=reword(f.alt, subject, base),
                             options={**f.options, "subject": list(subject)}) if isinstance(f, Chart) else f
               for name, f in finding.figures.items()}
    return replace(finding, headlines=[reword(h, subject, base) for h in finding.headlines],
                   caveats=[reword(c, subject, base) for c in finding.caveats], tables=tables, figures=figures,
                   title=reword(finding.title, subject, base))
