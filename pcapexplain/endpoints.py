"""Endpoint state machine (pure): replay one connection's packets through RFC 9293's states.

Convention: after a packet, its sender's state reflects having sent it and its receiver's state
reflects having received it, since the capture point cannot see the moment in between. Two
corrections follow the evidence of later packets:
- a FIN whose ACK does not cover the peer's earlier FIN shows the FINs crossed (or the first was
  lost): the peer's FIN is treated as still in flight. Segments of one direction arrive in order,
  so it is delivered just before its sender's next segment (FIN_WAIT_1 → CLOSING, RFC 9293
  Fig. 6), unless its sender resends it before anyone acknowledged it: then it was lost, and the
  copy that is acknowledged is the one that arrives;
- a RST from a SYN_SENT client answering a SYN-ACK for a SYN it never sent (the stale SYN of
  RFC 9293 Fig. 8) leaves the client in SYN_SENT;
- a pure SYN with a new ISN from a synchronized side shows that side has lost the connection
  (RFC 5961 §4: a restarted client reconnecting from the same port): it is CLOSED here, and
  its SYN's retransmission, once the challenge ACK's RST has ended this one, opens the next;
- in a simultaneous open (RFC 9293 Fig. 7) each SYN's sender goes SYN_SENT, and SYN_RECEIVED
  only with its SYN-ACK, which proves the peer's SYN reached it; a SYN-ACK it had not
  yet received when it sent its own (the two SYN-ACKs crossed) reaches it after that one left,
  and, like a crossed FIN, before its sender's next segment: that segment is where it becomes
  ESTABLISHED.
Segments a closed port answers (RFC 9293 §3.10.7.1, `closed_port`) belong to no connection and
change no state.

`replay` is the rule. Most connections have its two plainest shapes: a plain handshake, and
after it a plain four-way or three-way close with nothing else in between that could change
a state.
`plain_openings` and `plain_closings` write those rows column-wise, as replay would, and replay
goes on after them (tests/test_reconstruct_skip.py compares both ways, row by row and side by side).

A socket that connects to its own address and port (`Connection.self_connect`) is both ends: the
replay gives client and server one `Side`, and each segment is applied to it as sent and then as
received, as the stack does on loopback. Its SYN finds it in SYN_SENT (a simultaneous open with
itself, RFC 9293 Fig. 7), which only its SYN-ACK proves, as for two hosts; the SYN-ACK takes it
through SYN_RECEIVED to ESTABLISHED; its FIN finds it in FIN_WAIT_1, so it goes to CLOSING, and
the ACK of that FIN to TIME_WAIT: a simultaneous close with itself.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pcapexplain import retransmission
from pcapexplain.closed_port import closed_port_answer, stray_prober
from pcapexplain.model import (
    AnalysisFlag,
    Connection,
    Direction,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
    TcpState,
)
from pcapexplain.seqspace import acks_syn, segment_end, seq_add, seq_ge, seq_gt

_SYN, _ACK, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
_CONTROL = _SYN | _FIN | _RST
_KEEP_ALIVE = int(AnalysisFlag.KEEP_ALIVE | AnalysisFlag.KEEP_ALIVE_ACK)
_WINDOW_UPDATE = int(AnalysisFlag.WINDOW_UPDATE)
_ZERO_WINDOW_PROBE = int(AnalysisFlag.ZERO_WINDOW_PROBE | AnalysisFlag.ZERO_WINDOW_PROBE_ACK)
_SPECIAL_ROLES = _KEEP_ALIVE | _WINDOW_UPDATE | _ZERO_WINDOW_PROBE
_TO_SERVER, _TO_CLIENT = int(Direction.TO_SERVER), int(Direction.TO_CLIENT)

S = TcpState

_UNK, _CLOSED, _LISTEN = int(S.UNKNOWN), int(S.CLOSED), int(S.LISTEN)
_SYN_SENT, _SYN_RCVD, _EST = int(S.SYN_SENT), int(S.SYN_RECEIVED), int(S.ESTABLISHED)
_FW1, _FW2, _CW = int(S.FIN_WAIT_1), int(S.FIN_WAIT_2), int(S.CLOSE_WAIT)
_CLOSING, _LAST_ACK, _TW = int(S.CLOSING), int(S.LAST_ACK), int(S.TIME_WAIT)
_WAITING_FOR_ACK = frozenset((_SYN_RCVD, _FW1, _CLOSING, _LAST_ACK))
_UNSETTLED = _WAITING_FOR_ACK | {_SYN_SENT}  # a segment without SYN, FIN or RST may move it
_OPEN = frozenset((_UNK, _EST, _SYN_RCVD))  # may still send its first FIN
_NO_CONNECTION = frozenset((_CLOSED, _LISTEN))  # a RST changes nothing here
_MAY_OPEN = frozenset((_UNK, _CLOSED, _LISTEN))
_MAY_RECEIVE_SYN = _MAY_OPEN | {_SYN_SENT}
_SYNCHRONIZED = frozenset((_EST, _FW1, _FW2, _CW, _CLOSING, _LAST_ACK))

# Receiving a FIN (after any ACK in the same segment has been applied).
_ON_FIN = {_UNK: _CW, _EST: _CW, _SYN_RCVD: _CW, _FW1: _CLOSING, _FW2: _TW}
# Having one's own FIN acknowledged.
_ON_FIN_ACKED = {_FW1: _FW2, _CLOSING: _TW, _LAST_ACK: _CLOSED}

R = PacketRole
_ROLE_SYN, _ROLE_SYN_ACK, _ROLE_RESENT = int(R.SYN), int(R.SYN_ACK), int(R.SYN_RETRANSMISSION)
_ROLE_HS_ACK, _ROLE_FIN, _ROLE_FIN_ACK = int(R.HANDSHAKE_ACK), int(R.FIN), int(R.FIN_ACK)
_ROLE_RST, _ROLE_DATA, _ROLE_ACK = int(R.RST), int(R.DATA), int(R.PURE_ACK)
_ROLE_KEEP_ALIVE, _ROLE_WINDOW, _ROLE_OTHER = int(R.KEEP_ALIVE), int(R.WINDOW_UPDATE), int(R.OTHER)
_ROLE_ZWP = int(R.ZERO_WINDOW_PROBE)
_PROBE, _PROBE_ACK = int(AnalysisFlag.KEEP_ALIVE), int(AnalysisFlag.KEEP_ALIVE_ACK)


@dataclass(slots=True)
class Side:
    """What one endpoint has done so far in the replay."""

    state: int
    isn: int | None = None
    sent_syn: int | None = None  # seq of its pure SYN
    syn_row: int | None = None  # the row of that SYN
    fin_row: int | None = None  # the row of its first FIN
    sent_synack: int | None = None  # seq of its SYN-ACK
    passive: bool = False  # reached SYN_RECEIVED from LISTEN (RST sends it back there)
    fin_end: int | None = None  # sequence number just after its FIN
    fin_in_flight: bool = False  # its FIN crossed the peer's and is not yet known delivered
    fin_acks: int = 0  # ACKs of its FIN seen, to tell the ACK of a resent FIN
    fin_sends: int = 0
    bad_synack_ack: int | None = None  # ack of a SYN-ACK that did not acknowledge its SYN
    reached_time_wait: bool = False
    state_rows: int = 0  # first position (in packet_index) of its current state, for patches
    crossed: bool = False  # its FIN crossed the peer's: a simultaneous close
    acked_by_fin: bool = False  # its FIN was first acknowledged by the peer's FIN (three-way)
    undone: bool = False  # its CLOSE_WAIT was rewritten while handling the current packet
    closed_port: bool = False  # answered segments as a port with no connection does
    missed_synack_row: int | None = None  # its ACK proved a SYN-ACK the capture never showed
    synack_ack: int | None = None  # the ack field of its SYN-ACK
    missed_ack_row: int | None = None  # its ACK of data proved a handshake ACK never captured
    passed: int = 0  # state passed through within the current packet (UNKNOWN: none)


def initial_states(packets: PacketColumns, conn: Connection) -> tuple[int, int]:
    """(client, server) states before the first packet, from what the server did next."""
    index, flags = conn.packet_index, packets.flags
    first = flags[index[0]]
    if not (first & _SYN and not first & (_ACK | _RST)):
        return _UNK, _UNK  # started mid-connection (or on a SYN-ACK): cannot tell
    server = conn.server
    for row in index:
        if packets.src[row] != server.ip or packets.sport[row] != server.port:
            continue
        f = flags[row]
        if f & _RST:
            return _CLOSED, _CLOSED  # nothing listening
        if f & _SYN:
            return _CLOSED, _LISTEN if f & _ACK else _CLOSED  # pure SYN: simultaneous open
        return _CLOSED, _UNK
    return _CLOSED, _UNK  # unanswered: the server may be down or filtered


def replay(
    packets: PacketColumns,
    states: PacketStates,
    conn: Connection,
    controls: Sequence[int] | None = None,
    runs: list[tuple[int, int, int, int]] | None = None,
    opened: tuple[Side, Side] | None = None,
) -> tuple[Side, Side]:
    """Fill states (role, before/after) for the connection's rows.

    states must hold each row's connection, direction and plain role (`plain_roles`) already;
    a zero-window probe's role is the caller's (`probes_zero_window`). With controls (the
    positions in packet_index of the rows with SYN, FIN or RST, ascending) and runs, rows that
    cannot change a state (no SYN, FIN or RST while neither side waits for a segment) are not
    visited: each run of them goes to runs as (first position, stop, client state, server state),
    for the caller to write. With opened (`opened_sides`), the connection's first three rows are
    a plain handshake that `plain_openings` has written: the replay goes on from the fourth.
    """
    if opened is not None:
        client, server = opened
        pos = _OPENING_ROWS
    # Roles are inferred unless the client sent a SYN, and a connection with a SYN is no stray.
    elif conn.roles_inferred and stray_prober(packets, conn.packet_index) == (
        conn.client.ip,
        conn.client.port,
    ):
        return _replay_stray(packets, states, conn)
    else:
        client_state, server_state = initial_states(packets, conn)
        client = Side(client_state)
        server = client if conn.self_connect else Side(server_state)
        pos = 0
    index, flags_col = conn.packet_index, packets.flags
    # The output columns as locals: this loop runs once per visited packet.
    s_dir, s_role = states.direction, states.role
    c_before, c_after = states.client_before, states.client_after
    s_before, s_after = states.server_before, states.server_after
    count, upcoming = len(index), 0
    skipping = controls is not None and runs is not None
    stops = [*(controls or ()), count]  # where each skipped run must end; count: the last one
    while pos < count:
        if (
            skipping
            and client.state not in _UNSETTLED
            and server.state not in _UNSETTLED
            and not (client.fin_in_flight or server.fin_in_flight)
        ):
            assert runs is not None  # for mypy: skipping says so
            while stops[upcoming] < pos:
                upcoming += 1
            stop = stops[upcoming]
            if stop > pos:
                runs.append((pos, stop, client.state, server.state))
                pos = stop
                continue
        row = index[pos]
        to_server = s_dir[row] == _TO_SERVER
        sender, receiver = (client, server) if to_server else (server, client)
        before_c, before_s = client.state, server.state
        flags = flags_col[row]
        if (
            flags & _CONTROL
            or sender.fin_in_flight
            or receiver.fin_in_flight
            or sender.state == _SYN_SENT
            or (receiver.state in _WAITING_FOR_ACK and flags & _ACK)
            or (sender.state == _SYN_RCVD and flags & _ACK)  # may prove a missed third ACK
        ):
            s_role[row] = _step(packets, row, pos, flags, sender, receiver, states, conn, runs)
            if client.passed or server.passed:
                states.passed[row] = (client.passed, server.passed)
                client.passed = server.passed = _UNK
            if sender.undone:
                sender.undone = False
                if to_server:
                    before_c = c_after[index[pos - 1]] if pos else _UNK
                else:
                    before_s = s_after[index[pos - 1]] if pos else _UNK
            # Written out for both sides (one object when self-connected): no tuples per row.
            if client.state != before_c:  # where a patch (_undo_last_change) starts
                client.state_rows = pos + 1
            if server.state != before_s:
                server.state_rows = pos + 1
            if client.state == _TW:
                client.reached_time_wait = True
            if server.state == _TW:
                server.reached_time_wait = True
        # else the common case: data or a pure ACK that changes no state, and keeps its role
        c_before[row], s_before[row] = before_c, before_s
        c_after[row], s_after[row] = client.state, server.state
        pos += 1
    return client, server


# A plain handshake: the client's pure SYN, the server's SYN-ACK acknowledging it, and the
# client's ACK of that, each segment the first of its connection's rows in turn.
_OPENING_ROWS = 3
_SYN_ONLY, _SYN_ACK_ONLY = _SYN, _SYN | _ACK
_OPENING_FLAGS = _SYN | _ACK | _FIN | _RST
# What replay writes for those rows: (client before, client after, server before, server after).
_OPENING_STATES = (
    (_CLOSED, _SYN_SENT, _LISTEN, _SYN_RCVD),  # SYN: initial_states (CLOSED, LISTEN), _on_syn
    (_SYN_SENT, _EST, _SYN_RCVD, _SYN_RCVD),  # SYN-ACK: _on_synack
    (_EST, _EST, _SYN_RCVD, _EST),  # the handshake ACK: _on_ack
)


def plain_openings(
    packets: PacketColumns, states: PacketStates, flags: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Which connections open with a plain handshake; their first three rows' roles and states
    written as replay writes them, column-wise.

    rows holds each connection's first three rows (n × 3; a connection with fewer repeats its
    last). The per-packet replay is the rule and this its common case: replay(opened=...) then
    takes the rest, and tests (test_reconstruct_skip) compare with replaying every row. flags
    is packets.flags as an int64 array; states must hold directions and plain roles.
    """
    direction = np.frombuffer(states.direction, dtype=np.int8)
    seq = np.asarray(packets.seq, dtype=np.int64)
    ack = np.asarray(packets.ack, dtype=np.int64)
    syn, synack, third = rows[:, 0], rows[:, 1], rows[:, 2]
    plain: np.ndarray = (syn != synack) & (
        synack != third
    )  # three distinct rows: the connection has them
    plain &= (flags[syn] & _OPENING_FLAGS) == _SYN_ONLY
    plain &= (flags[synack] & _OPENING_FLAGS) == _SYN_ACK_ONLY
    plain &= (flags[third] & _OPENING_FLAGS) == _ACK
    # Client, server, client: a self-connected socket sends every row to itself (TO_SERVER).
    plain &= direction[syn] == _TO_SERVER
    plain &= direction[synack] == _TO_CLIENT
    plain &= direction[third] == _TO_SERVER
    # The SYN-ACK acknowledges the SYN (_on_synack), the ACK the SYN-ACK (_on_ack).
    plain &= acks_syn(ack[synack], seq[syn])
    plain &= seq_ge(ack[third], seq_add(seq[synack], 1))
    chosen = rows[plain]
    roles = np.frombuffer(states.role, dtype=np.int8)
    roles[chosen[:, 0]] = _ROLE_SYN
    roles[chosen[:, 1]] = _ROLE_SYN_ACK
    last = roles[chosen[:, 2]]
    roles[chosen[:, 2]] = np.where((last == _ROLE_ACK) | (last == _ROLE_DATA), _ROLE_HS_ACK, last)
    columns = (states.client_before, states.client_after, states.server_before, states.server_after)
    for at, values in enumerate(_OPENING_STATES):
        for column, value in zip(columns, values, strict=True):
            np.frombuffer(column, dtype=np.int8)[chosen[:, at]] = value
    return plain


