"""`expedition pack --pdf`: the pack's index.html printed to PDF by headless Chromium.

The PDF is written beside the pack (``findings/<slug>-<date>.pdf``), never inside it: the pack's
files are listed and signed in its manifest. The page's print stylesheet does the layout (the
draft or final status on every page, every collapsed table and figure shown, no navigation).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from expedition.errors import PackError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$EXPEDITION_CHROMIUM``, or the first Chromium on the PATH."""
    given = os.environ.get("EXPEDITION_CHROMIUM")
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(index: Path, out: Path, *, timeout: float = 180) -> Path:
    """Print *index* (a pack's index.html) to *out* with headless Chromium; atomic."""
    binary = find_chromium()
    if binary is None:
        raise PackError(
            "Chromium is not installed, so the pack cannot be printed to PDF (the pack itself was built)",
            "install it (Debian: `apt-get install chromium`) or set EXPEDITION_CHROMIUM to its path; "
            "or open index.html in a browser and print it",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="expedition-pdf-") as work:
        part = Path(work) / "pack.pdf"
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-extensions",
            f"--user-data-dir={Path(work) / 'profile'}", "--no-pdf-header-footer",
            f"--print-to-pdf={part}", index.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise PackError(f"Chromium did not finish printing the pack within {timeout:.0f} s",
                            "try again, or open index.html in a browser and print it") from None
        except OSError as exc:
            raise PackError(f"Chromium ({binary}) could not be started: {exc.strerror or exc}",
                            "check the installation, or set EXPEDITION_CHROMIUM to a working Chromium") from None
        if not part.is_file() or part.read_bytes()[:5] != b"%PDF-":
            tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            raise PackError(f"Chromium did not print the pack to PDF ({tail[0][:200]})",
                            "open index.html in a browser and print it")
        shutil.move(str(part), str(out.with_name(out.name + ".part")))
        os.replace(out.with_name(out.name + ".part"), out)
    return out
