"""The findings pack is accessible (WCAG 2.2 AA) and written for people (issue 16).

In headless Chromium, axe-core checks the demo pack and a pack built from real public data
(Metropolitan Police stop and search, Essex street crime and FixMyStreet, through
``examples/public-data``) against the WCAG 2.0, 2.1 and 2.2 A and AA rules, and the test fails on
any serious or critical violation; nothing outside a labelled scroll region may be wider than the
page at 1,280 and 390 pixels. Without the page text, the same packs show no number in
scientific notation and no "p = 0".

Skips, saying why, when Chromium or axe-core (tests/_axe.py) is not available; `.ci/run`
installs both, so CI runs it.
"""

from __future__ import annotations

import html as htmllib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _axe import OVERFLOW, axe_source, run_axe
from _chromium import Chromium, Page, find_chromium

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    chromium = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def axe():
    source = axe_source()
    if source is None:
        pytest.skip("axe-core is not available: set EXPEDITION_AXE to axe.min.js, or let npm fetch it")
    return source


@pytest.fixture(scope="module")
def demo_pack(tmp_path_factory):
    from expedition.demo import run_demo

    return run_demo(tmp_path_factory.mktemp("a11y") / "demo", rows=1500).pack.path


@pytest.fixture(scope="module")
def real_pack(tmp_path_factory):
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "police-met-stop-and-search-2018-12").is_dir():
        pytest.skip("../shared/data is not available")
    out = tmp_path_factory.mktemp("a11y-real")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "public-data" / "setup.py"), str(SHARED_DATA),
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (pack,) = [p for p in (out / "public-data" / "findings").iterdir() if p.is_dir()]
    return pack


def page_text(pack: Path) -> str:
    """What a reader sees of index.html, as text (figures left out)."""
    page = (pack / "index.html").read_text(encoding="utf-8")
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    page = re.sub(r'src="data:[^"]*"', "", page)
    page = re.sub(r"<[^>]+>", " ", page)
    return htmllib.unescape(page)


def check_page(browser, axe_js: str, pack: Path) -> None:
    url = (pack / "index.html").resolve().as_uri()
    page = Page(browser)
    for width, height, mobile in ((1280, 900, False), (390, 844, True)):
        page.viewport(width, height, mobile=mobile)
        page.open(url)
        measured = page.evaluate(OVERFLOW)
        assert measured["overflow"] <= 0, f"the page is wider than {width} px: {measured}"
        assert measured["wide"] == [], f"at {width} px these reach past the page: {measured['wide']}"
    violations = run_axe(page, axe_js)
    for v in violations:
        print(f"axe: {v['impact']} {v['id']} ({v['count']}): {v['help']}")
    bad = [v for v in violations if v["impact"] in {"serious", "critical"}]
    assert bad == [], "\n".join(f"{v['impact']} {v['id']}: {v['help']}\n  " + "\n  ".join(v["nodes"]) for v in bad)
    assert page.console_errors() == []


def test_demo_pack_passes_axe_and_fits_the_page(browser, axe, demo_pack):
    check_page(browser, axe, demo_pack)


def test_real_pack_passes_axe_and_fits_the_page(browser, axe, real_pack):
    check_page(browser, axe, real_pack)


SCIENTIFIC = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][+-]?\d+(?![\w.])")


@pytest.mark.parametrize("which", ["demo_pack", "real_pack"])
def test_no_scientific_notation_or_p_zero_on_the_page(which, request):
    pack = request.getfixturevalue(which)
    text = page_text(pack)
    assert not SCIENTIFIC.findall(text), SCIENTIFIC.findall(text)[:10]
    assert not re.search(r"\bp\s*=\s*0(?:\.0+)?(?![\d.])", text)
    assert not re.search(r"(?<![\d.,])0\.0+%", text), "a share shown as 0.0% that may not be zero"
    summary = (pack / "summary.md").read_text(encoding="utf-8")
    assert not SCIENTIFIC.findall(summary)


def test_every_figure_has_alternative_text_from_its_data(demo_pack):
    page = (demo_pack / "index.html").read_text(encoding="utf-8")
    alts = re.findall(r'<img src="data:[^"]*" alt="([^"]*)"', page)
    assert alts and all(len(a) > 40 and "rows" in a and ".png" not in a for a in alts)


def test_police_and_fixmystreet_pack_has_no_childrens_social_care_wording(real_pack):
    text = page_text(real_pack).lower()
    for word in ("child", "families", "a family", "social care", "referral", "re-referr", " notes"):
        assert word not in text, word
    # the expedition's subject ("stops and searches", "crimes") words the steps' sentences
    assert "records" in text or "crimes" in text


def test_demo_pack_has_a_glossary_and_labels(demo_pack):
    page = (demo_pack / "index.html").read_text(encoding="utf-8")
    assert 'id="glossary"' in page and 'href="#glossary-auc"' in page and 'id="glossary-auc"' in page
    # the referrals dataset's labels: the page says what the outcome means, not its code
    summary = page[page.index('id="summary"'):page.index('aria-label="Contents"')]
    assert "re-referred within 12 months" in summary and "rereferred_12m = yes" not in summary
