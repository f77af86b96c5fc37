"""The per-packet narrative: which packets get a line, and what each line says in both languages.

The reconstructor's per-packet output is written out by hand here (the state convention of
docs/ARCHITECTURE.md), so these tests pin narrate's own reasoning independently of the state
machine.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import pytest

from pcapexplain.explanations import CONCEPTS, text
from pcapexplain.model import (
    AnalysisFlag,
    Anomaly,
    AnomalySlug,
    Closer,
    Connection,
    Direction,
    Endpoint,
    Handshake,
    Lang,
    PacketColumns,
    PacketRole,
    PacketStates,
    Severity,
    TcpFlags,
    TcpState,
    Teardown,
)
from pcapexplain.narrate import NarrativeLine, connection_header, flags_label, format_line, narrate
from pcapexplain.seqspace import MOD
from pcapexplain.situations import Situation

C, S = Direction.TO_SERVER, Direction.TO_CLIENT
SYN, ACK, FIN, RST, PSH = TcpFlags.SYN, TcpFlags.ACK, TcpFlags.FIN, TcpFlags.RST, TcpFlags.PSH
LANGUAGES = tuple(Lang)
R = PacketRole
T = TcpState
CISN, SISN = 1000, 5000


@dataclass
class Pkt:
    """One packet as the reconstructor would report it."""

    d: Direction
    flags: int
    seq: int
    ack: int
    role: PacketRole
    client: tuple[TcpState, TcpState]
    server: tuple[TcpState, TcpState]
    length: int = 0
    tfo: bool = False
    analysis: int = 0
    passed: tuple[int, int] | None = None  # states passed within the packet (client, server)


def story(
    pkts: list[Pkt],
    lang: Lang = "en",
    anomalies: tuple[Anomaly, ...] = (),
    **conn: object,
) -> list[NarrativeLine]:
    packets, states, connection = build(pkts, **conn)
    return narrate(packets, states, connection, lang, anomalies)


def passing(client: TcpState | None, server: TcpState | None) -> tuple[int, int]:
    """A PacketStates.passed entry: the state each side passed within the packet, or none."""
    return (int(client or T.UNKNOWN), int(server or T.UNKNOWN))


def build(pkts: list[Pkt], **conn: object) -> tuple[PacketColumns, PacketStates, Connection]:
    n = len(pkts)
    packets = PacketColumns(
        frame=list(range(1, n + 1)),
        time=[1000.0 + 0.01 * i for i in range(n)],
        src=["10.0.0.1" if p.d is C else "10.0.0.2" for p in pkts],
        dst=["10.0.0.2" if p.d is C else "10.0.0.1" for p in pkts],
        sport=[40000 if p.d is C else 80 for p in pkts],
        dport=[80 if p.d is C else 40000 for p in pkts],
        flags=[int(p.flags) for p in pkts],
        seq=[p.seq % MOD for p in pkts],
        ack=[p.ack % MOD for p in pkts],
        length=[p.length for p in pkts],
        length_unknown=[0] * n,
        header_cut=[0] * n,
        window=[64240] * n,
        mss=[-1] * n,
        wscale=[-1] * n,
        sack_perm=[False] * n,
        sack=[False] * n,
        tsval=[-1] * n,
        tfo=[p.tfo for p in pkts],
        ttl=[64] * n,
        ip_len=[40 + p.length for p in pkts],
        analysis=[p.analysis for p in pkts],
        ip_checksum=[0] * n,
        tcp_checksum=[0] * n,
        ip_id=list(range(n)),
        tcp_sum=[-1] * n,
        stream=[0] * n,
    )
    states = PacketStates(
        array("l", [0] * n),
        array("b", [p.d for p in pkts]),
        array("b", [p.role for p in pkts]),
        array("b", [p.client[0] for p in pkts]),
        array("b", [p.client[1] for p in pkts]),
        array("b", [p.server[0] for p in pkts]),
        array("b", [p.server[1] for p in pkts]),
        {i: p.passed for i, p in enumerate(pkts) if p.passed is not None},
    )
    fields: dict[str, object] = {
        "handshake": Handshake.COMPLETE,
        "client_isn": CISN,
        "server_isn": SISN,
    }
    fields.update(conn)
    connection = Connection(
        id=0,
        client=Endpoint("10.0.0.1", 40000),
        server=Endpoint("10.0.0.2", 80),
        packet_index=array("l", range(n)),
        first_time=1000.0,
        last_time=1000.0 + 0.01 * (n - 1),
        **fields,  # type: ignore[arg-type]
    )
    return packets, states, connection


def handshake() -> list[Pkt]:
    return [
        Pkt(C, SYN, CISN, 0, R.SYN, (T.CLOSED, T.SYN_SENT), (T.LISTEN, T.SYN_RECEIVED)),
        Pkt(
            S,
            SYN | ACK,
            SISN,
            CISN + 1,
            R.SYN_ACK,
            (T.SYN_SENT, T.ESTABLISHED),
            (T.SYN_RECEIVED, T.SYN_RECEIVED),
        ),
        Pkt(
            C,
            ACK,
            CISN + 1,
            SISN + 1,
            R.HANDSHAKE_ACK,
            (T.ESTABLISHED, T.ESTABLISHED),
            (T.SYN_RECEIVED, T.ESTABLISHED),
        ),
    ]


EST = (T.ESTABLISHED, T.ESTABLISHED)


def data_phase() -> list[Pkt]:
    """Client sends 300 bytes in four segments (one resent), server answers 2000 bytes."""
    return [
        Pkt(C, PSH | ACK, CISN + 1, SISN + 1, R.DATA, EST, EST, length=100),
        Pkt(C, PSH | ACK, CISN + 101, SISN + 1, R.DATA, EST, EST, length=100),
        Pkt(S, ACK, SISN + 1, CISN + 201, R.PURE_ACK, EST, EST),
        Pkt(C, PSH | ACK, CISN + 101, SISN + 1, R.DATA, EST, EST, length=100),
        Pkt(C, PSH | ACK, CISN + 201, SISN + 1, R.DATA, EST, EST, length=100),
        Pkt(S, PSH | ACK, SISN + 1, CISN + 301, R.DATA, EST, EST, length=2000),
        Pkt(C, ACK, CISN + 301, SISN + 2001, R.PURE_ACK, EST, EST),
    ]


# After the data phase: client next seq CISN+301, server next seq SISN+2001.
CF, SF = CISN + 301, SISN + 2001


def four_way_close() -> list[Pkt]:
    return [
        Pkt(
            C,
            FIN | ACK,
            CF,
            SF,
            R.FIN,
            (T.ESTABLISHED, T.FIN_WAIT_1),
            (T.ESTABLISHED, T.CLOSE_WAIT),
        ),
        Pkt(
            S,
            ACK,
            SF,
            CF + 1,
            R.FIN_ACK,
            (T.FIN_WAIT_1, T.FIN_WAIT_2),
            (T.CLOSE_WAIT, T.CLOSE_WAIT),
        ),
        Pkt(
            S, FIN | ACK, SF, CF + 1, R.FIN, (T.FIN_WAIT_2, T.TIME_WAIT), (T.CLOSE_WAIT, T.LAST_ACK)
        ),
        Pkt(C, ACK, CF + 1, SF + 1, R.FIN_ACK, (T.TIME_WAIT, T.TIME_WAIT), (T.LAST_ACK, T.CLOSED)),
    ]


def textbook() -> list[Pkt]:
    return handshake() + data_phase() + four_way_close()


def key_lines(lines: list[NarrativeLine]) -> list[NarrativeLine]:
    return [line for line in lines if not line.is_summary]


# ---------------------------------------------------------------- the textbook connection


@pytest.mark.parametrize("lang", LANGUAGES)
def test_textbook_connection_has_one_line_per_step_and_one_summary(lang: Lang) -> None:
    lines = story(textbook(), lang)
    roles = [line.role for line in lines]
    assert roles == [R.SYN, R.SYN_ACK, R.HANDSHAKE_ACK, None, R.FIN, R.FIN_ACK, R.FIN, R.FIN_ACK]
    assert [line.frame for line in lines] == [1, 2, 3, 4, 11, 12, 13, 14]
    summary = lines[3]
    assert summary.is_summary and (summary.frame, summary.last_frame) == (4, 10)
    assert summary.length == 2400


def test_handshake_lines_say_what_each_step_proves() -> None:
    syn, synack, ack = story(textbook(), "en")[:3]
    assert "initial sequence number" in syn.text and str(CISN) in syn.text
    assert "CLOSED → SYN_SENT" in syn.text and "LISTEN → SYN_RECEIVED" in syn.text
    assert synack.text.startswith("Second step of the handshake: ack 1 ")
    assert ack.text.startswith("Third step of the handshake")
    assert "the server that its SYN arrived" in ack.text
    assert "SYN_RECEIVED → ESTABLISHED" in ack.text
    assert "three_way_handshake" in ack.concepts


def test_handshake_lines_in_chinese_use_the_textbook_terms() -> None:
    syn, synack, ack = story(textbook(), "zh")[:3]
    assert "初始序号" in syn.text
    assert "三次握手的第二步" in synack.text and "确认号 1" in synack.text
    assert "三次握手的第三步" in ack.text and "ESTABLISHED" in ack.text


def test_relative_numbers_count_from_each_sides_isn() -> None:
    lines = story(textbook(), "en")
    synack, fin = lines[1], lines[4]
    assert (synack.seq_raw, synack.seq_rel, synack.ack_raw, synack.ack_rel) == (
        SISN,
        0,
        CISN + 1,
        1,
    )
    assert (fin.seq_rel, fin.ack_rel) == (301, 2001)
    assert lines[0].ack_raw is None and lines[0].ack_rel is None  # a SYN has no ACK flag


def test_four_way_close_lines_follow_the_close_states() -> None:
    fin1, ack1, fin2, ack2 = key_lines(story(textbook(), "en"))[3:]
    assert "active close" in fin1.text and "ESTABLISHED → FIN_WAIT_1" in fin1.text
    assert "half-close" in ack1.text and "FIN_WAIT_1 → FIN_WAIT_2" in ack1.text
    assert "passive close" in fin2.text and "CLOSE_WAIT → LAST_ACK" in fin2.text
    assert "Last step of the close" in ack2.text and "TIME_WAIT for 2MSL" in ack2.text
    assert "LAST_ACK → CLOSED" in ack2.text
    assert "time_wait" in ack2.concepts and "four_way_close" in fin1.concepts


def test_four_way_close_in_chinese() -> None:
    fin1, ack1, fin2, ack2 = key_lines(story(textbook(), "zh"))[3:]
    assert "主动关闭" in fin1.text and "半关闭" in fin1.text
    assert "半关闭" in ack1.text
    assert "被动关闭" in fin2.text
    assert "2MSL" in ack2.text and "TIME_WAIT" in ack2.text


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "en",
            "5 data segments, 400 B client → server and 2.0 kB server → client, 2 pure ACKs",
        ),
        (
            "zh",
            "5 个数据报文段，客户端 → 服务器 400 字节，服务器 → 客户端 2.0 kB，2 个纯确认",
        ),
    ],
)
def test_data_runs_are_summarised(lang: Lang, expected: str) -> None:
    summary = story(textbook(), lang)[3]
    assert summary.text == expected
    assert summary.direction is None and summary.flags is None


def test_resent_data_is_told_on_its_own_line_between_runs() -> None:
    pkts = textbook()
    pkts[6].analysis = AnalysisFlag.RETRANSMISSION  # the resent segment CISN+101
    lines = story(pkts, "en")
    assert [(x.frame, x.last_frame, x.is_summary) for x in lines[3:6]] == [
        (4, 6, True),
        (7, 7, False),
        (8, 10, True),
    ]
    assert "100 bytes sent again" in lines[4].text and "20.0 ms" in lines[4].text


def test_format_line_reads_like_the_terminal_example() -> None:
    lines = story(textbook(), "en")
    third = format_line(lines[2], "en")
    assert third.startswith("frame 3 · +0.020 s · client → server · ACK · Third step")
    assert format_line(lines[3], "en").startswith("frames 4–10 · +0.030 s · 5 data segments")
    assert format_line(lines[2], "zh").startswith("帧 3 · +0.020 秒 · 客户端 → 服务器 · ACK · ")


def test_connection_header_names_outcomes_and_closer() -> None:
    _, _, conn = build(
        textbook(),
        teardown=Teardown.FOUR_WAY,
        closed_first=Closer.CLIENT,
        time_wait=Closer.CLIENT,
    )
    header = connection_header(conn, "en")
    assert header.startswith("connection 0 · 10.0.0.1:40000 → 10.0.0.2:80 · handshake: completed")
    assert "four-way close" in header and "TIME_WAIT at the end: the client" in header
    assert "四次挥手" in connection_header(conn, "zh")


def test_every_linked_concept_exists() -> None:
    for lang in LANGUAGES:
        for line in story(textbook(), lang):
            assert set(line.concepts) <= set(CONCEPTS)


def test_flags_label_uses_wiresharks_order() -> None:
    assert flags_label(SYN | ACK) == "SYN, ACK"
    assert flags_label(FIN | PSH | ACK) == "FIN, PSH, ACK"
    assert flags_label(RST) == "RST"
    assert flags_label(0) == "no flags" and flags_label(0, Lang.ZH) == "无标志"


# ---------------------------------------------------------------- other closes


def test_three_way_close() -> None:
    close = [
        Pkt(
            C,
            FIN | ACK,
            CF,
            SF,
            R.FIN,
            (T.ESTABLISHED, T.FIN_WAIT_1),
            (T.ESTABLISHED, T.CLOSE_WAIT),
        ),
        Pkt(
            S, FIN | ACK, SF, CF + 1, R.FIN, (T.FIN_WAIT_1, T.TIME_WAIT), (T.CLOSE_WAIT, T.LAST_ACK)
        ),
        Pkt(C, ACK, CF + 1, SF + 1, R.FIN_ACK, (T.TIME_WAIT, T.TIME_WAIT), (T.LAST_ACK, T.CLOSED)),
    ]
    lines = key_lines(story(handshake() + data_phase() + close, "en"))
    fin_ack, last = lines[-2], lines[-1]
    assert fin_ack.flags == FIN | ACK and "three segments instead of four" in fin_ack.text
    assert "FIN_WAIT_1 → TIME_WAIT" in fin_ack.text
    assert "Last step of the close" in last.text
    zh = key_lines(story(handshake() + data_phase() + close, "zh"))[-2]
    assert "三个报文段" in zh.text


def test_simultaneous_close() -> None:
    """Both FINs cross and neither is lost (RFC 9293 Fig. 6): both sides pass through CLOSING.
    The states are the replay's: the client's FIN reaches the server just before the client's
    ACK of the server's FIN, so the server passes CLOSING within that packet."""
    close = [
        Pkt(
            C,
            FIN | ACK,
            CF,
            SF,
            R.FIN,
            (T.ESTABLISHED, T.FIN_WAIT_1),
            (T.ESTABLISHED, T.ESTABLISHED),
        ),
        Pkt(S, FIN | ACK, SF, CF, R.FIN, (T.FIN_WAIT_1, T.CLOSING), (T.ESTABLISHED, T.FIN_WAIT_1)),
        Pkt(
            C,
            ACK,
            CF + 1,
            SF + 1,
            R.FIN_ACK,
            (T.CLOSING, T.CLOSING),
            (T.FIN_WAIT_1, T.TIME_WAIT),
            passed=passing(None, T.CLOSING),
        ),
        Pkt(
            S, ACK, SF + 1, CF + 1, R.FIN_ACK, (T.CLOSING, T.TIME_WAIT), (T.TIME_WAIT, T.TIME_WAIT)
        ),
    ]
    lines = key_lines(
        story(handshake() + data_phase() + close, "en", teardown=Teardown.SIMULTANEOUS)
    )
    first_fin, second_fin, ack1, ack2 = lines[-4:]
    assert "had not reached it" in first_fin.text
    assert "the two FINs cross" in second_fin.text and "enters CLOSING" in second_fin.text
    assert "passed through CLOSING" in ack1.text and "on to TIME_WAIT" in ack1.text
    assert "in CLOSING since it received a FIN" in ack2.text and "enters TIME_WAIT" in ack2.text
    assert "server FIN_WAIT_1 → CLOSING → TIME_WAIT" in ack1.text
    assert all(
        "who_time_wait" in line.concepts or "closing" in line.concepts for line in lines[-3:]
    )
    zh = key_lines(story(handshake() + data_phase() + close, "zh"))[-3]
    assert "交错" in zh.text and "CLOSING" in zh.text


