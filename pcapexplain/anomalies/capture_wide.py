"""What the anomaly checks read across connections: the capture-wide facts, one definition each.

Every other input of a check is its own connection's rows. These facts are not: a capture split
into parts by 4-tuple (`shards.py`) must compute them once over all the parts. Each part makes a
`Tally` of its connections; `combine` folds the tallies into the capture's `CaptureWide`, the
same whatever the split (sums, maxima, minima and unions), so one part alone gives the facts of
an unsplit capture.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pcapexplain.anomalies.context import ACK, BAD_CHECKSUM, FIN, LOOK_BACK, SYN
from pcapexplain.model import Connection, PacketColumns, PacketStates
from pcapexplain.seqspace import segment_end, seq_ge

NO_MSS = 1 << 30  # the smallest MSS when no connection announced one: no segment exceeds it


@dataclass(frozen=True, slots=True)
class CaptureWide:
    """The facts of the whole capture that the checks share."""

    end: float  # the capture's last timestamp: how long an unanswered SYN or open FIN waited
    min_mss: int  # the smallest MSS any connection announced (the notable-row prefilter)
    offload_hosts: frozenset[str]  # hosts whose bad TCP checksums are offload (D14)


@dataclass(frozen=True, slots=True)
class Tally:
    """One part's share of the capture-wide facts, before `combine`."""

    end: float
    min_mss: int
    bad: Counter[str]  # bad TCP checksums per sending host
    accepted: frozenset[str]  # hosts a bad segment of which its peer acknowledged
    sent: Counter[str]  # packets per sending host


def tally(packets: PacketColumns, states: PacketStates, connections: list[Connection]) -> Tally:
    """This part's share: packets and states are its aligned columns, connections its
    reconstructed connections."""
    last = packets.time[-1] if len(packets) else 0.0
    end = max(last, max((c.last_time for c in connections), default=0.0))
    known_mss = [o.mss for c in connections for o in (c.client_options, c.server_options) if o.mss]
    bad, accepted = _bad_checksums(packets, states, connections)
    sent: Counter[str] = Counter()
    for c in connections:
        sent[c.client.ip] += c.to_server.packets
        sent[c.server.ip] += c.to_client.packets
    return Tally(end, min(known_mss, default=NO_MSS), bad, frozenset(accepted), sent)


def combine(tallies: Sequence[Tally]) -> CaptureWide:
    """The capture's facts from the tallies of all its parts.

    A host is offloading when the capture point saw its bad checksums before the NIC filled them
    in: some bad segment of it was acknowledged (a receiver drops a segment with a wrong
    checksum), or every packet it sent is bad (damage on the way does not hit every packet).
    """
    bad: Counter[str] = Counter()
    sent: Counter[str] = Counter()
    accepted: set[str] = set()
    for part in tallies:
        bad.update(part.bad)
        sent.update(part.sent)
        accepted |= part.accepted
    offload = frozenset(h for h, n in bad.items() if h in accepted or n >= sent[h] > 0)
    return CaptureWide(
        end=max((t.end for t in tallies), default=0.0),
        min_mss=min((t.min_mss for t in tallies), default=NO_MSS),
        offload_hosts=offload,
    )


def capture_wide(
    packets: PacketColumns, states: PacketStates, connections: list[Connection]
) -> CaptureWide:
    """The facts of a capture analysed whole."""
    return combine([tally(packets, states, connections)])


def _bad_checksums(
    packets: PacketColumns, states: PacketStates, connections: list[Connection]
) -> tuple[Counter[str], set[str]]:
    """Bad TCP checksums per sender, and the senders one of whose bad segments was acknowledged."""
    bad: Counter[str] = Counter()
    accepted: set[str] = set()
    bad_rows = np.flatnonzero(np.asarray(packets.tcp_checksum, dtype=np.int64) == BAD_CHECKSUM)
    if not len(bad_rows):
        return bad, accepted
    by_id = {c.id: c for c in connections}
    for r in bad_rows.tolist():
        c = by_id.get(states.connection[r])
        if c is None:
            continue
        src = packets.src[r]
        bad[src] += 1
        if src not in accepted and _acknowledged(packets, c.packet_index, r):
            accepted.add(src)
    return bad, accepted


def _acknowledged(packets: PacketColumns, index: Sequence[int], row: int) -> bool:
    """The peer acknowledged row's sequence space before the sender sent it again."""
    p = packets
    if not p.length[row] and not p.flags[row] & (SYN | FIN):
        return False  # a pure ACK: its arrival leaves no trace
    end = segment_end(p.seq[row], p.length[row], p.flags[row])
    pos = bisect_left(index, row) + 1
    for r in index[pos : pos + LOOK_BACK]:
        if p.src[r] == p.src[row]:
            if p.seq[r] == p.seq[row] and p.flags[r] & SYN == p.flags[row] & SYN:
                return False  # resent first: the original may have been dropped
        elif p.flags[r] & ACK and seq_ge(p.ack[r], end):
            return True
    return False
