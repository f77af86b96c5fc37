"""Capture-file stage of the native reader: pcap (here), pcapng (pcapng.py), gzip, as numpy blocks.

`read_records(path)` yields `Records`: a block of the file's bytes and, per record, where its
packet starts, its captured and wire lengths, its time stamp and its link type. The only
per-record Python work is one step from a record header to the next (a record's length says where
the next one starts); everything else is array arithmetic over the block. Memory stays bounded by
the block size, so a capture far larger than memory streams through.

The record rules follow Wireshark's wiretap (libpcap.c, pcapng.c) so that both readers see the same
frames, number them the same way and stop at the same damaged record.
"""

from __future__ import annotations

import os
import struct
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from pcapexplain.explanations import said

Array = np.ndarray[Any, Any]

BLOCK_SIZE = 8 << 20  # bytes of file read at a time
MAX_SNAPLEN = 262144  # wiretap's WTAP_MAX_PACKET_SIZE_STANDARD for the link types read here
_GZIP_MAGIC = b"\x1f\x8b"

# pcap magic numbers as read little-endian: (byte order, nanosecond time stamps)
_PCAP_MAGIC = {
    0xA1B2C3D4: ("<", False),
    0xD4C3B2A1: (">", False),
    0xA1B23C4D: ("<", True),
    0x4D3CB2A1: (">", True),
}
_PCAP_OTHER_MAGIC = {0xA1B2CD34, 0x34CDB2A1, 0x1C0001AC, 0xAC01001C, 0x1C0001AB, 0xAB01001C}


SHB = 0x0A0D0D0A  # pcapng's Section Header Block type, the same in either byte order
MAX_BLOCK = 32 + 128 * 1024 * 1024 + 131072  # wiretap's largest pcapng block: MIN_EPB_SIZE +
# WTAP_MAX_PACKET_SIZE_DBUS + 131072; the buffer grows up to a few of them


class CaptureFormatError(Exception):
    """The file is not a capture this reader understands (no frame was read)."""


class UnsupportedCapture(Exception):
    """The file is a capture, but in a variant the native reader does not read; tshark may."""


class UnknownFormat(UnsupportedCapture):
    """Neither pcap, pcapng nor gzip: perhaps another format tshark reads, perhaps no capture."""


@dataclass(slots=True)
class Records:
    """One block of records. Offsets index `data`; all per-record arrays have the same length."""

    data: Array  # uint8
    start: Array  # int64 offset of each record's packet bytes in data
    caplen: Array  # int64 bytes captured
    wirelen: Array  # int64 bytes on the wire
    seconds: Array  # int64 time stamp, whole seconds
    nanos: Array  # int64 time stamp, nanoseconds as wiretap stores them (a C int)
    linktype: Array  # int64 LINKTYPE_ value per record (-1: a frame that holds no packet)
    first_frame: int  # frame number of the first record (1-based)

    def __len__(self) -> int:
        return len(self.start)


@dataclass(slots=True)
class FileSummary:
    """What reading the whole file found, filled in as the records stream by."""

    frames: int = 0
    damaged: str | None = None  # wiretap-style reason the file stopped early, when it did
    linktypes: set[int] = field(default_factory=set)


def read_records(path: str | os.PathLike[str], summary: FileSummary) -> Iterator[Records]:
    """Stream the records of a pcap or pcapng file (either possibly gzip-compressed).

    summary is filled in as reading goes: frame count, link types, and why the file ended early.
    Raises CaptureFormatError when the file is no capture at all, UnsupportedCapture for pcap
    variants this reader does not handle, OSError when it cannot be read.
    """
    with open(path, "rb") as raw:
        head = raw.read(2)
        raw.seek(0)
        zipped = head == _GZIP_MAGIC
        source = _Gunzip(raw) if zipped else _Plain(raw)
        size = BLOCK_SIZE if zipped else min(BLOCK_SIZE, max(os.fstat(raw.fileno()).st_size, 1))
        reader = Buffered(source, size)
        magic = reader.peek(4)
        if not magic:
            return  # an empty file: no frames, as tshark sees it
        if len(magic) < 4:
            raise UnknownFormat(said("error.format.too_short"))
        if struct.unpack("<I", magic)[0] == SHB:
            from pcapexplain import pcapng  # the two formats share this module's buffer

            yield from pcapng.records(reader, summary)
        else:
            yield from _pcap(reader, summary)