def opened_sides(
    client_isn: int, syn_row: int, server_isn: int, synack_ack: int
) -> tuple[Side, Side]:
    """The two sides after a plain handshake (`plain_openings`), as replay leaves them: each
    with its ISN, and state_rows just after the row that made it ESTABLISHED."""
    client = Side(_EST, isn=client_isn, sent_syn=client_isn, syn_row=syn_row, state_rows=2)
    server = Side(_EST, isn=server_isn, sent_synack=server_isn, passive=True, state_rows=3)
    server.synack_ack = synack_ack
    return client, server


@dataclass(frozen=True, slots=True)
class _Close:
    """A close without payload after a plain handshake: the connection's last rows, with no SYN,
    FIN or RST between the handshake and them."""

    flags: tuple[int, ...]
    by_closer: tuple[bool, ...]  # which rows the side that sends the first FIN sends
    roles: tuple[int, ...]
    # What replay writes for each row: (closer before, after, the other before, after).
    states: tuple[tuple[int, int, int, int], ...]
    other_fin: int  # where the other side's FIN is among the rows
    passed: int  # the state the closer passes through on the other's FIN (UNKNOWN: none)

    @property
    def acked_by_fin(self) -> bool:
        """The other's FIN is the first segment to acknowledge the closer's (three-way)."""
        return self.other_fin == 1


