"""Reconstructor stage (pure): split packets into TCP incarnations, then replay each one.

`reconstruct` assigns every packet to a connection (a 4-tuple between its SYN and its end; a new
SYN with a new ISN after the old incarnation ended starts the next one; a SYN-ACK that answers
some other SYN than the client's, and the client's RST to it, form a connection of their own, as
they do at the server: RFC 9293 Fig. 8), then replays each connection's packets through the
endpoint state machine in `endpoints.py` and summarises it with `outcomes.py`.

Most rows decide nothing: a segment without SYN, FIN or RST changes no grouping once its
incarnation has seen a plain ACK, and no endpoint state while neither side waits for anything.
Such rows are found with whole-column numpy passes; the loops visit the others only, and the
skipped rows' outputs are written column-wise, as are those of a connection's plain handshake and
plain four-way or three-way close (`endpoints.plain_openings`, `plain_closings`); a connection of
both is summarised column-wise too (`outcomes.plain_summaries`). `_SKIP = False` makes every loop
visit every row: the tests compare both ways.
"""

from __future__ import annotations

import gc
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pcapexplain import arrays, closed_port, endpoints, icmp, outcomes
from pcapexplain.model import (
    Connection,
    Direction,
    Endpoint,
    IcmpError,
    PacketColumns,
    PacketRole,
    PacketStates,
    TcpFlags,
    TcpOptions,
    Vantage,
)
from pcapexplain.seqspace import acks_syn

_SYN, _ACK, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
_OPENING = _SYN | _ACK | _RST
_NOTABLE = _SYN | _FIN | _RST
_TO_SERVER, _TO_CLIENT = int(Direction.TO_SERVER), int(Direction.TO_CLIENT)
_KEEP_ALIVE, _ZWP = int(PacketRole.KEEP_ALIVE), int(PacketRole.ZERO_WINDOW_PROBE)
_HS_ACK = int(PacketRole.HANDSHAKE_ACK)

# Where a SYN cannot say who the client is: IANA well-known ports, then the ephemeral range.
WELL_KNOWN_LIMIT = 1024
EPHEMERAL_START = 32768  # Linux ip_local_port_range default; IANA's 49152 lies inside it

_NO_OPTIONS, _NOWHERE = TcpOptions(), Vantage()
_SKIP = True  # False: every loop visits every row (the reference the tests compare with)

Side = tuple[str, int]
_NO_SIDE: Side = ("", -1)  # stands for the sender of a row without SYN, which no rule reads


@dataclass(slots=True)
class _Incarnation:
    """Grouping state of one connection while packets are assigned."""

    id: int  # its connection id: incarnations are made in the order of their first row
    first_row: int
    syn_isn: dict[Side, int] = field(default_factory=dict)  # pure SYNs seen, per sender
    synack: bool = False
    acked: bool = False  # a plain ACK was seen: the connection got past the handshake
    ended: bool = False  # a FIN or RST was seen
    stale: _Incarnation | None = None  # a SYN-ACK for another SYN, and the RST answering it
    stale_synack: tuple[int, int, Side] | None = None  # that SYN-ACK's seq, ack and sender


@dataclass(slots=True)
class _Layout:
    """Every row's connection, and the rows listed connection after connection."""

    owner: Any  # connection id per row (numpy int32, int64 past 2**31 rows)
    order: Any  # rows by connection, ascending within each (numpy int64)
    starts: list[int]  # where each connection's rows begin in order, and the end
    endpoint: Any  # sender's endpoint code per row (numpy int64)
    receiver: Any  # receiver's, until the connections are made (then None)
    addresses: dict[str, int]  # an endpoint's code is its address's here, shifted, | its port


def reconstruct(
    packets: PacketColumns, icmp_errors: Sequence[IcmpError] = ()
) -> tuple[list[Connection], PacketStates]:
    """Every TCP connection in the packets, and each packet's role and endpoint states.

    Connections are numbered from 0 in the order of their first packet; each holds the ICMP
    errors about its segments.
    """
    # The stage allocates many small objects and makes no reference cycles: the cyclic
    # collector would only rescan the capture's columns, at about a tenth of the stage's time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _reconstruct(packets, icmp_errors)
    finally:
        if collecting:
            gc.enable()


