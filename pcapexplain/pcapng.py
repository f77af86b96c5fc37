"""Capture-file stage of the native reader, pcapng: sections, interfaces and packet blocks.

`records(reader, summary)` walks the blocks of a pcapng file (wiretap/pcapng.c's rules: block and
option lengths, interfaces per section, time-stamp resolution and offset, the blocks that count as
frames) and yields `capfile.Records`, a buffer's worth at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pcapexplain.capfile import (
    MAX_BLOCK,
    MAX_SNAPLEN,
    SHB,
    Buffered,
    CaptureFormatError,
    FileSummary,
    Records,
    int32,
)
from pcapexplain.explanations import said

Array = np.ndarray[Any, Any]

# pcapng block types (pcapng spec §4; wiretap/pcapng_module.h)
IDB, PB, SPB, EPB = 1, 2, 3, 6
_FRAME_BLOCKS = {  # blocks wiretap hands on as records (frames) that carry no packet
    0x9, 0xBAD, 0x40000BAD, 0x204, 0x216, 0x221,
}  # fmt: skip


@dataclass(slots=True)
class _Interface:
    linktype: int
    snaplen: int
    units: int  # time units per second
    offset: int  # seconds added to every time stamp


@dataclass(slots=True)
class _Section:
    order: str = "<"
    interfaces: list[_Interface] = field(default_factory=list)


class _Stop(Exception):
    """A block wiretap would refuse: the file ends there (a damaged-file warning).

    Its one arg is the reason, Said (explanations.said).
    """


# The blocks a length check names (keys of the error.format.block.* texts).
_SHB, _ANY, _IDB, _SPB, _EPB, _PB = (
    f"error.format.block.{b}" for b in ("shb", "any", "idb", "spb", "epb", "pb")
)


def records(reader: Buffered, summary: FileSummary) -> Iterator[Records]:
    """The records of a pcapng file, a buffer's worth at a time."""
    section = _Section()
    pos = 0
    frame = 1
    first = True
    while True:
        buffer = reader.buffer
        pending = _PendingRecords(reader.data, frame)
        try:
            pos = _pcapng_blocks(buffer, pos, section, pending, summary, first)
        except _Stop as stop:
            summary.damaged = stop.args[0]
            records = pending.records()
            if records is not None:
                frame += len(records)
                yield records
            if first and frame == 1 and pending.blocks == 0:
                raise CaptureFormatError(stop.args[0]) from None
            break
        first = first and pending.blocks == 0
        records = pending.records()
        if records is not None:
            frame += len(records)
            yield records
        if not reader.refill(pos):
            if reader.end:
                summary.damaged = "cut short"
            break
        pos = 0
    summary.frames = frame - 1
    if reader.error:
        summary.damaged = summary.damaged or reader.error


