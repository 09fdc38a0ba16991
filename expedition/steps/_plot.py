"""Figure helpers shared by steps: one look, deterministic bytes, PNG and SVG.

matplotlib is imported inside the functions so that listing steps stays fast.
"""

from __future__ import annotations

from typing import Any

from expedition.finding import Figure

PALETTE = ["#1f5f8b", "#e07b39", "#3a9a5b", "#b83b5e", "#7a5195", "#8c8c8c"]
SUPPRESSED_COLOUR = "#d9d9d9"


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
