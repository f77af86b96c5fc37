"""Native reader: a capture's bytes → the same typed `PacketColumns` as the tshark loader.

`load_capture(path)` streams the file through `capfile` (records), `decode` (headers, vectorised)
and `tcpanalysis` (tshark's stream numbers and analysis flags), then builds the columns the pure
stages read; with a `Cut`, only those of one part of the capture's 4-tuples (shard_run.py reads
a large file in parts). It needs no tshark, and it stops with `NativeUnsupported` when the
capture holds a link type or an encapsulation it does not read, so that `readers.load` can hand
it to tshark.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pcapexplain import (
    capfile,
    decode,
    files,
    linklayer,
    shards,
    tcpanalysis,
    tcpfast,
    tcpheader,
)
from pcapexplain.errors import (
    CaptureUnreadable,
    EmptyCapture,
    NativeUnsupported,
    NotACapture,
    NoTcp,
    os_reason,
)
from pcapexplain.explanations import Said, said, said_list
from pcapexplain.model import (
    NO_VALUE,
    Capture,
    CaptureInfo,
    IcmpError,
    PacketColumns,
    Reader,
)

Array = np.ndarray[Any, Any]


def load_capture(
    path: str | os.PathLike[str],
    *,
    validate_checksums: bool = False,
    strict: bool = False,
    status: files.ReadStatus | None = None,
    shown: str | None = None,
    digest: bool = True,
    cut: Cut | None = None,
) -> Capture:
    """Read every TCP segment of a capture without tshark.

    With strict, frames in an encapsulation this reader does not follow (a tunnel, MPLS, PPPoE)
    raise NativeUnsupported, as does an unknown link type always; without, they are skipped with
    a warning. Raises the loader's errors for bad input: CaptureNotFound, CaptureUnreadable,
    NotACapture, EmptyCapture, NoTcp. A capture cut short is read up to its last whole record.
    status and shown: as for loader.load_capture (the frames read are counted, not the bytes).
    Without digest the file's SHA-256 is not computed (CaptureInfo.sha256 is "").
    With cut, the packets and ICMP errors are those of one part of the capture (shards.parts_of
    of their 4-tuples), numbered as in the whole; the CaptureInfo and the errors stay the whole
    capture's.
    """
    status = status if status is not None else files.ReadStatus()
    capture = files.check_file(Path(path))
    shown = shown or files.shown_name(path)
    status.size = capture.stat().st_size
    stop = threading.Event()
    with _hashing(capture, stop, digest) as hashed:
        try:
            status.reading = True
            summary, collected, icmp = _read(
                capture, files.error_name(capture, shown), validate_checksums, strict, status, cut
            )
            # Analysed only when no error below is raised (in every part alike).
            packets = collected.columns() if summary.frames and collected.tcp else None
            _return_freed_memory()
        except BaseException:
            stop.set()  # a failed run leaves no hashing behind
            raise
        finally:
            status.reading = False
        sha256 = hashed()
    info = CaptureInfo(
        path=shown,
        size_bytes=status.size,
        sha256=sha256,
        tshark_version="",
        total_frames=summary.frames,
        truncated_at=summary.frames if summary.damaged else None,
        warnings=(
            *_warnings(summary, collected.foreign),
            *collected.backwards.warning(),
            *collected.headers_cut.warning(),
        ),
        reader=Reader.NATIVE.value,
    )
    name = files.error_name(capture, shown)
    if info.total_frames == 0:
        if summary.damaged:
            raise NotACapture(said("error.cut_before_first", name=name))
        raise EmptyCapture(said("error.no_packets", name=name))
    if collected.tcp == 0:  # in the whole capture: a part may hold none
        frames = said("ui.packets", count=info.total_frames)
        raise NoTcp(said("error.no_tcp", name=name, frames=frames))
    assert packets is not None
    return Capture(info=info, packets=packets, icmp=icmp)


@dataclass(frozen=True, slots=True)
class Cut:
    """One part of a capture read in several processes, each keeping the 4-tuples of its part.

    meet is where the parts meet once, before numbering streams: it turns this part's opening
    frames (sorted) into every part's, sorted, so that tcp.stream stays the whole capture's.
    """

    which: int
    parts: int
    meet: Callable[[Array], Array]


def _read(
    capture: Path,
    name: str,
    validate_checksums: bool,
    strict: bool,
    status: files.ReadStatus,
    cut: Cut | None,
) -> tuple[capfile.FileSummary, _Collected, tuple[IcmpError, ...]]:
    """The file walked and decoded, its segments (of the cut's part) waiting to be analysed."""
    summary = capfile.FileSummary()
    collected = _Collected(cut=cut)
    icmp: list[IcmpError] = []
    try:
        for records in capfile.read_records(capture, summary):
            _check_linktypes(summary.linktypes)
            result = decode.decode(
                records, validate_checksums=validate_checksums, keep=collected.look
            )
            icmp.extend(_icmp_errors(result))
            collected.add(result)
            status.frames = summary.frames
    except capfile.UnknownFormat as exc:
        if strict:
            raise NativeUnsupported(said("error.named", name=name, detail=_why(exc))) from exc
        raise NotACapture(
            said("error.not_capture_native", name=name, reason=_why(exc)),
            hint=said("hint.tshark_reads_more"),
        ) from exc
    except capfile.UnsupportedCapture as exc:
        raise NativeUnsupported(said("error.named", name=name, detail=_why(exc))) from exc
    except capfile.CaptureFormatError as exc:
        raise NotACapture(said("error.not_capture_because", name=name, reason=_why(exc))) from exc
    except OSError as exc:
        reason = os_reason(exc)
        raise CaptureUnreadable(said("error.cannot_read", path=name, reason=reason)) from exc
    _check_linktypes(summary.linktypes)
    if collected.foreign and strict:
        raise NativeUnsupported(
            said("error.named", name=name, detail=_foreign_text(collected.foreign))
        )
    return summary, collected, tuple(icmp)


def _why(exc: Exception) -> str:
    """The capture-file stage's reason, still Said (str(exc) would keep only its English)."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)


def _icmp_errors(result: decode.BlockResult) -> list[IcmpError]:
    """The TCP headers quoted in ICMP errors, with the errors' own type, code and sender."""
    s, found = result.segments, []
    for i in np.flatnonzero(s.in_error).tolist():
        error = result.errors.get(int(s.frame[i]))
        if error is None:
            continue
        family = int(s.family[i])
        found.append(
            IcmpError(
                frame=int(s.frame[i]),
                time=float(epoch_seconds(s.seconds[i : i + 1], s.nanos[i : i + 1])[0]),
                reporter=decode.address_text(error.reporter, error.family),
                version=error.family,
                type=error.type,
                code=error.code,
                src=decode.address_text(bytes(s.src[i]), family),
                sport=int(s.sport[i]),
                dst=decode.address_text(bytes(s.dst[i]), family),
                dport=int(s.dport[i]),
                seq=int(s.seq[i]),
            )
        )
    return found


@contextlib.contextmanager
def _hashing(capture: Path, stop: threading.Event, digest: bool) -> Iterator[Callable[[], str]]:
    """The file's SHA-256, computed in a thread beside the parse (it costs about as much CPU as
    the record walk): the block's function waits for it; "" without digest. concurrent.futures
    (and the logging it imports) only then: a run without a digest never needs them."""
    if not digest:
        yield lambda: ""
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(files.sha256, capture, stop).result


def _return_freed_memory() -> None:
    """Give the decoding's freed heap back to the system (glibc's malloc_trim; elsewhere nothing).

    The blocks' many medium-sized numpy temporaries are freed into glibc's heap, which keeps them:
    about 240 bytes per packet that the later stages would otherwise stack their own memory on.
    """
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _check_linktypes(linktypes: Iterable[int]) -> None:
    unknown = sorted(set(linktypes) - linklayer.KNOWN_LINKTYPES)
    if unknown:
        names = ", ".join(str(t) for t in unknown)
        raise NativeUnsupported(said("error.linktype", names=names))


# decode's names for what it skipped, as the catalogue says them.
_FOREIGN_WORDS = {"link layer": "error.what.link_layer", "tunnels": "error.what.tunnels"}


def _foreign_text(foreign: dict[str, int]) -> Said:
    parts: list[Said] = []
    for what, count in sorted(foreign.items()):
        word = said(_FOREIGN_WORDS[what]) if what in _FOREIGN_WORDS else what
        parts.append(said("error.foreign_part", what=word, count=count))
    return said("error.foreign", parts=said_list(parts))


def _warnings(summary: capfile.FileSummary, foreign: dict[str, int]) -> tuple[str, ...]:
    out = []
    if summary.damaged:
        out.append(said("warning.cut_short", frame=summary.frames))
    if foreign:
        out.append(said("warning.foreign", frames=_foreign_text(foreign)))
    return tuple(out)


# ----------------------------------------------------------------------------- assembling


@dataclass(slots=True)
class _Collected:
    """Every block turned into its final columns as it is decoded, but for two.

    The analysis needs one fact only the whole file gives (which flows may reach tshark's limit of
    unacknowledged segments), so its inputs wait, compact (about 45 bytes a header, `_WAITING`),
    and the analysis columns (stream, analysis) are added once they are all read. Nothing else
    of a block outlives it: the columns and the waiting headers are all that grows.
    With a cut, only the segments of its part are kept; what the capture says about itself
    (foreign frames, TCP segments, time going backwards, headers the snapshot length cut) is still
    counted over all of them.
    """

    cut: Cut | None = None
    foreign: dict[str, int] = field(default_factory=dict)
    tcp: int = 0  # segments not quoted in an ICMP error: the packets of the whole capture
    backwards: files.Backwards = field(default_factory=files.Backwards)
    headers_cut: files.HeadersCut = field(default_factory=files.HeadersCut)
    addresses: _Addresses = field(default_factory=lambda: _Addresses())
    pairs: dict[tuple[int, int], int] = field(default_factory=dict)  # ordered endpoints → id
    listed: Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per flow
    waiting: dict[str, list[Array]] = field(
        default_factory=lambda: {k: [] for k in ("flow", *_WAITING)}
    )
    out: _Columns = field(default_factory=lambda: _Columns())
    # look's address hashes of the rows it kept, by frame, for add's address ids
    looked: tuple[Array, Array, Array] | None = None

    def look(self, located: tcpheader.Located) -> Array | None:
        """decode's Keep: counts what the capture says about itself over every header, and
        chooses the cut's part (None: all)."""
        packet = ~located.in_error
        count = int(packet.sum())
        self.tcp += count
        every = count == len(packet)  # the usual block: no ICMP error, nothing to leave out
        seconds, nanos, frame, cut = (
            (a if every else a[packet])
            for a in (located.seconds, located.nanos, located.frame, located.header_cut)
        )
        self.backwards.add(epoch_seconds(seconds, nanos), frame)
        self.headers_cut.add(cut, frame)
        if self.cut is None or not len(packet):
            return None
        src = shards.address_hashes(located.family, located.src)
        dst = shards.address_hashes(located.family, located.dst)
        part = shards.parts_of(src, located.sport, dst, located.dport, self.cut.parts)
        mask: Array = part == self.cut.which
        kept = np.flatnonzero(mask)
        self.looked = (located.frame[kept], src[kept], dst[kept])
        return mask

    def add(self, result: decode.BlockResult) -> None:
        """Take in a block decoded with look (for a cut, it holds the segments of its part)."""
        for what, count in result.foreign.items():
            self.foreign[what] = self.foreign.get(what, 0) + count
        s = result.segments
        src, dst = self._addresses(s)
        if not len(s):
            return
        flow = _flows(src, dst, s, self.pairs)
        listable = (s.seglen > 0) | ((s.flags & 0x03) != 0)  # payload, SYN or FIN: tshark lists
        counts = np.bincount(flow[listable], minlength=2 * len(self.pairs))
        counts[: len(self.listed)] += self.listed
        self.listed = counts
        self.waiting["flow"].append(flow)
        for name, get in _WAITING.items():
            self.waiting[name].append(get(s))
        self.out.extend(s, src, dst, self.addresses.names)

    def _addresses(self, s: tcpheader.Segments) -> tuple[Array, Array]:
        """The address ids of the segments (with the hashes look gave them, when it did)."""
        looked, self.looked = self.looked, None
        if not len(s):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        hashes = None
        if looked is not None and np.array_equal(looked[0], s.frame):
            hashes = np.concatenate(looked[1:])
        both = self.addresses.numbers(
            np.concatenate([s.family, s.family]), np.concatenate([s.src, s.dst]), hashes
        )
        return both[: len(s)], both[len(s) :]

    def columns(self, *, fast: bool = True, skip: bool = True) -> PacketColumns:
        """Analyse every header, then add the stream and analysis columns.

        fast sends the in-order 4-tuples through tcpfast, and skip lets the ordinary segments of
        the others skip the reference loop (tcpfast.ordinary); without them every header goes
        through the loop (the equivalence tests compare the three).
        """
        headers = self._headers()
        n, pairs = len(headers), len(self.pairs)
        # The look-up tables are done with: their room goes to the analysis.
        self.addresses, self.pairs = _Addresses(), {}
        if fast and n:
            split = tcpfast.split(headers)
        else:
            order = tcpfast.stable_order(headers.pair)
            split = tcpfast.Split(
                np.zeros(n, bool), np.zeros(n, np.int64), np.full(pairs, -1), order
            )
        rows = split.order[~split.plain[split.order]]  # the others, 4-tuple by 4-tuple
        analyser = tcpanalysis.Analyser()
        analysed = analyser.feed(headers, rows, tcpfast.ordinary if fast and skip else None)
        meet = self.cut.meet if self.cut is not None else None
        stream, flags = _streams(headers, split, rows, analysed, analyser.created, meet)
        keep = headers.in_error == 0
        del headers, split, analysed
        self.out.finish(stream[keep], tcpanalysis.printed_flags(flags[keep]))
        return self.out.packets()

    def _headers(self) -> tcpanalysis.Headers:
        """The waiting analysis inputs of all blocks, each joined into one array in turn."""
        joined = {}
        for name, parts in self.waiting.items():
            joined[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            parts.clear()  # one column at a time is both in parts and joined
        pair = joined["flow"] >> 1
        heavy_flows = self.listed >= tcpanalysis.MAX_UNACKED
        heavy_pairs = heavy_flows[0::2] | heavy_flows[1::2]
        return tcpanalysis.Headers(**joined, pair=pair, heavy=heavy_pairs[pair])


# The analysis inputs that wait for the whole file (with "flow"), in tcpheader's compact types.
_WAITING: dict[str, Callable[[tcpheader.Segments], Array]] = {
    "frame": lambda s: s.frame,
    "time": lambda s: s.seconds * 1_000_000_000 + s.nanos,
    "flags": lambda s: s.flags,
    "seq": lambda s: s.seq,
    "ack": lambda s: s.ack,
    "seglen": lambda s: s.seglen,
    "window": lambda s: s.window,
    "reach": lambda s: s.reach,
    "in_error": lambda s: s.in_error,
    "ws_stored": lambda s: s.ws_stored,
}


def _streams(
    headers: tcpanalysis.Headers,
    split: tcpfast.Split,
    rows: Array,
    analysed: tcpanalysis.Analysed,
    created: list[int],
    meet: Callable[[Array], Array] | None,
) -> tuple[Array, Array]:
    """tcp.stream per header: conversations numbered by the frame that opened them, whichever
    path found them, in the whole capture (meet: Cut.meet); and the TCP_A_* flags per header
    from either path."""
    created_frames = np.asarray(created, dtype=np.int64)
    opened = np.sort(np.concatenate([split.first_frame, created_frames]))
    if meet is not None:
        opened = meet(opened)
    stream = np.empty(len(headers), dtype=np.int64)
    flags = split.flags
    flags[rows] = analysed.flags
    # Numbered per conversation and per 4-tuple, then given to their headers.
    stream[rows] = np.searchsorted(opened, created_frames)[analysed.conversation]
    plain = np.flatnonzero(split.plain)
    if len(plain):
        stream[plain] = np.searchsorted(opened, split.opening)[headers.pair[plain]]
    return stream, flags


def _flows(
    src: Array, dst: Array, s: tcpheader.Segments, pairs: dict[tuple[int, int], int]
) -> Array:
    """Per header: its 4-tuple's number * 2 + its direction (0 or 1, one per direction)."""
    # Order the two endpoints so that both directions of a connection share one key.
    src_key = (src << 16) | s.sport
    dst_key = (dst << 16) | s.dport
    low, high = np.minimum(src_key, dst_key), np.maximum(src_key, dst_key)
    first, inverse = _unique_rows(low, high)
    ids = np.fromiter(
        (
            pairs.setdefault(pair, len(pairs))
            for pair in zip(low[first].tolist(), high[first].tolist(), strict=True)
        ),
        dtype=np.int64,
        count=len(first),
    )
    # A socket connected to itself (src_key == dst_key) has one direction, 0, as in tshark, which
    # takes equal addresses and ports for one direction: its SYN-ACK repeats the SYN's seq there.
    flow: Array = ids[inverse] * 2 + (src_key > dst_key)
    return flow


class _Addresses:
    """A number per distinct (family, address), stable across blocks, and its name as tshark
    prints it. A known address is found in one look-up: a table of ids by its hash
    (shards.address_hashes), its bytes compared; only the others are sorted, looked up by their
    bytes and named (a block's new addresses, and those whose place in the table another took)."""

    def __init__(self) -> None:
        self.names: list[str] = []  # id → the address as tshark prints it
        self._ids: dict[bytes, int] = {}  # family + 16 bytes → id
        self._slots = np.full(1 << 10, -1, dtype=np.int32)  # the ids, by their hash's high bits
        self._known = np.zeros((3, 0), dtype=np.int64)  # per id: family, its two 8-byte halves

    def numbers(self, family: Array, raw: Array, hashes: Array | None = None) -> Array:
        """The id of each address (family 4 or 6, 16 bytes), numbering new ones; hashes: their
        shards.address_hashes, when already known."""
        if not self.names:
            return self._number(family, raw)
        if hashes is None:
            hashes = shards.address_hashes(family, raw)
        slot = self._slot(hashes)
        found = self._slots[slot].astype(np.int64)
        at = np.maximum(found, 0)
        halves = raw.view("<i8")
        same = found >= 0
        for column, values in zip(self._known, (family, halves[:, 0], halves[:, 1]), strict=True):
            same &= column[at] == values
        ids: Array = np.where(same, found, -1)
        new = np.flatnonzero(~same)
        if len(new):
            ids[new] = self._number(family[new], raw[new])
        return ids

    def _slot(self, hashes: Array) -> Array:
        """A place in the table: the high bits of the hash."""
        bits = len(self._slots).bit_length() - 1
        slot: Array = (hashes.view(np.uint64) >> np.uint64(64 - bits)).astype(np.int64)
        return slot

    def _number(self, family: Array, raw: Array) -> Array:
        """The ids of addresses not found in the table: looked up by their bytes, or new."""
        halves = raw.view(">u8").astype(np.uint64)
        first, inverse = _unique_rows(family, halves[:, 0], halves[:, 1])
        keys = np.concatenate([family[first].astype(np.uint8)[:, None], raw[first]], axis=1)
        ids = np.empty(len(first), dtype=np.int64)
        known = len(self.names)
        for i, row in enumerate(keys):
            key = row.tobytes()
            found = self._ids.get(key)
            if found is None:
                found = self._ids[key] = len(self.names)
                self.names.append(decode.address_text(key[1:], key[0]))
            ids[i] = found
        if known < len(self.names):
            new = np.flatnonzero(ids >= known)
            fresh = first[new[np.argsort(ids[new])]]  # their rows, in the order of their ids
            wide = raw[fresh].view("<i8")
            added = np.stack([family[fresh], wide[:, 0], wide[:, 1]])
            self._known = np.concatenate([self._known, added], axis=1)
            self._place(known)
        numbered: Array = ids[inverse]
        return numbered

    def _place(self, start: int) -> None:
        """Put the ids from start on in the table; grown, all of them (the table is kept at
        least _SLOT_ROOM times the ids, up to _MAX_SLOTS: few take another's place)."""
        size = len(self._slots)
        while size < _MAX_SLOTS and size < _SLOT_ROOM * len(self.names):
            size *= 2
        if size != len(self._slots):
            self._slots = np.full(size, -1, dtype=np.int32)
            start = 0
        family, low, high = self._known[:, start:]
        raw = np.stack([low, high], axis=1).astype("<i8").view(np.uint8)
        slot = self._slot(shards.address_hashes(family, raw))
        free = self._slots[slot] < 0
        # The first of those sharing a free place takes it (a later assignment would win).
        ids = np.arange(start, len(self.names))[free][::-1]
        self._slots[slot[free][::-1]] = ids


_SLOT_ROOM = 64  # slots per address: about one address in 64 finds its place taken
_MAX_SLOTS = 1 << 20  # 4 MB of table; beyond a million addresses, more go the slow way


def _unique_rows(*columns: Array) -> tuple[Array, Array]:
    """(a row index per distinct row, the row's number for every row) of parallel columns of
    non-negative integers; the distinct rows are numbered in lexicographic order."""
    if not len(columns[0]):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = _packed(columns)
    if key is not None:  # one sort of one key (addresses of IPv4, most 4-tuples)
        order = np.argsort(key)
        ordered = key[order]
        starts = np.empty(len(order), dtype=bool)
        starts[0] = True
        starts[1:] = ordered[1:] != ordered[:-1]
    else:
        order = np.lexsort(columns[::-1])
        starts = np.zeros(len(order), dtype=bool)
        starts[0] = True
        for column in columns:
            ordered = column[order]
            starts[1:] |= ordered[1:] != ordered[:-1]
    group = np.cumsum(starts) - 1
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = group
    return order[starts], inverse


def _packed(columns: tuple[Array, ...]) -> Array | None:
    """The columns' values side by side in one int64 (lexicographic order kept), if they fit."""
    widths = [int(column.max()).bit_length() for column in columns]
    if sum(widths) > 62:
        return None
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column, width in zip(columns, widths, strict=True):
        key = (key << width) | column.astype(np.int64)
    return key


def epoch_seconds(seconds: Array, nanos: Array) -> Array:
    """frame.time_epoch as tshark prints it, read back as a float (odd nanoseconds included)."""
    if len(nanos) and seconds.min() >= 0 and nanos.min() >= 0 and nanos.max() < 1_000_000_000:
        # The usual time stamps: _any_epoch_seconds' arithmetic for them, in two steps.
        usual: Array = seconds.astype(np.float64) + nanos / 1e9
        return usual
    return _any_epoch_seconds(seconds, nanos)


def _any_epoch_seconds(seconds: Array, nanos: Array) -> Array:
    """epoch_seconds of any time stamps, negative or with nanoseconds of a second or more."""
    nanos = nanos.astype(np.int64)
    negative = nanos < 0
    magnitude = np.abs(nanos)
    digits = np.full(len(nanos), 1e9)
    digits[magnitude >= 1_000_000_000] = 1e10
    value = np.abs(seconds).astype(np.float64) + magnitude / digits
    epoch: Array = np.where((seconds < 0) | negative, -value, value)
    return epoch


class _Columns:
    """PacketColumns grown block by block; ICMP-quoted headers are left out, as the loader does."""

    def __init__(self) -> None:
        self.ints: dict[str, array[int]] = {n: array(c) for n, c in _INT_COLUMNS.items()}
        self.time = array("d")
        # Blocks wait to be added _BATCH rows at a time: an array grown block by block is
        # reallocated (and copied) every few blocks, as it keeps only 1/16 spare room. All of
        # them at the end would add the freed blocks' heap to the peak (about 35 MB at 1M).
        self._waiting: dict[str, list[Array]] = {n: [] for n in (*_INT_COLUMNS, "time")}
        self._rows = 0  # rows waiting
        self.src: list[str] = []
        self.dst: list[str] = []
        self._names: Array = np.zeros(0, dtype=object)  # the address names, some spare room
        self._known = 0  # how many of them are filled in

    def extend(self, s: tcpheader.Segments, src: Array, dst: Array, names: list[str]) -> None:
        """Every column but the analysis ones; src and dst are address ids into names."""
        keep = ~s.in_error
        everything = bool(keep.all())  # the usual block: no ICMP error to leave out
        printed = s.reach >= tcpheader.REACH_FLAGS  # a bogus header length prints none of these
        hidden = not printed.all()
        values = {
            "frame": s.frame,
            "sport": s.sport,
            "dport": s.dport,
            "flags": np.where(printed, s.flags, 0) if hidden else s.flags,
            "seq": s.seq,
            "ack": np.where(printed, s.ack, NO_VALUE) if hidden else s.ack,
            "length": np.maximum(s.seglen, 0),
            "length_unknown": s.seglen < 0,  # as tshark leaves tcp.len empty
            "header_cut": s.header_cut,
            "window": np.where(printed, s.window, NO_VALUE) if hidden else s.window,
            "mss": s.mss,
            "wscale": s.wscale,
            "sack_perm": s.sack_perm,
            "sack": s.sack,
            "tsval": s.tsval,
            "tfo": s.tfo,
            "ttl": s.ttl,
            "ip_len": s.ip_len,
            "ip_checksum": s.ip_checksum,
            "tcp_checksum": np.where(s.reach >= tcpheader.REACH_CHECKSUM, s.tcp_checksum, 0),
            "ip_id": s.ip_id,
            "tcp_sum": s.tcp_sum,
        }
        for name, column in values.items():
            self._append(name, column if everything else column[keep])
        seconds, nanos = (s.seconds, s.nanos) if everything else (s.seconds[keep], s.nanos[keep])
        self._waiting["time"].append(epoch_seconds(seconds, nanos))
        self._rows += len(seconds)
        if self._rows >= _BATCH:
            self._add_waiting()
        # One str per distinct address: the columns hold references to it. An object array of
        # the names turns ids into them in one gather.
        known = self._known
        if known < len(names):  # grown by doubling: a port scan's addresses stay linear
            if len(self._names) < len(names):
                grown = np.empty(max(2 * len(self._names), len(names)), dtype=object)
                grown[:known] = self._names[:known]
                self._names = grown
            self._names[known : len(names)] = names[known:]
            self._known = len(names)
        for listed, ids in ((self.src, src), (self.dst, dst)):
            listed.extend(self._names[ids if everything else ids[keep]].tolist())

    def finish(self, stream: Array, analysis: Array) -> None:
        """The two columns the analysis of the whole file gives."""
        self._add_waiting()
        for name, values in (("stream", stream), ("analysis", analysis)):
            _add(self.ints[name], np.ascontiguousarray(values, dtype=_NUMPY[_INT_COLUMNS[name]]))

    def _append(self, name: str, values: Array) -> None:
        typed = np.ascontiguousarray(values, dtype=_NUMPY[_INT_COLUMNS[name]])
        self._waiting[name].append(typed)

    def _add_waiting(self) -> None:
        """Add the waiting blocks to the arrays, a column at a time."""
        for name, blocks in self._waiting.items():
            if blocks:
                _add(self.time if name == "time" else self.ints[name], np.concatenate(blocks))
                blocks.clear()
        self._rows = 0

    def packets(self) -> PacketColumns:
        self._add_waiting()
        return PacketColumns(time=self.time, src=self.src, dst=self.dst, **self.ints)


_BATCH = 1 << 16  # rows: a few MB of blocks wait at most


def _add(column: array[Any], values: Array) -> None:
    # A byte view, not tobytes(): frombytes copies it once.
    column.frombytes(values.view(np.uint8).data)


# Typecodes as wide as the tshark reader's (TabColumns) for every column.
_INT_COLUMNS = {
    **dict.fromkeys(("frame", "sport", "dport", "flags", "seq", "ack", "length", "window"), "q"),
    **dict.fromkeys(("mss", "wscale", "tsval", "ttl", "ip_len", "analysis", "stream"), "q"),
    **dict.fromkeys(("sack_perm", "sack", "tfo", "ip_checksum", "tcp_checksum"), "b"),
    **dict.fromkeys(("length_unknown", "header_cut"), "b"),
    **dict.fromkeys(("ip_id", "tcp_sum"), "i"),
}
_NUMPY = {"q": np.int64, "b": np.int8, "i": np.int32}