def _reconstruct(
    packets: PacketColumns, icmp_errors: Sequence[IcmpError]
) -> tuple[list[Connection], PacketStates]:
    if not len(packets):
        return [], _blank_states(0)
    firsts, layout = _group(packets)
    states = _blank_states(len(packets))
    errors = icmp.match(icmp_errors, packets, firsts) if icmp_errors else {}
    connections = []
    flags = _column(packets.flags)
    opening = _opening_rows(flags, layout)
    # The row _roles reads first: the opening, else the first; its two endpoints' codes.
    read = np.where(opening >= 0, opening, layout.order[layout.starts[:-1]])
    codes = zip(layout.endpoint[read].tolist(), layout.receiver[read].tolist(), strict=True)
    layout.receiver = None
    every_row = array("l", layout.order.tobytes())  # sliced per connection: no numpy per slice
    known: dict[int, Endpoint] = {}
    starts = layout.starts
    for cid, (begin, end, first_syn, pair) in enumerate(
        zip(starts[:-1], starts[1:], opening.tolist(), codes, strict=True)
    ):
        rows = every_row[begin:end]
        client, server, inferred = _roles(packets, rows, first_syn, known, pair)
        conn = Connection(
            id=cid,
            client=client,
            server=server,
            roles_inferred=inferred,
            packet_index=rows,
            # Shared immutable defaults: their factories would cost more than the rest here.
            client_options=_NO_OPTIONS,
            server_options=_NO_OPTIONS,
            vantage=_NOWHERE,
        )
        if cid in errors:
            conn.icmp = tuple(errors[cid])
        connections.append(conn)
    del every_row  # each connection holds a copy of its slice
    _fill_outline(packets, states, connections, layout)
    sides, whole = _replay(packets, states, connections, layout, flags)
    summary = _summary_rows(packets, states, layout, flags, whole)
    times = _column(packets.time, np.float64)[layout.order]
    first_times = np.minimum.reduceat(times, layout.starts[:-1])
    last_times = np.maximum.reduceat(times, layout.starts[:-1])
    spans = (first_times, last_times)
    openings = _plain_summaries(packets, states, connections, layout, whole, spans)
    first_times, last_times = first_times.tolist(), last_times.tolist()
    bounds = summary.bounds
    for conn, sided in zip(connections, sides, strict=True):
        if sided is None:
            continue  # summarised column-wise
        cid = conn.id
        a, b = bounds[cid], bounds[cid + 1]
        span = (first_times[cid], last_times[cid])
        rows_seen = summary.rows[a:b]
        openings[cid] = outcomes.summarise(packets, states, conn, *sided, rows_seen, span)
    outcomes.fill_options(packets, connections, openings)
    outcomes.count(packets, states, connections)
    return connections, states


def _column(values: Sequence[Any], dtype: Any = np.int64) -> Any:
    return np.asarray(values, dtype=dtype)


def _view(column: array[int]) -> Any:
    """A writable numpy view of an output column."""
    return np.frombuffer(column, dtype=np.int64 if column.itemsize == 8 else np.int8)


def _blank_states(count: int) -> PacketStates:
    zeros = bytes(count)
    return PacketStates(
        connection=array("l", [0]) * count,
        direction=array("b", zeros),
        role=array("b", zeros),
        client_before=array("b", zeros),
        client_after=array("b", zeros),
        server_before=array("b", zeros),
        server_after=array("b", zeros),
    )


