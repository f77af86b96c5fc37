"""The index page from hand-made rows (no tshark): totals, escaping, languages, interruption."""

from __future__ import annotations

import re
from html import unescape

from pcapexplain import reporter
from pcapexplain.batch_model import CaptureRow, CaptureStatus, CaptureSummary
from pcapexplain.batch_writers import captures_csv_rows
from pcapexplain.index_context import build_index_context
from pcapexplain.model import Lang


def summary(packets: int, handshakes: dict[str, int], severities: dict[str, int]) -> CaptureSummary:
    return CaptureSummary(
        sha256="0" * 64,
        packets=packets,
        connections=sum(handshakes.values()),
        handshakes=handshakes,
        teardowns={"four_way": sum(handshakes.values())},
        severities=severities,
        warnings=(),
        tshark_version="4.0.17",
        reader="native",
    )


ROWS = [
    CaptureRow(
        "a & b/<i>x</i>.pcap",
        CaptureStatus.OK,
        report="reports/a___b--_i_x_i_.pcap-12345678.html",
        summary=summary(10, {"complete": 2}, {"info": 5}),
    ),
    CaptureRow(
        "warned.pcap",
        CaptureStatus.OK,
        report="reports/warned.pcap.html",
        summary=summary(7, {"complete": 1, "refused": 1}, {"warn": 1}),
        reused=True,
    ),
    CaptureRow(
        "bad.pcap", CaptureStatus.ERROR, error="bad.pcap holds no packets", hint="capture again"
    ),
    CaptureRow("later.pcap", CaptureStatus.INTERRUPTED),
    CaptureRow("notes.txt", CaptureStatus.SKIPPED, error="not a capture: no pcap or pcapng header"),
]


def render(lang: Lang, interrupted: bool) -> str:
    ctx = build_index_context(
        ROWS, folder="labs", lang=lang, interrupted=interrupted, generated_at="T", version="V"
    )
    return reporter.render_index(ctx)


def test_totals_add_up_over_the_analysed_captures() -> None:
    ctx = build_index_context(
        ROWS, folder="labs", lang=Lang.EN, interrupted=False, generated_at="T", version="V"
    )
    assert (ctx.packets, ctx.connections) == (17, 4)
    assert [(c.key, c.count) for c in ctx.handshakes] == [
        ("handshake:complete", 3),
        ("handshake:refused", 1),
    ]
    assert [(c.key, c.count) for c in ctx.severities] == [
        ("severity:warn", 1),
        ("severity:info", 5),
    ]
    assert [(c.key, c.count) for c in ctx.statuses] == [
        ("status:ok", 2),
        ("status:error", 1),
        ("status:skipped", 1),
        ("status:interrupted", 1),
    ]
    by_name = {r.capture: r for r in ctx.rows}
    # One warning outranks five infos when the table is sorted by anomalies.
    assert by_name["warned.pcap"].severity_key > by_name["a & b/<i>x</i>.pcap"].severity_key
    assert by_name["bad.pcap"].notes == ("bad.pcap holds no packets", "hint: capture again")
    assert "unchanged since the last run" in by_name["warned.pcap"].notes[-1]
    assert ctx.interrupted_note == ""


def test_names_are_escaped_and_links_quoted() -> None:
    html = render(Lang.EN, interrupted=False)
    assert "<i>x</i>" not in html
    assert "a &amp; b/&lt;i&gt;x&lt;/i&gt;.pcap" in html
    assert 'href="reports/a___b--_i_x_i_.pcap-12345678.html"' in html
    assert len(re.findall(r"<script\b", html)) == 1
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert csp is not None and unescape(csp.group(1)) == reporter.CSP


def test_an_interrupted_run_says_so_in_both_languages() -> None:
    english = render(Lang.EN, interrupted=True)
    assert "This run was interrupted: 3 of 4 captures are analysed" in english
    chinese = render(Lang.ZH, interrupted=True)
    assert '<html lang="zh-Hans">' in chinese
    assert "本次运行被中断：4 个抓包文件中已分析 3 个" in chinese
    assert "未分析（运行被中断）" in chinese


def test_captures_csv_rows_hold_the_index_counts() -> None:
    rows = {r["capture"]: r for r in captures_csv_rows(ROWS)}
    warned = rows["warned.pcap"]
    assert (warned["status"], warned["packets"], warned["connections"]) == ("ok", 7, 2)
    assert (warned["handshake_complete"], warned["handshake_refused"]) == (1, 1)
    assert (warned["anomalies_warn"], warned["anomalies_info"], warned["reused"]) == (1, 0, True)
    bad = rows["bad.pcap"]
    assert (bad["status"], bad["error"], bad["hint"], bad["packets"]) == (
        "error",
        "bad.pcap holds no packets",
        "capture again",
        "",
    )
    assert rows["later.pcap"]["status"] == "interrupted"
    assert list(rows["notes.txt"])[:10] == [
        "capture", "status", "error", "hint", "warning", "sha256", "packets", "connections",
        "reader", "report",
    ]  # fmt: skip
    assert (warned["reader"], bad["reader"]) == ("native", "")