# The closer's FIN, the other's ACK of it, the other's FIN (acknowledging the first), the
# closer's ACK of that.
_FOUR_WAY = _Close(
    flags=(_FIN | _ACK, _ACK, _FIN | _ACK, _ACK),
    by_closer=(True, False, False, True),
    roles=(_ROLE_FIN, _ROLE_FIN_ACK, _ROLE_FIN, _ROLE_FIN_ACK),
    states=(
        (_EST, _FW1, _EST, _CW),  # the closer's FIN: _on_fin
        (_FW1, _FW2, _CW, _CW),  # its ACK: _on_ack
        (_FW2, _TW, _CW, _LAST_ACK),  # the other's FIN: _on_fin
        (_TW, _TW, _LAST_ACK, _CLOSED),  # its ACK: _on_ack
    ),
    other_fin=2,
    passed=_UNK,
)
# The closer's FIN, the other's FIN acknowledging it, the closer's ACK of that.
_THREE_WAY = _Close(
    flags=(_FIN | _ACK, _FIN | _ACK, _ACK),
    by_closer=(True, False, True),
    roles=(_ROLE_FIN, _ROLE_FIN, _ROLE_FIN_ACK),
    states=(
        (_EST, _FW1, _EST, _CW),  # the closer's FIN: _on_fin
        (_FW1, _TW, _CW, _LAST_ACK),  # the other's FIN, acking it: _on_ack, then _on_fin
        (_TW, _TW, _LAST_ACK, _CLOSED),  # its ACK: _on_ack
    ),
    other_fin=1,
    passed=_FW2,
)
_CLOSES = {len(close.flags): close for close in (_FOUR_WAY, _THREE_WAY)}


