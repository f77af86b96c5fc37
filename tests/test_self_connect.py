"""A socket connected to itself, end to end: the real capture through the shipped commands.

sample_captures/self_connect.pcap is Linux's own self-connect (one socket bound to
10.77.1.1:45021 connecting to 10.77.1.1:45021, captured on `lo`): SYN, SYN-ACK, ACK, 8 bytes,
ACK, FIN, ACK, every one from and to the same address and port. The reconstructor's and the
anomaly's rules are unit-tested on hand-built lists (test_reconstructor, test_anomalies).
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from pcapexplain import api, zeek
from pcapexplain.model import CaptureInfo, ConnState, Lang, TcpFlags
from pcapexplain.narrate import story
from pcapexplain.native import load_capture
from pcapexplain.situations import Situation
from tests import shipped
from tests.builders import SELF, SYN, Conversation, connected_to_itself

SAMPLE = Path(__file__).resolve().parent.parent / "sample_captures" / "self_connect.pcap"


def _explain(*args: str) -> str:
    result = shipped.run("explain", str(SAMPLE), *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _frame_lines(story: str) -> dict[int, str]:
    found = {}
    for line in story.splitlines():
        match = re.match(r"\s*(?:frame|帧) (\d+) ·", line)
        if match:
            found[int(match.group(1))] = line
    return found


def test_explain_tells_the_socket_connected_to_itself() -> None:
    story = _explain()
    header = story.splitlines()[0]
    assert "handshake: simultaneous open" in header
    assert "close: simultaneous close" in header
    assert "one socket at both ends: it connected to itself" in header
    assert "the socket, client and server at once, CLOSED → SYN_SENT → SYN_RECEIVED → " in story
    assert "ESTABLISHED → FIN_WAIT_1 → CLOSING → TIME_WAIT." in story
    frames = _frame_lines(story)
    assert "is addressed to the socket that sent it" in frames[1]
    assert "States: the socket, client and server at once, CLOSED → SYN_SENT." in frames[1]
    assert "The socket answers its own SYN" in frames[2]
    assert "SYN_SENT → SYN_RECEIVED → ESTABLISHED." in frames[2]
    assert "ESTABLISHED → FIN_WAIT_1 → CLOSING." in frames[6]
    assert "acknowledges its own FIN" in frames[7] and "CLOSING → TIME_WAIT." in frames[7]
    assert "Flagged: Socket connected to itself" in frames[1]
    for wrong in ("unanswered", "fits no step", "SYN unanswered", "Simultaneous open."):
        assert wrong not in story


def test_explain_in_chinese() -> None:
    story = _explain("--lang", "zh")
    header = story.splitlines()[0]
    assert "连接建立：同时打开" in header
    assert "两端是同一个套接字：它连上了它自己" in header
    frames = _frame_lines(story)
    assert "套接字应答自己的 SYN" in frames[2]
    assert "该套接字（既是客户端也是服务器）SYN_SENT → SYN_RECEIVED → ESTABLISHED" in frames[2]
    assert "ESTABLISHED → FIN_WAIT_1 → CLOSING" in frames[6]
    assert "标记：套接字连上了它自己" in frames[1]
    assert "无应答" not in story


@pytest.mark.tshark
def test_both_readers_give_the_same_verdicts() -> None:
    rows = {}
    for reader in ("native", "tshark"):
        result = shipped.run("connections", str(SAMPLE), "--format", "json", "--reader", reader)
        assert result.returncode == 0, result.stderr
        (row,) = json.loads(result.stdout)
        rows[reader] = {k: v for k, v in row.items() if k not in ("reader", "tshark_version")}
    assert rows["native"] == rows["tshark"]
    row = rows["native"]
    assert (row["client_ip"], row["client_port"]) == (row["server_ip"], row["server_port"])
    assert (row["handshake"], row["teardown"]) == ("simultaneous_open", "simultaneous")
    assert (row["closed_first"], row["time_wait"]) == ("both", "both")
    assert row["client_final_state"] == row["server_final_state"] == "TIME_WAIT"
    assert row["inferred"] == []  # nothing of the server is missing: it is the client
    assert row["anomalies"] == ["self-connect", "window-update"]
    assert row["retransmissions_to_server"] == 0  # tshark's label on the SYN-ACK is the handshake
    assert (row["zeek_state"], row["zeek_history"]) == ("SH", "SADF")


def test_zeek_view_has_a_responder_that_never_spoke() -> None:
    """What Zeek would log (zeek.py, _SILENT): every packet is the originator's, so the responder
    stays INACTIVE and the originator, SYN_SENT until its FIN, ends CLOSED: SH. Its SYN-ACK
    repeats the SYN's seq, so it adds no H."""
    result = shipped.run("connections", str(SAMPLE), "--format", "zeek")
    assert result.returncode == 0, result.stderr
    (row,) = [ln.split("\t") for ln in result.stdout.splitlines() if ln[:1] != "#"]
    assert row[2:6] == ["10.77.1.1", "45021", "10.77.1.1", "45021"]
    assert "SH" in row and "SADF" in row
    # The same on a hand-built self-connect, and no packet was counted for the responder.
    c = connected_to_itself()
    c.data(c.client, 8)
    c.fin(c.client)
    packets = c.columns()
    (conn,) = zeek.zeek_connections(packets, checksums_validated=False)
    assert (conn.state(), conn.history_text()) == (ConnState.SH, "SADF")
    assert (conn.orig_side.packets, conn.resp_side.packets) == (5, 0)


