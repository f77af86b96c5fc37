"""Retransmission evidence (pure): what a resent segment repeats, after how long, and why.

tshark says that a segment was sent again; the cause is read from what the capture shows between
the previous copy and this one: duplicate ACKs (fast retransmit, RFC 5681 §3.2), SACK blocks
reporting later data (SACK or RACK loss recovery, RFC 6675, RFC 8985), or silence (a timer: the
retransmission timeout of RFC 6298, or a tail-loss probe), with the delay weighed against the
round-trip time measured in the handshake. The anomaly checks and the narrative both ask here, so
a finding and a sentence can never give a segment two different causes.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pcapexplain.model import AnalysisFlag, Connection, PacketColumns
from pcapexplain.seqspace import seq_sub

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
    rtt: float | None  # the handshake's round trip at the capture point, when measured

    @property
    def rtts(self) -> float | None:
        """The delay in round-trip times (None without a measured RTT)."""
        return None if not self.rtt else self.delay / self.rtt


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

    rows are one connection's rows in capture order; directions holds every row's Direction code
    (PacketStates.direction); rtt is the handshake round trip in seconds, or None when the
    handshake was not captured. Each segment is indexed by its first sequence number as the pass
    goes by, so that finding the copy before a resent one costs a dictionary look-up, not a
    search back through the connection: linear in the connection's packets.
    """
    wanted = set(wanted)
    found: dict[int, Evidence] = {}
    if not wanted:
        return found
    sides = {0: _Sent(), 1: _Sent()}
    analysis, sack, length, seq = packets.analysis, packets.sack, packets.length, packets.seq
    # Only what came before the last wanted row, and segments of a side with wanted rows, matter.
    last, resending = max(wanted), {directions[row] for row in wanted}
    for row in rows:
        if row > last:
            break
        d = directions[row]
        own, peer = sides[d], sides[1 - d]
        if row in wanted:
            found[row] = _evidence(packets, row, own, rtt)
        peer.dup_acks_seen += bool(analysis[row] & _DUP_ACK)  # counted for the peer's resends
        peer.sack_acks_seen += bool(sack[row])
        if length[row] and d in resending:
            own.add(seq[row], length[row], row)
    return found


@dataclass(slots=True)
class _Segment:
    """The latest segment one side sent from a given first sequence number."""

    length: int
    row: int  # rows are in capture order: a later copy has a larger row
    dup_acks: int  # the side's dup_acks_seen when it was sent
    sack_acks: int


@dataclass(slots=True)
class _Sent:
    """One side's data segments so far, by first sequence number, and the peer's ACKs since."""

    base: int | None = None  # offsets count from the side's first data byte seen
    by_offset: dict[int, _Segment] = field(default_factory=dict)
    offsets: list[int] = field(default_factory=list)  # sorted keys of by_offset
    dup_acks_seen: int = 0  # duplicate ACKs from the peer so far
    sack_acks_seen: int = 0  # ACKs with SACK blocks from the peer so far

    def add(self, seq: int, length: int, row: int) -> None:
        if self.base is None:
            self.base = seq
        offset = seq_sub(seq, self.base)
        if offset not in self.by_offset:
            insort(self.offsets, offset)
        self.by_offset[offset] = _Segment(length, row, self.dup_acks_seen, self.sack_acks_seen)

    def holding(self, seq: int) -> _Segment | None:
        """The latest earlier segment holding the byte seq, or None."""
        if self.base is None:
            return None
        offset = seq_sub(seq, self.base)
        best = self.by_offset.get(offset)
        k = bisect_right(self.offsets, offset)
        for start in reversed(self.offsets[max(k - OVERLAP_SCAN, 0) : k]):
            segment = self.by_offset[start]
            newer = best is None or segment.row > best.row
            if offset - start < segment.length and newer:
                best = segment
        return best


def _evidence(packets: PacketColumns, row: int, own: _Sent, rtt: float | None) -> Evidence:
    """What the capture shows about one resent segment, given what its sender sent before."""
    cause_if_found = Cause.SPURIOUS if packets.analysis[row] & _SPURIOUS else None
    before = own.holding(packets.seq[row])
    if before is None:
        return Evidence(cause_if_found or Cause.UNKNOWN, None, 0.0, 0, 0, rtt)
    dup = own.dup_acks_seen - before.dup_acks
    sack = own.sack_acks_seen - before.sack_acks
    delay = max(packets.time[row] - packets.time[before.row], 0.0)
    cause = cause_if_found or _cause(dup, sack, delay)
    return Evidence(cause, before.row, delay, dup, sack, rtt)


def _cause(dup: int, sack: int, delay: float) -> Cause:
    if dup >= DUP_ACK_THRESHOLD:
        return Cause.DUP_ACKS
    if dup or sack:
        return Cause.SACK
    return Cause.TIMEOUT if delay >= MIN_RTO else Cause.EARLY
