"""Zeek's view with the quiet runs skipped (zeek_runs) equals the view that feeds every packet.

The skip may only leave out segments that change nothing but two counters; these captures are
rich in what it must not swallow: first data and ACKs per side, retransmissions, zero windows,
bad checksums, ACKs of unseen data, connections that begin with a SYN-ACK (a late flip), sides
that send flagless segments before anything else, and ports that cannot tell the sides apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pcapexplain import readers, zeek, zeek_views
from pcapexplain.model import AnalysisFlag, ChecksumStatus, PacketColumns, Reader
from pcapexplain.reconstructor import reconstruct
from pcapexplain.zeek_runs import ACKED, DATA
from tests.builders import ACK, FIN, PSH, RST, SYN, Conversation, merged

ROOT = Path(__file__).parent.parent
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))
F = AnalysisFlag


def _same_both_ways(packets: PacketColumns) -> int:
    """Asserts equal ZeekConn records both ways, in both checksum modes; returns how many packets
    the skipping view fed."""
    connections, _ = reconstruct(packets)
    fed = 0
    for validated in (False, True):
        every = list(zeek_views.views(packets, connections, validated, skip_quiet=False))
        fed_before = _Counter.calls
        skipping = list(zeek_views.views(packets, connections, validated, skip_quiet=True))
        fed = _Counter.calls - fed_before
        assert skipping == every
        assert zeek_views.verdicts(packets, connections, checksums_validated=validated) == (
            zeek_views.verdicts(
                packets, connections, checksums_validated=validated, skip_quiet=False
            )
        )
    return fed


class _Counter:
    calls = 0


@pytest.fixture(autouse=True)
def _count_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    real = zeek_views.feed

    def counted(*args: object, **kwargs: object) -> None:
        _Counter.calls += 1
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zeek_views, "feed", counted)


def _long(conv: Conversation, rounds: int = 12) -> None:
    for _ in range(rounds):
        conv.data(conv.client, 500)
        conv.ack(conv.server)
        conv.data(conv.server, 1400)
        conv.ack(conv.client)


def _hand_built() -> PacketColumns:
    plain = Conversation(client=("10.0.0.1", 40001), clock=0.001)
    plain.handshake()
    _long(plain)
    plain.fin(plain.client)
    plain.fin(plain.server)
    plain.ack(plain.client)
    # Begins with the SYN-ACK: Zeek flips the originator at the next ACK or data.
    late = Conversation(client=("10.0.0.2", 40002), server=("10.0.0.9", 5555), clock=0.002)
    late.send(late.server, SYN | ACK)
    _long(late)
    # Flagless segments before the side sends anything that makes it active.
    idle = Conversation(client=("10.0.0.3", 40003), clock=0.003)
    idle.send(idle.client, 0)
    idle.send(idle.client, PSH)
    idle.data(idle.server)
    idle.send(idle.client, 0)
    _long(idle)
    # Resends, a zero window, an ACK of unseen data, windows updates amid quiet runs.
    rough = Conversation(client=("10.0.0.4", 40004), clock=0.004)
    rough.handshake()
    _long(rough, 3)
    for _ in range(12):
        rough.send(rough.client, ACK | PSH, 300, seq=rough.next[rough.client] - 300,
                   analysis=int(F.RETRANSMISSION))  # fmt: skip
        _long(rough, 1)
    rough.send(rough.server, ACK, window=0, analysis=int(F.ZERO_WINDOW))
    _long(rough, 2)
    rough.send(rough.server, ACK, analysis=int(F.ACK_LOST_SEGMENT))
    rough.send(rough.server, ACK, analysis=int(F.DUPLICATE_ACK))
    rough.send(rough.client, ACK, analysis=int(F.WINDOW_UPDATE))
    _long(rough, 2)
    rough.rst(rough.client)
    _long(rough, 2)  # after the RST
    # Equal ports: the skip cannot tell the sides by port, every packet is fed.
    same = Conversation(client=("10.0.0.5", 7000), server=("10.0.0.6", 7000), clock=0.005)
    same.handshake()
    _long(same)
    # Midstream, data first from the server's port; a FIN then more data.
    mid = Conversation(client=("10.0.0.7", 40007), clock=0.006)
    _long(mid)
    mid.fin(mid.client)
    _long(mid, 2)
    mid.send(mid.server, FIN | RST)
    _long(mid, 2)
    # Unanswered SYNs, then a SYN with data.
    syns = Conversation(client=("10.0.0.8", 40008), clock=0.007)
    for _ in range(3):
        syns.send(syns.client, SYN, seq=1000, advance=False)
    syns.send(syns.client, SYN, 20, seq=1000)
    syns.rst(syns.server)
    packets = merged(plain, late, idle, rough, same, mid, syns)
    bad = int(ChecksumStatus.BAD)
    packets.tcp_checksum = [bad if i % 17 == 5 else 0 for i in range(len(packets))]
    packets.ip_checksum = [bad if i % 23 == 7 else 0 for i in range(len(packets))]
    return packets


def test_hand_built_connections_are_the_same_and_quiet_runs_are_skipped() -> None:
    packets = _hand_built()
    fed = _same_both_ways(packets)
    assert fed < len(packets) * 3 // 4  # the skip did skip


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_captures_are_the_same(path: Path) -> None:
    capture = readers.load(path, reader=Reader.NATIVE, validate_checksums=True)
    _same_both_ways(capture.packets)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_captures_are_the_same(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if seed == 3:
        monkeypatch.setattr(zeek_views, "_CHUNK_ROWS", 97)  # planned in many small groups
    out = tmp_path / f"gen{seed}.pcap"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), str(out),
         "--connections", "300", "--seed", str(seed)],
        check=True, capture_output=True,
    )  # fmt: skip
    packets = readers.load(out, reader=Reader.NATIVE, validate_checksums=True).packets
    fed = _same_both_ways(packets)
    assert fed < len(packets) // 2  # most of a realistic capture is quiet


def _zeek_traces() -> list[Path]:
    corpus = os.environ.get("PCAPEXPLAIN_ZEEK_CORPUS")
    return sorted((Path(corpus) / "traces").glob("*.pcap")) if corpus else []


@pytest.mark.skipif(not _zeek_traces(), reason="PCAPEXPLAIN_ZEEK_CORPUS is not set")
@pytest.mark.parametrize("path", _zeek_traces(), ids=lambda p: p.name)
def test_zeek_corpus_traces_are_the_same(path: Path) -> None:
    capture = readers.load(path, reader=Reader.AUTO, validate_checksums=True)
    _same_both_ways(capture.packets)


def test_rst_and_fin_flags_are_never_in_a_skipped_run() -> None:
    c = Conversation()
    c.handshake()
    _long(c)
    c.send(c.client, FIN | ACK | PSH, 100)
    c.send(c.server, RST | ACK)
    c.send(c.client, ACK | PSH, 100)
    assert _same_both_ways(c.columns()) > 0


def test_quiet_only_once_the_senders_letters_are_recorded_and_the_originator_settled() -> None:
    c = Conversation(server=("10.0.0.2", 5555))  # no well-known port: Zeek waits to flip
    c.send(c.server, SYN | ACK)
    c.ack(c.client)
    c.data(c.client)
    packets = c.columns()
    client, server = c.client, c.server
    zc = zeek.new_conn(packets, 0)
    zeek.feed(zc, packets, 0, checksums_validated=False, timers=False, meter=False)
    assert not zeek_views.quiet(zc, client, server, 0)  # a late flip pending: any packet may flip
    zeek.feed(zc, packets, 1, checksums_validated=False, timers=False, meter=False)
    assert zc.flipped and zc.history_text() == "^hA"
    assert zeek_views.quiet(zc, client, server, ACKED)  # the client's A is recorded
    assert not zeek_views.quiet(zc, client, server, DATA)  # its D is not, yet
    assert not zeek_views.quiet(zc, client, server, ACKED << 2)  # the server sent only its SYN-ACK
    zeek.feed(zc, packets, 2, checksums_validated=False, timers=False, meter=False)
    assert zeek_views.quiet(zc, client, server, ACKED | DATA)
    stranger = ("10.9.9.9", 1)
    assert not zeek_views.quiet(zc, stranger, server, ACKED)  # not a side of this connection


def test_quiet_never_for_a_side_that_is_not_running() -> None:
    c = Conversation()
    c.data(c.server)
    packets = c.columns()
    zc = zeek.new_conn(packets, 0)
    zeek.feed(zc, packets, 0, checksums_validated=False, timers=False, meter=False)
    zc.sides[c.client].once.add("D")  # as though recorded: the state still says inactive
    assert zeek_views.quiet(zc, c.client, c.server, DATA << 2)
    assert not zeek_views.quiet(zc, c.client, c.server, DATA)


def _variants(c: Conversation, kind: int, size: int) -> None:
    """A connection of one kind; each odd kind differs from the even one before it in one thing
    the machine reads, in the same packet (so their events line up); size varies only what the
    machine counts (payload lengths)."""
    c.handshake()
    if kind in (0, 1):  # the SYN again, with the same number (one S) or another (S again)
        c.send(c.client, SYN, seq=c.client_isn + kind * 7, advance=False)
    if kind in (2, 3):  # the same SYN with a RST in it too
        c.send(c.client, SYN | RST if kind == 3 else SYN, seq=c.client_isn, advance=False)
    # Pairs 4 to 9 shut the window or acknowledge unseen bytes in both kinds, so that the
    # segment is fed through the machine in both (zeek_runs.steady).
    if kind in (4, 5):  # a client's first data that is a resend, or not
        resent = int(F.RETRANSMISSION) if kind == 4 else 0
        c.send(c.client, ACK | PSH, size, window=0, analysis=resent)
    if kind in (10, 11):  # a segment that shuts the window carries the first data, or none
        c.send(c.client, ACK | PSH, size if kind == 10 else 0, window=0)
    c.data(c.client, size)
    lost = int(F.ACK_LOST_SEGMENT)
    if kind in (6, 7):  # the server's first ACK shuts the window, or not
        c.send(c.server, ACK, window=0 if kind == 6 else 1000, analysis=lost)
    if kind in (8, 9):  # the server's first ACK acknowledges bytes never seen, or not
        c.send(c.server, ACK, window=0, analysis=lost if kind == 8 else 0)
    _long(c, 2)
    end = c.next[c.client]
    c.fin(c.client)
    if kind in (12, 13):  # the FIN again, with the same end or another
        c.send(c.client, FIN | ACK, seq=end + kind - 12)
    if kind in (14, 15):  # RSTs with the same number, or another
        c.rst(c.server)
        c.send(c.server, RST | ACK, seq=c.next[c.server] + kind - 14)
        return
    c.fin(c.server)
    c.ack(c.client)


def test_connections_share_a_verdict_only_when_the_machine_reads_their_packets_alike() -> None:
    conversations = []
    for kind in range(16):
        for twin, size in enumerate((100, 1300)):
            c = Conversation(
                client=(f"10.1.{twin}.{kind}", 40000 + 1000 * twin + kind),
                server=(f"10.2.{twin}.{kind}", 80),
                client_isn=1000 + 77 * kind + twin * 99991,
                server_isn=5000 + 31 * kind + twin * 4_000_000_000,
                clock=0.0001 * (kind * 2 + twin),
            )
            _variants(c, kind, size)
            conversations.append(c)
    # Midstream, data first from a well-known port (Zeek swaps the sides) or another one.
    for twin in range(2):
        for i, port in enumerate((80, 5555)):
            c = Conversation(client=(f"10.3.{twin}.{i}", port), server=(f"10.4.{twin}.{i}", 40100))
            c.data(c.client, 100 + twin)
            _long(c, 1)
            conversations.append(c)
    packets = merged(*conversations)
    connections, _ = reconstruct(packets)
    every = zeek_views.verdicts(packets, connections, skip_quiet=False)
    before = _Counter.calls
    shared = zeek_views.verdicts(packets, connections)
    fed = _Counter.calls - before
    assert shared == every
    seen = {ip: every[c.id] for c in connections for ip in (c.client.ip, c.server.ip)}
    pairs = [(f"10.1.0.{k}", f"10.1.0.{k + 1}") for k in range(0, 16, 2)]
    for a, b in [*pairs, ("10.3.0.0", "10.3.0.1")]:
        assert seen[a] != seen[b], (a, b)  # the pair's one difference shows: keys must keep it
    before = _Counter.calls
    assert zeek_views.verdicts(packets, connections, share=False) == every
    assert fed < (_Counter.calls - before) * 2 // 3  # twins were shared
