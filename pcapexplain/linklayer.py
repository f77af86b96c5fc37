"""Link-layer stage of the native reader: where each record's IP header starts, vectorised.

`link(records)` reads Ethernet (with 802.1Q/802.1ad tags), Linux cooked v1/v2, raw IP and
BSD/OpenBSD loopback headers for a whole block of records at once, as Wireshark 4.0's packet-eth.c,
packet-vlan.c, packet-sll.c, packet-raw.c and packet-null.c do, and says for every record whether
an IPv4 or IPv6 header follows, nothing TCP can be in, or an encapsulation this reader does not
follow (`FOREIGN`: MPLS, PPPoE, bridged Ethernet, ...). `Bytes` gives the other stages cheap
access to a block's bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapexplain.capfile import Records

Array = np.ndarray[Any, Any]

# LINKTYPE_ values (tcpdump.org link-layer header types) this reader decodes.
NULL, ETHERNET, RAW, LOOP, SLL, SLL2 = 0, 1, 101, 108, 113, 276
RAW_ALIASES = (12, 14)  # DLT_RAW on most platforms, as wiretap maps them
RAW4, RAW6 = 228, 229
KNOWN_LINKTYPES = frozenset((NULL, ETHERNET, RAW, LOOP, SLL, SLL2, *RAW_ALIASES, RAW4, RAW6))
# The link types read, each by the key of its name in the texts (doctor.link.<key>).
LINKTYPE_NAMES = {
    NULL: "bsd_loopback",
    ETHERNET: "ethernet",
    RAW: "raw_ip",
    12: "raw_ip",
    14: "raw_ip",
    LOOP: "openbsd_loopback",
    SLL: "linux_cooked_v1",
    SLL2: "linux_cooked_v2",
    RAW4: "raw_ipv4",
    RAW6: "raw_ipv6",
}

# What follows the link header (per record).
NONE, IPV4, IPV6, FOREIGN = 0, 4, 6, -1

_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad, the old QinQ type
_MAX_VLAN_TAGS = 20  # packet-vlan.c VLAN_MAX_NESTED_TAGS
# Ethertypes Wireshark 4.0 registers a dissector for (besides IPv4, IPv6 and VLAN tags). A frame
# with one of these may hold TCP deeper down (MPLS, PPPoE, bridged Ethernet, ...) unless it is in
# _NO_TCP_ETHERTYPES; tshark shows any other Ethernet type as plain data.
_REGISTERED_ETHERTYPES = frozenset((
    0x0641, 0x0643, 0x0644, 0x0645, 0x0712, 0x0713, 0x2001, 0x88BB, 0xABCD, 0xBBBB, 0xA0ED,
    0x80F3, 0x88A2, 0x0806, 0x809B, 0xD28B, 0x22F0, 0x892D, 0x08FF, 0x8874, 0x88AE, 0x4742,
    0x0C15, 0xB4E3, 0x2452, 0x88D8, 0x8902, 0x8909, 0x889B, 0x6000, 0x8038, 0x80E1, 0x6003,
    0x888E, 0x88A4, 0x8940, 0xAEFE, 0x9104, 0x88EE, 0x3E3F, 0x88AB, 0x6558, 0xE555, 0xFCFC,
    0x8906, 0x8914, 0x8901, 0x8947, 0x22E5, 0x887B, 0x88E1, 0x892F, 0x889A, 0x88B8, 0x88BA,
    0x890D, 0x88B7, 0x893A, 0x88E7, 0x893F, 0xF1C1, 0x88A9, 0x886D, 0x8137, 0x81FD, 0x8870,
    0x22F4, 0x6004, 0x886C, 0x8911, 0x88CC, 0xCAFE, 0x88D9, 0x9000, 0x88E5, 0x8808, 0x8917,
    0x8783, 0x88F6, 0x8847, 0x8848, 0x88E3, 0x22EA, 0x886F, 0x88F5, 0x88F8, 0x894F, 0x8133,
    0xC0DF, 0x8942, 0x8988, 0x8863, 0x8864, 0x8892, 0x88FB, 0x88F7, 0x8204, 0x8899, 0x8035,
    0x8915, 0x22F1, 0x88C7, 0x9022, 0x9021, 0x88CD, 0x8809, 0x80D5, 0x814C, 0x8181, 0xD00D,
    0x99FE, 0x88A1, 0x88CA, 0x22F3, 0x891D, 0x0BAF, 0x0BAD, 0x8103, 0x88DE, 0x8926, 0x88B4,
    0x80FF, 0x872D, 0x08F0, 0x0842, 0x88DC, 0xC0DE, 0x0600, 0x4305, 0x809A, 0xAAAA,
))  # fmt: skip
# Registered types whose payload is known not to lead to a TCP segment tshark would dissect.
_NO_TCP_ETHERTYPES = frozenset((
    0x0806, 0x8035, 0x80F3, 0x809B, 0x8137, 0x88CC, 0x888E, 0x8809, 0x88F7, 0x9000, 0x8906,
    0x8914, 0x88E5, 0x8863, 0x8902, 0x88D9, 0x88F8, 0x8892, 0x8915, 0x88E3, 0x88F6, 0x88F5,
    0x22EA, 0x22F0, 0x88B8, 0x88BA, 0x893A, 0x6000, 0x6003, 0x6004, 0x8038, 0x8808, 0x0842,
    0x88A4, 0x88AB, 0x3E3F, 0x88CD, 0x887B, 0x88E1, 0x88DC, 0x8947, 0x891D, 0x8181, 0x22F4,
    0x88A2, 0xAEFE, 0x8917, 0x88FB, 0x80E1, 0x88C7, 0x88B4, 0x8103, 0x88CA, 0x814C, 0x0600,
    0x0BAD, 0x0BAF, 0x08FF, 0x889A, 0x886F, 0x886C, 0x8901, 0x8911, 0x80D5, 0x8204, 0x8133,
    0x81FD, 0xD00D, 0x80FF, 0x872D, 0x0000,
))  # fmt: skip


def lookup(values: Iterable[int], size: int) -> Array:
    """A table of size booleans, true at values: `table[x]` is np.isin(x, values) for 0 <= x <
    size, without isin's sort or table built on every call."""
    table = np.zeros(size, dtype=bool)
    table[list(values)] = True
    return table