def plain_closings(
    packets: PacketColumns,
    states: PacketStates,
    flags: np.ndarray,
    opened: np.ndarray,
    order: np.ndarray,
    starts: np.ndarray,
    controls: np.ndarray,
) -> np.ndarray:
    """Which connections with a plain opening (opened: `plain_openings`) close with a plain
    four-way or three-way close and nothing else, as the count of the close's rows (0: none);
    their rows after the handshake written as replay writes them, column-wise (ESTABLISHED on
    both sides until the close).

    order and starts: the connections' rows one after another, and where each begins (and the
    end); controls: the positions in order of the rows with SYN, FIN or RST, ascending. As for
    plain_openings, the per-packet replay is the rule.
    """
    found = np.zeros(len(opened), dtype=np.int64)
    for size, close in _CLOSES.items():  # their flags differ: a connection matches one at most
        closing = _closings(packets, states, flags, opened, (order, starts, controls), close)
        found[closing] = size
    return found


def _closings(
    packets: PacketColumns,
    states: PacketStates,
    flags: np.ndarray,
    opened: np.ndarray,
    layout: tuple[np.ndarray, np.ndarray, np.ndarray],
    close: _Close,
) -> np.ndarray:
    """plain_closings for one shape of close; layout: order, starts, and the positions in order
    of the rows with SYN, FIN or RST."""
    order, starts, controls = layout
    size = len(close.flags)
    begin, end = starts[:-1], starts[1:]
    closing: np.ndarray = opened & (end - begin >= _OPENING_ROWS + size)
    rows = order[np.maximum(end[:, None] - size + np.arange(size), 0)]
    low = np.minimum(begin + _OPENING_ROWS, len(order))
    # No SYN, FIN or RST between the handshake and the close.
    first_close = np.maximum(end - size, low)
    closing &= np.searchsorted(controls, first_close) == np.searchsorted(controls, low)
    closing &= ((flags[rows] & _OPENING_FLAGS) == close.flags).all(axis=1)
    closing &= (np.asarray(packets.length, dtype=np.int64)[rows] == 0).all(axis=1)
    direction = np.frombuffer(states.direction, dtype=np.int8)[rows]
    closing &= ((direction == direction[:, :1]) == close.by_closer).all(axis=1)
    seq = np.asarray(packets.seq, dtype=np.int64)[rows]
    ack = np.asarray(packets.ack, dtype=np.int64)[rows]
    # segment_end of a FIN without payload: one past its seq. Both FINs are acknowledged: the
    # closer's by every row from the other's first, the other's by the rows after its FIN.
    at = close.other_fin
    closer_end, other_end = seq_add(seq[:, 0], 1), seq_add(seq[:, at], 1)
    for k in range(1, size):
        closing &= seq_ge(ack[:, k], closer_end if k <= at else other_end)
    _write_closings(states, rows[closing], direction[closing, 0] == _TO_SERVER, close)
    sizes = (end - begin - _OPENING_ROWS - size)[closing]
    write_established(states, order, (begin + _OPENING_ROWS)[closing], sizes)
    return closing


