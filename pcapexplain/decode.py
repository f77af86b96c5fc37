"""Header-decoding stage of the native reader: IPv4/IPv6 headers and ICMP errors, vectorised.

`decode(records, validate_checksums)` turns one `capfile.Records` block into `Segments`: one entry
per TCP header Wireshark's dissectors would reach (located here, read by `tcpheader`), with the
values tshark would print and how far its TCP dissector gets before it runs out of captured bytes
(`reach`). Each step works on a whole block: a header is gathered into a byte matrix once and its
fields are column slices of it.

The rules are Wireshark 4.0's packet-ip.c, packet-ipv6.c and packet-icmp*.c, as
docs/NATIVE-READER.md restates them. Frames in an encapsulation this reader does not follow
(tunnels, IP fragments of TCP, IPv6 routing headers) are counted in `BlockResult.foreign`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pcapexplain import linklayer, tcpheader
from pcapexplain.capfile import Records
from pcapexplain.linklayer import IPV4, IPV6, NONE, Bytes, be
from pcapexplain.model import ChecksumStatus
from pcapexplain.tcpheader import TCP, Segments

Array = np.ndarray[Any, Any]

UDP, ICMP, ICMPV6, AH = 17, 1, 58, 51  # IP protocol numbers (TCP's: tcpheader.TCP)
_IPV6_EXTENSIONS = (0, 60, AH)  # hop-by-hop, destination options, AH: followed in place
_IPV6_ROUTING, _IPV6_FRAGMENT = 43, 44
_TUNNEL_PROTOCOLS = (4, 41, 47, 97, 115, 137, 135, 140)  # IP-in-IP, IPv6-in-IP, GRE, ...
# UDP ports where tshark decodes a tunnelled packet (VXLAN, Geneve, GTP-U, Teredo, L2TP, sFlow).
_TUNNEL_UDP_PORTS = (4789, 6081, 4790, 2152, 3544, 1701, 6343, 8472, 4754, 6633, 6653, 5555)
_ICMP_ERRORS = (3, 4, 5, 11, 12)  # ICMP types that quote the datagram they are about
_ICMPV6_ERRORS = (1, 2, 3, 4)
# The same sets as lookup tables over every protocol number, ICMP type or port.
_IS_TUNNEL_PROTOCOL = linklayer.lookup(_TUNNEL_PROTOCOLS, 1 << 8)
_IS_TUNNEL_PORT = linklayer.lookup(_TUNNEL_UDP_PORTS, 1 << 16)
_IS_ICMP_ERROR = linklayer.lookup(_ICMP_ERRORS, 1 << 8)
_IS_ICMPV6_ERROR = linklayer.lookup(_ICMPV6_ERRORS, 1 << 8)
_IS_IPV6_EXTENSION = linklayer.lookup(_IPV6_EXTENSIONS, 1 << 8)


@dataclass(frozen=True, slots=True)
class ErrorHeader:
    """The ICMP header and sender of an ICMP error whose quoted TCP header is in the segments."""

    family: int  # IPV4 or IPV6: of the ICMP message, hence ICMP or ICMPv6
    type: int
    code: int
    reporter: bytes  # 16 bytes, an IPv4 address in the last 4


@dataclass(slots=True)
class BlockResult:
    segments: Segments
    foreign: dict[str, int] = field(default_factory=dict)  # what was not followed → frames
    errors: dict[int, ErrorHeader] = field(default_factory=dict)  # frame → its ICMP error


def decode(
    records: Records, *, validate_checksums: bool, keep: tcpheader.Keep | None = None
) -> BlockResult:
    """Every TCP header tshark's dissectors reach in this block of records (those keep chooses,
    when given: it sees every header the others are chosen from)."""
    data = Bytes(records.data)
    found = linklayer.link(data, records)
    foreign: dict[str, int] = {}
    _count(foreign, "link layer", found.kind == linklayer.FOREIGN)
    cap_end = records.start + records.caplen
    rep_end = records.start + np.maximum(records.wirelen, records.caplen)
    net = _Network(data, validate_checksums, foreign)
    parts = [net.locate(found.kind, found.net, cap_end, rep_end - found.net, found.vlan, False)]
    errors: dict[int, ErrorHeader] = {}
    if len(parts[0].icmp_rows):
        parts.append(net.quoted(parts[0], cap_end))
        errors = _error_headers(data, records.first_frame, parts[0])
    return BlockResult(_tcp(data, records, parts, validate_checksums, keep), foreign, errors)


def _error_headers(data: Bytes, first_frame: int, outer: _Found) -> dict[int, ErrorHeader]:
    """The ICMP header in front of each quoted datagram (icmp_at points past its 8 bytes)."""
    kinds = data.u8(outer.icmp_at - 8).tolist()
    codes = data.u8(outer.icmp_at - 7).tolist()
    return {
        first_frame + int(row): ErrorHeader(int(family), kind, code, bytes(src))
        for row, family, kind, code, src in zip(
            outer.icmp_rows, outer.icmp_family, kinds, codes, outer.icmp_src, strict=True
        )
    }


def _count(foreign: dict[str, int], what: str, mask: Array) -> None:
    count = int(np.count_nonzero(mask))
    if count:
        foreign[what] = foreign.get(what, 0) + count


def address_text(address: bytes, family: int) -> str:
    """An address as tshark prints it (the C library's inet_ntop, which it calls)."""
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, address[12:])
    return socket.inet_ntop(socket.AF_INET6, address)


