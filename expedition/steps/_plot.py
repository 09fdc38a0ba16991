"""Figure helpers shared by steps: one look, deterministic bytes, PNG and SVG.

matplotlib is imported inside the functions so that listing steps stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from expedition.finding import Figure

#: Okabe and Ito's colour-blind-safe palette (blue, vermilion, bluish green, reddish purple,
#: orange, grey): every pair stays distinct with deuteranopia, protanopia and tritanopia, and the
#: first two (the colours steps give meaning to) contrast with white by 4.5:1 or more.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#8c8c8c"]
SUPPRESSED_COLOUR = "#d9d9d9"
#: A chart over time needs at least this many periods; with fewer the table says it all.
MIN_PERIODS = 3


def short_label(value: Any, width: int = 22, lines: int = 2) -> str:
    """A category label for an axis: wrapped onto at most *lines* lines of *width* characters,
    the rest abbreviated with "…", so long labels neither overlap nor run off the figure."""
    import textwrap

    if value is None:
        return "(missing)"
    text = " ".join(str(value).split())
    if len(text) <= width:
        return text
    wrapped = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=True) or [text[:width]]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1].rstrip() + "…"
    return "\n".join(wrapped)


def mark_incomplete(ax: Any, x: float, y: float | None = None) -> None:
    """Mark the last period of a time chart as incomplete (the data end part-way through it), so
    a short last month never reads as a collapse: a shaded band and the word "incomplete"."""
    ax.axvspan(x - 0.5, x + 0.5, facecolor="#f2f2f2", edgecolor="none", zorder=0)
    top = ax.get_ylim()[1]
    ax.text(x, top, "incomplete", rotation=90, va="top", ha="center", fontsize=6.5, color="#555555")
    if y is not None and y == y:
        ax.plot([x], [y], marker="o", ms=4, mfc="white", mec=PALETTE[0], zorder=3)


def new_figure(width: float = 7.0, height: float = 4.0, **subplots: Any):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.hashsalt": "expedition",
            "svg.fonttype": "none",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
            "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        }
    )
    return plt.subplots(figsize=(width, height), **subplots)


def to_figure(fig: Any, title: str, *, alt: str = "", data: str | None = None) -> Figure:
    """Render a matplotlib figure to PNG and SVG bytes (no dates or random ids inside)."""
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return Figure(title=title, png=png.getvalue(), svg=svg.getvalue(), alt=alt, data=data)


def small_multiples(n: int, columns: int = 3, panel: tuple[float, float] = (3.2, 2.4)):
    """A grid of at least *n* panels, the unused ones hidden."""
    rows = max(1, -(-n // columns))
    cols = min(columns, max(n, 1))
    fig, axes = new_figure(panel[0] * cols, panel[1] * rows, nrows=rows, ncols=cols, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


# --------------------------------------------------------------------------- declared drawings


@dataclass(frozen=True)
class Drawing:
    """What a drawing receives: the chart's gated tables, which of their cells are suppressed,
    the chart's options and the disclosure rules (for the suppression symbol and threshold)."""

    chart: Any
    tables: dict[str, Any]
    suppressed: dict[str, dict[str, list[bool]]]
    rules: Any

    @property
    def options(self) -> dict[str, Any]:
        return self.chart.options

    @property
    def table(self) -> Any:
        return self.tables[self.chart.table]

    @property
    def frame(self) -> Any:
        return self.table.frame

    def hidden(self, column: str, table: str | None = None) -> list[bool]:
        """Rows of *column* the gate suppressed (not those that were missing to begin with)."""
        name = table or self.chart.table
        mask = self.suppressed.get(name, {}).get(column)
        height = self.tables[name].frame.height
        return list(mask) if mask is not None else [False] * height

    def values(self, column: str, table: str | None = None, frame: Any = None) -> list[float]:
        """The column as floats, NaN where suppressed or missing (so lines break there)."""
        source = frame if frame is not None else self.tables[table or self.chart.table].frame
        return [float("nan") if v is None else float(v) for v in source[column].to_list()]


_DRAWINGS: dict[str, Callable[[Drawing], Any]] = {}
_DOCUMENTS: dict[str, Callable[[Drawing, dict[str, Any]], str]] = {}


def drawing(name: str) -> Callable[[Callable[[Drawing], Any]], Callable[[Drawing], Any]]:
    """Register a chart drawing: a function of a `Drawing` returning a matplotlib figure.

    Names are ``"<step>.<what>"``; `expedition.finding.Chart.draw` refers to them.
    """

    def register(func: Callable[[Drawing], Any]) -> Callable[[Drawing], Any]:
        _DRAWINGS[name] = func
        return func

    return register


