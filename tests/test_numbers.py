"""Numbers for people (`expedition.numbers`, issue 16): one way to write a number a reader sees.

Property tests: whatever the float, no output is in scientific notation, no p-value reads
"p = 0", and no share that is not zero reads as 0%.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from expedition import numbers
from expedition.pack.render import format_cell

SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")
floats = st.floats(allow_nan=True, allow_infinity=True)
finite = st.floats(allow_nan=False, allow_infinity=False)
specs = st.sampled_from(["", ".3g", ".2g", ".6g", ",.0f", ".1f", ".2f", ".4f", ".1%", ".0%", ".2%", "e", ".2e", "g",
                         ",", "d", ",.3g", ".3G", "n"])


@given(floats, st.integers(min_value=1, max_value=8))
def test_number_never_scientific(x, digits):
    assert not SCIENTIFIC.search(numbers.number(x, digits))


@given(floats, specs)
def test_format_spec_never_scientific(x, spec):
    out = numbers.format_spec(x, spec)
    assert not SCIENTIFIC.search(out), (x, spec, out)
    assert "nan" not in out.lower() and "inf" not in out.lower()


@given(floats)
def test_pvalue_never_p_equals_zero(p):
    out = numbers.pvalue(p)
    assert not SCIENTIFIC.search(out)
    assert not re.fullmatch(r"p = 0(\.0*)?", out), out
    if math.isfinite(p) and p < 0.001:
        assert out == "p < 0.001"


@given(finite, st.integers(min_value=0, max_value=3))
@example(0.005, 0)  # half a per cent: format() rounds half to even, to "0%"
@example(-0.0005, 1)
def test_share_that_is_not_zero_never_reads_zero(x, digits):
    out = numbers.share(x, digits)
    assert not SCIENTIFIC.search(out)
    if x != 0:
        assert not re.fullmatch(r"-?0(\.0+)?%", out), (x, out)


@given(floats, st.sampled_from(["count", "rate", "statistic", "label"]), st.sampled_from(["p", "value", "p_adj"]))
def test_table_cells_never_scientific(x, kind, column):
    out = format_cell(x, kind, column)
    assert not SCIENTIFIC.search(out)
    assert out != "0" or x == 0 or kind == "label"


@given(st.text(max_size=40), finite)
def test_humane_text_removes_scientific_notation(words, x):
    text = f"{words} {x!r} p = 0 and p=0.0"
    out = numbers.humane_text(text)
    assert not re.search(r"(?<![\w.])\d+(\.\d+)?[eE][+-]?\d+(?![\w.])", out)
    assert "p = 0 " not in out and "p=0.0" not in out


@pytest.mark.parametrize(("value", "expected"), [
    (588_100.4, "588,100"), (5.881e5, "588,100"), (4.27e-07, "< 0.0001"), (0.0123, "0.0123"),
    (-3.14159, "-3.14"), (0, "0"), (1234.6, "1,235"), (None, "n/a"), (float("nan"), "n/a"),
])
def test_number_examples(value, expected):
    assert numbers.number(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (0.0, "p < 0.001"), (4.27e-07, "p < 0.001"), (0.0123, "p = 0.012"), (0.0496, "p = 0.0496"),
    (0.05, "p = 0.05"), (0.5, "p = 0.5"), (1.0, "p = 1"), (None, "p not available"),
])
def test_pvalue_examples(value, expected):
    assert numbers.pvalue(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (2 / 44_552, "fewer than 0.1%"), (0.0, "0%"), (0.215, "21.5%"), (0.99996, "more than 99.9%"), (1.0, "100.0%"),
])
def test_share_examples(value, expected):
    assert numbers.share(value) == expected


def test_table_cells_for_people():
    assert format_cell(4.27e-07, "statistic", "p") == "< 0.001"
    assert format_cell(0.0, "statistic", "p_adj") == "< 0.001"
    assert format_cell(588_100.0, "statistic", "mean") == "588,100"
    assert format_cell(2 / 44_552, "rate", "share") == "fewer than 0.1%"
    assert format_cell(15521, "count", "n") == "15,521"
    assert format_cell(2018, "label", "year") == "2018"


@given(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))
@example("230594271e50" + "3" * 40 + "a" * 12)
@example("1" * 64)
def test_a_short_hash_never_reads_as_a_number(digest):
    """Attack: a digest whose first characters look like 230594271e50 (a number in scientific
    notation) or are all digits is shown until a letter makes it read as a hash."""
    shown = numbers.short_hash(digest)
    assert digest.startswith(shown) and len(shown) >= 12
    assert not re.fullmatch(r"\d+(?:[eE]\d+)?", shown) or shown == digest