def _group(packets: PacketColumns) -> tuple[list[int], _Layout]:
    """Assign each row to an incarnation; both directions of a 4-tuple share one key. Return
    each incarnation's first row, and the layout.

    Only a row with SYN, FIN or RST, a 4-tuple's first row, and the first plain ACK after a SYN
    can change the grouping (`_note`, `_is_stale`, `_starts_new`); the loop visits those, and
    every other row joins the incarnation its 4-tuple has at its position. A 4-tuple that is
    one incarnation (`_one_incarnation`, most of them) is not visited at all.
    """
    # Temporaries are dropped as soon as they are used: at a million rows each is megabytes.
    sender, receiver, addresses = _endpoint_codes(packets)
    key = _pair_keys(sender, receiver)
    by_key = _key_order(key, packets.stream)
    flags = _column(packets.flags)
    visit, single = _rows_to_visit(key[by_key], flags[by_key], by_key, packets)
    rows = np.sort(by_key[visit])
    visited = _Visited(rows.tolist(), key[rows].tolist(), flags[rows].tolist())
    looped, own, current = _assign(packets, visited)
    del flags, visit
    del key
    count = len(by_key)
    index: Any = np.int32 if count < 1 << 31 else np.int64
    # Incarnations are numbered in the order of their first rows, whichever way they were found.
    alone = np.sort(by_key[single]).astype(index)  # the first rows of one-incarnation 4-tuples
    found = np.asarray(looped, dtype=index)
    renumber = np.arange(len(found), dtype=index) + np.searchsorted(alone, found).astype(index)
    alone_ids = np.arange(len(alone), dtype=index) + np.searchsorted(found, alone).astype(index)
    latest: Any = np.full(count, -1, dtype=index)
    latest[rows] = renumber[np.asarray(current, dtype=np.int64)]
    latest[alone] = alone_ids
    latest = latest[by_key]
    last_visited = np.where(latest >= 0, np.arange(count, dtype=index), 0).astype(index)
    np.maximum.accumulate(last_visited, out=last_visited)  # each key's first row is set
    owner = np.empty(count, dtype=index)
    owner[by_key] = latest[last_visited]
    del latest, last_visited, by_key
    owner[rows] = renumber[np.asarray(own, dtype=np.int64)]
    order = arrays.stable_order(owner)  # radix passes: owner is dense and small
    total = len(found) + len(alone)
    starts = [0, *np.cumsum(np.bincount(owner, minlength=total)).tolist()]
    firsts = np.empty(total, dtype=np.int64)
    firsts[renumber] = found
    firsts[alone_ids] = alone
    return firsts.tolist(), _Layout(owner, order, starts, sender, receiver, addresses)


class _Numbering(dict[str, int]):
    """Numbers names in the order they are first looked up."""

    def __missing__(self, name: str) -> int:
        number = self[name] = len(self)
        return number


def _endpoint_codes(packets: PacketColumns) -> tuple[Any, Any, dict[str, int]]:
    """Per row, a code for (address, port) of the sender and of the receiver; and each
    address's code."""
    # Codes are only compared for equality. Numbering the few distinct names while mapping
    # spares the pass over both columns that collecting them first takes; the order in which
    # they are met is the capture's, so the codes are the same run to run.
    code = _Numbering()
    count = len(packets)
    src = np.fromiter(map(code.__getitem__, packets.src), dtype=np.int64, count=count)
    src <<= 16
    src |= _column(packets.sport)
    dst = np.fromiter(map(code.__getitem__, packets.dst), dtype=np.int64, count=count)
    dst <<= 16
    dst |= _column(packets.dport)
    return src, dst, code


def _pair_keys(sender: Any, receiver: Any) -> Any:
    """One int64 per row for its 4-tuple, the same in both directions."""
    low, high = np.minimum(sender, receiver), np.maximum(sender, receiver)
    width = int(high.max()) + 1
    if width >= 1 << 31:  # the product would overflow: renumber the endpoints densely
        dense = np.unique(np.concatenate((low, high)), return_inverse=True)[1]
        low, high = dense[: len(low)], dense[len(low) :]
        width = int(high.max()) + 1
    low *= width
    low += high
    return low


def _key_order(key: Any, stream: Sequence[int]) -> Any:
    """np.argsort(key, kind="stable"), sorting one key per stream when every stream (the
    reader's tcp.stream numbers) lies within one 4-tuple, as tshark's do: then the rows are
    ordered by the rank of their stream's key, a small number radix passes sort fast. Whatever
    the stream numbers are, the order is the same."""
    streams = np.asarray(stream, dtype=np.int64)
    count = len(key)
    if not _SKIP or not count or streams.min() < 0 or streams.max() >= count:
        return np.argsort(key, kind="stable")
    first = np.zeros(int(streams.max()) + 1, dtype=np.int64)
    first[streams[::-1]] = np.arange(count - 1, -1, -1)  # each stream's first row
    if not (key[first[streams]] == key).all():  # a stream spans 4-tuples: sort every key
        return np.argsort(key, kind="stable")
    rank = np.unique(key[first], return_inverse=True)[1].reshape(-1)
    return arrays.stable_order(rank[streams])


