"""Header-decoding stage of the native reader: IPv4/IPv6 and TCP headers, vectorised.

`decode(records, validate_checksums)` turns one `capfile.Records` block into `Segments`: one entry
per TCP header Wireshark's dissectors would reach, with the values tshark would print and how far
its TCP dissector gets before it runs out of captured bytes (`reach`). Each step works on a whole
block: a header is gathered into a byte matrix once and its fields are column slices of it.

The rules are Wireshark 4.0's packet-ip.c, packet-ipv6.c, packet-icmp*.c and packet-tcp.c, as
docs/NATIVE-READER.md restates them. Frames in an encapsulation this reader does not follow
(tunnels, IP fragments of TCP, IPv6 routing headers) are counted in `BlockResult.foreign`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from pcapexplain import linklayer
from pcapexplain.capfile import Records
from pcapexplain.linklayer import IPV4, IPV6, NONE, Bytes, be
from pcapexplain.model import ChecksumStatus

Array = np.ndarray[Any, Any]

TCP, UDP, ICMP, ICMPV6, AH = 6, 17, 1, 58, 51
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

# How far packet-tcp.c's dissect_tcp gets (Segments.reach), by captured bytes of the header:
REACH_STREAM = 1  # ports to window read: conversation and analysis done, then a bogus length
REACH_FLAGS = 2  # header length >= 20: ack, flags and window printed; SYN/ACK bookkeeping
REACH_CHECKSUM = 3  # checksum read
REACH_OPTIONS = 4  # urgent pointer read; options dissected (perhaps cut short)
REACH_ALL = 5  # every option read: the analysis flags are printed


@dataclass(slots=True)
class Segments:
    """TCP headers found in one block, in frame order (numpy columns of equal length)."""

    frame: Array  # int64
    seconds: Array  # int64
    nanos: Array  # int32, as wiretap keeps them
    family: Array  # int8: 4 or 6
    src: Array  # (n, 16) uint8; IPv4 in the last 4 bytes
    dst: Array
    sport: Array  # int64
    dport: Array
    flags: Array  # int64, the 12 bits packet-tcp.c keeps
    seq: Array  # int64 raw
    ack: Array
    hlen: Array  # header length from the data-offset field
    seglen: Array  # payload bytes; -1 when tshark cannot tell (fragment, short, in an error)
    window: Array  # raw window field
    ttl: Array
    ip_len: Array  # IP total length as tshark prints it (IPv6: payload length + 40)
    ip_checksum: Array  # int8 ChecksumStatus
    tcp_checksum: Array
    in_error: Array  # bool: quoted in an ICMP error (the loader drops it; its stream counts)
    reach: Array  # int8 REACH_* level
    mss: Array  # int64 option values, -1 when absent or not reached
    wscale: Array  # first window-scale shift, as printed
    ws_stored: Array  # last shift, capped at 14, as the analysis stores it; -1: none
    sack_perm: Array  # int8
    sack: Array
    tsval: Array
    tfo: Array

    def __len__(self) -> int:
        return len(self.frame)


SEGMENT_FIELDS = tuple(f.name for f in fields(Segments))


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


def decode(records: Records, *, validate_checksums: bool) -> BlockResult:
    """Every TCP header tshark's dissectors reach in this block of records."""
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
    return BlockResult(_tcp(data, records, parts, validate_checksums), foreign, errors)


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
    fragmented: Array  # bool: a first fragment dissected as it is
    in_error: Array  # bool
    icmp_rows: Array  # ICMP errors whose quoted datagram is read in a second pass
    icmp_at: Array
    icmp_rep: Array
    icmp_family: Array
    icmp_src: Array  # the ICMP message's source address, 16 bytes


_FOUND = ("rows", "tcp_at", "tcp_rep", "tcp_end", "family", "src", "dst", "ttl", "ip_len",
          "ip_checksum", "fragmented", "in_error")  # fmt: skip
_ICMP = ("icmp_rows", "icmp_at", "icmp_rep", "icmp_family", "icmp_src")


