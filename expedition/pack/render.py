"""Rendering the pack's pages: index.html (Jinja), summary.md, tables as CSV and HTML views."""

from __future__ import annotations

import re
from typing import Any

from expedition import numbers
from expedition.finding import Table
from expedition.pack.csvsafe import escape_cell

MAX_HTML_ROWS = 40
#: A table longer than this is collapsed on the page: its first PREVIEW_ROWS shown, the rest
#: behind a <details> (and all of them in the CSV).
COLLAPSE_ROWS = 15
PREVIEW_ROWS = 8
#: Text cells longer than this are shortened on the page (the CSV keeps them whole).
MAX_CELL_CHARS = 160


_P_COLUMN = re.compile(r"^(p|p[ _-]?val(ue)?|p[ _-]?adj(usted)?|p[ _-]?(holm|bh|fdr|raw)|q[ _-]?value|q)$|(^|_)p_(value|adj)")


def format_cell(value: Any, kind: str, column: str = "") -> str:
    """A table cell as index.html shows it (`expedition.numbers`): counts with thousands
    separators, rates as percentages, p-values as '< 0.001', no scientific notation."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:
            return "–"
        if kind == "rate":
            return numbers.share(value, missing="–")
        if kind == "count":
            return numbers.count(value, missing="–")
        if _P_COLUMN.search(column.lower()):
            return numbers.pvalue(value, prefix=False)
        if isinstance(value, int):
            return f"{value:,}" if kind == "statistic" else str(value)
        return numbers.number(value, 4, missing="–")
    return numbers.humane_text(str(value))


def table_view(table: Table, suppressed: dict[str, list[bool]], symbol: str, words: Any = None) -> dict[str, Any]:
    """What index.html shows of a table: its first rows, formatted, suppressed cells marked;
    with *words* (`expedition.pack.words.Words`) its columns and label values named for people."""
    frame = table.frame.head(MAX_HTML_ROWS)
    columns = list(frame.columns)
    rows = []
    shortened = 0
    for i, row in enumerate(frame.iter_rows()):
        cells = []
        for column, value in zip(columns, row):
            mask = suppressed.get(column)
            text = symbol if mask is not None and mask[i] else format_cell(value, table.kinds[column], column)
            if len(text) > MAX_CELL_CHARS:
                text = text[: MAX_CELL_CHARS - 1].rsplit(" ", 1)[0] + "…"
                shortened += 1
            cells.append(text)
        rows.append(words.cells(columns, table.kinds, cells) if words else cells)
    return {
        "total": table.frame.height,
        "shortened": shortened,
        "title": table.title,
        "description": words.text(table.description) if words and table.description else table.description,
        "columns": [words.column(c) for c in columns] if words else columns,
        "numeric": [table.kinds[c] in {"count", "rate", "statistic"} for c in columns],
        "rows": rows,
        "more": max(table.frame.height - MAX_HTML_ROWS, 0),
        "hidden": sum(sum(mask) for mask in suppressed.values()),
    }


def table_csv(table: Table, suppressed: dict[str, list[bool]], symbol: str) -> bytes:
    """The table as CSV, suppressed cells written as the symbol and missing values left empty;
    no cell (header included) can start a spreadsheet formula (`expedition.pack.csvsafe`)."""
    import polars as pl

    frame = table.frame
    updates = [
        pl.when(pl.Series(mask, dtype=pl.Boolean))
        .then(pl.lit(symbol))
        .otherwise(pl.col(column).cast(pl.String))
        .alias(column)
        for column, mask in suppressed.items()
        if column in frame.columns and any(mask)
    ]
    if updates:
        frame = frame.with_columns(updates)
    return spreadsheet_safe(frame).write_csv(null_value="").encode("utf-8")


def spreadsheet_safe(frame: Any) -> Any:
    """*frame* (a Polars DataFrame) with every cell and column name that could start a formula
    escaped. Numbers and booleans never can; any other column is checked as the text the CSV
    will hold, one distinct value at a time, and changed only if one of its values needs it."""
    import polars as pl

    updates = []
    for name, dtype in frame.schema.items():
        if dtype.is_numeric() or dtype in (pl.Boolean, pl.Null):
            continue
        try:
            text = frame.get_column(name).cast(pl.String)
        except pl.exceptions.PolarsError:  # nested values: write_csv refuses them anyway
            continue
        mapping = {v: escape_cell(v) for v in text.unique().drop_nulls().to_list()}
        mapping = {k: v for k, v in mapping.items() if k != v}
        if mapping:
            updates.append(text.replace(mapping))
    if updates:
        frame = frame.with_columns(updates)
    names = [escape_cell(c) for c in frame.columns]
    if names != frame.columns:
        frame = frame.select([pl.col(old).alias(new) for old, new in zip(frame.columns, names)])
    return frame


def render_index(context: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("expedition", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["breakable"] = breakable
    env.filters["thousands"] = lambda n: numbers.count(n, missing="–")
    env.filters["number"] = numbers.number
    env.filters["share"] = numbers.share
    env.filters["pvalue"] = numbers.pvalue
    env.filters["humane"] = numbers.humane_text
    from expedition.pack.glossary import Glossary

    env.filters["gloss"] = lambda text, glossary: glossary.link(str(text))
    context = {"collapse_rows": COLLAPSE_ROWS, "preview_rows": PREVIEW_ROWS, "glossary": Glossary(), **context}
    return env.get_template("index.html.j2").render(**context)


def breakable(name: Any) -> Any:
    """A column name that may wrap after an underscore or a slash (never mid-word)."""
    from markupsafe import Markup, escape

    text = str(escape(str(name)))
    return Markup(re.sub(r"([_/])(?=\w)", r"\1<wbr>", text))


def figure_alt(title: str, alt: str, table: Table | None, suppressed: dict[str, list[bool]]) -> str:
    """Alternative text for a figure: what it shows (the step's words, or its title) and what
    its data say, from the gated table it was drawn from (suppressed cells left out)."""
    words = (alt or title or "A figure").strip()
    if not words.endswith("."):
        words += "."
    if table is None or table.frame.height == 0:
        return words
    frame = table.frame
    kinds = table.kinds
    labels = [c for c in frame.columns if kinds.get(c) in {"label", "date"}]
    values = [c for k in ("count", "rate", "statistic") for c in frame.columns if kinds.get(c) == k]
    parts = [f"Its table has {frame.height:,} row{'s' if frame.height != 1 else ''}"]
    if labels:
        first = labels[0]
        shown = [str(v) for v in frame[first].to_list() if v is not None]
        if kinds.get(first) == "date" and shown:
            parts.append(f"{first} runs from {min(shown)} to {max(shown)}")
        elif shown:
            distinct = list(dict.fromkeys(shown))
            parts.append(f"{len(distinct)} value{'s' if len(distinct) != 1 else ''} of {first}")
    if labels and values:
        column, label = values[0], labels[0]
        mask = suppressed.get(column) or [False] * frame.height
        pairs = [(v, lab) for v, lab, hidden in zip(frame[column].to_list(), frame[label].to_list(), mask)
                 if not hidden and isinstance(v, (int, float)) and not isinstance(v, bool) and v == v]
        if len(pairs) >= 2:
            high, low = max(pairs, key=lambda p: p[0]), min(pairs, key=lambda p: p[0])
            kind = kinds.get(column, "statistic")
            parts.append(f"the highest {column} is {format_cell(high[0], kind, column)} ({high[1]}), "
                         f"the lowest {format_cell(low[0], kind, column)} ({low[1]})")
        hidden = sum(1 for flag in mask if flag)
        if hidden:
            parts.append(f"{hidden} value{'s' if hidden != 1 else ''} suppressed")
    return f"{words} {'; '.join(parts)}."


def summary_md(context: dict[str, Any]) -> str:
    info = context["info"]
    lines = [f"# {info.title}", "", f"**Status:** {context['status']['label']}", ""]
    if info.question:
        lines += [f"**Question:** {info.question}", ""]
    for section in context["sections"]:
        finding = section["finding"]
        lines += [f"## {finding.title}", ""]
        lines += [f"- {numbers.humane_text(h)}" for h in section.get("headlines", finding.headlines)] or ["- (no headline)"]
        lines.append("")
    lines.append(context["rules_text"])
    lines.append("")
    lines.append(context["disclosure_summary"])
    lines.append("")
    lines.append(
        "Tables, figures, data quality, methods, the ethics checklist, the transparency record "
        "and the provenance of every number are in index.html and manifest.json; check the pack "
        "with `expedition pack verify`."
    )
    return "\n".join(lines) + "\n"
