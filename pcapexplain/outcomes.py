"""Connection summaries (pure): handshake and teardown outcomes, who closed, counters, options.

Works on one connection after `endpoints.replay` has given every packet its role and states.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np

from pcapexplain import arrays, icmp, vantage
from pcapexplain.endpoints import Side
from pcapexplain.model import (
    NO_VALUE,
    RETRANSMITTED,
    Closer,
    Connection,
    Direction,
    Handshake,
    Inference,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
    TcpOptions,
    TcpState,
    Teardown,
)
from pcapexplain.seqspace import acks_syn, segment_end, seq_ge, seq_gt

_SYN, _ACK, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
_TO_SERVER = int(Direction.TO_SERVER)
_ID = attrgetter("id")
_STATES = {int(s): s for s in TcpState}
_HS_ACK = int(PacketRole.HANDSHAKE_ACK)
_TIME_WAIT = int(TcpState.TIME_WAIT)
_SYN_RESENT = int(PacketRole.SYN_RETRANSMISSION)
_FIRST_SENDS = (int(PacketRole.SYN), int(PacketRole.SYN_ACK))
_SYNCHRONIZED = frozenset(
    int(s)
    for s in (TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2, TcpState.CLOSE_WAIT)
)
_NEVER_OPENED = frozenset(
    (
        Handshake.REFUSED,
        Handshake.UNANSWERED,
        Handshake.UNREACHABLE,
        Handshake.INCOMPLETE,
        Handshake.OLD_DUPLICATE,
        Handshake.STRAY,
    )
)


# A row summarise reads: its position in packet_index, the row, its flags, payload length,
# direction, seq and ack.
SeenRow = tuple[int, int, int, int, int, int, int]


@dataclass(slots=True)
class _Facts:
    """What one pass over a connection's rows found; rows are indexes into the columns."""

    syn: int | None = None  # the client's first SYN
    last_syn: int | None = None  # its SYN just before the first SYN-ACK
    synack: int | None = None  # the server's first SYN-ACK acknowledging the client's SYN
    last_synack: int | None = None  # its last one before the handshake ACK: the one answered
    server_syn: bool = False  # the server sent a pure SYN too
    hs_ack: int | None = None
    fins: list[int | None] = field(default_factory=lambda: [None, None])  # first FIN per direction
    rsts: list[int | None] = field(default_factory=lambda: [None, None])
    rst_after_synack: bool = False  # the client reset right after the SYN-ACK
    synack_acks: set[int] = field(default_factory=set)  # ack fields of the server's SYN-ACKs
    stale_reset: bool = False  # the client reset a SYN-ACK: <SEQ=SEG.ACK><CTL=RST> (Fig. 8)
    half_close: bool = False
    sent_end: list[int | None] = field(default_factory=lambda: [None, None])  # highest seq end
    ack_missed: bool = False  # the server's ACK of data proves a handshake ACK never captured


def summarise(
    packets: PacketColumns,
    states: PacketStates,
    conn: Connection,
    client: Side,
    server: Side,
    rows: Iterable[SeenRow] | None = None,
    span: tuple[float, float] | None = None,
) -> tuple[int, int]:
    """Fill the connection's outcome fields from its replayed rows, but for the options: return
    the rows of the client's SYN and the server's SYN-ACK whose options it takes (-1: none),
    for `fill_options`.

    rows, when given, are the rows of packet_index that can add a fact (`SeenRow`): its rows
    with SYN, FIN or RST, its handshake ACKs, and its payload after a FIN; span, when given, is
    its earliest and latest timestamp.
    """
    facts = _gather(packets, states, conn, client, rows)
    index = conn.packet_index
    first, last = index[0], index[-1]
    if span is None:
        times = [packets.time[row] for row in index]
        span = min(times), max(times)
    conn.first_time, conn.last_time = span  # never a negative duration
    conn.first_frame, conn.last_frame = packets.frame[first], packets.frame[last]
    conn.client_isn = client.sent_syn if client.sent_syn is not None else client.isn
    conn.server_isn = server.sent_synack if server.sent_synack is not None else server.isn
    conn.client_final = _STATES[states.client_after[last]]
    conn.server_final = _STATES[states.server_after[last]]
    _rtts(packets, conn, facts)
    if facts.hs_ack is None and client.missed_synack_row is not None:
        facts.hs_ack = client.missed_synack_row  # a FIN+ACK from SYN_SENT proves it as well
    elif facts.hs_ack is None and server.missed_ack_row is not None:
        facts.hs_ack, facts.ack_missed = server.missed_ack_row, True
    conn.handshake = _handshake(conn, facts, server)
    if conn.handshake is Handshake.OLD_DUPLICATE and client.bad_synack_ack is None:
        _client_had_no_connection(states, conn)
    conn.vantage = vantage.locate(conn.handshake, conn.rtt_syn_synack, conn.rtt_synack_ack)
    conn.teardown = _teardown(conn, facts, client, server)
    conn.closed_first = _closed_first(conn, facts)
    conn.time_wait = _closer(client.reached_time_wait, server.reached_time_wait)
    conn.half_close = facts.half_close and conn.teardown not in (Teardown.NONE,)
    conn.inferred = _inferred(conn, facts)
    return -1 if facts.syn is None else facts.syn, -1 if facts.synack is None else facts.synack


