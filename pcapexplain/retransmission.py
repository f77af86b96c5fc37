"""Retransmission evidence (pure): what a resent segment repeats, after how long, and why.

tshark says that a segment was sent again; the cause is read from what the capture shows between
the previous copy and this one: duplicate ACKs (fast retransmit, RFC 5681 §3.2), SACK blocks
reporting later data (SACK or RACK loss recovery, RFC 6675, RFC 8985), or silence (a timer: the
retransmission timeout of RFC 6298, or a tail-loss probe), with the delay weighed against the
round-trip time measured in the handshake. The anomaly checks and the narrative both ask here, so
a finding and a sentence can never give a segment two different causes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np

from pcapexplain.model import (
    AnalysisFlag,
    Connection,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
)
from pcapexplain.seqspace import seq_gt, seq_sub, seq_subs

T = TypeVar("T", int, "np.ndarray[Any, Any]")
_DUP_ACK = int(AnalysisFlag.DUPLICATE_ACK)
_SPURIOUS = int(AnalysisFlag.SPURIOUS_RETRANSMISSION)
DUP_ACK_THRESHOLD = 3  # RFC 5681 §3.2: the third duplicate ACK triggers a fast retransmit
MIN_RTO = 0.2  # seconds: Linux's TCP_RTO_MIN; RFC 6298 §2.4 would allow no less than 1 s
# Earlier segments, by start, a look-up inspects for one that holds a byte without starting at
# it (a resend cut differently from the original): neighbours in sequence order suffice.
OVERLAP_SCAN = 16


class Cause(StrEnum):
    """Why a segment was sent again, as the capture shows it."""

    DUP_ACKS = "dup-acks"  # three or more duplicate ACKs came back first: fast retransmit
    SACK = "sack"  # fewer duplicate ACKs, but SACK blocks showed later data had arrived
    TIMEOUT = "timeout"  # nothing came back, and at least MIN_RTO passed: a timer fired
    EARLY = "early"  # nothing came back, yet sooner than any retransmission timer
    # nothing readable came back: the snapshot length cut the options (and tshark's flags) of
    # segments the peer sent in between, so duplicate ACKs or SACK blocks may hide among them
    OPTIONS_CUT = "options-cut"
    SPURIOUS = "spurious"  # the data had already been acknowledged
    UNKNOWN = "unknown"  # the original is not in the capture


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the capture shows about one resent segment."""

    cause: Cause
    previous: int | None  # row of the copy sent before this one, if captured
    delay: float  # seconds since that copy, 0.0 when it is unknown
    dup_acks: int  # duplicate ACKs from the receiver in between
    sack_acks: int  # ACKs with SACK blocks from the receiver in between
    cut: int  # segments from the receiver in between whose TCP options the capture cut
    rtt: float | None  # the handshake's round trip at the capture point, when measured

    @property
    def rtts(self) -> float | None:
        """The delay in round-trip times (None without a measured RTT)."""
        return None if not self.rtt else self.delay / self.rtt


def acks_more(packets: PacketColumns, previous: int | None, row: int) -> bool:
    """A copy of a FIN that acknowledges more than its sender's previous segment (previous, not
    a RST) did: the first to acknowledge something new from the peer. A stack whose FIN is not yet
    acknowledged sets FIN on every segment it sends, ACKs included (the BSDs and macOS do), so
    this copy may be such an ACK rather than a resend by a timer. A timer's resend that follows
    a plain ACK (Linux) acknowledges nothing new."""
    if previous is None:
        return False
    flags = packets.flags
    both = flags[previous] & flags[row] & TcpFlags.ACK
    return bool(both) and seq_gt(packets.ack[row], packets.ack[previous])


def handshake_rtt(conn: Connection) -> float | None:
    """The round trip the handshake shows at the capture point (SYN → SYN-ACK → ACK), if both
    halves were captured."""
    if conn.rtt_syn_synack is None or conn.rtt_synack_ack is None:
        return None
    return conn.rtt_syn_synack + conn.rtt_synack_ack