def test_retransmitted_fin_is_answered_from_time_wait() -> None:
    resent = [
        Pkt(S, FIN | ACK, SF, CF + 1, R.FIN, (T.TIME_WAIT, T.TIME_WAIT), (T.LAST_ACK, T.LAST_ACK)),
        Pkt(C, ACK, CF + 1, SF + 1, R.FIN_ACK, (T.TIME_WAIT, T.TIME_WAIT), (T.LAST_ACK, T.CLOSED)),
    ]
    pkts = textbook()
    pkts[-1] = Pkt(
        C, ACK, CF + 1, SF + 1, R.FIN_ACK, (T.TIME_WAIT, T.TIME_WAIT), (T.LAST_ACK, T.LAST_ACK)
    )
    lines = key_lines(story(pkts + resent, "en"))
    lost, fin_again, ack_again = lines[-3:]
    assert "but it does not arrive" in lost.text and "will send its FIN again" in lost.text
    assert fin_again.text.startswith("The same FIN again")
    assert "it was the ACK of it that went missing" in fin_again.text
    assert "sent from TIME_WAIT" in ack_again.text and "time_wait" in ack_again.concepts
    assert "等待 2MSL 的用意" in key_lines(story(pkts + resent, "zh"))[-1].text


# ---------------------------------------------------------------- resets