def test_report_tells_no_unanswered_syn(tmp_path: Path) -> None:
    for lang, itself in (("en", "Socket connected to itself"), ("zh", "套接字连上了它自己")):
        page = tmp_path / f"self-{lang}.html"
        result = shipped.run("report", str(SAMPLE), "--lang", lang, "-o", str(page))
        assert result.returncode == 0, result.stderr
        html = page.read_text(encoding="utf-8")
        body = re.sub(r"<style.*?</style>|<script.*?</script>", "", html, flags=re.S)
        words = unescape(re.sub(r"<[^>]+>", " ", body))
        assert itself in words
        assert "syn-unanswered" not in html
        for wrong in ("SYN unanswered", "unanswered", "fits no step", "无应答"):
            assert wrong not in words, (lang, wrong)


def test_the_native_reader_labels_only_the_synack() -> None:
    """tshark's rules on one 4-tuple whose two directions are one: the SYN-ACK repeats the SYN's
    seq and is called a retransmission; the 8 bytes and the ACKs are not resent or duplicated."""
    packets = load_capture(str(SAMPLE)).packets
    flags = {int(TcpFlags.SYN | TcpFlags.ACK)}
    labelled = [bool(packets.analysis[r] & 1) for r in range(len(packets))]
    assert [packets.flags[r] in flags for r in range(len(packets))] == labelled
    analysis = api.analyse_capture(load_capture(str(SAMPLE)))
    assert analysis.connections[0].self_connect


def _told(c: Conversation, lang: Lang = Lang.EN) -> list[tuple[int | None, Situation | None, str]]:
    packets = c.columns()
    result = api.analyse_columns(CaptureInfo("self.pcap", 1, "0", "T", len(packets)), packets)
    told = story(result, result.connections[0], lang)
    return [(line.frame, line.situation, line.text) for line in told.lines if not line.is_summary]


def test_story_of_a_self_connect_that_is_reset() -> None:
    c = connected_to_itself()
    c.data(c.client, 8)
    c.rst(c.client)
    told = _told(c)
    opened = [Situation.SELF_SYN, Situation.SELF_SYNACK]
    assert [s for _, s, _ in told] == [*opened, Situation.SELF_RST]
    assert "aborts its connection with itself (ESTABLISHED → CLOSED)" in told[-1][2]


def test_story_of_a_self_connect_whose_syn_never_came_back() -> None:
    """Nothing shows the SYN came back: no sentence says the socket received it."""
    c = Conversation(client=SELF, server=SELF, step=1.0)
    for _ in range(3):
        c.send(c.client, SYN, seq=5000)
    told = _told(c)
    assert [s for _, s, _ in told] == [
        Situation.SELF_SYN,
        Situation.SYN_AGAIN,
        Situation.SYN_AGAIN_SAME,
    ]
    assert all("SYN_RECEIVED" not in text for _, _, text in told)
    assert "Only a SYN-ACK can show that it did" in told[0][2]
