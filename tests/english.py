"""The one check that a Chinese text holds no English: the report's pages, the commands' lines
and the catalogue go through english_words.

Allowed: flag and state names, protocol abbreviations, numbers, addresses and units, names of
programs and formats, what a user types (options, commands after `pcapexplain`, code in
backticks, a quoted value or key, a metavar), file names and paths, and the data of the run
(names cut out of the text, words allowed whole). pcapexplain's own codes (outcome values,
anomaly slugs) are English words: a Chinese text shows their labels instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pcapexplain.model import (
    AnomalySlug,
    CapturePoint,
    Closer,
    Handshake,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.zeek import ConnState

NAMES = {s.name for s in TcpState if s is not TcpState.UNKNOWN} | {f.name or "" for f in TcpFlags}
CODES = {v.value for enum in (Handshake, Teardown, Closer, CapturePoint, AnomalySlug) for v in enum}
# Abbreviations Chinese textbooks use as they are (谢希仁 writes TCP, ISN, MSS, RFC, 2MSL …).
ABBREVIATIONS = {
    *("TCP", "IP", "IPv4", "IPv6", "UDP", "ICMP", "ISN", "MSS", "SACK", "D-SACK", "RTT", "RTO"),
    *("MSL", "2MSL", "RACK", "PAWS", "TSval", "RFC", "TFO", "NAT", "TTL", "ECN", "TSO", "GSO"),
    *("SHA-256", "UTC", "ID", "CPU", "MTU", "JSON", "TOML", "UTF-8", "FIFO", "rwnd"),
    "CE",  # ECN's "congestion experienced" codepoint (RFC 3168), named as in the IP header
    # 谢希仁's smoothed RTT and its deviation (RFC 6298's SRTT, RTTVAR), and his estimators
    *("RTTS", "RTTD", "SampleRTT", "EstimatedRTT"),
} | {state.value for state in ConnState}  # Zeek's conn_state codes (SF, REJ, …)
# Programs, formats, scans, error names, capture-file variants and pcapng blocks, and a usage
# line's metavars; everything else English is a translation gap.
PROPER_NAMES = {
    *("AIX", "Ixia", "SHB", "IDB", "SPB", "EPB", "PB", "Unicode"),
    *(
        "tshark",
        "pcapexplain",
        "Wireshark",
        "Zeek",
        "Linux",
        "Windows",
        "BSD",
        "OpenBSD",
        "macOS",
        "nmap",
    ),
    *("sysctl", "JavaScript", "NULL", "Xmas", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "Karn"),
    *("README.md", "Dask", "Telnet"),
    *("Python", "tcpdump", "pcap", "pcapng", "gzip"),
    *("OPTIONS", "COMMAND", "ARGS"),
}
UNITS = {"kB", "MB", "GB"}
# What Wireshark and Zeek show, as a reader types or greps it: display-filter fields and log
# names (tcp.analysis.retransmission, weird.log), conn.log columns, and Zeek's history letters.
FILTER_FIELD = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
LOG_COLUMNS = {"history", "uid"}
HISTORY = re.compile(r"[ShADadFfRrCcGgTtWwIiQq^]+(/[ShADadFfRrCcGgTtWwIiQq^]+)?")
# File names and absolute paths (a path starts a word: TSO/GSO is no path).
PATHS = re.compile(r"(?<!\S)(?:/[\w.-]+)+/?|[\w-]+\.(?:pcapng|pcap|toml|html|csv|txt)\b")
ESCAPES = re.compile(r"\\x[0-9a-f]{2}")  # a control character as printable() shows it
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_+\-./()']*")


def english_words(
    text: str, names: Iterable[str] = (), data: frozenset[str] = frozenset()
) -> list[str]:
    """The words of text that are English prose rather than names, codes, numbers or data.

    names: strings of this run cut out of the text first (paths, file names, addresses);
    data: words allowed whole (Zeek's history letters of the capture, a user's own words)."""
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, " ")
    text = ESCAPES.sub(" ", PATHS.sub(" ", text))
    return [
        m.group(0)
        for m in WORD.finditer(text)
        if m.group(0).strip(".,;:()'") not in data and not _allowed(m.group(0), text[: m.start()])
    ]


def _allowed(word: str, before: str) -> bool:
    core = word.strip(".,;:()'/-")
    if before.endswith("weird.log："):  # Zeek's name of the event, as its log writes it
        return True
    if before.endswith(("[", "{")) or (
        before.count("“") > before.count("”") and "Wireshark" in before
    ):
        return True  # a rubric's table name, a metavar, or Wireshark's own words quoted
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
    if before.endswith(("--", "pcapexplain ")) or re.search(r"(?<![\w-])-$", before):
        return True  # a command line: its options (--lang, -c) and commands
    if before.count("`") % 2 or (before.endswith("'") and word.endswith("'")):
        return True  # code, or a key's or a value's name in quotes, as it is typed
    if "README.md" in before and before.count("“") > before.count("”"):
        return True  # the title of a README section
    if before.endswith(".") and core.islower():  # a file name's extension: .pcap, .gz
        return True
    # Identifiers a reader types or greps for: SO_LINGER, tcp_fin_timeout, close().
    return "_" in core or word.rstrip(".,;:'").endswith("()")
