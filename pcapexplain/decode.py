"""Header-decoding stage of the native reader: link, IPv4/IPv6 and TCP headers, vectorised.

`decode(records, validate_checksums)` turns one `capfile.Records` block into `Segments`: one entry
per TCP header that Wireshark's dissectors would reach, with the values tshark would print and
how far its TCP dissector gets before running out of captured bytes. Every step is numpy over the
whole block; only rare shapes (IPv4 options, fragments, ICMP errors) take a slower path.

The rules mirror Wireshark 4.0's dissectors (packet-eth.c, packet-sll.c, packet-null.c,
packet-raw.c, packet-ip.c, packet-ipv6.c, packet-icmp*.c, packet-tcp.c); docs/NATIVE-READER.md
lists them. A frame in an encapsulation this reader does not follow (tunnels, MPLS, PPPoE, ...)
is counted in `Segments.foreign`, so that `auto` can hand the file to tshark instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pcapexplain.capfile import Records
from pcapexplain.model import ChecksumStatus

Array = np.ndarray[Any, Any]

# LINKTYPE_ values (tcpdump.org link-layer header types) this reader decodes.
NULL, ETHERNET, RAW, LOOP, SLL, SLL2 = 0, 1, 101, 108, 113, 276
RAW_ALIASES = (12, 14)  # DLT_RAW on most platforms, as wiretap maps them
RAW4, RAW6 = 228, 229
KNOWN_LINKTYPES = frozenset((NULL, ETHERNET, RAW, LOOP, SLL, SLL2, *RAW_ALIASES, RAW4, RAW6))

# What the link layer leads to (per record).
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
_FOREIGN_ETHERTYPES = np.array(sorted(_REGISTERED_ETHERTYPES - _NO_TCP_ETHERTYPES))
_BSD_AF_INET, _BSD_AF_INET6 = 2, (24, 28, 30)
_ARPHRD_NETLINK, _ARPHRD_IPGRE = 824, 778

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
_IPV6_EXTENSIONS = (0, 60, 51)  # hop-by-hop, destination options, AH (followed in place)
_IPV6_ROUTING, _IPV6_FRAGMENT = 43, 44
_TUNNEL_PROTOCOLS = (4, 41, 47, 97, 115, 137, 135, 140)  # IP-in-IP, IPv6-in-IP, GRE, ...
# UDP ports where tshark decodes a tunnelled packet (VXLAN, Geneve, GTP-U, Teredo, L2TP, ...).
_TUNNEL_UDP_PORTS = (4789, 6081, 4790, 2152, 3544, 1701, 6343, 8472, 4754, 6633, 6653, 5555)
_ICMP_ERRORS = (3, 4, 5, 11, 12)
_ICMPV6_ERRORS = (1, 2, 3, 4)

# How far packet-tcp.c's dissect_tcp gets (Segments.reach), by captured bytes of the header:
REACH_STREAM = 1  # ports, seq, ack, flags, window read: conversation and analysis done
REACH_FLAGS = 2  # header length >= 20: flags and window fields printed
REACH_CHECKSUM = 3  # checksum field read
REACH_OPTIONS = 4  # urgent pointer read; options dissected (maybe cut short)
REACH_ALL = 5  # every option read: the analysis flags are printed


@dataclass(slots=True)
class Segments:
    """TCP headers found in one block, in frame order (numpy columns of equal length)."""

    frame: Array  # int64
    seconds: Array  # int64
    nanos: Array  # int64
    family: Array  # int8: 4 or 6
    src: Array  # (n, 16) uint8; IPv4 in the last 4 bytes
    dst: Array
    sport: Array  # int64
    dport: Array
    flags: Array  # int64 (12 bits; 0 when not printed)
    seq: Array  # int64 raw
    ack: Array
    hlen: Array  # int64 header length from the data-offset field
    seglen: Array  # int64 payload bytes, -1 when tshark cannot tell (fragment, short, in error)
    window: Array  # int64 raw window
    ttl: Array  # int64
    ip_checksum: Array  # int8 ChecksumStatus
    tcp_checksum: Array
    in_error: Array  # bool: inside an ICMP error (tshark drops the row, the stream counts)
    reach: Array  # int8 REACH_* level
    mss: Array  # int64 option values, -1 when absent or not reached
    wscale: Array  # raw shift as printed
    ws_stored: Array  # shift as the analysis stores it (capped at 14), -1 when not stored
    sack_perm: Array  # int8
    sack: Array
    tsval: Array
    tfo: Array

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(slots=True)
class BlockResult:
    segments: Segments
    frames: int
    foreign: dict[str, int] = field(default_factory=dict)  # what could not be followed → frames


def decode(records: Records, *, validate_checksums: bool) -> BlockResult:
    """Every TCP header tshark's dissectors reach in this block of records."""
    data = records.data
    n = len(records)
    cap_end = records.start + records.caplen  # first byte past each record's captured data
    rep_len = np.maximum(records.wirelen, records.caplen)
    kind, net, vlan = _link(data, records, cap_end)
    foreign: dict[str, int] = {}
    _count(foreign, "link layer", kind == FOREIGN)
    net_rep = rep_len - (net - records.start)  # reported bytes from the network header on
    found = _network(data, kind, net, cap_end, net_rep, vlan, validate_checksums, foreign, False)
    parts = [found]
    errors = _icmp_errors(data, found, cap_end, validate_checksums)
    if errors is not None:
        parts.append(errors)
    segments = _tcp(data, records, parts, validate_checksums)
    return BlockResult(segments=segments, frames=n, foreign=foreign)