def evidence_of(
    packets: PacketColumns,
    rows: Sequence[int],
    directions: Sequence[int],
    wanted: Collection[int],
    rtt: float | None,
) -> dict[int, Evidence]:
    """The evidence for each row of wanted (segments tshark marks as resent), in one pass.

    rows are one connection's rows in capture order (ascending); directions holds every row's
    Direction code (PacketStates.direction); rtt is the handshake round trip in seconds, or None
    when the handshake was not captured. Each segment is indexed by its first sequence number as
    the pass goes by, so that finding the copy before a resent one costs a dictionary look-up,
    not a search back through the connection: linear in the connection's packets.
    """
    found: dict[int, Evidence] = {}
    if not wanted:
        return found
    # Only what came before the last wanted row, and segments of a side with wanted rows, matter.
    ordered = sorted(set(wanted))
    before_last = rows[: bisect_right(rows, ordered[-1])]
    analysis, sack, length, cut = packets.analysis, packets.sack, packets.length, packets.header_cut
    for d in sorted({directions[row] for row in ordered}):
        # The peer's duplicate ACKs, ACKs with SACK blocks and cut headers, and the side's data.
        peer = [r for r in before_last if directions[r] != d]
        seen = _Seen(
            [r for r in peer if analysis[r] & _DUP_ACK],
            [r for r in peer if sack[r]],
            [r for r in peer if cut[r]],
        )
        sent = _Sent([r for r in before_last if directions[r] == d and length[r]])
        for row in ordered:
            if directions[row] == d:
                sent.add_before(packets, row)
                found[row] = _evidence(packets, row, sent, seen, rtt)
    return found


@dataclass(frozen=True, slots=True)
class _Seen:
    """What one side's peer sent (rows, in capture order)."""

    dup_acks: list[int]  # duplicate ACKs
    sack_acks: list[int]  # ACKs with SACK blocks
    cut: list[int]  # segments whose TCP options the snapshot length cut

    def between(self, first: int, last: int) -> tuple[int, int, int]:
        """Duplicate ACKs, SACK-carrying ACKs and cut headers after row first and before row
        last."""
        return (
            bisect_left(self.dup_acks, last) - bisect_right(self.dup_acks, first),
            bisect_left(self.sack_acks, last) - bisect_right(self.sack_acks, first),
            bisect_left(self.cut, last) - bisect_right(self.cut, first),
        )


@dataclass(slots=True)
class _Sent:
    """One side's data segments, and those indexed so far by first sequence number."""

    segments: list[int]  # rows of every data segment of the side, in capture order
    added: int = 0  # segments indexed so far: segments[:added]
    base: int | None = None  # offsets count from the side's first data byte
    latest: dict[int, int] = field(default_factory=dict)  # offset → row of the latest from it
    offsets: list[int] = field(default_factory=list)  # sorted keys of latest

    def add_before(self, packets: PacketColumns, row: int) -> None:
        """Index the segments sent before row."""
        segments, seq = self.segments, packets.seq
        stop = bisect_left(segments, row, self.added)
        if stop == self.added:
            return
        if self.base is None:
            self.base = seq[segments[0]]
        base = self.base
        rows = segments[self.added : stop]
        offsets = seq_subs(map(seq.__getitem__, rows), base)
        fresh = set(offsets).difference(self.latest)
        self.latest.update(zip(offsets, rows, strict=True))  # a later copy replaces the earlier
        if fresh:
            # Sorting a sorted list with a few keys appended is one merge: linear, in C.
            self.offsets.extend(fresh)
            self.offsets.sort()
        self.added = stop

    def holding(self, packets: PacketColumns, seq: int) -> int | None:
        """The row of the latest earlier segment holding the byte seq, or None."""
        if not self.added or self.base is None:
            return None
        offset = seq_sub(seq, self.base)
        best = self.latest.get(offset)
        k = bisect_right(self.offsets, offset)
        for start in reversed(self.offsets[max(k - OVERLAP_SCAN, 0) : k]):
            row = self.latest[start]
            newer = best is None or row > best  # rows follow capture order
            if offset - start < packets.length[row] and newer:
                best = row
        return best


def _evidence(
    packets: PacketColumns, row: int, own: _Sent, seen: _Seen, rtt: float | None
) -> Evidence:
    """What the capture shows about one resent segment, given what its sender sent before and
    what its peer sent back."""
    cause_if_found = Cause.SPURIOUS if packets.analysis[row] & _SPURIOUS else None
    before = own.holding(packets, packets.seq[row])
    if before is None:
        return Evidence(cause_if_found or Cause.UNKNOWN, None, 0.0, 0, 0, 0, rtt)
    dup, sack, cut = seen.between(before, row)
    delay = max(packets.time[row] - packets.time[before], 0.0)
    cause = cause_if_found or _cause(dup, sack, cut, delay)
    return Evidence(cause, before, delay, dup, sack, cut, rtt)