@pytest.mark.parametrize("lang", LANGUAGES)
def test_refused_connection(lang: Lang) -> None:
    pkts = [
        Pkt(C, SYN, CISN, 0, R.SYN, (T.CLOSED, T.SYN_SENT), (T.CLOSED, T.CLOSED)),
        Pkt(S, RST | ACK, 0, CISN + 1, R.RST, (T.SYN_SENT, T.CLOSED), (T.CLOSED, T.CLOSED)),
    ]
    rst = story(pkts, lang, handshake=Handshake.REFUSED, server_isn=None)[1]
    assert rst.role is R.RST and rst.flags == RST | ACK and rst.ack_rel == 1
    listed = "RST, ACK" if lang == "en" else "RST、ACK"  # Chinese lists names with 、
    assert f" · {listed} · " in format_line(rst, lang)
    assert "port 80" in rst.text if lang == "en" else "端口 80" in rst.text
    assert ("refused" if lang == "en" else "拒绝") in rst.text
    assert "rst" in rst.concepts


def test_old_duplicate_syn_is_rejected_by_the_third_step() -> None:
    """RFC 9293 Fig. 8 as the replay gives it at the server: the client is CLOSED throughout."""
    closed = (T.CLOSED, T.CLOSED)
    pkts = [
        Pkt(C, SYN, CISN, 0, R.SYN, closed, (T.LISTEN, T.SYN_RECEIVED)),
        Pkt(S, SYN | ACK, SISN, CISN + 1, R.SYN_ACK, closed, (T.SYN_RECEIVED, T.SYN_RECEIVED)),
        Pkt(C, RST, CISN + 1, 0, R.RST, closed, (T.SYN_RECEIVED, T.LISTEN)),
    ]
    syn, synack, rst = story(pkts, "en", handshake=Handshake.OLD_DUPLICATE)
    assert "leaves the client in CLOSED" in syn.text and "stale_syn" in syn.concepts
    assert "LISTEN → SYN_RECEIVED" in syn.text
    assert "that is what protects it" in synack.text and "(CLOSED)" in synack.text
    assert "third step of the handshake doing its job" in rst.text
    assert "returns to LISTEN" in rst.text and "no ACK flag" in rst.text
    assert "Reset of an open connection" not in rst.text
    zh = story(pkts, "zh", handshake=Handshake.OLD_DUPLICATE)
    assert "已失效的连接请求报文段" in zh[0].text and "第三次握手" in zh[2].text


