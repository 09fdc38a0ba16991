"""Rendering the pack's pages: index.html (Jinja), summary.md, tables as CSV and HTML views."""

from __future__ import annotations

from typing import Any

from expedition.finding import Table
from expedition.pack.csvsafe import escape_cell

MAX_HTML_ROWS = 40


def format_cell(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:
            return "–"
        if kind == "rate":
            return f"{value:.1%}"
        if kind == "count":
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool) and kind == "count":
        return f"{value:,}"
    return str(value)


def table_view(table: Table, suppressed: dict[str, list[bool]], symbol: str) -> dict[str, Any]:
    """What index.html shows of a table: its first rows, formatted, suppressed cells marked."""
    frame = table.frame.head(MAX_HTML_ROWS)
    columns = list(frame.columns)
    rows = []
    for i, row in enumerate(frame.iter_rows()):
        cells = []
        for column, value in zip(columns, row):
            mask = suppressed.get(column)
            cells.append(symbol if mask is not None and mask[i] else format_cell(value, table.kinds[column]))
        rows.append(cells)
    return {
        "title": table.title,
        "description": table.description,
        "columns": columns,
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
    env.filters["thousands"] = lambda n: "–" if n is None else f"{n:,}"
    return env.get_template("index.html.j2").render(**context)


def summary_md(context: dict[str, Any]) -> str:
    info = context["info"]
    lines = [f"# {info.title}", "", f"**Status:** {context['status']['label']}", ""]
    if info.question:
        lines += [f"**Question:** {info.question}", ""]
    for section in context["sections"]:
        finding = section["finding"]
        lines += [f"## {finding.title}", ""]
        lines += [f"- {h}" for h in finding.headlines] or ["- (no headline)"]
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