def _rows_to_visit(keys: Any, flags: Any, by_key: Any, packets: PacketColumns) -> tuple[Any, Any]:
    """Which rows, sorted by 4-tuple (by_key: their rows), the grouping loop must see; and the
    first rows of the 4-tuples it need not see at all, each one incarnation."""
    count = len(keys)
    if not _SKIP:
        return np.ones(count, dtype=bool), np.zeros(count, dtype=bool)
    first = np.ones(count, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    # A 4-tuple that is one incarnation is the one its first row opens; nearly every row is in
    # one, and the other 4-tuples' rows, still together, are looked at alone.
    single = _one_incarnation(first, flags, by_key, packets)
    others = np.flatnonzero(~single)
    visit = np.zeros(count, dtype=bool)
    visit[others[_rows_that_matter(first[others], flags[others])]] = True
    return visit, single & first


def _rows_that_matter(first: Any, flags: Any) -> Any:
    """Of rows sorted by 4-tuple (first: a 4-tuple's first row), those that can change the
    grouping."""
    visit = first | ((flags & _NOTABLE) != 0)
    # A new incarnation, not yet acknowledged, can start only at a 4-tuple's first row or a SYN.
    opens = first | ((flags & _SYN) != 0)
    run = np.cumsum(opens)
    acks = np.flatnonzero(~visit & ((flags & _ACK) != 0))
    if len(acks):
        run_of = run[acks]
        visit[acks[np.r_[True, run_of[1:] != run_of[:-1]]]] = True
    # A FIN without SYN or RST is never stale, and the run's first one set `ended` (`_note`);
    # `acked` no longer matters then (`_starts_new`): a later one joins the incarnation it finds.
    fin = (flags & _NOTABLE) == _FIN
    earlier = np.cumsum(fin) - fin
    earlier -= earlier[np.flatnonzero(opens)][run - 1]  # counted from the run's first row
    visit &= ~(fin & (earlier > 0))
    return visit


def _one_incarnation(first: Any, flags: Any, by_key: Any, packets: PacketColumns) -> Any:
    """Rows, sorted by 4-tuple (first: a 4-tuple's first row), whose 4-tuple `_assign` gives
    whole to the incarnation its first row opens: that row is a pure SYN, every later row with
    SYN is a SYN-ACK, and the first of these acknowledges the SYN. No row then starts another
    (`_starts_new` sees pure SYNs only) or is stale (`_is_stale`, which also never calls a
    SYN-ACK from the SYN's own sender stale: who sent it does not matter here)."""
    heads = np.flatnonzero(first)
    whole = (flags[heads] & _OPENING) == _SYN
    syns = np.flatnonzero((flags & _SYN) != 0)
    key = np.searchsorted(heads, syns, side="right") - 1  # each SYN's 4-tuple
    later = ~first[syns]
    synack = later & ((flags[syns] & _OPENING) == _SYN | _ACK)
    whole[key[later & ~synack]] = False
    answers, owner = syns[synack], key[synack]
    if len(answers):
        each = np.r_[True, owner[1:] != owner[:-1]]  # each 4-tuple's first
        answers, owner = answers[each], owner[each]
        syn, reply = by_key[heads[owner]], by_key[answers]
        seq, ack = np.asarray(packets.seq, np.int64), np.asarray(packets.ack, np.int64)
        answered = acks_syn(ack[reply], seq[syn])
        whole[owner[~answered]] = False
    return np.repeat(whole, np.diff(heads, append=len(first)))


@dataclass(slots=True)
class _Visited:
    """The rows the grouping loop visits, in capture order, with their 4-tuple keys and flags."""

    rows: list[int]
    keys: list[int]
    flags: list[int]


def _assign(packets: PacketColumns, visited: _Visited) -> tuple[list[int], list[int], list[int]]:
    """The grouping loop over the rows that matter: (the first row of each incarnation it
    makes, each row's incarnation, the incarnation its 4-tuple has after it)."""
    current: dict[int, _Incarnation] = {}
    groups: list[_Incarnation] = []
    own: list[int] = []
    latest: list[int] = []
    p_src, p_sport, p_dst, p_dport = packets.src, packets.sport, packets.dst, packets.dport
    p_seq, p_ack = packets.seq, packets.ack
    for row, key, flags in zip(visited.rows, visited.keys, visited.flags, strict=True):
        # Only a row with SYN reads its sender (_is_stale, _starts_new, _note): most rows
        # have none, and building the tuple for them would cost as much as the rest.
        sender = (p_src[row], p_sport[row]) if flags & _SYN else _NO_SIDE
        group = current.get(key)
        if (
            group is not None
            # _is_stale is False, and changes nothing, for any other segment: skip the call.
            and (group.stale_synack is not None or flags & _OPENING == _SYN | _ACK)
            and _is_stale(group, sender, (p_dst[row], p_dport[row]), flags, p_seq[row], p_ack[row])
        ):
            if group.stale is None:
                group.stale = _Incarnation(len(groups), row)
                groups.append(group.stale)
            own.append(group.stale.id)
            latest.append(group.id)
            continue
        if group is None or (flags & _OPENING == _SYN and _starts_new(group, sender, p_seq[row])):
            group = current[key] = _Incarnation(len(groups), row)
            groups.append(group)
        own.append(group.id)
        latest.append(group.id)
        if flags & _NOTABLE or not group.acked:
            _note(group, sender, flags, p_seq[row])
    return [group.first_row for group in groups], own, latest


def _is_stale(
    group: _Incarnation, sender: Side, receiver: Side, flags: int, seq: int, ack: int
) -> bool:
    """A SYN-ACK that acknowledges no SYN of its receiver's, its copies, and the RST answering it.

    RFC 9293 Fig. 8 seen from the client: the server answers an old duplicate SYN while the
    client's own SYN is pending; the client, in SYN_SENT, resets it with <SEQ=SEG.ACK><CTL=RST>.
    """
    opening = flags & _OPENING
    if group.stale_synack is not None:
        stale_seq, stale_ack, server = group.stale_synack
        if opening == _SYN | _ACK:
            return sender == server and seq == stale_seq
        return receiver == server and opening == _RST and seq == stale_ack  # RST, no ACK flag
    isn = group.syn_isn.get(receiver)
    if opening != _SYN | _ACK or isn is None or group.synack or len(group.syn_isn) > 1:
        return False
    if acks_syn(ack, isn):
        return False
    group.stale_synack = (seq, ack, sender)
    return True


def _starts_new(group: _Incarnation, sender: Side, seq: int) -> bool:
    """A pure SYN starts a new incarnation unless it repeats, crosses, or hits an open one."""
    known = group.syn_isn.get(sender)
    if known == seq:
        return False  # a retransmitted SYN
    if known is None and group.syn_isn and not group.synack:
        return False  # the peer's SYN crossed this one: simultaneous open
    open_connection = group.acked and not group.ended
    return not open_connection  # a SYN on an open connection is an anomaly of that connection


def _note(group: _Incarnation, sender: Side, flags: int, seq: int) -> None:
    if flags & _SYN:
        if flags & _ACK:
            group.synack = True
        elif not flags & _RST:
            group.syn_isn.setdefault(sender, seq)
    elif flags & _ACK and not flags & _RST:
        group.acked = True
    if flags & (_FIN | _RST):
        group.ended = True


def _fill_outline(
    packets: PacketColumns, states: PacketStates, connections: list[Connection], layout: _Layout
) -> None:
    """The columns the replay reads and does not decide: connection, direction, plain role."""
    _view(states.connection)[:] = layout.owner
    sender, addresses = layout.endpoint, layout.addresses
    clients = np.fromiter(
        ((addresses[conn.client.ip] << 16) | conn.client.port for conn in connections),
        dtype=np.int64,
        count=len(connections),
    )
    direction = _view(states.direction)
    direction[:] = _TO_CLIENT
    direction[sender == clients[layout.owner]] = _TO_SERVER
    endpoints.plain_roles(packets, _view(states.role))


def _replay(
    packets: PacketColumns,
    states: PacketStates,
    connections: list[Connection],
    layout: _Layout,
    flags: Any,
) -> tuple[list[tuple[endpoints.Side, endpoints.Side] | None], Any]:
    """Replay every connection, visiting only rows that may change a state, then write the
    skipped rows' states and the zero-window probes' roles column-wise. Return each one's sides
    (None for one whose every row plain_openings and plain_closings wrote: `_plain_shapes`), and
    per connection the count of its plain close's rows (OPEN_AT_END: no close at all; 0: none,
    and replayed)."""
    starts = np.asarray(layout.starts, dtype=np.int64)
    marks = np.flatnonzero(((flags & _NOTABLE) != 0)[layout.order])
    plain, whole = _plain_shapes(packets, states, layout, flags, marks)
    marks = marks[np.repeat(whole == 0, np.diff(starts))[marks]]  # of the connections replayed
    bounds = np.searchsorted(marks, starts).tolist()
    local = (marks - starts[layout.owner[layout.order[marks]]]).tolist()
    every_run: list[tuple[int, int, int, int]] = []
    run_counts: list[int] = []
    sides: list[tuple[endpoints.Side, endpoints.Side] | None] = []
    closed = whole.tolist()
    p_seq, p_ack = packets.seq, packets.ack
    for conn in connections:
        cid = conn.id
        if closed[cid]:  # nothing left to replay: outcomes.plain_summaries summarises it
            sides.append(None)
            run_counts.append(0)
            continue
        runs: list[tuple[int, int, int, int]] = []
        controls = local[bounds[cid] : bounds[cid + 1]] if _SKIP else None
        opened = None
        if plain[cid]:  # its handshake's rows are written: the replay starts after them
            syn, synack = conn.packet_index[0], conn.packet_index[1]
            opened = endpoints.opened_sides(p_seq[syn], syn, p_seq[synack], p_ack[synack])
        sides.append(endpoints.replay(packets, states, conn, controls, runs, opened))
        every_run += runs
        run_counts.append(len(runs))
    if every_run:
        found = np.asarray(every_run, dtype=np.int64)
        # Positions in packet_index become positions in layout.order: add each one's start.
        offsets = np.repeat(starts[:-1], run_counts)
        begins = found[:, 0] + offsets
        sizes = found[:, 1] + offsets - begins
        ends = np.cumsum(sizes)
        rows = layout.order[np.repeat(begins - ends + sizes, sizes) + np.arange(int(ends[-1]))]
        client = np.repeat(found[:, 2].astype(np.int8), sizes)
        server = np.repeat(found[:, 3].astype(np.int8), sizes)
        _view(states.client_before)[rows] = client
        _view(states.client_after)[rows] = client
        _view(states.server_before)[rows] = server
        _view(states.server_after)[rows] = server
    _zero_window_probes(packets, states, connections, layout)
    return sides, whole


def _plain_shapes(
    packets: PacketColumns, states: PacketStates, layout: _Layout, flags: Any, marks: Any
) -> tuple[list[bool], Any]:
    """Per connection, whether it opens with a plain handshake (`endpoints.plain_openings`), and
    whether it then closes with a plain four-way or three-way close (`endpoints.plain_closings`:
    the count of its rows, 0 for none), whose rows those write, or has no SYN, FIN or RST after
    the handshake at all (OPEN_AT_END), whose later rows are written here; with _SKIP off, none:
    the replay visits every row. Only a handshake whose third row is its ACK (not a keep-alive,
    say) counts for the close: `outcomes.plain_summaries` takes those connections whole. marks:
    the positions in layout.order of the rows with SYN, FIN or RST."""
    count = len(layout.starts) - 1
    if not _SKIP:
        return [False] * count, np.zeros(count, dtype=np.int64)
    starts = np.asarray(layout.starts, dtype=np.int64)
    last = starts[1:] - 1
    positions = np.minimum(starts[:-1, None] + np.arange(3), last[:, None])  # first three rows
    rows = layout.order[positions]
    opened = endpoints.plain_openings(packets, states, flags, rows)
    acked = opened & (_view(states.role)[rows[:, 2]] == _HS_ACK)
    closed = endpoints.plain_closings(packets, states, flags, acked, layout.order, starts, marks)
    # No SYN, FIN or RST after the handshake: the replay would skip every later row as one run,
    # both sides ESTABLISHED, and the connection is open at the capture's end.
    after = np.minimum(starts[:-1] + 3, starts[1:])
    still_open = acked & (closed == 0)
    still_open &= np.searchsorted(marks, after) == np.searchsorted(marks, starts[1:])
    begins = after[still_open]
    endpoints.write_established(states, layout.order, begins, starts[1:][still_open] - begins)
    closed[still_open] = OPEN_AT_END
    return opened.tolist(), closed


OPEN_AT_END = -1  # _plain_shapes' count for a plain opening followed by no close at all


def _plain_summaries(
    packets: PacketColumns,
    states: PacketStates,
    connections: list[Connection],
    layout: _Layout,
    whole: Any,
    spans: tuple[Any, Any],
) -> list[tuple[int, int]]:
    """Summarise column-wise the connections `_replay` left whole to the plain shapes (whole: their
    close's row count, OPEN_AT_END for none, 0 for the others); spans: every connection's first
    and last timestamps.
    Return every connection's (SYN, SYN-ACK) rows for `outcomes.fill_options`, (-1, -1) for
    the others, which `outcomes.summarise` gives."""
    openings = [(-1, -1)] * len(connections)
    chosen = np.flatnonzero(whole)
    if not len(chosen):
        return openings
    starts = np.asarray(layout.starts, dtype=np.int64)
    begin, end = starts[:-1][chosen], starts[1:][chosen]
    handshake = layout.order[begin[:, None] + np.arange(3)]
    closes = whole[chosen]
    still_open = closes == OPEN_AT_END
    closes[still_open] = 0
    rows = outcomes.PlainRows(
        syn=handshake[:, 0],
        synack=handshake[:, 1],
        hs_ack=handshake[:, 2],
        closer_fin=layout.order[end - np.maximum(closes, 1)],  # the close's first row
        last=layout.order[end - 1],
        three_way=endpoints.three_way(closes),
        still_open=still_open,
        first_time=spans[0][chosen],
        last_time=spans[1][chosen],
    )
    taken = [connections[cid] for cid in chosen.tolist()]
    found = outcomes.plain_summaries(packets, states, taken, rows)
    for cid, pair in zip(chosen.tolist(), found, strict=True):
        openings[cid] = pair
    return openings


def _zero_window_probes(
    packets: PacketColumns, states: PacketStates, connections: list[Connection], layout: _Layout
) -> None:
    roles = _view(states.role)
    probes = np.flatnonzero(roles == _KEEP_ALIVE)
    if not len(probes):
        return
    rank = np.empty(len(roles), dtype=np.int64)
    rank[layout.order] = np.arange(len(roles))
    owners = layout.owner[probes]
    positions = rank[probes] - np.asarray(layout.starts, dtype=np.int64)[owners]
    for row, cid, pos in zip(probes.tolist(), owners.tolist(), positions.tolist(), strict=True):
        if endpoints.probes_zero_window(packets, connections[cid], pos):
            roles[row] = _ZWP


@dataclass(slots=True)
class _SummaryRows:
    """Per connection, the rows outcomes.summarise must see, with their fields."""

    bounds: list[int]
    rows: list[outcomes.SeenRow]


def _summary_rows(
    packets: PacketColumns, states: PacketStates, layout: _Layout, flags: Any, whole: Any
) -> _SummaryRows:
    """Control rows, handshake ACKs, and payload after a FIN: the rows `outcomes._gather`
    acts on (the others change none of its facts); none of the connections summarised
    column-wise (whole: `_replay`'s)."""
    order = layout.order
    starts = np.asarray(layout.starts, dtype=np.int64)
    # Positions in order of the rows of the connections summarise reads.
    taken = np.flatnonzero(np.repeat(whole == 0, np.diff(starts)))
    if _SKIP and len(taken):
        rows = order[taken]
        within = np.searchsorted(taken, starts)  # where each connection's rows begin in taken
        fin = (flags[rows] & _FIN) != 0
        fins = np.cumsum(fin, dtype=np.int32 if len(fin) < 1 << 31 else np.int64)
        # FINs before each connection's first row (a connection without rows here: any).
        earlier = (fins - fin)[np.minimum(within[:-1], len(fin) - 1)]
        after_fin = fins > np.repeat(earlier, np.diff(within))
        del fins
        payload = _column(packets.length)[rows] > 0
        wanted = (_view(states.role)[rows] == _HS_ACK) | ((flags[rows] & _NOTABLE) != 0)
        keep = taken[wanted | (after_fin & payload)]
    else:
        keep = taken
    bounds = np.searchsorted(keep, starts).tolist()
    rows = order[keep]
    local = keep - starts[layout.owner[rows]]
    # Gathered column-wise once: the summary loop then reads no column row by row.
    fields = [flags[rows], _column(packets.length)[rows], _view(states.direction)[rows]]
    fields += [_column(packets.seq)[rows], _column(packets.ack)[rows]]
    seen = zip(local.tolist(), rows.tolist(), *(f.tolist() for f in fields), strict=True)
    return _SummaryRows(bounds, list(seen))


def _opening_rows(flags: Any, layout: _Layout) -> Any:
    """Per connection, its first row with SYN and without RST, or -1: the one `_roles` reads."""
    starts = np.asarray(layout.starts, dtype=np.int64)
    positions = np.flatnonzero((((flags & _SYN) != 0) & ((flags & _RST) == 0))[layout.order])
    at = np.minimum(np.searchsorted(positions, starts[:-1]), max(len(positions) - 1, 0))
    found = np.full(len(starts) - 1, -1, dtype=np.int64)
    if len(positions):
        inside = positions[at] < starts[1:]  # at the connection's first such row, or past it
        inside &= positions[at] >= starts[:-1]
        found[inside] = layout.order[positions[at[inside]]]
    return found


def _roles(
    packets: PacketColumns,
    rows: array[int],
    opening: int,
    known: dict[int, Endpoint],
    codes: tuple[int, int],
) -> tuple[Endpoint, Endpoint, bool]:
    """(client, server, inferred): the SYN sender is the client; otherwise guess and say so.

    opening is the connection's first row with SYN and without RST (-1 when it has none);
    codes: the endpoint codes of its sender and receiver (else of the first row's).
    """
    if opening >= 0:
        sender, receiver = _endpoints_of(packets, opening, known, codes)
        if not packets.flags[opening] & _ACK:
            return sender, receiver, False
        return receiver, sender, True
    first, other = _endpoints_of(packets, rows[0], known, codes)
    prober = closed_port.stray_prober(packets, rows)
    if prober is not None:  # probes answered by a closed port: the prober is the client
        return (first, other, True) if (first.ip, first.port) == prober else (other, first, True)
    return (*_guess_roles(first, other), True)


def _endpoints_of(
    packets: PacketColumns, row: int, known: dict[int, Endpoint], codes: tuple[int, int]
) -> tuple[Endpoint, Endpoint]:
    """The row's sender and receiver (codes: their endpoint codes, the keys of known); one
    Endpoint per (address, port), shared (it is frozen)."""
    sender, receiver = known.get(codes[0]), known.get(codes[1])
    if sender is None:
        sender = known[codes[0]] = Endpoint(packets.src[row], packets.sport[row])
    if receiver is None:
        receiver = known[codes[1]] = Endpoint(packets.dst[row], packets.dport[row])
    return sender, receiver


def _guess_roles(first: Endpoint, other: Endpoint) -> tuple[Endpoint, Endpoint]:
    """Well-known port → server; else the ephemeral port → client; else the first sender."""
    for client, server in ((first, other), (other, first)):
        if server.port < WELL_KNOWN_LIMIT <= client.port:
            return client, server
    for client, server in ((first, other), (other, first)):
        if server.port < EPHEMERAL_START <= client.port:
            return client, server
    return first, other