@dataclass(frozen=True, slots=True)
class PlainRows:
    """Rows of connections of a plain handshake, its third row the handshake ACK, and a plain
    close (endpoints.plain_openings, plain_closings), one entry per connection (numpy arrays)."""

    syn: Any
    synack: Any
    hs_ack: Any
    closer_fin: Any  # the first FIN (any row of one still open)
    last: Any
    three_way: Any  # bool: the close is three-way (endpoints.three_way)
    still_open: Any  # bool: no close at all, the connection is open at the capture's end
    first_time: Any  # the connection's earliest and latest timestamps
    last_time: Any


def plain_summaries(
    packets: PacketColumns,
    states: PacketStates,
    connections: Sequence[Connection],
    rows: PlainRows,
) -> list[tuple[int, int]]:
    """What summarise (the rule) finds in connections whose every row the plain shapes wrote,
    column-wise; each one's (SYN, SYN-ACK) rows, for fill_options.

    Their shape fixes the verdicts that need no replay: the handshake is complete, no RST, no
    data after a FIN, the side that sent the first FIN closed first (none: still open, and
    none closed), and the client sent the SYN, so nothing is inferred. The final states, and so
    who waits in TIME_WAIT, are read from the replayed states as summarise reads them. Tests
    (test_reconstruct_skip) compare with summarise over every row.
    """
    time = np.asarray(packets.time, dtype=np.float64)
    seq = np.asarray(packets.seq, dtype=np.int64)
    frame = np.asarray(packets.frame, dtype=np.int64)
    direction = np.frombuffer(states.direction, dtype=np.int8)
    # By code: a close's (three-way; sent by the client), or 2 for one still open.
    closers = (Closer.SERVER, Closer.CLIENT, Closer.NONE)
    teardowns = (Teardown.FOUR_WAY, Teardown.THREE_WAY, Teardown.OPEN_AT_END)
    still_open = np.asarray(rows.still_open, dtype=bool)
    by_client = np.where(still_open, 2, direction[rows.closer_fin] == _TO_SERVER)
    shape = np.where(still_open, 2, rows.three_way)
    complete, locate = Handshake.COMPLETE, vantage.locate
    client_after = np.frombuffer(states.client_after, dtype=np.int8)[rows.last].tolist()
    server_after = np.frombuffer(states.server_after, dtype=np.int8)[rows.last].tolist()
    columns = zip(
        connections,
        _not_negative(time[rows.synack] - time[rows.syn]).tolist(),  # _rtts
        _not_negative(time[rows.hs_ack] - time[rows.synack]).tolist(),
        seq[rows.syn].tolist(),
        seq[rows.synack].tolist(),
        frame[rows.syn].tolist(),
        frame[rows.last].tolist(),
        rows.first_time.tolist(),
        rows.last_time.tolist(),
        by_client.tolist(),
        shape.tolist(),
        client_after,
        server_after,
        strict=True,
    )
    for conn, rtt_syn, rtt_ack, c_isn, s_isn, first, last, t0, t1, client, three, c, s in columns:
        conn.first_time, conn.last_time, conn.first_frame, conn.last_frame = t0, t1, first, last
        conn.client_isn, conn.server_isn = c_isn, s_isn
        conn.client_final, conn.server_final = _STATES[c], _STATES[s]
        conn.rtt_syn_synack, conn.rtt_synack_ack = rtt_syn, rtt_ack
        conn.handshake = complete
        conn.vantage = locate(complete, rtt_syn, rtt_ack)
        conn.teardown = teardowns[three]
        conn.closed_first = closers[client]  # the client sent the first FIN
        # From the replayed states, as summarise reads them: a plain close ends on the last ACK.
        conn.time_wait = _closer(c == _TIME_WAIT, s == _TIME_WAIT)
        # half_close and inferred keep their defaults: False, ().
    return list(zip(rows.syn.tolist(), rows.synack.tolist(), strict=True))


