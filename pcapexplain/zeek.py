"""Zeek's view (pure): conn_state, history and byte counters for each connection.

Follows Zeek's own rules (scripts/base/protocols/conn/main.zeek and the TCP analyzer), as the
conformance corpus documents them: per-endpoint states, the originator flips, the history letters
and their repetition rules, and, for `zeek_connections`, Zeek's way of splitting one 4-tuple into
several connections by its timers, with the sizes Zeek logs (sequence space, IP bytes, content
gaps, duration). `zeek_views.verdicts` applies the same machine to pcapexplain's own connections
(one per TCP incarnation), so the two views stay comparable. `connlog` writes the rows as Zeek's
conn.log.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from enum import IntEnum

from pcapexplain.model import (
    RETRANSMITTED,
    AnalysisFlag,
    ChecksumStatus,
    ConnState,
    PacketColumns,
    TcpFlags,
)
from pcapexplain.seqspace import seq_add, seq_wrap
from pcapexplain.zeek_runs import steady
from pcapexplain.zeek_seqspace import SeqSpace

_SYN, _ACK, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
_BAD = int(ChecksumStatus.BAD)
_GAP = int(AnalysisFlag.ACK_LOST_SEGMENT)

# scripts/base/init-bare.zeek defaults, in seconds.
ATTEMPT_DELAY = 5.0  # tcp_attempt_delay: a SYN left unanswered
CLOSE_DELAY = 5.0  # tcp_close_delay: after both sides closed
RESET_DELAY = 5.0  # tcp_reset_delay: after a RST
PARTIAL_CLOSE_DELAY = 3.0  # tcp_partial_close_delay: one side closed, the other silent
INACTIVITY_TIMEOUT = 300.0  # tcp_inactivity_timeout

# Ports Zeek's default analyzers register as likely servers (likely_server_ports).
LIKELY_SERVER_PORTS = frozenset(
    (21, 22, 23, 25, 53, 80, 88, 110, 111, 135, 139, 143, 389, 443, 445, 465, 502, 587, 636,
     993, 995, 1080, 1433, 1723, 1883, 3128, 3306, 3389, 5060, 5222, 5432, 5672, 6379, 6666,
     6667, 6668, 6669, 8000, 8080, 8443, 8888, 9200, 27017)
)  # fmt: skip


class EndpointState(IntEnum):
    """Zeek's TCP_Endpoint states."""

    INACTIVE = 0  # nothing seen
    SYN_SENT = 1
    SYN_ACK_SENT = 2
    PARTIAL = 3  # traffic seen without its SYN
    ESTABLISHED = 4
    CLOSED = 5  # sent a FIN
    RESET = 6  # sent a RST


E = EndpointState
_INACTIVE_LIKE = (E.INACTIVE, E.PARTIAL)
_RSTOS0 = re.compile(r"^\^?S[^HAFGIQ]*R.*$")
# The responder's key in ZeekConn.sides when it has the originator's address and port: a socket
# connected to itself (Connection.self_connect). Zeek keeps two endpoints all the same, and takes
# every packet as the originator's, since its source is the originator's address and port
# (IPBasedAnalyzer: is_orig = src == orig_addr && sport == orig_port). So the responder stays
# INACTIVE; the originator goes SYN_SENT and stays there through its SYN-ACK (weird
# repeated_SYN_with_ack), its ACKs and data (data_before_established), then CLOSED with its FIN
# (inappropriate_FIN). Zeek logs SH, "originator sent a SYN then a FIN, no SYN-ACK", with
# history SADF for the Linux self-connect: no H, as the SYN-ACK repeats the SYN's seq.
_SILENT = ("", -1)
_COUNTED_LETTERS = frozenset("CGTW")  # recorded at the 1st, 10th, 100th … occurrence
_ONCE_LETTERS = frozenset("ADIQ")  # recorded once per direction


