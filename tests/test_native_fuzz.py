"""Fuzz: mutated captures through the native reader never crash, never hang.

Every mutated file must give a result (columns of equal length, frames in order) or one of the
errors the CLI reports cleanly (a PcapExplainError): never another exception, never a loop. The
mutations are seeded, so a failure names the seed that reproduces it.
"""

from __future__ import annotations

import gzip
import random
import signal
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from pcapexplain import native
from pcapexplain.errors import PcapExplainError
from tests import scenarios

SAMPLES = Path(__file__).resolve().parent.parent / "sample_captures"
SOURCES = ("lossy_transfer.pcap", "ipv6_normal.pcap", "crafted_illegal_flags.pcap")
CASES_PER_SOURCE = 60
SECONDS_PER_FILE = 20  # far above the few milliseconds a file takes: only a loop gets there

Mutation = Callable[[bytes, random.Random], bytes]


def _flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _flip_headers(data: bytes, rng: random.Random) -> bytes:
    """Damage the first bytes of records, where the link, IP and TCP headers are."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        record = rng.randrange(24, max(25, len(out) - 120))
        out[record + rng.randrange(100)] ^= 1 << rng.randrange(8)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def _record_lengths(data: bytes, rng: random.Random) -> bytes:
    """Overwrite one record's captured or wire length with a random value."""
    out = bytearray(data)
    pos, starts = 24, []
    while pos + 16 <= len(out):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<I", out, pos + 8)[0]
    where = rng.choice(starts) + rng.choice((8, 12))
    value = rng.choice((0, 1, 15, 0xFFFF, 262144, 262145, 0x7FFFFFFF, rng.randrange(2000)))
    struct.pack_into("<I", out, where, value)
    return bytes(out)


def _as_pcapng(data: bytes, rng: random.Random) -> bytes:
    """The capture as pcapng (one EPB per record), then a damaged block length or option."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = _block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3x", 9, 1, 9))
    blocks, pos = [shb, idb], 24
    while pos + 16 <= len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, pos)
        ts = (sec * 1_000_000 + usec) * 1000
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, incl, orig)
        blocks.append(_block(6, body + data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    out = bytearray(b"".join(blocks))
    target = rng.randrange(28, len(out) - 4)
    struct.pack_into("<I", out, target - target % 4, rng.choice((0, 3, 12, 0xFFFFFFFF, 28)))
    return bytes(out)


def _block(kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def _gzip_damage(data: bytes, rng: random.Random) -> bytes:
    packed = bytearray(gzip.compress(data))
    if rng.random() < 0.5:
        return bytes(packed[: rng.randrange(10, len(packed))])
    packed[rng.randrange(10, len(packed))] ^= 0xFF
    return bytes(packed)


MUTATIONS: tuple[Mutation, ...] = (
    _flip_bytes,
    _flip_headers,
    _truncate,
    _record_lengths,
    _as_pcapng,
    _gzip_damage,
)


def _sources(folder: Path) -> Iterator[tuple[str, bytes]]:
    for name in SOURCES:
        yield name, (SAMPLES / name).read_bytes()
    for name in ("zero_window", "port_reuse"):
        yield name, scenarios.build(name, folder).read_bytes()


class _TooSlow(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _TooSlow


def test_mutated_captures_give_a_result_or_a_clear_error(tmp_path: Path) -> None:
    previous = signal.signal(signal.SIGALRM, _alarm)
    outcomes = {"result": 0, "error": 0}
    try:
        for name, data in _sources(tmp_path):
            for case in range(CASES_PER_SOURCE):
                rng = random.Random(f"{name}/{case}")
                mutation = MUTATIONS[case % len(MUTATIONS)]
                path = tmp_path / f"case-{case}"
                path.write_bytes(mutation(data, rng))
                outcomes[_read(path, f"{name} case {case} ({mutation.__name__})")] += 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert outcomes["result"] and outcomes["error"], outcomes


def _read(path: Path, label: str) -> str:
    signal.alarm(SECONDS_PER_FILE)
    try:
        capture = native.load_capture(path, validate_checksums=True)
    except PcapExplainError as exc:
        assert exc.message and exc.hint, label
        return "error"
    except _TooSlow:
        pytest.fail(f"{label}: still reading after {SECONDS_PER_FILE} s")
    finally:
        signal.alarm(0)
    packets = capture.packets
    lengths = {len(getattr(packets, n)) for n in packets.__dataclass_fields__}
    assert len(lengths) == 1, f"{label}: columns of different lengths {lengths}"
    frames = list(packets.frame)
    assert frames == sorted(frames), label
    assert all(f <= capture.info.total_frames for f in frames), label
    assert min(packets.length, default=0) >= -1, label
    return "result"