def write_established(
    states: PacketStates, order: np.ndarray, firsts: np.ndarray, sizes: np.ndarray
) -> None:
    """ESTABLISHED before and after on both sides, for the sizes rows of order from each first:
    what the replay writes for a run of rows with no SYN, FIN or RST after a plain handshake."""
    stops = np.cumsum(sizes)
    count = int(stops[-1]) if len(stops) else 0
    rows = order[np.repeat(firsts - stops + sizes, sizes) + np.arange(count)]
    for column in (states.client_before, states.client_after):
        np.frombuffer(column, dtype=np.int8)[rows] = _EST
    for column in (states.server_before, states.server_after):
        np.frombuffer(column, dtype=np.int8)[rows] = _EST


def _write_closings(
    states: PacketStates, rows: np.ndarray, by_client: np.ndarray, close: _Close
) -> None:
    """_closings' rows per connection (rows: n × the close's; by_client: the client closes)."""
    roles = np.frombuffer(states.role, dtype=np.int8)
    roles[rows] = close.roles
    values = np.array(close.states, dtype=np.int8)  # rows × (closer b/a, other b/a)
    column = by_client[:, None]
    client = (states.client_before, states.client_after)
    server = (states.server_before, states.server_after)
    for at in range(2):  # before, after
        closer, other = values[:, at], values[:, 2 + at]
        np.frombuffer(client[at], dtype=np.int8)[rows] = np.where(column, closer, other)
        np.frombuffer(server[at], dtype=np.int8)[rows] = np.where(column, other, closer)
    if close.passed != _UNK:  # the closer passed through it on the other's FIN
        pairs = ((_UNK, close.passed), (close.passed, _UNK))  # (client, server), by by_client
        fins = rows[:, close.other_fin].tolist()
        states.passed.update(zip(fins, (pairs[c] for c in by_client.tolist()), strict=True))


def three_way(sizes: np.ndarray) -> np.ndarray:
    """Which of plain_closings' closes (sizes: their row counts) are three-way: the other side's
    FIN is the first segment to acknowledge the closer's (replay's Side.acked_by_fin)."""
    table = np.zeros(max(_CLOSES) + 1, dtype=bool)
    for size, close in _CLOSES.items():
        table[size] = close.acked_by_fin
    found: np.ndarray = table[sizes]
    return found


def _replay_stray(
    packets: PacketColumns, states: PacketStates, conn: Connection
) -> tuple[Side, Side]:
    """Probes answered by a closed port: no connection exists, so no state changes.

    The answering side is CLOSED (its RSTs say so). The prober is CLOSED too when none of its
    segments carries ACK, which a synchronized TCP always sets; otherwise it may believe in a
    connection the other side has forgotten, and its state is UNKNOWN.
    """
    rows = conn.packet_index
    probes_ack = any(packets.flags[r] & _ACK for r in rows if not packets.flags[r] & _RST)
    client, server = Side(_UNK if probes_ack else _CLOSED), Side(_CLOSED, closed_port=True)
    for row in rows:
        to_server = packets.src[row] == conn.client.ip and packets.sport[row] == conn.client.port
        states.connection[row] = conn.id
        states.direction[row] = _TO_SERVER if to_server else _TO_CLIENT
        states.role[row] = _ROLE_RST if packets.flags[row] & _RST else _ROLE_OTHER
        states.client_before[row] = states.client_after[row] = client.state
        states.server_before[row] = states.server_after[row] = server.state
    return client, server


def plain_roles(packets: PacketColumns, roles: np.ndarray) -> None:
    """Write every row's role from its own fields, as a segment that changes no state has it.

    The first of these that holds decides: zero-window probe, keep-alive, data, window update,
    pure ACK, other (written in reverse, so the first one's write lands last).
    """
    bits = np.asarray(packets.analysis, dtype=np.int64)
    roles[:] = _ROLE_OTHER
    roles[(np.asarray(packets.flags, dtype=np.int64) & _ACK) != 0] = _ROLE_ACK
    roles[(bits & _WINDOW_UPDATE) != 0] = _ROLE_WINDOW
    roles[np.asarray(packets.length, dtype=np.int64) != 0] = _ROLE_DATA
    roles[(bits & _KEEP_ALIVE) != 0] = _ROLE_KEEP_ALIVE
    roles[(bits & _ZERO_WINDOW_PROBE) != 0] = _ROLE_ZWP


