"""A capture file read in parts (native.Cut, shard_run.read_connection_*) gives what it gives
read whole: the same rows, the same warnings and errors, in every part the whole capture's
CaptureInfo, and tcp.stream numbered across the capture.

The command's runs force the parts (`shard_run._FORCE_PARTS`) with the native reader, which
then cuts before reading; the reader's own tests run the parts in threads, meeting as the
processes do.
"""

from __future__ import annotations

import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pcapexplain import files, native, pcapranges, rangeread, runner, shard_run, shards
from pcapexplain.cli import main
from pcapexplain.model import Capture, Reader
from tests import scenarios, shipped

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))


class _Reads:
    """How the calling process read (its children's are theirs): ("ranges", parts) for its
    byte range, ("whole", parts) for the whole file with a Cut, ("whole", None) without."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ways: list[tuple[str, int | None]] = []
        real = native.load_capture
        ranged = rangeread.read

        def watched(*args: Any, **kwargs: Any) -> Capture:
            cut = kwargs.get("cut")
            self.ways.append(("whole", cut.parts if cut else None))
            return real(*args, **kwargs)

        def watched_range(path: Path, which: int, parts: int, *args: Any, **kwargs: Any) -> Any:
            try:
                found = ranged(path, which, parts, *args, **kwargs)
            except Exception:
                self.ways.append(("ranges", parts))  # as whole reading fails (asserted)
                raise
            if found is not None:
                self.ways.append(("ranges", parts))
            return found

        monkeypatch.setattr(native, "load_capture", watched)
        monkeypatch.setattr(rangeread, "read", watched_range)


def _command(
    path: Path, fmt: str, out: Path, parts: int | None, capsys: pytest.CaptureFixture[str]
) -> tuple[int, bytes, str]:
    """`pcapexplain connections PATH --format FMT -o OUT --reader native`, parts forced (None:
    as shipped): its exit status, what it wrote and its stderr."""
    out.unlink(missing_ok=True)
    capsys.readouterr()
    shard_run._FORCE_PARTS = parts
    try:
        status = main(
            ["connections", str(path), "--format", fmt, "-o", str(out), "--reader", "native"]
        )
    finally:
        shard_run._FORCE_PARTS = None
    written = out.read_bytes() if out.exists() else b""
    return status, written, capsys.readouterr().err


def _same_in_parts(
    paths: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reads: _Reads,
    parts_tried: tuple[int, ...] = (2, 3),
) -> tuple[list[str], list[str]]:
    """Asserts the same status, output and stderr read whole and read in 2 and 3 parts, in CSV
    and JSON; returns the stderr of each capture read whole, and how each was read in parts
    ("ranges" when every time from its byte ranges, else "whole")."""
    errs, ways = [], []
    for path in paths:
        found = set()
        for fmt in ("csv", "json"):
            whole = _command(path, fmt, tmp_path / f"out.{fmt}", None, capsys)
            for parts in parts_tried:
                del reads.ways[:]
                cut = _command(path, fmt, tmp_path / f"out.{fmt}", parts, capsys)
                assert cut == whole, f"{path.name} in {parts} parts, {fmt}"
                assert len(reads.ways) == 1 and reads.ways[0][1] == parts
                found.add(reads.ways[0][0])
        errs.append(whole[2])
        ways.append("ranges" if found == {"ranges"} else "whole")
    return errs, ways


def test_sample_captures_read_in_parts_give_the_same_rows_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    errs, ways = _same_in_parts(SAMPLES, tmp_path, capsys, _Reads(monkeypatch))
    assert any("captured twice" in err for err in errs)  # copies told
    assert ways == ["ranges"] * len(SAMPLES)  # none fooled the guess of a first record


def test_reordered_and_copied_captures_read_in_parts_give_the_same_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time goes backwards and packets come twice across 4-tuples of different parts."""
    source = shipped.generated(tmp_path, "--connections", "40", "--seed", "4")
    mutated = [scenarios.mutate(source, tmp_path / f"m{seed}.pcap", seed) for seed in (1, 2)]
    errs, ways = _same_in_parts(mutated, tmp_path, capsys, _Reads(monkeypatch))
    assert ways == ["ranges", "ranges"]
    assert all("go backwards" in err and "captured twice" in err for err in errs)


