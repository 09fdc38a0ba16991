"""Personal data in published text: redaction with the names a project may publish left alone.

The patterns live in `expedition.pii`. This module adds what publishing needs:

* an allow-list (the project lead, named reviewers, ``disclosure.public_names``, the contact
  address in ``transparency``) whose matches are kept, so a signed-off reviewer's name survives;
* markup-aware scanning and redaction for HTML and SVG, which looks at what a reader sees (text,
  and ``alt``/``title``/``aria-label`` attributes) and never at embedded ``data:`` images, whose
  base64 would otherwise be mistaken for postcodes and phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser

from expedition.pii import KINDS, Match, scan

_READABLE_ATTRIBUTES = {"alt", "title", "aria-label"}
_SKIPPED_ELEMENTS = {"style", "script"}
#: Kinds the allow-list can keep: the names of the lead, reviewers and partners, and the
#: project's public contact address. A phone number, postcode or NHS number is never kept,
#: even inside a fact the project declared public.
_ALLOWABLE = {"name", "email"}


def _words(text: str) -> str:
    return " ".join(re.findall(r"[^\W_]+(?:['’][^\W_]+)*", text.casefold()))


def _allowed(kind: str, found: str, allow: Iterable[str]) -> bool:
    """Whether *found* is a public name (or the public address): an allowed name is inside
    it, or it is inside an allowed name, word for word ("Dr A. Lead" and "A. Lead"; not
    "Mr Leadbetter")."""
    if kind not in _ALLOWABLE:
        return False
    if kind == "email":
        found = found.casefold()
        return any(found in name.casefold().split() or found == name.strip().casefold() for name in allow)
    words = f" {_words(found)} "
    for name in allow:
        name_words = _words(name)
        if not name_words:
            continue
        if f" {name_words} " in words or (len(words) > 5 and words in f" {name_words} "):
            return True
    return False


def _matches(text: str, allow: list[str]) -> list[Match]:
    return [m for m in scan(text) if not _allowed(m.kind, text[m.start : m.end], allow)]


def find(text: str, allow: Iterable[str] = ()) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each piece of personal data in *text* not on the allow-list."""
    return [(m.kind, m.start, m.end) for m in _matches(text, list(allow))]


def _redact_once(text: str, allow: list[str]) -> tuple[str, list[str]]:
    matches = _matches(text, allow)
    if not matches:
        return text, []
    pieces, last = [], 0
    for m in matches:
        pieces.append(text[last : m.start])
        # the context stays so the sentence reads: "Mr [NAME]", "DOB: [DATE_OF_BIRTH]"
        pieces.append(text[m.start : m.start + m.head] + f"[{m.kind.upper()}]")
        last = m.end
    pieces.append(text[last:])
    return "".join(pieces), [m.kind for m in matches]


def redact(text: str, allow: Iterable[str] = ()) -> tuple[str, list[str]]:
    """Replace personal data with ``[KIND]`` tokens (keeping "Mr"/"called" so sentences read).

    Repeated until nothing is found: overlapping matches are resolved to the first, so one
    pass can leave a second piece that the first match had partly covered.
    """
    allow = list(allow)
    kinds: list[str] = []
    for _ in range(5):
        text, found = _redact_once(text, allow)
        if not found:
            break
        kinds.extend(found)
    return text, kinds


@dataclass(frozen=True)
class Found:
    """Personal data found in a file: its kind and line, never the value itself."""

    kind: str
    line: int

    @property
    def label(self) -> str:
        return KINDS.get(self.kind, self.kind)


# Each pattern reads a stretch of markup once, whatever the markup: a tag ends at the next
# "<" if no ">" comes first, and an unclosed <style> runs to the end of the document (a
# pattern that looked for each tag's end from every "<" took time in the square of the size).
_DATA_URI = re.compile(r"data:[\w.+-]++/[\w.+-]++(?:;[\w=.+-]++)*+,[^\"'<>\s)]*+", re.IGNORECASE)
_OPENING = re.compile(r"<(style|script)\b[^<>]*+>", re.IGNORECASE)
_CLOSING = {name: re.compile(rf"</{name}\s*+>", re.IGNORECASE) for name in ("style", "script")}
_TAG = re.compile(r"<!--|-->|<[^<>]*+>")


