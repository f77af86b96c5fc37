"""TCP-header stage of the native reader: the headers decode's network layer located, vectorised.

`segments(data, records, f, validate)` reads every TCP header at once into `Segments`: the
fields tshark prints, the options packet-tcp.c's tcp_dissect_options reads, the checksum when it
is validated, and how far packet-tcp.c's dissector gets before it runs out of captured bytes
(`reach`). The rules are Wireshark 4.0's packet-tcp.c, as docs/NATIVE-READER.md restates them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pcapexplain import arrays
from pcapexplain.capfile import Records
from pcapexplain.linklayer import Bytes, be
from pcapexplain.model import ChecksumStatus

Array = np.ndarray[Any, Any]

TCP = 6  # IP protocol number: what the network layer selects, and the checksum's pseudo-header

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
    ip_id: Array  # int32; -1 for IPv6
    tcp_sum: Array  # int32, the checksum field; -1 when not captured
    in_error: Array  # bool: quoted in an ICMP error (the loader drops it; its stream counts)
    reach: Array  # int8 REACH_* level
    header_cut: Array  # bool: captured bytes end inside the header the segment's length covers
    mss: Array  # int64 option values, -1 when absent or not reached
    wscale: Array  # first window-scale shift, as printed
    ws_stored: Array  # last shift, capped at 14, as the analysis stores it; -1: none
    sack_perm: Array  # int8
    sack: Array
    tsval: Array
    tfo: Array

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True, slots=True)
class Located:
    """The TCP headers of a block as the network layer located them, before they are decoded:
    enough to choose which to decode (a Keep)."""

    frame: Array
    seconds: Array
    nanos: Array
    in_error: Array  # bool: quoted in an ICMP error
    family: Array
    src: Array  # (n, 16) uint8
    dst: Array
    sport: Array
    dport: Array
    header_cut: Array  # Segments.header_cut


# Which located headers to decode: a mask, or None for all of them.
Keep = Callable[[Located], Array | None]


def segments(
    data: Bytes, records: Records, f: dict[str, Array], validate: bool, keep: Keep | None = None
) -> Segments:
    """The TCP headers decode's network layer found (f: its columns, one row per header, in frame
    order), with their options and how far the dissector reaches; validate: check checksums;
    keep: which of them to decode (every one without)."""
    readable = f["tcp_end"] - f["tcp_at"] >= 16  # else no stream
    if not readable.all():
        f = {k: v[readable] for k, v in f.items()}
    if keep is not None:
        f = _kept(data, records, f, keep)
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
        ip_id=f["ip_id"].astype(np.int32),
        tcp_sum=np.where(reach >= REACH_CHECKSUM, be(head, 16, 2), -1).astype(np.int32),
        in_error=f["in_error"],
        reach=reach,
        header_cut=_options_cut(hlen, avail, f["tcp_rep"]),
        mss=options["mss"].astype(np.int32),
        wscale=options["wscale"].astype(np.int16),
        ws_stored=options["ws_stored"].astype(np.int8),
        sack_perm=options["sack_perm"],
        sack=options["sack"],
        tsval=options["tsval"],
        tfo=options["tfo"],
    )


def _options_cut(hlen: Array, avail: Array, reported: Array) -> Array:
    """Headers with options whose captured bytes end inside them while the IP header reports
    them whole: a snapshot length (tshark's BoundsError, "TCP truncated"), not a malformed
    header (a ReportedBoundsError)."""
    cut: Array = (hlen > 20) & (avail < hlen) & (reported >= hlen)
    return cut


def _kept(data: Bytes, records: Records, f: dict[str, Array], keep: Keep) -> dict[str, Array]:
    rows = f["rows"]
    head = data.rows(f["tcp_at"], 16)  # one gather for the ports and the header length
    located = Located(
        frame=records.first_frame + rows,
        seconds=records.seconds[rows],
        nanos=records.nanos[rows],
        in_error=f["in_error"],
        family=f["family"],
        src=f["src"],
        dst=f["dst"],
        sport=be(head, 0, 2),
        dport=be(head, 2, 2),
        header_cut=_options_cut(
            (head[:, 12] >> 4).astype(np.int64) * 4, f["tcp_end"] - f["tcp_at"], f["tcp_rep"]
        ),
    )
    mask = keep(located)
    if mask is None:
        return f
    # Rows, not the mask, for each column: a mask of scattered rows is many times slower.
    rows = np.flatnonzero(mask)
    return {k: np.take(v, rows, axis=0) for k, v in f.items()}


# TCP option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 7413)
_EOL, _NOP, _MSS, _WS, _SACK_PERM, _SACK, _TS, _TFO = 0, 1, 2, 3, 4, 5, 8, 34


# Option layouts common enough to be read without the walk, as (kind, size) per option: what the
# walk does with a header of exactly one of them is known in advance (_laid_out).
_LAYOUTS = (
    ((_MSS, 4), (_SACK_PERM, 2), (_TS, 10), (_NOP, 1), (_WS, 3)),  # Linux's SYN and SYN-ACK
    ((_NOP, 1), (_NOP, 1), (_TS, 10), (_NOP, 1), (_NOP, 1), (_SACK, 10)),  # a SACK, timestamped
    ((_MSS, 4), (_NOP, 1), (_WS, 3), (_NOP, 1), (_NOP, 1), (_SACK_PERM, 2)),  # Windows' SYN
    ((_NOP, 1), (_NOP, 1), (_SACK, 10)),  # a SACK
)


def _placed(layout: tuple[tuple[int, int], ...]) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """(header length, (kind, size, offset) per option) of a layout."""
    offsets = np.cumsum([20] + [size for _, size in layout]).tolist()
    placed = tuple((kind, size, pos) for (kind, size), pos in zip(layout, offsets, strict=False))
    return offsets[-1], placed


_PLACED = tuple(_placed(layout) for layout in _LAYOUTS)


def _options(
    head: Array, hlen: Array, limit: Array, reached: Array, *, layouts: bool = True
) -> dict[str, Array]:
    """Walk every header's options at once, as packet-tcp.c's tcp_dissect_options does.

    limit is how many header bytes may be read; "cut" marks headers whose options ran past it
    (the dissector threw an exception there and printed nothing after). Without layouts every
    header is walked (the tests compare both).
    """
    n = len(head)
    out = {name: np.full(n, -1, dtype=np.int64) for name in ("mss", "wscale", "ws_stored", "tsval")}
    marks = {name: np.zeros(n, dtype=np.int8) for name in ("sack_perm", "sack", "tfo", "cut")}
    # The layout of most segments of a timestamped connection: NOP, NOP, timestamps.
    usual = reached & (hlen == 32) & (limit == 32)
    if layouts:
        usual &= be(head, 20, 4) == 0x0101080A
    else:
        usual[:] = False
    out["tsval"][usual] = be(head, 24, 4)[usual]  # (a masked matrix is copied byte by byte)
    rows = np.flatnonzero(reached & (hlen > 20) & ~usual)
    if layouts and len(rows):
        rows = _laid_out(head, hlen, limit, rows, out, marks)
    pos = np.full(len(rows), 20, dtype=np.int64)
    stop, end = hlen[rows], limit[rows]
    after_eol = np.zeros(len(rows), dtype=bool)
    opts = np.take(head, rows, axis=0)
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


def _laid_out(
    head: Array,
    hlen: Array,
    limit: Array,
    rows: Array,
    out: dict[str, Array],
    marks: dict[str, Array],
) -> Array:
    """Read the options of the headers at rows that hold exactly one of _LAYOUTS, wholly
    captured; the rows left to walk. For those, every walk step reads the layout's next option,
    whole (no end-of-list, nothing cut): the same _option_values steps, one per option that
    carries a value."""
    opts = np.take(head, rows, axis=0)
    length = hlen[rows]
    whole = length == limit[rows]
    left = np.ones(len(rows), dtype=bool)
    for size, options in _PLACED:
        match = left & whole & (length == size)
        for kind, option_size, pos in options:
            match &= opts[:, pos] == kind
            if option_size > 1:
                match &= opts[:, pos + 1] == option_size
        taken = np.flatnonzero(match)
        if not len(taken):
            continue
        left[taken] = False
        laid, laid_rows, count = opts[taken], rows[taken], len(taken)
        every = np.ones(count, dtype=bool)
        for kind, option_size, pos in options:
            if kind == _NOP:  # a step that reads no value
                continue
            at, kinds, sizes = (np.full(count, v, dtype=np.int64) for v in (pos, kind, option_size))
            _option_values(laid, laid_rows, at, kinds, sizes, every, out, marks, {kind})
    remaining: Array = rows[left]
    return remaining


def _option_values(
    opts: Array,
    rows: Array,
    pos: Array,
    kind: Array,
    size: Array,
    good: Array,
    out: dict[str, Array],
    marks: dict[str, Array],
    present: set[int] | None = None,
) -> None:
    """The option fields the loader reads; the length checks are packet-tcp.c's. present: the
    kinds of the good options, when known."""
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
    if present is None:
        present = set(arrays.distinct(kind[good]).tolist())
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