class _PendingRecords:
    """Packet blocks found in one buffer, turned into Records in one go."""

    def __init__(self, data: Array, frame: int) -> None:
        self.data = data
        self.frame = frame
        self.blocks = 0
        self.start: list[int] = []
        self.caplen: list[int] = []
        self.wirelen: list[int] = []
        self.ts: list[int] = []
        self.iface: list[_Interface | None] = []

    def add(self, start: int, caplen: int, wirelen: int, ts: int, iface: _Interface | None) -> None:
        self.start.append(start)
        self.caplen.append(caplen)
        self.wirelen.append(wirelen)
        self.ts.append(ts)
        self.iface.append(iface)

    def records(self) -> Records | None:
        if not self.start:
            return None
        ts = np.asarray(self.ts, dtype=np.uint64)
        units = np.asarray([i.units if i else 1 for i in self.iface], dtype=np.uint64)
        offset = np.asarray([i.offset if i else 0 for i in self.iface], dtype=np.int64)
        linktype = np.asarray([i.linktype if i else -1 for i in self.iface], dtype=np.int64)
        # wiretap: secs = ts / units; nsecs = (ts % units) * 1e9 / units, in unsigned 64 bits.
        with np.errstate(over="ignore"):
            nanos = ((ts % units) * np.uint64(1_000_000_000)) // units
        return Records(
            data=self.data,
            start=np.asarray(self.start, dtype=np.int64),
            caplen=np.asarray(self.caplen, dtype=np.int64),
            wirelen=np.asarray(self.wirelen, dtype=np.int64),
            seconds=(ts // units).astype(np.int64) + offset,
            nanos=int32(nanos.astype(np.int64)),
            linktype=linktype,
            first_frame=self.frame,
        )


def _pcapng_blocks(
    buffer: memoryview,
    pos: int,
    section: _Section,
    out: _PendingRecords,
    summary: FileSummary,
    first: bool,
) -> int:
    """Walk the whole blocks in buffer from pos; returns where the first partial one starts."""
    end = len(buffer)
    while pos + 12 <= end:
        if first and out.blocks == 0 and struct.unpack_from("<I", buffer, pos)[0] != SHB:
            raise _Stop(said("error.format.not_pcapng"))
        kind, length = struct.unpack_from(section.order + "II", buffer, pos)
        if kind == SHB:
            order = _shb_order(buffer, pos)
            length = struct.unpack_from(order + "I", buffer, pos + 4)[0]
            _check_length(length, 28, _SHB)
            if length > MAX_BLOCK:
                raise _Stop(said("error.format.block_too_large", length=length, maximum=MAX_BLOCK))
            if pos + length > end:
                return pos
            section.order, section.interfaces = order, []
            _shb(buffer, pos, length, order)
        else:
            length = (length + 3) & ~3
            if length > MAX_BLOCK:
                raise _Stop(said("error.format.block_too_large", length=length, maximum=MAX_BLOCK))
            _check_length(length, 12, _ANY)
            if pos + length > end:
                return pos
            _check_trailer(buffer, pos, length, section.order)
            _block(buffer, pos, kind, length, section, out, summary)
        _check_trailer(buffer, pos, length, section.order)
        out.blocks += 1
        pos += length
    return pos


def _check_trailer(buffer: memoryview, pos: int, length: int, order: str) -> None:
    """A block ends with its length again; wiretap refuses the block when they differ."""
    trailer = struct.unpack_from(order + "I", buffer, pos + length - 4)[0]
    if trailer != struct.unpack_from(order + "I", buffer, pos + 4)[0]:
        raise _Stop(said("error.format.lengths_differ"))


def _shb_order(buffer: memoryview, pos: int) -> str:
    if pos + 12 > len(buffer):
        raise _Stop(said("error.format.cut_short"))
    magic = struct.unpack_from("<I", buffer, pos + 8)[0]
    if magic == 0x1A2B3C4D:
        return "<"
    if magic == 0x4D3C2B1A:
        return ">"
    raise _Stop(said("error.format.byte_order"))


def _shb(buffer: memoryview, pos: int, length: int, order: str) -> None:
    major, minor = struct.unpack_from(order + "HH", buffer, pos + 12)
    if not (major == 1 and minor in (0, 2)):
        raise _Stop(said("error.format.shb_version", major=major, minor=minor))
    _options(buffer, pos + 24, pos + length - 4, order, {})


def _check_length(length: int, minimum: int, what: str) -> None:
    if length < minimum:
        raise _Stop(said("error.format.block_too_small", length=length, what=said(what)))


def _block(
    buffer: memoryview,
    pos: int,
    kind: int,
    length: int,
    section: _Section,
    out: _PendingRecords,
    summary: FileSummary,
) -> None:
    order = section.order
    if kind == IDB:
        _check_length(length, 20, _IDB)
        linktype, _, snaplen = struct.unpack_from(order + "HHI", buffer, pos + 8)
        found = _options(buffer, pos + 16, pos + length - 4, order, _IDB_OPTIONS)
        units, offset = _resolution(found.get(9)), found.get(14, 0)
        section.interfaces.append(_Interface(linktype, snaplen, units, offset))
        summary.linktypes.add(linktype)
    elif kind in (EPB, PB):
        _packet_block(buffer, pos, kind, length, section, out)
    elif kind == SPB:
        _check_length(length, 16, _SPB)
        if not section.interfaces:
            raise _Stop(said("error.format.spb_first"))
        iface = section.interfaces[0]
        wirelen = struct.unpack_from(order + "I", buffer, pos + 8)[0]
        caplen = min(wirelen, iface.snaplen) if iface.snaplen else wirelen
        if length < 16 + ((caplen + 3) & ~3):
            raise _Stop(said("error.format.block_too_small", length=length, what=said(_SPB)))
        out.add(pos + 12, caplen, wirelen, 0, iface)
    elif kind in _FRAME_BLOCKS:
        out.add(pos + 8, 0, 0, 0, None)  # a record, but not a packet: it still counts a frame


def _packet_block(
    buffer: memoryview, pos: int, kind: int, length: int, section: _Section, out: _PendingRecords
) -> None:
    order = section.order
    if kind == EPB:
        _check_length(length, 32, _EPB)
        iface_id, high, low, caplen, wirelen = struct.unpack_from(order + "IIIII", buffer, pos + 8)
    else:
        _check_length(length, 32, _PB)
        iface_id, _, high, low, caplen, wirelen = struct.unpack_from(
            order + "HHIIII", buffer, pos + 8
        )
    padded = (caplen + 3) & ~3
    if length < 32 + padded:
        raise _Stop(said("error.format.too_small_for", length=length, caplen=caplen))
    if iface_id >= len(section.interfaces):
        raise _Stop(said("error.format.interface", index=iface_id))
    if caplen > MAX_SNAPLEN:
        raise _Stop(said("error.format.caplen", caplen=caplen, maximum=MAX_SNAPLEN))
    _options(buffer, pos + 28 + padded, pos + length - 4, order, _EPB_OPTIONS)
    out.add(pos + 28, caplen, wirelen, (high << 32) | low, section.interfaces[iface_id])


def _resolution(value: int | None) -> int:
    """if_tsresol: units per second (a power of 10, or of 2 with the top bit set)."""
    if value is None:
        return 1_000_000
    base, exponent = (2, value & 0x7F) if value & 0x80 else (10, value & 0x7F)
    if (base == 2 and exponent < 64) or (base == 10 and exponent < 20):
        return int(base**exponent)
    return (1 << 64) - 1


# Option code → (exact length or None, minimum length). Unlisted codes are skipped unchecked.
_EPB_OPTIONS: dict[int, tuple[int | None, int]] = {2: (4, 4), 4: (8, 8), 5: (8, 8), 6: (4, 4)}
_IDB_OPTIONS: dict[int, tuple[int | None, int]] = {9: (None, 0), 14: (None, 0), 11: (None, 1)}
_CUSTOM_OPTIONS = (2988, 2989, 19372, 19373)


def _options(
    buffer: memoryview, pos: int, end: int, order: str, known: dict[int, tuple[int | None, int]]
) -> dict[int, int]:
    """Walk an options list as wiretap does; raises _Stop where wiretap reports a bad file."""
    found: dict[int, int] = {}
    while pos < end:
        if pos + 4 > end:
            raise _Stop(said("error.format.option_header"))
        code, size = struct.unpack_from(order + "HH", buffer, pos)
        pos += 4
        rounded = (size + 3) & ~3
        if rounded > end - pos:
            raise _Stop(said("error.format.option_length", size=size))
        if code == 0:
            break
        if code in _CUSTOM_OPTIONS and size < 4:
            raise _Stop(said("error.format.custom_option", size=size))
        rule = known.get(code)
        if rule is not None:
            exact, minimum = rule
            if (exact is not None and size != exact) or size < minimum:
                raise _Stop(said("error.format.option_size", code=code, size=size))
            if code == 7 and size >= 1 and buffer[pos] in (1, 2) and size != 9:
                raise _Stop(said("error.format.verdict", size=size))
            if size == 1:
                found[code] = buffer[pos]
            elif size == 8:
                found[code] = struct.unpack_from(order + "q", buffer, pos)[0]
        pos += rounded
    return found


_EPB_OPTIONS[7] = (None, 1)