def _not_negative(durations: Any) -> Any:
    """max(duration, 0.0) of each, as _rtts takes it (a NaN stays)."""
    return np.where(durations < 0.0, 0.0, durations)


def _gather(
    packets: PacketColumns,
    states: PacketStates,
    conn: Connection,
    client: Side,
    rows: Iterable[SeenRow] | None,
) -> _Facts:
    facts = _Facts()
    p_flags, p_len, p_seq, p_ack = packets.flags, packets.length, packets.seq, packets.ack
    direction, role, index = states.direction, states.role, conn.packet_index
    alone = conn.self_connect
    moving = False  # sent_end is kept up to date row by row
    if rows is None:
        rows = (
            (pos, r, p_flags[r], p_len[r], direction[r], p_seq[r], p_ack[r])
            for pos, r in enumerate(index)
        )
    # rows may leave out rows without SYN, FIN or RST that are no handshake ACK and carry no
    # payload after a FIN: the loop does nothing with those.
    for pos, row, flags, length, d, seq, ack in rows:
        if flags & (_SYN | _FIN | _RST):
            _control(facts, row, d, flags, seq, ack, client, alone)
        elif facts.hs_ack is None and role[row] == _HS_ACK:
            facts.hs_ack = row
        if moving:
            if length or flags & _FIN:
                _data(facts, d, seq, length, flags)
        elif length and facts.fins[1 - d] is not None and facts.fins[d] is None:
            # The first row that _data can find a half-close on; before it, _data only moved
            # sent_end. Most connections have no such row, so that is done here, once.
            for earlier in index[:pos]:
                if p_len[earlier] or p_flags[earlier] & _FIN:
                    end = segment_end(p_seq[earlier], p_len[earlier], p_flags[earlier])
                    _advance(facts, direction[earlier], end)
            moving = True
            _data(facts, d, seq, length, flags)
    return facts


def count(packets: PacketColumns, states: PacketStates, connections: list[Connection]) -> None:
    """Fill every connection's per-direction counters and tshark stream numbers, from
    whole-column passes over the replayed rows (each row belongs to one connection), and note a
    side whose packets are all missing from the capture."""
    size = 2 * len(connections)
    if not size:
        return
    owner = np.asarray(states.connection, dtype=np.int64)
    key = owner.astype(np.int32) if size < 1 << 31 else owner.copy()  # half the memory
    key *= 2
    key += np.asarray(states.direction)  # Direction code: 0 to server
    counts = np.bincount(key, minlength=size)
    roles, bits = np.asarray(states.role), np.asarray(packets.analysis)
    # DirectionStats' fields in order: packets, payload_bytes, retransmissions, unknown_length.
    columns = (
        counts,
        _sums(key, packets.length, size),
        np.bincount(key[_resent(roles, bits)], minlength=size),
        _sums(key, packets.length_unknown, size),
    )
    ids = np.fromiter(map(_ID, connections), np.int64, len(connections))
    streams = _streams(owner, packets.stream, len(connections))
    # Each connection's eight counters side by side: one zip, no index arithmetic per connection.
    sides = [column.take(2 * ids + d).tolist() for d in (0, 1) for column in columns]
    found = map(streams.__getitem__, ids.tolist())
    for conn, sp, sb, sr, su, cp, cb, cr, cu, st in zip(connections, *sides, found, strict=True):
        s, c = conn.to_server, conn.to_client
        s.packets, s.payload_bytes, s.retransmissions, s.unknown_length = sp, sb, sr, su
        c.packets, c.payload_bytes, c.retransmissions, c.unknown_length = cp, cb, cr, cu
        conn.tshark_streams = st
    _note_unseen_sides(packets, states, key, counts, connections)