def _cause(dup: int, sack: int, cut: int, delay: float) -> Cause:
    if dup >= DUP_ACK_THRESHOLD:
        return Cause.DUP_ACKS
    if dup or sack:
        return Cause.SACK
    if cut:  # silence cannot be told from duplicate ACKs whose flags the capture cut
        return Cause.OPTIONS_CUT
    return Cause.TIMEOUT if delay >= MIN_RTO else Cause.EARLY


# The analysis bits of a try: data or a FIN sent again, a keep-alive, a zero-window probe.
TRIED_AGAIN = int(
    AnalysisFlag.RETRANSMISSION
    | AnalysisFlag.FAST_RETRANSMISSION
    | AnalysisFlag.KEEP_ALIVE
    | AnalysisFlag.ZERO_WINDOW_PROBE
)
_PROBE_ANSWER = int(AnalysisFlag.KEEP_ALIVE_ACK | AnalysisFlag.ZERO_WINDOW_PROBE_ACK)
PROBES = (int(PacketRole.KEEP_ALIVE), int(PacketRole.ZERO_WINDOW_PROBE))  # roles of probes
_SYN, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.FIN), int(TcpFlags.RST)
_ACK = int(TcpFlags.ACK)
MIN_TRIES = 2  # one timer retransmission is ordinary loss; a second unanswered one is a stall


@dataclass(frozen=True, slots=True)
class Stall:
    """A side's tries with nothing from its peer in between: the peer fell silent."""

    direction: int  # the trying side's direction
    tries: list[int]  # rows: data or a FIN sent again, or keep-alive / zero-window probes
    silent_since: int  # row of the peer's last packet before the tries
    gave_up: int | None  # row of the trying side's RST that ends the connection, if any
    answered: int | None = None  # row of the peer's first packet after the tries, if any


def stall(packets: PacketColumns, states: PacketStates, conn: Connection) -> Stall | None:
    """The side that keeps trying after its peer's last packet, if the connection ends so.

    At least MIN_TRIES tries, nothing new from the side between them, and nothing from the
    peer until the capture ends or the side gives up with a RST. The resends themselves prove
    that no acknowledgment reached their sender; a peer that the capture shows answering (its
    packets come after the tries) is alive (see stalls), and a peer with no packet in the capture
    may have answered unseen (a one-sided capture): neither is this.
    """
    index, dirs = conn.packet_index, states.direction
    if conn.self_connect or not index:
        return None
    last = index[-1]
    gave_up = last if packets.flags[last] & _RST else None
    peer, tries = _tries_before(packets, states, index, len(index) - (gave_up is not None))
    if peer < 0 or len(tries) < MIN_TRIES or dirs[tries[0]] != dirs[last]:
        return None
    return Stall(dirs[last], tries, index[peer], gave_up)


def stalls(packets: PacketColumns, states: PacketStates, conn: Connection) -> list[Stall]:
    """Every stall the peer ended: tries as `stall` finds them, then a packet from the peer.

    A run of tries also needs a retransmission timer's wait (MIN_RTO) between two of them with
    nothing back: a burst of resends within one round trip (SACK or RACK recovery) was not
    answered because no answer could have come yet, not because the peer was silent. Probes alone
    into a zero window (the peer's last packet closed it) are the zero window's wait, not the
    peer's silence: the side waits for the window to open, and Linux answers such probes at most
    twice a second (tcp_invalid_ratelimit). Without a packet of the peer before the tries (a
    one-sided capture) nothing proves the silence.
    """
    index, dirs, time = conn.packet_index, states.direction, packets.time
    found: list[Stall] = []
    if conn.self_connect or not index:
        return found
    for stop in _runs_with_tries(packets, states, index):
        if stop == len(index):
            continue  # the last run (to the capture's end) is `stall`'s
        peer, tries = _tries_before(packets, states, index, stop)
        if peer < 0 or len(tries) < MIN_TRIES:
            continue
        times = [time[r] for r in tries]
        waited = any(b - a >= MIN_RTO for a, b in zip(times, times[1:], strict=False))
        closed = packets.window[index[peer]] == 0 and all(states.role[r] in PROBES for r in tries)
        if waited and not closed and _answers(packets, states, tries, index[stop]):
            found.append(Stall(dirs[tries[0]], tries, index[peer], None, index[stop]))
    return found