def test_stale_synack_seen_at_the_client_names_the_unseen_syn() -> None:
    closed = (T.CLOSED, T.CLOSED)
    stale_ack = CISN - 9  # answers a SYN with ISN CISN - 10, not the client's
    pkts = [
        Pkt(S, SYN | ACK, 9000, stale_ack, R.SYN_ACK, closed, (T.LISTEN, T.SYN_RECEIVED)),
        Pkt(C, RST, stale_ack, 0, R.RST, closed, (T.SYN_RECEIVED, T.LISTEN)),
    ]
    synack, rst = story(pkts, "en", handshake=Handshake.OLD_DUPLICATE, client_isn=None)
    assert synack.text.startswith("A SYN-ACK for a SYN this capture does not show")
    assert f"ack {stale_ack}" in synack.text
    assert rst.situation is Situation.RST_OLD_DUPLICATE


def test_reset_of_an_open_connection() -> None:
    pkts = [*handshake(), *data_phase()]
    pkts.append(
        Pkt(S, RST | ACK, SF, CF, R.RST, (T.ESTABLISHED, T.CLOSED), (T.ESTABLISHED, T.CLOSED))
    )
    rst = story(pkts, "en")[-1]
    assert rst.text.startswith("Reset of an open connection: the server aborts")
    assert "SO_LINGER" in rst.text


