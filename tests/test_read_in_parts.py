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

from pcapexplain import budget, native, shard_run, shards
from pcapexplain.cli import main
from pcapexplain.model import Capture, Reader
from tests import scenarios, shipped

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))


class _Reads:
    """The cuts the calling process read with (its children's are theirs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cuts: list[native.Cut | None] = []
        real = native.load_capture

        def watched(*args: Any, **kwargs: Any) -> Capture:
            self.cuts.append(kwargs.get("cut"))
            return real(*args, **kwargs)

        monkeypatch.setattr(native, "load_capture", watched)


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
    paths: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], reads: _Reads
) -> list[str]:
    """Asserts the same status, output and stderr read whole and read in 2 and 3 parts, in CSV
    and JSON; returns the stderr of each capture read whole."""
    errs = []
    for path in paths:
        for fmt in ("csv", "json"):
            whole = _command(path, fmt, tmp_path / f"out.{fmt}", None, capsys)
            for parts in (2, 3):
                del reads.cuts[:]
                cut = _command(path, fmt, tmp_path / f"out.{fmt}", parts, capsys)
                assert cut == whole, f"{path.name} in {parts} parts, {fmt}"
                assert [c.parts if c else None for c in reads.cuts] == [parts]
        errs.append(whole[2])
    return errs


def test_sample_captures_read_in_parts_give_the_same_rows_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    errs = _same_in_parts(SAMPLES, tmp_path, capsys, _Reads(monkeypatch))
    assert any("captured twice" in err for err in errs)  # copies told


def test_reordered_and_copied_captures_read_in_parts_give_the_same_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time goes backwards and packets come twice across 4-tuples of different parts."""
    source = shipped.generated(tmp_path, "--connections", "40", "--seed", "4")
    mutated = [scenarios.mutate(source, tmp_path / f"m{seed}.pcap", seed) for seed in (1, 2)]
    errs = _same_in_parts(mutated, tmp_path, capsys, _Reads(monkeypatch))
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
    errs = _same_in_parts(paths, tmp_path, capsys, _Reads(monkeypatch))
    for err in errs[:3]:
        assert err.count("error:") == 1  # told once, by the calling process
    assert "cut short" in errs[3]


def _read_in_threads(path: Path, parts: int) -> list[Capture]:
    """Each part read by native.load_capture in a thread of its own, meeting as processes do."""
    barrier = threading.Barrier(parts)
    given: list[Any] = [None] * parts

    def meet(which: int) -> Callable[[native.Array], native.Array]:
        def opened_everywhere(opened: native.Array) -> native.Array:
            given[which] = opened
            barrier.wait()
            return np.sort(np.concatenate(given))

        return opened_everywhere

    found: list[Any] = [None] * parts

    def read(which: int) -> None:
        cut = native.Cut(which, parts, meet(which))
        found[which] = native.load_capture(path, digest=False, cut=cut)

    threads = [threading.Thread(target=read, args=(which,)) for which in range(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


@pytest.mark.parametrize("name", ["client_reconnects", "icmp_unreachable", "lossy_transfer"])
def test_each_part_holds_its_4_tuples_numbered_as_in_the_whole_capture(name: str) -> None:
    """Rows, stream numbers, ICMP errors (by the 4-tuple they quote) and CaptureInfo."""
    path = ROOT / "sample_captures" / f"{name}.pcap"
    whole = native.load_capture(path, digest=False)
    packets = whole.packets
    for parts in (2, 3):
        read = _read_in_threads(path, parts)
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
    monkeypatch.setattr(budget, "default_jobs", lambda: 4)
    assert shard_run.processes_reading(capture, Reader.NATIVE) == 1  # small: read whole
    monkeypatch.setattr(shard_run, "MIN_BYTES", 1000)
    assert shard_run.processes_reading(capture, Reader.NATIVE) == 4
    assert shard_run.processes_reading(capture, Reader.NATIVE, 2) == 2
    assert shard_run.processes_reading(capture, Reader.NATIVE, 1) == 1
    assert shard_run.processes_reading(capture, Reader.TSHARK) == 1
    assert shard_run.processes_reading(capture, Reader.AUTO) == 1  # it may fall back to tshark
    assert shard_run.processes_reading(Path("-"), Reader.NATIVE) == 1  # spooled: read whole
    assert shard_run.processes_reading(tmp_path / "missing", Reader.NATIVE) == 1
    monkeypatch.setattr(budget, "_IN_WORKER", True)
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