def _note_unseen_sides(
    packets: PacketColumns,
    states: PacketStates,
    key: np.ndarray,
    counts: np.ndarray,
    connections: list[Connection],
) -> None:
    """A side with no packet in the capture, though its peer's packets show that it sent
    something while the capture ran: the peer's acknowledgment number moved, or the peer's SYN is
    in the capture and the peer then acknowledged something. One direction was not captured, so
    what that side sent cannot be seen. A lone SYN-ACK proves no such thing: the SYN it answers
    and the ACK that follows may lie outside the capture. A socket connected to itself has one
    direction, whose every packet is both sides'."""
    silent = counts == 0  # per key: that direction has no packet
    rows = np.flatnonzero(silent[key ^ 1])  # the packets whose peer direction is silent
    if not len(rows):
        return
    keys, flags = key[rows], np.asarray(packets.flags)[rows]
    acking = (flags & _ACK) != 0
    acks = np.asarray(packets.ack, dtype=np.int64)[rows][acking]
    with_ack = keys[acking]
    firsts, first_at = np.unique(with_ack, return_index=True)  # rows are in capture order
    first_ack = np.zeros(len(silent), dtype=np.int64)
    first_ack[firsts] = acks[first_at]
    moved = np.bincount(with_ack[acks != first_ack[with_ack]], minlength=len(silent)) > 0
    syn = np.bincount(keys[(flags & (_SYN | _ACK)) == _SYN], minlength=len(silent)) > 0
    acked = np.zeros(len(silent), dtype=bool)
    acked[firsts] = True
    proof = moved | (syn & acked)
    distinct = arrays.distinct(keys)
    proven = distinct[proof[distinct]].tolist()
    if not proven:
        return
    by_id = {c.id: c for c in connections}
    for k in proven:
        conn = by_id[k >> 1]
        if conn.self_connect:
            continue
        unseen = Inference.CLIENT_NOT_CAPTURED if k & 1 else Inference.SERVER_NOT_CAPTURED
        conn.inferred = (*conn.inferred, unseen)
        _one_sided_close(packets, states, conn, k & 1)


def _one_sided_close(
    packets: PacketColumns, states: PacketStates, conn: Connection, seen: int
) -> None:
    """Who closed first, when only direction `seen` is in the capture.

    The visible side's first FIN or RST is the only close the capture shows, yet the unseen side
    may have sent its FIN before it. What the visible side's acknowledgment numbers prove:

    - a later segment of the visible side acknowledges more than its close did (one more: the
      peer's FIN; a resent FIN acking one more, as the BSDs and macOS send, counts too): what
      the peer sent then arrived after the close was sent, and nothing follows a FIN, so the
      peer had not closed before. The visible side closed first (both sides may have closed at
      once, the FINs crossing: the visible side still sent its FIN before receiving the peer's).
      What moved the ack may be the peer's FIN, acknowledging the visible FIN or crossing it, or
      data: from that segment on the states, and who ends in TIME_WAIT, are unknown.
    - otherwise the close's ack may already cover the peer's FIN, moved by one just before or
      with it, or long before; or the peer never closed. Exactly these packets come from either
      order, so who closed first is unknown, and, for a FIN, so are the states from the first
      segment whose ack reached the close's (the peer's FIN, if any, is the last thing it
      covers) and who ends in TIME_WAIT. A reset leaves both sides CLOSED either way.
    """
    if conn.closed_first is not (Closer.SERVER if seen else Closer.CLIENT):
        return
    flags, acks, direction = packets.flags, packets.ack, states.direction
    mine = [r for r in conn.packet_index if direction[r] == seen]
    at = next((i for i, r in enumerate(mine) if flags[r] & (_FIN | _RST)), None)
    if at is None:
        return
    acked = [acks[r] for r in mine[: at + 1] if flags[r] & _ACK]
    later = (r for r in mine[at + 1 :] if acked and flags[r] & _ACK and seq_gt(acks[r], acked[-1]))
    moved = next(later, None)
    if moved is None:
        conn.closed_first = Closer.UNKNOWN
    if flags[mine[at]] & _RST:
        return
    if moved is None:  # from the first segment that may have acknowledged the peer's FIN
        before = states.client_before if seen == _TO_SERVER else states.server_before
        # A segment that completes the opening keeps its story (what it proves holds either way).
        opened = (r for r in mine[:at] if before[r] in _SYNCHRONIZED and flags[r] & _ACK)
        moved = next((r for r in opened if acks[r] == acked[-1]), mine[at]) if acked else mine[at]
    else:  # the peer got the FIN in CLOSE_WAIT, or in CLOSING, its own FIN crossing; or not yet
        _forget_peer(states, conn, mine[at], client=seen != _TO_SERVER)
    conn.time_wait = Closer.UNKNOWN
    _forget_states(states, conn, moved)