def probes_zero_window(packets: PacketColumns, conn: Connection, pos: int) -> bool:
    """A segment tshark calls a keep-alive while the window it probes is zero: a zero-window
    probe (RFC 9293 §3.8.6.1). Linux sends both with seq = SND.UNA − 1 and no data, so only the
    window tells them apart: the peer's last advertised window for a probe, its own for the
    answer. The one rule: the anomaly checks and the story read the role it gives."""
    index, row = conn.packet_index, conn.packet_index[pos]
    if packets.analysis[row] & _PROBE_ACK:
        return packets.window[row] == 0
    src, sport = packets.src[row], packets.sport[row]
    # Back to the peer's latest segment: probes alternate with answers, so this stops at once.
    for k in range(pos - 1, -1, -1):
        earlier = index[k]
        if packets.src[earlier] != src or packets.sport[earlier] != sport:
            return packets.window[earlier] == 0
    return False


def _step(
    packets: PacketColumns,
    row: int,
    pos: int,
    flags: int,
    sender: Side,
    receiver: Side,
    states: PacketStates,
    conn: Connection,
    runs: list[tuple[int, int, int, int]] | None,
) -> int:
    """One control or acknowledging segment (flags: its flags): update both sides, return the
    packet's role."""
    if flags & _RST:
        if _hs_ack_was_lost(sender, states, conn, pos) and _answers_as_no_connection(
            packets, conn, pos
        ):
            _undo_last_change(sender, states, conn, pos, runs)
        _on_rst(packets, row, sender, receiver)
        if pos == len(conn.packet_index) - 1 and retransmission.stall(packets, states, conn):
            # It gives up on a peer that answered none of its tries: nothing shows that this
            # RST arrives either, so the peer may be gone, or still ESTABLISHED (half-open).
            receiver.state = _UNK if receiver.state == _CLOSED else receiver.state
        return _ROLE_RST
    if flags & _SYN:
        return _on_syn(packets, row, pos, flags, sender, receiver, states, conn, runs)
    ack = packets.ack[row] if flags & _ACK else None
    role = states.role[row]
    sender_at_start, receiver_at_start = sender.state, receiver.state
    if sender.fin_in_flight and not _fin_lost(packets, conn, pos, sender):
        sender.fin_in_flight = False  # it arrived before this segment, sent after it
        receiver.state = _ON_FIN.get(receiver.state, receiver.state)
    delivered = receiver.state
    if ack is not None and sender.state == _SYN_SENT:
        role = _missed_synack(sender, receiver, role, row)
    elif ack is not None:
        if sender.state == _SYN_RCVD and _acks_past_synack(sender, ack):
            _missed_hs_ack(sender, row)
        acked_before = receiver.fin_acks
        role = _on_ack(ack, sender, receiver, role, packets.length[row])
        if flags & _FIN and not acked_before and receiver.fin_acks:
            receiver.acked_by_fin = True
    if flags & _FIN:
        # The ACK is processed before the FIN (RFC 9293 §3.10.7.4): a side may pass a state.
        sender_mid, receiver_mid = sender.state, receiver.state
        _on_fin(packets, row, pos, ack, sender, receiver, states, conn, runs)
        role = _ROLE_FIN
        if sender_mid not in (sender_at_start, sender.state) and not sender.undone:
            sender.passed = sender_mid
        if receiver_mid not in (receiver_at_start, receiver.state):
            receiver.passed = receiver_mid
    elif delivered not in (receiver_at_start, receiver.state):
        receiver.passed = delivered
    return role


def _fin_lost(packets: PacketColumns, conn: Connection, pos: int, side: Side) -> bool:
    """The side's in-flight FIN is resent later before any segment acknowledges it."""
    index, fin_end = conn.packet_index, side.fin_end
    row = index[pos]
    own = (packets.src[row], packets.sport[row])
    for k in range(pos + 1, len(index)):  # no copy of the rest: this runs while a FIN is out
        later = index[k]
        flags = packets.flags[later]
        if (packets.src[later], packets.sport[later]) == own:
            end = segment_end(packets.seq[later], packets.length[later], flags)
            if flags & _FIN and end == fin_end:
                return True
        elif flags & _ACK and fin_end is not None and seq_ge(packets.ack[later], fin_end):
            return False
    return False


def _on_rst(packets: PacketColumns, row: int, sender: Side, receiver: Side) -> None:
    if (
        not (sender.state == _SYN_SENT and packets.seq[row] == sender.bad_synack_ack)
        and sender.state not in _NO_CONNECTION
    ):
        sender.state = _CLOSED
    if receiver.state == _SYN_RCVD and receiver.passive:
        receiver.state = _LISTEN  # RFC 9293 §3.10.7.4: back to LISTEN after a passive open
    elif receiver.state == _SYN_SENT:
        if _acknowledges_syn(packets, row, receiver):
            receiver.state = _CLOSED
    elif receiver.state not in _NO_CONNECTION:
        receiver.state = _CLOSED


def _acknowledges_syn(packets: PacketColumns, row: int, side: Side) -> bool:
    """A RST is acceptable in SYN_SENT only if it acknowledges the SYN (RFC 9293 §3.10.7.3)."""
    if not packets.flags[row] & _ACK or side.isn is None:
        return False
    return acks_syn(packets.ack[row], side.isn)