def _answers(packets: PacketColumns, states: PacketStates, tries: list[int], row: int) -> bool:
    """The peer's packet at row answers the tries: a RST, any packet after probes alone, else an
    acknowledgment of what the first try resent. A packet that acknowledges none of it (the
    peer's own SYN-ACK resent, say) comes from a peer that is alive but ends no stall."""
    if packets.flags[row] & _RST or all(states.role[r] in PROBES for r in tries):
        return True
    return bool(packets.flags[row] & _ACK) and seq_gt(packets.ack[row], packets.seq[tries[0]])


def _runs_with_tries(
    packets: PacketColumns, states: PacketStates, index: Sequence[int]
) -> list[int]:
    """Where each run of one side's packets that holds MIN_TRIES rows with a try's analysis bits
    ends (its position in index, plus one), in order: only there can `_tries_before` find a
    stall, and walking only there keeps long connections with a few resends cheap."""
    analysis, dirs = packets.analysis, states.direction
    candidates = [k for k, row in enumerate(index) if analysis[row] & TRIED_AGAIN]
    stops: list[int] = []
    end = inside = 0
    for k in candidates:
        if k >= end:  # the first candidate of a new run: find where the run ends
            if inside >= MIN_TRIES:
                stops.append(end)
            side, end, inside = dirs[index[k]], k + 1, 0
            while end < len(index) and dirs[index[end]] == side:
                end += 1
        inside += 1
    if inside >= MIN_TRIES:
        stops.append(end)
    return stops


def waiting_since(
    packets: PacketColumns, states: PacketStates, index: Sequence[int], found: Stall
) -> int:
    """The row from which the side of a stall waited for its peer: the first copy of what the
    first try resends (no packet of the peer acknowledged it since, or it would not be resent;
    one that crossed it, or the peer's own SYN-ACK resent, ended no wait), else the peer's last
    packet (the copy was not captured); the first try itself when it is a probe (an idle
    connection before it did not wait)."""
    first = found.tries[0]
    if states.role[first] in PROBES:
        return first
    seq, flags, length = packets.seq[first], packets.flags, packets.length
    for row in index[: bisect_left(index, first)]:
        if seq_sub(seq, packets.seq[row]) < length[row] + (1 if flags[row] & _FIN else 0):
            return row
    return found.silent_since


def _tries_before(
    packets: PacketColumns, states: PacketStates, index: Sequence[int], stop: int
) -> tuple[int, list[int]]:
    """The last run of one side's packets before position stop of index: the position of the
    peer's packet before it (-1 if none) and the side's tries at the run's end (capture order).

    The tries are collected back from the run's end until something new (data, SYN, FIN or RST
    that is not a try): tries before it were answered unseen, or were not tries.
    """
    dirs = states.direction
    tries: list[int] = []
    if stop <= 0:
        return -1, tries
    sender = dirs[index[stop - 1]]
    collecting = True
    for k in range(stop - 1, -1, -1):
        row = index[k]
        if dirs[row] != sender:
            tries.reverse()
            return k, tries
        if collecting and _is_try(packets, states, row):
            tries.append(row)
        elif packets.length[row] or packets.flags[row] & (_SYN | _FIN | _RST):
            collecting = False
    return -1, tries


def may_be_try(flags: T, analysis: T) -> T:
    """What a try's flags and analysis bits must show (_is_try): a try's bits, no probe's answer,
    no SYN or RST. The same expression for one packet and for whole columns."""
    return (  # type: ignore[no-any-return]
        ((analysis & TRIED_AGAIN) != 0)
        & ((analysis & _PROBE_ANSWER) == 0)
        & ((flags & (_SYN | _RST)) == 0)
    )


def _is_try(packets: PacketColumns, states: PacketStates, row: int) -> bool:
    """Data or a FIN sent again (not spuriously), or a keep-alive or zero-window probe."""
    if not may_be_try(packets.flags[row], packets.analysis[row]):
        return False
    if states.role[row] in PROBES:
        return True
    return bool(packets.length[row] or packets.flags[row] & _FIN)