def _forget_peer(states: PacketStates, conn: Connection, start: int, *, client: bool) -> None:
    """One side's state is unknown after row start's packet and from then on."""
    unknown = int(TcpState.UNKNOWN)
    before, after = (
        (states.client_before, states.client_after)
        if client
        else (states.server_before, states.server_after)
    )
    for row in conn.packet_index:
        if row > start:
            before[row] = unknown
        if row >= start:
            after[row] = unknown
            pair = states.passed.get(row)
            if pair is not None:
                states.passed[row] = (unknown, pair[1]) if client else (pair[0], unknown)


def _forget_states(states: PacketStates, conn: Connection, start: int) -> None:
    """Both sides' states are unknown after row start and from then on."""
    unknown = int(TcpState.UNKNOWN)
    for row in conn.packet_index:
        if row > start:
            states.client_before[row] = states.server_before[row] = unknown
            states.passed.pop(row, None)
        if row >= start:
            states.client_after[row] = states.server_after[row] = unknown
    conn.client_final = conn.server_final = TcpState.UNKNOWN


def _sums(key: np.ndarray, column: Sequence[int], size: int) -> np.ndarray:
    values = np.asarray(column)
    if not values.any():  # as length_unknown nearly always is
        return np.zeros(size, dtype=np.int64)
    # bincount sums in float64 (exact below 2**53 bytes), ten times faster than np.add.at.
    return np.bincount(key, weights=values.astype(np.float64), minlength=size).astype(np.int64)


def _streams(owner: np.ndarray, column: Sequence[int], size: int) -> list[tuple[int, ...]]:
    """Each connection's distinct tshark stream numbers, ascending, by connection id (size of
    them; none for a connection without rows)."""
    streams = np.asarray(column, dtype=np.int64)
    # One stream per connection, whichever of its rows wrote it last (np.minimum.at is slow):
    # a connection whose rows all equal it has that one stream, as nearly every one does.
    some = np.zeros(size, dtype=np.int64)
    some[owner] = streams
    single = np.ones(size, dtype=bool)
    single[owner[streams != some[owner]]] = False
    seen = np.zeros(size, dtype=bool)
    seen[owner] = True
    # zip of one list makes its 1-tuples without a Python step per connection.
    found: list[tuple[int, ...]] = list(zip(some.tolist()))
    for cid in np.flatnonzero(~(single & seen)).tolist():
        found[cid] = ()
    rows = np.flatnonzero(~single[owner])
    if len(rows):
        for cid, several in _distinct(owner[rows], streams[rows]).items():
            found[cid] = several
    return found


