"""A Chinese report is Chinese: no English words in what a reader sees, Chinese punctuation.

Each sample capture goes through the shipped command, `pcapexplain report CAPTURE --lang zh`, and
the visible text of the page it writes (text nodes, tooltips and accessible labels; not scripts,
styles or attribute values a reader never sees) is checked word by word. Allowed: flag and state
names, protocol abbreviations, numbers, addresses and units, and the capture's own data (its
name, Zeek's history letters).
"""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pcapexplain import api
from pcapexplain.explanations import catalog
from pcapexplain.model import (
    AnomalySlug,
    CapturePoint,
    Closer,
    Handshake,
    Lang,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.zeek import ConnState

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
_SCRIPT = Path(sys.executable).with_name("pcapexplain")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pcapexplain"]

NAMES = {s.name for s in TcpState if s is not TcpState.UNKNOWN} | {f.name or "" for f in TcpFlags}
# pcapexplain's own codes are English words: a Chinese page shows their Chinese labels instead.
CODES = {v.value for enum in (Handshake, Teardown, Closer, CapturePoint, AnomalySlug) for v in enum}
# Abbreviations Chinese textbooks use as they are (谢希仁 writes TCP, ISN, MSS, RFC, 2MSL …).
ABBREVIATIONS = {
    "TCP",
    "IP",
    "IPv4",
    "IPv6",
    "UDP",
    "ICMP",
    "ISN",
    "MSS",
    "SACK",
    "D-SACK",
    "RTT",
    "RTO",
    "MSL",
    "2MSL",
    "RACK",
    "PAWS",
    "TSval",
    "RFC",
    "TFO",
    "NAT",
    "TTL",
    "ECN",
    "TSO",
    "GSO",
    "SHA-256",
    "UTC",
    "ID",
    "CPU",
    "MTU",
    "JSON",
    "RTTS",  # 谢希仁's smoothed RTT and its deviation (RFC 6298's SRTT, RTTVAR)
    "RTTD",
    "SampleRTT",
    "EstimatedRTT",
    "rwnd",
    "TOML",
    "UTF-8",
    "FIFO",
} | {state.value for state in ConnState}  # Zeek's conn_state codes (SF, REJ, …)
# Programs, scans and error names the page quotes; everything else English is a translation gap.
PROPER_NAMES = {
    "AIX",  # the pcap variants and pcapng blocks a capture-file reason names
    "Ixia",
    "SHB",
    "IDB",
    "SPB",
    "EPB",
    "PB",
    "Unicode",
    "tshark",
    "pcapexplain",
    "Wireshark",
    "Zeek",
    "Linux",
    "Windows",
    "BSD",
    "macOS",
    "nmap",
    "sysctl",
    "JavaScript",
    "NULL",
    "Xmas",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "Karn",
    "README.md",
    "Dask",
    "Python",
    "tcpdump",
    "pcap",  # file formats
    "pcapng",
    "gzip",
}
UNITS = {"kB", "MB", "GB"}
# What Wireshark and Zeek show, as a reader types or greps it: display-filter fields and log
# names (tcp.analysis.retransmission, weird.log), conn.log columns, and Zeek's history letters.
FILTER_FIELD = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
LOG_COLUMNS = {"history", "uid"}
HISTORY = re.compile(r"[ShADadFfRrCcGgTtWwIiQq^]+(/[ShADadFfRrCcGgTtWwIiQq^]+)?")

WORD = re.compile(r"[A-Za-z][A-Za-z0-9_+\-./()']*")
HIDDEN_TAGS = {"script", "style"}
SHOWN_ATTRIBUTES = {"title", "aria-label", "alt", "placeholder"}


class _Visible(HTMLParser):
    """The text a reader of the page can see or hear, one piece per text node or tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[str] = []
        self._hidden = 0
        self._joined = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._joined = tag == "wbr"  # a line-break opportunity inside one word (TIME_<wbr>WAIT)
        if tag in HIDDEN_TAGS:
            self._hidden += 1
        elif tag == "meta":
            return
        self.pieces += [v for k, v in attrs if k in SHOWN_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if self._joined and self.pieces:
            self.pieces[-1] += data
        elif not self._hidden and data.strip():
            self.pieces.append(data)
        self._joined = False


def _allowed(word: str, before: str) -> bool:
    core = word.strip(".,;:()'/-")
    if before.endswith("weird.log："):  # Zeek's name of the event, as its log writes it
        return True
    if before.endswith("[") or (before.count("“") > before.count("”") and "Wireshark" in before):
        return True  # a rubric's table name, or Wireshark's own words quoted
    if not core or core in CODES:
        return not core
    if core in NAMES | ABBREVIATIONS | PROPER_NAMES | UNITS:
        return True
    if all(part in ABBREVIATIONS | NAMES for part in core.split("/")):  # TSO/GSO, FIN/RST
        return True
    if all(part in NAMES for part in re.split(r"[-+]", core)):  # SYN-ACK, FIN+ACK
        return True
    if FILTER_FIELD.fullmatch(core) or core in LOG_COLUMNS:
        return True
    if HISTORY.fullmatch(core) and re.search(r"history 字段：[^；（]*$", before):
        return True
    if re.fullmatch(r"[A-Z]", core):  # A and B of an example; but not B for bytes
        return not (core == "B" and re.search(r"\d\s*$", before))
    if before.endswith(("--", "pcapexplain ")):  # a command line: its options and commands
        return True
    if before.count("`") % 2 or (before.endswith("'") and word.endswith("'")):
        return True  # code, or a key's name in quotes, as it is typed
    if "README.md" in before and before.count("“") > before.count("”"):
        return True  # the title of a README section
    if before.endswith(".") and core.islower():  # a file name's extension: .pcap, .gz
        return True
    # Identifiers a reader types or greps for: SO_LINGER, tcp_fin_timeout, close().
    return "_" in core or word.rstrip(".,;:'").endswith("()")


def english_words(text: str, data: frozenset[str] = frozenset()) -> list[str]:
    """The words of text that are English prose rather than names, codes, numbers or data."""
    return [
        m.group(0)
        for m in WORD.finditer(text)
        if m.group(0).strip(".,;:()") not in data and not _allowed(m.group(0), text[: m.start()])
    ]


def _report(capture: Path, out: Path) -> str:
    subprocess.run(
        [*COMMAND, "report", str(capture), "--lang", "zh", "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out.read_text(encoding="utf-8")


def _data_values(capture: Path) -> tuple[list[str], frozenset[str]]:
    """What the page shows of the capture itself: its name, digest and addresses (cut out of
    the text), and Zeek's history letters (whole words)."""
    result = api.analyse(capture).result
    cut = {capture.name, hashlib.sha256(capture.read_bytes()).hexdigest()}
    cut |= {e.ip for c in result.connections for e in (c.client, c.server)}
    # A history Zeek flipped starts with "^", which is no part of a word.
    histories = {h for z in result.zeek.values() for h in (z.history, z.history.lstrip("^"))}
    return sorted(cut, key=len, reverse=True), frozenset(histories)


def visible_text(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.pieces


@functools.cache
def _page(name: str) -> tuple[list[str], list[str], frozenset[str]]:
    """The visible text of the zh report of a sample, and the capture's own data; made once."""
    capture = SAMPLES / name
    with tempfile.TemporaryDirectory() as folder:
        html = _report(capture, Path(folder) / "report.zh.html")
    return visible_text(html), *_data_values(capture)


@pytest.mark.tshark
@pytest.mark.parametrize("capture", sorted(SAMPLES.glob("*.pcap")), ids=lambda p: p.name)
def test_no_english_on_a_chinese_page(capture: Path) -> None:
    pieces, own, data = _page(capture.name)
    found: dict[str, str] = {}
    for piece in pieces:
        for value in own:
            piece = piece.replace(value, " ")
        for word in english_words(piece, data):
            found.setdefault(word, piece.strip()[:80])
    assert found == {}


@pytest.mark.tshark
@pytest.mark.parametrize("capture", sorted(SAMPLES.glob("*.pcap")), ids=lambda p: p.name)
def test_chinese_punctuation_on_a_chinese_page(capture: Path) -> None:
    """After Chinese text a full-width colon, comma or semicolon; names listed with 、."""
    pieces, _, _ = _page(capture.name)
    found = sorted({f"{m.group(0)!r} in {p.strip()[:60]}" for p in pieces for m in BAD.finditer(p)})
    assert found == []


BAD = re.compile(r"[\u4e00-\u9fff）] ?[:;,]|\b[A-Z][A-Z_]+, [A-Z][A-Z_]+\b")


@pytest.mark.parametrize(
    ("text", "english"),
    [
        ("帧 3（rel 0）：客户端 UNKNOWN → SYN_SENT，23 B", ["rel", "UNKNOWN", "B"]),
        ("连接释放 four_way，异常 connection-refused", ["four_way", "connection-refused"]),
        ("SYN、ACK 序号=0 经 TCP 的 2MSL，SO_LINGER 与 close()，用 tshark 读 IPv6", []),
        ("Asks to open a connection", ["Asks", "to", "open", "a", "connection"]),
        ("请运行：pcapexplain report 抓包文件 --connection 编号", []),
        ("用 TCP Fast Open 请求", ["Fast", "Open"]),
        (
            "运行 `sudo apt-get install -y tshark`，见 README.md 的“The rubric format”，'points'",
            [],
        ),
        (
            "键 points 与 'min' 和 max，“The rubric format”",
            ["points", "max", "The", "rubric", "format"],
        ),
        ("需要 .pcap 或 .gz 文件，不是 file", ["file"]),
    ],
)
def test_the_check_tells_english_from_names(text: str, english: list[str]) -> None:
    assert english_words(text) == english


def test_the_punctuation_check() -> None:
    assert BAD.findall("结果: 完成；标志 SYN, ACK；客户端 , 服务器")
    assert not BAD.findall("结果：完成；标志 SYN、ACK；时间 22:13:20")


def test_no_english_in_the_chinese_catalogue() -> None:
    """Every Chinese text, also those no sample capture shows (placeholders left out)."""
    found = {}
    for key, entry in catalog(Lang.ZH).items():
        for template in [entry] if isinstance(entry, str) else entry.values():
            for word in english_words(re.sub(r"\{\w+\}", " ", template)):
                found.setdefault(word, key)
    assert found == {}
