"""Retransmission evidence (pure): what a resent segment repeats, after how long, and why.

tshark says that a segment was sent again; the cause is read from what the capture shows between
the previous copy and this one: duplicate ACKs (fast retransmit, RFC 5681 §3.2), SACK blocks
reporting later data (SACK or RACK loss recovery, RFC 6675, RFC 8985), or silence (a timer: the
retransmission timeout of RFC 6298, or a tail-loss probe), with the delay weighed against the
round-trip time measured in the handshake. The anomaly checks and the narrative both ask here, so
a finding and a sentence can never give a segment two different causes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from pcapexplain.model import AnalysisFlag, PacketColumns
from pcapexplain.seqspace import seq_sub

_DUP_ACK = int(AnalysisFlag.DUPLICATE_ACK)
DUP_ACK_THRESHOLD = 3  # RFC 5681 §3.2: the third duplicate ACK triggers a fast retransmit
MIN_RTO = 0.2  # seconds: Linux's TCP_RTO_MIN; RFC 6298 §2.4 would allow no less than 1 s
LOOK_BACK = 4096  # packets of the connection searched for the original


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


def evidence(
    packets: PacketColumns,
    rows: Sequence[int],
    directions: Sequence[int],
    position: int,
    rtt: float | None,
) -> Evidence:
    """The evidence for rows[position], a segment tshark marks as resent.

    rows are one connection's rows in capture order, directions their Direction codes (aligned),
    rtt the handshake round trip in seconds (or None when the handshake was not captured).
    """
    row, d = rows[position], directions[position]
    if packets.analysis[row] & AnalysisFlag.SPURIOUS_RETRANSMISSION:
        cause_if_found = Cause.SPURIOUS
    else:
        cause_if_found = None
    start = _previous(packets, rows, directions, position)
    if start is None:
        return Evidence(cause_if_found or Cause.UNKNOWN, None, 0.0, 0, 0, rtt)
    dup = sack = 0
    for k in range(start + 1, position):
        if directions[k] == d:
            continue
        r = rows[k]
        dup += bool(packets.analysis[r] & _DUP_ACK)
        sack += bool(packets.sack[r])
    previous = rows[start]
    delay = max(packets.time[row] - packets.time[previous], 0.0)
    cause = cause_if_found or _cause(dup, sack, delay)
    return Evidence(cause, previous, delay, dup, sack, rtt)


def _cause(dup: int, sack: int, delay: float) -> Cause:
    if dup >= DUP_ACK_THRESHOLD:
        return Cause.DUP_ACKS
    if dup or sack:
        return Cause.SACK
    return Cause.TIMEOUT if delay >= MIN_RTO else Cause.EARLY


def _previous(
    packets: PacketColumns, rows: Sequence[int], directions: Sequence[int], position: int
) -> int | None:
    """Position of the latest earlier segment from the same side holding this one's first byte."""
    row, d = rows[position], directions[position]
    seq = packets.seq[row]
    for k in range(position - 1, max(position - LOOK_BACK, 0) - 1, -1):
        r = rows[k]
        if (
            directions[k] == d
            and packets.length[r]
            and seq_sub(seq, packets.seq[r]) < packets.length[r]
        ):
            return k
    return None