def _distinct(owner: np.ndarray, streams: np.ndarray) -> dict[int, tuple[int, ...]]:
    low = int(streams.min())
    span = int(streams.max()) - low + 1
    pairs = np.unique(owner * span + (streams - low))  # by connection, then stream
    found: dict[int, tuple[int, ...]] = {}
    for cid, stream in zip((pairs // span).tolist(), (pairs % span + low).tolist(), strict=True):
        found[cid] = (*found.get(cid, ()), stream)
    return found


def _resent(role: Any, analysis: Any) -> Any:
    """The one rule, for a row's role and analysis codes or for whole columns of them (numpy)."""
    resend = (role != _FIRST_SENDS[0]) & (role != _FIRST_SENDS[1])  # & and |: bool or array
    return (role == _SYN_RESENT) | (((analysis & RETRANSMITTED) != 0) & resend)


def resent(packets: PacketColumns, states: PacketStates, row: int) -> bool:
    """The packet is a copy of one sent before: tshark says so, or the replay found a SYN resent.

    tshark also calls the SYN-ACKs of a simultaneous open retransmissions; they are first sends.
    """
    return bool(_resent(states.role[row], packets.analysis[row]))


def _control(
    facts: _Facts, row: int, d: int, flags: int, seq: int, ack: int, client: Side, alone: bool
) -> None:
    """One SYN, FIN or RST; alone: the connection is a socket connected to itself, whose every
    segment has d TO_SERVER and is the server's as much as the client's."""
    if flags & _RST:
        if facts.rsts[d] is None:
            facts.rsts[d] = row
        if d == _TO_SERVER and facts.hs_ack is None and _resets_synack(facts, flags, seq):
            facts.stale_reset = True
        if d == _TO_SERVER and facts.synack is not None and facts.hs_ack is None:
            facts.rst_after_synack = facts.rsts[1 - d] is None
        return
    if flags & _SYN:
        _syn(facts, row, d, flags, ack, client, alone)
    if flags & _FIN and facts.fins[d] is None:
        facts.fins[d] = row
        if alone:
            facts.fins[1 - d] = row  # the one FIN closes both ends


def _syn(facts: _Facts, row: int, d: int, flags: int, ack: int, client: Side, alone: bool) -> None:
    if d == _TO_SERVER:
        if not flags & _ACK:
            facts.syn = row if facts.syn is None else facts.syn
            if facts.synack is None:
                facts.last_syn = row
        elif facts.server_syn and facts.hs_ack is None:
            facts.hs_ack = row  # simultaneous open: the client's SYN-ACK completes it
        elif alone and client.isn is not None and acks_syn(ack, client.isn):
            # Connected to itself: its SYN came back to it as the server's SYN (a simultaneous
            # open), and this SYN-ACK, the server's answer, is also the one that completes it.
            facts.server_syn = True
            facts.synack = facts.hs_ack = row
            facts.synack_acks.add(ack)
        return
    if not flags & _ACK:
        facts.server_syn = True
        return
    facts.synack_acks.add(ack)
    if client.isn is None or acks_syn(ack, client.isn):
        if facts.synack is None:
            facts.synack = row
        if facts.hs_ack is None or facts.last_synack is None:
            facts.last_synack = row


def _resets_synack(facts: _Facts, flags: int, seq: int) -> bool:
    """RFC 9293 Fig. 8 line 5: the SYN's sender resets a SYN-ACK with <SEQ=SEG.ACK><CTL=RST>.

    No ACK flag, since nothing it sent is acknowledged: it has no connection (CLOSED, §3.10.7.1)
    or a SYN of its own that this SYN-ACK does not acknowledge (SYN_SENT, §3.10.7.3).
    """
    return not flags & _ACK and seq in facts.synack_acks


def _data(facts: _Facts, d: int, seq: int, length: int, flags: int) -> None:
    end = segment_end(seq, length, flags)
    other_fin = facts.fins[1 - d]
    if length and other_fin is not None and facts.fins[d] is None:
        previous = facts.sent_end[d]
        if previous is None or seq_gt(end, previous):
            facts.half_close = True  # new data after the peer closed its direction
    _advance(facts, d, end)


def _advance(facts: _Facts, d: int, end: int) -> None:
    previous = facts.sent_end[d]
    if previous is None or seq_ge(end, previous):
        facts.sent_end[d] = end


def fill_options(
    packets: PacketColumns, connections: Sequence[Connection], openings: Sequence[tuple[int, int]]
) -> None:
    """Set each connection's options from its (SYN, SYN-ACK) rows in openings (-1: none, and
    the connection keeps its default). Column-wise: a capture offers few distinct sets."""
    rows = [syn for syn, _ in openings] + [synack for _, synack in openings]
    taken = [k for k, row in enumerate(rows) if row >= 0]
    count = len(connections)
    for k, options in zip(taken, _options_of(packets, [rows[k] for k in taken]), strict=True):
        if k < count:
            connections[k].client_options = options
        else:
            connections[k - count].server_options = options


def _options_of(packets: PacketColumns, rows: Sequence[int]) -> list[TcpOptions]:
    """The options offered in each of rows (SYNs or SYN-ACKs)."""
    if not rows:
        return []
    at = np.asarray(rows, dtype=np.int64)

    def column(values: Sequence[int]) -> Any:
        # Taken in the column's own type first: a byte column is not widened whole.
        return np.asarray(values)[at].astype(np.int64)

    fields = (
        column(packets.mss),
        column(packets.wscale),
        column(packets.sack_perm) != 0,
        column(packets.tsval) != NO_VALUE,
        column(packets.tfo) != 0,
        column(packets.header_cut) != 0,
    )
    # One number per distinct combination (mixed radix over each field's distinct values):
    # np.unique over a table's rows is slower than the per-row Python it saves.
    key, size = np.zeros(len(at), dtype=np.int64), 1
    for values in fields:
        distinct, rank = np.unique(values, return_inverse=True)
        if size * len(distinct) >= 1 << 62:  # renumber densely first: then size <= len(rows)
            key, size = np.unique(key, return_inverse=True)[1].reshape(-1), len(at)
        key = key * len(distinct) + rank.reshape(-1)
        size *= len(distinct)
    _, first, which = np.unique(key, return_index=True, return_inverse=True)
    sets = zip(*(f[first].tolist() for f in fields), strict=True)
    made = [_offered(*values) for values in sets]
    return [made[k] for k in which.reshape(-1).tolist()]


def _offered(
    mss: int, wscale: int, sack: bool, timestamps: bool, tfo: bool, cut: bool
) -> TcpOptions:
    return TcpOptions(
        mss=None if mss == NO_VALUE else mss,
        wscale=None if wscale == NO_VALUE else wscale,
        sack_permitted=sack,
        timestamps=timestamps,
        tfo=tfo,
        options_cut=cut,
    )


def _rtts(packets: PacketColumns, conn: Connection, facts: _Facts) -> None:
    time = packets.time
    if facts.synack is not None and facts.last_syn is not None:
        conn.rtt_syn_synack = max(time[facts.synack] - time[facts.last_syn], 0.0)
    if facts.hs_ack is not None and facts.last_synack is not None:
        # From the SYN-ACK the ACK answered: an earlier, lost one would add a timeout.
        conn.rtt_synack_ack = max(time[facts.hs_ack] - time[facts.last_synack], 0.0)


def _handshake(conn: Connection, facts: _Facts, server: Side) -> Handshake:
    if facts.stale_reset and facts.hs_ack is None:
        # The same three segments wherever the capture was taken, whatever follows them.
        return Handshake.OLD_DUPLICATE
    if facts.syn is None:
        if facts.synack is not None:
            return Handshake.COMPLETE if facts.hs_ack is not None else Handshake.INCOMPLETE
        return Handshake.STRAY if server.closed_port else Handshake.NOT_CAPTURED
    if facts.server_syn:
        return Handshake.SIMULTANEOUS_OPEN
    if facts.synack is None:
        if facts.rsts[1] is not None:
            return Handshake.REFUSED
        if facts.hs_ack is not None:
            return Handshake.COMPLETE  # the client's ACK proves a SYN-ACK the capture missed
        if any(icmp.aborts_opening(e) and icmp.about_client(e, conn) for e in conn.icmp):
            return Handshake.UNREACHABLE
        return Handshake.UNANSWERED
    if facts.hs_ack is not None:
        return Handshake.COMPLETE
    return Handshake.INCOMPLETE


def _inferred(conn: Connection, facts: _Facts) -> tuple[Inference, ...]:
    """What the verdicts rest on beyond the packets themselves, for the contract and the story."""
    found = []
    if conn.roles_inferred:
        found.append(Inference.ROLES)
    # In a simultaneous open the server's own SYN stands in for its SYN-ACK: none is missing.
    missed = facts.synack is None and facts.hs_ack is not None and not facts.server_syn
    if facts.syn is not None and missed:
        found.append(Inference.SYNACK_NOT_CAPTURED)
    if facts.syn is None and facts.synack is not None:
        found.append(Inference.SYN_NOT_CAPTURED)
    if facts.ack_missed:
        found.append(Inference.ACK_NOT_CAPTURED)
    return tuple(found)


def _teardown(conn: Connection, facts: _Facts, client: Side, server: Side) -> Teardown:
    if conn.handshake in _NEVER_OPENED:
        return Teardown.NONE
    rst = _first(facts.rsts)
    fins_done = (
        facts.fins[0] is not None
        and facts.fins[1] is not None
        and client.fin_acks > 0
        and server.fin_acks > 0
    )
    if rst is not None and not (fins_done and _last_fin_acked_before(facts, rst)):
        return Teardown.RESET_BY_CLIENT if rst == facts.rsts[0] else Teardown.RESET_BY_SERVER
    c_fin, s_fin = facts.fins
    if c_fin is None and s_fin is None:
        return Teardown.OPEN_AT_END
    if c_fin is None or s_fin is None:
        return Teardown.HALF_CLOSED_AT_END
    if client.crossed or server.crossed:
        return Teardown.SIMULTANEOUS
    return Teardown.THREE_WAY if _fin_acked_by_fin(facts, client, server) else Teardown.FOUR_WAY


def _first(rows: list[int | None]) -> int | None:
    """The earlier of a pair of rows, either of which may be None."""
    client, server = rows
    if client is None or server is None:
        return server if client is None else client
    return min(client, server)


def _last_fin_acked_before(facts: _Facts, rst: int) -> bool:
    fins = [r for r in facts.fins if r is not None]
    return max(fins) < rst


def _fin_acked_by_fin(facts: _Facts, client: Side, server: Side) -> bool:
    """Three-way close: the second FIN is the first segment to acknowledge the first FIN."""
    c_fin, s_fin = facts.fins
    assert c_fin is not None and s_fin is not None
    return client.acked_by_fin if c_fin < s_fin else server.acked_by_fin


def _closed_first(conn: Connection, facts: _Facts) -> Closer:
    if conn.teardown is Teardown.NONE:
        return Closer.NONE
    if conn.teardown is Teardown.SIMULTANEOUS:
        return Closer.BOTH
    client = _first([facts.fins[0], facts.rsts[0]])
    server = _first([facts.fins[1], facts.rsts[1]])
    if client is None and server is None:
        return Closer.NONE
    if client is None or (server is not None and server < client):
        return Closer.SERVER
    return Closer.CLIENT  # also a socket connected to itself: one FIN is both ends' first


def _closer(client: bool, server: bool) -> Closer:
    if client and server:
        return Closer.BOTH
    if client:
        return Closer.CLIENT
    return Closer.SERVER if server else Closer.NONE


def _client_had_no_connection(states: PacketStates, conn: Connection) -> None:
    """RFC 9293 Fig. 8: the captured SYN (if any) was stale, so the client had no connection.

    The client's RST says that nothing it has matches the SYN-ACK: it is CLOSED throughout, and
    the server, which answered from LISTEN, returns there (§3.10.7.4).
    """
    closed, listen = int(TcpState.CLOSED), int(TcpState.LISTEN)
    for row in conn.packet_index:
        states.client_before[row] = states.client_after[row] = closed
    first = conn.packet_index[0]
    if states.server_before[first] == TcpState.UNKNOWN:
        states.server_before[first] = listen  # only a listening server answers a SYN
    conn.client_final = TcpState.CLOSED
