"""Zeek's rules on hand-built packets: conn_state, history letters, flips, timers."""

from __future__ import annotations

import pytest

from pcapexplain import zeek, zeek_views
from pcapexplain.model import AnalysisFlag, ChecksumStatus, ConnState, PacketColumns, ZeekVerdict
from pcapexplain.reconstructor import reconstruct
from tests.builders import ACK, FIN, RST, SYN, Conversation


def verdict(packets: PacketColumns, *, validated: bool = False) -> list[tuple[str, str]]:
    conns = zeek.zeek_connections(packets, checksums_validated=validated)
    return [(c.state().value, c.history_text()) for c in conns]


def textbook() -> Conversation:
    c = Conversation()
    c.handshake()
    c.data(c.client)
    c.data(c.server)
    c.fin(c.client)
    c.fin(c.server)
    c.ack(c.client)
    return c


def test_textbook_connection_is_sf() -> None:
    assert verdict(textbook().columns()) == [("SF", "ShADdFf")]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (lambda c: c.send(c.client, SYN), ("S0", "S")),
        (lambda c: (c.send(c.client, SYN), c.send(c.server, RST | ACK, seq=0)), ("REJ", "Sr")),
        (lambda c: (c.handshake(), c.rst(c.client)), ("RSTO", "ShAR")),
        (lambda c: (c.handshake(), c.rst(c.server)), ("RSTR", "ShAr")),
        (lambda c: (c.send(c.client, SYN), c.fin(c.client)), ("SH", "SF")),
        (lambda c: (c.handshake(), c.data(c.client)), ("S1", "ShAD")),
        (lambda c: (c.send(c.client, SYN), c.send(c.client, RST)), ("RSTOS0", "SR")),
        (lambda c: (c.handshake(), c.fin(c.client)), ("S2", "ShAF")),
        (lambda c: (c.handshake(), c.fin(c.server)), ("S3", "ShAf")),
    ],
    ids=["S0", "REJ", "RSTO", "RSTR", "SH", "S1", "RSTOS0", "S2", "S3"],
)
def test_conn_states(script: object, expected: tuple[str, str]) -> None:
    c = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 4000))
    script(c)  # type: ignore[operator]
    assert verdict(c.columns()) == [expected]


def test_midstream_is_oth_and_flipped_by_server_port() -> None:
    c = Conversation(client=("10.0.0.1", 40000), server=("10.0.0.2", 80))
    c.data(c.server)  # first packet from the well-known port: Zeek makes the receiver orig
    c.data(c.client)
    assert verdict(c.columns()) == [("OTH", "^dD")]


def test_resent_syn_with_the_same_seq_is_recorded_once() -> None:
    c = Conversation()
    for _ in range(3):
        c.send(c.client, SYN, seq=1000, advance=False)
    assert verdict(c.columns()) == [("S0", "S")]


def test_retransmissions_counted_1_10_100() -> None:
    c = Conversation()
    c.handshake()
    for _ in range(12):
        c.send(
            c.client, ACK, 10, seq=1001, advance=False, analysis=int(AnalysisFlag.RETRANSMISSION)
        )
    assert verdict(c.columns())[0][1] == "ShADTT"


def test_rst_after_both_fins_is_still_sf() -> None:
    c = textbook()
    c.rst(c.client)
    assert verdict(c.columns())[0][0] == "SF"


def test_attempt_timer_splits_a_long_unanswered_session() -> None:
    c = Conversation()
    c.send(c.client, SYN)
    c.clock = 6.0  # past tcp_attempt_delay with no SYN-ACK
    c.data(c.client)
    c.fin(c.client)
    assert verdict(c.columns()) == [("S0", "S"), ("SH", "DF")]


def test_bad_checksums_are_ignored_when_validated() -> None:
    c = textbook()
    packets = c.columns()
    packets.tcp_checksum = [int(ChecksumStatus.BAD) if s == "10.0.0.2" else 0 for s in packets.src]
    state, history = verdict(packets, validated=True)[0]
    assert state == "SH"  # the server is invisible: SYN then FIN from the client
    assert "c" in history
    assert verdict(packets, validated=False)[0][0] == "SF"


def test_verdicts_of_our_connections() -> None:
    packets = textbook().columns()
    conns, _ = reconstruct(packets)
    assert zeek_views.verdicts(packets, conns) == {0: ZeekVerdict(ConnState.SF, "ShADdFf")}


def test_fin_only_builder_guard() -> None:
    c = Conversation()
    c.send(c.client, FIN | ACK)
    assert verdict(c.columns())[0][1] == "F"