def _count(foreign: dict[str, int], what: str, mask: Array) -> None:
    count = int(np.count_nonzero(mask))
    if count:
        foreign[what] = foreign.get(what, 0) + count


# ------------------------------------------------------------------------------ byte access


def _u8(data: Array, at: Array) -> Array:
    value: Array = data[np.clip(at, 0, len(data) - 1)].astype(np.int64)
    return value


def _u16(data: Array, at: Array) -> Array:
    value: Array = (_u8(data, at) << 8) | _u8(data, at + 1)
    return value


def _u32(data: Array, at: Array) -> Array:
    value: Array = (_u16(data, at) << 16) | _u16(data, at + 2)
    return value


def _le32(data: Array, at: Array) -> Array:
    value: Array = (
        _u8(data, at)
        | (_u8(data, at + 1) << 8)
        | (_u8(data, at + 2) << 16)
        | (_u8(data, at + 3) << 24)
    )
    return value


# ------------------------------------------------------------------------------ link layer


def _link(data: Array, records: Records, cap_end: Array) -> tuple[Array, Array, Array]:
    """(what follows the link header, where it starts, first VLAN id) for every record."""
    n = len(records)
    kind = np.full(n, NONE, dtype=np.int64)
    net = records.start.copy()
    vlan = np.zeros(n, dtype=np.int64)
    lt = records.linktype
    start = records.start
    have = cap_end - start

    eth = lt == ETHERNET
    if eth.any():
        ok = eth & (have >= 14)
        etype = _u16(data, start + 12)
        _ethertype(data, ok, etype, start + 14, cap_end, kind, net, vlan)
        # 802.3 frames: LLC with SNAP or the IP SAP, and Cisco ISL, can hold IP.
        llc = ok & (etype <= 1500) & (etype != 0)
        dsap = _u8(data, start + 14)
        isl = (_u16(data, start) == 0x0100) | (_u16(data, start) == 0x0C00)
        kind[llc & ((dsap == 0xAA) | (dsap == 0x06) | isl)] = FOREIGN

    for linktype, header, proto_at, hatype_at in ((SLL, 16, 14, 2), (SLL2, 20, 0, 8)):
        sll = (lt == linktype) & (have >= header)
        if not sll.any():
            continue
        proto = _u16(data, start + proto_at)
        hatype = _u16(data, start + hatype_at)
        netlink = sll & (hatype == _ARPHRD_NETLINK)
        typed = sll & ~netlink & (proto > 1536)
        gre = typed & (hatype == _ARPHRD_IPGRE)
        kind[gre & (proto == 0x0800)] = IPV4
        kind[gre & (proto == 0x86DD)] = IPV6
        kind[gre & (proto != 0x0800) & (proto != 0x86DD)] = FOREIGN
        net[gre] = start[gre] + header
        # A two-byte type right before the payload: reuse the Ethernet type walker.
        plain = typed & ~gre
        _ethertype(data, plain, proto, start + header, cap_end, kind, net, vlan)
        llc = sll & ~netlink & (proto == 4) & np.isin(_u8(data, start + header), (0xAA, 0x06))
        kind[llc] = FOREIGN

    raw = np.isin(lt, (RAW, *RAW_ALIASES))
    if raw.any():
        _raw(data, raw, start, have, kind, net)
    kind[(lt == RAW4) & (have > 0)] = IPV4
    kind[(lt == RAW6) & (have > 0)] = IPV6

    null = (lt == NULL) & (have >= 4)
    if null.any():
        _null(data, null, start, cap_end, kind, net, vlan)
    loop = (lt == LOOP) & (have >= 4)
    if loop.any():
        family = _u32(data, start)
        net[loop] = start[loop] + 4
        kind[loop & (family == _BSD_AF_INET)] = IPV4
        kind[loop & np.isin(family, _BSD_AF_INET6)] = IPV6
    kind[lt < 0] = NONE  # records that hold no packet
    return kind, net, vlan