def _empty(n: int = 0) -> dict[str, Array]:
    z = np.zeros(n, dtype=np.int64)
    a = np.zeros((n, 16), dtype=np.uint8)
    return {**{k: z for k in _FOUND + _ICMP}, "src": a, "dst": a, "icmp_src": a,
            "fragmented": z.astype(bool), "in_error": z.astype(bool)}  # fmt: skip


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
        if len(v4):  # packet-ip.c hands a version-6 header on to the IPv6 dissector
            six = (self.data.u8(net[v4]) >> 4) == 6
            v6, v4 = np.sort(np.concatenate([v6, v4[six]])), v4[~six]
        parts = [self._ipv4(v4, net[v4], cap_end[v4], rep[v4], in_error),
                 self._ipv6(v6, net[v6], cap_end[v6], rep[v6], in_error)]  # fmt: skip
        if not len(v4) or not len(v6):  # one family only (the usual block): in row order
            return _Found(**parts[0] if len(v4) else parts[1])
        merged = {k: np.concatenate([p[k] for p in parts]) for k in _FOUND + _ICMP}
        order = np.argsort(merged["rows"], kind="stable")
        return _Found(**{k: (merged[k][order] if k in _FOUND else merged[k]) for k in merged})

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
        self, rows: Array, at: Array, end: Array, rep: Array, in_error: bool
    ) -> dict[str, Any]:
        if not len(rows):
            return _empty()
        head = self.data.rows(at, 24)
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
        tcp = payload & (proto == TCP)
        icmp = payload & (proto == ICMP) & ~first & (tcp_at + 8 <= end)
        icmp &= _IS_ICMP_ERROR[self.data.u8(tcp_at)]
        return {
            **_select(tcp, rows, tcp_at, seg_rep, end, 4, head, 12, 16, head[:, 8], checksum),
            "ip_len": ip_len[tcp],
            "fragmented": first[tcp],
            "in_error": np.full(int(tcp.sum()), in_error),
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
        tcp = ok & (nxt == TCP)
        icmp = ok & (nxt == ICMPV6) & (cursor + 8 <= end)
        icmp &= _IS_ICMPV6_ERROR[self.data.u8(cursor)]
        zero = np.zeros(len(rows), dtype=np.int64)
        return {
            **_select(tcp, rows, cursor, seg_rep, end, 6, head, 8, 24, head[:, 7], zero),
            "ip_len": plen[tcp] + 40,
            "fragmented": np.zeros(int(tcp.sum()), dtype=bool),
            "in_error": np.full(int(tcp.sum()), in_error),
            **_icmp(icmp, rows, cursor, seg_rep, IPV6, head[icmp, 8:24]),
        }

    def _udp_tunnels(self, udp: Array, at: Array) -> None:
        if udp.any():
            ports = self.data.rows(at, 4)
            tunnel = _IS_TUNNEL_PORT[be(ports, 0, 2)]
            tunnel |= _IS_TUNNEL_PORT[be(ports, 2, 2)]
            _count(self.foreign, "tunnels", udp & tunnel)


def _select(
    mask: Array,
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
    size = 4 if family == IPV4 else 16
    src = np.zeros((int(mask.sum()), 16), dtype=np.uint8)
    dst = src.copy()
    src[:, 16 - size :] = head[mask, src_at : src_at + size]
    dst[:, 16 - size :] = head[mask, dst_at : dst_at + size]
    return {
        "rows": rows[mask],
        "tcp_at": tcp_at[mask],
        "tcp_rep": seg_rep[mask],
        "tcp_end": np.minimum(end[mask], tcp_at[mask] + np.maximum(seg_rep[mask], 0)),
        "family": np.full(len(src), family, dtype=np.int64),
        "src": src,
        "dst": dst,
        "ttl": ttl[mask].astype(np.int64),
        "ip_checksum": checksum[mask],
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


# ------------------------------------------------------------------------------- TCP header


def _tcp(data: Bytes, records: Records, parts: list[_Found], validate: bool) -> Segments:
    if len(parts) == 1:  # no ICMP error: the rows are in order already
        f = {k: getattr(parts[0], k) for k in _FOUND}
    else:
        merged = {k: np.concatenate([getattr(p, k) for p in parts]) for k in _FOUND}
        order = np.lexsort((merged["in_error"].astype(np.int64), merged["rows"]))
        f = {k: v[order] for k, v in merged.items()}
    readable = f["tcp_end"] - f["tcp_at"] >= 16  # else no stream
    if not readable.all():
        f = {k: v[readable] for k, v in f.items()}
    row, at = f["rows"], f["tcp_at"]
    avail = f["tcp_end"] - at  # header bytes the TCP dissector may read
    head = data.rows(at, 60)
    hlen = (head[:, 12] >> 4).astype(np.int64) * 4
    known = ~f["fragmented"] & ~f["in_error"] & (f["tcp_rep"] >= hlen)
    reach = np.full(len(row), REACH_STREAM, dtype=np.int8)
    proper = hlen >= 20
    reach[proper] = REACH_FLAGS
    reach[proper & (avail >= 18)] = REACH_CHECKSUM
    reach[proper & (avail >= 20)] = REACH_OPTIONS
    options = _options(head, hlen, np.minimum(avail, hlen), reach >= REACH_OPTIONS)
    cut = options.pop("cut").astype(bool)
    reach[(reach >= REACH_OPTIONS) & (avail >= hlen) & ~cut] = REACH_ALL
    tcp_checksum = np.zeros(len(row), dtype=np.int64)
    if validate:
        tcp_checksum = _tcp_checksums(data, f, head, reach)
    # Compact types: a million headers wait in memory until the whole file is read.
    return Segments(
        frame=records.first_frame + row,
        seconds=records.seconds[row],
        nanos=records.nanos[row].astype(np.int32),
        family=f["family"].astype(np.int8),
        src=f["src"],
        dst=f["dst"],
        sport=be(head, 0, 2).astype(np.int32),
        dport=be(head, 2, 2).astype(np.int32),
        flags=(be(head, 12, 2) & 0x0FFF).astype(np.int16),
        seq=be(head, 4, 4).astype(np.uint32),
        ack=be(head, 8, 4).astype(np.uint32),
        hlen=hlen.astype(np.int8),
        seglen=np.where(known, f["tcp_rep"] - hlen, -1).astype(np.int32),
        window=be(head, 14, 2).astype(np.int32),
        ttl=f["ttl"].astype(np.int16),
        ip_len=f["ip_len"].astype(np.int32),
        ip_checksum=f["ip_checksum"].astype(np.int8),
        tcp_checksum=tcp_checksum.astype(np.int8),
        in_error=f["in_error"],
        reach=reach,
        mss=options["mss"].astype(np.int32),
        wscale=options["wscale"].astype(np.int16),
        ws_stored=options["ws_stored"].astype(np.int8),
        sack_perm=options["sack_perm"],
        sack=options["sack"],
        tsval=options["tsval"],
        tfo=options["tfo"],
    )


# TCP option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 7413)
_EOL, _NOP, _MSS, _WS, _SACK_PERM, _SACK, _TS, _TFO = 0, 1, 2, 3, 4, 5, 8, 34


def _options(head: Array, hlen: Array, limit: Array, reached: Array) -> dict[str, Array]:
    """Walk every header's options at once, as packet-tcp.c's tcp_dissect_options does.

    limit is how many header bytes may be read; "cut" marks headers whose options ran past it
    (the dissector threw an exception there and printed nothing after).
    """
    n = len(head)
    out = {name: np.full(n, -1, dtype=np.int64) for name in ("mss", "wscale", "ws_stored", "tsval")}
    marks = {name: np.zeros(n, dtype=np.int8) for name in ("sack_perm", "sack", "tfo", "cut")}
    # The layout of most segments of a timestamped connection: NOP, NOP, timestamps.
    usual = reached & (hlen == 32) & (limit == 32)
    usual &= be(head, 20, 4) == 0x0101080A
    out["tsval"][usual] = be(head[usual], 24, 4)
    rows = np.flatnonzero(reached & (hlen > 20) & ~usual)
    pos = np.full(len(rows), 20, dtype=np.int64)
    stop, end = hlen[rows], limit[rows]
    after_eol = np.zeros(len(rows), dtype=bool)
    opts = head[rows]
    while len(rows):
        inside = pos < stop
        marks["cut"][rows[inside & (pos >= end)]] = 1
        active = inside & (pos < end)
        kind = opts[np.arange(len(rows)), np.minimum(pos, 59)].astype(np.int64)
        active &= ~(after_eol & (kind != _EOL))  # only zero padding may follow end-of-list
        single = active & ((kind == _EOL) | (kind == _NOP))
        after_eol |= single & (kind == _EOL)
        multi = active & ~single & (pos + 1 < stop)  # an option without its length byte ends it
        marks["cut"][rows[multi & (pos + 1 >= end)]] = 1
        multi &= pos + 1 < end
        size = opts[np.arange(len(rows)), np.minimum(pos + 1, 59)].astype(np.int64)
        good = multi & (size >= 2) & (pos + size <= stop)
        marks["cut"][rows[good & (pos + size > end)]] = 1
        good &= pos + size <= end
        _option_values(opts, rows, pos, kind, size, good, out, marks)
        pos = np.where(single, pos + 1, pos + size)
        going = single | good
        rows, pos, stop, end = rows[going], pos[going], stop[going], end[going]
        after_eol, opts = after_eol[going], opts[going]
    return {**out, **marks}


def _option_values(
    opts: Array,
    rows: Array,
    pos: Array,
    kind: Array,
    size: Array,
    good: Array,
    out: dict[str, Array],
    marks: dict[str, Array],
) -> None:
    """The option fields the loader reads; the length checks are packet-tcp.c's."""
    if not good.any():
        return
    take = np.arange(len(rows))

    def value(width: int) -> Array:
        cells = [opts[take, np.minimum(pos + 2 + i, 59)].astype(np.int64) for i in range(width)]
        result: Array = cells[0]
        for cell in cells[1:]:
            result = (result << 8) | cell
        return result

    # Each walk step holds few kinds of option (most often one): only theirs are looked at.
    present = set(np.unique(kind[good]).tolist())
    if _MSS in present:
        mss = good & (kind == _MSS) & (size == 4) & (out["mss"][rows] < 0)
        out["mss"][rows[mss]] = value(2)[mss]
    if _WS in present:
        ws = good & (kind == _WS) & (size == 3)
        shift = value(1)
        fresh = ws & (out["wscale"][rows] < 0)
        out["wscale"][rows[fresh]] = shift[fresh]
        out["ws_stored"][rows[ws]] = np.minimum(shift, 14)[ws]  # RFC 7323 §2.3: use 14 instead
    if _SACK_PERM in present:
        marks["sack_perm"][rows[good & (kind == _SACK_PERM)]] = 1
    if _SACK in present:
        marks["sack"][rows[good & (kind == _SACK) & (size >= 6)]] = 1  # a left edge was read
    if _TS in present:
        ts = good & (kind == _TS) & (size == 10)
        ts &= out["tsval"][rows] < 0
        out["tsval"][rows[ts]] = value(4)[ts]
    if _TFO in present:
        marks["tfo"][rows[good & (kind == _TFO)]] = 1


def _tcp_checksums(data: Bytes, f: dict[str, Array], head: Array, reach: Array) -> Array:
    """ChecksumStatus per segment: pseudo-header plus every reported byte, when all captured."""
    at, length = f["tcp_at"], f["tcp_rep"]
    computable = ~f["fragmented"] & (at + length <= f["tcp_end"]) & (length >= 0)
    computable &= reach >= REACH_CHECKSUM
    status = np.zeros(len(at), dtype=np.int64)
    rows = np.flatnonzero(computable)
    if not len(rows):
        return status
    total = _sum16(data, at[rows], length[rows])
    total += _sum16_address(f["src"][rows]) + _sum16_address(f["dst"][rows]) + TCP + length[rows]
    stored = be(head[rows], 16, 2)
    # A one's-complement sum that checks out is 0 modulo 0xFFFF (and not all zero). RFC 1624:
    # tshark marks a segment that checks out but carries 0xFFFF bad.
    good = (total % 0xFFFF == 0) & (total != 0) & (stored != 0xFFFF)
    status[rows] = np.where(good, ChecksumStatus.GOOD, ChecksumStatus.BAD)
    return status


def _sum16(data: Bytes, at: Array, length: Array) -> Array:
    """Sums of the big-endian 16-bit words of byte ranges, from prefix sums over their span."""
    base = int(at.min()) & ~1  # an even start keeps every range's alignment
    raw = data.data[base : int((at + length).max()) + 2].astype(np.int64)
    at = at - base
    prefix = []
    for align in (0, 1):
        count = (len(raw) - align) // 2
        words = (raw[align : align + 2 * count : 2] << 8) | raw[align + 1 : align + 2 * count : 2]
        prefix.append(np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(words)]))
    full, first = length // 2, at // 2
    even = prefix[0][np.minimum(first + full, len(prefix[0]) - 1)] - prefix[0][first]
    odd = (
        prefix[1][np.minimum(first + full, len(prefix[1]) - 1)]
        - prefix[1][np.minimum(first, len(prefix[1]) - 1)]
    )
    last = raw[np.clip(at + length - 1, 0, len(raw) - 1)] << 8
    sums: Array = np.where(at % 2 == 0, even, odd) + np.where(length % 2 == 1, last, 0)
    return sums


def _sum16_address(addresses: Array) -> Array:
    words = addresses.astype(np.int64)
    sums: Array = ((words[:, 0::2] << 8) | words[:, 1::2]).sum(axis=1)
    return sums
