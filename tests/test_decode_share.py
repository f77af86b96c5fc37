"""A capture read with a helper process walking and decoding it (decode_share.py) gives what it
gives read in one process: the same CSV bytes, the same warnings and errors, the same exit code.

Blocks are made small (capfile.BLOCK_SIZE) so that even sample captures span many blocks, and the
helper is forced on (or off) with decode_share._FORCE. Damaged captures (bad record lengths, files
cut short, gzip cut short) check that the helper's stop hands over to the caller at the right
block. A helper that dies is one clear error, and Ctrl-C leaves no helper behind.
"""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pcapexplain import capfile, decode, decode_share, runner
from pcapexplain.cli import main
from tests import shipped

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "sample_captures").glob("*.pcap"))
SMALL_BLOCK = 2048  # bytes: a few records a block


def _run(
    path: Path, out: Path, helper: bool, capsys: pytest.CaptureFixture[str], reader: str
) -> tuple[int, bytes, str]:
    """`pcapexplain connections PATH --format csv -o OUT --reader READER`, read with a helper or
    without: its exit status, what it wrote, and its stderr."""
    decode_share._FORCE = helper
    try:
        status = main(["connections", str(path), "-f", "csv", "-o", str(out), "--reader", reader])
    finally:
        decode_share._FORCE = None
    written = out.read_bytes() if out.exists() else b""
    out.unlink(missing_ok=True)
    return status, written, capsys.readouterr().err.replace(str(out), "OUT")


class _Helpers:
    """Counts the blocks a helper sent (to show it really ran)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.blocks = 0
        real = decode_share._receive

        def counted(pipe: object) -> object:
            sent = real(pipe)  # type: ignore[arg-type]
            self.blocks += sent is not None and sent[0] is not None
            return sent

        monkeypatch.setattr(decode_share, "_receive", counted)


def _same(
    paths: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reader: str = "native",
) -> list[tuple[int, bytes, str]]:
    """Asserts the same status, output and stderr with the helper and without; returns them."""
    found = []
    for path in paths:
        alone = _run(path, tmp_path / "alone.csv", False, capsys, reader)
        helped = _run(path, tmp_path / "helped.csv", True, capsys, reader)
        assert helped == alone, path.name
        found.append(alone)
    return found


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> _Helpers:
    monkeypatch.setattr(capfile, "BLOCK_SIZE", SMALL_BLOCK)
    return _Helpers(monkeypatch)


def test_sample_captures_read_the_same_with_a_helper(
    small_blocks: _Helpers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _same(SAMPLES, tmp_path, capsys)
    assert all(status == 0 for status, _, _ in results)
    assert small_blocks.blocks > 3 * len(SAMPLES)  # several blocks each, from the helper


def test_auto_decides_the_same_with_a_helper(
    small_blocks: _Helpers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--reader auto: the native reader where it reads everything, tshark otherwise."""
    paths = [ROOT / "sample_captures" / n for n in ("lossy_transfer.pcap", "ipv6_normal.pcap")]
    _same(paths, tmp_path, capsys, reader="auto")


