"""A capture whose snapshot length cut TCP headers (tcpdump -s 70): both readers find the cut
headers the file's bytes show, every command warns about them, and no sentence or answer treats
what the capture lost (options, tshark's analysis flags) as absent from the wire."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from pcapexplain import api, files, readers, retransmission
from pcapexplain.explanations import text
from pcapexplain.model import AnalysisFlag, CaptureAnalysis, Lang, Reader, TcpFlags
from pcapexplain.narrate import predecessors, story
from pcapexplain.retransmission import Cause
from pcapexplain.situations import Situation
from tests import shipped
from tests.builders import ACK, PSH, Conversation
from tests.conftest import SAMPLES

SAMPLE = SAMPLES / "snaplen_cut.pcap"
RESENT = int(AnalysisFlag.RETRANSMISSION)
DUP_ACK = int(AnalysisFlag.DUPLICATE_ACK)


def _cut_frames(path: Path) -> list[int]:
    """Frames whose captured bytes end inside the TCP header while the packet held all of it,
    read straight from the file (classic little-endian pcap, Ethernet, IPv4: the sample's)."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and struct.unpack_from("<I", data, 20)[0] == 1
    pos, frame, cut = 24, 0, []
    while pos + 16 <= len(data):
        captured, on_wire = struct.unpack_from("<II", data, pos + 8)
        packet = data[pos + 16 : pos + 16 + captured]
        pos += 16 + captured
        frame += 1
        tcp = 14 + (packet[14] & 0x0F) * 4
        header = (packet[tcp + 12] >> 4) * 4
        if captured < tcp + header <= on_wire:
            cut.append(frame)
    return cut


@pytest.fixture(scope="module")
def cut() -> list[int]:
    found = _cut_frames(SAMPLE)
    assert found, "the sample must hold cut headers"
    return found


# --------------------------------------------------------------------------------- readers


@pytest.mark.tshark
@pytest.mark.parametrize("reader", [Reader.NATIVE, Reader.TSHARK])
def test_both_readers_mark_exactly_the_headers_the_file_cut(reader: Reader, cut: list[int]) -> None:
    packets = readers.load(SAMPLE, reader=reader, digest=False).packets
    marked = [f for f, c in zip(packets.frame, packets.header_cut, strict=True) if c]
    assert marked == cut
    syn_rows = [i for i, f in enumerate(packets.flags) if f & TcpFlags.SYN]
    assert all(packets.header_cut[i] for i in syn_rows)  # 40 bytes of options in 36 kept
    assert all(packets.wscale[i] < 0 for i in syn_rows)  # the shift is beyond the cut


def test_the_warning_counts_the_cut_headers_and_names_the_first() -> None:
    headers = files.HeadersCut()
    headers.add([0, 0], [1, 2])
    assert headers.warning() == ()
    headers.add([0, 1, 0, 1, 1], [3, 4, 5, 6, 7])  # counted block after block, as read
    (warning,) = headers.warning()
    assert "3 segments" in warning and "frame 4" in warning


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
@pytest.mark.parametrize("command", ["explain", "connections"])
def test_commands_warn_in_one_line(command: str, lang: Lang, cut: list[int]) -> None:
    done = shipped.run(command, str(SAMPLE), "--lang", lang.value)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if "tcpdump -s 0" in ln]
    assert len(lines) == 1, done.stderr
    numbers = re.findall(r"\d+", lines[0].split("tcpdump")[0])
    assert str(len(cut)) in numbers and str(cut[0]) in numbers
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------- resent segments


def _resend_after(peer_cut: bool, dup_flags: int = 0) -> retransmission.Evidence:
    """A data segment, three ACKs of the peer (cut or not, flagged or not), the segment again."""
    c = Conversation()
    c.handshake()
    c.data(c.client, 1000)
    c.data(c.client, 1000)
    for _ in range(3):
        c.send(c.server, ACK, ack=c.next[c.client] - 1000, header_cut=peer_cut, analysis=dup_flags)
    c.send(c.client, ACK | PSH, 1000, seq=c.next[c.client] - 2000, analysis=RESENT)
    packets = c.columns()
    rows = list(range(len(packets)))
    directions = [0 if p.src == c.client else 1 for p in c.packets]
    resent = len(packets) - 1
    return retransmission.evidence_of(packets, rows, directions, [resent], None)[resent]