@dataclass(slots=True)
class _Side:
    state: EndpointState = E.INACTIVE
    prev_state: EndpointState = E.INACTIVE
    packets: int = 0
    payload: int = 0
    ip_bytes: int = 0
    did_close: bool = False  # sent a FIN or RST that Zeek reported as a close
    last_seq: dict[str, int] = field(default_factory=dict)  # S/H/F/R: seq of the last recorded
    counts: dict[str, int] = field(default_factory=dict)
    once: set[str] = field(default_factory=set)
    space: SeqSpace = field(default_factory=SeqSpace)

    def set(self, state: EndpointState) -> None:
        self.prev_state, self.state = self.state, state

    def size(self, peer: _Side) -> int:
        """Zeek's TCP_Endpoint::Size: payload bytes sent, measured in sequence space."""
        aborted_attempt = (
            self.prev_state is E.SYN_SENT
            and self.state is E.RESET
            and peer.state is E.INACTIVE
            and not self.space.no_data_acked()
        )
        return 0 if aborted_attempt else self.space.size()


@dataclass(slots=True)
class ZeekConn:
    """One connection as Zeek sees it: its originator, packets and verdict."""

    orig: tuple[str, int]
    resp: tuple[str, int]
    first_sender: tuple[str, int] = ("", 0)
    sides: dict[tuple[str, int], _Side] = field(default_factory=dict)
    history: list[tuple[tuple[str, int], str]] = field(default_factory=list)
    flipped: bool = False
    start: float = 0.0
    last: float = 0.0
    end: float = 0.0  # Zeek's last_time: no longer advanced once both sides closed
    deadline: float = float("inf")  # when a Zeek timer would expire it
    partial: bool = False  # Zeek's is_partial: a side's first packet was no plain SYN
    rows: array[int] = field(default_factory=lambda: array("q"))  # PacketColumns rows fed

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def orig_side(self) -> _Side:
        return self.sides[self.orig]

    @property
    def resp_key(self) -> tuple[str, int]:
        """The responder's key in sides (_SILENT when it has the originator's address and port)."""
        return _SILENT if self.resp == self.orig else self.resp

    @property
    def resp_side(self) -> _Side:
        return self.sides[self.resp_key]

    def history_text(self) -> str:
        orig = self.orig
        letters = "".join([c if who == orig else c.lower() for who, c in self.history])
        return ("^" if self.flipped else "") + letters

    def state(self) -> ConnState:
        return conn_state(self.orig_side, self.resp_side, self.history_text())


def conn_state(orig: _Side, resp: _Side, history: str) -> ConnState:
    """Zeek's conn_state function: the first rule that matches wins."""
    os_, rs = orig.state, resp.state
    o_inactive, r_inactive = os_ in _INACTIVE_LIKE, rs in _INACTIVE_LIKE
    if rs is E.RESET:
        # Zeek tests both sizes (c$orig$size == 0 …); payload seen stands in for them here, so
        # that annotate's view, which keeps no sequence space, gives the same verdict.
        if os_ in (E.SYN_SENT, E.SYN_ACK_SENT) or (
            os_ is E.RESET and orig.payload == 0 and resp.payload == 0
        ):
            return ConnState.REJ
        return ConnState.RSTRH if o_inactive else ConnState.RSTR
    if os_ is E.RESET:
        if r_inactive:
            return ConnState.RSTOS0 if _RSTOS0.match(history) else ConnState.OTH
        return ConnState.RSTO
    if rs is E.CLOSED and os_ is E.CLOSED:
        return ConnState.SF
    if os_ is E.CLOSED:
        return ConnState.SH if r_inactive else ConnState.S2
    if rs is E.CLOSED:
        return ConnState.SHR if o_inactive else ConnState.S3
    if os_ is E.SYN_SENT and rs is E.INACTIVE:
        return ConnState.S0
    if os_ is E.ESTABLISHED and rs is E.ESTABLISHED:
        return ConnState.S1
    return ConnState.OTH


# ---------------------------------------------------------------------- the per-packet machine


def new_conn(packets: PacketColumns, row: int) -> ZeekConn:
    """The connection this packet begins, with its originator chosen by Zeek's rules."""
    sender = (packets.src[row], packets.sport[row])
    receiver = (packets.dst[row], packets.dport[row])
    orig, resp = (receiver, sender) if swapped(packets, row) else (sender, receiver)
    start = packets.time[row]
    conn = ZeekConn(orig=orig, resp=resp, first_sender=sender, start=start, end=start)
    conn.sides = {orig: _Side(), conn.resp_key: _Side()}
    conn.flipped = orig != sender
    return conn