def _on_syn(
    packets: PacketColumns,
    row: int,
    pos: int,
    flags: int,
    sender: Side,
    receiver: Side,
    states: PacketStates,
    conn: Connection,
    runs: list[tuple[int, int, int, int]] | None,
) -> int:
    seq = packets.seq[row]
    if flags & _ACK:
        return _on_synack(packets, row, pos, seq, sender, receiver, states, conn, runs)
    if sender.sent_syn == seq:
        return _ROLE_RESENT
    if (
        sender.sent_syn is not None
        or sender.state not in _MAY_OPEN
        or receiver.state not in _MAY_RECEIVE_SYN
    ):
        # A SYN on a synchronized connection (RFC 5961 §4): no stack sends one on a connection
        # it holds, so its sender has lost this one and opens another on the same 4-tuple.
        if sender.state in _SYNCHRONIZED:
            sender.state = _CLOSED
        return _ROLE_OTHER
    sender.sent_syn, sender.syn_row = seq, row
    sender.isn = seq
    sender.state = _SYN_SENT
    if receiver is sender:
        pass  # its own SYN: only the SYN-ACK it sends shows that the SYN came back to it
    elif receiver.sent_syn is not None and receiver.state == _SYN_SENT:
        # The SYNs crossed (RFC 9293 Fig. 7). Like the first SYN, this one is known to have
        # arrived only once its receiver answers it with a SYN-ACK: the receiver may as well
        # never get it and send its own SYN again (one SYN lost, the other answered).
        if receiver.syn_row is not None:
            states.crossed[row] = receiver.syn_row
    elif receiver.state == _LISTEN:
        receiver.state, receiver.passive = _SYN_RCVD, True
    return _ROLE_SYN


def _on_synack(
    packets: PacketColumns,
    row: int,
    pos: int,
    seq: int,
    sender: Side,
    receiver: Side,
    states: PacketStates,
    conn: Connection,
    runs: list[tuple[int, int, int, int]] | None,
) -> int:
    if sender.sent_synack == seq:
        if _hs_ack_was_lost(sender, states, conn, pos):
            _undo_last_change(sender, states, conn, pos, runs)
        return _ROLE_RESENT
    sender.sent_synack = seq
    sender.synack_ack = packets.ack[row]
    if sender.isn is None:
        sender.isn = seq
    if sender.state in (_UNK, _LISTEN, _CLOSED):
        sender.state, sender.passive = _SYN_RCVD, sender.state != _CLOSED
    elif sender.state == _SYN_SENT:
        sender.state = _SYN_RCVD  # its SYN-ACK acknowledges the peer's crossed SYN (Fig. 7)
    ack = packets.ack[row]
    if receiver.isn is not None and not acks_syn(ack, receiver.isn):
        receiver.bad_synack_ack = ack  # not for our SYN: the receiver will answer with RST
    elif receiver.state == _SYN_SENT and (answer := _next_synack(packets, conn, pos)) is not None:
        states.crossed[answer] = row  # the receiver sent its own SYN-ACK before this one arrived
    elif receiver.state in (_SYN_SENT, _SYN_RCVD, _UNK):
        if receiver is sender and receiver.state == _SYN_RCVD:
            receiver.passed = _SYN_RCVD  # sent from there, then received: ESTABLISHED
        receiver.state = _EST
        if receiver.isn is None:
            receiver.isn = seq_add(ack, -1)
    return _ROLE_SYN_ACK


def _hs_ack_was_lost(sender: Side, states: PacketStates, conn: Connection, pos: int) -> bool:
    """The sender entered ESTABLISHED on its peer's handshake ACK and sends, as its first segment
    since, a SYN-ACK again or a RST of a host without the connection: that ACK did not take
    effect (lost on the way, or set aside by a listener that defers accepting until data comes or
    whose accept queue is full), and it stayed in SYN_RECEIVED. A segment it sent since shows it
    established: in SYN_RECEIVED it sends nothing but SYN-ACKs."""
    if sender.state != _EST or not sender.state_rows:
        return False
    index, own = conn.packet_index, states.direction[conn.packet_index[pos]]
    if any(states.direction[index[k]] == own for k in range(sender.state_rows - 1, pos)):
        return False
    before, _ = _columns_of_sender(states, conn, pos)
    return before[index[sender.state_rows - 1]] == _SYN_RCVD


def _answers_as_no_connection(packets: PacketColumns, conn: Connection, pos: int) -> bool:
    """The RST at pos answers the peer's latest segment as a host without the connection does
    (RFC 9293 §3.10.7.1)."""
    index = conn.packet_index
    rst = index[pos]
    own = (packets.src[rst], packets.sport[rst])
    for k in range(pos - 1, -1, -1):
        row = index[k]
        if (packets.src[row], packets.sport[row]) != own:
            return bool(packets.flags[row] & _ACK) and closed_port_answer(packets, row, rst)
    return False


def _next_synack(packets: PacketColumns, conn: Connection, pos: int) -> int | None:
    """The row of the SYN-ACK the receiver of row pos sends next, if its next segment is one:
    it had not processed row pos by then."""
    index = conn.packet_index
    row = index[pos]
    receiver = (packets.dst[row], packets.dport[row])
    for k in range(pos + 1, len(index)):
        later = index[k]
        if (packets.src[later], packets.sport[later]) == receiver:
            flags = packets.flags[later]
            return later if flags & _SYN and flags & _ACK and not flags & _RST else None
    return None


def _missed_synack(sender: Side, receiver: Side, role: int, row: int) -> int:
    """An ACK from SYN_SENT: the SYN-ACK reached it but not the capture (one-sided capture)."""
    sender.state = _EST
    sender.missed_synack_row = row
    if receiver.state in (_UNK, _LISTEN, _SYN_RCVD):
        receiver.state = _EST
    return _ROLE_HS_ACK if role in (_ROLE_ACK, _ROLE_DATA) else role