def _ethertype(
    data: Array,
    rows: Array,
    first_type: Array,
    payload_at: Array,
    cap_end: Array,
    kind: Array,
    net: Array,
    vlan: Array,
) -> None:
    """Follow an Ethernet type (and any VLAN tags after it) for the selected records."""
    active = rows.copy()
    etype = first_type
    payload = payload_at.copy()
    for depth in range(_MAX_VLAN_TAGS + 1):
        tag = active & np.isin(etype, _VLAN_TAGS) & (payload + 4 <= cap_end)
        done = active & ~tag
        kind[done & (etype == 0x0800)] = IPV4
        kind[done & (etype == 0x86DD)] = IPV6
        net[done] = payload[done]
        kind[done & np.isin(etype, _FOREIGN_ETHERTYPES)] = FOREIGN
        if not tag.any() or depth == _MAX_VLAN_TAGS:
            break
        first = tag & (vlan == 0)
        vlan[first] = _u16(data, payload)[first] & 0x0FFF
        etype = _u16(data, payload + 2)
        payload = np.where(tag, payload + 4, payload)
        active = tag


def _raw(data: Array, rows: Array, start: Array, have: Array, kind: Array, net: Array) -> None:
    """packet-raw.c: PPP in disguise first, ten zero bytes, then the IP version nibble."""
    ok = rows & (have >= 8)  # it reads two bytes at offset 6 before anything else
    ppp = ok & (
        (_u16(data, start) == 0xFF03)
        | (_u16(data, start + 6) == 0xFF03)
        | (_u16(data, start + 1) == 0xFF03)
    )
    kind[ppp] = FOREIGN
    rest = ok & ~ppp
    zeros = rest & (have >= 10)
    if zeros.any():
        window = data[np.clip(start[:, None] + np.arange(10), 0, len(data) - 1)]
        zeros &= ~window.any(axis=1)
    kind[zeros] = IPV4
    net[zeros] = start[zeros] + 10
    version = _u8(data, start) >> 4
    plain = rest & ~zeros
    kind[plain & (version == 4)] = IPV4
    kind[plain & (version == 6)] = IPV6


def _null(
    data: Array, rows: Array, start: Array, cap_end: Array, kind: Array, net: Array, vlan: Array
) -> None:
    """packet-null.c: a host-order address family, byte-swapped when that looks wrong."""
    ppp = rows & (_u16(data, start) == 0xFF03)
    kind[ppp] = FOREIGN
    rows = rows & ~ppp
    value = _le32(data, start)  # tshark runs little-endian: "host order" is little-endian
    high = (value & 0xFFFF0000) != 0
    shifted = high & ((value & 0xFF000000) == 0) & ((value & 0x00FF0000) < 0x00060000)
    swapped = ((value & 0xFF) << 24) | ((value & 0xFF00) << 8) | ((value >> 8) & 0xFF00)
    swapped |= (value >> 24) & 0xFF
    short_swap = ~high & ((value & 0xFF) == 0) & ((value & 0xFF00) < 0x0600)
    family = np.where(high, np.where(shifted, value >> 16, swapped), value)
    family = np.where(short_swap, ((value & 0xFF) << 8) | ((value >> 8) & 0xFF), family)
    net[rows] = start[rows] + 4
    typed = rows & (family > 1500)  # an Ethernet type instead of an address family
    _ethertype(data, typed, family & 0xFFFF, start + 4, cap_end, kind, net, vlan)
    by_family = rows & ~typed
    kind[by_family & (family == _BSD_AF_INET)] = IPV4
    kind[by_family & np.isin(family, _BSD_AF_INET6)] = IPV6