def _without_blocks(text: str) -> str:
    """*text* with its <style> and <script> blocks blanked (their line breaks kept)."""
    pieces, last = [], 0
    while True:
        opening = _OPENING.search(text, last)
        if opening is None:
            break
        closing = _CLOSING[opening.group(1).lower()].search(text, opening.end())
        end = closing.end() if closing else len(text)
        pieces.append(text[last : opening.start()])
        breaks = text.count("\n", opening.start(), end)
        pieces.append("\n" * breaks if breaks else " ")
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
_READABLE_ATTRIBUTE = re.compile(
    r"""\s(?:alt|title|aria-label)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE
)


def _blank(match: re.Match[str]) -> str:
    """What a skipped stretch becomes: its line breaks (so lines still count), or a space."""
    breaks = match.group(0).count("\n")
    return "\n" * breaks if breaks else " "


_SPACES = re.compile(r"[^\S\n]{2,}")
#: tags that separate what a reader sees as different pieces of text (table cells, paragraphs,
#: list items): a pattern must not join the end of one cell to the start of the next, or a row of
#: numbers ("0.0002 543.5 208.5") reads like a phone number
_SEPARATING_TAG = re.compile(
    r"</?(?:td|th|tr|thead|tbody|table|caption|p|div|li|ul|ol|dt|dd|h[1-6]|br|hr|section|figure|"
    r"figcaption|header|footer|nav|main|article|text|tspan|title)\b",
    re.IGNORECASE,
)


def _tag_blank(match: re.Match[str]) -> str:
    blank = _blank(match)
    if blank == " " and _SEPARATING_TAG.match(match.group(0)):
        return " | "
    return blank


def readable_parts(markup: str) -> list[tuple[int, str]]:
    """(line, text) of what a reader of an HTML/SVG document sees: its text and comments, and
    its alt, title and aria-label attributes. Embedded data: URIs, styles and scripts are left
    out. Regular expressions rather than a parser, so a page of several megabytes is quick."""
    import html

    text = _DATA_URI.sub(_blank, markup)
    text = _without_blocks(text)
    parts: list[tuple[int, str]] = []
    line, counted = 1, 0  # lines are counted as the tags go by, not from the top each time
    for tag in _TAG.finditer(text):
        for attr in _READABLE_ATTRIBUTE.finditer(tag.group(0)):
            value = attr.group(1) if attr.group(1) is not None else attr.group(2)
            if value.strip():
                line += text.count("\n", counted, tag.start())
                counted = tag.start()
                parts.append((line, html.unescape(value)))
    body = _SPACES.sub(" ", _TAG.sub(_tag_blank, text))
    parts.append((1, html.unescape(body)))
    return parts


def scan_text(text: str, allow: Iterable[str] = (), *, markup: bool = False) -> list[Found]:
    """Personal data in a file's text (for markup, only in what a reader sees)."""
    allow = list(allow)
    parts = readable_parts(text) if markup else [(1, text)]
    found = []
    for first_line, part in parts:
        line, counted = first_line, 0
        for kind, start, _ in find(part, allow):
            line += part.count("\n", counted, start)
            counted = start
            found.append(Found(kind, line))
    return found


class _Redactor(HTMLParser):
    """Rebuilds markup unchanged except for personal data in what a reader sees."""

    def __init__(self, allow: list[str]) -> None:
        super().__init__(convert_charrefs=False)
        self.allow = allow
        self.out: list[str] = []
        self.kinds: list[str] = []
        self._skip = 0

    def _clean(self, text: str) -> str:
        cleaned, kinds = redact(text, self.allow)
        self.kinds.extend(kinds)
        return cleaned

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        for name, value in attrs:
            if value and name in _READABLE_ATTRIBUTES:
                cleaned = self._clean(value)
                if cleaned != value:
                    raw = raw.replace(value, cleaned)
        if tag in _SKIPPED_ELEMENTS:
            self._skip += 1
        self.out.append(raw)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIPPED_ELEMENTS and self._skip:
            self._skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_ELEMENTS and self._skip:
            self._skip -= 1
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(data if self._skip else self._clean(data))

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{self._clean(data)}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")


def redact_markup(markup: str, allow: Iterable[str] = ()) -> tuple[str, list[str]]:
    """Redact personal data in what a reader of an HTML/SVG document sees; keep the rest."""
    redactor = _Redactor(list(allow))
    redactor.feed(markup)
    redactor.close()
    if not redactor.kinds:
        return markup, []
    return "".join(redactor.out), redactor.kinds