def test_reset_right_after_own_fin_means_unread_data() -> None:
    fin = four_way_close()[0]
    rst = Pkt(C, RST | ACK, CF + 1, SF, R.RST, (T.FIN_WAIT_1, T.CLOSED), (T.CLOSE_WAIT, T.CLOSED))
    line = story([*handshake(), *data_phase(), fin, rst], "en")[-1]
    assert line.text.startswith("Reset after its own FIN") and "unread" in line.text


def test_reset_from_a_closed_side_answers_an_unknown_connection() -> None:
    late = Pkt(S, ACK, SF + 1, CF + 1, R.OTHER, (T.TIME_WAIT, T.TIME_WAIT), (T.CLOSED, T.CLOSED))
    rst = Pkt(C, RST, CF + 1, 0, R.RST, (T.TIME_WAIT, T.CLOSED), (T.CLOSED, T.CLOSED))
    line = story([*textbook(), late, rst], "en")[-1]
    assert "no longer has this connection" in line.text


# ---------------------------------------------------------------- special openings


def test_tcp_fast_open_data_on_the_syn() -> None:
    pkts = handshake()
    pkts[0] = Pkt(
        C,
        SYN,
        CISN,
        0,
        R.SYN,
        (T.CLOSED, T.SYN_SENT),
        (T.LISTEN, T.SYN_RECEIVED),
        length=50,
        tfo=True,
    )
    pkts[1].ack = CISN + 51
    pkts[2].seq = CISN + 51
    syn, synack, _ = story(pkts, "en")
    assert "TCP Fast Open" in syn.text and "50 bytes" in syn.text
    assert "accepting the data on the SYN" in synack.text and synack.ack_rel == 51