# --------------------------------------------------------------------------- network layer


@dataclass(slots=True)
class _Found:
    """TCP payloads located by the network layer (rows index the block's records)."""

    rows: Array
    tcp_at: Array  # offset of the TCP header
    tcp_rep: Array  # reported length of the TCP segment (header included)
    tcp_end: Array  # captured end (min of record end and reported end)
    family: Array
    src: Array
    dst: Array
    ttl: Array
    ip_checksum: Array
    fragmented: Array  # bool: first fragment dissected as is
    in_error: Array  # bool
    icmp_rows: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    icmp_at: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    icmp_rep: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    icmp_family: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _network(
    data: Array,
    kind: Array,
    net: Array,
    cap_end: Array,
    net_rep: Array,
    vlan: Array,
    validate: bool,
    foreign: dict[str, int],
    in_error: bool,
) -> _Found:
    """IPv4 and IPv6 headers → TCP payloads; ICMP errors are returned for a second pass."""
    v4_rows = np.flatnonzero(kind == IPV4)
    v6_rows = np.flatnonzero(kind == IPV6)
    # packet-ip.c hands a version-6 header found where IPv4 was expected to the IPv6 dissector.
    if len(v4_rows):
        six = (_u8(data, net[v4_rows]) >> 4) == 6
        v6_rows = np.sort(np.concatenate([v6_rows, v4_rows[six]]))
        v4_rows = v4_rows[~six]
    a = _ipv4(data, v4_rows, net, cap_end, net_rep, vlan, validate, foreign, in_error)
    b = _ipv6(data, v6_rows, net, cap_end, net_rep, foreign, in_error)
    order = np.argsort(np.concatenate([a.rows, b.rows]), kind="stable")
    merged = _Found(
        *(np.concatenate([x, y])[order] for x, y in _columns(a, b)),
    )
    icmp = np.concatenate([a.icmp_rows, b.icmp_rows])
    merged.icmp_rows = icmp
    merged.icmp_at = np.concatenate([a.icmp_at, b.icmp_at])
    merged.icmp_rep = np.concatenate([a.icmp_rep, b.icmp_rep])
    merged.icmp_family = np.concatenate([a.icmp_family, b.icmp_family])
    return merged


def _columns(a: _Found, b: _Found) -> list[tuple[Array, Array]]:
    names = ("rows", "tcp_at", "tcp_rep", "tcp_end", "family", "src", "dst", "ttl",
             "ip_checksum", "fragmented", "in_error")  # fmt: skip
    return [(getattr(a, n), getattr(b, n)) for n in names]


def _empty_found() -> _Found:
    z = np.zeros(0, dtype=np.int64)
    return _Found(z, z, z, z, z, np.zeros((0, 16), np.uint8), np.zeros((0, 16), np.uint8), z, z,
                  np.zeros(0, bool), np.zeros(0, bool))  # fmt: skip


def _addresses(data: Array, at: Array, size: int) -> Array:
    out = np.zeros((len(at), 16), dtype=np.uint8)
    if len(at):
        out[:, 16 - size :] = data[np.clip(at[:, None] + np.arange(size), 0, len(data) - 1)]
    return out


