"""The HTML report: golden files, structure, escaping, size limits, and the command itself."""

from __future__ import annotations

import dataclasses
import difflib
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pcapexplain import api, ladder, narrate, report_context, reporter
from pcapexplain.cli import main
from pcapexplain.model import (
    AnalysisFlag,
    Anomaly,
    AnomalySlug,
    CaptureAnalysis,
    CaptureInfo,
    Endpoint,
    Severity,
    TcpFlags,
    ZeekVerdict,
)
from pcapexplain.reconstructor import reconstruct
from tests.builders import ACK, Conversation, merged

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_captures"
GOLD = Path(__file__).with_name("gold")
ACTUAL = Path(__file__).with_name("actual")
FIXED = {"generated_at": "2000-01-01 00:00:00 UTC", "version": "VERSION"}
GOLDEN = [
    ("normal_close_client_first.pcap", "en"),
    ("normal_close_client_first.pcap", "zh"),
    ("half_close.pcap", "en"),
    ("crafted_old_duplicate_syn.pcap", "en"),
    ("reset_by_server_unread_data.pcap", "zh"),
    ("lossy_transfer.pcap", "en"),
]
URL = re.compile(r"(?i)\b(?:https?|ftp|wss?)://|(?:src|href|action)\s*=\s*[\"']?//|@import|url\(")


def _analysis(name: str) -> CaptureAnalysis:
    result = api.analyse(SAMPLES / name).result
    # The tshark version differs between machines; everything else is the capture's own.
    result.capture = dataclasses.replace(result.capture, tshark_version="TSHARK")
    return result


def render(result: CaptureAnalysis, lang: str = "en", selected: list[int] | None = None) -> str:
    ctx = reporter.build_context(result, lang=lang, selected=selected, **FIXED)
    return reporter.render_html(ctx)


# The inlined stylesheet and script are compared with the package files once (below), not in
# every golden: a style change then touches no golden.
INLINED = {
    "style": re.compile(r"(<style>\n)(.*?)(\n</style>)", re.DOTALL),
    "script": re.compile(r"(<script>\n)(.*?)(\n</script>)", re.DOTALL),
}
ASSETS = {"style": "report.css", "script": "report.js"}
# What each block holds: the page's script comes after the table sorting it shares with the index.
ASSET_FILES = {"style": ("report.css",), "script": ("table.js", "report.js")}


def scrub_assets(html: str) -> str:
    """The page with the body of its one <style> and one <script> replaced by the file name."""
    for tag, pattern in INLINED.items():
        html, count = pattern.subn(rf"\g<1>[{ASSETS[tag]}]\g<3>", html)
        assert count == 1, f"expected one <{tag}> block, found {count}"
    return html


@pytest.mark.tshark
@pytest.mark.parametrize(("name", "lang"), GOLDEN, ids=[f"{n}-{lang}" for n, lang in GOLDEN])
def test_golden_html(name: str, lang: str, request: pytest.FixtureRequest) -> None:
    html = scrub_assets(render(_analysis(name), lang))
    gold = GOLD / f"{Path(name).stem}.{lang}.html"
    if request.config.getoption("--update-gold"):
        GOLD.mkdir(exist_ok=True)
        gold.write_text(html, encoding="utf-8")
        return
    expected = gold.read_text(encoding="utf-8")
    if html != expected:
        ACTUAL.mkdir(exist_ok=True)
        (ACTUAL / gold.name).write_text(html, encoding="utf-8")
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), html.splitlines(True), str(gold), "actual", n=1
            )
        )
        pytest.fail(f"{gold.name} differs (actual in tests/actual/; --update-gold)\n{diff[:4000]}")


@pytest.mark.tshark
def test_page_inlines_exactly_the_package_stylesheet_and_script() -> None:
    html = render(_analysis("half_close.pcap"))
    for tag, pattern in INLINED.items():
        blocks = pattern.findall(html)
        assert len(blocks) == 1, f"{len(blocks)} <{tag}> blocks"
        files = ASSET_FILES[tag]
        expected = "".join(
            (ROOT / "pcapexplain" / "templates" / f).read_text(encoding="utf-8") for f in files
        )
        assert blocks[0][1] == expected, f"the <{tag}> block is not {' + '.join(files)} verbatim"