# --------------------------------------------------------------------------- network layer


@dataclass(slots=True)
class _Found:
    """TCP headers located by the network layer (rows index the block's records)."""

    rows: Array
    tcp_at: Array  # offset of the TCP header
    tcp_rep: Array  # reported length of the TCP segment (header included)
    tcp_end: Array  # end of the bytes the TCP dissector may read
    family: Array
    src: Array
    dst: Array
    ttl: Array
    ip_len: Array
    ip_checksum: Array
    ip_id: Array  # IPv4 identification; -1 for IPv6
    fragmented: Array  # bool: a first fragment dissected as it is
    in_error: Array  # bool
    icmp_rows: Array  # ICMP errors whose quoted datagram is read in a second pass
    icmp_at: Array
    icmp_rep: Array
    icmp_family: Array
    icmp_src: Array  # the ICMP message's source address, 16 bytes


_FOUND = ("rows", "tcp_at", "tcp_rep", "tcp_end", "family", "src", "dst", "ttl", "ip_len",
          "ip_checksum", "ip_id", "fragmented", "in_error")  # fmt: skip
_ICMP = ("icmp_rows", "icmp_at", "icmp_rep", "icmp_family", "icmp_src")


def _empty(n: int = 0) -> dict[str, Array]:
    z = np.zeros(n, dtype=np.int64)
    a = np.zeros((n, 16), dtype=np.uint8)
    return {**{k: z for k in _FOUND + _ICMP}, "src": a, "dst": a, "icmp_src": a,
            "fragmented": z.astype(bool), "in_error": z.astype(bool)}  # fmt: skip


def _merged(four: dict[str, Array], six: dict[str, Array], records: int) -> dict[str, Array]:
    """The headers of both families in row order (each family's are): every value is put in
    its place, after the other family's rows before it (a record is of one family; rows index
    the block's records)."""
    before: list[Array] = []
    for rows in (six["rows"], four["rows"]):
        count = np.zeros(records + 1, dtype=np.int64)
        count[rows + 1] = 1
        before.append(np.cumsum(count))  # at r: the rows below r (searchsorted is slower)
    at_four = np.arange(len(four["rows"])) + before[0][four["rows"]]
    at_six = np.arange(len(six["rows"])) + before[1][six["rows"]]
    merged = {k: np.concatenate([four[k], six[k]]) for k in _ICMP}
    for k in _FOUND:
        a, b = four[k], six[k]
        column = np.empty((len(a) + len(b), *a.shape[1:]), dtype=np.result_type(a, b))
        whole, first, second = _items(column), _items(a), _items(b)
        whole[at_four], whole[at_six] = first, second
        merged[k] = column
    return merged


def _items(column: Array) -> Array:
    """A column as a 1-D array: the rows of a matrix (of addresses) as one item each, since
    numpy assigns a 2-D array's rows element by element, several times slower."""
    if column.ndim == 1:
        return column
    row = np.dtype((np.void, column.shape[1] * column.itemsize))
    items: Array = np.ascontiguousarray(column).view(row).ravel()
    return items