def _ipv4(
    data: Array,
    rows: Array,
    net: Array,
    cap_end: Array,
    net_rep: Array,
    vlan: Array,
    validate: bool,
    foreign: dict[str, int],
    in_error: bool,
) -> _Found:
    if not len(rows):
        return _empty_found()
    at = net[rows]
    end = cap_end[rows]
    rep = net_rep[rows]
    hlen = (_u8(data, at) & 0x0F) * 4
    ip_len = _u16(data, at + 2)
    # Everything up to the end of the options must be captured, or the dissector stops.
    ok = (hlen >= 20) & (at + hlen <= end) & (rep >= hlen)
    ip_len = np.where(ip_len == 0, rep, ip_len)  # TSO: a zero length means "the frame's"
    ok &= ip_len >= hlen
    seg_rep = np.minimum(ip_len, rep) - hlen
    frag = _u16(data, at + 6)
    more, offset = (frag & 0x2000) != 0, frag & 0x1FFF
    proto = _u8(data, at + 9)
    checksum = np.zeros(len(rows), dtype=np.int64)
    if validate:
        checksum = np.where(_ip_checksum_ok(data, at, hlen), ChecksumStatus.GOOD,
                            ChecksumStatus.BAD)  # fmt: skip
        checksum = np.where(ok, checksum, ChecksumStatus.UNVERIFIED)
    routed = ok & (hlen > 20)
    if routed.any():
        routed[routed] = [_source_routed(data, int(o) + 20, int(h) - 20)
                          for o, h in zip(at[routed], hlen[routed], strict=True)]  # fmt: skip
        _count(foreign, "IPv4 source route", routed)
        ok &= ~routed
    fragment = ok & (more | (offset != 0))
    # Fragments whose datagram wiretap could reassemble (all bytes here, checksum fine).
    whole = fragment & (ip_len > hlen) & (at + ip_len <= end) & (checksum != ChecksumStatus.BAD)
    tcp_frag = whole & (proto == TCP)
    _count(foreign, "IPv4 fragments", tcp_frag & ~np.asarray(in_error))
    first_fragment = fragment & ~whole & (offset == 0)
    payload = ok & ~(fragment & ~first_fragment)
    _count(foreign, "tunnels", payload & np.isin(proto, _TUNNEL_PROTOCOLS))
    tcp_at = at + hlen
    _count_udp_tunnels(data, payload & (proto == UDP) & ~first_fragment, tcp_at, foreign)
    ah = payload & (proto == 51)
    if ah.any():  # an authentication header in front of the transport header
        proto = np.where(ah, _u8(data, tcp_at), proto)
        ah_len = (_u8(data, tcp_at + 1) + 2) * 4
        tcp_at = np.where(ah, tcp_at + ah_len, tcp_at)
        seg_rep = np.where(ah, seg_rep - ah_len, seg_rep)
        payload &= ~ah | (tcp_at <= end)
    found = _select(
        payload & (proto == TCP),
        rows, tcp_at, seg_rep, end, 4, _addresses(data, at + 12, 4), _addresses(data, at + 16, 4),
        _u8(data, at + 8), checksum, first_fragment, in_error,
    )  # fmt: skip
    icmp = payload & (proto == ICMP) & ~first_fragment & (_u8(data, tcp_at) != 0)
    icmp &= np.isin(_u8(data, tcp_at), _ICMP_ERRORS) & (tcp_at + 8 <= end)
    found.icmp_rows = rows[icmp]
    found.icmp_at = tcp_at[icmp] + 8
    found.icmp_rep = seg_rep[icmp] - 8
    found.icmp_family = np.full(int(icmp.sum()), IPV4, dtype=np.int64)
    return found


def _count_udp_tunnels(data: Array, udp: Array, at: Array, foreign: dict[str, int]) -> None:
    if udp.any():
        ports = np.isin(_u16(data, at), _TUNNEL_UDP_PORTS) | np.isin(
            _u16(data, at + 2), _TUNNEL_UDP_PORTS
        )
        _count(foreign, "tunnels", udp & ports)


def _select(
    mask: Array,
    rows: Array,
    tcp_at: Array,
    seg_rep: Array,
    end: Array,
    family: int,
    src: Array,
    dst: Array,
    ttl: Array,
    checksum: Array,
    fragmented: Array,
    in_error: bool,
) -> _Found:
    count = int(mask.sum())
    return _Found(
        rows=rows[mask],
        tcp_at=tcp_at[mask],
        tcp_rep=seg_rep[mask],
        tcp_end=np.minimum(end[mask], tcp_at[mask] + np.maximum(seg_rep[mask], 0)),
        family=np.full(count, family, dtype=np.int64),
        src=src[mask],
        dst=dst[mask],
        ttl=ttl[mask],
        ip_checksum=checksum[mask],
        fragmented=np.asarray(fragmented)[mask] if np.ndim(fragmented) else np.zeros(count, bool),
        in_error=np.full(count, in_error, dtype=bool),
    )


def _source_routed(data: Array, offset: int, length: int) -> bool:
    """packet-ip.c get_dst_offset: a strict or loose source route moves the destination."""
    while length > 0:
        opt = int(data[offset])
        length -= 1
        if opt in (0, 1):
            if opt == 0:
                return False
            offset += 1
            continue
        if length == 0:
            return False
        size = int(data[offset + 1])
        length -= 1
        if size < 2 or size - 2 > length:
            return False
        if opt in (0x83, 0x89):
            pointer = int(data[offset + 2])
            return not (pointer < 4 or pointer & 3 or pointer > size)
        offset += size
        length -= size - 2
    return False