def _udp_only(path: Path) -> Path:
    """A pcap of one Ethernet/IPv4/UDP frame: a capture with no TCP at all."""
    udp = struct.pack("!HHHH", 53, 53, 8, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0, b"\n\0\0\1", b"\n\0\0\2")
    frame = b"\2\0\0\0\0\1" + b"\2\0\0\0\0\2" + b"\x08\x00" + ip + udp
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    path.write_bytes(header + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
    return path


def test_bad_captures_fail_once_and_alike_read_in_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a capture, no packets, no TCP, and a capture cut short mid-record (a warning)."""
    sample = (ROOT / "sample_captures" / "lossy_transfer.pcap").read_bytes()
    cut_short = tmp_path / "cut_short.pcap"
    cut_short.write_bytes(sample[: len(sample) - 30])
    not_capture = tmp_path / "text.pcap"
    not_capture.write_text("hello, this is not a capture\n" * 10)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(sample[:24])
    paths = [not_capture, empty, _udp_only(tmp_path / "udp.pcap"), cut_short]
    errs, ways = _same_in_parts(paths, tmp_path, capsys, _Reads(monkeypatch))
    assert ways == ["whole", "ranges", "ranges", "ranges"]
    for err in errs[:3]:
        assert err.count("error:") == 1  # told once, by the calling process
    assert "cut short" in errs[3]


class _Meetings:
    """Parts meeting in threads as shard_run's processes do: one value from each, and each
    given the combination; or each giving a value for every other, and given theirs."""

    def __init__(self, parts: int) -> None:
        self.barrier = threading.Barrier(parts)
        self.given: list[Any] = [None] * parts

    def meet(self, which: int, value: Any, combine: Callable[[list[Any]], Any]) -> Any:
        self.barrier.wait()  # the last meeting's values are all read
        self.given[which] = value
        self.barrier.wait()
        return combine(list(self.given))

    def swap(self, which: int, values: list[Any]) -> list[Any]:
        return self.meet(which, values, lambda given: [sent[which] for sent in given])


def _all_sorted(opened: list[native.Array]) -> native.Array:
    joined: native.Array = np.sort(np.concatenate(opened))
    return joined


def _read_in_threads(path: Path, parts: int, ranges: bool = False) -> list[Capture]:
    """Each part read in a thread of its own, meeting as processes do: by native.load_capture
    with a Cut, or (ranges) from its byte range (rangeread.read; it must not fall back)."""
    meetings = _Meetings(parts)
    found: list[Any] = [None] * parts

    def read(which: int) -> None:
        def opened(frames: native.Array) -> native.Array:
            return meetings.meet(which, frames, _all_sorted)

        if ranges:
            meeting = rangeread.Meeting(
                lambda report: meetings.meet(which, report, rangeread.verdict),
                lambda values: meetings.swap(which, values),
                opened,
            )
            status = files.ReadStatus()
            found[which] = rangeread.read(
                path, which, parts, meeting, validate_checksums=False, status=status
            )
        else:
            cut = native.Cut(which, parts, opened)
            found[which] = native.load_capture(path, digest=False, cut=cut)

    threads = [threading.Thread(target=read, args=(which,)) for which in range(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(capture is not None for capture in found)
    return found


@pytest.mark.parametrize("ranges", [False, True], ids=["whole file", "byte ranges"])
@pytest.mark.parametrize(
    "name", ["client_reconnects", "icmp_unreachable", "lossy_transfer", "port_reuse_time_wait"]
)
def test_each_part_holds_its_4_tuples_numbered_as_in_the_whole_capture(
    name: str, ranges: bool
) -> None:
    """Rows, stream numbers, ICMP errors (by the 4-tuple they quote) and CaptureInfo."""
    path = ROOT / "sample_captures" / f"{name}.pcap"
    whole = native.load_capture(path, digest=False)
    packets = whole.packets
    for parts in (2, 3, 4):
        read = _read_in_threads(path, parts, ranges)
        where = shards._part_of(
            shards._tuple_hashes(packets.src, packets.sport, packets.dst, packets.dport), parts
        )
        quoted = (
            shards._part_of(
                shards._tuple_hashes(
                    *zip(*((e.src, e.sport, e.dst, e.dport) for e in whole.icmp), strict=True)
                ),
                parts,
            ).tolist()
            if whole.icmp
            else []
        )
        for which, part in enumerate(read):
            assert part.info == whole.info
            assert part.packets == shards.take(packets, np.flatnonzero(where == which))
            assert part.icmp == tuple(
                e for e, p in zip(whole.icmp, quoted, strict=True) if p == which
            )
        assert sum(len(part.packets) for part in read) == len(packets)
    assert whole.icmp or name != "icmp_unreachable"


def test_stream_numbers_stay_the_whole_capture_s_when_parts_have_gaps(tmp_path: Path) -> None:
    """A part's streams are not 0, 1, 2...: numbers of the other parts' conversations lie
    between them."""
    path = shipped.generated(tmp_path, "--connections", "30", "--seed", "7")
    whole = native.load_capture(path, digest=False)
    read = _read_in_threads(path, 2)
    for part in read:
        streams = sorted(set(part.packets.stream))
        assert streams and streams != list(range(len(streams)))
    joined = sorted(set(read[0].packets.stream) | set(read[1].packets.stream))
    assert joined == sorted(set(whole.packets.stream))


def test_a_part_with_no_tcp_of_a_capture_that_has_some_is_empty_not_an_error() -> None:
    path = ROOT / "sample_captures" / "refused.pcap"  # one 4-tuple
    read = _read_in_threads(path, 3)
    assert sorted(len(part.packets) > 0 for part in read) == [False, False, True]
    assert len({part.info for part in read}) == 1


def test_cut_before_reading_only_large_files_the_native_reader_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = tmp_path / "c.pcap"
    capture.write_bytes(b"\0" * 1000)
    monkeypatch.setattr(runner, "default_jobs", lambda: 4)
    assert shard_run.processes_reading(capture, Reader.NATIVE) == 1  # small: read whole
    monkeypatch.setattr(shard_run, "MIN_BYTES", 1000)
    assert shard_run.processes_reading(capture, Reader.NATIVE) == 4
    assert shard_run.processes_reading(capture, Reader.NATIVE, 2) == 2
    assert shard_run.processes_reading(capture, Reader.NATIVE, 1) == 1
    assert shard_run.processes_reading(capture, Reader.TSHARK) == 1
    assert shard_run.processes_reading(capture, Reader.AUTO) == 1  # it may fall back to tshark
    assert shard_run.processes_reading(Path("-"), Reader.NATIVE) == 1  # spooled: read whole
    assert shard_run.processes_reading(tmp_path / "missing", Reader.NATIVE) == 1
    monkeypatch.setattr(runner, "_IN_WORKER", True)
    assert shard_run.processes_reading(capture, Reader.NATIVE) == 1


def test_ctrl_c_while_parts_read_leaves_no_child_behind(
    tmp_path: Path, leftover_processes: Callable[[float], list[int]]
) -> None:
    small = shipped.generated(tmp_path, "--connections", "40", "--seed", "4")
    argv = [
        sys.executable,
        "-c",
        shipped.SLOW_CHILDREN,
        "connections",
        str(small),
        "--reader",
        "native",
    ]
    shipped.interrupted_when_running(argv, 3, leftover_processes)


# ------------------------------------------------------------- byte ranges (rangeread.py)


def _records(path: Path) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """A little-endian microsecond pcap's file header and records: (seconds, microseconds,
    frame), every frame captured whole."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    found, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, pos)
        found.append((sec, usec, data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return data[:24], found


def _pcap_bytes(
    records: list[tuple[int, int, bytes]],
    order: str = "<",
    nanosecond: bool = False,
    minor: int = 4,
    snaplen: int = 65535,
) -> bytes:
    """A pcap of records in either byte order, in micro- or nanoseconds; minor < 3 stores the
    lengths the other way round (wiretap swaps them for pcap before 2.3)."""
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, minor, 0, 0, snaplen, 1)]
    for sec, usec, frame in records:
        frac = usec * 1000 if nanosecond else usec
        lengths = (len(frame), len(frame))
        out.append(struct.pack(order + "IIII", sec, frac, *lengths) + frame)
    return b"".join(out)


