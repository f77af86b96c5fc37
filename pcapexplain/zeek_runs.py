"""Which packets Zeek's machine must see (pure, whole-column): the rest only add to counters.

Zeek's history records most letters once per direction. Once a side has sent data and an ACK
(its D and A are recorded) and the connection has its final originator, a steady segment (no
SYN, FIN or RST, nothing in it that Zeek's history reads, an open window) changes nothing in
zeek.feed but that side's packet and payload counters. `plan` finds, with array operations, each
connection's runs of such segments that follow the first data and the first ACK of their
direction; zeek.verdicts feeds every other packet through the machine, and skips a run only when
the machine's state at that point proves it quiet (zeek.quiet), adding the run's sums instead.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from pcapexplain.model import (
    RETRANSMITTED,
    AnalysisFlag,
    ChecksumStatus,
    Connection,
    PacketColumns,
    TcpFlags,
)

Array = np.ndarray[Any, Any]
T = TypeVar("T", int, Array)

_CONTROL = int(TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)
_ACK = int(TcpFlags.ACK)
_BAD = int(ChecksumStatus.BAD)
# The analysis verdicts Zeek's history reads: retransmissions (T) and ACKs of unseen data (G).
HISTORY_BITS = RETRANSMITTED | int(AnalysisFlag.ACK_LOST_SEGMENT)
DATA, ACKED = 1, 2  # the letter a steady segment records: D for data, else A for an ACK


def steady(flags: T, analysis: T, window: T) -> T:
    """A segment that moves no state of a running connection: no SYN, FIN or RST, no verdict the
    history reads, an open window. The same expression for one packet and for whole columns."""
    return ((flags & _CONTROL) == 0) & ((analysis & HISTORY_BITS) == 0) & (window != 0)  # type: ignore[no-any-return]


@dataclass(slots=True)
class Plan:
    """What to feed, in connection order: events[bounds[i]:bounds[i + 1]] are connection i's.

    An event >= 0 is a packet row to feed; an event < 0 is run ~event, whose rows are
    rows[start[k]:end[k]] and whose sums the arrays give, per side (client, server).
    """

    events: list[int]
    bounds: list[int]
    rows: Array  # every connection's packet rows, one after the other
    start: list[int]
    end: list[int]
    letters: list[int]  # DATA/ACKED bits of the client's rows, those of the server's << 2
    client_packets: list[int]
    client_bytes: list[int]
    server_packets: list[int]
    server_bytes: list[int]


def plan(
    packets: PacketColumns, connections: Sequence[Connection], *, checksums_validated: bool
) -> Plan:
    """The packets each connection must feed through Zeek's machine, and the runs it may skip."""
    sizes = np.fromiter((len(c.packet_index) for c in connections), np.int64, len(connections))
    bounds = np.zeros(len(connections) + 1, np.int64)
    np.cumsum(sizes, out=bounds[1:])
    rows = _all_rows(connections)
    owner = np.repeat(np.arange(len(connections)), sizes)
    flags, length = _column(packets.flags, rows), _column(packets.length, rows)
    sport, dport = _column(packets.sport, rows), _column(packets.dport, rows)
    cport = np.fromiter((c.client.port for c in connections), np.int64, len(connections))
    sport_srv = np.fromiter((c.server.port for c in connections), np.int64, len(connections))
    from_client = sport == cport[owner]
    # Sides told apart by port alone: connections whose ports cannot tell them feed every row.
    tuple_ok = np.where(from_client, dport == sport_srv[owner], sport == sport_srv[owner])
    tuple_ok &= (cport != sport_srv)[owner]
    good = tuple_ok.astype(np.int64)
    fits = np.bincount(owner, weights=good, minlength=len(connections)) == sizes
    skip = steady(flags, _column(packets.analysis, rows), _column(packets.window, rows))
    skip &= fits[owner]
    if checksums_validated:
        skip &= _column(packets.tcp_checksum, rows) != _BAD
        skip &= _column(packets.ip_checksum, rows) != _BAD
    letter = np.where(length != 0, DATA, np.where(flags & _ACK, ACKED, 0))
    skip &= letter != 0
    code = letter << np.where(from_client, 0, 2)
    for bit in (DATA, ACKED, DATA << 2, ACKED << 2):
        # The first such row of each connection and side records the letter: it is fed.
        at = np.flatnonzero(skip & (code == bit))
        first = np.ones(len(at), bool)
        first[1:] = owner[at[1:]] != owner[at[:-1]]
        skip[at[first]] = False
    return _events(rows, bounds, skip, code, from_client, length)


def _all_rows(connections: Sequence[Connection]) -> Array:
    """Every connection's packet rows, one connection after the other."""
    indexes = [c.packet_index for c in connections]
    if not indexes:
        return np.zeros(0, np.int64)
    kinds = {i.typecode if isinstance(i, array) else "" for i in indexes}
    if len(kinds) == 1 and "" not in kinds:  # arrays of one type: their bytes, joined
        return np.frombuffer(b"".join(indexes), np.dtype(kinds.pop())).astype(np.int64)
    return np.concatenate([np.asarray(i, np.int64) for i in indexes])


def _column(column: Sequence[int], rows: Array) -> Array:
    return np.asarray(column)[rows] if len(rows) else np.zeros(0, np.int64)


def _events(
    rows: Array,
    bounds: Array,
    skip: Array,
    code: Array,
    from_client: Array,
    length: Array,
) -> Plan:
    n = len(rows)
    if not skip.any():
        return Plan(rows.tolist(), np.minimum(bounds, n).tolist(), rows, [], [], [], [], [], [], [])
    new_conn = np.zeros(n + 1, bool)
    new_conn[bounds] = True
    previous = np.concatenate(([False], skip[:-1]))
    following = np.concatenate((skip[1:], [False]))
    starts = np.flatnonzero(skip & (~previous | new_conn[:n]))
    ends = np.flatnonzero(skip & (~following | new_conn[1:])) + 1
    fed = np.flatnonzero(~skip)
    # Events at their positions: a fed row is its row, a run is ~number at its first position.
    at = np.concatenate((fed, starts))
    value = np.concatenate((rows[fed], ~np.arange(len(starts))))
    order = np.argsort(at, kind="stable")
    at, value = at[order], value[order]

    def per_run(values: Array) -> Array:
        """values summed over each run (rows between runs count 0)."""
        return np.add.reduceat(np.where(skip, values, 0), starts)

    client = from_client.astype(np.int64)
    letters = np.bitwise_or.reduceat(np.where(skip, code, 0), starts)
    return Plan(
        events=value.tolist(),
        bounds=np.searchsorted(at, bounds).tolist(),
        rows=rows,
        start=starts.tolist(),
        end=ends.tolist(),
        letters=letters.tolist(),
        client_packets=per_run(client).tolist(),
        client_bytes=per_run(length * client).tolist(),
        server_packets=per_run(1 - client).tolist(),
        server_bytes=per_run(length * (1 - client)).tolist(),
    )
