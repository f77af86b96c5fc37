"""Make docs/report-screenshot.png: a report of a sample capture, as headless Chromium shows it.

Usage: .venv/bin/python docs/make_screenshot.py   (needs /usr/bin/chromium and playwright)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from pcapexplain.cli import main as pcapexplain

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "sample_captures" / "simultaneous_close.pcap"
OUT = ROOT / "docs" / "report-screenshot.png"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        if pcapexplain(["report", str(CAPTURE), "-o", str(html)]) != 0:
            return 1
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 2100})
            page.goto(html.as_uri())
            page.screenshot(path=str(OUT), clip={"x": 0, "y": 0, "width": 1280, "height": 2100})
            browser.close()
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
