"""Screenshots of the demo findings pack at desktop and phone widths, for reviewers.

    python scripts/screenshots.py [--out docs/screenshots] [--rows 1500]

Builds the demo expedition in a temporary folder, opens its index.html in headless Chromium
(`expedition pack --pdf` finds it the same way: ``$EXPEDITION_CHROMIUM`` or ``chromium`` on the
PATH) at 1,280 x 900 and 390 x 844 pixels, and writes ``pack-desktop.png`` and ``pack-phone.png``
(the first screen: what a project lead sees on opening the pack), reduced to a 256-colour
palette so they stay small in git. Run it after changing the pack's page, and commit the
pictures with the change, so a reviewer sees what changed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def shoot(binary: str, url: str, out: Path, width: int, height: int, profile: Path) -> None:
    subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={out}", url],
        check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    from PIL import Image

    image = Image.open(out).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--rows", type=int, default=1500, help="rows of synthetic referrals in the demo")
    args = parser.parse_args()
    from expedition.demo import run_demo
    from expedition.pack.pdf import find_chromium

    binary = find_chromium()
    if binary is None:
        print("Chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        pack = run_demo(Path(work) / "demo", rows=args.rows).pack.path
        url = (pack / "index.html").as_uri()
        for name, (width, height) in SIZES.items():
            target = args.out / f"pack-{name}.png"
            shoot(binary, url, target, width, height, Path(work) / f"profile-{name}")
            print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: "
                  f"{width} x {height}, {target.stat().st_size / 1024:,.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
