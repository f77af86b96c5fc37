"""Which packets Zeek's machine must see (pure, whole-column): the rest only add to counters.

Zeek's history records most letters once per direction. Once a side has sent data and an ACK
(its D and A are recorded) and the connection has its final originator, a steady segment (no
SYN, FIN or RST, nothing in it that Zeek's history reads, an open window) changes nothing in
zeek.feed but that side's packet and payload counters. `plan` finds, with array operations, each
connection's runs of such segments that follow the first data and the first ACK of their
direction; zeek_views.verdicts feeds every other packet through the machine, and skips a run
only when the machine's state at that point proves it quiet (zeek_views.quiet), adding the run's
sums instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np

from pcapexplain.arrays import joined_rows, stable_order
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
    codes: bytes  # each event's code (see _codes), EVENT_CODE per event, in events' order
    shareable: list[bool]  # per connection: codes say all the machine reads of its packets


def plan(
    packets: PacketColumns, connections: Sequence[Connection], *, checksums_validated: bool
) -> Plan:
    """The packets each connection must feed through Zeek's machine, and the runs it may skip."""
    count = len(connections)
    sizes = np.fromiter(map(len, map(_INDEX, connections)), np.int64, count)
    bounds = np.zeros(count + 1, np.int64)
    np.cumsum(sizes, out=bounds[1:])
    rows = joined_rows([c.packet_index for c in connections])
    owner = np.repeat(np.arange(count), sizes)
    flags, length = _column(packets.flags, rows), _column(packets.length, rows)
    sport, dport = _column(packets.sport, rows), _column(packets.dport, rows)
    cport = np.fromiter(map(_CLIENT_PORT, connections), np.int64, count)
    sport_srv = np.fromiter(map(_SERVER_PORT, connections), np.int64, count)
    from_client = sport == cport.take(owner)
    # Sides told apart by port alone: connections whose ports cannot tell them feed every row.
    server_port = sport_srv.take(owner)
    tuple_ok = (from_client & (dport == server_port)) | (~from_client & (sport == server_port))
    tuple_ok &= (cport != sport_srv)[owner]
    fits = np.bincount(owner[~tuple_ok], minlength=count) == 0
    analysis, window = _column(packets.analysis, rows), _column(packets.window, rows)
    skip = steady(flags, analysis, window)
    skip &= fits.take(owner)
    if checksums_validated:
        skip &= _column(packets.tcp_checksum, rows) != _BAD
        skip &= _column(packets.ip_checksum, rows) != _BAD
    # (Products of masks rather than np.where, which takes several times longer here.)
    data = length != 0
    letter = data * DATA | (~data & ((flags & _ACK) != 0)) * ACKED
    skip &= letter != 0
    code = letter << (~from_client * 2)
    # The first such row of each connection and side records the letter: it is fed.
    skipped = np.flatnonzero(skip)
    skipped_code, skipped_owner = code.take(skipped), owner.take(skipped)
    for bit in (DATA, ACKED, DATA << 2, ACKED << 2):
        mine = np.flatnonzero(skipped_code == bit)
        first = np.ones(len(mine), bool)
        first[1:] = skipped_owner[mine[1:]] != skipped_owner[mine[:-1]]
        skip[skipped[mine[first]]] = False
    codes = _codes(
        packets, rows, owner, from_client, (flags, length, analysis, window), checksums_validated
    )
    # Negative lengths (tshark's malformed segments) would make the payload sums, which decide
    # REJ, depend on more than whether a segment carried data.
    shareable = fits & (np.bincount(owner[length < 0], minlength=count) == 0)
    return _events(rows, bounds, skip, code, from_client, length, codes, shareable)


_INDEX = attrgetter("packet_index")
_CLIENT_PORT, _SERVER_PORT = attrgetter("client.port"), attrgetter("server.port")


EVENT_CODE = np.dtype(np.uint16)
# Bits of a fed row's code (_codes); a skipped run's code is RUN | its letters. Of the codes'
# type, so that a mask times a bit stays two bytes a row.
_BIT = [EVENT_CODE.type(1 << k) for k in range(15)]
_FROM_CLIENT, _LENGTH, _RESENT, _LOST, _SHUT = _BIT[4:9]
_SAME_SYN, _SAME_FIN, _SAME_RST, _IP_BAD, _TCP_BAD = _BIT[9:14]
RUN = 1 << 14
_SYN, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.FIN), int(TcpFlags.RST)
_FLAG_BITS = ((_SYN, 1), (_ACK, 2), (_FIN, 4), (_RST, 8))
_FLAGS_READ = _SYN | _ACK | _FIN | _RST
# Each value of flags & _FLAGS_READ → its bits in a code, by _FLAG_BITS.
_FLAG_CODES = np.array(
    [sum(bit for flag, bit in _FLAG_BITS if v & flag) for v in range(_FLAGS_READ + 1)], EVENT_CODE
)