def document(name: str) -> Callable[[Callable[[Drawing, dict[str, Any]], str]], Callable[[Drawing, dict[str, Any]], str]]:
    """Register a document rendering: a function of a `Drawing` (its tables) and the document's
    gated values (None where withheld) returning Markdown."""

    def register(func: Callable[[Drawing, dict[str, Any]], str]) -> Callable[[Drawing, dict[str, Any]], str]:
        _DOCUMENTS[name] = func
        return func

    return register


def _lookup(registry: dict[str, Any], name: str, step: str) -> Any:
    if name not in registry:
        from expedition.steps._registry import get_step

        try:
            get_step(step)  # importing the step's module registers its drawings
        except Exception:
            pass
    if name not in registry:
        from expedition.errors import StepError

        raise StepError(
            f"step '{step}' declares a drawing {name!r} that is not registered",
            "register it with @expedition.steps._plot.drawing (or document) in the step's module",
        )
    return registry[name]


def mark_suppressed(ax: Any, positions: list[float], *, horizontal: bool = False, symbol: str = "c",
                    size: float | None = None) -> None:
    """Show suppressed values where they would be: a hatched grey stub with the symbol, never a
    zero-height bar or a missing point that reads as zero."""
    if not positions:
        return
    lo, hi = (ax.get_xlim() if horizontal else ax.get_ylim())
    stub = size if size is not None else max((hi - lo) * 0.04, 1e-9)
    kwargs = {"color": SUPPRESSED_COLOUR, "hatch": "///", "edgecolor": "#8c8c8c", "linewidth": 0.5}
    for p in positions:
        if horizontal:
            ax.barh([p], [stub], left=lo, height=0.8, **kwargs)
            ax.text(lo + stub * 1.3, p, symbol, va="center", ha="left", fontsize=7, color="#555555")
        else:
            ax.bar([p], [stub], bottom=lo, width=0.8, **kwargs)
            ax.text(p, lo + stub * 1.3, symbol, va="bottom", ha="center", fontsize=7, color="#555555")


def mark_suppressed_spans(ax: Any, xs: list[Any], hidden: list[bool], *, symbol: str = "c") -> bool:
    """Shade the stretches of a line chart whose values are suppressed: a hatched grey band over
    each run of suppressed points with the symbol at its top, so a gap never reads as zero or
    as missing data. *xs* are the points' positions (numbers or dates). True if any was drawn."""
    import matplotlib.dates as mdates
    import numpy as np

    if not any(hidden) or not xs:
        return False
    try:
        nums = np.asarray(mdates.date2num(list(xs)), dtype=float)
        ax.plot(list(xs), [float("nan")] * len(xs), color="none")  # a date axis, even where nothing else is drawn
    except (TypeError, ValueError):
        nums = np.asarray(xs, dtype=float)
    steps = np.diff(nums)
    half = float(np.median(steps)) / 2 if len(steps) else 0.5
    runs: list[tuple[int, int]] = []
    for i, flag in enumerate(hidden):
        if not flag:
            continue
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    top = ax.get_ylim()[1]
    for start, end in runs:
        lo, hi = nums[start] - half, nums[end] + half
        ax.axvspan(lo, hi, facecolor=SUPPRESSED_COLOUR, hatch="///", edgecolor="#8c8c8c", linewidth=0.0,
                   alpha=0.6, zorder=0)
        ax.text((lo + hi) / 2, top, symbol, va="top", ha="center", fontsize=7, color="#555555")
    return True


def suppressed_patch(symbol: str = "c", label: str = "suppressed") -> Any:
    """A legend entry for suppressed values, drawn as `mark_suppressed` and
    `mark_suppressed_spans` draw them."""
    from matplotlib.patches import Patch

    return Patch(facecolor=SUPPRESSED_COLOUR, hatch="///", edgecolor="#8c8c8c", label=f"{label} ({symbol})")


def suppressed_note(rules: Any) -> str:
    return f"{rules.symbol} = suppressed (fewer than {rules.min_count}, or would reveal one)"