_FOREIGN_ETHERTYPES = lookup(_REGISTERED_ETHERTYPES - _NO_TCP_ETHERTYPES, 1 << 16)
_IS_VLAN_TAG = lookup(_VLAN_TAGS, 1 << 16)
_LLC_WITH_IP = lookup((0xAA, 0x06), 1 << 8)  # SNAP, or the IP SAP
_BSD_AF_INET, _BSD_AF_INET6 = 2, (24, 28, 30)
_ARPHRD_NETLINK, _ARPHRD_IPGRE = 824, 778


class Bytes:
    """A block's bytes with gathers that stay in bounds (offsets past the end are clamped).

    Fixed-size reads go through strided views of the buffer (an element per byte offset), so a
    gather copies whole headers rather than single bytes.
    """

    def __init__(self, data: Array) -> None:
        self.data = data
        self._views: dict[object, Array] = {}

    def _view(self, dtype: Any, size: int) -> Array:
        key = (dtype, size)
        if key not in self._views:
            count = len(self.data) - size + 1
            self._views[key] = np.ndarray(
                buffer=self.data, shape=(count,), dtype=dtype, strides=(1,)
            )
        return self._views[key]

    def rows(self, at: Array, size: int) -> Array:
        """A (len(at), size) matrix of the bytes at each offset."""
        view = self._view(np.dtype((np.void, size)), size)
        matrix: Array = view[np.minimum(at, len(view) - 1)].view(np.uint8).reshape(-1, size)
        return matrix

    def u8(self, at: Array) -> Array:
        value: Array = self.data[np.minimum(at, len(self.data) - 1)].astype(np.int64)
        return value

    def u16(self, at: Array) -> Array:
        view = self._view(np.dtype(">u2"), 2)
        value: Array = view[np.minimum(at, len(view) - 1)].astype(np.int64)
        return value

    def u32(self, at: Array) -> Array:
        view = self._view(np.dtype(">u4"), 4)
        value: Array = view[np.minimum(at, len(view) - 1)].astype(np.int64)
        return value