class _Explained(HTMLParser):
    """Collects the frames that carry an explanation and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: set[int] = set()
        self.attributes: list[str] = []
        self.csp: str | None = None
        self.svgs = 0
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "explanation" in (found.get("class") or "") and found.get("data-frame"):
            self.frames.add(int(found["data-frame"] or 0))
        if tag == "meta" and found.get("http-equiv") == "Content-Security-Policy":
            self.csp = found.get("content")
        if tag == "svg":
            self.svgs += 1
        if found.get("id"):
            self.ids.add(found["id"] or "")
        self.attributes += [v or "" for k, v in attrs if k in ("src", "href", "action")]


@pytest.mark.tshark
@pytest.mark.parametrize("capture", sorted(SAMPLES.glob("*.pcap")), ids=lambda p: p.name)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_syn_fin_rst_is_explained(capture: Path, lang: str) -> None:
    """Refreshing the goldens cannot hide a lost explanation: this counts them."""
    result = _analysis(capture.name)
    parser = _Explained()
    parser.feed(render(result, lang))
    control = int(TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)
    wanted = {
        f
        for f, flags in zip(result.packets.frame, result.packets.flags, strict=True)
        if flags & control
    }
    assert wanted <= parser.frames, f"unexplained frames {sorted(wanted - parser.frames)}"
    # …and the handshake ACK and the ACK of each FIN, which carry no SYN, FIN or RST flag.
    roles = {int(r) for r in report_context.EXPLAINED_ROLES}
    by_role = {
        f for f, role in zip(result.packets.frame, result.states.role, strict=True) if role in roles
    }
    assert by_role <= parser.frames, f"unexplained frames {sorted(by_role - parser.frames)}"
    assert parser.svgs >= len(result.connections)
    assert parser.csp is not None and "default-src 'none'" in parser.csp
    assert all(a.startswith("#") for a in parser.attributes), "only in-page links"
    broken = {a for a in parser.attributes if a[1:] not in parser.ids}
    assert not broken, f"links to nowhere: {sorted(broken)}"


@pytest.mark.tshark
def test_no_external_url_anywhere() -> None:
    html = render(_analysis("lossy_transfer.pcap"))
    assert not URL.search(html), URL.search(html)
    assert "<link" not in html and "<img" not in html and "<iframe" not in html


@pytest.mark.tshark
def test_deterministic_apart_from_the_generation_time() -> None:
    result = _analysis("half_close.pcap")
    first = reporter.render_html(
        report_context.build_context(
            result, lang="en", selected=None, generated_at="A", version="1"
        )
    )
    second = reporter.render_html(
        report_context.build_context(
            result, lang="en", selected=None, generated_at="B", version="1"
        )
    )
    assert first != second
    assert first.replace(">A<", ">B<") == second


@pytest.mark.tshark
def test_old_duplicate_outcome_links_the_stale_syn_concept() -> None:
    html = render(_analysis("crafted_old_duplicate_syn.pcap"))
    assert 'href="#concept-stale_syn"' in html
    assert 'id="concept-stale_syn"' in html
    assert "ghost connection" in html


HOSTILE = [
    "<script>alert(1)</script>",
    '"onmouseover="alert(2)',
    "</svg><script>alert(3)</script>",
    "{{ 7*7 }}",
    "'><img src=x onerror=alert(4)>",
]


def _hostile_analysis(evil: str) -> CaptureAnalysis:
    conv = Conversation(client=(evil, 1), server=(evil + "srv", 2))
    conv.handshake()
    conv.fin(conv.client)
    packets = conv.columns()
    info = CaptureInfo(
        path=f"/tmp/{evil}.pcap",
        size_bytes=1,
        sha256=evil,
        tshark_version=evil,
        total_frames=len(packets),
        warnings=(evil,),
    )
    result = api.analyse_columns(info, packets)
    result.connections[0].client = Endpoint(evil, 1)
    result.zeek[0] = ZeekVerdict(result.zeek[0].state, evil)
    return result


class _Elements(HTMLParser):
    """Every element and attribute the browser would build, and all the text it would show."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []
        self.svg_text: list[str] = []  # text inside <svg>, where "</svg>" would break out
        self._svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        self._svg_depth += tag == "svg"

    def handle_endtag(self, tag: str) -> None:
        self._svg_depth -= tag == "svg"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._svg_depth:
            self.svg_text.append(data)


@pytest.mark.parametrize("evil", HOSTILE)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_capture_derived_strings_come_out_inert(evil: str, lang: str) -> None:
    html = render(_hostile_analysis(evil), lang)
    page = _Elements()
    page.feed(html)
    assert page.tags.count("script") == 1  # ours, at the end of the page
    assert "img" not in page.tags and "iframe" not in page.tags
    assert not [a for a in page.attributes if a.startswith("on")]
    shown = "".join(page.text)
    assert evil in shown  # displayed as text, exactly as it was
    assert str(Endpoint(evil, 1)) in page.svg_text  # the ladder's lifeline title, inside the SVG
    assert ">49<" not in html and " 49 " not in shown  # never evaluated as a template


