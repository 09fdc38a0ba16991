"""Turning the pack's sources into safe, small HTML: markdown, foreign fragments, figures.

* Markdown (ETHICS.md, model cards, transparency.md, feedback) is rendered with markdown-it-py
  with raw HTML and images switched off, so a document cannot make the page fetch anything.
* HTML fragments written by other commands (the validation report) are cleaned with nh3
  (the Rust ammonia sanitiser): scripts, styles, event handlers and every URL that is not an
  embedded ``data:`` image or a link are removed.
* Figures are embedded as PNG; any but the smallest is scaled to at most ``MAX_EMBED_WIDTH``
  pixels and reduced to a 256-colour palette for the page, which makes a chart about a fifth of
  its size (the full PNG and SVG stay in ``figures/``).
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

MAX_EMBED_WIDTH = 900
MAX_EMBED_BYTES = 24_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_TASK = re.compile(r"^(\s*[-*+]\s+)\[([ xX])\]", re.MULTILINE)


def render_markdown(text: str, shift: int = 0) -> str:
    """Markdown to HTML: no raw HTML, no images; task-list boxes shown as ☐ and ☑. *shift*
    moves every heading down that many levels (a document inside a section of the page keeps
    the page's headings in order)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    text = _TASK.sub(lambda m: m.group(1) + ("☐" if m.group(2) == " " else "☑"), text)
    html = md.render(text)
    # a wide table scrolls in a labelled region a keyboard can reach (never the whole page)
    html = html.replace("<table>", '<div class="table-wrap" role="region" aria-label="Table" tabindex="0"><table>')
    html = html.replace("</table>", "</table></div>")
    if shift:
        html = re.sub(r"<(/?)h([1-6])>", lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + shift, 6)}>", html)
    return html


def sanitize_fragment(html: str) -> str:
    """An HTML fragment safe to embed: no scripts, styles or network URLs."""
    import nh3

    attributes = {
        "*": {"class", "title", "lang", "id"},
        "a": {"href"},
        "img": {"src", "alt", "width", "height"},
        "td": {"colspan", "rowspan"},
        "th": {"colspan", "rowspan", "scope"},
    }
    cleaned = nh3.clean(
        html,
        attributes=attributes,
        url_schemes={"data"},
        link_rel=None,
        strip_comments=True,
    )
    # nh3 keeps relative URLs; on an <img> those would be fetched, so drop them
    return re.sub(r'<img\b[^>]*\bsrc="(?!data:image/)[^"]*"[^>]*>', "", cleaned)


def is_png(data: bytes | None) -> bool:
    return bool(data) and data[:8] == PNG_MAGIC and len(data) > 33


def is_svg(data: bytes | None) -> bool:
    if not data:
        return False
    head = data[:2048].lstrip()
    return (head.startswith(b"<?xml") or head.startswith(b"<svg") or head.startswith(b"<!--")) and b"<svg" in data[:65536]


def png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def embeddable_png(data: bytes) -> bytes:
    """The PNG to embed in the page: small ones as they are; others scaled to at most
    ``MAX_EMBED_WIDTH`` pixels and reduced to a 256-colour palette (kept only when smaller)."""
    width, _ = png_size(data)
    if width <= MAX_EMBED_WIDTH and len(data) <= MAX_EMBED_BYTES:
        return data
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.new("RGB", image.size, (255, 255, 255))
        image.paste(rgba, mask=rgba.getchannel("A"))
    else:
        image = image.convert("RGB")
    if image.width > MAX_EMBED_WIDTH:
        image.thumbnail((MAX_EMBED_WIDTH, 1 << 16), Image.Resampling.BICUBIC, reducing_gap=2.0)
    palette = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", compress_level=6)
    smaller = out.getvalue()
    return smaller if len(smaller) < len(data) else data


def embed_all(pngs: list[bytes], cache: Path | None = None) -> list[bytes]:
    """`embeddable_png` for many figures, on a few threads (Pillow releases the GIL).

    With *cache* (a folder), results are kept by the SHA-256 of the figure, so rebuilding a
    pack (a draft, then the final one) does not redo the work. The result is a function of the
    figure's bytes alone, so the cache cannot change what is published.
    """
    import hashlib
    import os
    from concurrent.futures import ThreadPoolExecutor

    from expedition._io import atomic_write_bytes

    def one(png: bytes) -> bytes:
        if cache is None:
            return embeddable_png(png)
        path = cache / f"{hashlib.sha256(png).hexdigest()}.png"
        try:
            return path.read_bytes()
        except OSError:
            small = embeddable_png(png)
            atomic_write_bytes(path, small)
            return small

    if len(pngs) < 4:
        return [one(p) for p in pngs]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, pngs))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