def be(matrix: Array, offset: int, size: int) -> Array:
    """Big-endian integers from columns offset..offset+size of a byte matrix."""
    if size in (2, 4) and matrix.flags.c_contiguous and len(matrix):
        # The matrix's rows read as big-endian words in place: one conversion, not size of them.
        words = np.ndarray(
            shape=(len(matrix),),
            dtype=f">u{size}",
            buffer=matrix,
            offset=offset,
            strides=(matrix.strides[0],),
        )
        converted: Array = words.astype(np.int64)
        return converted
    value: Array = matrix[:, offset].astype(np.int64)
    for i in range(1, size):
        value = (value << 8) | matrix[:, offset + i]
    return value


@dataclass(slots=True)
class Link:
    """Per record: what follows the link header, where it starts, the first VLAN id."""

    kind: Array  # NONE, IPV4, IPV6 or FOREIGN
    net: Array  # offset of the network header in the block
    vlan: Array


def link(data: Bytes, records: Records) -> Link:
    """Decode the link-layer header of every record in a block."""
    n = len(records)
    out = Link(np.full(n, NONE, dtype=np.int64), records.start.copy(), np.zeros(n, np.int64))
    lt = records.linktype
    start = records.start
    have = records.caplen
    head = data.rows(start, 20)
    # A pcap file has one link type: the others' masks (all false) are not worth building.
    only = int(lt[0]) if n and bool((lt == lt[0]).all()) else None

    def maybe(*types: int) -> bool:
        return only is None or only in types

    eth = (lt == ETHERNET) & (have >= 14) if maybe(ETHERNET) else None
    if eth is not None and eth.any():
        etype = be(head, 12, 2)
        _ethertype(data, eth, etype, start + 14, start + have, out)
        # 802.3 frames: LLC with SNAP or the IP SAP, and Cisco ISL, can hold IP.
        llc = eth & (etype <= 1500) & (etype != 0)
        if llc.any():
            isl = (be(head, 0, 2) == 0x0100) | (be(head, 0, 2) == 0x0C00)
            out.kind[llc & (_LLC_WITH_IP[head[:, 14]] | isl)] = FOREIGN
    for linktype, size, proto_at, hatype_at in ((SLL, 16, 14, 2), (SLL2, 20, 0, 8)):
        sll = (lt == linktype) & (have >= size) if maybe(linktype) else None
        if sll is not None and sll.any():
            protocol, hatype = be(head, proto_at, 2), be(head, hatype_at, 2)
            _cooked(data, sll, protocol, hatype, start, start + have, size, out)
    if maybe(RAW, *RAW_ALIASES):
        raw = np.isin(lt, (RAW, *RAW_ALIASES)) & (have >= 8)  # it reads bytes 6-7 first
        if raw.any():
            _raw(head, raw, have, start, out)
    if maybe(RAW4, RAW6):
        out.kind[(lt == RAW4) & (have > 0)] = IPV4
        out.kind[(lt == RAW6) & (have > 0)] = IPV6
    null = (lt == NULL) & (have >= 4) if maybe(NULL) else None
    if null is not None and null.any():
        _null(data, head, null, start, start + have, out)
    loop = (lt == LOOP) & (have >= 4) if maybe(LOOP) else None
    if loop is not None and loop.any():
        family = be(head, 0, 4)
        out.net[loop] = start[loop] + 4
        out.kind[loop & (family == _BSD_AF_INET)] = IPV4
        out.kind[loop & np.isin(family, _BSD_AF_INET6)] = IPV6
    return out


