"""Headless Chromium for the report: the browser tests' launcher, and the README's screenshots.

Usage: .venv/bin/python docs/make_screenshot.py   (needs /usr/bin/chromium, playwright, and a CJK
font such as Debian's fonts-noto-cjk for the Chinese one)

Writes docs/report-screenshot.png (English) and docs/report-screenshot.zh.png (Chinese), each a
report of the same sample capture made by the shipped `pcapexplain report` command.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pcapexplain.cli import main as pcapexplain

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "sample_captures" / "simultaneous_close.pcap"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIZE = {"width": 1280, "height": 2100}
SCREENSHOTS = {
    "en": ROOT / "docs" / "report-screenshot.png",
    "zh": ROOT / "docs" / "report-screenshot.zh.png",
}


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless and offline-minded, as every browser test runs it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)


def screenshot(browser: Browser, lang: str, target: Path, capture: Path = CAPTURE) -> Path:
    """Report capture in lang through the command line, open it, and save the top of the page."""
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / f"report.{lang}.html"
        if pcapexplain(["report", str(capture), "-o", str(html), "--lang", lang]) != 0:
            raise RuntimeError(f"pcapexplain report failed for {capture}")
        page = browser.new_page(viewport=SIZE)
        page.goto(html.as_uri())
        page.screenshot(path=str(target), clip={"x": 0, "y": 0, **SIZE})
        page.close()
    return target


def main() -> int:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        for lang, target in SCREENSHOTS.items():
            print(f"wrote {screenshot(browser, lang, target)}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