def _starts(data: bytes) -> list[int]:
    """Where each record of a little-endian pcap starts."""
    found, pos = [], 24
    while pos + 16 <= len(data):
        found.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return found


def _generated(tmp_path: Path) -> Path:
    return shipped.generated(tmp_path, "--connections", "40", "--seed", "4")


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_each_part_guesses_the_first_record_after_its_cut(tmp_path: Path, parts: int) -> None:
    """pcapranges.first_record finds where the walk before it would land, in every sample and
    a generated capture, the cuts falling mid-record."""
    mid_record = 0
    for path in [*SAMPLES, _generated(tmp_path)]:
        fmt = pcapranges.plain_format(path)
        assert fmt is not None, path.name
        data = path.read_bytes()
        starts = _starts(data)
        for which in range(1, parts):
            part = pcapranges.byte_range(len(data), which, parts)
            truth = next((s for s in starts if s >= part.low), None)
            with path.open("rb") as raw:
                guess = pcapranges.first_record(raw, fmt, part)
            expected = truth if truth is not None and truth < part.high else None
            assert guess == expected, f"{path.name}, part {which} of {parts}"
            mid_record += part.low not in starts
    assert mid_record > 10


def test_generated_captures_in_every_pcap_flavour_read_from_byte_ranges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big- and little-endian, micro- and nanoseconds, lengths stored the other way round."""
    _, records = _records(_generated(tmp_path))
    flavours = {
        "big.pcap": _pcap_bytes(records, order=">"),
        "nano.pcap": _pcap_bytes(records, nanosecond=True),
        "big_nano.pcap": _pcap_bytes(records, order=">", nanosecond=True),
        "old.pcap": _pcap_bytes(records, minor=2),
    }
    paths = []
    for name, data in flavours.items():
        paths.append(tmp_path / name)
        paths[-1].write_bytes(data)
    _, ways = _same_in_parts(paths, tmp_path, capsys, _Reads(monkeypatch), (2, 3, 4))
    assert ways == ["ranges"] * len(paths)


def _second_half(data: bytes, after: int = 3) -> int:
    """The index of a record a few records into the second of two parts."""
    starts = _starts(data)
    return next(i for i, s in enumerate(starts) if s >= len(data) // 2) + after


def test_a_damaged_record_or_a_cut_short_end_in_the_second_part_stops_reading_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records after it are dropped in every part; the warning and frame count are the
    whole reading's."""
    data = _generated(tmp_path).read_bytes()
    at = _starts(data)[_second_half(data, after=pcapranges.CHAIN + 2)]  # the guess holds
    damaged = tmp_path / "damaged.pcap"
    damaged.write_bytes(data[: at + 8] + struct.pack("<I", 1 << 20) + data[at + 12 :])
    cut_short = tmp_path / "cut_short.pcap"
    cut_short.write_bytes(data[: len(data) - 40])
    errs, ways = _same_in_parts([damaged, cut_short], tmp_path, capsys, _Reads(monkeypatch))
    assert ways == ["ranges", "ranges"]
    assert all("cut short" in err for err in errs)


