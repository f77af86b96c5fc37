"""A real browser opens a report: Debian's Chromium driven by Playwright, fully offline."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pcapexplain.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
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

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.tshark]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Several connections with different outcomes: port reuse, a refusal and a reset."""
    folder = tmp_path_factory.mktemp("report")
    merged = folder / "mixed.pcap"
    parts = ["port_reuse_time_wait.pcap", "refused.pcap", "reset_by_client_linger0.pcap"]
    subprocess.run(
        ["mergecap", "-F", "pcap", "-w", str(merged), *(str(SAMPLES / p) for p in parts)],
        check=True,
    )
    target = folder / "mixed.html"
    assert main(["report", str(merged), "-o", str(target)]) == 0
    return target


def watched_page(browser: Browser) -> tuple[Page, list[str], list[str]]:
    """A new page, the errors it logs and the URLs it requests."""
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    return page, errors, requests


def test_report_loads_without_errors_and_filters(browser: Browser, report: Path) -> None:
    page, errors, requests = watched_page(browser)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")

    svg = page.locator("svg.ladder-svg").first
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50

    rows = page.locator("#conn-table tbody tr")
    assert rows.count() == 4
    page.select_option("#filter-outcome", "handshake:refused")
    visible = [r for r in rows.all() if r.is_visible()]
    assert len(visible) == 1
    assert visible[0].get_attribute("data-handshake") == "refused"
    assert page.locator("#shown").inner_text() == "1"

    page.click("#clear")
    page.fill("#search", "10.77.0.2:45014")
    assert sum(1 for r in rows.all() if r.is_visible()) == 2

    page.click("#clear")
    page.click("#conn-head th:nth-child(1)")
    page.click("#conn-head th:nth-child(1)")  # descending
    assert rows.first.get_attribute("id") == "row-3"

    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []
    page.close()


def test_band_opens_to_show_its_packets(browser: Browser, tmp_path: Path) -> None:
    target = tmp_path / "lossy.html"
    assert main(["report", str(SAMPLES / "lossy_transfer.pcap"), "-o", str(target)]) == 0
    page = browser.new_page()
    page.goto(target.as_uri())
    band = page.locator("details.band").first
    inner = band.locator("svg")
    assert not inner.is_visible()
    band.locator("summary").click()
    assert inner.is_visible()
    page.close()


def test_closed_bands_print_their_packets(browser: Browser, tmp_path: Path) -> None:
    target = tmp_path / "lossy.html"
    assert main(["report", str(SAMPLES / "lossy_transfer.pcap"), "-o", str(target)]) == 0
    page = browser.new_page()
    page.goto(target.as_uri())
    inner = page.locator("details.band svg").first
    assert not inner.is_visible()
    page.emulate_media(media="print")  # the print stylesheet alone, without report.js's help
    assert inner.is_visible()
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")  # browsers without the CSS
    assert page.locator("details.band").first.evaluate("band => band.open")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert not inner.is_visible()  # the reader's closed bands are closed again
    page.close()


@pytest.fixture(scope="module")
def batch_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch over captures of different sizes, a bad one and a name that looks like HTML."""
    folder = tmp_path_factory.mktemp("batch")
    for name in ("lossy_transfer.pcap", "refused.pcap", "half_close.pcap"):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    (folder / "<b>bold.pcap").write_bytes((SAMPLES / "keep_alive.pcap").read_bytes())
    (folder / "broken.pcap").write_text("not a capture\n")
    out = tmp_path_factory.mktemp("batch-out")
    assert main(["batch", str(folder), "-o", str(out), "--jobs", "2"]) == 4
    return out / "index.html"


def test_index_sorts_filters_and_links_to_every_report(browser: Browser, batch_index: Path) -> None:
    page, errors, requests = watched_page(browser)
    page.goto(batch_index.as_uri())
    page.wait_for_load_state("load")

    rows = page.locator("#capture-table tbody tr")
    names = [r.locator("td").first.inner_text() for r in rows.all()]
    assert sorted(names) == names and "<b>bold.pcap" in names  # shown verbatim, not bold
    assert page.locator("#capture-table b").count() == 0

    packets = page.locator("#capture-table th:nth-child(3)")
    packets.click()  # ascending: the bad capture (no packets) first
    assert rows.first.get_attribute("data-status") == "error"
    packets.click()  # descending: the largest capture first
    assert rows.first.locator("td").first.inner_text() == "lossy_transfer.pcap"

    page.select_option("#filter-status", "status:error")
    visible = [r for r in rows.all() if r.is_visible()]
    assert [r.locator("td").first.inner_text() for r in visible] == ["broken.pcap"]
    assert page.locator("#shown").inner_text() == "1"
    page.click("#clear")
    page.select_option("#filter-outcome", "handshake:refused")
    visible = [r for r in rows.all() if r.is_visible()]
    assert [r.locator("td").first.inner_text() for r in visible] == ["refused.pcap"]
    page.click("#clear")
    page.fill("#search", "BOLD")
    assert [r.locator("td").first.inner_text() for r in rows.all() if r.is_visible()] == [
        "<b>bold.pcap"
    ]
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []

    links = [a.get_attribute("href") or "" for a in page.locator("#capture-table a").all()]
    assert len(links) == 4
    for href in links:
        report = browser.new_page()
        report.on("pageerror", lambda e: errors.append(str(e)))
        response = report.goto(batch_index.parent.joinpath(href).as_uri())
        assert response is not None and response.ok, href
        assert report.locator("#conn-table tbody tr").count() >= 1
        report.close()
    assert errors == []
    page.close()