# A file name cannot hold "/", so "</script>" and "</svg>" come in through the IP strings above.
HOSTILE_NAMES = [
    "<script>alert(1)<\\script>'\".pcap",
    "{{ 7*7 }}{% raw %}.pcap",
    "<svg onload=alert(2)>.pcap",
    '"><img src=x onerror=alert(3)>.pcap',
]


@pytest.mark.tshark
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_name_through_the_command(tmp_path: Path, name: str) -> None:
    evil = tmp_path / name
    shutil.copy(SAMPLES / "normal_close_client_first.pcap", evil)
    target = tmp_path / "out.html"
    assert main(["report", str(evil), "-o", str(target)]) == 0
    html = target.read_text(encoding="utf-8")
    page = _Elements()
    page.feed(html)
    assert page.tags.count("script") == 1
    assert "img" not in page.tags
    assert page.tags.count("svg") == len(re.findall(r"<svg class=\"(?:ladder-svg|swatch)\"", html))
    assert not [a for a in page.attributes if a.startswith("on")]
    assert name in "".join(page.text)  # shown, exactly as it was
    assert ">49<" not in html


def _refused(count: int) -> CaptureAnalysis:
    """The analysis of count connections, each refused: a warning each."""
    convs = []
    for i in range(count):
        c = Conversation(client=("10.0.0.1", 20000 + i), client_isn=i * 1000)
        c.clock = i * 0.001
        c.send(c.client, TcpFlags.SYN)
        c.send(c.server, TcpFlags.RST | TcpFlags.ACK, seq=0)
        convs.append(c)
    packets = merged(*convs)
    return api.analyse_columns(CaptureInfo("many.pcap", 1, "0", "T", len(packets)), packets)


def test_bounded_sections_for_many_connections() -> None:
    result = _refused(report_context.FULL_LIMIT + 40)
    conns = result.connections
    ctx = reporter.build_context(result, lang="en", selected=[len(conns) - 1], **FIXED)
    detailed = {s.id for s in ctx.sections}
    assert len(detailed) == report_context.FULL_LIMIT
    assert len(conns) - 1 in detailed  # --connection always wins
    assert ctx.left_out == len(conns) - report_context.FULL_LIMIT
    html = reporter.render_html(ctx)
    assert "--connection N" in html
    # Every refusal is a warning, so the page says that warned connections were left out too.
    assert f"Of them, {ctx.left_out} connections have a warning or an error" in html
    assert html.count('<tr id="row-') == len(conns)  # every connection stays in the table


def test_one_warned_connection_left_out_is_said_in_the_singular() -> None:
    result = _refused(report_context.FULL_LIMIT + 1)
    html = reporter.render_html(reporter.build_context(result, lang="en", selected=None, **FIXED))
    assert "Of them, 1 connection has a warning or an error" in html
    assert "connections have a warning" not in html


@pytest.mark.tshark
def test_report_command_writes_atomically_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(SAMPLES / "half_close.pcap")]) == 0
    written = tmp_path / "half_close.html"
    assert written.is_file()
    assert str(written) in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["half_close.html"]  # no temporary left


def _long_transfer() -> CaptureAnalysis:
    """Handshake, 30 data segments with their ACKs, four-way close: a run long enough to band."""
    conv = Conversation()
    conv.handshake()
    for _ in range(15):
        conv.data(conv.server, 1000)
        conv.ack(conv.client)
    conv.fin(conv.client)
    conv.ack(conv.server)
    conv.fin(conv.server)
    conv.ack(conv.client)
    packets = conv.columns()
    return api.analyse_columns(CaptureInfo("long.pcap", 1, "0", "T", len(packets)), packets)


def test_ladder_bands_the_data_phase_and_draws_handshake_and_close_in_full() -> None:
    result = _long_transfer()
    drawn = ladder.build(result.packets, result.states, result.connections[0], frozenset())
    kinds = [type(part).__name__ for part in drawn.parts]
    assert kinds == ["Segment", "Band", "Segment"]
    first, band, last = drawn.parts
    assert isinstance(first, ladder.Segment) and isinstance(band, ladder.Band)
    assert isinstance(last, ladder.Segment)
    assert [a.frame for a in first.arrows] == [1, 2, 3]  # the handshake, in full
    assert [a.frame for a in last.arrows] == [34, 35, 36, 37]  # the close, in full
    assert (band.first_frame, band.last_frame, band.packets) == (4, 33, 30)
    assert band.payload == 15_000 and [a.frame for a in band.detail.arrows] == list(range(4, 34))
    # Each lifeline starts with its state before the first packet, then each change is written.
    initial = [(m.state, m.anchor) for m in first.states if m.initial]
    assert initial == [("CLOSED", "end"), ("LISTEN", "start")]
    changes = [m.state for m in (*first.states, *last.states) if not m.initial]
    assert changes == [
        "SYN_SENT",
        "SYN_RECEIVED",
        "ESTABLISHED",
        "ESTABLISHED",
        "FIN_WAIT_1",
        "CLOSE_WAIT",
        "FIN_WAIT_2",
        "TIME_WAIT",  # the server's FIN: client first, then server, on the same arrow
        "LAST_ACK",
        "CLOSED",
        "CLOSED",  # the client's, after TIME_WAIT's 2MSL
    ]
    assert first.arrows[0].label == "SYN seq=0 len=0"
    assert first.arrows[1].label == "SYN, ACK seq=0 ack=1 len=0"