def _ip_checksum_ok(data: Array, at: Array, hlen: Array) -> Array:
    total = np.zeros(len(at), dtype=np.int64)
    for word in range(30):  # at most 60 bytes of header
        inside = 2 * word < hlen
        total += np.where(inside, _u16(data, at + 2 * word), 0)
    while (total > 0xFFFF).any():
        total = (total & 0xFFFF) + (total >> 16)
    ok: Array = total == 0xFFFF
    return ok


def _ipv6(
    data: Array,
    rows: Array,
    net: Array,
    cap_end: Array,
    net_rep: Array,
    foreign: dict[str, int],
    in_error: bool,
) -> _Found:
    if not len(rows):
        return _empty_found()
    at = net[rows]
    end = cap_end[rows]
    rep = net_rep[rows]
    plen = _u16(data, at + 4)
    nxt = _u8(data, at + 6)
    ok = at + 40 <= end
    tso = (plen == 0) & (nxt != 0) & (nxt != 59)
    plen = np.where(tso, rep - 40, plen)
    jumbo = ok & (plen == 0) & (nxt == 0)
    _count(foreign, "IPv6 jumbograms", jumbo)
    ok &= ~jumbo
    seg_rep = np.minimum(plen, rep - 40)
    cursor = at + 40
    fragmented = np.zeros(len(rows), dtype=bool)
    for _ in range(16):  # an extension-header chain longer than this is left alone
        ext = ok & np.isin(nxt, _IPV6_EXTENSIONS)
        routing = ok & (nxt == _IPV6_ROUTING)
        if routing.any():  # with segments left, the TCP conversation uses the final hop
            moves = routing & (_u8(data, cursor + 3) > 0)
            _count(foreign, "IPv6 routing header", moves)
            ok &= ~moves
            ext |= routing & ~moves
        frag = ok & (nxt == _IPV6_FRAGMENT)
        if frag.any():
            # Not reassembled here: tshark shows an unreassembled fragment as data only.
            _count(foreign, "IPv6 fragments", frag & (_u8(data, cursor) == TCP) & ~in_error)
            ok &= ~frag
        if not ext.any():
            break
        length = np.where(nxt == 51, (_u8(data, cursor + 1) + 2) * 4,
                          (_u8(data, cursor + 1) + 1) * 8)  # fmt: skip
        ok &= ~ext | (cursor + 2 <= end)
        nxt = np.where(ext, _u8(data, cursor), nxt)
        cursor = np.where(ext, cursor + length, cursor)
        seg_rep = np.where(ext, seg_rep - length, seg_rep)
    _count(foreign, "tunnels", ok & np.isin(nxt, _TUNNEL_PROTOCOLS))
    _count_udp_tunnels(data, ok & (nxt == UDP), cursor, foreign)
    found = _select(
        ok & (nxt == TCP), rows, cursor, seg_rep, end, 6,
        _addresses(data, at + 8, 16), _addresses(data, at + 24, 16), _u8(data, at + 7),
        np.zeros(len(rows), dtype=np.int64), fragmented, in_error,
    )  # fmt: skip
    icmp = ok & (nxt == ICMPV6) & np.isin(_u8(data, cursor), _ICMPV6_ERRORS)
    icmp &= cursor + 8 <= end
    found.icmp_rows = rows[icmp]
    found.icmp_at = cursor[icmp] + 8
    found.icmp_rep = seg_rep[icmp] - 8
    found.icmp_family = np.full(int(icmp.sum()), IPV6, dtype=np.int64)
    return found


def _icmp_errors(data: Array, outer: _Found, cap_end: Array, validate: bool) -> _Found | None:
    """The IP and TCP headers quoted in ICMP errors: tshark tracks their conversations too."""
    if not len(outer.icmp_rows):
        return None
    rows = outer.icmp_rows
    n = int(rows.max()) + 1
    kind = np.full(n, NONE, dtype=np.int64)
    net = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    rep = np.zeros(n, dtype=np.int64)
    version = _u8(data, outer.icmp_at) >> 4
    # ICMPv6 checks the version nibble itself; ICMPv4 always calls the IPv4 dissector.
    six = outer.icmp_family == IPV6
    kind[rows] = np.where(six, np.where(version == 6, IPV6, NONE), IPV4)
    net[rows] = outer.icmp_at
    end[rows] = cap_end[rows]
    rep[rows] = outer.icmp_rep
    inner = _network(data, kind, net, end, rep, np.zeros(n, np.int64), validate, {}, True)
    return inner if len(inner.rows) else None


