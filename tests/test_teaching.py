"""What the stories of the sample captures teach, sentence by sentence, in both languages.

Each test pins one moment a student must not be taught wrongly: which close a capture shows, who
passes through CLOSING, what a closed port's RST acknowledges, how a simultaneous open or a stale
request really unfolds, why reusing a port pair in TIME_WAIT is safe, what the SYN retries' waits
were, and the concept notes' claims about sequence numbers, 2MSL and the stale request.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from markupsafe import escape

from pcapexplain import api
from pcapexplain.cli import main
from pcapexplain.explanations import finding_texts, text
from pcapexplain.model import (
    CaptureAnalysis,
    CaptureInfo,
    Connection,
    Handshake,
    Inference,
    Lang,
    PacketColumns,
    PacketStates,
    TcpState,
)
from pcapexplain.narrate import (
    NarrativeLine,
    Story,
    flags_label,
    narrate,
    predecessors,
    state_path,
    story,
)
from pcapexplain.situations import Situation
from tests import shipped
from tests.builders import ACK, FIN, PSH, RETRANSMISSION, RST, SYN, Conversation, client_side_only

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
T = TcpState
EN, ZH = Lang.EN, Lang.ZH


@cache
def _sample(name: str) -> CaptureAnalysis:
    return api.analyse(SAMPLES / name).result


def _story(name: str, lang: Lang = EN, connection: int = 0) -> Story:
    result = _sample(name)
    before = predecessors(result.connections)
    return story(result, result.connections[connection], lang, before.get(connection))


def _line(told: Story, frame: int) -> NarrativeLine:
    return next(line for line in told.lines if line.frame == frame)


def _built(conv: Conversation) -> CaptureAnalysis:
    return api.analyse_columns(CaptureInfo("built", 0, "", "TSHARK", 0), conv.columns())


# ------------------------------------------------------------------------------ handshakes


def _third_ack_lost() -> Conversation:
    """A handshake whose third ACK did not take effect: the SYN-ACK again, the ACK again."""
    c = Conversation()
    c.handshake()
    c.send(c.server, SYN | ACK, seq=c.server_isn)
    c.ack(c.client)
    return c


def _again(c: Conversation) -> Situation | None:
    told = narrate(*_analysed(c), "en")
    return next(line.situation for line in told if line.frame == 5)


def _analysed(c: Conversation) -> tuple[PacketColumns, PacketStates, Connection]:
    result = _built(c)
    return result.packets, result.states, result.connections[0]


def test_the_ack_again_took_effect_only_where_the_server_shows_it() -> None:
    """With nothing after it, nothing shows the server took it: the one before was not."""
    c = _third_ack_lost()
    assert _again(c) is Situation.HS_ACK_AGAIN_UNSHOWN
    c.data(c.server)  # the server's next segment, the client silent since: this ACK did it
    assert _again(c) is Situation.HS_ACK_AGAIN
    c = _third_ack_lost()
    c.data(c.client)  # the client's request, itself an ACK, came first: either took it
    c.ack(c.server)
    assert _again(c) is Situation.HS_ACK_AGAIN_OR_LATER


@pytest.mark.tshark
@pytest.mark.parametrize("name", ("handshake_ack_lost.pcap", "accept_queue_full.pcap"))
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_capture_ending_after_the_ack_again_does_not_claim_it_arrived(
    name: str, lang: Lang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The samples cut after the client's last third ACK: the server never answers it there."""
    last = {"handshake_ack_lost.pcap": 5, "accept_queue_full.pcap": 17}[name]
    cut = _first_frames(SAMPLES / name, last, tmp_path / name)
    assert main(["explain", str(cut), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    (line,) = [row for row in out.splitlines() if row.startswith(_frame_head(lang, last))]
    assert (
        text(
            lang,
            "narr.hs_ack_again_unshown",
            ack=1,
            receiver_before="SYN_RECEIVED",
            receiver_after="ESTABLISHED",
        )
        in line
    )


def _first_frames(path: Path, count: int, out: Path) -> Path:
    """A classic pcap's first count records, as a capture stopped there writes them."""
    data = path.read_bytes()
    end = 24  # the file header; each record: a 16-byte header, then its captured length
    for _ in range(count):
        end += 16 + int.from_bytes(data[end + 8 : end + 12], "little")
    out.write_bytes(data[:end])
    return out


def _frame_head(lang: Lang, frame: int) -> str:
    return "  " + text(lang, "ui.frame", frame=frame) + " ·"


def test_a_syn_whose_first_copy_reached_the_old_connection_is_told_as_sent_again() -> None:
    """A client that lost its connection opens a new one from the same port: its SYN lands in
    the old, still synchronized connection; the copy it resends opens the new one."""
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    c.send(c.client, SYN, seq=90000)  # a new ISN, into the old connection
    c.ack(c.server)  # the challenge ACK, with the old numbers
    c.send(c.client, RST, seq=c.packets[-1].ack)
    c.send(c.client, SYN, seq=90000)  # the same SYN again
    c.send(c.server, SYN | ACK, seq=70000, ack=90001)
    c.send(c.client, ACK, seq=90001, ack=70001)
    result = _built(c)
    assert [list(conn.packet_index) for conn in result.connections][1][0] == 8
    before = predecessors(result.connections)
    told = story(result, result.connections[1], EN, before.get(1))
    assert _line(told, 9).situation is Situation.SYN_AGAIN_NEW  # frame 9: row 8
    assert "0.030 s after its first copy" in _line(told, 9).text
    alone = story(result, result.connections[1], EN)  # no connection before: a first SYN
    assert _line(alone, 9).situation is Situation.SYN


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_client_reconnects_tells_the_new_connections_syn_as_sent_again(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frame 11 is frame 8 sent again (the same ISN); frame 8 stays in the old connection."""
    name = "client_reconnects.pcap"
    told = _story(name, lang, connection=1)
    assert _line(told, 11).situation is Situation.SYN_AGAIN_NEW
    assert 8 in {line.frame for line in _story(name, lang).lines}
    assert main(["explain", str(SAMPLES / name), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    resent = text(
        lang,
        "narr.syn_again_new",
        seq_raw=3738016505,
        wait="0.011",
        sender=text(lang, "who.client"),
        sender_after="SYN_SENT",
    )
    assert resent in out


# ---------------------------------------------------------------------------------- closes


@pytest.mark.tshark
def test_lossy_transfer_close_is_four_way_with_a_half_close() -> None:
    """The FIN in 204 follows the ACK of the client's FIN (202, with 22 bytes): not three-way."""
    told = _story("lossy_transfer.pcap")
    ack_and_data, fin = _line(told, 202), _line(told, 204)
    assert ack_and_data.situation is Situation.FINACK_FIRST_DATA
    assert "22 bytes" in ack_and_data.text and "half-close" in ack_and_data.text
    assert fin.situation is Situation.FIN_PASSIVE
    assert "three segments" not in fin.text and "FIN_WAIT_2" in fin.text
    assert "三个报文段" not in _line(_story("lossy_transfer.pcap", ZH), 204).text


@pytest.mark.tshark
def test_simultaneous_close_says_who_passed_through_closing() -> None:
    """The client's first FIN was lost: it passes CLOSING; the server goes FIN_WAIT_2."""
    result = _sample("simultaneous_close.pcap")
    conn = result.connections[0]
    assert T.CLOSING in state_path(result.states, conn, True)
    server = state_path(result.states, conn, False)
    assert T.CLOSING not in server and server[-3:] == (T.FIN_WAIT_1, T.FIN_WAIT_2, T.TIME_WAIT)
    for lang in (EN, ZH):
        told = story(result, conn, lang)
        nine, ten, eleven, twelve = (_line(told, f) for f in (9, 10, 11, 12))
        assert [x.situation for x in (nine, ten, eleven, twelve)] == [
            Situation.FIN_CROSSING,
            Situation.FINACK_FROM_CLOSING,
            Situation.FIN_AGAIN_DELIVERED,
            Situation.FINACK_CLOSING,
        ]
        assert "TIME_WAIT" not in ten.text
        assert "FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT" in told.notes[0]
    both = "both go through CLOSING", "Both sides go through CLOSING", "都经过 CLOSING"
    for lang in (EN, ZH):
        for key in ("who_time_wait", "closing", "close_states"):
            assert not any(b in text(lang, f"concept.{key}.body") for b in both)
        assert not any(b in text(lang, "teardown.simultaneous.why") for b in both)
    assert "Only a side that receives the peer's FIN before" in text(
        EN, "concept.close_states.body"
    )


def test_three_way_close_teaches_fin_wait_1_straight_to_time_wait() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    result = _built(c)
    for lang, words in ((EN, "straight from FIN_WAIT_1 to TIME_WAIT"), (ZH, "直接进入 TIME_WAIT")):
        line = story(result, result.connections[0], lang).lines[4]
        assert line.situation is Situation.FIN_THREE_WAY and words in line.text
        assert "FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT" in line.text  # the state clause


@pytest.mark.tshark
def test_half_close_data_is_told_segment_by_segment() -> None:
    told = _story("half_close.pcap")
    after_fin = [line for line in told.lines if line.frame and 8 <= line.frame <= 13]
    assert [line.is_summary for line in after_fin] == [False] * 6
    assert {line.situation for line in after_fin} == {
        Situation.DATA_HALF_CLOSE,
        Situation.ACK_HALF_CLOSE,
    }
    assert all("CLOSE_WAIT" in line.text or "FIN_WAIT_2" in line.text for line in after_fin)
    assert "半关闭" in _line(_story("half_close.pcap", ZH), 8).text


def test_data_may_ride_on_the_third_handshake_segment() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.send(c.server, SYN | ACK)
    c.send(c.client, ACK | PSH, 40)
    result = _built(c)
    for lang, words in (
        (EN, "may send data with the third segment"),
        (ZH, "第三个报文段中携带数据"),
    ):
        third = story(result, result.connections[0], lang).lines[2]
        assert third.situation is Situation.HS_ACK_DATA and words in third.text


@pytest.mark.tshark
def test_zero_window_probes_are_not_keep_alives() -> None:
    for lang, probe, keep in ((EN, "zero-window probe", "keep-alive"), (ZH, "零窗口探测", "保活")):
        told = _story("zero_window.pcap", lang)
        runs = [line for line in told.lines if line.frame in (10, 12)]
        assert len(runs) == 2 and all(probe in line.text and keep not in line.text for line in runs)
        answer = _line(told, 11)
        assert answer.situation is Situation.ZERO_WINDOW and keep not in answer.text


# ---------------------------------------------------------------------- closed ports, stray


@pytest.mark.tshark
def test_closed_port_answers_count_syn_and_fin_in_the_ack() -> None:
    told = _story("crafted_illegal_flags.pcap")
    refused = _line(told, 2)
    assert refused.situation is Situation.RST_REFUSED
    assert "ack 1002" in refused.text and "seq 1000" in refused.text and ", 2 (" in refused.text
    assert "ISN + 1" not in refused.text
    for frame, conn in ((4, 1), (6, 2)):
        result = _sample("crafted_illegal_flags.pcap")
        assert result.connections[conn].handshake is Handshake.STRAY
        for lang in (EN, ZH):
            line = _line(_story("crafted_illegal_flags.pcap", lang, conn), frame)
            assert line.situation is Situation.RST_CLOSED_PORT
            assert "3.10.7.1" in line.text
            assert "open connection" not in line.text and "SO_LINGER" not in line.text
    probe = _line(_story("crafted_illegal_flags.pcap", EN, 2), 5)
    assert (probe.client_before, probe.client_after) == (T.CLOSED, T.CLOSED)
    assert (probe.server_before, probe.server_after) == (T.CLOSED, T.CLOSED)
    no_flags = _line(_story("crafted_illegal_flags.pcap", EN, 1), 3).flags
    assert no_flags is not None and flags_label(no_flags, EN) == "no flags"
    assert flags_label(no_flags, ZH) != "no flags"


@pytest.mark.tshark
def test_stray_verdict_in_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["connections", str(SAMPLES / "crafted_illegal_flags.pcap"), "--format", "json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["handshake"] for r in rows] == ["refused", "stray", "stray"]
    assert [r["teardown"] for r in rows] == ["none"] * 3
    assert [r["client_final_state"] for r in rows[1:]] == ["CLOSED", "CLOSED"]


# ------------------------------------------------------------------------------ openings


@pytest.mark.tshark
def test_simultaneous_open_server_passes_syn_sent() -> None:
    result = _sample("crafted_simultaneous_open.pcap")
    conn = result.connections[0]
    assert state_path(result.states, conn, False)[:4] == (
        T.CLOSED,
        T.SYN_SENT,
        T.SYN_RECEIVED,
        T.ESTABLISHED,
    )
    second_syn = _line(story(result, conn, EN), 2)
    assert "server CLOSED → SYN_SENT" in second_syn.text
    assert "SYN_RECEIVED" not in second_syn.text.split("States:")[1].split(";")[1]


@pytest.mark.tshark
@pytest.mark.parametrize("lang", [EN, ZH])
def test_crossed_synack_establishes_the_server_before_the_next_segment(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fig. 7: the client's SYN-ACK (frame 3) crossed the server's (frame 4), so it arrives after
    frame 4 left, and, one direction arriving in order, before frame 5: frame 3 must not say its
    arrival changes nothing, and frame 5 must credit that SYN-ACK, not itself, with ESTABLISHED."""
    sample = str(SAMPLES / "crafted_simultaneous_open.pcap")
    assert main(["explain", sample, "--lang", lang.value]) == 0
    lines = capsys.readouterr().out.splitlines()
    frame = "frame" if lang is EN else "帧"
    third = next(line for line in lines if line.lstrip().startswith(f"{frame} 3 · "))
    fifth = next(line for line in lines if line.lstrip().startswith(f"{frame} 5 · "))
    if lang is EN:
        assert "changes nothing there on arrival" not in third
        assert "before the client's next segment does" in third
        assert "The SYN-ACK that the client sent, which crossed the one of the server" in fifth
        assert "moved the server from SYN_RECEIVED to ESTABLISHED" in fifth
    else:
        assert "到达时不改变" not in third and "先于客户端的下一个报文段到达" in third
        assert "先到达服务器" in fifth and "SYN_RECEIVED 进入 ESTABLISHED" in fifth
    assert fifth.rstrip(".。").endswith("SYN_RECEIVED → ESTABLISHED")  # the replay agrees


@pytest.mark.tshark
@pytest.mark.parametrize(
    ("name", "stale"),
    [("crafted_old_duplicate_syn.pcap", 0), ("crafted_old_duplicate_syn_at_client.pcap", 1)],
)
def test_stale_request_is_told_alike_wherever_captured(name: str, stale: int) -> None:
    result = _sample(name)
    conn = result.connections[stale]
    assert conn.handshake is Handshake.OLD_DUPLICATE
    assert set(state_path(result.states, conn, True)) == {T.CLOSED}
    for lang in (EN, ZH):
        rst = story(result, conn, lang).lines[-1]
        assert rst.situation is Situation.RST_OLD_DUPLICATE
        assert "Reset of an open connection" not in rst.text and "复位一个已建立" not in rst.text


@pytest.mark.tshark
def test_syn_retries_tell_the_waits_the_capture_shows() -> None:
    told = _story("syn_unanswered.pcap")
    first, second = _line(told, 2), _line(told, 3)
    assert first.situation is Situation.SYN_AGAIN and "1.000 s after the first" in first.text
    assert second.situation is Situation.SYN_AGAIN_DOUBLED and "2.016 s" in second.text
    assert "doubling each time" not in first.text + second.text


def test_fixed_syn_retries_are_not_called_doubling() -> None:
    c = Conversation(step=1.0)
    for _ in range(4):
        c.send(c.client, SYN, seq=1000, advance=False)
    result = _built(c)
    for lang in (EN, ZH):
        lines = story(result, result.connections[0], lang).lines
        assert [line.situation for line in lines[2:]] == [Situation.SYN_AGAIN_SAME] * 2
        assert "RFC 6298 §5.5" not in lines[2].text


@pytest.mark.tshark
def test_port_reuse_in_time_wait_says_why_it_is_safe() -> None:
    for lang, words in (
        (EN, ("65,537 beyond", "RFC 6191", "TSval", "TIME_WAIT")),
        (ZH, ("大 65,537", "RFC 6191", "TSval", "TIME_WAIT")),
    ):
        syn = _line(_story("port_reuse_time_wait.pcap", lang, 1), 12)
        for word in words:
            assert word in syn.text, word
        assert syn.context_states == (T.TIME_WAIT,)


# ------------------------------------------------------------------------- inference shown


def test_a_fin_proven_first_in_a_one_sided_capture_claims_nothing_of_the_unseen_peer() -> None:
    """The client resends its FIN, then acknowledges one more: it closed first, but whether
    either copy reached the server, open or closing, the capture cannot show."""
    c = client_side_only(23, 44)
    c.ack(c.client)
    c.fin(c.client)
    c.send(c.client, FIN | ACK, seq=c.next[c.client] - 1, analysis=RETRANSMISSION)
    c.next[c.server] += 1  # the server's FIN, not captured
    c.ack(c.client)
    result = _built(c)
    conn = result.connections[0]
    for lang in (EN, ZH):
        told = story(result, conn, lang)
        kinds = [line.situation for line in told.lines[-3:]]
        assert kinds == [
            Situation.FIN_FIRST_PEER_UNSEEN,
            Situation.FIN_AGAIN_PEER_UNSEEN,
            Situation.ACK_PEER_UNSEEN,
        ]
        for line in told.lines[-3:-1]:
            assert "CLOSE_WAIT" not in line.text and "CLOSING" not in line.text


def test_fast_open_fin_with_the_synack_missed_is_one_account() -> None:
    c = Conversation()
    c.send(c.client, SYN, 20, tfo=True)
    c.next[c.server] += 1
    c.send(c.client, FIN | ACK)
    result = _built(c)
    conn = result.connections[0]
    assert conn.handshake is Handshake.COMPLETE
    for lang in (EN, ZH):
        told = story(result, conn, lang)
        fin = told.lines[1]
        # Its ack may already cover a server FIN (sent with data on the missed SYN-ACK's heels):
        # no FIN_WAIT_1, no active close.
        assert fin.situation is Situation.FIN_ORDER_UNKNOWN
        assert "FIN_WAIT_1" not in fin.text
        assert text(lang, "ui.inferred.synack_not_captured") in told.notes


@pytest.mark.tshark
def test_inference_reaches_the_contract_and_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capture = str(SAMPLES / "crafted_old_duplicate_syn_at_client.pcap")
    assert main(["connections", capture, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["inferred"] for r in rows] == [[], ["roles", "syn_not_captured"]]
    out = tmp_path / "r.html"
    assert main(["report", capture, "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert text(EN, "ui.inferred.syn_not_captured") in html
    assert html.count('class="inferred" title="Inferred:') == 1


# ------------------------------------------------------------------ one direction captured


def _client_only_close(*, fin_again_acks_more: bool) -> Conversation:
    """A capture of the client's packets only: handshake, a request, its FIN; then, as a BSD
    stack sends it, the FIN again on the segment that acknowledges the server's (unseen) FIN,
    or, as Linux does, a plain ACK of it."""
    c = client_side_only(20, 40)
    c.send(c.client, FIN | ACK)
    c.next[c.server] += 1  # the server's FIN, not captured
    if fin_again_acks_more:
        c.send(c.client, FIN | ACK, seq=c.next[c.client] - 1, analysis=RETRANSMISSION)
    else:
        c.send(c.client, ACK)
    return c


@pytest.mark.parametrize("acks_more", [True, False])
def test_a_capture_without_the_servers_packets_claims_nothing_of_its_fin(acks_more: bool) -> None:
    result = _built(_client_only_close(fin_again_acks_more=acks_more))
    conn = result.connections[0]
    assert conn.inferred[-1] is Inference.SERVER_NOT_CAPTURED
    assert [a.slug for a in result.anomalies] == []  # no CLOSE_WAIT lingering, no resent FIN
    for lang in (EN, ZH):
        told = story(result, conn, lang)
        assert text(lang, "ui.inferred.server_not_captured") in told.notes
        if acks_more:
            again = _line(told, 5)
            assert again.situation is Situation.FIN_AGAIN_ACKS_MORE
            assert text(lang, "anomaly.close-wait-lingering.title") not in again.text


def test_the_server_seen_silent_after_a_fin_still_lingers_in_close_wait() -> None:
    c = _client_only_close(fin_again_acks_more=False)
    c.packets.pop()  # not the ACK of the server's FIN: the server never sent one
    c.send(c.server, ACK, ack=c.next[c.client])  # the server is in the capture, with no FIN
    result = _built(c)
    assert Inference.SERVER_NOT_CAPTURED not in result.connections[0].inferred
    assert [a.slug.value for a in result.anomalies] == ["close-wait-lingering"]


def test_a_fin_resent_by_a_timer_after_a_plain_ack_is_still_a_retransmission() -> None:
    c = Conversation()
    c.handshake()
    c.fin(c.client)
    c.send(c.server, FIN | ACK, ack=c.next[c.client] - 1)  # the FINs cross; the client's is lost
    c.ack(c.client)  # acknowledges the server's FIN: nothing new is acknowledged after it
    c.clock += 0.2
    c.send(c.client, FIN | ACK, seq=c.next[c.client] - 1, analysis=RETRANSMISSION)
    c.ack(c.server)
    result = _built(c)
    assert "fin-retransmitted" in [a.slug.value for a in result.anomalies]
    assert _line(story(result, result.connections[0], EN), 7).situation in (
        Situation.FIN_AGAIN,
        Situation.FIN_AGAIN_DELIVERED,
    )


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_explain_on_a_one_direction_capture_says_the_server_was_not_captured(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = str(SAMPLES / "one_direction.pcap")
    assert main(["explain", capture, "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    assert text(lang, "ui.inferred.server_not_captured") in out
    assert text(lang, "anomaly.close-wait-lingering.title") not in out


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_explain_on_the_servers_packets_alone_finds_the_handshake_complete(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = str(SAMPLES / "one_direction_server.pcap")
    assert main(["explain", capture, "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    for key in ("ack_not_captured", "client_not_captured"):
        assert text(lang, f"ui.inferred.{key}") in out
    assert text(lang, "anomaly.handshake-incomplete.title") not in out
    assert main(["connections", capture, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["handshake"], row["closed_first"]) == ("complete", "server")


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_lost_third_ack_is_told_as_lost_and_the_next_one_completes_the_handshake(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """handshake_ack_lost.pcap: frame 3 (the ACK) never reached the server, which resends its
    SYN-ACK (frame 4); the ACK again (frame 5) completes the handshake."""
    told = _story("handshake_ack_lost.pcap", lang)
    kinds = [_line(told, frame).situation for frame in (3, 4, 5)]
    # The client's request (6) comes before the server's next segment (7): either completed it.
    again = Situation.HS_ACK_AGAIN_OR_LATER
    assert kinds == [Situation.HS_ACK_UNDELIVERED, Situation.SYNACK_AGAIN, again]
    assert main(["explain", str(SAMPLES / "handshake_ack_lost.pcap"), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    for frame in (3, 4, 5):
        assert _line(told, frame).text in out
    stays = text(lang, "narr.side_same", side=text(lang, "side.server"), state="SYN_RECEIVED")
    assert stays in out


@pytest.mark.tshark
def test_a_lost_last_ack_is_answered_again_from_time_wait() -> None:
    """last_ack_lost.pcap, the textbook reason for 2MSL: the client's last ACK (frame 11) is lost,
    the server's FIN comes again (12), and the client answers it from TIME_WAIT (13)."""
    told = _story("last_ack_lost.pcap")
    kinds = [_line(told, frame).situation for frame in (11, 12, 13)]
    assert kinds == [Situation.FINACK_UNDELIVERED, Situation.FIN_AGAIN, Situation.FINACK_AGAIN]
    result = _sample("last_ack_lost.pcap")
    assert "lost-final-ack" in [a.slug.value for a in result.anomalies]
    (conn,) = result.connections
    assert (conn.time_wait.value, conn.server_final) == ("client", T.CLOSED)


# ------------------------------------------------------------------------------ the notes


@pytest.mark.parametrize("lang", tuple(Lang))
def test_concept_notes_say_what_acks_and_isns_really_are(lang: Lang) -> None:
    handshake = text(lang, "concept.three_way_handshake.body")
    numbers = text(lang, "concept.sequence_numbers.body")
    assert "always the other side's number plus one" not in handshake
    assert "确认号总是对方的序号加一" not in handshake
    assert "chosen at random" not in numbers and "随机选定" not in numbers
    assert "§3.4.1" in numbers and ("clock" in numbers or "时钟" in numbers)


def test_concept_notes_teach_the_key_moments_in_both_languages() -> None:
    stale_en, stale_zh = text(EN, "concept.stale_syn.body"), text(ZH, "concept.stale_syn.body")
    assert "谢希仁" in stale_en and "谢希仁" in stale_zh
    assert "waits in vain" in stale_en and "白白等待" in stale_zh
    assert "TIME_WAIT" in stale_en and "TIME_WAIT" in stale_zh
    wait_en, wait_zh = text(EN, "concept.time_wait.body"), text(ZH, "concept.time_wait.body")
    assert "一去一回" in wait_en and "一去一回" in wait_zh
    assert "最长报文段寿命" in wait_zh and "stale connection request" in wait_en
    assert "连接释放" in wait_zh and "四次挥手" in text(ZH, "concept.four_way_close.title")
    closing = text(EN, "concept.closing.body")
    assert "FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT" in closing
    assert "FIN_WAIT_1 直接进入" in text(ZH, "concept.close_states.body")
    assert "third segment" in text(EN, "concept.three_way_handshake.body")


@pytest.mark.tshark
def test_simultaneous_open_is_not_drawn_as_an_error() -> None:
    from pcapexplain import report_context

    result = _sample("crafted_simultaneous_open.pcap")
    ctx = report_context.build_context(
        result, lang=EN, selected=None, generated_at="T", version="V"
    )
    arrows = [a for part in ctx.sections[0].ladder.parts for a in getattr(part, "arrows", ())]
    assert [a.frame for a in arrows if a.resent or a.flagged] == []
    assert {a.kind for a in arrows[:4]} == {"open"}
    assert [a.frame for a in arrows][:4] == [1, 2, 3, 4]


def test_findings_give_the_waits_the_check_measured() -> None:
    from pcapexplain.explanations import finding_texts

    c = Conversation(step=1.0)
    for _ in range(4):
        c.send(c.client, SYN, seq=1000, advance=False)
    found = {a.slug: a for a in _built(c).anomalies}["syn-retransmitted"]
    explain, why = finding_texts(EN, found.slug, found.params)
    assert "fixed interval of about 1.000 s" in explain and "doubl" not in why
    explain, _ = finding_texts(ZH, found.slug, found.params)
    assert "间隔固定" in explain


@pytest.mark.tshark
def test_retransmissions_are_told_by_their_cause_and_delay() -> None:
    told = _story("lossy_transfer.pcap")
    rack, timer = _line(told, 161), _line(told, 199)
    assert rack.situation is Situation.DATA_RESENT_SACK
    assert "0.1 ms after" in rack.text and "timer" in rack.text and "expired" not in rack.text
    assert timer.situation is Situation.DATA_RESENT_TIMEOUT and "207.3 ms after" in timer.text
    zh = _line(_story("lossy_transfer.pcap", ZH), 199)
    assert "207.3 毫秒" in zh.text and "超时重传" in zh.text


@pytest.mark.tshark
def test_findings_match_the_packets_they_name() -> None:
    zero = {a.slug: a for a in _sample("zero_window.pcap").anomalies}["zero-window"]
    assert zero.frames == (9, 11, 14)  # 15 reopens the window: a window update, not a zero
    flags = _sample("crafted_illegal_flags.pcap").anomalies
    assert {a.slug for a in flags} == {"illegal-flags", "connection-refused"}
    at_client = _sample("crafted_old_duplicate_syn_at_client.pcap").anomalies
    assert "acked-unseen-segment" not in {a.slug for a in at_client}
    lossy = [a for a in _sample("lossy_transfer.pcap").anomalies if a.slug == "retransmission"]
    assert [(a.frames, a.params["cause"]) for a in lossy] == [((161,), "sack"), ((199,), "timeout")]
    from pcapexplain.explanations import finding_texts

    sack, timer = (finding_texts(EN, a.slug, a.params) for a in lossy)
    assert "no timer involved" in sack[0] and "0.111 ms" in sack[0]
    assert "timer fired" in timer[0] and "207.308 ms" in timer[0] and "timeout" in timer[1]


def test_a_lone_reset_is_told_as_abort_or_answer_and_a_reset_after_data_as_abort() -> None:
    alone = Conversation()
    alone.send(alone.client, RST, seq=7000)
    after_data = Conversation()
    after_data.send(after_data.client, ACK | PSH, 10, seq=7000, ack=9000)
    after_data.send(after_data.server, ACK, seq=9000, ack=7010)
    after_data.send(after_data.client, RST | ACK, seq=7010, ack=9000)
    for lang in (EN, ZH):
        lone = _built(alone)
        told = story(lone, lone.connections[0], lang)
        assert told.lines[0].situation is Situation.RST_FIRST_SEEN
        later = _built(after_data)
        told = story(later, later.connections[0], lang)
        assert told.lines[-1].situation is Situation.RST_ABORT


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_side_that_gives_up_on_a_silent_peer_is_told_so(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """keep_alive_unanswered.pcap: five unanswered keep-alives, then the client's RST (13). The
    RST's arrival is unproven, so the server's state becomes unknown, not CLOSED."""
    told = _story("keep_alive_unanswered.pcap", lang)
    assert _line(told, 13).situation is Situation.RST_GIVES_UP
    capture = str(SAMPLES / "keep_alive_unanswered.pcap")
    assert main(["explain", capture, "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    assert _line(told, 13).text in out
    assert text(lang, "anomaly.peer-unresponsive.title") in out
    assert main(["connections", capture, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["client_final_state"], row["server_final_state"]) == ("CLOSED", "UNKNOWN")


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_reset_from_a_host_without_the_connection_is_not_told_as_an_abort(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """server_lost_connection.pcap: the server's stack answers the client's request (8) with a RST
    without ACK at the request's ack (9): it had no connection left, so no unread data either."""
    told = _story("server_lost_connection.pcap", lang)
    assert _line(told, 9).situation is Situation.RST_CONNECTION_LOST
    result = _sample("server_lost_connection.pcap")
    reset = next(a for a in result.anomalies if a.slug.value == "connection-reset")
    assert reset.params["cause"] == "no-connection"
    assert "reset-unread-data" not in [a.slug.value for a in result.anomalies]
    capture = str(SAMPLES / "server_lost_connection.pcap")
    assert main(["explain", capture, "--lang", lang.value]) == 0
    assert _line(told, 9).text in capsys.readouterr().out


@pytest.mark.parametrize("acked_first", [False, True])
def test_a_resent_fin_says_its_ack_went_missing_only_when_that_ack_was_captured(
    acked_first: bool,
) -> None:
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.ack(c.server)
    fin = c.send(c.client, FIN | ACK)
    if acked_first:
        c.ack(c.server)
    c.send(c.client, FIN | ACK, seq=fin.seq, analysis=RETRANSMISSION)
    c.ack(c.server)
    c.fin(c.server)
    c.ack(c.client)
    result = _built(c)
    told = story(result, result.connections[0], EN, None)
    resent = 8 if acked_first else 7
    want = Situation.FIN_AGAIN if acked_first else Situation.FIN_AGAIN_UNPROVEN
    assert _line(told, resent).situation is want


# ------------------------------------------------------------------ a stall that recovered


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_stall_that_recovered_is_told_by_the_shipped_commands(lang: Lang, tmp_path: Path) -> None:
    """stalled_then_recovered.pcap: the client's request (8) resent six times (9-14) while
    iptables dropped it at the server, then the server's reply (15) 6.9 s after the request."""
    capture = str(SAMPLES / "stalled_then_recovered.pcap")
    listed = shipped.run("connections", capture, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert "stalled" in row["anomalies"] and "peer-unresponsive" not in row["anomalies"]
    (stall,) = [a for a in _sample("stalled_then_recovered.pcap").anomalies if a.slug == "stalled"]
    assert stall.frames == (9, 10, 11, 12, 13, 14, 15)
    params = stall.params
    assert (params["variant"], params["count"], params["frame"], params["backoff"]) == (
        "client-answered",
        6,
        15,
        "doubling",
    )
    assert 6.5 < params["stalled"] < params["silent"] < 7.5  # from the request / the reply (6)
    what, why = finding_texts(lang, "stalled", params)
    assert ("6 times" if lang is EN else "6 次") in what
    told = shipped.run("explain", capture, "--lang", lang.value)
    assert told.returncode == 0, told.stderr
    line = next(
        ln for ln in told.stdout.splitlines() if ln.lstrip().startswith(("frame 15", "帧 15"))
    )
    assert what in line and why in line  # told where the stall ended
    out = tmp_path / "stall.html"
    made = shipped.run("report", capture, "-o", str(out), "--lang", lang.value)
    assert made.returncode == 0, made.stderr
    html = out.read_text(encoding="utf-8")
    assert str(escape(text(lang, "anomaly.stalled.title"))) in html
    assert str(escape(what)) in html and str(escape(why)) in html


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_fin_resent_with_no_ack_of_it_captured_does_not_say_which_was_lost(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """fin_lost.pcap: the first FIN (8) was dropped after the capture point, and no ACK of it is
    in the capture: its copy (9) cannot say the first one arrived. last_ack_lost.pcap's resent
    FIN (12) follows a captured ACK of it (11): there the ACK went missing."""
    told = _story("fin_lost.pcap", lang)
    assert _line(told, 9).situation is Situation.FIN_AGAIN_UNPROVEN
    assert _line(_story("last_ack_lost.pcap", lang), 12).situation is Situation.FIN_AGAIN
    assert main(["explain", str(SAMPLES / "fin_lost.pcap"), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    assert _line(told, 9).text in out


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_third_ack_dropped_at_a_full_accept_queue_never_establishes_the_server(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """accept_queue_full.pcap: the server drops the third ACK (8) and its copies (13, 17) at a
    full accept queue, never acknowledges the request, and at last answers it as a host without
    the connection (20): it never left SYN_RECEIVED, and no copy of the ACK is told as taking it
    to ESTABLISHED."""
    told = _story("accept_queue_full.pcap", lang)
    kinds = [_line(told, frame).situation for frame in (8, 13, 17, 20)]
    assert kinds == [
        Situation.HS_ACK_UNDELIVERED,
        Situation.HS_ACK_UNDELIVERED,
        Situation.HS_ACK_UNCONFIRMED,
        Situation.RST_HANDSHAKE_DROPPED,
    ]
    result = _sample("accept_queue_full.pcap")
    conn = result.connections[0]
    assert T.ESTABLISHED not in state_path(result.states, conn, False)
    slugs = {a.slug.value: a for a in result.anomalies if a.connection == conn.id}
    assert slugs["connection-reset"].params["cause"] == "no-connection"
    assert "reset-unread-data" not in slugs
    assert main(["explain", str(SAMPLES / "accept_queue_full.pcap"), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    for frame in (17, 20):
        assert _line(told, frame).text in out
    # tcp_abort_on_overflow=1: the RST answers the third ACK itself.
    abort = _story("accept_queue_abort.pcap", lang)
    kinds = [_line(abort, frame).situation for frame in (8, 9)]
    assert kinds == [Situation.HS_ACK_UNCONFIRMED, Situation.RST_HANDSHAKE_DROPPED]
    server = text(lang, "side.server")
    assert text(lang, "narr.side_change", side=server, before="SYN_RECEIVED", after="CLOSED") in out


@pytest.mark.tshark
@pytest.mark.parametrize("lang", tuple(Lang))
def test_a_reconnecting_clients_syn_is_told_from_a_sender_without_the_connection(
    lang: Lang, capsys: pytest.CaptureFixture[str]
) -> None:
    """client_reconnects.pcap: the client forgot its connection and connects again from the same
    port; its SYN (8) finds the server ESTABLISHED, whose challenge ACK (9) the client resets
    (10), at the old connection's numbers, from a socket that no longer has it."""
    told = _story("client_reconnects.pcap", lang)
    syn, reset = _line(told, 8), _line(told, 10)
    assert syn.situation is Situation.SYN_IN_CONNECTION
    assert reset.situation is Situation.RST_NO_CONNECTION
    result = _sample("client_reconnects.pcap")
    row = result.packets.frame.index(8)
    assert T(result.states.client_after[row]) is T.CLOSED  # no stack sends a SYN on its own
    assert T(result.states.server_after[row]) is T.ESTABLISHED  # the server still holds it
    assert "RFC 5961" in syn.text
    reset_finding = next(a for a in result.anomalies if a.slug.value == "connection-reset")
    assert reset_finding.params["cause"] == "no-connection"
    assert main(["explain", str(SAMPLES / "client_reconnects.pcap"), "--lang", lang.value]) == 0
    out = capsys.readouterr().out
    assert syn.text in out and reset.text in out
    client = text(lang, "side.client")
    assert text(lang, "narr.side_change", side=client, before="ESTABLISHED", after="CLOSED") in out