def test_a_resend_after_cut_acks_has_no_readable_cause() -> None:
    found = _resend_after(peer_cut=True)
    assert found.cause is Cause.OPTIONS_CUT and found.cut == 3


def test_the_same_resend_after_whole_acks_is_a_timer() -> None:
    found = _resend_after(peer_cut=False)
    assert found.cause in (Cause.TIMEOUT, Cause.EARLY) and found.cut == 0


def test_flagged_duplicate_acks_still_tell_a_fast_retransmit() -> None:
    assert _resend_after(peer_cut=True, dup_flags=DUP_ACK).cause is Cause.DUP_ACKS


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_resends_after_cut_headers_are_not_told_as_silence(lang: Lang, cut: list[int]) -> None:
    result = api.analyse(SAMPLE).result
    conn = result.connections[0]
    told = story(result, conn, lang, predecessors(result.connections).get(0))
    shown = shipped.run("explain", str(SAMPLE), "--lang", lang.value).stdout
    resent = [
        line
        for line in told.lines
        if line.situation is not None and "resent" in line.situation.value
    ]
    assert resent, "the sample resends data"
    for line in resent:
        sender = _sender(result, line.frame)
        before = [f for f in cut if f < line.frame and _sender(result, f) != sender]
        if line.situation is Situation.DATA_RESENT_OPTIONS_CUT:
            assert before, line.frame
        else:  # nothing of the peer's cut in between: a timer, as in the uncut capture
            assert line.situation is Situation.DATA_RESENT_TIMEOUT, line.frame
        assert line.text in shown
    cut_told = [ln for ln in resent if ln.situation is Situation.DATA_RESENT_OPTIONS_CUT]
    assert len(cut_told) >= 3  # the dropped full-sized segments, each after cut SACK ACKs
    assert not any("no duplicate ACK or SACK" in ln.text for ln in cut_told)


def _sender(result: CaptureAnalysis, frame: int) -> object:
    row = result.packets.frame.index(frame)
    return (result.packets.src[row], result.packets.sport[row])


# --------------------------------------------------------------------------------- grading

RUBRIC = """\
[[question]]
id = "client_wscale"
points = 1

[[question]]
id = "client_mss"
points = 1

[[question]]
id = "min_window"
points = 1
side = "client"

[[question]]
id = "client_isn"
points = 1
"""


@pytest.mark.tshark
def test_options_the_capture_cut_are_not_graded(tmp_path: Path) -> None:
    rubric = tmp_path / "lab.toml"
    rubric.write_text(RUBRIC, encoding="utf-8")
    done = shipped.run("check", str(SAMPLE), "--rubric", str(rubric), "--format", "json")
    assert done.returncode == 0, done.stderr
    items = {i["id"]: i for i in json.loads(done.stdout)["items"]}
    for ident in ("client_wscale", "min_window"):  # the shifts were cut off
        assert items[ident]["status"] == "unanswerable" and items[ident]["expected"] is None
        assert "snapshot length" in items[ident]["verdict"], ident
    # The MSS, the options' first 4 bytes, and the fixed header were kept: answered.
    packets = readers.load(SAMPLE, reader=Reader.TSHARK, digest=False).packets
    assert items["client_mss"]["expected"] == packets.mss[0] > 0
    assert items["client_isn"]["expected"] is not None


@pytest.mark.tshark
@pytest.mark.parametrize("reader", ["native", "tshark"])
def test_connections_say_the_handshake_options_were_cut(reader: str) -> None:
    done = shipped.run("connections", str(SAMPLE), "--format", "json", "--reader", reader)
    (row,) = json.loads(done.stdout)
    for side in ("client_options", "server_options"):
        assert row[side]["options_cut"] is True and row[side]["wscale"] is None, side
    whole = shipped.run("connections", str(SAMPLES / "lossy_transfer.pcap"), "--format", "json")
    (row,) = json.loads(whole.stdout)
    assert row["client_options"]["options_cut"] is False and row["client_options"]["wscale"]


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_the_report_shows_a_cut_option_as_not_captured(lang: Lang, tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    done = shipped.run("report", str(SAMPLE), "-o", str(page), "--lang", lang.value)
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    wscale = html.split(text(lang, "report.option.wscale"), 1)[1].split("</tr>", 1)[0]
    assert wscale.count(text(lang, "report.option_cut")) == 2  # the client's and the server's