# ------------------------------------------------------------------------------- TCP header


def _tcp(data: Array, records: Records, parts: list[_Found], validate: bool) -> Segments:
    f = _Found(*(np.concatenate([getattr(p, n) for p in parts]) for n in _FOUND_NAMES))
    order = np.lexsort((f.in_error.astype(np.int64), f.rows))
    at = f.tcp_at[order]
    keep = order[f.tcp_end[order] - at >= 16]  # ports to window: less, and tshark stops early
    f = _Found(*(getattr(f, n)[keep] for n in _FOUND_NAMES))
    row, at = f.rows, f.tcp_at
    avail = f.tcp_end - at  # header bytes the TCP dissector may read
    n = len(row)
    hlen = (_u8(data, at + 12) >> 4) * 4
    known = ~f.fragmented & ~f.in_error & (f.tcp_rep >= hlen)
    reach = np.full(n, REACH_STREAM, dtype=np.int8)
    proper = hlen >= 20
    reach[proper] = REACH_FLAGS
    reach[proper & (avail >= 18)] = REACH_CHECKSUM
    reach[proper & (avail >= 20)] = REACH_OPTIONS
    options = _options(data, at, hlen, np.minimum(avail, hlen), reach >= REACH_OPTIONS)
    complete = (reach >= REACH_OPTIONS) & (avail >= hlen) & ~options.pop("cut").astype(bool)
    reach[complete] = REACH_ALL
    tcp_checksum = np.zeros(n, dtype=np.int64)
    if validate:
        tcp_checksum = _tcp_checksums(data, f, at, reach)
    return Segments(
        frame=records.first_frame + row,
        seconds=records.seconds[row],
        nanos=records.nanos[row],
        family=f.family.astype(np.int8),
        src=f.src,
        dst=f.dst,
        sport=_u16(data, at),
        dport=_u16(data, at + 2),
        flags=_u16(data, at + 12) & 0x0FFF,
        seq=_u32(data, at + 4),
        ack=_u32(data, at + 8),
        hlen=hlen,
        seglen=np.where(known, f.tcp_rep - hlen, -1),
        window=_u16(data, at + 14),
        ttl=f.ttl,
        ip_checksum=f.ip_checksum.astype(np.int8),
        tcp_checksum=tcp_checksum.astype(np.int8),
        in_error=f.in_error,
        reach=reach,
        **options,
    )


_FOUND_NAMES = ("rows", "tcp_at", "tcp_rep", "tcp_end", "family", "src", "dst", "ttl",
                "ip_checksum", "fragmented", "in_error")  # fmt: skip


# TCP option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 7413)
_EOL, _NOP, _MSS, _WS, _SACK_PERM, _SACK, _TS, _TFO = 0, 1, 2, 3, 4, 5, 8, 34


def _options(data: Array, at: Array, hlen: Array, limit: Array, reached: Array) -> dict[str, Array]:
    """Walk the options of every header at once, as packet-tcp.c's tcp_dissect_options does.

    limit is how many header bytes may be read; "cut" marks headers whose options ran past it
    (the dissector threw an exception there and printed nothing after).
    """
    n = len(at)
    out = {name: np.full(n, -1, dtype=np.int64) for name in ("mss", "wscale", "ws_stored", "tsval")}
    marks = {name: np.zeros(n, dtype=np.int8) for name in ("sack_perm", "sack", "tfo", "cut")}
    pos = at + 20
    stop = at + hlen
    read_end = at + limit
    active = reached & (hlen > 20)
    after_eol = np.zeros(n, dtype=bool)
    while active.any():
        inside = active & (pos < stop)
        marks["cut"][inside & (pos >= read_end)] = 1
        active = inside & (pos < read_end)
        kind = _u8(data, pos)
        active &= ~(after_eol & (kind != _EOL))  # only zero padding may follow end-of-list
        single = active & ((kind == _EOL) | (kind == _NOP))
        after_eol |= single & (kind == _EOL)
        multi = active & ~single & (pos + 1 < stop)  # an option without its length byte ends it
        marks["cut"][multi & (pos + 1 >= read_end)] = 1
        multi &= pos + 1 < read_end
        size = _u8(data, pos + 1)
        good = multi & (size >= 2) & (pos + size <= stop)
        marks["cut"][good & (pos + size > read_end)] = 1
        good &= pos + size <= read_end
        _option_values(data, pos, kind, size, good, out, marks)
        active = single | good
        pos = np.where(single, pos + 1, np.where(good, pos + size, pos))
    return {**out, **marks}