# ----------------------------------------------------------------------------- byte sources

PADDING = 64  # zero bytes after the data, so that fixed-size header reads never fall off the end


class _Plain:
    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.error: str | None = None

    def readinto(self, target: memoryview) -> int:
        return self._handle.readinto(target)  # type: ignore[attr-defined, no-any-return]


class _Gunzip:
    """gzip (several members allowed) decompressed block by block; corruption ends the data."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending = b""  # compressed bytes not yet fed
        self._started = False  # the current member has had input
        self._done = False
        self.error: str | None = None

    def readinto(self, target: memoryview) -> int:
        filled = 0
        while not self._done and filled < len(target):
            if not self._pending:
                self._pending = self._handle.read(1 << 20)
                if not self._pending:
                    self._done = True
                    if self._started:  # the stream stops inside a member: cut short
                        self.error = "cut short"
                    break
            try:
                out = self._inflate.decompress(self._pending, len(target) - filled)
            except zlib.error as exc:
                self.error = f"gzip: {exc}"
                self._done = True
                break
            self._started = True
            target[filled : filled + len(out)] = out
            filled += len(out)
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:  # another member may follow
                self._pending = self._inflate.unused_data
                self._inflate = zlib.decompressobj(wbits=31)
                self._started = False
        return filled


class Buffered:
    """The file's bytes in one reused, zero-padded array, filled a block at a time.

    `buffer` is the valid part (for struct); `data` views the whole array for numpy, so header
    reads a little past the valid part stay in bounds. The unread tail moves to the front on each
    refill, and the array grows when one block (pcapng allows large ones) does not fit.
    """

    def __init__(self, source: _Plain | _Gunzip, size: int) -> None:
        self._source = source
        self._array = bytearray(size + PADDING)
        self.data = np.frombuffer(self._array, dtype=np.uint8)
        self.end = 0
        self.eof = False

    @property
    def error(self) -> str | None:
        return self._source.error

    @property
    def buffer(self) -> memoryview:
        return memoryview(self._array)[: self.end]

    def peek(self, size: int) -> bytes:
        self._fill()
        return bytes(self._array[: min(size, self.end)])

    def refill(self, keep_from: int) -> bool:
        """Drop the first keep_from bytes and read more; False when nothing more came."""
        tail = self.end - keep_from
        capacity = len(self._array) - PADDING
        if keep_from == 0 and self.end == capacity and capacity < 4 * MAX_BLOCK:
            grown = bytearray(2 * capacity + PADDING)  # one block is larger than the array
            grown[: self.end] = self._array[: self.end]
            self._array, self.data = grown, np.frombuffer(grown, dtype=np.uint8)
        elif keep_from:
            self._array[:tail] = self._array[keep_from : self.end]
        self.end = tail
        return self._fill() > 0

    def _fill(self) -> int:
        capacity = len(self._array) - PADDING
        before = self.end
        view = memoryview(self._array)
        while self.end < capacity and not self.eof:
            count = self._source.readinto(view[self.end : capacity])
            if not count:
                self.eof = True
            self.end += count
        self._array[self.end : self.end + PADDING] = bytes(PADDING)
        return self.end - before


# ------------------------------------------------------------------------------------- pcap

_SWAP_NEVER, _SWAP_MAYBE, _SWAP_ALWAYS = 0, 1, 2  # incl_len/orig_len order (pcap before 2.3)
_VARIANT_HEADERS = (16, 24, 20)  # standard, ss990417, Nokia: wiretap tries them in this order


@dataclass(frozen=True, slots=True)
class _PcapFormat:
    order: str
    nanosecond: bool
    swap: int
    snaplen: int
    linktype: int


def _pcap(reader: Buffered, summary: FileSummary) -> Iterator[Records]:
    header = reader.peek(24)
    magic = struct.unpack("<I", header[:4])[0]
    if magic in _PCAP_OTHER_MAGIC:
        raise UnsupportedCapture(said("error.format.pcap_variant"))
    if magic not in _PCAP_MAGIC:  # tshark knows many more formats (and guesses at some)
        raise UnknownFormat(said("error.format.not_pcap"))
    order, nanosecond = _PCAP_MAGIC[magic]
    if len(header) < 24:
        summary.damaged = "cut short"
        raise CaptureFormatError(said("error.format.header_cut"))
    major, minor, _, _, snaplen, network = struct.unpack(order + "HHiIII", header[4:24])
    if major < 2:
        raise CaptureFormatError(said("error.format.pcap_major", major=major))
    if major == 2 and minor == 2 and not nanosecond and network in (6, 9, 15, 24):
        raise UnsupportedCapture(said("error.format.aix"))
    if network & 0x03FF0000 or network & 0x04000000:
        raise UnsupportedCapture(said("error.format.pcap_linktype", field=f"{network:#x}"))
    swap = _SWAP_NEVER
    if major == 543 or (major == 2 and minor < 3):
        swap = _SWAP_ALWAYS
    elif major == 2 and minor == 3:
        swap = _SWAP_MAYBE
    fmt = _PcapFormat(order, nanosecond, swap, snaplen, network & 0xFFFF)
    summary.linktypes.add(fmt.linktype)
    if not nanosecond and _best_variant(reader.peek(24 + 3 * (24 + MAX_SNAPLEN))[24:], fmt):
        raise UnsupportedCapture(said("error.format.pre_2000"))
    yield from _pcap_records(reader, summary, fmt)


def _best_variant(data: bytes, fmt: _PcapFormat) -> int:
    """wiretap's guess among pcap variants with the standard magic: index into _VARIANT_HEADERS."""
    merits: list[int] = []
    for size in _VARIANT_HEADERS:
        merit = _variant_merit(data, fmt, size)
        if merit == 0:
            return len(merits)
        merits.append(merit)
    return merits.index(min(merits))