class _Network:
    """IPv4 and IPv6 headers of one block → the TCP headers they carry."""

    def __init__(self, data: Bytes, validate: bool, foreign: dict[str, int]) -> None:
        self.data = data
        self.validate = validate
        self.foreign = foreign

    def locate(
        self, kind: Array, net: Array, cap_end: Array, rep: Array, vlan: Array, in_error: bool
    ) -> _Found:
        v4 = np.flatnonzero(kind == IPV4)
        v6 = np.flatnonzero(kind == IPV6)
        head = self.data.rows(net[v4], 24)  # the IPv4 headers, read once
        six = (head[:, 0] >> 4) == 6
        if six.any():  # packet-ip.c hands a version-6 header on to the IPv6 dissector
            v6, v4, head = np.sort(np.concatenate([v6, v4[six]])), v4[~six], head[~six]
        parts = [self._ipv4(v4, net[v4], cap_end[v4], rep[v4], in_error, head),
                 self._ipv6(v6, net[v6], cap_end[v6], rep[v6], in_error)]  # fmt: skip
        if not len(v4) or not len(v6):  # one family only (the usual block): in row order
            return _Found(**parts[0] if len(v4) else parts[1])
        return _Found(**_merged(parts[0], parts[1], len(kind)))

    def quoted(self, outer: _Found, cap_end: Array) -> _Found:
        """The IP and TCP headers quoted in ICMP errors: tshark tracks their conversations too."""
        rows = outer.icmp_rows
        n = int(rows.max()) + 1
        kind = np.full(n, NONE, dtype=np.int64)
        net, end, rep = (np.zeros(n, dtype=np.int64) for _ in range(3))
        version = self.data.u8(outer.icmp_at) >> 4
        # ICMPv6 checks the version nibble itself; ICMP always calls the IPv4 dissector.
        kind[rows] = np.where(outer.icmp_family == IPV6, np.where(version == 6, IPV6, NONE), IPV4)
        net[rows], end[rows], rep[rows] = outer.icmp_at, cap_end[rows], outer.icmp_rep
        inner = _Network(self.data, self.validate, {})
        found = inner.locate(kind, net, end, rep, np.zeros(n, dtype=np.int64), True)
        found.icmp_rows = found.icmp_rows[:0]
        return found

    def _ipv4(
        self, rows: Array, at: Array, end: Array, rep: Array, in_error: bool, head: Array
    ) -> dict[str, Any]:
        """head: the 24 bytes at each of at."""
        if not len(rows):
            return _empty()
        hlen = (head[:, 0] & 0x0F).astype(np.int64) * 4
        ip_len = be(head, 2, 2)
        # Everything up to the end of the options must be captured, or the dissector stops.
        ok = (hlen >= 20) & (at + hlen <= end) & (rep >= hlen)
        ip_len = np.where(ip_len == 0, rep, ip_len)  # TSO: a zero length means "the frame's"
        ok &= ip_len >= hlen
        seg_rep = np.minimum(ip_len, rep) - hlen
        frag = be(head, 6, 2)
        more, offset = (frag & 0x2000) != 0, frag & 0x1FFF
        proto = head[:, 9].astype(np.int64)
        checksum = np.zeros(len(rows), dtype=np.int64)
        if self.validate:
            good = _ip_checksum_ok(self.data, at, hlen)
            checksum = np.where(good, ChecksumStatus.GOOD, ChecksumStatus.BAD)
        options = np.flatnonzero(ok & (hlen > 20))
        if len(options):  # a source route moves the destination tshark's conversation uses
            routed = [
                _source_routed(self.data, int(at[i]) + 20, int(hlen[i]) - 20) for i in options
            ]
            moved = options[np.asarray(routed, dtype=bool)]
            _count(self.foreign, "IPv4 source route", np.ones(len(moved)))
            ok[moved] = False
        fragment = ok & (more | (offset != 0))
        # A fragment wiretap would hold for reassembly (all its bytes here, checksum not bad).
        held = fragment & (ip_len > hlen) & (at + ip_len <= end) & (checksum != ChecksumStatus.BAD)
        _count(self.foreign, "IPv4 fragments", held & (proto == TCP) & (not in_error))
        first = fragment & ~held & (offset == 0)  # dissected as it is, its length unknown
        payload = ok & (~fragment | first)
        tcp_at = at + hlen
        _count(self.foreign, "tunnels", payload & _IS_TUNNEL_PROTOCOL[proto])
        self._udp_tunnels(payload & (proto == UDP) & ~first, tcp_at)
        ah = payload & (proto == AH)
        if ah.any():  # an authentication header in front of the transport header
            proto = np.where(ah, self.data.u8(tcp_at), proto)
            ah_len = (self.data.u8(tcp_at + 1) + 2) * 4
            tcp_at = np.where(ah, tcp_at + ah_len, tcp_at)
            seg_rep = np.where(ah, seg_rep - ah_len, seg_rep)
        tcp = np.flatnonzero(payload & (proto == TCP))  # rows, not a mask: cheaper to gather
        icmp = payload & (proto == ICMP) & ~first & (tcp_at + 8 <= end)
        if icmp.any():  # its type read only when there is one (each read is a cache miss)
            icmp &= _IS_ICMP_ERROR[self.data.u8(tcp_at)]
        return {
            **_select(tcp, rows, tcp_at, seg_rep, end, 4, head, 12, 16, head[:, 8], checksum),
            "ip_len": ip_len[tcp],
            "ip_id": be(head, 4, 2)[tcp],
            "fragmented": first[tcp],
            "in_error": np.full(len(tcp), in_error),
            **_icmp(icmp, rows, tcp_at, seg_rep, IPV4, head[icmp, 12:16]),
        }

    def _ipv6(
        self, rows: Array, at: Array, end: Array, rep: Array, in_error: bool
    ) -> dict[str, Any]:
        if not len(rows):
            return _empty()
        head = self.data.rows(at, 40)
        plen = be(head, 4, 2)
        nxt = head[:, 6].astype(np.int64)
        ok = at + 40 <= end
        tso = (plen == 0) & (nxt != 0) & (nxt != 59)  # TSO again; 59 is "no next header"
        plen = np.where(tso, rep - 40, plen)
        jumbo = ok & (plen == 0) & (nxt == 0)
        _count(self.foreign, "IPv6 jumbograms", jumbo)
        ok &= ~jumbo
        seg_rep = np.minimum(plen, rep - 40)
        cursor = at + 40
        for _ in range(16):  # a longer chain of extension headers is left alone
            ext = ok & _IS_IPV6_EXTENSION[nxt]
            routing = ok & (nxt == _IPV6_ROUTING)
            if routing.any():  # with segments left, tshark's conversation uses the last hop
                moves = routing & (self.data.u8(cursor + 3) > 0)
                _count(self.foreign, "IPv6 routing header", moves)
                ok &= ~moves
                ext |= routing & ~moves
            frag = ok & (nxt == _IPV6_FRAGMENT)  # shown as data until reassembled
            if frag.any():
                _count(self.foreign, "IPv6 fragments", frag & (self.data.u8(cursor) == TCP))
                ok &= ~frag
            if not ext.any():
                break
            size = self.data.u8(cursor + 1)
            length = np.where(nxt == AH, (size + 2) * 4, (size + 1) * 8)
            ok &= ~ext | (cursor + 2 <= end)
            nxt = np.where(ext, self.data.u8(cursor), nxt)
            cursor = np.where(ext, cursor + length, cursor)
            seg_rep = np.where(ext, seg_rep - length, seg_rep)
        _count(self.foreign, "tunnels", ok & _IS_TUNNEL_PROTOCOL[nxt])
        self._udp_tunnels(ok & (nxt == UDP), cursor)
        tcp = np.flatnonzero(ok & (nxt == TCP))
        icmp = ok & (nxt == ICMPV6) & (cursor + 8 <= end)
        if icmp.any():
            icmp &= _IS_ICMPV6_ERROR[self.data.u8(cursor)]
        zero = np.zeros(len(rows), dtype=np.int64)
        return {
            **_select(tcp, rows, cursor, seg_rep, end, 6, head, 8, 24, head[:, 7], zero),
            "ip_len": plen[tcp] + 40,
            "ip_id": np.full(len(tcp), -1, dtype=np.int64),
            "fragmented": np.zeros(len(tcp), dtype=bool),
            "in_error": np.full(len(tcp), in_error),
            **_icmp(icmp, rows, cursor, seg_rep, IPV6, head[icmp, 8:24]),
        }

    def _udp_tunnels(self, udp: Array, at: Array) -> None:
        if udp.any():
            ports = self.data.rows(at, 4)
            tunnel = _IS_TUNNEL_PORT[be(ports, 0, 2)]
            tunnel |= _IS_TUNNEL_PORT[be(ports, 2, 2)]
            _count(self.foreign, "tunnels", udp & tunnel)