def draw_chart(chart: Any, step: str, tables: dict[str, Any], suppressed: dict[str, Any], rules: Any) -> Figure:
    """Draw a declared chart from gated tables."""
    func = _lookup(_DRAWINGS, chart.draw, step)
    fig = func(Drawing(chart, tables, suppressed, rules))
    if any(any(any(m) for m in suppressed.get(t, {}).values()) for t in (chart.table, *chart.also)):
        fig.text(0.99, 0.005, suppressed_note(rules), ha="right", va="bottom", fontsize=6.5, color="#555555")
    return to_figure(fig, chart.title, alt=chart.alt, data=chart.table)


def render_document(doc: Any, step: str, tables: dict[str, Any], suppressed: dict[str, Any], rules: Any) -> str:
    func = _lookup(_DOCUMENTS, doc.render, step)
    holder = type("_Doc", (), {"options": doc.options, "table": doc.tables[0] if doc.tables else "", "also": ()})()
    return func(Drawing(holder, tables, suppressed, rules), dict(doc.values))


def draw_finding(gated: Any, rules: Any, *, cache: Any = None, allow: Any = ()) -> Any:
    """The published finding: every declared chart drawn and document rendered from the gated
    tables. *cache* (a folder) keeps drawn figures by the hash of what they draw."""
    from dataclasses import replace

    from expedition.disclosure.text import redact, scan_text
    from expedition.finding import Chart, Document

    finding = gated.finding
    allow = [*allow, *rules.public_names]
    figures = {}
    for name, figure in finding.figures.items():
        if isinstance(figure, Chart):
            figure = _cached_draw(figure, finding, gated.suppressed, rules, cache)
        if figure.svg is not None and scan_text(figure.svg.decode("utf-8", "replace"), allow, markup=True):
            gated.log.append(_withheld(finding.id, name, "its picture contains personal data"))
            continue
        figures[name] = figure
    documents = {}
    for name, doc in finding.documents.items():
        if isinstance(doc, Document):
            doc = redact(render_document(doc, finding.step, finding.tables, gated.suppressed, rules), allow)[0]
        documents[name] = doc
    return replace(finding, figures=figures, documents=documents)


def _withheld(fid: str, name: str, why: str) -> Any:
    from expedition.disclosure import Suppression

    return Suppression(fid, f"figure {name}", f"withheld: {why}", rule="withheld")


def _cached_draw(chart: Any, finding: Any, suppressed: dict[str, Any], rules: Any, cache: Any) -> Figure:
    tables = {t: finding.tables[t] for t in (chart.table, *chart.also)}
    if cache is None:
        return draw_chart(chart, finding.step, tables, suppressed, rules)
    import hashlib
    import io
    import json
    from pathlib import Path

    digest = hashlib.sha256()
    digest.update(json.dumps([finding.step, chart.meta(), rules.symbol, rules.min_count], sort_keys=True,
                             default=str).encode())
    for t in sorted(tables):
        buffer = io.BytesIO()
        tables[t].frame.write_ipc(buffer)
        digest.update(t.encode())
        digest.update(buffer.getvalue())
        digest.update(json.dumps(suppressed.get(t, {}), sort_keys=True).encode())
    folder = Path(cache)
    key = digest.hexdigest()
    png, svg = folder / f"{key}.png", folder / f"{key}.svg"
    if png.is_file() and svg.is_file():
        return Figure(chart.title, png.read_bytes(), svg.read_bytes(), chart.alt, chart.table)
    figure = draw_chart(chart, finding.step, tables, suppressed, rules)
    from expedition._io import atomic_write_bytes

    atomic_write_bytes(png, figure.png)
    if figure.svg is not None:
        atomic_write_bytes(svg, figure.svg)
    return figure


def mark_suppressed_bars(ax: Any, positions: list[float], width: float, *, horizontal: bool = False,
                         symbol: str = "c") -> None:
    """`mark_suppressed` for grouped bars: a hatched stub of the bars' own *width* (drawn after
    the axis limits are set by the bars), with the symbol above it."""
    if not positions:
        return
    lo, hi = (ax.get_xlim() if horizontal else ax.get_ylim())
    stub = max((hi - lo) * 0.04, 1e-9)
    kwargs = {"color": SUPPRESSED_COLOUR, "hatch": "///", "edgecolor": "#8c8c8c", "linewidth": 0.5}
    for p in positions:
        if horizontal:
            ax.barh([p], [stub], left=lo, height=width, **kwargs)
            ax.text(lo + stub * 1.3, p, symbol, va="center", ha="left", fontsize=7, color="#555555")
        else:
            ax.bar([p], [stub], bottom=lo, width=width, **kwargs)
            ax.text(p, lo + stub * 1.3, symbol, va="bottom", ha="center", fontsize=7, color="#555555")