def _option_values(
    data: Array,
    pos: Array,
    kind: Array,
    size: Array,
    good: Array,
    out: dict[str, Array],
    marks: dict[str, Array],
) -> None:
    """The option fields the loader reads; the length checks are packet-tcp.c's."""
    mss = good & (kind == _MSS) & (size == 4) & (out["mss"] < 0)
    out["mss"][mss] = _u16(data, pos + 2)[mss]
    ws = good & (kind == _WS) & (size == 3)
    shift = _u8(data, pos + 2)
    first = ws & (out["wscale"] < 0)
    out["wscale"][first] = shift[first]
    out["ws_stored"][ws] = np.minimum(shift, 14)[ws]  # RFC 7323 §2.3: use 14 instead
    marks["sack_perm"][good & (kind == _SACK_PERM)] = 1
    marks["sack"][good & (kind == _SACK) & (size >= 6)] = 1  # a first left edge was read
    ts = good & (kind == _TS) & (size == 10) & (out["tsval"] < 0)
    out["tsval"][ts] = _u32(data, pos + 2)[ts]
    marks["tfo"][good & (kind == _TFO)] = 1


def _tcp_checksums(data: Array, f: _Found, at: Array, reach: Array) -> Array:
    """ChecksumStatus of each segment: pseudo-header plus every reported byte, when captured."""
    length = f.tcp_rep
    computable = ~f.fragmented & (at + length <= f.tcp_end) & (length >= 0)
    computable &= reach >= REACH_CHECKSUM
    status = np.zeros(len(at), dtype=np.int64)
    rows = np.flatnonzero(computable)
    if not len(rows):
        return status
    total = _sum16(data, at[rows], length[rows])
    total += _sum16_address(f.src[rows]) + _sum16_address(f.dst[rows]) + TCP + length[rows]
    folded = total % 0xFFFF  # one's-complement sum: 0 here means 0xFFFF, i.e. it checks out
    stored = _u16(data, at[rows] + 16)
    # RFC 1624: a segment that checks out but carries 0xFFFF is marked bad by tshark.
    good = (folded == 0) & (total != 0) & (stored != 0xFFFF)
    status[rows] = np.where(good, ChecksumStatus.GOOD, ChecksumStatus.BAD)
    return status


def _sum16(data: Array, at: Array, length: Array) -> Array:
    """Sums of the big-endian 16-bit words of byte ranges, from prefix sums of the block."""
    padded = np.concatenate([data, np.zeros(2, dtype=np.uint8)]).astype(np.int64)
    prefix = []
    for align in (0, 1):
        count = (len(padded) - align) // 2
        words = (padded[align : align + 2 * count : 2] << 8) | padded[
            align + 1 : align + 2 * count : 2
        ]
        prefix.append(np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(words)]))
    full = length // 2
    first = at // 2
    total = np.where(
        at % 2 == 0,
        prefix[0][np.minimum(first + full, len(prefix[0]) - 1)] - prefix[0][first],
        prefix[1][np.minimum(first + full, len(prefix[1]) - 1)] - prefix[1][first],
    )
    last = _u8(data, at + length - 1) << 8
    sums: Array = total + np.where(length % 2 == 1, last, 0)
    return sums


def _sum16_address(addresses: Array) -> Array:
    words = addresses.astype(np.int64)
    sums: Array = ((words[:, 0::2] << 8) | words[:, 1::2]).sum(axis=1)
    return sums


def address_text(address: bytes, family: int) -> str:
    """The address as tshark prints it (inet_ntop)."""
    import socket

    if family == 4:
        return socket.inet_ntop(socket.AF_INET, address[12:])
    return socket.inet_ntop(socket.AF_INET6, address)
