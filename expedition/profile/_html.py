"""Self-contained HTML for profiles and comparisons: Jinja templates with inline SVG charts.

Nothing is fetched when the page opens (no scripts, fonts or images from elsewhere; a
Content-Security-Policy says so), so it works offline and inside the findings pack. Charts are
small SVG bar charts drawn here from the profile's numbers, never from rows of data.
"""

from __future__ import annotations

from html import escape
from typing import Any

from expedition.profile._format import column_summary as _summary
from expedition.profile._format import number as _number
from expedition.profile._format import share as _share

_WIDTH = 320
_HEIGHT = 90


def bars_svg(counts: list[int], labels: list[str], title: str) -> str:
    """A vertical bar chart (a histogram or counts over time) as inline SVG."""
    if not counts:
        return ""
    top = max(counts) or 1
    n = len(counts)
    gap = 1 if n < 60 else 0
    width = (_WIDTH - gap * (n - 1)) / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT + 14}" width="{_WIDTH}" height="{_HEIGHT + 14}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (count, label) in enumerate(zip(counts, labels)):
        h = 0 if count == 0 else max(1.0, _HEIGHT * count / top)
        x = i * (width + gap)
        parts.append(
            f'<rect x="{x:.2f}" y="{_HEIGHT - h:.2f}" width="{max(width, 0.5):.2f}" height="{h:.2f}">'
            f"<title>{escape(label)}: {count:,}</title></rect>"
        )
    parts.append(
        f'<text x="0" y="{_HEIGHT + 12}" class="axis">{escape(labels[0].split(" to ")[0])}</text>'
        f'<text x="{_WIDTH}" y="{_HEIGHT + 12}" class="axis" text-anchor="end">'
        f"{escape(labels[-1].split(' to ')[-1])}</text></svg>"
    )
    return "".join(parts)


def histogram_svg(histogram: dict[str, Any] | None, column: str) -> str:
    if not histogram or not histogram.get("counts"):
        return ""
    if histogram["kind"] == "values":
        labels = [_number(v) for v in histogram["values"]]
    else:
        edges = histogram["edges"]
        labels = [f"{_number(a)} to {_number(b)}" for a, b in zip(edges, edges[1:])]
    return bars_svg(histogram["counts"], labels, f"Distribution of {column}")


def records_svg(temporal: dict[str, Any] | None, column: str) -> str:
    if not temporal or not temporal.get("records"):
        return ""
    records = temporal["records"]
    labels = [str(r["period"])[:7] for r in records]
    return bars_svg([r["count"] for r in records], labels, f"Records by {temporal['records_by']} of {column}")


def _cell_colour(value: Any) -> str:
    if value is None:
        return "background:#f4f4f4"
    v = max(-1.0, min(1.0, float(value)))
    if v >= 0:
        return f"background:rgba(31,95,139,{abs(v) * 0.85:.2f});color:{'#fff' if v > 0.55 else '#1b1b1b'}"
    return f"background:rgba(190,70,40,{abs(v) * 0.85:.2f});color:{'#fff' if v < -0.55 else '#1b1b1b'}"


def _environment():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("expedition", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = _number
    env.filters["share"] = _share
    env.globals.update(
        histogram_svg=histogram_svg,
        records_svg=records_svg,
        cell_colour=_cell_colour,
        summary=_summary,
    )
    return env


def render_profile(document: dict[str, Any], *, fragment: bool = False) -> str:
    from expedition.profile._infer import SEMANTIC_TYPES, THRESHOLDS

    env = _environment()
    return env.get_template("profile.html.j2").render(
        p=document,
        fragment=fragment,
        semantic_types=SEMANTIC_TYPES,
        thresholds=THRESHOLDS,
    )


def render_comparison(document: dict[str, Any], *, fragment: bool = False) -> str:
    env = _environment()
    return env.get_template("compare.html.j2").render(c=document, fragment=fragment)