def test_generated_captures_read_the_same_with_a_helper(
    small_blocks: _Helpers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Planted loss, many connections open at once, and a capture cut short."""
    paths = [
        shipped.generated(tmp_path, "--connections", "120", "--seed", "1"),
        shipped.generated(tmp_path, "--packets", "3000", "--seed", "3"),
    ]
    assert all(status == 0 for status, _, _ in _same(paths, tmp_path, capsys))


def _records(data: bytes) -> list[int]:
    """Where each record header of a little-endian pcap starts."""
    pos, starts = 24, []
    while pos + 16 <= len(data):
        starts.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return starts


def _damaged(folder: Path) -> list[Path]:
    """A sample capture spoilt in the ways that stop the walk early, at several places."""
    data = (ROOT / "sample_captures" / "lossy_transfer.pcap").read_bytes()
    starts = _records(data)
    made: dict[str, bytes] = {}
    for share in (0.1, 0.5, 0.9):
        at = starts[int(len(starts) * share)]
        spoilt = bytearray(data)
        struct.pack_into("<I", spoilt, at + 8, 262145)  # larger than wiretap allows: damaged
        made[f"too_big_{share}"] = bytes(spoilt)
        made[f"cut_{share}"] = data[: at + 20]  # a record cut off by the end of the file
        made[f"gzip_cut_{share}"] = gzip.compress(data)[: int(len(data) * share / 3)]
    made["header_only"] = data[:24]
    made["empty"] = b""
    made["not_a_capture"] = b"hello, this is no capture at all" * 100
    paths = []
    for name, content in made.items():
        path = folder / f"{name}.pcap"
        path.write_bytes(content)
        paths.append(path)
    return paths


def test_damaged_captures_warn_and_fail_the_same_with_a_helper(
    small_blocks: _Helpers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _same(_damaged(tmp_path), tmp_path, capsys)
    warned = [err for status, _, err in results if status == 0 and "cut short" in err]
    failed = [err for status, _, err in results if status != 0]
    assert len(warned) >= 6 and len(failed) >= 3
    assert all("error:" in err and "Traceback" not in err for err in failed)


def test_a_helper_that_fails_midway_hands_over_to_the_caller(
    small_blocks: _Helpers,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The helper's decoding fails at a later block (in the helper only): the caller walks the
    file again, decodes only the blocks it has not had, and the output is the same."""
    parent, real = os.getpid(), decode.decode

    def failing(records: capfile.Records, *, validate_checksums: bool) -> decode.BlockResult:
        if os.getpid() != parent and records.first_frame > 40:
            raise MemoryError("the helper's decoding failed")
        return real(records, validate_checksums=validate_checksums)

    monkeypatch.setattr(decode, "decode", failing)
    paths = [ROOT / "sample_captures" / "lossy_transfer.pcap", *_damaged(tmp_path)[:3]]
    _same(paths, tmp_path, capsys)
    assert small_blocks.blocks >= 4 * len(paths)  # the helper's blocks before it failed


# The command with a helper forced on, whose decode.decode does `what` in the helper only.
_HELPER_DOES = """
import os, sys, time
from pcapexplain import capfile, cli, decode, decode_share
decode_share._FORCE = True
capfile.BLOCK_SIZE = 2048
parent, real = os.getpid(), decode.decode
def decoding(*args, **kwargs):
    if os.getpid() != parent:
        {what}
    return real(*args, **kwargs)
decode.decode = decoding
sys.exit(cli.main(sys.argv[1:]))
"""
SAMPLE = ROOT / "sample_captures" / "lossy_transfer.pcap"


def _helper_does(what: str) -> list[str]:
    script = _HELPER_DOES.format(what=what)
    return [sys.executable, "-c", script, "connections", str(SAMPLE), "-f", "csv"]


def test_a_helper_that_dies_is_one_clear_error() -> None:
    command = _helper_does("os._exit(9)  # as the OOM killer leaves it: no word")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "a process reading the capture died" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_ctrl_c_leaves_no_helper_behind(
    leftover_processes: Callable[[float], list[int]],
) -> None:
    shipped.interrupted_when_running(_helper_does("time.sleep(300)"), 2, leftover_processes)


def test_a_helper_only_where_it_can_pay(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    big, small = tmp_path / "big.pcap", tmp_path / "small.pcap"
    with open(big, "wb") as handle:
        handle.truncate(decode_share.MIN_BYTES)
    small.write_bytes(b"\0" * 100)
    monkeypatch.setattr(runner, "default_jobs", lambda: 2)
    assert decode_share.wanted(big, 0) and decode_share.wanted(big, 2)
    assert not decode_share.wanted(big, 1)  # --jobs 1: one process
    assert not decode_share.wanted(small, 0)  # forking costs more than it saves
    monkeypatch.setattr(runner, "default_jobs", lambda: 1)
    assert not decode_share.wanted(big, 0)  # one CPU
    monkeypatch.setattr(runner, "default_jobs", lambda: 2)
    monkeypatch.setattr(runner, "_IN_WORKER", True)
    assert not decode_share.wanted(big, 0)  # batch and grade workers already use every core