def _variant_merit(data: bytes, fmt: _PcapFormat, header: int) -> int:
    pos = 0
    for _ in range(3):
        if pos == len(data):
            return 0  # end of file: nothing contradicts this variant
        if pos + header > len(data):
            return 1
        _, usec, incl, orig = struct.unpack_from(fmt.order + "IIII", data, pos)
        incl, orig = _lengths(incl, orig, fmt.swap)
        checks = (usec >= 1_000_000, incl > MAX_SNAPLEN, orig > 128 << 20, incl > fmt.snaplen)
        merit = int(sum(checks)) + int(incl > orig)
        if merit:
            return merit
        if pos + header + incl > len(data):
            return 1
        pos += header + incl
    return 0


def _lengths(incl: int, orig: int, swap: int) -> tuple[int, int]:
    if swap == _SWAP_ALWAYS or (swap == _SWAP_MAYBE and incl > orig):
        return orig, incl
    return incl, orig


def _pcap_records(reader: Buffered, summary: FileSummary, fmt: _PcapFormat) -> Iterator[Records]:
    lengths = struct.Struct(fmt.order + "II").unpack_from
    pos = 24
    frame = 1
    while True:
        buffer = reader.buffer
        positions = _record_positions(buffer, pos, lengths, fmt.swap)
        records, keep, stop = _pcap_block(reader.data, len(buffer), positions, fmt, frame)
        if records is not None:
            frame += len(records)
            yield records
        if stop is not None:
            summary.damaged = stop
            break
        if not reader.refill(keep):
            if reader.end:
                summary.damaged = "cut short"
            break
        pos = 0
    summary.frames = frame - 1
    if reader.error:
        summary.damaged = summary.damaged or reader.error