def test_midstream_numbers_count_from_the_first_segment_seen() -> None:
    pkts = [
        Pkt(C, PSH | ACK, 777_000, 888_000, R.DATA, EST, EST, length=10),
        Pkt(S, ACK, 888_000, 777_010, R.PURE_ACK, EST, EST),
        Pkt(
            C,
            FIN | ACK,
            777_010,
            888_000,
            R.FIN,
            (T.ESTABLISHED, T.FIN_WAIT_1),
            (T.ESTABLISHED, T.CLOSE_WAIT),
        ),
    ]
    lines = story(pkts, "en", handshake=Handshake.NOT_CAPTURED, client_isn=None, server_isn=None)
    fin = lines[-1]
    assert (fin.seq_rel, fin.ack_rel) == (10, 0)
    assert "active close" in fin.text
    _, _, conn = build(pkts, handshake=Handshake.NOT_CAPTURED, client_isn=None, server_isn=None)
    assert text("en", "ui.midstream") in connection_header(conn, "en")


def test_simultaneous_open() -> None:
    """RFC 9293 Fig. 7 as the replay gives it: each side goes SYN_SENT with its SYN and
    SYN_RECEIVED with its SYN-ACK; the client's SYN-ACK crosses the server's, so the client's next
    segment is where the server becomes ESTABLISHED."""
    pkts = [
        Pkt(C, SYN, CISN, 0, R.SYN, (T.CLOSED, T.SYN_SENT), (T.CLOSED, T.CLOSED)),
        Pkt(S, SYN, SISN, 0, R.SYN, (T.SYN_SENT, T.SYN_SENT), (T.CLOSED, T.SYN_SENT)),
        Pkt(
            C,
            SYN | ACK,
            CISN,
            SISN + 1,
            R.SYN_ACK,
            (T.SYN_SENT, T.SYN_RECEIVED),
            (T.SYN_SENT, T.SYN_SENT),
        ),
        Pkt(
            S,
            SYN | ACK,
            SISN,
            CISN + 1,
            R.SYN_ACK,
            (T.SYN_RECEIVED, T.ESTABLISHED),
            (T.SYN_SENT, T.SYN_RECEIVED),
        ),
        Pkt(
            C,
            PSH | ACK,
            CISN + 1,
            SISN + 1,
            R.HANDSHAKE_ACK,
            EST,
            (T.SYN_RECEIVED, T.ESTABLISHED),
            length=6,
        ),
    ]
    packets, states, conn = build(pkts, handshake=Handshake.SIMULTANEOUS_OPEN)
    states.crossed.update({1: 0, 3: 2})  # as the replay records the crossings
    lines = narrate(packets, states, conn, "en", ())
    situations = [line.situation for line in lines]
    assert situations == [
        Situation.SYN,
        Situation.SYN_CROSSING,
        Situation.SYNACK_CROSSING,
        Situation.SYNACK_SIMULTANEOUS,
        Situation.ACK_AFTER_CROSSED_SYNACK,
    ]
    assert "the client stays in SYN_SENT here" in lines[1].text
    assert "it goes SYN_SENT → SYN_RECEIVED" in lines[2].text
    assert (
        "from CLOSED to SYN_SENT" in lines[1].text and "server CLOSED → SYN_SENT" in lines[1].text
    )
    assert "it goes SYN_SENT → SYN_RECEIVED" in lines[3].text
    assert all("simultaneous_open" in line.concepts for line in lines[1:])


# ---------------------------------------------------------------- anomalies on lines


def test_warned_data_packet_gets_its_own_line_and_info_goes_to_the_summary() -> None:
    gap = Anomaly(AnomalySlug.SEGMENT_NOT_CAPTURED, Severity.WARN, 0, (8,))
    dup = Anomaly(AnomalySlug.DUPLICATE_ACK, Severity.INFO, 0, (6,))
    lines = story(textbook(), "en", anomalies=(gap, dup))
    flagged = next(line for line in lines if line.frame == 8)
    assert not flagged.is_summary and flagged.role is R.DATA
    assert flagged.anomalies == ("segment-not-captured",)
    assert text("en", "anomaly.segment-not-captured.title") in flagged.text
    before = next(line for line in lines if line.is_summary)
    assert (before.frame, before.last_frame) == (4, 7) and before.anomalies == ("duplicate-ack",)
    assert sum(line.is_summary for line in lines) == 2  # the run is split around frame 8
