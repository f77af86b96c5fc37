"""ICMP errors about TCP segments (pure): which connection each one is about, and what it says.

An ICMP error quotes the IP header and the first 8 bytes of the datagram it is about (RFC 792;
ICMPv6 quotes as much as fits, RFC 4443): for TCP that is the ports and the sequence number, so
the quoted 4-tuple names the connection, and the sequence number the segment.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pcapexplain.model import Connection, IcmpError, PacketColumns

Key = tuple[str, int, str, int]


class IcmpKind(StrEnum):
    """What an ICMP error says, as the finding's `kind` parameter names it."""

    PORT_UNREACHABLE = "port-unreachable"  # the destination host has no such port / rejects it
    HOST_UNREACHABLE = "host-unreachable"  # a router (or the last hop) cannot reach the host
    NET_UNREACHABLE = "net-unreachable"  # a router has no route to the network
    PROHIBITED = "prohibited"  # administratively prohibited: a filter rejected it
    FRAG_NEEDED = "frag-needed"  # too big for the next link (path MTU discovery)
    TIME_EXCEEDED = "time-exceeded"  # the TTL / hop limit ran out (a loop, or traceroute)
    OTHER = "other"


# (version, type) → {code: kind}, with None for every other code of that type.
_KINDS: dict[tuple[int, int], dict[int | None, IcmpKind]] = {
    (4, 3): {
        0: IcmpKind.NET_UNREACHABLE,
        1: IcmpKind.HOST_UNREACHABLE,
        2: IcmpKind.PORT_UNREACHABLE,  # protocol unreachable: no TCP there at all
        3: IcmpKind.PORT_UNREACHABLE,
        4: IcmpKind.FRAG_NEEDED,
        6: IcmpKind.NET_UNREACHABLE,
        7: IcmpKind.HOST_UNREACHABLE,
        9: IcmpKind.PROHIBITED,
        10: IcmpKind.PROHIBITED,
        13: IcmpKind.PROHIBITED,
        None: IcmpKind.HOST_UNREACHABLE,
    },
    (4, 11): {None: IcmpKind.TIME_EXCEEDED},
    (6, 1): {
        0: IcmpKind.NET_UNREACHABLE,
        1: IcmpKind.PROHIBITED,
        3: IcmpKind.HOST_UNREACHABLE,
        4: IcmpKind.PORT_UNREACHABLE,
        5: IcmpKind.PROHIBITED,  # source address failed ingress/egress policy
        6: IcmpKind.PROHIBITED,  # reject route to destination
        None: IcmpKind.HOST_UNREACHABLE,
    },
    (6, 2): {None: IcmpKind.FRAG_NEEDED},  # packet too big
    (6, 3): {None: IcmpKind.TIME_EXCEEDED},
}


def kind_of(error: IcmpError) -> IcmpKind:
    codes = _KINDS.get((error.version, error.type))
    if codes is None:
        return IcmpKind.OTHER
    return codes.get(error.code, codes.get(None, IcmpKind.OTHER))


def about_client(error: IcmpError, conn: Connection) -> bool:
    """The quoted segment is the client's: by address and port, as both ends may share an
    address (loopback, a host talking to itself)."""
    return (error.src, error.sport) == (conn.client.ip, conn.client.port)


def source(error: IcmpError) -> str:
    """ "destination" when the quoted segment's destination sent the error, else "router"."""
    return "destination" if error.reporter == error.dst else "router"


def aborts_opening(error: IcmpError) -> bool:
    """A destination unreachable that ends a connection attempt: RFC 1122 §4.2.3.9 calls port
    and protocol unreachable hard errors; Linux also gives up on the others in SYN_SENT. Path
    MTU news (fragmentation needed) aborts nothing."""
    return error.unreachable and kind_of(error) is not IcmpKind.FRAG_NEEDED


def match(
    errors: Sequence[IcmpError], packets: PacketColumns, firsts: Sequence[int]
) -> dict[int, list[IcmpError]]:
    """Each error's connection: the one on the quoted 4-tuple (either direction) that had begun
    by the error's time, the latest such; the first one on it when none had. firsts holds each
    connection's first row, by connection id. Errors about no captured connection are left out."""
    on_tuple: dict[Key, list[int]] = {}
    for cid, row in enumerate(firsts):
        key = (packets.src[row], packets.sport[row], packets.dst[row], packets.dport[row])
        on_tuple.setdefault(key, []).append(cid)
        on_tuple.setdefault((key[2], key[3], key[0], key[1]), []).append(cid)
    found: dict[int, list[IcmpError]] = {}
    for error in errors:
        cids = on_tuple.get((error.src, error.sport, error.dst, error.dport))
        if not cids:
            continue
        begun = [c for c in cids if packets.time[firsts[c]] <= error.time]
        found.setdefault(begun[-1] if begun else cids[0], []).append(error)
    return found