def _record_positions(buffer: memoryview, pos: int, lengths: Any, swap: int) -> list[int]:
    """Offsets of the record headers that lie whole in buffer, the one per-record Python step."""
    limit = len(buffer) - 16
    positions: list[int] = []
    append = positions.append
    if swap == _SWAP_NEVER and lengths(_ONE_TWO, 0) == (1, 2):  # the file's order is the CPU's
        # The 32-bit words at offsets 8 + k, 12 + k, ... for each k < 4: a record's captured
        # length (at pos + 8) is word pos >> 2 of view pos & 3, found in one index.
        words = [buffer[k + 8 : k + 8 + (len(buffer) - k - 8) // 4 * 4].cast("I") for k in range(4)]
        while pos <= limit:
            append(pos)
            pos += words[pos & 3][pos >> 2] + 16
    elif swap == _SWAP_NEVER:
        while pos <= limit:
            append(pos)
            pos += 16 + lengths(buffer, pos + 8)[0]
    else:
        while pos <= limit:
            append(pos)
            incl, orig = lengths(buffer, pos + 8)
            pos += 16 + (orig if swap == _SWAP_ALWAYS else min(incl, orig))
    positions.append(pos)  # where the record after the last one starts
    return positions


_ONE_TWO = memoryview(array("I", [1, 2])).cast("B")  # 1 and 2 in the CPU's byte order


def _pcap_block(
    data: Array, end: int, positions: list[int], fmt: _PcapFormat, frame: int
) -> tuple[Records | None, int, str | None]:
    """(records whose bytes are all before end, where to continue, why to stop if damaged)."""
    after = positions.pop()
    if not positions:
        return None, after, None
    at = np.fromiter(positions, dtype=np.int64, count=len(positions))  # (asarray is slower)
    seconds, frac, incl, orig = _gather_u32(data, at, 4, fmt.order)
    if fmt.swap == _SWAP_ALWAYS:
        incl, orig = orig, incl
    elif fmt.swap == _SWAP_MAYBE:
        incl, orig = np.minimum(incl, orig), np.maximum(incl, orig)
    bad = incl > MAX_SNAPLEN
    ok = ~bad & (at + 16 + incl <= end)
    count = len(at) if ok.all() else int(np.argmin(ok))
    stop = None
    if count < len(at) and bad[count]:
        stop = said("error.format.pcap_too_big", size=int(incl[count]), maximum=MAX_SNAPLEN)
    keep = after if count == len(at) else int(at[count])
    if count == 0:
        return None, keep, stop
    records = Records(
        data=data,
        start=at[:count] + 16,
        caplen=incl[:count],
        wirelen=orig[:count],
        seconds=seconds[:count],
        nanos=int32(frac[:count] if fmt.nanosecond else frac[:count] * 1000),
        linktype=np.full(count, fmt.linktype, dtype=np.int64),
        first_frame=frame,
    )
    return records, keep, stop


def int32(values: Array) -> Array:
    """wiretap keeps nanoseconds in a C int: wrap as it does (only damaged files notice)."""
    return ((values & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


def _gather_u32(data: Array, at: Array, count: int, order: str) -> list[Array]:
    """count consecutive 32-bit words at each offset, as int64 arrays.

    One gather of whole headers (an element per byte offset, count words wide): the headers lie
    scattered over the block, and each is fetched from memory once rather than once per word.
    """
    size = 4 * count
    rows = np.ndarray(
        buffer=data, shape=(len(data) - size + 1,), dtype=np.dtype((np.void, size)), strides=(1,)
    )
    gathered = rows[np.minimum(at, len(rows) - 1)].view(order + "u4").reshape(-1, count)
    words = gathered.astype(np.int64)
    return [words[:, i] for i in range(count)]
