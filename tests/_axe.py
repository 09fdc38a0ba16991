"""axe-core, the accessibility engine, for the browser tests of the findings pack.

`axe_source()` returns the text of ``axe.min.js``: from ``$EXPEDITION_AXE`` (a path to the
file), from ``tests/.axe/`` (git-ignored), or fetched once into ``tests/.axe/`` with
``npm pack axe-core`` when npm can reach its registry. None when none of these works: the
tests that need it then skip and say why. `.ci/run` fetches it before the tests, so CI runs them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

VERSION = "4"  # the major version of axe-core the tests expect
CACHE = Path(__file__).parent / ".axe"

#: The WCAG 2.2 A and AA rules (axe-core's tags).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _fetch() -> Path | None:
    """``npm pack axe-core`` into a private folder, then ``axe.min.js`` renamed into the cache
    (atomic: two test processes fetching at once both end with a whole file)."""
    import tempfile

    npm = shutil.which("npm")
    if npm is None:
        return None
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as private:
        try:
            done = subprocess.run([npm, "pack", f"axe-core@{VERSION}", "--silent", "--pack-destination", private],
                                  capture_output=True, text=True, timeout=120, check=False, cwd=private)
        except (OSError, subprocess.TimeoutExpired):
            return None
        tarballs = sorted(Path(private).glob("axe-core-*.tgz"))
        if done.returncode != 0 or not tarballs:
            return None
        with tarfile.open(tarballs[-1]) as tar:
            data = tar.extractfile(tar.getmember("package/axe.min.js")).read()  # type: ignore[union-attr]
        part = Path(private) / "axe.min.js"
        part.write_bytes(data)
        target = CACHE / "axe.min.js"
        os.replace(part, target)
    return target


def axe_source() -> str | None:
    given = os.environ.get("EXPEDITION_AXE")
    if given and Path(given).is_file():
        return Path(given).read_text(encoding="utf-8")
    cached = CACHE / "axe.min.js"
    if not cached.is_file():
        cached = _fetch()  # type: ignore[assignment]
    return cached.read_text(encoding="utf-8") if cached else None


RUN = """(async () => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: %s}, resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 200)),
      count: v.nodes.length}));
})()"""


def run_axe(page, source: str) -> list[dict]:
    """Every WCAG 2.2 A/AA violation axe-core finds on the page open in *page*."""
    import json

    page.evaluate(source + "\n;true")
    result = page.send("Runtime.evaluate", {"expression": RUN % json.dumps(WCAG_TAGS),
                                            "awaitPromise": True, "returnByValue": True})
    if "exceptionDetails" in result:
        raise RuntimeError(result["exceptionDetails"])
    return result["result"]["value"]


OVERFLOW = """(() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(el => {
    if (el.closest('.table-wrap, .figure-wrap')) return false;  // inside a scroll region: scrolls on its own
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1;
  }).slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right));
  return {overflow: document.documentElement.scrollWidth - window.innerWidth, wide};
})()"""