def test_time_going_backwards_across_the_cut_is_counted_as_read_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first record of the second part is older than the last of the first."""
    _, records = _records(_generated(tmp_path))
    data = _pcap_bytes(records)
    first = _second_half(data, after=0)
    sec, usec, frame = records[first]
    records[first] = (records[first - 1][0] - 5, usec, frame)
    path = tmp_path / "backwards.pcap"
    path.write_bytes(_pcap_bytes(records))
    assert _second_half(path.read_bytes(), after=0) == first
    errs, ways = _same_in_parts([path], tmp_path, capsys, _Reads(monkeypatch), (2,))
    assert ways == ["ranges"]
    assert "go backwards" in errs[0]


def _udp_frame(payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame carrying payload."""
    udp = struct.pack("!HHHH", 5000, 5001, 8 + len(payload), 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, b"\n\0\0\1", b"\n\0\0\2"
    )
    return b"\2\0\0\0\0\1" + b"\2\0\0\0\0\2" + b"\x08\x00" + ip + udp + payload


def test_a_payload_that_fools_the_guess_makes_every_part_read_the_whole_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crafted capture: a UDP frame across the cut whose payload holds a chain of record
    headers where the second part starts looking. The guess is wrong, the walk of the first
    part says so, and the parts read the file whole (the same rows and warnings)."""
    _, records = _records(_generated(tmp_path))
    big = 4000
    for where in range(len(records)):
        frames = [*records[:where], (1, 0, _udp_frame(bytes(big))), *records[where:]]
        data = _pcap_bytes(frames)
        start = _starts(data)[where] + 16 + 42  # the payload, after the frame's headers
        if start < len(data) // 2 < start + big - 200:
            break
    fake = b"".join(struct.pack("<IIII", 1, 0, 10, 10) + b"\xff" * 10 for _ in range(8))
    payload = bytearray(b"\xff" * big)  # no header is plausible in it but the fake ones
    cut = len(data) // 2 - start
    payload[cut : cut + len(fake)] = fake
    path = tmp_path / "crafted_fooled_guess.pcap"
    path.write_bytes(
        _pcap_bytes([*records[:where], (1, 0, _udp_frame(bytes(payload))), *records[where:]])
    )
    fmt = pcapranges.plain_format(path)
    assert fmt is not None
    with path.open("rb") as raw:
        guess = pcapranges.first_record(raw, fmt, pcapranges.byte_range(len(data), 1, 2))
    assert guess == len(data) // 2  # fooled
    _, ways = _same_in_parts([path], tmp_path, capsys, _Reads(monkeypatch), (2,))
    assert ways == ["whole"]