def _select(
    taken: Array,
    rows: Array,
    tcp_at: Array,
    seg_rep: Array,
    end: Array,
    family: int,
    head: Array,
    src_at: int,
    dst_at: int,
    ttl: Array,
    checksum: Array,
) -> dict[str, Array]:
    """The columns of the TCP headers at rows taken (indexes of rows)."""
    size = 4 if family == IPV4 else 16
    src = np.zeros((len(taken), 16), dtype=np.uint8)
    dst = src.copy()
    taken_head = np.take(head, taken, axis=0)  # (a fancy index with a slice goes byte by byte)
    src[:, 16 - size :] = taken_head[:, src_at : src_at + size]
    dst[:, 16 - size :] = taken_head[:, dst_at : dst_at + size]
    at, rep = tcp_at[taken], seg_rep[taken]
    return {
        "rows": rows[taken],
        "tcp_at": at,
        "tcp_rep": rep,
        "tcp_end": np.minimum(end[taken], at + np.maximum(rep, 0)),
        "family": np.full(len(src), family, dtype=np.int64),
        "src": src,
        "dst": dst,
        "ttl": ttl[taken].astype(np.int64),
        "ip_checksum": checksum[taken],
    }


def _icmp(
    mask: Array, rows: Array, at: Array, rep: Array, family: int, src: Array
) -> dict[str, Array]:
    """ICMP errors to read the quoted datagram of; src: their senders' address bytes."""
    wide = np.zeros((len(src), 16), dtype=np.uint8)
    wide[:, 16 - src.shape[1] :] = src
    return {
        "icmp_rows": rows[mask],
        "icmp_at": at[mask] + 8,
        "icmp_rep": rep[mask] - 8,
        "icmp_family": np.full(int(mask.sum()), family, dtype=np.int64),
        "icmp_src": wide,
    }


