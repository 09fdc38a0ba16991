"""The findings pack in a real browser: headless Chromium opens index.html from disk.

Checks that the page makes no network request (none fails, none is even attempted), logs no
console error, shows the executive summary and every figure, fits a phone's width, and keeps
its draft/final status on every printed page. Screenshots are kept as test artefacts (their
paths are printed; pytest keeps its temporary folders for the last few runs).
"""

from __future__ import annotations

import pytest

from _chromium import Chromium, Page, find_chromium

CHECKS = """(() => {
  const seen = el => { if (!el) return false; const r = el.getBoundingClientRect(), s = getComputedStyle(el);
                       return r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden'; };
  const summary = document.querySelector('#summary');
  const images = [...document.querySelectorAll('figure img')];
  const bar = document.querySelector('.statusbar');
  return {
    summary: seen(summary) && summary.innerText.length > 40,
    summaryFirst: document.querySelector('main section').id,
    images: images.length,
    // the key figure of each finding is in view; the others are behind a <details> until opened
    shown: images.filter(i => i.complete && i.naturalWidth > 0 && (seen(i) || i.closest('details:not([open])'))).length,
    keyFigures: [...document.querySelectorAll('.key-figure img')].filter(seen).length,
    status: bar ? bar.innerText : '',
    barPosition: bar ? getComputedStyle(bar).position : '',
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  };
})()"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    chromium = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def demo_pack(tmp_path_factory):
    from expedition.demo import run_demo

    result = run_demo(tmp_path_factory.mktemp("browser") / "demo", rows=1500)
    return result.pack.path


def test_index_html_in_headless_chromium(browser, demo_pack, tmp_path):
    url = (demo_pack / "index.html").resolve().as_uri()
    page = Page(browser)

    page.viewport(1280, 900)
    page.open(url)
    desktop = page.evaluate(CHECKS)
    shot = page.screenshot(tmp_path / "index-desktop.png")
    print(f"\nscreenshot: {shot}")
    assert page.failed_requests(url) == []
    assert page.console_errors() == []
    assert desktop["summary"] and desktop["summaryFirst"] == "summary"
    assert desktop["images"] >= 1 and desktop["shown"] == desktop["images"]
    assert desktop["keyFigures"] >= 1
    assert desktop["status"].startswith("DRAFT")
    assert shot.stat().st_size > 10_000

    page.viewport(390, 844, mobile=True, scale=2)
    page.open(url)
    phone = page.evaluate(CHECKS)
    print(f"screenshot: {page.screenshot(tmp_path / 'index-phone.png', full=False)}")
    assert phone["summary"] and phone["shown"] == phone["images"]
    assert phone["overflow"] <= 1, "the page is wider than a phone's screen"

    page.send("Emulation.setEmulatedMedia", {"media": "print"})
    printed = page.evaluate(CHECKS)
    assert printed["barPosition"] == "fixed"  # repeated at the top of every printed page
    pdf = page.send("Page.printToPDF", {"printBackground": True})
    assert len(pdf["data"]) > 1000
    assert page.failed_requests(url) == [] and page.console_errors() == []