@pytest.mark.parametrize(
    ("lang", "label"),
    [
        ("en", "frames 4–33: 30 segments, 15.0 kB of data"),
        ("zh", "帧 4–33：30 个报文段，数据 15.0 kB"),
    ],
)
def test_band_summary_counts_segments_and_bytes(lang: str, label: str) -> None:
    ctx = reporter.build_context(_long_transfer(), lang=lang, selected=None, **FIXED)
    bands = [p for p in ctx.sections[0].ladder.parts if isinstance(p, ladder.Band)]
    assert [b.label for b in bands] == [label]
    assert label in reporter.render_html(ctx)


def test_a_band_of_resent_data_is_not_drawn_as_an_error() -> None:
    """Red marks what a warning or an error concerns (the legend says so); a band holds no such
    segment, so its summary counts the resent ones in ordinary ink."""
    conv = Conversation()
    conv.handshake()
    for _ in range(10):
        conv.data(conv.server, 1000)
        conv.ack(conv.client)
    resent = AnalysisFlag.FAST_RETRANSMISSION | AnalysisFlag.RETRANSMISSION  # a note
    conv.send(conv.server, ACK, 1000, seq=conv.next[conv.server] - 1000, analysis=resent)
    for _ in range(5):
        conv.ack(conv.client)
    packets = conv.columns()
    result = api.analyse_columns(CaptureInfo("resent.pcap", 1, "0", "T", len(packets)), packets)
    html = render(result)
    summary = re.search(r"<summary><span([^>]*)>(frames 4–29:[^<]*)</span>", html)
    assert summary is not None and "1 retransmission" in summary.group(2)
    assert summary.group(1) == ""


def test_long_frame_lists_are_cut_and_counted() -> None:
    params = {"count": 80, "bytes": 80, "share": 0.5, "cause": "timeout", "delay_min": 200.0}
    params |= {"delay_max": 400.0, "rtt": "-"}
    many = Anomaly(AnomalySlug.RETRANSMISSION, Severity.NOTE, 0, tuple(range(1, 81)), params)
    finding = report_context._finding("en", many, {})
    assert len(finding.frames) == report_context.FINDING_FRAMES
    assert finding.more_frames == "and 30 more"


def test_ladder_and_packet_list_count_relative_numbers_alike_without_a_syn() -> None:
    conv = Conversation()
    conv.data(conv.client, 100)
    conv.ack(conv.server)
    conv.data(conv.server, 50)
    conv.ack(conv.client)
    conv.fin(conv.client)
    packets = conv.columns()
    conns, states = reconstruct(packets)
    assert conns[0].client_isn is None  # no SYN: the first seq seen in each direction counts
    drawn = ladder.build(packets, states, conns[0], frozenset())
    labels = {a.frame: a.label for part in drawn.parts for a in _arrows(part)}
    assert labels[1] == "PSH, ACK seq=0 ack=0 len=100"
    assert labels[2] == "ACK seq=0 ack=100 len=0"
    for line in narrate.narrate(packets, states, conns[0], "en"):
        if not line.is_summary and line.frame is not None:
            assert f"seq={line.seq_rel} " in labels[line.frame]


def _arrows(part: ladder.Segment | ladder.Band) -> tuple[ladder.Arrow, ...]:
    return part.detail.arrows if isinstance(part, ladder.Band) else part.arrows


def test_each_finding_names_its_wireshark_and_zeek_peers() -> None:
    conv = Conversation()
    conv.send(conv.client, TcpFlags.SYN)
    conv.send(conv.server, TcpFlags.RST | TcpFlags.ACK, seq=0)
    packets = conv.columns()
    result = api.analyse_columns(CaptureInfo("refused.pcap", 1, "0", "T", len(packets)), packets)
    html = render(result)
    assert (
        '<p class="peers">Seen elsewhere as: Wireshark <code>tcp.connection.rst; completeness 37'
        "</code> · Zeek <code>REJ, history Sr</code></p>"
    ) in html