def _acks_past_synack(sender: Side, ack: int) -> bool:
    """The SYN_RECEIVED side acknowledges more than its SYN-ACK did: data that its peer sent
    after the SYN. In SYN_RECEIVED a segment's data is accepted only when its ACK completes the
    handshake (RFC 9293 §3.10.7.4), so that ACK arrived."""
    return sender.synack_ack is not None and seq_gt(ack, sender.synack_ack)


def _missed_hs_ack(sender: Side, row: int) -> None:
    """The handshake ACK reached the sender but not the capture (one-sided capture)."""
    sender.state = _EST
    if sender.missed_ack_row is None:
        sender.missed_ack_row = row


def _on_ack(ack: int, sender: Side, receiver: Side, role: int, length: int) -> int:
    """Apply what the ACK field tells: the receiver's SYN or FIN arrived, or the sender's view."""
    fin = receiver.fin_end
    if receiver.fin_in_flight and fin is not None and seq_ge(ack, fin):
        # The ACK shows that the crossed FIN has now reached the sender.
        receiver.fin_in_flight = False
        sender.state = _ON_FIN.get(sender.state, sender.state)
    state = receiver.state
    if state == _SYN_RCVD and receiver.isn is not None:
        if seq_ge(ack, seq_add(receiver.isn, 1)):
            receiver.state = _EST
            return _ROLE_HS_ACK if role in (_ROLE_ACK, _ROLE_DATA) else role
    elif receiver.fin_end is not None and seq_ge(ack, receiver.fin_end):
        if state in _ON_FIN_ACKED:
            receiver.state = _ON_FIN_ACKED[state]
        if receiver.fin_acks < receiver.fin_sends:
            receiver.fin_acks = receiver.fin_sends
            if not length:
                return _ROLE_FIN_ACK
    return role


def _on_fin(
    packets: PacketColumns,
    row: int,
    pos: int,
    ack: int | None,
    sender: Side,
    receiver: Side,
    states: PacketStates,
    conn: Connection,
    runs: list[tuple[int, int, int, int]] | None,
) -> None:
    sender.fin_sends += 1
    if sender.fin_end is None:
        sender.fin_end = segment_end(packets.seq[row], packets.length[row], packets.flags[row])
        sender.fin_row = row
        if _crossed(ack, sender, receiver):
            _undo_last_change(sender, states, conn, pos, runs)
            receiver.fin_in_flight = sender.crossed = True
            if receiver.fin_row is not None:
                states.crossed[row] = receiver.fin_row
        if sender.state in _OPEN:
            sender.state = _FW1
        elif sender.state == _CW:
            sender.state = _LAST_ACK
        if receiver is sender:  # its FIN comes back to it in FIN_WAIT_1, as a crossing FIN does
            sender.crossed = True
            sender.passed = sender.state
    else:
        sender.fin_in_flight = False  # the resent FIN is delivered like any other
        if _fin_ack_was_lost(sender, states, conn, pos):
            _undo_last_change(sender, states, conn, pos, runs)
    receiver.state = _ON_FIN.get(receiver.state, receiver.state)


def _crossed(ack: int | None, sender: Side, receiver: Side) -> bool:
    """The peer had sent its FIN, yet this FIN does not acknowledge it: the sender never got it."""
    if receiver.fin_end is None or sender.state != _CW:
        return False
    return ack is None or not seq_ge(ack, receiver.fin_end)


def _fin_ack_was_lost(sender: Side, states: PacketStates, conn: Connection, pos: int) -> bool:
    """The FIN is resent although an ACK of it was captured: that ACK never reached the sender."""
    if not sender.state_rows:
        return False
    before, _ = _columns_of_sender(states, conn, pos)
    previous = before[conn.packet_index[sender.state_rows - 1]]
    return _ON_FIN_ACKED.get(previous) == sender.state


def _columns_of_sender(
    states: PacketStates, conn: Connection, pos: int
) -> tuple[array[int], array[int]]:
    if states.direction[conn.packet_index[pos]] == Direction.TO_SERVER:
        return states.client_before, states.client_after
    return states.server_before, states.server_after


def _undo_last_change(
    sender: Side,
    states: PacketStates,
    conn: Connection,
    pos: int,
    runs: list[tuple[int, int, int, int]] | None,
) -> None:
    """Rewrite the sender's rows since its last state change back to the state it really had.

    Used when a later packet shows the change never happened: the peer's FIN did not arrive
    (crossed FINs) or the ACK of its own FIN did not (the FIN is resent). Rows the replay left
    to its caller are written first, as the rewrite reads and changes them.
    """
    index = conn.packet_index
    for first, stop, client_state, server_state in runs or ():
        for k in range(first, stop):
            r = index[k]
            states.client_before[r] = states.client_after[r] = client_state
            states.server_before[r] = states.server_after[r] = server_state
    if runs:
        runs.clear()
    changed = max(sender.state_rows - 1, 0)  # the row after which it entered the current state
    before, after = _columns_of_sender(states, conn, pos)
    restored = before[index[changed]]
    for k in range(changed, pos):
        r = index[k]
        after[r] = restored
        if k > changed:
            before[r] = restored
    sender.state = restored
    sender.undone = True
