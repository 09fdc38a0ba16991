"""The patterns cannot take super-linear time: checked on the patterns themselves (every repeat
is bounded) and on hostile 100-250 KB cells, which must give the right answer. How long they
take is measured by bench/bench_pii.py, not here."""

from __future__ import annotations

from re import _constants as C
from re import _parser

import pytest

from expedition import pii
from expedition.disclosure.text import redact, scan_text


def _repeats(parsed) -> list[tuple[int, int]]:
    """(min, max) of every repeat in a parsed pattern, nested ones included."""
    found = []
    for op, av in parsed:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, sub = av
            found.append((low, high))
            found += _repeats(sub)
        elif op is C.SUBPATTERN:
            found += _repeats(av[-1])
        elif op is C.BRANCH:
            for branch in av[1]:
                found += _repeats(branch)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            found += _repeats(av[1])
        elif op is C.ATOMIC_GROUP:
            found += _repeats(av)
    return found


PATTERNS = {f"{p.name} {n}": p.regex for n, p in enumerate(pii.PATTERNS)} | {
    f"needs {n}.{k}": need for n, p in enumerate(pii.PATTERNS) for k, need in enumerate(p.needs)
} | {
    "word": pii._WORD, "line": pii._LINE, "start": pii._START,
    "name words": pii._NAME_WORDS, "e-mail user": pii._EMAIL_USER, "capital": pii._CAPITAL,
    "letters": pii._LETTERS, "not a name": pii._NOT_A_NAME, "any pattern": pii._ANY_PATTERN,
}


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_repeat_in_every_pattern_is_bounded(name):
    regex = PATTERNS[name]
    repeats = _repeats(_parser.parse(regex.pattern, regex.flags))
    unbounded = [r for r in repeats if r[1] == C.MAXREPEAT]
    assert unbounded == [], f"{name}: {regex.pattern}"


def _fill(unit: str, size: int = 250_000) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def test_a_huge_address_is_found_whole():
    text = _fill("a") + "@example.org"
    assert [(m.kind, m.start, m.end) for m in pii.scan(text)] == [("email", 0, len(text))]
    assert redact(text)[0] == "[EMAIL]"


@pytest.mark.parametrize(
    "unit",
    ["a", "a.", "a@", "0", "077 ", "943.476.", "CM1 1A", "Mr ", "Mrs Sarah Smith-", "Sarah ",
     "x dot x at ", "jo(at)nhs(dot)", "born 1/", "DOB ", "The child was seen at home. ", "SMITH, ",
     "O'", "-", "'a", "née ", "a.k.a. "],
)
def test_hostile_cells_are_scanned_and_redaction_is_complete(unit):
    text = _fill(unit, 100_000)
    cleaned, _ = redact(text)
    assert pii.scan(cleaned) == []
    # the quick screen agrees with the scan on these too
    import polars as pl

    if pii.scan(text):
        assert pl.Series([text]).str.contains(pii.CANDIDATE)[0]


def test_hostile_cells_are_found_where_they_are_personal_data():
    assert {m.kind for m in pii.scan(_fill("Call 07700 900123. ", 100_000))} == {"phone"}
    assert {m.kind for m in pii.scan(_fill("Mrs McDonald ", 100_000))} == {"name"}
    assert pii.scan(_fill("0", 250_000)) == []
    assert pii.scan(_fill("E07000070 ", 250_000)) == []


@pytest.mark.parametrize("unit", ["<a", "<style>x", "<script>", '<p title="x', "<td>07700 900123</td>", "<!--", "<a title='Mr Smith'>"])
def test_hostile_markup_is_read_once(unit):
    text = _fill(unit, 100_000)
    found = scan_text(text, markup=True)
    if "900123" in unit or "Smith" in unit:
        assert found
    if unit in {"<style>x", "<script>"}:
        assert found == []
