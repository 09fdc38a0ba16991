"""``where:`` on a step: the step reads only the rows that meet a SQL condition.

``restrict(frame, where, ...)`` checks the condition (its SQL, its columns), filters the rows
and says how the disclosure gate is to see the subset; ``among(finding, subset)`` names the
subset in every headline ("Among anti-social behaviour crimes, ...") and ties the finding's
counts to it.

How the gate sees a subset. A condition that is one or more equalities (``crime_type =
'Anti-social behaviour' AND force = 'Essex'``) is a set of conditions on the same records: every
count the step publishes gains them, so a count of the subset is the same number as that count
in a cross-table over the whole dataset, and is suppressed wherever it is. Any other condition
makes a population of its own. Either way a condition that leaves out a few rows, but some, is
refused: results for every row beside results for the rest would give those rows away.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from expedition.errors import StepError

if TYPE_CHECKING:
    import polars as pl

    from expedition.finding import Finding

_LITERAL = r"'(?P<s>(?:[^']|'')*)'|(?P<n>-?\d+(?:\.\d+)?)|(?P<t>TRUE|FALSE)"
_COLUMN = r'"(?P<qc>[^"]+)"|(?P<bc>[A-Za-z_][A-Za-z0-9_]*)'
_EQUALITY = re.compile(r"\s*(?:" + _COLUMN + r")\s*=\s*(?:" + _LITERAL + r")\s*", re.I)

#: Words a headline may start with that read on after "Among ..., " in lower case.
_LOWER = {
    "a", "about", "across", "after", "all", "an", "at", "before", "between", "compared", "each",
    "every", "fewer", "for", "half", "in", "more", "most", "no", "of", "on", "one", "over",
    "rates", "some", "the", "there", "these", "this", "those", "under", "with", "without",
}


@dataclass(frozen=True)
class Subset:
    """A step's ``where:``: the condition, what it means to the gate, and how headlines name it."""

    where: str
    #: the condition as variable = value pairs, when it is only equalities (else None)
    conditions: dict[str, Any] | None
    phrase: str
    population: str = ""
    rows: int = 0
    kept: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def equalities(where: str) -> dict[str, Any] | None:
    """``{"crime_type": "Anti-social behaviour"}`` for ``crime_type = 'Anti-social
    behaviour'`` (several joined by AND), or None for any other condition."""
    out: dict[str, Any] = {}
    for part in re.split(r"\bAND\b", where, flags=re.I):
        m = _EQUALITY.fullmatch(part)
        if m is None:
            return None
        column = m.group("qc") or m.group("bc")
        if m.group("s") is not None:
            value: Any = m.group("s").replace("''", "'")
        elif m.group("n") is not None:
            text = m.group("n")
            value = float(text) if "." in text else int(text)
        else:
            value = m.group("t").upper() == "TRUE"
        if column in out and out[column] != value:
            return None
        out[column] = value
    return out or None


def phrase(where: str, dataset: str, conditions: dict[str, Any] | None) -> str:
    """How a headline names the subset: "among anti-social behaviour crimes" for one text
    equality, else "among crimes where <condition>"."""
    noun = dataset.replace("_", " ").replace("-", " ")
    if conditions and len(conditions) == 1:
        value = next(iter(conditions.values()))
        if isinstance(value, str) and value.strip():
            words = value.strip()
            rest = words.split()[1:]
            # a phrase in sentence case reads on in lower case ("anti-social behaviour crimes");
            # a name stays as it is ("Epping Forest cases", "Brentwood cases")
            if rest and all(w == w.lower() for w in rest) and not words.split()[0][1:2].isupper():
                words = words[0].lower() + words[1:]
            return f"among {words} {noun}"
    return f"among {noun} where {' '.join(where.split())}"


def _position(where: str, message: str) -> str:
    from expedition.prepare import _offset_of, position

    m = re.search(r"Line: (\d+), Column: (\d+)", message)
    return f" at {position(where, _offset_of(where, int(m.group(1)), int(m.group(2))))}" if m else ""