def swapped(packets: PacketColumns, row: int) -> bool:
    """Whether the receiver of a connection's first packet is its originator."""
    flags = packets.flags[row]
    if flags & _SYN and not flags & _ACK:
        return False
    return _swap_on_ports(packets.sport[row], packets.dport[row], flags)


def _swap_on_ports(sport: int, dport: int, flags: int) -> bool:
    """Rule 1: a first packet that is not a plain SYN goes from server to client by its ports."""
    s_likely, r_likely = sport in LIKELY_SERVER_PORTS, dport in LIKELY_SERVER_PORTS
    if s_likely and not r_likely:
        return True
    synack = flags & _SYN and flags & _ACK
    return s_likely and r_likely and not synack and sport < dport


def feed(
    conn: ZeekConn,
    packets: PacketColumns,
    row: int,
    *,
    checksums_validated: bool,
    timers: bool = True,
    meter: bool = True,
) -> None:
    """Apply one packet to the Zeek connection: history, counters, endpoint states.

    timers: keep the deadline of Zeek's timers up to date (only splitting needs it).
    meter: keep the sizes Zeek logs (sequence space, IP bytes, gaps, duration).
    """
    if checksums_validated and packets.ip_checksum[row] == _BAD:
        return  # dropped before connection tracking
    sender = (packets.src[row], packets.sport[row])
    side = conn.sides[sender]
    conn.last = packets.time[row]
    flags, length = packets.flags[row], packets.length[row]
    if meter:
        conn.rows.append(row)
    if (
        side.state is not E.INACTIVE
        and steady(flags, packets.analysis[row], packets.window[row])
        and not (checksums_validated and packets.tcp_checksum[row] == _BAD)
        and (conn.flipped or conn.history[0][1] != "H")
    ):
        # The common case: data or an ACK on a running connection changes no state (quiet
        # relies on it: a letter already recorded leaves only the two counters).
        side.packets += 1
        side.payload += length
        letter = "D" if length else "A" if flags & _ACK else ""
        if letter and letter not in side.once:
            side.once.add(letter)
            conn.history.append((sender, letter))
        if meter:
            _meter(conn, packets, row, sender, side.state)
        if timers:
            conn.deadline = _deadline(conn, conn.last)
        return
    if checksums_validated and packets.tcp_checksum[row] == _BAD:
        _record(conn, sender, side, "C")
        return
    side.packets += 1
    side.payload += length
    _history(conn, packets, row, sender, side, flags, length)
    before = side.state
    _transition(conn, sender, side, conn.sides[_other(conn, sender)], flags, length)
    if meter:
        _meter(conn, packets, row, sender, before)
    _maybe_late_flip(conn, flags, length)
    if timers:
        conn.deadline = _deadline(conn, packets.time[row])


def _meter(
    conn: ZeekConn, packets: PacketColumns, row: int, sender: tuple[str, int], before: E
) -> None:
    """The sizes Zeek's TCP analyzer keeps for one packet (TCPSessionAdapter::Process, in order).

    before is the sender's state before this packet; the endpoint states are already updated.
    """
    side, peer = conn.sides[sender], conn.sides[_other(conn, sender)]
    flags, seq = packets.flags[row], packets.seq[row]
    length = max(packets.length[row], 0)  # tshark leaves tcp.len empty on malformed segments
    side.ip_bytes += max(packets.ip_len[row], 0)
    if before is E.INACTIVE:  # the first packet from this side (SetPartialStatus)
        if sender == conn.orig:
            conn.partial = not flags & _SYN or bool(flags & _ACK)
        elif not conn.partial:
            conn.partial = not flags & _SYN
    if not (side.did_close and peer.did_close):
        conn.end = packets.time[row]
    seg_len = length + bool(flags & _SYN) + bool(flags & _FIN) - (length if flags & _RST else 0)
    past = seq_add(seq, seg_len)
    space = side.space
    _init_endpoint(space, side, before, flags, seq, past)
    rel_seq, underflow = space.relative(seq, space.last, space.wraps)
    if flags & _FIN:
        space.fins += 1
        space.fin_seq = rel_seq + seg_len
    rel_ack = _ack(peer, flags, packets.ack[row]) if flags & _ACK else 0
    space.advance(past, flags, trusted=before is not E.RESET)
    if flags & (_FIN | _RST) and before not in (E.CLOSED, E.RESET):
        side.did_close = True
    if flags & _ACK:
        clean = _clean(side) and _clean(peer)
        peer.space.acked(rel_ack, partial=conn.partial, report=clean)
    if length and not flags & _RST and not underflow:
        space.data(rel_seq + 1 if flags & _SYN else rel_seq, length)


