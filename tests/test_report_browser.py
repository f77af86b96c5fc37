"""A real browser opens a report: Debian's Chromium driven by Playwright, fully offline."""

from __future__ import annotations

import re
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from docs import make_screenshot
from pcapexplain import ladder
from pcapexplain.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
README = SAMPLES.parent / "README.md"

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.tshark]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(make_screenshot.CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        instance = make_screenshot.launch(p)
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


# Families that carry the Han script on Linux, macOS and Windows (the report's font stack).
CJK_FAMILIES = (
    "Noto Sans CJK",
    "Noto Serif CJK",
    "Source Han",
    "WenQuanYi",
    "PingFang",
    "Hiragino",
    "Microsoft YaHei",
    "SimHei",
    "SimSun",
    "Droid Sans Fallback",
)
HAN = re.compile(r"[\u3400-\u9fff]")
# Draws text with an element's own font on a canvas; a Han character must not come out as the box
# drawn for a code point no font has (U+0378 is unassigned), and two must not look the same.
GLYPHS_JS = """
(el, chars) => {
  const font = getComputedStyle(el).font;
  const draw = (ch) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 64;
    const ctx = canvas.getContext('2d');
    ctx.font = font.replace(/\\d+(\\.\\d+)?px/, '48px');
    ctx.fillText(ch, 4, 52);
    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(',');
  };
  const missing = draw('\\u0378');
  return chars.map(draw).map((pixels) => [pixels === missing, pixels]);
}
"""


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("zh") / "simultaneous_close.zh.html"
    capture = SAMPLES / "simultaneous_close.pcap"
    assert main(["report", str(capture), "-o", str(target), "--lang", "zh"]) == 0
    return target


@pytest.mark.parametrize(
    "selector", ["header.page h1", "#summary h2", "td.explanation", "svg .end-title"]
)
def test_chinese_is_drawn_with_a_cjk_font(browser: Browser, zh_report: Path, selector: str) -> None:
    """Chromium reports which installed font drew each glyph: Han text needs a CJK font."""
    page = browser.new_page()
    page.goto(zh_report.as_uri())
    element = page.locator(selector).first
    # The font list covers the element's own text nodes, not its descendants'.
    own = element.evaluate(
        "el => [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.data).join('')"
    )
    han = HAN.findall(own)
    assert han, f"{selector} holds no Chinese to check"
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cjk = [f for f in fonts if f["familyName"].startswith(CJK_FAMILIES)]
    assert cjk, f"{selector}: Chinese drawn with {[f['familyName'] for f in fonts]}, no CJK font"
    assert sum(f["glyphCount"] for f in cjk) >= len(han)
    page.close()


def test_chinese_glyphs_are_not_empty_boxes(browser: Browser, zh_report: Path) -> None:
    """Pixel evidence, independent of font names: distinct characters, none of them a box."""
    page = browser.new_page()
    page.goto(zh_report.as_uri())
    heading = page.locator("#summary h2")
    chars = sorted(set(HAN.findall(page.locator("main").text_content() or "")))[:12]
    assert len(chars) >= 8
    drawn = heading.evaluate(GLYPHS_JS, chars)
    assert [c for c, (box, _) in zip(chars, drawn, strict=True) if box] == []
    assert len({pixels for _, pixels in drawn}) == len(chars), "some characters look the same"
    page.close()


# Every drawn label's real box (getBBox, in the SVG's own units) against every arrow line and
# every other label of the same diagram; the page's font decides the boxes, not an estimate.
GEOMETRY_JS = """
(svg) => {
  const problems = [], widths = [];
  const lines = [...svg.querySelectorAll('g.arrow line')].map((l) => ({
    x1: +l.getAttribute('x1'), y1: +l.getAttribute('y1'),
    x2: +l.getAttribute('x2'), y2: +l.getAttribute('y2'),
    frame: l.parentNode.dataset.frame,
  }));
  const yAt = (l, x) =>
    l.y1 + (l.y2 - l.y1) * Math.min(Math.max((x - l.x1) / (l.x2 - l.x1), 0), 1);
  const crosses = (b, l) => {
    const left = Math.max(b.x, Math.min(l.x1, l.x2));
    const right = Math.min(b.x + b.width, Math.max(l.x1, l.x2));
    if (left > right) return false;
    const ys = [yAt(l, left), yAt(l, right)].sort((a, c) => a - c);
    return ys[0] <= b.y + b.height && ys[1] >= b.y;
  };
  const texts = [...svg.querySelectorAll('text.label, text.state, text.time, g.bracket text')];
  const boxes = texts.map((t) => ({ box: t.getBBox(), text: t.textContent, node: t }));
  for (const { box, text, node } of boxes) {
    for (const l of lines) {
      if (crosses(box, l)) problems.push(`line of #${l.frame} through "${text}"`);
    }
    if (node.classList.contains('label')) widths.push([text, box.width]);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i].box, b = boxes[j].box;
    if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height)
      problems.push(`"${boxes[i].text}" overlaps "${boxes[j].text}"`);
  }
  return [problems, widths];
}
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(
    "capture",
    ["simultaneous_close.pcap", "crafted_simultaneous_open.pcap", "lossy_transfer.pcap"],
)
def test_no_line_runs_through_a_label(
    browser: Browser, tmp_path: Path, capture: str, lang: str
) -> None:
    target = tmp_path / "ladder.html"
    assert main(["report", str(SAMPLES / capture), "-o", str(target), "--lang", lang]) == 0
    page = browser.new_page()
    page.goto(target.as_uri())
    page.evaluate("document.querySelectorAll('details.band').forEach((d) => { d.open = true; })")
    svgs = page.locator("svg.ladder-svg")
    assert svgs.count() >= 1
    problems: list[str] = []
    for svg in svgs.all():
        found, widths = svg.evaluate(GEOMETRY_JS)
        problems += found
        # The layout's width estimate must not be smaller than the real text, or it misplaces.
        problems += [
            f"{t!r}: {w:.1f} > {ladder.text_width(t)}"
            for t, w in widths
            if w > ladder.text_width(t)
        ]
    assert problems == []
    page.close()


# The words of an element's text that the browser broke across lines. A word is a run of letters
# and digits (an underscore or hyphen ends one: TIME_ / WAIT may wrap there) or of Chinese
# characters; an arrow between two such runs joins them (客→服, c→s).
BROKEN_WORDS_JS = """
(el) => {
  const broken = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const run = '(?:[A-Za-z0-9.:]+|[\\u4e00-\\u9fff]+)';
    const re = new RegExp(`${run}(?:\\u2060?→\\u2060?${run})*`, 'g');
    for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (tops.size > 1) broken.push(m[0]);
    }
  }
  return broken;
}
"""


# How many lines an element's text takes.
LINES_JS = """
(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const rects = [...range.getClientRects()].filter((r) => r.width > 0);
  return new Set(rects.map((r) => Math.round(r.top))).size;
}
"""


@pytest.mark.parametrize("width", [1280, 1024])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_tables_fit_their_words(browser: Browser, report: Path, lang: str, width: int) -> None:
    """No heading broken inside a word (TIME_W / AIT); direction and frame cells on one line."""
    target = report.with_name(f"mixed.{lang}.html")
    if not target.exists():
        assert (
            main(["report", str(report.with_suffix(".pcap")), "-o", str(target), "--lang", lang])
            == 0
        )
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(target.as_uri())
    broken = {}
    for cell in page.locator("#conn-head th, #conn-table td:not(.host), table.packets th").all():
        for word in cell.evaluate(BROKEN_WORDS_JS):
            broken[word] = cell.inner_text()
    assert broken == {}
    for cell in page.locator("table.packets tr.packet td:nth-child(-n+4)").all():
        lines = cell.evaluate(LINES_JS)
        assert lines == 1, cell.inner_text()
    page.close()


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_readme_screenshots_come_from_this_machinery(browser: Browser, tmp_path: Path) -> None:
    """docs/make_screenshot.py makes the README's pair with the browser these tests use."""
    size = (make_screenshot.SIZE["width"], make_screenshot.SIZE["height"])
    for lang, shipped in make_screenshot.SCREENSHOTS.items():
        made = make_screenshot.screenshot(browser, lang, tmp_path / shipped.name)
        assert _png_size(made) == size
        assert _png_size(shipped) == size, (
            f"{shipped} is missing or stale: run docs/make_screenshot.py"
        )
        assert f"docs/{shipped.name}" in README.read_text(encoding="utf-8")


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
