"""Reconstructor stage (pure): split packets into TCP incarnations, then replay each one.

`reconstruct` makes one pass to assign every packet to a connection (a 4-tuple between its SYN and
its end; a new SYN with a new ISN after the old incarnation ended starts the next one; a SYN-ACK
that answers some other SYN than the client's, and the client's RST to it, form a connection of
their own, as they do at the server: RFC 9293 Fig. 8), then replays
each connection's packets through the endpoint state machine in `endpoints.py` and summarises it
with `outcomes.py`. Both passes are plain loops over the loader's columns: no object per packet;
the per-direction counters come last, from whole-column passes (`outcomes.count`).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from pcapexplain import endpoints, icmp, outcomes
from pcapexplain.model import (
    Connection,
    Endpoint,
    IcmpError,
    PacketColumns,
    PacketStates,
    TcpFlags,
)
from pcapexplain.seqspace import acks_syn

_SYN, _ACK, _FIN, _RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
_OPENING = _SYN | _ACK | _RST
_NOTABLE = _SYN | _FIN | _RST

# Where a SYN cannot say who the client is: IANA well-known ports, then the ephemeral range.
WELL_KNOWN_LIMIT = 1024
EPHEMERAL_START = 32768  # Linux ip_local_port_range default; IANA's 49152 lies inside it

Side = tuple[str, int]


@dataclass(slots=True)
class _Incarnation:
    """Grouping state of one connection while packets are assigned."""

    rows: array[int]
    first: Side  # sender of the first packet
    syn_isn: dict[Side, int] = field(default_factory=dict)  # pure SYNs seen, per sender
    synack: bool = False
    acked: bool = False  # a plain ACK was seen: the connection got past the handshake
    ended: bool = False  # a FIN or RST was seen
    stale: _Incarnation | None = None  # a SYN-ACK for another SYN, and the RST answering it
    stale_synack: tuple[int, int, Side] | None = None  # that SYN-ACK's seq, ack and sender


def reconstruct(
    packets: PacketColumns, icmp_errors: Sequence[IcmpError] = ()
) -> tuple[list[Connection], PacketStates]:
    """Every TCP connection in the packets, and each packet's role and endpoint states.

    Connections are numbered from 0 in the order of their first packet; each holds the ICMP
    errors about its segments.
    """
    groups = _group(packets)
    states = _blank_states(len(packets))
    errors = icmp.match(icmp_errors, packets, [g.rows[0] for g in groups]) if icmp_errors else {}
    connections = []
    for cid, group in enumerate(groups):
        client, server, inferred = _roles(packets, group)
        conn = Connection(id=cid, client=client, server=server, roles_inferred=inferred)
        conn.packet_index = group.rows
        conn.icmp = tuple(errors.get(cid, ()))
        client_side, server_side = endpoints.replay(packets, states, conn)
        outcomes.summarise(packets, states, conn, client_side, server_side)
        connections.append(conn)
    outcomes.count(packets, states, connections)
    return connections, states


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


def _group(packets: PacketColumns) -> list[_Incarnation]:
    """Assign each row to an incarnation; both directions of a 4-tuple share one dict entry."""
    current: dict[tuple[str, int, str, int], _Incarnation] = {}
    groups: list[_Incarnation] = []
    columns = zip(
        packets.src,
        packets.sport,
        packets.dst,
        packets.dport,
        packets.flags,
        packets.seq,
        packets.ack,
        strict=True,
    )
    for row, (src, sport, dst, dport, flags, seq, ack) in enumerate(columns):
        key = (src, sport, dst, dport)
        group = current.get(key)
        if (
            group is not None
            # _is_stale is False, and changes nothing, for any other segment: skip the call.
            and (group.stale_synack is not None or flags & _OPENING == _SYN | _ACK)
            and _is_stale(group, (src, sport), (dst, dport), flags, seq, ack)
        ):
            if group.stale is None:
                group.stale = _Incarnation(rows=array("l"), first=(src, sport))
                groups.append(group.stale)
            group.stale.rows.append(row)
            continue
        if group is None or (flags & _OPENING == _SYN and _starts_new(group, (src, sport), seq)):
            group = _Incarnation(rows=array("l"), first=(src, sport))
            groups.append(group)
            current[key] = current[(dst, dport, src, sport)] = group
        group.rows.append(row)
        if flags & _NOTABLE or not group.acked:
            _note(group, (src, sport), flags, seq)
    return groups


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


def _roles(packets: PacketColumns, group: _Incarnation) -> tuple[Endpoint, Endpoint, bool]:
    """(client, server, inferred): the SYN sender is the client; otherwise guess and say so."""
    rows = group.rows
    first, other = _endpoints_of(packets, rows[0])
    for row in rows:
        flags = packets.flags[row]
        if flags & _SYN and not flags & _RST:
            sender, receiver = _endpoints_of(packets, row)
            if not flags & _ACK:
                return sender, receiver, False
            return receiver, sender, True
    prober = endpoints.stray_prober(packets, rows)
    if prober is not None:  # probes answered by a closed port: the prober is the client
        return (first, other, True) if (first.ip, first.port) == prober else (other, first, True)
    return (*_guess_roles(first, other), True)


def _endpoints_of(packets: PacketColumns, row: int) -> tuple[Endpoint, Endpoint]:
    return (
        Endpoint(packets.src[row], packets.sport[row]),
        Endpoint(packets.dst[row], packets.dport[row]),
    )


def _guess_roles(first: Endpoint, other: Endpoint) -> tuple[Endpoint, Endpoint]:
    """Well-known port → server; else the ephemeral port → client; else the first sender."""
    for client, server in ((first, other), (other, first)):
        if server.port < WELL_KNOWN_LIMIT <= client.port:
            return client, server
    for client, server in ((first, other), (other, first)):
        if server.port < EPHEMERAL_START <= client.port:
            return client, server
    return first, other