def _source_routed(data: Bytes, offset: int, length: int) -> bool:
    """packet-ip.c get_dst_offset: a strict or loose source route moves the destination."""
    raw = data.data
    while length > 0:
        opt = int(raw[offset])
        length -= 1
        if opt in (0, 1):
            if opt == 0:
                return False
            offset += 1
            continue
        if length == 0:
            return False
        size = int(raw[offset + 1])
        length -= 1
        if size < 2 or size - 2 > length:
            return False
        if opt in (0x83, 0x89):
            pointer = int(raw[offset + 2])
            return not (pointer < 4 or pointer & 3 or pointer > size)
        offset += size
        length -= size - 2
    return False


def _ip_checksum_ok(data: Bytes, at: Array, hlen: Array) -> Array:
    head = data.rows(at, 60).astype(np.int64)
    words = (head[:, 0::2] << 8) | head[:, 1::2]
    words[np.arange(30)[None, :] * 2 >= hlen[:, None]] = 0
    ok: Array = (words.sum(axis=1) % 0xFFFF) == 0
    return ok


def _tcp(
    data: Bytes, records: Records, parts: list[_Found], validate: bool, keep: tcpheader.Keep | None
) -> Segments:
    """The TCP headers of every part (the frames' own, those ICMP errors quote), in frame order."""
    if len(parts) == 1:  # no ICMP error: the rows are in order already
        f = {k: getattr(parts[0], k) for k in _FOUND}
    else:
        merged = {k: np.concatenate([getattr(p, k) for p in parts]) for k in _FOUND}
        order = np.lexsort((merged["in_error"].astype(np.int64), merged["rows"]))
        f = {k: v[order] for k, v in merged.items()}
    return tcpheader.segments(data, records, f, validate, keep)