def _init_endpoint(
    space: SeqSpace, side: _Side, before: E, flags: int, seq: int, past: int
) -> None:
    if before is E.INACTIVE:
        if flags & _SYN:
            space.init(seq, past)
        else:  # partial: numbered as though a SYN had been seen
            space.init(seq_add(seq, -1), seq)
    elif not flags & _SYN:
        return
    elif (
        (before in (E.SYN_SENT, E.SYN_ACK_SENT) and seq != seq_wrap(space.start))
        or before in (E.ESTABLISHED, E.PARTIAL)
        or (before is E.RESET and side.prev_state is E.INACTIVE)
    ):
        space.init(seq, past)


def _ack(peer: _Side, flags: int, ack: int) -> int:
    """Apply an acknowledgment to the peer's sequence space; returns it relative, or 0."""
    space = peer.space
    if peer.state is E.INACTIVE:
        space.init(seq_add(ack, -1))
        return 1
    rel_ack, underflow = space.relative(ack, space.ack, space.ack_wraps)
    if underflow:
        return 0
    if not flags & _RST:
        space.acknowledge(ack)  # a RST's ack is not trusted
    return rel_ack


def _clean(side: _Side) -> bool:
    """Established, or closing after having been established (TCP_Reassembler's is_clean)."""
    return side.state is E.ESTABLISHED or (
        side.state is E.CLOSED and side.prev_state is E.ESTABLISHED
    )


def _other(conn: ZeekConn, sender: tuple[str, int]) -> tuple[str, int]:
    return conn.resp_key if sender == conn.orig else conn.orig


def _history(
    conn: ZeekConn,
    packets: PacketColumns,
    row: int,
    sender: tuple[str, int],
    side: _Side,
    flags: int,
    length: int,
) -> None:
    seq = packets.seq[row]
    if flags & _SYN and flags & (_FIN | _RST):
        _record(conn, sender, side, "Q")
    if flags & _FIN and flags & _RST:
        _record(conn, sender, side, "I")
    if flags & _SYN:
        _record(conn, sender, side, "H" if flags & _ACK else "S", seq)
    if length:
        _record(conn, sender, side, "D")
    elif flags & _ACK and not flags & (_SYN | _FIN | _RST):
        _record(conn, sender, side, "A")
    bits = packets.analysis[row]
    # Zeek's own T rule (TCP.cc update_last_seq) is "payload whose end does not pass the highest
    # end this sender has sent": it also counts what tshark calls out-of-order, and not a resend
    # that carries new bytes as well. tshark's retransmission verdicts stand in for it; on the
    # conformance corpus the two never differ. (Spurious retransmissions are Ts for both.)
    if length and bits & RETRANSMITTED:
        _record(conn, sender, side, "T")
    if bits & _GAP:
        # The peer acknowledged bytes never seen: a content gap in the peer's stream.
        other = _other(conn, sender)
        _record(conn, other, conn.sides[other], "G")
    if packets.window[row] == 0 and not flags & (_SYN | _RST):
        _record(conn, sender, side, "W")
    if flags & _FIN:
        _record(conn, sender, side, "F", seq + length)
    if flags & _RST:
        _record(conn, sender, side, "R", seq)


def _record(
    conn: ZeekConn, sender: tuple[str, int], side: _Side, letter: str, seq: int | None = None
) -> None:
    if letter in _ONCE_LETTERS:
        if letter in side.once:
            return
        side.once.add(letter)
    elif letter in _COUNTED_LETTERS:
        count = side.counts[letter] = side.counts.get(letter, 0) + 1
        if count not in (1, 10, 100, 1000, 10000, 100000):
            return
    elif seq is not None:
        # S and H share one mask and one last seq in Zeek (update_history: HIST_SYN_PKT,
        # hist_last_SYN): a SYN-ACK that repeats its sender's SYN's seq, as in a simultaneous
        # open, adds no H.
        key = "S" if letter == "H" else letter
        if side.last_seq.get(key) == seq:
            return  # the same SYN/FIN/RST again: recorded only when its seq differs
        side.last_seq[key] = seq
    conn.history.append((sender, letter))