def _ethertype(
    data: Bytes, rows: Array, first_type: Array, payload_at: Array, end: Array, out: Link
) -> None:
    """Follow an Ethernet type (and any VLAN tags after it) for the selected records."""
    active = rows.copy()
    etype = first_type
    payload = payload_at.copy()
    for depth in range(_MAX_VLAN_TAGS + 1):
        tag = active & _IS_VLAN_TAG[etype] & (payload + 4 <= end)
        done = active & ~tag
        out.kind[done & (etype == 0x0800)] = IPV4
        out.kind[done & (etype == 0x86DD)] = IPV6
        out.kind[done & _FOREIGN_ETHERTYPES[etype]] = FOREIGN
        out.net[done] = payload[done]
        if not tag.any() or depth == _MAX_VLAN_TAGS:
            break
        tags = data.rows(payload, 4)
        first = tag & (out.vlan == 0)
        out.vlan[first] = be(tags, 0, 2)[first] & 0x0FFF
        etype = be(tags, 2, 2)
        payload = np.where(tag, payload + 4, payload)
        active = tag


def _cooked(
    data: Bytes,
    rows: Array,
    proto: Array,
    hatype: Array,
    start: Array,
    end: Array,
    size: int,
    out: Link,
) -> None:
    """packet-sll.c: netlink aside, a protocol above 1536 is an Ethernet type (or a GRE one)."""
    typed = rows & (hatype != _ARPHRD_NETLINK) & (proto > 1536)
    gre = typed & (hatype == _ARPHRD_IPGRE)
    out.kind[gre & (proto == 0x0800)] = IPV4
    out.kind[gre & (proto == 0x86DD)] = IPV6
    out.kind[gre & (proto != 0x0800) & (proto != 0x86DD)] = FOREIGN
    out.net[gre] = start[gre] + size
    plain = typed & ~gre
    _ethertype(data, plain, proto, start + size, end, out)
    llc = rows & (hatype != _ARPHRD_NETLINK) & (proto == 4)
    out.kind[llc & _LLC_WITH_IP[data.u8(start + size)]] = FOREIGN


def _raw(head: Array, rows: Array, have: Array, start: Array, out: Link) -> None:
    """packet-raw.c: PPP in disguise first, ten zero bytes, then the IP version nibble."""
    ppp = rows & (
        (be(head, 0, 2) == 0xFF03) | (be(head, 6, 2) == 0xFF03) | (be(head, 1, 2) == 0xFF03)
    )
    out.kind[ppp] = FOREIGN
    rest = rows & ~ppp
    zeros = rest & (have >= 10) & ~head[:, :10].any(axis=1)
    out.kind[zeros] = IPV4
    out.net[zeros] = start[zeros] + 10
    version = head[:, 0] >> 4
    plain = rest & ~zeros
    out.kind[plain & (version == 4)] = IPV4
    out.kind[plain & (version == 6)] = IPV6


def _null(data: Bytes, head: Array, rows: Array, start: Array, end: Array, out: Link) -> None:
    """packet-null.c: a host-order address family, byte-swapped when that looks wrong."""
    ppp = rows & (be(head, 0, 2) == 0xFF03)
    out.kind[ppp] = FOREIGN
    rows = rows & ~ppp
    h = head.astype(np.int64)
    value = h[:, 0] | (h[:, 1] << 8) | (h[:, 2] << 16) | (h[:, 3] << 24)  # tshark's host order
    high = (value & 0xFFFF0000) != 0
    shifted = high & ((value & 0xFF000000) == 0) & ((value & 0x00FF0000) < 0x00060000)
    swapped = (h[:, 0] << 24) | (h[:, 1] << 16) | (h[:, 2] << 8) | h[:, 3]
    short_swap = ~high & ((value & 0xFF) == 0) & ((value & 0xFF00) < 0x0600)
    family = np.where(high, np.where(shifted, value >> 16, swapped), value)
    family = np.where(short_swap, (h[:, 0] << 8) | h[:, 1], family)
    out.net[rows] = start[rows] + 4
    typed = rows & (family > 1500)  # an Ethernet type instead of an address family
    _ethertype(data, typed, family & 0xFFFF, start + 4, end, out)
    by_family = rows & ~typed
    out.kind[by_family & (family == _BSD_AF_INET)] = IPV4
    out.kind[by_family & np.isin(family, _BSD_AF_INET6)] = IPV6