def restrict(frame: pl.LazyFrame, where: str, *, step_id: str, dataset: str, population: str,
             min_count: int) -> tuple[pl.LazyFrame, Subset]:
    """The rows of *frame* that meet *where*, and the `Subset` they are. StepError for a
    condition that is not SQL, names a missing column, keeps no row, or leaves out fewer rows
    than *min_count* (but some)."""
    import polars as pl

    columns = frame.collect_schema().names()
    try:
        expr = pl.sql_expr(where)
        used = expr.meta.root_names()
    except (pl.exceptions.SQLSyntaxError, pl.exceptions.SQLInterfaceError,
            pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        message = str(exc).split("\n", 1)[0]
        raise StepError(
            f"step '{step_id}': where: is not a SQL condition: "
            f"{re.sub(r'^sql parser error: ', '', re.sub(r' at Line: .*', '', message))}"
            f"{_position(where, message)}",
            "write a condition on the dataset's columns, e.g. where: \"crime_type = "
            "'Anti-social behaviour'\" (quote names with spaces in double quotes, text in single quotes)",
        ) from None
    missing = [c for c in used if c not in columns]
    if missing:
        import difflib

        close = difflib.get_close_matches(missing[0], columns, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StepError(
            f"step '{step_id}': where: names a column {dataset!r} does not have: {missing[0]!r}{hint}",
            f"the columns are: {', '.join(columns)}",
        )
    try:
        counts = frame.select(pl.len().alias("rows"), expr.fill_null(False).cast(pl.Boolean).sum().alias("kept")).collect()
    except pl.exceptions.PolarsError as exc:
        raise StepError(
            f"step '{step_id}': where: cannot be evaluated on {dataset!r}: {str(exc).splitlines()[0]}",
            "check the condition's types (text in single quotes, numbers without)",
        ) from None
    rows, kept = int(counts.item(0, "rows")), int(counts.item(0, "kept"))
    if kept == 0:
        raise StepError(f"step '{step_id}': no row of {dataset!r} meets where: {where}",
                        "check the values in the condition (the comparison is exact, case included)")
    from expedition.prepare import small_complement

    problem = small_complement(rows, kept, min_count)
    if problem:
        raise StepError(f"step '{step_id}': where: {problem}",
                        "leave out more rows (or none): widen or drop the condition")
    conditions = equalities(where)
    if conditions is not None and any(c not in columns for c in conditions):
        conditions = None
    if conditions is None:
        digest = hashlib.sha256(" ".join(where.split()).encode()).hexdigest()[:12]
        population = f"{population}|where:{digest}"
    subset = Subset(where, conditions, phrase(where, dataset, conditions), population, rows, kept)
    return frame.filter(expr.fill_null(False)), subset


# --------------------------------------------------------------------------- the finding


def _lower_first(template: str) -> str:
    m = re.match(r"([A-Z][a-z]*)\b", template)
    if m and m.group(1).lower() in _LOWER:
        return template[0].lower() + template[1:]
    return template


def _prefix(text: Any) -> Any:
    from expedition.finding import Sentence

    if isinstance(text, str):
        return Sentence("{_among}, " + _lower_first(text).replace("{", "{{").replace("}", "}}"),
                        {"_among": ""})
    if isinstance(text, Sentence):
        fallback = None if text.fallback is None else _prefix(text.fallback)
        return Sentence("{_among}, " + _lower_first(text.template), {**text.slots, "_among": ""}, fallback)
    return text


def _fill(text: Any, words: str) -> Any:
    from expedition.finding import Sentence

    if isinstance(text, Sentence) and "_among" in text.slots:
        fallback = None if text.fallback is None else _fill(text.fallback, words)
        return Sentence(text.template, {**text.slots, "_among": words}, fallback)
    return text


def _with_conditions(value: Any, conditions: dict[str, Any], tag: str) -> Any:
    """*value* with every `Count` in it counting under *conditions* as well (a count of a
    sub-population the step drew gets *tag* on its population instead)."""
    from expedition.finding import Count, Items, Sentence, Value

    if isinstance(value, Count):
        if value.population:
            return dataclasses.replace(value, population=value.population + tag)
        return dataclasses.replace(value, where={**conditions, **value.where})
    if isinstance(value, Sentence):
        fallback = value.fallback if not isinstance(value.fallback, Sentence) \
            else _with_conditions(value.fallback, conditions, tag)
        return Sentence(value.template, {k: _with_conditions(v, conditions, tag) for k, v in value.slots.items()},
                        fallback)
    if isinstance(value, Value):
        return dataclasses.replace(value, sources=tuple(_with_conditions(s, conditions, tag) for s in value.sources))
    if isinstance(value, Items):
        return dataclasses.replace(value, items=tuple(_with_conditions(s, conditions, tag) for s in value.items))
    if isinstance(value, dict):
        return {k: _with_conditions(v, conditions, tag) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_conditions(v, conditions, tag) for v in value]
    return value


def among(finding: Finding, subset: Subset) -> Finding:
    """*finding* as a finding about the subset: every headline names it, and (for a condition
    of equalities) every linked count counts under it."""
    from expedition.finding import Document

    headlines = [_fill(_prefix(h), subset.phrase[0].upper() + subset.phrase[1:]) for h in finding.headlines]
    if subset.conditions is None:
        return finding.with_(headlines=headlines)
    conditions = subset.conditions
    # a sub-population the step drew (a random split) is drawn from the subset's rows: a
    # population of its own, not the split of the whole dataset
    tag = "|where:" + hashlib.sha256(" ".join(subset.where.split()).encode()).hexdigest()[:12]
    tables = {}
    for name, table in finding.tables.items():
        keys = table.keys
        if keys is not None:
            own = {c: v for c, v in conditions.items() if c not in keys.variables and c not in table.kinds}
            counts = {column: {**own, **where} for column, where in keys.counts.items()}
            keys = dataclasses.replace(keys, counts=counts,
                                       population=keys.population + tag if keys.population else "")
            table = dataclasses.replace(table, keys=keys)
        tables[name] = table
    documents = {
        name: dataclasses.replace(d, values=_with_conditions(dict(d.values), conditions, tag))
        if isinstance(d, Document) else d
        for name, d in finding.documents.items()
    }
    return finding.with_(
        headlines=[_with_conditions(h, conditions, tag) for h in headlines],
        caveats=[_with_conditions(c, conditions, tag) for c in finding.caveats],
        tables=tables,
        metrics=_with_conditions(dict(finding.metrics), conditions, tag),
        documents=documents,
    )