def _codes(
    packets: PacketColumns,
    rows: Array,
    owner: Array,
    from_client: Array,
    columns: tuple[Array, Array, Array, Array],
    checksums_validated: bool,
) -> Array:
    """Per row, all that zeek.feed (no timers, no meter) reads of it, short of the values that
    only add to the counters: its side, its SYN/ACK/FIN/RST bits, whether it carries data, the
    analysis verdicts the history reads, a zero window, its checksum verdicts, and, for each of
    its SYN (S or H), FIN and RST, whether it repeats the sequence number (the FIN's end) of that
    side's previous one: zeek._record notes such a letter again only when the number differs.
    columns: the flags, length, analysis and window columns at rows (plan gathered them)."""
    flags, length, analysis, window = columns
    code: Array = _FLAG_CODES.take(flags & _FLAGS_READ)
    code |= from_client * _FROM_CLIENT
    code |= (length > 0) * _LENGTH
    code |= ((analysis & RETRANSMITTED) != 0) * _RESENT
    code |= ((analysis & int(AnalysisFlag.ACK_LOST_SEGMENT)) != 0) * _LOST
    code |= (window == 0) * _SHUT
    noted = np.ones(len(rows), bool)  # rows whose letters reach zeek._history
    if checksums_validated:
        ip_bad = _column(packets.ip_checksum, rows) == _BAD
        tcp_bad = _column(packets.tcp_checksum, rows) == _BAD
        code |= ip_bad * _IP_BAD | tcp_bad * _TCP_BAD
        noted = ~(ip_bad | tcp_bad)
    # Only rows with a SYN, FIN or RST that reaches the history can repeat one.
    control = np.flatnonzero(noted & ((flags & (_SYN | _FIN | _RST)) != 0))
    flags, length = flags[control], length[control]
    seq = _column(packets.seq, rows[control])
    side = owner[control] * 2 + from_client[control]
    ack = (flags & _ACK) != 0
    code[control] |= (
        _repeats(side * 2 + ack, seq, (flags & _SYN) != 0) * _SAME_SYN
        | _repeats(side, seq + length, (flags & _FIN) != 0) * _SAME_FIN
        | _repeats(side, seq, (flags & _RST) != 0) * _SAME_RST
    )
    return code


def _repeats(group: Array, value: Array, mask: Array) -> Array:
    """Whether each masked row has the value of the previous masked row of its group."""
    at = np.flatnonzero(mask)
    at = at[stable_order(group[at])]
    same = np.zeros(len(at), bool)
    same[1:] = (group[at[1:]] == group[at[:-1]]) & (value[at[1:]] == value[at[:-1]])
    found = np.zeros(len(mask), bool)
    found[at] = same
    return found


def _column(column: Sequence[int], rows: Array) -> Array:
    # take: the same values as indexing with rows, in about half the time.
    return np.asarray(column).take(rows) if len(rows) else np.zeros(0, np.int64)


def _events(
    rows: Array,
    bounds: Array,
    skip: Array,
    code: Array,
    from_client: Array,
    length: Array,
    codes: Array,
    shareable: Array,
) -> Plan:
    n = len(rows)
    if not skip.any():
        return Plan(
            rows.tolist(), np.minimum(bounds, n).tolist(), rows, [], [], [], [], [], [], [],
            codes.astype(EVENT_CODE).tobytes(), shareable.tolist(),
        )  # fmt: skip
    # The skipped rows, cut into runs where the rows stop being consecutive or a connection
    # begins: a run's sums are sums over its stretch of the skipped rows alone.
    skipped = np.flatnonzero(skip)
    new_conn = np.zeros(n + 1, bool)
    new_conn[bounds] = True
    breaks = np.ones(len(skipped), bool)
    breaks[1:] = (skipped[1:] != skipped[:-1] + 1) | new_conn[skipped[1:]]
    first = np.flatnonzero(breaks)
    starts = skipped[first]
    ends = skipped[np.append(first[1:], len(skipped)) - 1] + 1
    # Events at their positions: a fed row is its row, a run is ~number at its first position
    # (fed rows and run starts are distinct positions: a mask orders them, no sort needed).
    event = ~skip
    event[starts] = True
    at = np.flatnonzero(event)
    letters = np.bitwise_or.reduceat(code.take(skipped), first)
    value, every_code = rows.copy(), codes.copy()
    value[starts] = ~np.arange(len(starts))
    every_code[starts] = RUN | letters
    client, run_length = from_client.take(skipped), length.take(skipped)
    packets = ends - starts
    client_packets = np.add.reduceat(client, first, dtype=np.int64)
    all_bytes = np.add.reduceat(run_length, first)
    client_bytes = np.add.reduceat(run_length * client, first)
    return Plan(
        events=value[at].tolist(),
        bounds=np.searchsorted(at, bounds).tolist(),
        rows=rows,
        start=starts.tolist(),
        end=ends.tolist(),
        letters=letters.tolist(),
        client_packets=client_packets.tolist(),
        client_bytes=client_bytes.tolist(),
        server_packets=(packets - client_packets).tolist(),
        server_bytes=(all_bytes - client_bytes).tolist(),
        codes=every_code[at].astype(EVENT_CODE).tobytes(),
        shareable=shareable.tolist(),
    )