def _transition(
    conn: ZeekConn, sender: tuple[str, int], side: _Side, peer: _Side, flags: int, length: int
) -> None:
    is_orig = sender == conn.orig
    if flags & _SYN:
        _on_syn(side, peer, flags, is_orig)
    elif side.state is E.INACTIVE and (length or flags & (_ACK | _FIN | _RST)):
        # Joining a connection whose other side answered a SYN counts as established.
        side.set(E.ESTABLISHED if peer.state is E.ESTABLISHED else E.PARTIAL)
    if flags & _RST:
        if not (side.state is E.CLOSED and peer.state is E.CLOSED):
            side.set(E.RESET)  # a RST after both FINs leaves a normal close (SF)
    elif flags & _FIN and side.state is not E.CLOSED:
        side.set(E.CLOSED)
        if peer.state is E.RESET and peer.prev_state is E.CLOSED:
            peer.set(E.CLOSED)  # a RST after its own FIN, then the other FIN: a normal close


def _on_syn(side: _Side, peer: _Side, flags: int, is_orig: bool) -> None:
    if side.state is not E.INACTIVE:
        return
    if is_orig:
        side.set(E.SYN_ACK_SENT if flags & _ACK else E.SYN_SENT)
        return
    if peer.state in (E.SYN_SENT, E.SYN_ACK_SENT):
        peer.set(E.ESTABLISHED)
    side.set(E.ESTABLISHED)


def _maybe_late_flip(conn: ZeekConn, flags: int, length: int) -> None:
    """Rule 2: a connection that began with an unswapped SYN-ACK flips at the next ACK or data."""
    if conn.flipped or not conn.history or conn.history[0][1] != "H":
        return
    if len(conn.history) > 1 and (length or not flags & (_SYN | _FIN | _RST)):
        conn.orig, conn.resp = conn.resp, conn.orig
        conn.flipped = True


def _deadline(conn: ZeekConn, now: float) -> float:
    """When Zeek would expire this connection if no packet came before."""
    o, r = conn.orig_side.state, conn.resp_side.state
    if E.RESET in (o, r):
        return now + RESET_DELAY
    if o is E.CLOSED and r is E.CLOSED:
        return now + CLOSE_DELAY
    if (o is E.CLOSED and r is E.INACTIVE) or (r is E.CLOSED and o is E.INACTIVE):
        return now + PARTIAL_CLOSE_DELAY
    if o in (E.SYN_SENT, E.SYN_ACK_SENT) and r is E.INACTIVE:
        return conn.start + ATTEMPT_DELAY
    return now + INACTIVITY_TIMEOUT


# ------------------------------------------------------------------------------ entry points


def zeek_connections(packets: PacketColumns, *, checksums_validated: bool) -> list[ZeekConn]:
    """Split the packets into connections the way Zeek does, and run each through its machine."""
    current: dict[frozenset[tuple[str, int]], ZeekConn] = {}
    done: list[ZeekConn] = []
    for row in range(len(packets)):
        if checksums_validated and packets.ip_checksum[row] == _BAD:
            continue
        key = frozenset(
            ((packets.src[row], packets.sport[row]), (packets.dst[row], packets.dport[row]))
        )
        conn = current.get(key)
        if conn is None or _starts_new(conn, packets, row):
            conn = current[key] = new_conn(packets, row)
            done.append(conn)
        feed(conn, packets, row, checksums_validated=checksums_validated)
    return done


def _starts_new(conn: ZeekConn, packets: PacketColumns, row: int) -> bool:
    if packets.time[row] > conn.deadline:
        return True  # a Zeek timer removed the old connection in the meantime
    flags = packets.flags[row]
    if not (flags & _SYN and not flags & _ACK):
        return False
    states = (conn.orig_side.state, conn.resp_side.state)
    return E.RESET in states or states == (E.CLOSED, E.CLOSED)
